"""The object layer: each collision object's own visual mesh and splats, under the object's Xform.

The surface stage fuses the whole scene into one visual mesh, and the splats are
one field; the collision stage cuts the objects out of that mesh. Drawn from the
fused mesh, an object that a variant (or a rigid body in simulation) moves would
be seen where it stood. So this layer, over the physics layer's Xforms, gives
each object what draws it::

    /World/Collision/Objects/<name>      (over) the physics layer's Xform at the object's centre
      /Visual                            Mesh: the object's faces of the visual mesh, in the
                                         Xform's frame, its colours and normals, bound to the
                                         visual mesh's material
      /Splats                            ParticleField3DGaussianSplat: the Gaussians nearest to
                                         the object's faces, in the Xform's frame
    /World/Visual/Mesh                   (over) holeIndices: the objects' faces, so the fused
                                         mesh no longer draws them

and the splat layer is written without the objects' Gaussians. A transform on
the object's Xform then moves its collider, its visual mesh and its splats
together. Object faces are found by their exact corner coordinates: the
collision stage's object meshes are float32 copies of the visual mesh's faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import CollisionWorld, GaussianCloud, TriangleMesh
from worldgen_sim.errors import WorldgenError
from worldgen_sim.exporters.usd_stage import extent_of, int_array, safe_prim_name, vec3f_array

__all__ = ["ObjectMembership", "object_centre", "object_membership", "write_object_layer"]

OBJECT_VISUAL = "Visual"
OBJECT_SPLATS = "Splats"
SPLAT_REACH = 0.05
"""A Gaussian belongs to an object when the object's faces are the nearest surface and within this [m]."""


@dataclass(eq=False)
class ObjectMembership:
    """Which faces of the visual mesh and which Gaussians belong to which collision object.

    Attributes:
        names: prim names of the objects, in ``CollisionWorld.objects`` order (objects without hulls left out).
        centres: (O, 3) float64 centres of the objects' Xforms [m] (their hulls' bounding-box centres).
        face_owner: (F,) int32 object index of each visual face, -1 for the background.
        splat_owner: (N,) int32 object index of each Gaussian, -1 for the background; None without splats.
    """

    names: list[str]
    centres: np.ndarray
    face_owner: np.ndarray
    splat_owner: np.ndarray | None = None

    @property
    def object_faces(self) -> int:
        return int(np.count_nonzero(self.face_owner >= 0))


def object_centre(hulls) -> np.ndarray:
    """(3,) float64 centre of an object's Xform: the middle of its hulls' bounding box [m]."""
    corners = np.concatenate([np.asarray(h.vertices, np.float64) for h in hulls])
    return 0.5 * (corners.min(axis=0) + corners.max(axis=0))


def object_membership(mesh: TriangleMesh, collision: CollisionWorld,
                      cloud: GaussianCloud | None = None) -> ObjectMembership:
    """Match the collision objects to the visual mesh's faces (and the Gaussians to the objects).

    Args:
        mesh: the visual mesh the collision stage was given (world frame).
        collision: the collision stage's output.
        cloud: the world-frame Gaussians, when the world has splats.
    """
    objects = [o for o in collision.objects if o.hulls]
    names = [safe_prim_name(o.name) for o in objects]
    centres = np.array([object_centre(o.hulls) for o in objects], np.float64).reshape(-1, 3)
    face_owner = _face_owner(mesh, [o.mesh for o in objects])
    splat_owner = _splat_owner(mesh, face_owner, cloud) if cloud is not None else None
    return ObjectMembership(names, centres, face_owner, splat_owner)


def _face_owner(mesh: TriangleMesh, pieces: list[TriangleMesh]) -> np.ndarray:
    """(F,) int32: index of the piece holding each face of ``mesh`` (same corners, same order), else -1."""
    faces = np.asarray(mesh.faces, np.int64).reshape(-1, 3)
    owner = np.full(len(faces), -1, np.int32)
    if not pieces or not len(faces):
        return owner
    # Exact float32 coordinates as bit patterns; duplicated vertices map to one canonical vertex.
    vertices = _RowIndex(np.ascontiguousarray(mesh.vertices, np.float32).reshape(-1, 3).view(np.uint32))
    canonical = vertices.find(vertices.table)
    triangles = _RowIndex(canonical[faces])
    for index, piece in enumerate(pieces):
        vertex = vertices.find(np.ascontiguousarray(piece.vertices, np.float32).reshape(-1, 3).view(np.uint32))
        piece_faces = np.asarray(piece.faces, np.int64).reshape(-1, 3)
        whole = (vertex[piece_faces] >= 0).all(axis=1)
        face = triangles.find(canonical[vertex[piece_faces[whole]]])
        owner[face[face >= 0]] = index
    return owner


class _RowIndex:
    """Exact lookup of (3,) integer rows in a (T, 3) table: rows hashed to one uint64 and sorted once."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table
        hashes = _row_hash(table)
        self.order = np.argsort(hashes, kind="stable")
        self.sorted = hashes[self.order]

    def find(self, query: np.ndarray) -> np.ndarray:
        """(Q,) int64: index of the first table row equal to each query row, else -1 (a hash match
        counts only when the rows are equal)."""
        hashes = _row_hash(query)
        position = np.minimum(np.searchsorted(self.sorted, hashes), len(self.sorted) - 1)
        candidate = self.order[position]
        found = (self.sorted[position] == hashes) & (self.table[candidate] == query).all(axis=1)
        return np.where(found, candidate, -1)


def _row_hash(rows: np.ndarray) -> np.ndarray:
    """(N,) uint64 mix of (N, 3) non-negative integer rows (wrapping arithmetic)."""
    rows = rows.astype(np.uint64)
    mixed = rows[:, 0] * np.uint64(0x9E3779B97F4A7C15)
    for column in (1, 2):
        mixed = (mixed ^ rows[:, column]) * np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(31)
    return mixed


def _splat_owner(mesh: TriangleMesh, face_owner: np.ndarray, cloud: GaussianCloud) -> np.ndarray:
    """(N,) int32: the object whose faces are the nearest surface to each Gaussian within SPLAT_REACH, else -1."""
    from scipy.spatial import cKDTree

    owner = np.full(len(cloud), -1, np.int32)
    owned = face_owner >= 0
    if not owned.any() or not len(cloud):
        return owner
    vertices = np.asarray(mesh.vertices, np.float64)
    corners = vertices[np.asarray(mesh.faces, np.int64)]  # (F, 3, 3)
    centroids = corners.mean(axis=1)
    lo = centroids[owned].min(axis=0) - 2 * SPLAT_REACH
    hi = centroids[owned].max(axis=0) + 2 * SPLAT_REACH
    near_faces = np.all((centroids >= lo) & (centroids <= hi), axis=1)  # objects' faces and the background around
    # Points on the faces, labelled by the face: each centroid, and large faces sampled (seeded) every
    # ~SPLAT_REACH / 4 so the nearest sample stands for the nearest face whatever the mesh resolution.
    near = np.flatnonzero(near_faces)
    edge_u, edge_v = corners[near, 1] - corners[near, 0], corners[near, 2] - corners[near, 0]
    area = 0.5 * np.linalg.norm(np.cross(edge_u, edge_v), axis=1)
    extra = np.ceil(area / (SPLAT_REACH / 4) ** 2).astype(np.int64)
    face = np.repeat(np.arange(len(near)), extra)
    rng = np.random.default_rng(0)
    a, b = rng.random(len(face)), rng.random(len(face))
    fold = a + b > 1  # fold the unit square's far half back onto the triangle
    a[fold], b[fold] = 1 - a[fold], 1 - b[fold]
    spread = corners[near[face], 0] + a[:, None] * edge_u[face] + b[:, None] * edge_v[face]
    samples = np.concatenate([centroids[near], spread])
    labels = np.concatenate([face_owner[near], face_owner[near[face]]])
    positions = np.asarray(cloud.positions, np.float64)
    candidates = np.flatnonzero(np.all((positions >= lo) & (positions <= hi), axis=1))
    if not len(candidates):
        return owner
    distance, nearest = cKDTree(samples).query(positions[candidates], distance_upper_bound=SPLAT_REACH)
    found = np.isfinite(distance)
    owner[candidates[found]] = labels[nearest[found]]
    return owner


def write_object_layer(path: str | Path, mesh: TriangleMesh, membership: ObjectMembership, *,
                       visual_material: str, cloud: GaussianCloud | None = None,
                       half_precision: bool = False) -> dict[str, list[str]]:
    """Write the object layer (see the module docstring).

    Args:
        path: the layer file (``.usdc``/``.usda``); overwritten.
        mesh: the visual mesh (world frame); normals computed when missing, as the visual layer does.
        membership: from :func:`object_membership`.
        visual_material: path of the visual mesh's material, bound to every object's mesh.
        cloud: the world-frame Gaussians (their owned subsets become the objects' splats).
        half_precision: write the splats' half-float twins (as the splat layer does).

    Returns:
        ``{"visual": [...], "splats": [...]}``: the prims written, for the root layer's ``appearance`` variants.

    Raises:
        WorldgenError: the layer cannot be written.
    """
    from pxr import Sdf, Tf, UsdGeom, UsdShade

    from worldgen_sim.exporters.usd_physics import OBJECTS_PRIM
    from worldgen_sim.exporters.usd_splats import define_splats
    from worldgen_sim.exporters.usd_stage import create_layer_stage
    from worldgen_sim.exporters.usd_visual import DEFAULT_COLOR, MESH_PRIM, vertex_normals

    vertices = np.asarray(mesh.vertices, np.float32)
    faces = np.asarray(mesh.faces, np.int64)
    normals = np.asarray(mesh.normals if mesh.normals is not None else vertex_normals(vertices, faces), np.float32)
    colors = np.clip(mesh.colors if mesh.colors is not None else np.broadcast_to(DEFAULT_COLOR, vertices.shape),
                     0.0, 1.0)
    try:
        stage = create_layer_stage(path)
    except Tf.ErrorException as exc:
        raise WorldgenError(f"{path}: cannot create the object layer ({exc})") from None
    material = UsdShade.Material(stage.OverridePrim(visual_material))
    written: dict[str, list[str]] = {"visual": [], "splats": []}
    order = np.argsort(membership.face_owner, kind="stable")
    starts = np.searchsorted(membership.face_owner[order], np.arange(len(membership.names) + 1))
    if membership.splat_owner is not None and cloud is not None:
        splat_order = np.argsort(membership.splat_owner, kind="stable")
        splat_starts = np.searchsorted(membership.splat_owner[splat_order], np.arange(len(membership.names) + 1))
    for index, (name, centre) in enumerate(zip(membership.names, membership.centres)):
        xform = stage.OverridePrim(f"{OBJECTS_PRIM}/{name}")
        own = np.sort(order[starts[index]:starts[index + 1]])
        if len(own):
            used, local = np.unique(faces[own], return_inverse=True)
            visual = UsdGeom.Mesh.Define(stage, xform.GetPath().AppendChild(OBJECT_VISUAL))
            points = vertices[used].astype(np.float64) - centre
            visual.CreatePointsAttr(vec3f_array(points))
            visual.CreateFaceVertexCountsAttr(int_array(np.full(len(own), 3, np.int32)))
            visual.CreateFaceVertexIndicesAttr(int_array(local.reshape(-1, 3)))
            corners = _corner_normals(vertices, faces[own], normals)
            if corners is None:
                visual.CreateNormalsAttr(vec3f_array(normals[used]))
                visual.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
            else:
                visual.CreateNormalsAttr(vec3f_array(corners))
                visual.SetNormalsInterpolation(UsdGeom.Tokens.faceVarying)
            visual.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
            visual.CreateOrientationAttr(UsdGeom.Tokens.rightHanded)
            visual.CreateDoubleSidedAttr(True)
            visual.CreateExtentAttr(extent_of(points))
            visual.CreateDisplayColorPrimvar(UsdGeom.Tokens.vertex).Set(vec3f_array(colors[used]))
            UsdShade.MaterialBindingAPI.Apply(visual.GetPrim()).Bind(material)
            written["visual"].append(str(visual.GetPath()))
        if membership.splat_owner is not None and cloud is not None:
            mine = np.sort(splat_order[splat_starts[index]:splat_starts[index + 1]])
            if len(mine):
                part = cloud.subset(mine)
                part.positions = (np.asarray(part.positions, np.float64) - centre).astype(np.float32)
                splats = define_splats(stage, str(xform.GetPath().AppendChild(OBJECT_SPLATS)), part,
                                       half_precision=half_precision)
                written["splats"].append(str(splats.GetPath()))
    holes = np.flatnonzero(membership.face_owner >= 0)
    if len(holes):
        background = stage.OverridePrim(MESH_PRIM)
        background.CreateAttribute("holeIndices", Sdf.ValueTypeNames.IntArray, custom=False).Set(int_array(holes))
    try:
        stage.GetRootLayer().Save()
    except Tf.ErrorException as exc:
        raise WorldgenError(f"{path}: cannot write the object layer ({exc})") from None
    return written


def _corner_normals(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray) -> np.ndarray | None:
    """(3 F, 3) float32 per-corner normals of an object's (F, 3) faces when some vertex normal points against
    its face, else None (the vertex normals serve).

    An object's faces are cut out of the fused mesh with that mesh's vertex normals; a small piece folded
    onto itself (a flap of two opposite faces, as capture noise leaves) then has half its corners' normals
    against their faces, and NVIDIA's validator (VG_029, normals against windings) rejects the world. Such
    corners take their face's own normal; the others keep the smooth vertex normal.
    """
    corners = np.asarray(normals, np.float64)[faces]
    tri = np.asarray(vertices, np.float64)[faces]
    face = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    face /= np.maximum(np.linalg.norm(face, axis=1, keepdims=True), 1e-30)
    against = np.einsum("fcj,fj->fc", corners, face) < 0
    if not against.any():
        return None
    return np.where(against[..., None], face[:, None, :], corners).reshape(-1, 3).astype(np.float32)

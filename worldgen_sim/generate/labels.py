"""Carrying the 'completed' label of generated geometry through the later stages.

The completed triangles join the visual mesh (so the collision stage collides
them and navigation walks on them), with a per-face label that becomes the
``primvars:worldgen:completed`` primvar of ``/World/Visual/Mesh``. Collider
prims get ``customData`` saying which fraction of them lies on completed
geometry, and spawn points over completed floor are dropped unless asked for.
These passes run on the stages' outputs; the stages themselves know nothing of labels.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import TriangleMesh
from worldgen_sim.generate.completion import COMPLETED_KINDS
from worldgen_sim.usd_geometry import prim_world_matrix, usd_transform_points

__all__ = [
    "label_collision_layer", "label_visual_layer", "merge_completion", "over_completed_floor", "over_faces",
    "spawn_points_to_drop", "transform_mesh",
]  # fmt: skip

NEAR_COMPLETED = 0.02
"""A collider face whose centre lies this close to a completed triangle's centre (or vertex) counts as completed [m]."""


def transform_mesh(mesh: TriangleMesh, input_to_world: np.ndarray) -> TriangleMesh:
    """The mesh moved into the world by the (4, 4) similarity ``input_to_world`` (normals dropped)."""
    matrix = np.asarray(input_to_world, np.float64)
    vertices = np.asarray(mesh.vertices, np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
    return TriangleMesh(vertices.astype(np.float32), mesh.faces, colors=mesh.colors)


def merge_completion(
    mesh: TriangleMesh, completion: TriangleMesh, kinds: np.ndarray
) -> tuple[TriangleMesh, np.ndarray]:
    """The visual mesh with the completed triangles (world frame) appended, and (F,) int8 face labels
    (0 = seen, else a key of ``COMPLETED_KINDS``)."""
    labels = np.zeros(mesh.faces.shape[0], np.int8)
    if completion.is_empty:
        return mesh, labels
    count = mesh.vertices.shape[0]
    normals = None
    if mesh.normals is not None:
        normals = np.concatenate([mesh.normals, _vertex_normals(completion)]).astype(np.float32)
    colors = None
    if mesh.colors is not None:
        extra = completion.colors if completion.colors is not None else np.full((completion.vertices.shape[0], 3), 0.5)
        colors = np.concatenate([mesh.colors, extra]).astype(np.float32)
    merged = TriangleMesh(
        vertices=np.concatenate([mesh.vertices, completion.vertices]).astype(np.float32),
        faces=np.concatenate([mesh.faces, completion.faces + count]).astype(np.int32),
        normals=normals,
        colors=colors,
    )
    return merged, np.concatenate([labels, kinds.astype(np.int8)])


def over_completed_floor(points: np.ndarray, completion: TriangleMesh, kinds: np.ndarray, *, max_dz: float = 0.15):
    """(S,) bool: points (world) standing on a completed floor triangle (within ``max_dz`` above or below it)."""
    return over_faces(points, completion.vertices, completion.faces[kinds == 1], max_dz=max_dz)


def spawn_points_to_drop(points: np.ndarray, mesh: TriangleMesh, labels: np.ndarray) -> np.ndarray:
    """(S,) bool: spawn points that do not stand on seen geometry (within 5 cm above a face the picture
    saw). That is completed floor (which overlaps the seen floor by one cell to close seams; a point there
    stands on seen floor), and ground the collision stage filled where the visual mesh has a hole: both
    are guesses, and a robot must start on what was observed."""
    return ~over_faces(points, mesh.vertices, mesh.faces[labels == 0], max_dz=0.05)


def over_faces(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, *, max_dz: float) -> np.ndarray:
    """(S,) bool: points whose vertical line meets one of ``faces`` within ``max_dz`` of the point [m]."""
    points = np.asarray(points, np.float64).reshape(-1, 3)
    if points.shape[0] == 0 or faces.shape[0] == 0:
        return np.zeros(points.shape[0], bool)
    from scipy.spatial import cKDTree

    corners = np.asarray(vertices, np.float64)[faces]  # (T, 3, 3)
    tree = cKDTree(corners.mean(axis=1)[:, :2])
    k = min(8, faces.shape[0])
    _, nearest = tree.query(points[:, :2], k=k)
    nearest = nearest.reshape(points.shape[0], k)
    tri = corners[nearest]  # (S, k, 3, 3)
    p = points[:, None, :2]
    a, b, c = tri[..., 0, :2], tri[..., 1, :2], tri[..., 2, :2]
    d1, d2 = b - a, c - a
    det = d1[..., 0] * d2[..., 1] - d1[..., 1] * d2[..., 0]
    rel = p - a
    u = (rel[..., 0] * d2[..., 1] - rel[..., 1] * d2[..., 0]) / np.where(np.abs(det) < 1e-12, 1e-12, det)
    v = (d1[..., 0] * rel[..., 1] - d1[..., 1] * rel[..., 0]) / np.where(np.abs(det) < 1e-12, 1e-12, det)
    inside = (u >= -1e-6) & (v >= -1e-6) & (u + v <= 1 + 1e-6)
    height = tri[..., 0, 2] + u * (tri[..., 1, 2] - tri[..., 0, 2]) + v * (tri[..., 2, 2] - tri[..., 0, 2])
    return np.any(inside & (np.abs(points[:, None, 2] - height) <= max_dz), axis=1)


def label_visual_layer(path, labels: np.ndarray) -> dict:
    """Author the per-face ``primvars:worldgen:completed`` (int, uniform) and summary ``customData``
    on ``/World/Visual/Mesh`` of an existing visual layer; returns the counts written."""
    from pxr import Sdf, Usd, UsdGeom, Vt

    stage = Usd.Stage.Open(str(path))
    prim = stage.GetPrimAtPath("/World/Visual/Mesh")
    mesh = UsdGeom.Mesh(prim)
    if len(mesh.GetFaceVertexCountsAttr().Get()) != labels.shape[0]:
        raise RuntimeError(f"{path}: visual mesh face count does not match the completion labels")
    primvar = UsdGeom.PrimvarsAPI(prim).CreatePrimvar("worldgen:completed", Sdf.ValueTypeNames.IntArray,
                                                      UsdGeom.Tokens.uniform)  # fmt: skip
    primvar.Set(Vt.IntArray.FromNumpy(labels.astype(np.int32)))
    counts = {name: int(np.count_nonzero(labels == code)) for code, name in COMPLETED_KINDS.items()}
    prim.SetCustomDataByKey("worldgen:completedFaces", int(np.count_nonzero(labels)))
    prim.SetCustomDataByKey("worldgen:completedFacesByKind", counts)
    prim.SetCustomDataByKey("worldgen:completedLabels", "primvars:worldgen:completed: 0 seen, "
                            + ", ".join(f"{k} {v}" for k, v in COMPLETED_KINDS.items()))  # fmt: skip
    stage.GetRootLayer().Save()
    return counts


def label_collision_layer(path, completion: TriangleMesh) -> dict:
    """Author ``customData`` ``worldgen:completedFraction`` (share of a collider's face centres lying on
    completed triangles) and ``worldgen:completed`` (more than half) on every collider mesh; returns
    {prim path: fraction} for colliders that touch completed geometry."""
    from pxr import Usd, UsdGeom
    from scipy.spatial import cKDTree

    if completion.is_empty:
        return {}
    stage = Usd.Stage.Open(str(path))
    anchors = np.concatenate([np.asarray(completion.vertices, np.float64),
                              np.asarray(completion.vertices, np.float64)[completion.faces].mean(axis=1)])  # fmt: skip
    tree = cKDTree(anchors)
    cell = float(np.median(np.linalg.norm(anchors[completion.faces[:, 0]] - anchors[completion.faces[:, 1]], axis=1)))
    touched = {}
    for prim in stage.Traverse():
        if not prim.IsA(UsdGeom.Mesh) or not str(prim.GetPath()).startswith("/World/Collision"):
            continue
        mesh = UsdGeom.Mesh(prim)
        points = np.asarray(mesh.GetPointsAttr().Get(), np.float64)
        indices = np.asarray(mesh.GetFaceVertexIndicesAttr().Get(), np.int64).reshape(-1, 3)
        points = usd_transform_points(points, prim_world_matrix(prim))
        distance, _ = tree.query(points[indices].mean(axis=1))
        fraction = float(np.mean(distance <= NEAR_COMPLETED + 0.5 * cell)) if len(distance) else 0.0
        prim.SetCustomDataByKey("worldgen:completedFraction", round(fraction, 4))
        prim.SetCustomDataByKey("worldgen:completed", fraction > 0.5)
        if fraction > 0:
            touched[str(prim.GetPath())] = round(fraction, 4)
    stage.GetRootLayer().Save()
    return touched


def _vertex_normals(mesh: TriangleMesh) -> np.ndarray:
    corners = np.asarray(mesh.vertices, np.float64)[mesh.faces]
    face = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros((mesh.vertices.shape[0], 3))
    for i in range(3):
        np.add.at(normals, mesh.faces[:, i], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(length > 1e-12, normals / np.maximum(length, 1e-12), [0.0, 0.0, 1.0])

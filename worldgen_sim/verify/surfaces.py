"""Top-down surface maps of triangle meshes: where a probe dropped from above would land.

:func:`vertical_hits` casts one vertical ray per grid cell through a set of
triangles (exact ray-triangle tests, vectorised over triangle/cell pairs);
:func:`surface_map` keeps, per cell, the highest upward-facing hit with free space
above it. :func:`load_visual_triangles` and :func:`load_collider_triangles` read
the world's visual meshes and its colliders from USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError
from worldgen_sim.usd_geometry import fan_corners, prim_world_matrix, usd_transform_points
from worldgen_sim.verify.verify_cfg import VerifyCfg

__all__ = [
    "SurfaceMap",
    "grid_for",
    "load_collider_triangles",
    "load_visual_triangles",
    "surface_map",
    "vertical_hits",
]

# A ray hit counts as an upward-facing side when its triangle's unit normal has z above this
# (60 degrees of tilt). Deliberately loose: single triangles of a reconstructed mesh tilt with
# millimetre noise; flatness is judged over the probe's neighbourhood instead (place_probes),
# where a height range of flat_tolerance over 3 probe radii bounds the mean normal's z far above 0.9.
_UPWARD_NZ = 0.5
# Hits closer than this along one vertical ray are the same surface (shared triangle edges) [m].
_SAME_SURFACE = 1e-4
# Cap on height-map cells; the cell grows on very large worlds to stay under it.
_MAX_CELLS = 4_000_000
# Triangle/cell pairs tested per chunk when rasterising (bounds memory to a few hundred MB).
_PAIRS_PER_CHUNK = 4_000_000


@dataclass(eq=False)
class SurfaceMap:
    """Top-down map of the surfaces a probe can be dropped onto.

    Attributes:
        origin: (2,) float64 xy of the centre of cell (0, 0) [m].
        cell: cell size [m].
        heights: (H, W) float64 height of the highest upward-facing surface with free space
            above it in each cell [m]; NaN where there is none. Row index is y, column x.
    """

    origin: np.ndarray
    cell: float
    heights: np.ndarray

    def lookup(self, xy: np.ndarray) -> np.ndarray:
        """Heights at (N, 2) xy positions [m]; NaN outside the map or where it has no surface."""
        ij = np.floor((np.asarray(xy, dtype=np.float64) - self.origin) / self.cell + 0.5).astype(np.int64)
        rows, cols = self.heights.shape
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < cols) & (ij[:, 1] >= 0) & (ij[:, 1] < rows)
        out = np.full(len(ij), np.nan)
        out[inside] = self.heights[ij[inside, 1], ij[inside, 0]]
        return out


def load_visual_triangles(world_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangles of every visual mesh in the world frame.

    Visual meshes are the ``Mesh`` prims under ``/World/Visual`` (less their ``holeIndices``
    faces) and the objects' own visual meshes under ``/World/Collision/Objects``; when there is
    no such scope, every mesh that is neither a collider nor ``purpose = guide``.

    Returns:
        vertices: (V, 3) float64 [m]; triangles: (T, 3) int64 vertex indices;
        normals: (T, 3) float64 unit triangle normals, oriented by the authored
        normals where present, else by winding.

    Raises:
        WorldgenError: the stage cannot be opened or holds no visual mesh.
    """
    from pxr import Usd, UsdGeom, UsdPhysics

    stage = Usd.Stage.Open(str(world_path))
    if stage is None:
        raise WorldgenError(f"{world_path}: cannot open as a USD stage")
    visual_root = stage.GetPrimAtPath("/World/Visual")
    if visual_root.IsValid():
        prims = [p for p in Usd.PrimRange(visual_root) if p.IsA(UsdGeom.Mesh)]
        # The objects' own visual meshes (the object layer), drawn where their Xforms put them.
        objects_root = stage.GetPrimAtPath("/World/Collision/Objects")
        prims += [p for p in Usd.PrimRange(objects_root) if p.IsA(UsdGeom.Mesh)
                  and not p.HasAPI(UsdPhysics.CollisionAPI)
                  and UsdGeom.Imageable(p).ComputePurpose() != UsdGeom.Tokens.guide] if objects_root else []
    else:
        prims = [
            p
            for p in stage.Traverse()
            if p.IsA(UsdGeom.Mesh)
            and not p.HasAPI(UsdPhysics.CollisionAPI)
            and UsdGeom.Imageable(p).ComputePurpose() != UsdGeom.Tokens.guide
        ]
    all_vertices, all_triangles, all_normals, offset = [], [], [], 0
    for prim in prims:
        vertices, triangles, normals = _mesh_triangles(UsdGeom.Mesh(prim))
        if len(triangles) == 0:
            continue
        all_vertices.append(vertices)
        all_triangles.append(triangles + offset)
        all_normals.append(normals)
        offset += len(vertices)
    if not all_triangles:
        raise WorldgenError(
            f"{world_path}: no visual mesh with triangles under /World/Visual; the drop test needs the "
            "visual surface to place probes and to measure where they come to rest"
        )
    return np.concatenate(all_vertices), np.concatenate(all_triangles), np.concatenate(all_normals)


def load_collider_triangles(world_path: Path) -> np.ndarray:
    """(T, 3, 3) float64 corners of every collider's triangles in the world frame [m].

    Colliders are the ``Mesh`` prims with ``UsdPhysics.CollisionAPI`` (triangle
    meshes and convex hulls, taken as authored) and ``Cube`` prims with it.
    """
    from pxr import Usd, UsdGeom, UsdPhysics

    stage = Usd.Stage.Open(str(world_path))
    if stage is None:
        raise WorldgenError(f"{world_path}: cannot open as a USD stage")
    corners = []
    for prim in stage.Traverse():
        if not prim.HasAPI(UsdPhysics.CollisionAPI):
            continue
        if prim.IsA(UsdGeom.Mesh):
            vertices, triangles, _ = _mesh_triangles(UsdGeom.Mesh(prim))
            corners.append(vertices[triangles])
        elif prim.IsA(UsdGeom.Cube):
            corners.append(_cube_triangles(UsdGeom.Cube(prim)))
    return np.concatenate(corners) if corners else np.zeros((0, 3, 3))


def _cube_triangles(cube) -> np.ndarray:
    """(12, 3, 3) world-frame triangles of a ``UsdGeom.Cube`` (edge ``size``, centred at its origin)."""
    half = 0.5 * float(cube.GetSizeAttr().Get() or 2.0)
    signs = np.array([[x, y, z] for z in (-1, 1) for y in (-1, 1) for x in (-1, 1)], np.float64)
    quads = np.array([[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5]])
    points = usd_transform_points(half * signs, prim_world_matrix(cube))
    triangles = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    return points[triangles]


def _mesh_triangles(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from pxr import UsdGeom

    points = np.asarray(mesh.GetPointsAttr().Get() or [], dtype=np.float64).reshape(-1, 3)
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get() or [], dtype=np.int64)
    indices = np.asarray(mesh.GetFaceVertexIndicesAttr().Get() or [], dtype=np.int64)
    if len(points) == 0 or len(counts) == 0 or counts.sum() != len(indices):
        return points, np.zeros((0, 3), np.int64), np.zeros((0, 3))
    face_of_tri, corners = fan_corners(counts)
    holes = np.asarray(mesh.GetHoleIndicesAttr().Get() or [], dtype=np.int64)
    if len(holes):  # faces the mesh does not draw (the object layer cuts the objects out this way)
        drawn = ~np.isin(face_of_tri, holes)
        face_of_tri, corners = face_of_tri[drawn], corners[drawn]
    triangles = indices[corners]

    matrix = prim_world_matrix(mesh)
    vertices = usd_transform_points(points, matrix)
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    if mesh.GetOrientationAttr().Get() == UsdGeom.Tokens.leftHanded:
        normals = -normals
    authored = _authored_triangle_normals(mesh, triangles, corners, face_of_tri, len(points), len(indices))
    if authored is not None:
        # Normals transform with the inverse transpose; for row vectors that is n @ inv(M3)^T.
        authored = authored @ np.linalg.inv(matrix[:3, :3]).T
        flip = np.einsum("ij,ij->i", normals, authored) < 0
        normals[flip] = -normals[flip]
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    return vertices, triangles, normals


def _authored_triangle_normals(mesh, triangles, corners, face_of_tri, num_points, num_corners):
    """(T, 3) summed authored normals per triangle, or None when none usable are authored."""
    from pxr import UsdGeom

    primvar = UsdGeom.PrimvarsAPI(mesh).GetPrimvar("normals")
    if primvar and primvar.HasAuthoredValue():
        values, interpolation = primvar.ComputeFlattened(), primvar.GetInterpolation()
    else:
        values, interpolation = mesh.GetNormalsAttr().Get(), mesh.GetNormalsInterpolation()
    if not values:
        return None
    values = np.asarray(values, dtype=np.float64).reshape(-1, 3)
    if interpolation in (UsdGeom.Tokens.vertex, UsdGeom.Tokens.varying) and len(values) == num_points:
        return values[triangles].sum(axis=1)
    if interpolation == UsdGeom.Tokens.faceVarying and len(values) == num_corners:
        return values[corners].sum(axis=1)
    if interpolation == UsdGeom.Tokens.uniform and len(values) > face_of_tri.max(initial=-1):
        return values[face_of_tri]
    return None


def grid_for(lo: np.ndarray, hi: np.ndarray, cell: float) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Grid covering the xy box [lo, hi]: origin (2,), cell [m] (grown to stay under the cell cap), (rows, cols)."""
    extent = np.maximum(np.asarray(hi, np.float64) - lo, cell)
    cell = max(cell, float(np.sqrt(extent[0] * extent[1] / _MAX_CELLS)))
    cols, rows = (np.ceil(extent / cell).astype(np.int64) + 1).tolist()
    return np.asarray(lo, np.float64), cell, (rows, cols)


def vertical_hits(
    tri: np.ndarray, origin: np.ndarray, cell: float, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every crossing of a vertical ray through each cell centre with the triangles.

    Args:
        tri: (T, 3 corners, 3) float64 triangle corners [m].
        origin: (2,) xy of the centre of cell (0, 0) [m]; cell: cell size [m];
        shape: (rows, cols) of the grid (row index is y).

    Returns:
        cell_id (H,) int64 (``row * cols + col``), z (H,) float64 [m] and the hit
        triangle's index (H,) int64, in no particular order.
    """
    rows, cols = shape
    # Cell index range covered by each triangle's xy bounding box.
    tmin = np.ceil((tri[:, :, :2].min(axis=1) - origin) / cell).astype(np.int64)
    tmax = np.floor((tri[:, :, :2].max(axis=1) - origin) / cell).astype(np.int64)
    tmin = np.maximum(tmin, 0)
    tmax = np.minimum(tmax, [cols - 1, rows - 1])
    span = np.maximum(tmax - tmin + 1, 0)
    pairs_per_tri = span[:, 0] * span[:, 1]

    cell_ids, hit_z, hit_t = [], [], []
    bounds = np.searchsorted(
        np.cumsum(pairs_per_tri), np.arange(1, 1 + pairs_per_tri.sum() // _PAIRS_PER_CHUNK) * _PAIRS_PER_CHUNK
    )
    for chunk in np.split(np.arange(len(tri)), np.unique(bounds)):
        if len(chunk) == 0:
            continue
        counts = pairs_per_tri[chunk]
        t = np.repeat(chunk, counts)
        if len(t) == 0:
            continue
        local = np.arange(len(t)) - np.repeat(np.cumsum(counts) - counts, counts)
        ix = tmin[t, 0] + local % span[t, 0]
        iy = tmin[t, 1] + local // span[t, 0]
        px, py = origin[0] + ix * cell, origin[1] + iy * cell
        a, b, c = tri[t, 0], tri[t, 1], tri[t, 2]
        e1x, e1y, e2x, e2y = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1], c[:, 0] - a[:, 0], c[:, 1] - a[:, 1]
        dx, dy = px - a[:, 0], py - a[:, 1]
        det = e1x * e2y - e2x * e1y
        eps = 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):  # vertical triangles: det = 0, never inside
            u = (dx * e2y - e2x * dy) / det
            v = (e1x * dy - dx * e1y) / det
            inside = (np.abs(det) > 1e-14) & (u >= -eps) & (v >= -eps) & (u + v <= 1 + eps)
            z = a[:, 2] + u * (b[:, 2] - a[:, 2]) + v * (c[:, 2] - a[:, 2])
        cell_ids.append((iy * cols + ix)[inside])
        hit_z.append(z[inside])
        hit_t.append(t[inside])
    if not cell_ids:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(cell_ids), np.concatenate(hit_z), np.concatenate(hit_t)


def surface_map(vertices: np.ndarray, triangles: np.ndarray, normals: np.ndarray, *, cfg: VerifyCfg) -> SurfaceMap:
    """Rasterise the mesh top-down into the map of surfaces probes can be dropped onto.

    Casts one vertical ray per cell (:func:`vertical_hits`). A hit is a drop
    surface when it faces up and nothing else lies above it within the probe's
    fall (``drop_height + 2 * probe_radius``), so ceilings and table undersides
    are skipped and floors under tables kept.

    Args:
        vertices: (V, 3) float64 [m]; triangles: (T, 3) int64; normals: (T, 3) unit.
        cfg: probe radius (sets the cell, half the radius) and drop height.
    """
    tri = vertices[triangles]  # (T, 3 corners, 3)
    origin, cell, (rows, cols) = grid_for(
        tri[:, :, :2].min(axis=(0, 1)), tri[:, :, :2].max(axis=(0, 1)), cfg.probe_radius / 2.0
    )
    cell_id, z, t = vertical_hits(tri, origin, cell, (rows, cols))
    nz = normals[t, 2]
    heights = np.full(rows * cols, np.nan)
    if len(cell_id):
        order = np.lexsort((z, cell_id))
        cell_id, z, nz = cell_id[order], z[order], nz[order]
        # Collapse repeated hits on one surface (rays through shared edges), keeping the upper copy.
        same_as_next = (cell_id[:-1] == cell_id[1:]) & (z[1:] - z[:-1] < _SAME_SURFACE)
        keep = np.concatenate([~same_as_next, [True]])
        cell_id, z, nz = cell_id[keep], z[keep], nz[keep]
        next_in_cell = np.concatenate([cell_id[1:] == cell_id[:-1], [False]])
        gap_above = np.where(next_in_cell, np.concatenate([z[1:], [np.inf]]) - z, np.inf)
        clearance = cfg.drop_height + 2.0 * cfg.probe_radius
        usable = (nz > _UPWARD_NZ) & (gap_above > clearance)
        best = np.full(rows * cols, -np.inf)
        np.maximum.at(best, cell_id[usable], z[usable])
        heights = np.where(np.isfinite(best), best, np.nan)
    return SurfaceMap(origin=origin, cell=cell, heights=heights.reshape(rows, cols))

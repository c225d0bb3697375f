"""Convex hulls within PhysX's GPU limits: vertex and polygon caps, outward faces, volumes."""

from __future__ import annotations

import numpy as np

from worldgen_sim.hull_polygons import polygon_count

__all__ = ["box_hulls", "convex_hull", "hull_polygon_count", "mesh_area", "mesh_volume"]

_MIN_THICKNESS = 0.005
"""Boxes thinner than this are thickened about their centre: GPU cooking rejects slivers [m]."""


_BOX_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                       [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.int32)
"""Outward triangles of a box whose corner ``i`` is at (bit 2, bit 1, bit 0) of ``i`` along
right-handed edge directions (x, y, z)."""


def box_hulls(corners: np.ndarray, *, max_vertices: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Hulls of (B, 8, 3) box corners [m], slivers thickened to :data:`_MIN_THICKNESS`.

    Corner ``i`` of a box lies at ``lo + bit2(i) ex + bit1(i) ey + bit0(i) ez`` for the box's edge
    vectors (the order :meth:`~worldgen_sim.collision.boxes.BoxFit.world_corners` and the voxel cover
    write). The hull of a box is known: its 8 corners and 12 triangles, built here for all boxes at once
    (a convex-hull run per box cost milliseconds each; clutter has hundreds). Boxes with two or more
    zero-length edges (a line, a point) have no hull and are left out.
    """
    del max_vertices  # a box has 8 vertices and 6 polygons: within any PhysX limit (>= 8)
    corners = np.asarray(corners, np.float64).reshape(-1, 8, 3)
    corners = corners[np.isfinite(corners).all(axis=(1, 2))]
    if corners.shape[0] == 0:
        return []
    edges = corners[:, [4, 2, 1]] - corners[:, [0, 0, 0]]  # (B, 3 axes, 3)
    length = np.linalg.norm(edges, axis=2)
    keep = (length > 1e-12).sum(axis=1) >= 2
    corners, edges, length = corners[keep], edges[keep], length[keep]
    unit = edges / np.maximum(length, 1e-300)[..., None]
    for axis in range(3):  # a flat box (zero height): its missing direction is normal to the other two
        flat = length[:, axis] <= 1e-12
        if flat.any():
            other = np.cross(unit[flat, (axis + 1) % 3], unit[flat, (axis + 2) % 3])
            unit[flat, axis] = other / np.maximum(np.linalg.norm(other, axis=1, keepdims=True), 1e-300)
    size = np.maximum(length, _MIN_THICKNESS)
    centre = corners.mean(axis=1)
    bits = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], np.float64) - 0.5  # (8, 3)
    vertices = centre[:, None, :] + np.einsum("ka,ba,bad->bkd", bits, size, unit)
    left_handed = np.einsum("bd,bd->b", np.cross(unit[:, 0], unit[:, 1]), unit[:, 2]) < 0
    flipped = _BOX_FACES[:, ::-1].copy()
    return [(v.astype(np.float32), (flipped if lh else _BOX_FACES).copy())
            for v, lh in zip(vertices, left_handed)]


def convex_hull(points: np.ndarray, *, max_vertices: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Convex hull with at most ``max_vertices`` vertices and polygons, outward faces; None if degenerate.

    PhysX GPU hulls allow 64 vertices *and* 64 polygons (coplanar triangles count as one), so
    both are held to ``max_vertices``: while either is over, a farthest-point subset of the
    hull's vertices (shrinking by a fifth each round) is re-hulled.

    Args:
        points: (P, 3) float [m].
        max_vertices: vertex and polygon limit.

    Returns:
        (H, 3) float32 vertices and (T, 3) int32 triangle faces, or None (fewer than 4
        points, or all on a plane or line).
    """
    from scipy.spatial import ConvexHull, QhullError

    points = np.asarray(points, np.float64)
    points = points[np.isfinite(points).all(axis=1)]
    if points.shape[0] < 4:
        return None
    try:
        hull = ConvexHull(points)
        corners = points[hull.vertices]
        target = max_vertices
        for _ in range(12):
            if corners.shape[0] > target:
                corners = corners[_farthest_points(corners, target)]
            hull = ConvexHull(corners)
            # Offsets about the hull's centre: polygon_count compares them in metres.
            normals, offsets = hull.equations[:, :3], hull.equations[:, 3]
            planes = np.column_stack([normals, offsets + normals @ corners.mean(axis=0)])
            polygons = polygon_count(planes)
            if hull.vertices.size <= max_vertices and polygons <= max_vertices:
                break
            target = max(4, min(target, hull.vertices.size) * 4 // 5)
        corners = corners[hull.vertices]
        hull = ConvexHull(corners)
    except (QhullError, ValueError):
        return None
    if hull.volume <= 1e-12:
        return None
    vertices = corners
    faces = hull.simplices.copy()
    # Orient outward: qhull's facet equations give the outward normal of each simplex.
    tri = vertices[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    flip = np.einsum("ij,ij->i", normal, hull.equations[:, :3]) < 0
    faces[flip] = faces[flip][:, ::-1]
    return vertices.astype(np.float32), faces.astype(np.int32)


def hull_polygon_count(vertices: np.ndarray, faces: np.ndarray) -> int:
    """Number of distinct face planes of a convex hull (coplanar triangles count once), as PhysX counts
    polygons (:func:`worldgen_sim.hull_polygons.polygon_count`)."""

    points = np.asarray(vertices, np.float64)
    tri = (points - points.mean(axis=0))[np.asarray(faces, np.int64)]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-20)
    return polygon_count(np.column_stack([normal, -np.einsum("ij,ij->i", normal, tri[:, 0])]))


def _farthest_points(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` points picked greedily farthest from those already picked."""
    centre = points.mean(axis=0)
    chosen = [int(np.argmax(np.linalg.norm(points - centre, axis=1)))]
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    for _ in range(count - 1):
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(points - points[nxt], axis=1))
    return np.asarray(chosen)


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume of a closed, outward-oriented triangle mesh [m^3]."""
    tri = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def mesh_area(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Surface area [m^2]."""
    tri = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
    return float(0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())

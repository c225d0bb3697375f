"""Walls and ceilings: large planes found by sequential RANSAC over the faces the ground left.

Hypotheses are the planes of area-weighted sampled faces, scored in batches against
(a sample of) the free faces, the winner refined by an area-weighted least-squares
fit. A face is an inlier of a plane when its three vertices lie within
``distance`` of it and its normal agrees with the plane's. A plane is a ceiling
when it faces down at the top of the scene, a wall when it is vertical and spans
most of the height between the ground and the ceiling (or the top); any other
plane (a cabinet front, a sofa seat) goes back to the objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Plane", "join_near_planes", "shell_planes"]


@dataclass(eq=False)
class Plane:
    """One wall or ceiling plane.

    Attributes:
        normal: (3,) float64 unit normal, pointing the way its faces face.
        offset: d in ``normal . x = d`` [m].
        semantic_class: ``"wall"`` or ``"ceiling"``.
        faces: (K,) int64 indices of its inlier faces in the input mesh.
        area: summed inlier face area [m^2].
    """

    normal: np.ndarray
    offset: float
    semantic_class: str
    faces: np.ndarray
    area: float


def shell_planes(vertices, faces, normals, areas, centroids, free, *, distance, min_area, normal_angle,
                 wall_height_fraction, ground_level, max_planes=24, seed=0) -> tuple[list[Plane], int]:
    """Walls and ceilings among the ``free`` faces; returns the planes and how many planes were not shell.

    Args:
        vertices: (V, 3) float64 [m]; faces (F, 3) int64; normals (F, 3); areas (F,) [m^2];
            centroids (F, 3) [m]; free: (F,) bool faces that may join a plane.
        distance: inlier distance [m]. min_area: smallest plane [m^2].
        normal_angle: largest angle between a face normal and its plane's [deg].
        wall_height_fraction: a vertical plane spanning at least this fraction of the height
            from ``ground_level`` to the ceiling (or the top) is a wall.
        ground_level: typical ground height [m].
    """
    tri = vertices[faces]
    cos_normal = np.cos(np.radians(normal_angle))
    rng = np.random.default_rng(seed)
    free = free.copy()
    candidates = []
    for _ in range(max_planes):
        found = _best_plane(vertices, faces, tri, normals, areas, centroids, free, distance, cos_normal, rng)
        if found is None or found[3] < min_area:
            break
        candidates.append(found)
        free[found[2]] = False
    top = float(vertices[:, 2].max()) if len(vertices) else 0.0
    classes: list[str | None] = [None] * len(candidates)
    ceiling_z = None
    # Ceilings first: walls are judged against the height they give.
    for i, (normal, offset, _inliers, _area) in enumerate(candidates):
        height = -offset
        if normal[2] < -cos_normal and height >= top - 2.0 * distance - 0.05 and height > ground_level + 1.0:
            classes[i] = "ceiling"
            ceiling_z = height if ceiling_z is None else max(ceiling_z, height)
    room_height = (ceiling_z if ceiling_z is not None else top) - ground_level
    for i, (normal, _offset, inliers, _area) in enumerate(candidates):
        vertical = classes[i] is None and abs(normal[2]) < np.sin(np.radians(normal_angle))
        if vertical and _height_span(tri[inliers][..., 2]) >= wall_height_fraction * room_height:
            classes[i] = "wall"
    planes = [Plane(n, float(d), c, inl, float(a)) for (n, d, inl, a), c in zip(candidates, classes) if c]
    return planes, sum(c is None for c in classes)


def _height_span(z: np.ndarray, *, max_gap: float = 0.3) -> float:
    """Height [m] of the longest run of a plane's inlier faces' heights (T, 3) [m] with no gap over ``max_gap``.

    Not max - min: a few stray faces facing the same way in the plane's line far above (the strip where
    another wall meets the ceiling) would make a 1.8 m cabinet front span the room's height. Each face
    covers its own height interval (a wall may be two triangles).
    """
    z = np.asarray(z, np.float64).reshape(-1, 3)
    if z.shape[0] == 0:
        return 0.0
    order = np.argsort(z.min(axis=1), kind="stable")
    start, stop = z.min(axis=1)[order], z.max(axis=1)[order]
    reach = np.maximum.accumulate(stop)  # highest point covered so far
    new_run = np.ones(start.size, bool)
    new_run[1:] = start[1:] > reach[:-1] + max_gap
    run_start = start[new_run]
    run_stop = np.maximum.reduceat(stop, np.flatnonzero(new_run))
    return float((run_stop - run_start).max())


def join_near_planes(planes: list[Plane], tri: np.ndarray, areas: np.ndarray, rest: np.ndarray,
                     distance: float) -> np.ndarray:
    """Faces of ``rest`` lying within ``distance`` of a plane join the nearest one (noisy slivers the
    normal test refused, corner strips, posters); returns what is left of ``rest``."""
    if not planes or rest.size == 0:
        return rest
    plane_normals = np.stack([p.normal for p in planes])
    plane_offsets = np.array([p.offset for p in planes])
    near = np.zeros(rest.size, bool)
    nearest = np.zeros(rest.size, np.int64)
    for chunk in np.array_split(np.arange(rest.size), max(1, rest.size // 200_000 + 1)):
        dist = np.abs(tri[rest[chunk]] @ plane_normals.T - plane_offsets)  # (C, 3, K)
        near[chunk] = (dist < distance).any(axis=2).all(axis=1)
        nearest[chunk] = np.argmin(dist.mean(axis=1), axis=1)
    for k, plane in enumerate(planes):
        joined = rest[near & (nearest == k)]
        plane.faces = np.sort(np.concatenate([plane.faces, joined]))
        plane.area += float(areas[joined].sum())
    return rest[~near]


def fit_plane(points, weights, previous_normal):
    """Weighted least-squares plane through points; normal kept on previous_normal's side."""
    weights = weights + 1e-12
    centre = (points * weights[:, None]).sum(axis=0) / weights.sum()
    centred = points - centre
    _, vectors = np.linalg.eigh((centred * weights[:, None]).T @ centred)
    normal = vectors[:, 0]  # smallest eigenvalue
    if normal @ previous_normal < 0:
        normal = -normal
    return normal, float(normal @ centre)


def _best_plane(vertices, faces, tri, normals, areas, centroids, free, distance, cos_normal, rng,
                hypotheses=64, refinements=2, score_faces=12000):
    """The plane with the most inlier area among faces still ``free``, or None.

    Returns (normal (3,), offset, inlier face indices, inlier area).
    """
    pool = np.flatnonzero(free)
    if pool.size == 0:
        return None
    weights = areas[pool] / areas[pool].sum()
    picks = pool[rng.choice(pool.size, size=min(hypotheses, pool.size), replace=False, p=weights)]
    hyp_normals = normals[picks]
    hyp_offsets = np.einsum("ij,ij->i", hyp_normals, tri[picks, 0])
    # Score hypotheses in batches against (a sample of) the free faces: vertex distances and
    # normal agreement. Scoring on a sample keeps this O(hypotheses x sample) per plane.
    score_pool = pool if pool.size <= score_faces else np.sort(rng.choice(pool, size=score_faces, replace=False))
    sample_points = tri[score_pool].reshape(-1, 3)
    # (S, K): the largest vertex distance of each sampled face to each hypothesis plane.
    dist = np.abs(sample_points @ hyp_normals.T - hyp_offsets).reshape(score_pool.size, 3, -1).max(axis=1)
    inlier = (dist < distance) & (normals[score_pool] @ hyp_normals.T > cos_normal)
    scores = areas[score_pool] @ inlier
    best = int(np.argmax(scores))
    if scores[best] <= 0:
        return None
    normal, offset = hyp_normals[best], hyp_offsets[best]
    for _ in range(refinements):
        inliers = _plane_inliers(vertices, faces, normals, pool, normal, offset, distance, cos_normal)
        if inliers.size < 3:
            break
        normal, offset = fit_plane(centroids[inliers], areas[inliers], normal)
    # The final inlier set accepts noisier normals (still rejecting faces across the plane,
    # such as the foot of a cabinet's side on the floor).
    inliers = _plane_inliers(vertices, faces, normals, pool, normal, offset, distance, min(cos_normal, 0.5))
    return normal, float(offset), inliers, float(areas[inliers].sum())


def _plane_inliers(vertices, faces, normals, pool, normal, offset, distance, cos_normal):
    """Faces of ``pool`` facing along ``normal`` with all three vertices within ``distance`` of the plane."""
    facing = pool[normals[pool] @ normal > cos_normal]
    close = np.abs(vertices @ normal - offset) < distance
    return facing[close[faces[facing]].all(axis=1)]

"""Floor and wall planes of one view's points (camera frame), by vectorised RANSAC.

The camera is taken as held roughly level: the floor is the plane within
``MAX_FLOOR_TILT_DEG`` of the camera's up (-y in OpenCV) with the most
inliers and almost nothing below it; walls are vertical planes (containing the
floor normal) with many inliers spanning at least ``MIN_WALL_HEIGHT``.
Inlier tolerance grows with depth, as a depth sensor's and a depth model's noise does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Plane", "find_floor", "find_walls", "inlier_tolerance"]

MAX_FLOOR_TILT_DEG = 50.0
MIN_PLANE_FRACTION = 0.03
"""A floor or wall holds at least this fraction of the view's points."""
MIN_WALL_HEIGHT = 0.9
"""A vertical plane spanning less height than this [m] is furniture, not a wall."""
MIN_WALL_FILL = 0.4
"""A wall's inliers fill at least this fraction of the 10 cm cells of their extent along and up the wall."""
HYPOTHESES = 384
SCORE_POINTS = 4000
"""Hypotheses are scored on this many random points; the winner is refined on all of them."""


@dataclass(eq=False)
class Plane:
    """``normal . p = offset`` with a unit ``normal`` (3,) and the (N,) inlier mask of the points it was fitted to."""

    normal: np.ndarray
    offset: float
    inliers: np.ndarray


def inlier_tolerance(points: np.ndarray) -> np.ndarray:
    """(N,) distance within which a point lies on a plane [m]: 2 cm plus 1 % of its depth."""
    return 0.02 + 0.01 * np.abs(points[:, 2])


def find_floor(points: np.ndarray, *, seed: int = 0) -> Plane | None:
    """The floor plane of (N, 3) camera-frame points [m], normal pointing up (towards the camera), or None."""
    count = points.shape[0]
    if count < 50:
        return None
    rng = np.random.default_rng(seed)
    tol = inlier_tolerance(points)
    triples = points[rng.integers(0, count, size=(HYPOTHESES, 3))]
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    length = np.linalg.norm(normals, axis=1)
    normals = normals / np.maximum(length, 1e-12)[:, None]
    normals *= np.where(normals[:, 1] > 0, -1.0, 1.0)[:, None]  # up is -y in an OpenCV camera
    usable = (length > 1e-9) & (-normals[:, 1] >= np.cos(np.radians(MAX_FLOOR_TILT_DEG)))
    if not np.any(usable):
        return None
    normals, offsets = normals[usable], np.einsum("hj,hj->h", normals[usable], triples[usable, 0])
    sample = rng.choice(count, size=min(count, SCORE_POINTS), replace=False)
    heights = normals @ points[sample].T - offsets[:, None]  # (hypotheses, S) signed height above each plane
    score = (np.abs(heights) < tol[sample]).sum(axis=1) - 5 * (heights < -3.0 * tol[sample]).sum(axis=1)
    best = int(np.argmax(score))
    plane = _refine(points, np.abs(points @ normals[best] - offsets[best]) < tol, tol)
    if plane is None or plane.inliers.sum() < max(50, MIN_PLANE_FRACTION * count):
        return None
    if plane.normal[1] > 0:
        plane = Plane(-plane.normal, -plane.offset, plane.inliers)
    return plane


def find_walls(points: np.ndarray, floor: Plane, *, max_walls: int = 4, seed: int = 0) -> list[Plane]:
    """Vertical planes among (N, 3) points not on the floor; normals face the camera (origin)."""
    rng = np.random.default_rng(seed + 1)
    tol = inlier_tolerance(points)
    up = floor.normal
    heights = points @ up - floor.offset
    free = heights > tol
    walls: list[Plane] = []
    minimum = max(50, MIN_PLANE_FRACTION * points.shape[0])
    for _ in range(max_walls):
        candidates = np.flatnonzero(free)
        if candidates.size < minimum:
            break
        pairs = points[candidates[rng.integers(0, candidates.size, size=(HYPOTHESES, 2))]]
        normals = np.cross(pairs[:, 1] - pairs[:, 0], up)
        length = np.linalg.norm(normals, axis=1)
        normals = normals[length > 1e-6] / length[length > 1e-6, None]
        if normals.shape[0] == 0:
            break
        offsets = np.einsum("hj,hj->h", normals, pairs[length > 1e-6, 0])
        sample = candidates[rng.choice(candidates.size, size=min(candidates.size, SCORE_POINTS), replace=False)]
        score = (np.abs(normals @ points[sample].T - offsets[:, None]) < tol[sample]).sum(axis=1)
        best = int(np.argmax(score))
        inliers = (np.abs(points @ normals[best] - offsets[best]) < tol) & free
        if inliers.sum() < minimum:
            break
        wall = _refine(points, inliers, tol, keep_vertical_to=up)
        if wall is None:
            break
        wall_inliers = wall.inliers & free
        free &= ~wall_inliers
        span = np.percentile(heights[wall_inliers], [5, 95]) if wall_inliers.sum() else np.zeros(2)
        if wall_inliers.sum() < minimum or span[1] - span[0] < MIN_WALL_HEIGHT:
            continue  # a cabinet front or table side: not a wall; its points stay out of later searches
        along = np.cross(up, wall.normal)
        if _sheet_fill(points[wall_inliers] @ along, heights[wall_inliers]) < MIN_WALL_FILL:
            continue  # scattered points of several objects that happen to share a vertical plane
        if wall.offset > 0:  # camera (origin) on the positive side: normal . 0 - offset >= 0
            wall = Plane(-wall.normal, -wall.offset, wall_inliers)
        walls.append(Plane(wall.normal, wall.offset, wall_inliers))
    return walls


def _sheet_fill(along: np.ndarray, height: np.ndarray, *, cell: float = 0.1) -> float:
    """Fraction of the cells (``cell`` m) of the points' 5-95 % extent that hold a point."""
    lo = np.percentile(np.stack([along, height], 1), 5, axis=0)
    hi = np.percentile(np.stack([along, height], 1), 95, axis=0)
    inside = (along >= lo[0]) & (along <= hi[0]) & (height >= lo[1]) & (height <= hi[1])
    shape = np.maximum(np.ceil((hi - lo) / cell).astype(int), 1)
    index = np.minimum(((np.stack([along, height], 1)[inside] - lo) / cell).astype(int), shape - 1)
    return np.unique(index[:, 0] * shape[1] + index[:, 1]).size / float(shape[0] * shape[1])


def _refine(points: np.ndarray, inliers: np.ndarray, tol: np.ndarray, *, keep_vertical_to=None) -> Plane | None:
    """Least-squares plane of the inliers (SVD), then its inliers among all points."""
    chosen = points[inliers]
    if chosen.shape[0] < 3:
        return None
    centre = chosen.mean(axis=0)
    normal = np.linalg.svd(chosen - centre, full_matrices=False)[2][-1]
    if keep_vertical_to is not None:  # walls stay exactly vertical to the floor
        normal = normal - np.dot(normal, keep_vertical_to) * keep_vertical_to
        if np.linalg.norm(normal) < 1e-6:
            return None
    normal = normal / np.linalg.norm(normal)
    offset = float(normal @ centre)
    return Plane(normal, offset, np.abs(points @ normal - offset) < tol)

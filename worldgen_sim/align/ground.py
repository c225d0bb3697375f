"""``--add-ground``: stand an object capture without ground on a synthetic ground plane.

A cropped object (a statue cut out of its plaza) has no floor to align to and
nothing for the collision and navigation stages to stand on. The ground made
here is a square sheet of flat, opaque, grey Gaussians ("surfels") at the
object's lowest robust height, perpendicular to the chosen up direction and
reaching ``margin`` object sizes beyond its footprint, so that the surface
stage renders and fuses it like any observed floor, the collision stage makes
it the static ground and navigation finds it walkable. It is built in the
input frame and input units (the scale is not known yet); the alignment's
floor search then finds it like any other floor.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.align.transforms import matrix_to_quaternion
from worldgen_sim.artifacts import GaussianCloud

__all__ = ["MAX_GROUND_GAUSSIANS", "concatenate", "cut_direction", "synthetic_ground"]

MAX_GROUND_GAUSSIANS = 40_000
"""The ground's spacing grows so it never holds more Gaussians than this."""

_BOTTOM_PERCENTILE = 0.5  # of the opaque points' heights: robust to a few stray specks below the object
_OPAQUE = 0.5


def synthetic_ground(
    cloud: GaussianCloud, rotation: np.ndarray, *, margin: float, rng: np.random.Generator
) -> tuple[GaussianCloud, dict]:
    """Gaussians of a ground sheet under ``cloud`` for the up direction ``rotation.T @ +Z``.

    Args:
        cloud: the object's Gaussians in the input frame [input units].
        rotation: (3, 3) rotation taking the input frame to a frame whose +Z is up.
        margin: how far the sheet reaches beyond the object's footprint, in object
            sizes (the larger of its footprint's width and its height).
        rng: random generator (spacing estimate subsample).

    Returns:
        The ground Gaussians (input frame, same SH degree as ``cloud``) and a
        JSON-ready description (count, spacing, height, extent, in input units).
    """
    positions = np.asarray(cloud.positions, np.float64)
    opaque = np.asarray(cloud.opacities) >= _OPAQUE
    levelled = positions[opaque if opaque.sum() >= 50 else slice(None)] @ rotation.T
    bottom = float(np.percentile(levelled[:, 2], _BOTTOM_PERCENTILE))
    lo, hi = np.percentile(levelled[:, :2], 1, axis=0), np.percentile(levelled[:, :2], 99, axis=0)
    size = float(max((hi - lo).max(), np.percentile(levelled[:, 2], 99) - bottom, 1e-6))
    lo, hi = lo - margin * size, hi + margin * size
    spacing = max(_typical_spacing(levelled, rng), float(np.sqrt(np.prod(hi - lo) / MAX_GROUND_GAUSSIANS)))
    xs = np.arange(lo[0], hi[0] + 0.5 * spacing, spacing)
    ys = np.arange(lo[1], hi[1] + 0.5 * spacing, spacing)
    grid = np.stack(np.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    count = grid.shape[0]
    sheet = np.column_stack([grid, np.full(count, bottom)]) @ rotation  # back to the input frame
    quaternion = matrix_to_quaternion(rotation.T)  # local +Z (the surfel's normal) onto the input's up
    ground = GaussianCloud(
        positions=sheet.astype(np.float32),
        rotations=np.tile(np.asarray(quaternion, np.float32), (count, 1)),
        scales=np.column_stack([np.full((count, 2), 0.6 * spacing), np.full(count, 0.05 * spacing)]).astype(np.float32),
        opacities=np.full(count, 0.98, np.float32),
        sh=np.zeros((count, cloud.sh.shape[1], 3), np.float32),  # DC 0: mid grey
    )
    info = {
        "gaussians": int(count),
        "spacing_input": round(spacing, 6),
        "height_input": round(bottom, 6),
        "extent_input": [[round(float(v), 6) for v in lo], [round(float(v), 6) for v in hi]],
        "margin_object_sizes": margin,
    }
    return ground, info


def cut_direction(
    points: np.ndarray, *, min_hollowness: float = 0.4, count: int = 400
) -> tuple[np.ndarray | None, float]:
    """The up direction of a cropped capture, from where it was cut off its ground.

    Cropping a capture at the ground leaves an open outline at the bottom: the
    sides of a pedestal end in a hollow ring, because nothing ever saw its
    underside. Seen along any other direction the extreme slab is a filled cap
    (a head, a side face). For ``count`` directions spread over the sphere, the
    points within 3 % of the object's size above its lowest (0.2th percentile)
    point are binned on a grid (cells of 2.5 % of its size); the *hollowness* is
    the share of their filled outline's area that holds no point. The hollowest
    direction is refined to the plane through the cut's edge (:func:`_rim_normal`).

    Args:
        points: (N, 3) float64 object points [input units].
        min_hollowness: the best direction must be at least this hollow.
        count: directions tried.

    Returns:
        The (3,) unit up vector (None when no direction reaches ``min_hollowness``)
        and the best hollowness found.
    """
    size = float(np.linalg.norm(np.percentile(points, 99, axis=0) - np.percentile(points, 1, axis=0)))
    best, score = _hollowest(points, _fibonacci_cap(count, 180.0, np.array([0.0, 0.0, 1.0])), size)
    if score < min_hollowness:
        return None, score
    for _ in range(3):
        best = _rim_normal(points, best, size)
    return best, score


def _rim_normal(points: np.ndarray, direction: np.ndarray, size: float) -> np.ndarray:
    """Refine ``direction`` to the normal of the plane through the cut's edge.

    The slab above the lowest point holds the sides' last few centimetres; the lowest
    point of each 2.5 %-of-size cell along the outline lies on the cut itself, and a
    plane fitted (SVD) through those is the cut's plane. A fit that is not planar enough
    or turns more than 15 deg is not trusted.
    """
    from worldgen_sim.align.transforms import rotation_between

    rotation = rotation_between(direction, np.array([0.0, 0.0, 1.0]))
    levelled = points @ rotation.T
    slab = levelled[levelled[:, 2] <= np.percentile(levelled[:, 2], 0.2) + 0.03 * size]
    ij = np.floor((slab[:, :2] - slab[:, :2].min(0)) / (0.025 * size)).astype(np.int64)
    key = ij[:, 0] * (ij[:, 1].max() + 1) + ij[:, 1]
    order = np.lexsort((slab[:, 2], key))
    first = order[np.concatenate([[True], key[order][1:] != key[order][:-1]])]
    edge = slab[first]
    if edge.shape[0] < 6:
        return direction
    _, singular, vt = np.linalg.svd(edge - edge.mean(0), full_matrices=False)
    normal = vt[-1] if vt[-1][2] > 0 else -vt[-1]
    if singular[-1] > 0.2 * singular[-2] or normal[2] < np.cos(np.radians(15.0)):
        return direction
    return rotation.T @ normal


def _fibonacci_cap(count: int, half_angle_deg: float, axis: np.ndarray) -> np.ndarray:
    """(count + 1, 3) nearly even unit directions within ``half_angle_deg`` of ``axis`` (the axis included)."""
    from worldgen_sim.align.transforms import rotation_between

    k = np.arange(count) + 0.5
    lowest = np.cos(np.radians(half_angle_deg))
    polar = np.arccos(1.0 - (1.0 - lowest) * k / count)
    azimuth = np.pi * (1.0 + 5.0**0.5) * k
    cap = np.column_stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)])
    cap = np.vstack([[0.0, 0.0, 1.0], cap])
    return cap @ rotation_between(np.array([0.0, 0.0, 1.0]), axis).T


def _hollowest(points, directions, size) -> tuple[np.ndarray, float]:
    heights = points @ directions.T  # (N, D)
    bottoms = np.percentile(heights, 0.2, axis=0)
    scores = [_hollowness(points, d, h, b, size) for d, h, b in zip(directions, heights.T, bottoms)]
    best = int(np.argmax(scores))
    return directions[best], float(scores[best])


def _hollowness(points, direction, heights, bottom, size) -> float:
    from scipy import ndimage

    from worldgen_sim.align.transforms import rotation_between

    slab = points[heights <= bottom + 0.03 * size] @ rotation_between(direction, np.array([0.0, 0.0, 1.0])).T
    if slab.shape[0] < 20:
        return 0.0
    ij = np.floor((slab[:, :2] - slab[:, :2].min(0)) / (0.025 * size)).astype(np.int64)
    occupied = np.zeros(tuple((ij.max(0) + 3).tolist()), dtype=bool)
    occupied[ij[:, 0] + 1, ij[:, 1] + 1] = True
    filled = ndimage.binary_fill_holes(ndimage.binary_closing(occupied))
    return 1.0 - float(occupied.sum()) / max(float(filled.sum()), 1.0)


def concatenate(a: GaussianCloud, b: GaussianCloud) -> GaussianCloud:
    """The Gaussians of ``a`` followed by those of ``b`` (same SH degree)."""
    return GaussianCloud(
        positions=np.concatenate([a.positions, b.positions]),
        rotations=np.concatenate([a.rotations, b.rotations]),
        scales=np.concatenate([a.scales, b.scales]),
        opacities=np.concatenate([a.opacities, b.opacities]),
        sh=np.concatenate([a.sh, b.sh]),
    )


def _typical_spacing(points: np.ndarray, rng: np.random.Generator, sample: int = 20000) -> float:
    """Median nearest-neighbour distance of the object's points (a subsample) [input units]."""
    from scipy.spatial import cKDTree

    thinning = 1.0
    if points.shape[0] > sample:
        # Points on a surface: a subsample 1/k as dense is sqrt(k) times as far apart.
        thinning = np.sqrt(sample / points.shape[0])
        points = points[np.sort(rng.choice(points.shape[0], sample, replace=False))]
    distance, _ = cKDTree(points).query(points, k=2)
    spacing = float(np.median(distance[:, 1])) * thinning
    return spacing if np.isfinite(spacing) and spacing > 0 else 1e-3

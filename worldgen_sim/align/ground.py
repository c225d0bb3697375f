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

__all__ = ["MAX_GROUND_GAUSSIANS", "concatenate", "synthetic_ground"]

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

"""Ground at several heights: how much of a scene stands on ground for one up direction.

A floor candidate of ``--up auto`` is plausible only when the scene stands on
ground (:func:`ground_support`). The floor plane alone is not all of it: in a
scene with stairs, a raised platform and a ramp the floor plane covers three
quarters of the footprint and the rest is ground at other heights. So the
footprint is binned on a grid (cells of ``cell_fraction`` of the robust scene
size, in the floor's own frame) and a cell is **ground** when

- it lies on the floor's filled footprint (the floor's inlier cells, closed,
  holes filled: what furniture hides is still floor, and grown by one cell:
  walls stand on its border), or
- it holds one **level, thin surface**: the cell's low and high height
  quantiles (10th, 90th percentile of the points' heights above the floor) lie
  within ``thin_tolerances`` floor tolerances of each other (a platform top, a
  tread or a ramp seen from above holds nothing else; a blob's curved underside
  and top side are one object-thickness apart), at or above the floor, and its
  low height differs from the nearer of its neighbours on each grid axis by at
  most ``tan(max_slope_deg)`` cells (terraces count as level, their step edges
  do not break them; a dome or a blob's side rises steadily and does not).

Level cells are closed and united with the floor's footprint, holes filled.
A statue's plinth side taken as the floor leaves the figure, a thick blob,
beside it: its cells are not ground, however flat the very bottom of the blob.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldgen_sim.align.floor import CORE_FACTOR, FloorPlane
from worldgen_sim.align.transforms import rotation_between

__all__ = ["GroundSupport", "ground_support"]

_Z = np.array([0.0, 0.0, 1.0])
_LOW_QUANTILE = 0.1  # of the heights in a cell: its lowest surface, robust to noise below it
_PAD = 2  # empty cells around the grid, so neighbour look-ups never wrap onto content


@dataclass
class GroundSupport:
    """How much of the scene stands on ground for one floor (all fractions in [0, 1]).

    Attributes:
        support: weight fraction of the core points over the ground's footprint.
        floor_footprint: fraction of the scene's footprint area the floor plane's footprint covers.
        ground_footprint: the same for all ground: the floor's footprint and level surfaces at other heights.
        raised_levels: fraction of the scene's footprint area that is level ground off the floor plane
            (platform tops, treads, a ramp).
        on_level_ground: (N,) bool over the points given: those binned (the stride subsample) that
            lie on a level cell's surface (within its thickness of the cell's low height); with the
            floor's inliers, they give the ground's extent.
    """

    support: float
    floor_footprint: float
    ground_footprint: float
    raised_levels: float
    on_level_ground: np.ndarray


def ground_support(
    levelled: np.ndarray,
    weights: np.ndarray,
    plane: FloorPlane,
    *,
    max_slope_deg: float,
    cell_fraction: float = 0.05,
    thin_tolerances: float = 4.0,
    max_points: int = 100_000,
) -> GroundSupport:
    """Measure the ground under the scene for the floor ``plane`` (rules in the module docstring).

    Args:
        levelled: (N, 3) float64 points in the frame the plane was found in [input units].
        weights: (N,) float64 weights (opacities or ones).
        plane: the floor found in that frame.
        max_slope_deg: level ground tilts at most this much [deg].
        cell_fraction: grid cell as a fraction of the robust scene size (``plane.size``).
        thin_tolerances: a level cell's surface is at most this many floor tolerances thick.
        max_points: at most this many core points are binned (a fixed stride: the fractions
            are areas and weight shares, which a uniform thinning keeps).
    """
    from scipy import ndimage

    centre = np.median(levelled, axis=0)
    core = np.flatnonzero(np.linalg.norm(levelled - centre, axis=1) <= CORE_FACTOR * plane.size)
    core = core[:: max(1, -(-core.size // max_points))]
    on_level_ground = np.zeros(levelled.shape[0], dtype=bool)
    if not plane.inliers[core].any():
        return GroundSupport(0.0, 0.0, 0.0, 0.0, on_level_ground)
    cell = max(cell_fraction * plane.size, 1e-9)
    points, core_w = levelled[core] @ rotation_between(plane.normal, _Z).T, weights[core]
    height = points[:, 2] - plane.offset
    ij = np.floor(points[:, :2] / cell).astype(np.int64)
    lo = ij.min(0) - _PAD
    shape = tuple((ij.max(0) - lo + 1 + _PAD).tolist())
    ij -= lo
    key = ij[:, 0] * shape[1] + ij[:, 1]

    low, high = _cell_quantiles(key, height, shape, (_LOW_QUANTILE, 1.0 - _LOW_QUANTILE))
    occupied = np.isfinite(low)
    step = np.tan(np.radians(max_slope_deg)) * cell
    thin = (high - low) <= thin_tolerances * plane.tolerance
    level = occupied & thin & (low >= -3.0 * plane.tolerance) & _terrace_level(low, step)

    def footprint(mask):
        return ndimage.binary_dilation(ndimage.binary_fill_holes(ndimage.binary_closing(mask)))

    floor_cells = np.zeros(shape, dtype=bool)
    floor_ij = ij[plane.inliers[core]]
    floor_cells[floor_ij[:, 0], floor_ij[:, 1]] = True
    scene = footprint(occupied)
    floor = footprint(floor_cells)
    ground = ndimage.binary_fill_holes(floor | ndimage.binary_closing(level))
    over = ground[ij[:, 0], ij[:, 1]]
    band = thin_tolerances * plane.tolerance
    on_level_ground[core] = level[ij[:, 0], ij[:, 1]] & (height <= low[ij[:, 0], ij[:, 1]] + band)
    area = max(float(scene.sum()), 1.0)
    return GroundSupport(
        support=float(core_w[over].sum() / max(core_w.sum(), 1e-300)),
        floor_footprint=float((floor & scene).sum()) / area,
        ground_footprint=float((ground & scene).sum()) / area,
        raised_levels=float((ground & scene & ~floor).sum()) / area,
        on_level_ground=on_level_ground,
    )


def _cell_quantiles(key: np.ndarray, height: np.ndarray, shape: tuple, quantiles: tuple) -> list[np.ndarray]:
    """Per grid cell, the given quantiles of the heights of its points (NaN where empty): (H, W) each."""
    order = np.lexsort((height, key))
    sorted_key, sorted_height = key[order], height[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]]))
    counts = np.diff(np.concatenate([starts, [sorted_key.size]]))
    grids = []
    for q in quantiles:
        grid = np.full(shape[0] * shape[1], np.nan)
        grid[sorted_key[starts]] = sorted_height[starts + np.minimum((q * counts).astype(np.int64), counts - 1)]
        grids.append(grid.reshape(shape))
    return grids


def _terrace_level(low: np.ndarray, step: float) -> np.ndarray:
    """(H, W) bool: the rise to the nearer neighbour on each grid axis, combined, is within ``step``.

    Taking the nearer of the two neighbours lets a terrace's cell at a step edge count as level
    (its other neighbour is on its own level), while a steady slope rises on both sides. A cell
    without either neighbour on an axis is not level.
    """
    rise = np.zeros(low.shape)
    for axis in (0, 1):
        before = np.full(low.shape, np.nan)
        after = np.full(low.shape, np.nan)
        index = [slice(None)] * 2
        index[axis] = slice(1, None)
        shifted = [slice(None)] * 2
        shifted[axis] = slice(None, -1)
        before[tuple(index)] = low[tuple(shifted)]
        after[tuple(shifted)] = low[tuple(index)]
        nearer = np.fmin(np.abs(before - low), np.abs(after - low))  # NaN only where both are missing
        rise = np.hypot(rise, np.nan_to_num(nearer, nan=np.inf))
    return rise <= step

"""Clean-up filters on world-frame Gaussians (metres, Z-up, floor at z = 0).

* :func:`sky_mask`: the far background / sky shell a generator paints around a
  scene: beyond a margin of the floor's horizontal extent, above a height, or
  clearly below the floor.
* :func:`low_opacity_mask`: faint haze.
* :func:`isolated_mask`: opaque specks with fewer than k other Gaussians within
  a radius. Exact (the same answer as counting with a k-d tree), by voxel
  hashing with cells of side r / sqrt(3): two Gaussians sharing a cell are
  always within r, so dense cells are settled by their counts alone; only
  Gaussians in sparse cells look at the 5 x 5 x 5 block of cells around them,
  where cells entirely inside the sphere count whole, cells entirely outside
  are skipped and only the few cells the sphere cuts are checked pair by pair.
"""

from __future__ import annotations

import numpy as np

_BITS = 21
"""Bits per axis of a packed cell key (2M cells per axis)."""


def sky_mask(
    positions: np.ndarray,
    *,
    floor_lo: np.ndarray,
    floor_hi: np.ndarray,
    margin: float,
    max_height: float,
    below_floor_margin: float,
) -> np.ndarray:
    """(N,) bool, True for far background: outside the floor's box or too high/low.

    Args:
        positions: (N, 3) world positions [m].
        floor_lo: (2,) x, y lower corner of the floor's horizontal extent [m].
        floor_hi: (2,) x, y upper corner [m].
        margin: horizontal margin around the floor extent that is kept [m].
        max_height: Gaussians higher than this above the floor are sky [m].
        below_floor_margin: Gaussians more than this below the floor are sky [m].
    """
    xy = positions[:, :2]
    outside = np.any(xy < np.asarray(floor_lo) - margin, axis=1) | np.any(xy > np.asarray(floor_hi) + margin, axis=1)
    z = positions[:, 2]
    return outside | (z > max_height) | (z < -below_floor_margin)


def low_opacity_mask(opacities: np.ndarray, *, min_opacity: float) -> np.ndarray:
    """(N,) bool, True where the opacity is below ``min_opacity``."""
    return np.asarray(opacities) < min_opacity


def isolated_mask(positions: np.ndarray, *, radius: float, min_neighbors: int, chunk: int = 16384) -> np.ndarray:
    """(N,) bool, True for points with fewer than ``min_neighbors`` others within ``radius``.

    "Within" is distance <= radius, as in ``scipy.spatial.cKDTree.query_ball_point``.

    Args:
        positions: (N, 3) float positions [m].
        radius: neighbourhood radius [m] > 0.
        min_neighbors: neighbours needed not to be isolated; 0 means nothing is isolated.
        chunk: sparse-cell points handled per vectorised batch (bounds memory).
    """
    p = np.asarray(positions, np.float64)
    n = p.shape[0]
    isolated = np.zeros(n, dtype=bool)
    if n == 0 or min_neighbors <= 0:
        return isolated
    cell = radius / np.sqrt(3.0) * (1.0 - 1e-9)
    origin = p.min(axis=0)
    # +2 padding keeps the 5x5x5 neighbour offsets inside the packed key's bit fields.
    ijk = np.clip(np.floor((p - origin) / cell).astype(np.int64) + 2, 0, (1 << _BITS) - 3)
    keys = (ijk[:, 0] << (2 * _BITS)) | (ijk[:, 1] << _BITS) | ijk[:, 2]
    unique_keys, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")  # points grouped by cell
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    # Tier 1: a cell with more than k points settles all of them (same cell => within r).
    sparse = np.flatnonzero(counts[inverse] - 1 < min_neighbors)
    if sparse.size == 0:
        return isolated
    steps = np.arange(-2, 3)
    offsets = np.stack(np.meshgrid(steps, steps, steps, indexing="ij"), -1).reshape(-1, 3)  # (125, 3)
    offset_keys = (offsets[:, 0] << (2 * _BITS)) + (offsets[:, 1] << _BITS) + offsets[:, 2]
    r2 = radius * radius
    r2_in, r2_out, cell32 = np.float32(r2 * (1 - 1e-5)), np.float32(r2 * (1 + 1e-5)), np.float32(cell)
    for begin in range(0, sparse.size, chunk):
        idx = sparse[begin : begin + chunk]
        # Per-axis distance from each point to the near and far faces of the 5 cells along that axis.
        # float32 bounds with a small safety margin: borderline cells go to the exact pair test.
        rel = ((p[idx] - origin)[:, None, :] - (ijk[idx][:, None, :] - 2 + steps[None, :, None]) * cell).astype(
            np.float32
        )
        near = np.maximum(np.float32(0), np.maximum(-rel, rel - cell32)) ** 2
        far = np.maximum(np.abs(rel), np.abs(rel - cell32)) ** 2
        dmin = (near[:, :, None, None, 0] + near[:, None, :, None, 1] + near[:, None, None, :, 2]).reshape(-1, 125)
        dmax = (far[:, :, None, None, 0] + far[:, None, :, None, 1] + far[:, None, None, :, 2]).reshape(-1, 125)
        # Look up only the cells the sphere reaches (about 60 % of the block).
        reach = dmin <= r2_out
        neighbour_keys = (keys[idx][:, None] + offset_keys[None, :])[reach]
        found = np.minimum(np.searchsorted(unique_keys, neighbour_keys), unique_keys.size - 1)
        hit = unique_keys[found] == neighbour_keys
        slot = np.zeros(reach.shape, dtype=np.int64)
        slot[reach] = found
        cell_count = np.zeros(reach.shape, dtype=np.int64)
        cell_count[reach] = np.where(hit, counts[found], 0)
        whole = dmax <= r2_in
        cut = reach & ~whole & (cell_count > 0)
        certain = (cell_count * whole).sum(1) - 1  # the own cell is always whole; minus the point itself
        possible = certain + (cell_count * cut).sum(1)
        isolated[idx[possible < min_neighbors]] = True
        # Tier 3: only undecided points check the cut cells' members one by one.
        todo = np.flatnonzero((certain < min_neighbors) & (possible >= min_neighbors))
        if todo.size:
            found = _count_in_cut_cells(p, idx[todo], slot[todo], cut[todo], counts, starts, order, r2)
            isolated[idx[todo][certain[todo] + found < min_neighbors]] = True
    return isolated


def _count_in_cut_cells(p, points, slot, cut, counts, starts, order, r2, max_pairs=4_000_000):
    """Exact neighbour counts of ``points`` among the members of their cut cells."""
    result = np.zeros(points.size, dtype=np.int64)
    row, col = np.nonzero(cut)
    cells = slot[row, col]
    sizes = counts[cells]
    cumulative = np.cumsum(sizes)
    begin = 0
    while begin < sizes.size:  # batches of at most ~max_pairs (point, member) pairs
        done = int(cumulative[begin - 1]) if begin else 0
        end = max(int(np.searchsorted(cumulative, done + max_pairs, side="right")), begin + 1)
        r, c, s = row[begin:end], cells[begin:end], sizes[begin:end]
        pair_owner = np.repeat(r, s)
        within_cell = np.arange(s.sum()) - np.repeat(np.cumsum(s) - s, s)
        members = order[np.repeat(starts[c], s) + within_cell]
        d2 = ((p[members] - p[points[pair_owner]]) ** 2).sum(1)
        result += np.bincount(pair_owner, weights=d2 <= r2, minlength=points.size).astype(np.int64)
        begin = end
    return result

"""Multi-layer column heightfield from triangles: every solid span of every cell, Recast-style.

Triangles are sampled densely (anisotropic barycentric lattices, spacing half a
cell), the samples binned into (cell, height, facing) keys and sorted once; each
cell's sorted samples then split into solid spans. A column keeps all of its
spans, so a platform top, the landing under it and the floor beneath both
coexist. Two rules make closed meshes behave as solids rather than shells:

* a gap in a column is a solid's inside (merged into one span) only when the
  surface above it faces up (a solid's top) and the surface below it does not
  (a solid's bottom or side). A floor under a one-sided sheet or under a closed
  blob in mid-air stays free space below it: floating things are overhead
  obstacles at their true height, never floor-to-ceiling columns;
* sample positions are nudged 0.1 mm into the solid (against the outward
  normal, and towards their triangle's centroid) so a wall face or a table-top
  edge lying on a cell edge lands in the cell of the solid it belongs to.

A cell is the unit of the columns, but a wall rarely lies on a cell edge: the
samples of side faces (walls, risers, legs) keep where in their cell they lie
(:class:`SideSamples`), so the radius erosion can measure the agent's clearance
from the face itself rather than from the edge of the cell it is in
(:func:`face_offsets`).

Everything is vectorised over samples and spans; the only loop is over chunks
of triangles, which bounds memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SideSamples", "SpanField", "drop_floaters", "face_offsets", "grid_for", "rasterize"]

_Z_QUANTUM = 0.001
"""Height resolution of the sample keys [m]."""
_Z_BITS = 23
"""Heights up to 8.4 km above the lowest vertex."""
_FACING_BITS = 2
_FRAC_BITS = 4
"""In-cell position of side samples in the keys: 1/16 cell (3 mm at 5 cm cells)."""
_FACE_BITS = 4
_LOW_BITS = 2 * _FRAC_BITS + _FACE_BITS
"""Below the facing bits: a side sample's in-cell x and y and which directions its face meets; 0 for
other samples, so they merge as before. 26 bits are left for the cell (67 M; the stage refuses over 25 M)."""
_UP_NZ = 0.1
"""A surface whose unit normal has z above this is 'upward-facing' (the top of a solid)."""
_INWARD_NUDGE = 1e-4
"""Samples move this far against the outward normal and towards their triangle's centroid, in x/y [m]."""
_CHUNK_SAMPLES = 2_000_000
_FACING_XY = 0.3
"""A side face meets an agent moving along direction d when its unit normal has a component below -this
along d (walls up to ~70 deg off the axis count for both axes they face)."""
_DIRECTION_XY = np.array([(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)])
"""x, y of the four directions of :data:`worldgen_sim.navigation.graph.DIRECTIONS`: +x, +y, -x, -y."""


@dataclass(eq=False)
class SideSamples:
    """Samples of side faces (unit normal z <= 0.1) and where in their cell they lie, as sorted int64 keys.

    The sample keys of :func:`rasterize` whose low bits are set: from high to low, the flat cell
    index ``row * W + col``, the height above ``z_base`` in :data:`_Z_QUANTUM` steps, the facing
    bits, the position inside the cell along x and along y (1/16 cell), and 4 bits, bit d set
    when the face meets an agent moving along direction d (+x, +y, -x, -y): its normal points
    back against d. Sorted keys group samples by cell, then height, so a height band of a cell
    is one contiguous run.

    Attributes:
        keys: (K,) int64, ascending, distinct.
        z_base: height of quantum 0 [m].
    """

    keys: np.ndarray
    z_base: float

    def band_key(self, cell: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Smallest key of ``cell`` above height ``z`` [m]: a band (z_lo, z_hi] is [band_key(z_lo), band_key(z_hi))."""
        zq = np.clip(np.floor((z - self.z_base) / _Z_QUANTUM + 0.5) + 1, 0, 1 << _Z_BITS).astype(np.int64)
        return ((cell << _Z_BITS) + zq) << (_FACING_BITS + _LOW_BITS)

    @staticmethod
    def frac(keys: np.ndarray, axis: int) -> np.ndarray:
        """In-cell position of ``keys``' samples along x (axis 0) or y (1), in cells (the quantum's middle)."""
        shift = _FACE_BITS + (_FRAC_BITS if axis == 0 else 0)
        return (((keys >> shift) & ((1 << _FRAC_BITS) - 1)) + 0.5) / (1 << _FRAC_BITS)


@dataclass(eq=False)
class SpanField:
    """All solid spans of a column heightfield, sorted by (cell, bottom).

    Attributes:
        origin: (2,) float64 world x, y of cell (0, 0)'s corner [m].
        cell_size: cell edge [m].
        shape: (H, W) cells along y and x.
        cell: (S,) int64 flat cell index ``row * W + col`` of each span.
        bottom: (S,) float64 lowest sample of the span [m].
        top: (S,) float64 highest sample of the span [m].
        walkable_top: (S,) bool, the span's top surface has a walkable slope.
        up_top: (S,) bool, an upward-facing surface lies at the span's top (not only a
            ceiling's underside or a wall's edge).
        samples: surface samples taken.
        sides: side-face samples for sub-cell obstacle positions (:func:`face_offsets`).
    """

    origin: np.ndarray
    cell_size: float
    shape: tuple[int, int]
    cell: np.ndarray
    bottom: np.ndarray
    top: np.ndarray
    walkable_top: np.ndarray
    up_top: np.ndarray
    samples: int
    sides: SideSamples | None = None

    @property
    def spans(self) -> int:
        return int(self.cell.size)

    def ceiling(self) -> np.ndarray:
        """(S,) bottom of the next span up in the same column, +inf for the highest [m]."""
        above = np.append(self.cell[1:] == self.cell[:-1], False)
        return np.where(above, np.append(self.bottom[1:], np.inf), np.inf)


def grid_for(vertices: np.ndarray, *, cell_size: float, pad_cells: int = 2) -> tuple[np.ndarray, tuple[int, int]]:
    """Origin and (H, W) shape of a grid covering the vertices' x/y extent plus ``pad_cells``.

    Args:
        vertices: (V, 3) float [m].
        cell_size: cell edge [m].
        pad_cells: empty cells kept on every side, so borders read as drops.
    """
    lo = np.floor(vertices[:, :2].min(axis=0) / cell_size) - pad_cells
    hi = np.ceil(vertices[:, :2].max(axis=0) / cell_size) + pad_cells
    origin = np.round(lo * cell_size, 9)  # no float noise in the grid corner (it is written to JSON/USD)
    width, height = (hi - lo).astype(np.int64)
    return origin.astype(np.float64), (int(height), int(width))


def rasterize(
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    cell_size: float,
    max_slope_deg: float,
    origin: np.ndarray,
    shape: tuple[int, int],
    flag_merge: float = 0.01,
    progress=None,
) -> SpanField:
    """Voxelise triangles into span columns.

    Args:
        vertices: (V, 3) float32 [m], Z up.
        faces: (F, 3) int32, counter-clockwise seen from outside (normals point out).
        cell_size: cell edge [m].
        max_slope_deg: steepest walkable slope [deg].
        origin: (2,) x, y of cell (0, 0)'s corner [m].
        shape: (H, W) cells along y and x.
        flag_merge: a span top is walkable when a walkable-slope sample lies within
            this of it (Recast's flag merge; a stair tread wins over its riser's edge) [m].
        progress: optional :class:`~worldgen_sim.progress.Progress`.
    """
    height, width = shape
    spacing = cell_size / 2.0
    # Samples within one solid are at most `spacing` apart, so any larger vertical gap is real.
    merge_gap = 2.0 * spacing
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    tri = vertices[faces]  # (F, 3, 3)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    lengths = np.linalg.norm(normals, axis=1)
    keep = lengths > 1e-12
    tri, normals = tri[keep], normals[keep] / lengths[keep, None]
    z_base = float(vertices[:, 2].min()) if len(vertices) else 0.0
    tri, normals = _split_large(tri, normals, spacing)
    cos_max = np.cos(np.radians(max_slope_deg))
    # Facing bits: bit 0 = walkable slope, bit 1 = not upward-facing (so up-facing sorts first on ties).
    facing = (normals[:, 2] >= cos_max).astype(np.int64) | ((normals[:, 2] <= _UP_NZ).astype(np.int64) << 1)
    meets = (normals[:, :2] @ _DIRECTION_XY.T < -_FACING_XY) & (normals[:, 2:3] <= _UP_NZ)  # (F, 4)
    side_bits = (meets * (1 << np.arange(4))).sum(axis=1)
    # Side triangles first (the spans do not depend on the order): each chunk's side samples are a prefix.
    order = np.argsort(side_bits == 0, kind="stable")
    tri, normals, facing, side_bits = tri[order], normals[order], facing[order], side_bits[order]
    side_count = int(np.count_nonzero(side_bits))
    a_idx, na, nb = _lattice_sizes(tri, spacing)
    estimate = (na + 1) * (nb + 2) // 2
    chunk_of = np.cumsum(estimate) // _CHUNK_SAMPLES
    starts = np.concatenate([[0], np.flatnonzero(np.diff(chunk_of)) + 1, [len(tri)]]).astype(np.int64)
    key_chunks, total_samples = [], 0
    for k, (lo, hi) in enumerate(zip(starts[:-1], starts[1:])):
        points, owner = _lattice_points(tri[lo:hi], a_idx[lo:hi], na[lo:hi], nb[lo:hi])
        total_samples += len(points)
        # Into the solid, and off the triangle's own edges: samples on a cell edge land on the triangle's side.
        centroid = tri[lo:hi].mean(axis=1)[owner, :2] - points[:, :2]
        centroid /= np.maximum(np.linalg.norm(centroid, axis=1, keepdims=True), 1e-12)
        points[:, :2] += (centroid - normals[lo:hi][owner, :2]) * _INWARD_NUDGE
        col = np.floor((points[:, 0] - origin[0]) / cell_size).astype(np.int64)
        row = np.floor((points[:, 1] - origin[1]) / cell_size).astype(np.int64)
        inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        zq = np.clip(np.rint((points[:, 2] - z_base) / _Z_QUANTUM).astype(np.int64), 0, (1 << _Z_BITS) - 1)
        cell = row * width + col
        key = (((cell << _Z_BITS) | zq) << _FACING_BITS | facing[lo:hi][owner]) << _LOW_BITS
        side = int(np.searchsorted(owner, max(side_count - lo, 0)))  # samples of side triangles come first
        if side:
            scale = cell_size / (1 << _FRAC_BITS)
            fx = np.floor((points[:side, 0] - origin[0]) / scale).astype(np.int64) - (col[:side] << _FRAC_BITS)
            fy = np.floor((points[:side, 1] - origin[1]) / scale).astype(np.int64) - (row[:side] << _FRAC_BITS)
            top = (1 << _FRAC_BITS) - 1
            key[:side] |= (np.clip(fx, 0, top) << (_FRAC_BITS + _FACE_BITS)) | (np.clip(fy, 0, top) << _FACE_BITS)
            key[:side] |= side_bits[lo:hi][owner[:side]]
        key_chunks.append(_sorted_unique(key[inside]))
        if progress is not None:
            progress.step(k + 1, len(starts) - 1, "rasterising triangles")
    keys = _sorted_unique(np.concatenate(key_chunks)) if key_chunks else np.zeros(0, np.int64)
    field = _span_field(  # the spans need no side bits: drop them (still sorted) and merge what they split
        _sorted_unique(keys >> _LOW_BITS, presorted=True), origin=origin, cell_size=cell_size, shape=shape,
        z_base=z_base, merge_gap=merge_gap, flag_merge=flag_merge, samples=total_samples,
    )
    field.sides = SideSamples(keys[(keys & ((1 << _FACE_BITS) - 1)) != 0], z_base)
    return field


def _sorted_unique(values: np.ndarray, *, presorted: bool = False) -> np.ndarray:
    """Sorted distinct values; sort + compare (numpy 2's hash-based np.unique was 20x slower here)."""
    values = values if presorted else np.sort(values)
    if values.size == 0:
        return values
    keep = np.empty(values.size, bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _split_large(tri: np.ndarray, normals: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Split triangles whose lattice would exceed one chunk into four (edge midpoints), until none does."""
    while True:
        _, na, nb = _lattice_sizes(tri, spacing)
        big = (na + 1) * (nb + 2) // 2 > _CHUNK_SAMPLES // 2
        if not big.any():
            return tri, normals
        t = tri[big]
        m01, m12, m20 = (t[:, 0] + t[:, 1]) / 2, (t[:, 1] + t[:, 2]) / 2, (t[:, 2] + t[:, 0]) / 2
        quarters = np.concatenate([
            np.stack([t[:, 0], m01, m20], 1), np.stack([m01, t[:, 1], m12], 1),
            np.stack([m20, m12, t[:, 2]], 1), np.stack([m01, m12, m20], 1),
        ])
        tri = np.concatenate([tri[~big], quarters])
        normals = np.concatenate([normals[~big], np.tile(normals[big], (4, 1))])


def _lattice_sizes(tri: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per triangle: the corner opposite the longest edge and the lattice steps along its two edges."""
    edge_opposite = np.stack(
        [np.linalg.norm(tri[:, (i + 2) % 3] - tri[:, (i + 1) % 3], axis=1) for i in range(3)], axis=1
    )
    a_idx = np.argmax(edge_opposite, axis=1)
    rows = np.arange(len(tri))
    ab = np.linalg.norm(tri[rows, (a_idx + 1) % 3] - tri[rows, a_idx], axis=1)
    ac = np.linalg.norm(tri[rows, (a_idx + 2) % 3] - tri[rows, a_idx], axis=1)
    na = np.maximum(np.ceil(ab / spacing), 1).astype(np.int64)
    nb = np.maximum(np.ceil(ac / spacing), 1).astype(np.int64)
    return a_idx, na, nb


def _lattice_points(tri, a_idx, na, nb) -> tuple[np.ndarray, np.ndarray]:
    """Points A + (i/na) AB + (j/nb) AC with i/na + j/nb <= 1 for every triangle, and their owners.

    A + (i/na) AB is computed once per lattice row (same values, same rounding as per point)."""
    rows = np.arange(len(tri))
    a = tri[rows, a_idx]
    ab = tri[rows, (a_idx + 1) % 3] - a
    ac = tri[rows, (a_idx + 2) % 3] - a
    row_counts = na + 1
    row_owner = np.repeat(rows, row_counts)
    i = np.arange(row_owner.size) - np.repeat(np.cumsum(row_counts) - row_counts, row_counts)
    point_counts = (nb[row_owner] * (na[row_owner] - i)) // na[row_owner] + 1
    row_start = a[row_owner] + (i / na[row_owner])[:, None] * ab[row_owner]
    row_of = np.repeat(np.arange(row_owner.size), point_counts)
    owner = row_owner[row_of]
    j = np.arange(owner.size) - np.repeat(np.cumsum(point_counts) - point_counts, point_counts)
    v = (j / nb[owner])[:, None]
    return row_start[row_of] + v * ac[owner], owner


def _span_field(keys, *, origin, cell_size, shape, z_base, merge_gap, flag_merge, samples) -> SpanField:
    """Split sorted sample keys into solid spans with a walkable-top flag."""
    origin = np.asarray(origin, np.float64)
    if keys.size == 0:
        empty = np.zeros(0, np.float64)
        return SpanField(origin, float(cell_size), shape, np.zeros(0, np.int64), empty, empty.copy(),
                         np.zeros(0, bool), np.zeros(0, bool), samples=int(samples))
    cell = keys >> (_Z_BITS + _FACING_BITS)
    z = z_base + ((keys >> _FACING_BITS) & ((1 << _Z_BITS) - 1)) * _Z_QUANTUM
    walk = (keys & 1).astype(bool)
    up = (keys & 2) == 0
    # A new span starts at a new column or above a free gap. A gap is a solid's inside only when
    # an upward face closes it from above and no upward face bounds it from below.
    inside = up[1:] & ~up[:-1]
    new_span = np.ones(keys.size, bool)
    new_span[1:] = (cell[1:] != cell[:-1]) | ((z[1:] - z[:-1] > merge_gap) & ~inside)
    span_of = np.cumsum(new_span) - 1
    first = np.flatnonzero(new_span)
    last = np.append(first[1:] - 1, keys.size - 1)
    top = z[last]
    at_top = z >= top[span_of] - flag_merge
    walkable_top = np.bincount(span_of, weights=walk & at_top, minlength=first.size) > 0
    up_top = np.bincount(span_of, weights=up & at_top, minlength=first.size) > 0
    return SpanField(origin, float(cell_size), tuple(shape), cell[first], z[first], top, walkable_top, up_top,
                     samples=int(samples))


def face_offsets(sides: SideSamples, cell: np.ndarray, direction: int, z_lo: np.ndarray,
                 z_hi: np.ndarray) -> np.ndarray:
    """Where in each cell, moving along ``direction``, the side faces met within a height band lie.

    Depth: the median over the cell's side samples that meet an agent moving along
    ``direction`` with ``z_lo < z <= z_hi``: the face where the evidence puts it, not its
    outermost noisy sample (a captured wall's samples scatter about 1 cm around it).
    Extent: the smallest and largest position of those samples across the direction: a
    5 cm table leg is 5 cm wide, not the cell or two it lies in.

    Args:
        sides: the side samples of :func:`rasterize`.
        cell: (M,) int64 flat cell index, -1 for none.
        direction: 0..3, +x, +y, -x, -y.
        z_lo: (M,) lower end of the band [m] (exclusive).
        z_hi: (M,) upper end of the band [m].

    Returns:
        (M, 3) float64 in cells: depth from the cell's entry edge, and the face's extent
        across the direction from the cell's low corner ([0, 1] each); (0, 0, 1) where no
        sample is in the band (the whole entry edge).
    """
    m = cell.size
    out = np.tile([0.0, 0.0, 1.0], (m, 1))
    if m == 0 or sides.keys.size == 0:
        return out
    lo = np.searchsorted(sides.keys, sides.band_key(cell, z_lo))
    hi = np.searchsorted(sides.keys, sides.band_key(cell, z_hi))
    count = np.where(cell >= 0, hi - lo, 0)
    owner = np.repeat(np.arange(m), count)
    keys = sides.keys[np.repeat(lo, count) + (np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count))]
    ok = ((keys >> direction) & 1).astype(bool)
    owner, keys = owner[ok], keys[ok]
    if owner.size == 0:
        return out
    # Owners ascend (np.repeat of a range): sort the depth quanta within each owner's run in one integer sort.
    quanta = 1 << _FRAC_BITS
    along = (keys >> (_FACE_BITS + (_FRAC_BITS if direction % 2 == 0 else 0))) & (quanta - 1)
    depth_q = along if direction < 2 else quanta - 1 - along
    depth = ((np.sort((owner << _FRAC_BITS) | depth_q) & (quanta - 1)) + 0.5) / quanta
    across = sides.frac(keys, 1 - direction % 2)
    per = np.bincount(owner, minlength=m)
    has = per > 0
    start = (np.cumsum(per) - per)[has]
    low = start + (per[has] - 1) // 2
    high = start + per[has] // 2
    out[has, 0] = 0.5 * (depth[low] + depth[high])
    out[has, 1] = np.minimum.reduceat(across, start)
    out[has, 2] = np.maximum.reduceat(across, start)
    return np.clip(out, 0.0, 1.0)


def drop_floaters(spans: SpanField, *, max_area: float, max_height: float) -> tuple[SpanField, dict]:
    """Spans without small, thin solids that touch nothing: capture noise, not obstacles.

    Spans in 4-neighbouring columns whose height intervals overlap (within a cell)
    form one solid. A solid is a floater when none of its spans is the lowest of its
    column (nothing under it reaches down: it hangs in mid-air), it covers at most
    ``max_area`` and spans at most ``max_height``. A table top stands on legs that
    reach the floor and a lamp hangs from a ceiling joined to the walls, so both stay.

    Returns:
        The remaining spans and ``{"floaters_dropped": count, "floater_area_m2": area,
        "floater_heights_m": [(bottom, top), ...]}`` (at most 20 listed).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = spans.spans
    report = {"floaters_dropped": 0, "floater_area_m2": 0.0, "floater_heights_m": []}
    if n == 0 or max_area <= 0:
        return spans, report
    h, w = spans.shape
    tol = spans.cell_size
    row, col = np.divmod(spans.cell, w)
    src, dst = [], []
    for dr, dc in ((0, 1), (1, 0)):
        r2, c2 = row + dr, col + dc
        ok = (r2 < h) & (c2 < w)
        nb = np.where(ok, r2 * w + c2, -1)
        # Spans of the neighbour column overlapping [bottom - tol, top + tol]: a contiguous run.
        lo = np.searchsorted(spans.cell, nb, side="left")
        hi = np.searchsorted(spans.cell, nb, side="right")
        count = np.where(ok, hi - lo, 0)
        owner = np.repeat(np.arange(n), count)
        cand = np.repeat(lo, count) + (np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count))
        overlap = (spans.bottom[cand] <= spans.top[owner] + tol) & (spans.top[cand] >= spans.bottom[owner] - tol)
        src.append(owner[overlap])
        dst.append(cand[overlap])
    src, dst = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(src.size, np.int8), (src, dst)), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    lowest = np.ones(n, bool)
    lowest[1:] = spans.cell[1:] != spans.cell[:-1]
    grounded = np.bincount(label, weights=lowest, minlength=count) > 0
    area = np.bincount(label, minlength=count) * spans.cell_size**2
    z_lo = np.full(count, np.inf)
    z_hi = np.full(count, -np.inf)
    np.minimum.at(z_lo, label, spans.bottom)
    np.maximum.at(z_hi, label, spans.top)
    floater = ~grounded & (area <= max_area + 1e-9) & (z_hi - z_lo <= max_height)
    if not floater.any():
        return spans, report
    keep = ~floater[label]
    ids = np.flatnonzero(floater)
    report = {
        "floaters_dropped": int(ids.size),
        "floater_area_m2": round(float(area[ids].sum()), 4),
        "floater_heights_m": [[round(float(z_lo[i]), 3), round(float(z_hi[i]), 3)] for i in ids[:20]],
    }
    kept = SpanField(spans.origin, spans.cell_size, spans.shape, spans.cell[keep], spans.bottom[keep],
                     spans.top[keep], spans.walkable_top[keep], spans.up_top[keep], samples=spans.samples,
                     sides=None if spans.sides is None else _without_spans(spans.sides, spans, ~keep))
    return kept, report


def _without_spans(sides: SideSamples, spans: SpanField, dropped: np.ndarray) -> SideSamples:
    """The side samples that lie in none of the ``dropped`` spans (a dropped floater places no face)."""
    gone = np.flatnonzero(dropped)
    # A span's samples lie within [bottom, top] up to the side samples' height quantum.
    lo = np.searchsorted(sides.keys, sides.band_key(spans.cell[gone], spans.bottom[gone] - 2 * _Z_QUANTUM))
    hi = np.searchsorted(sides.keys, sides.band_key(spans.cell[gone], spans.top[gone] + _Z_QUANTUM))
    count = hi - lo
    owner = np.repeat(np.arange(gone.size), count)
    sample = np.repeat(lo, count) + (np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count))
    keep = np.ones(sides.keys.size, bool)
    keep[sample] = False
    return SideSamples(sides.keys[keep], sides.z_base)

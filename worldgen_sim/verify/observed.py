"""The ground the input observed: where ``worldgen verify`` drops probes and what it scores them against.

The evidence is the world's splats layer (the aligned input Gaussians) or, for
worlds without one, ``evidence.npz`` (:mod:`worldgen_sim.evidence`). It is turned
into a top-down map in three steps:

1. **Opaque points** (weight >= ``evidence_min_opacity``) are binned into cells
   of ``max(probe_radius / 2, 2.5 x`` the typical point spacing``)``.
2. **Layers.** In each cell the points, sorted by height, split into layers at
   vertical gaps wider than ``evidence_layer_gap``; a layer with fewer than
   ``evidence_min_points`` points is noise. The drop surface of a cell is its
   highest layer with clear space above it for the probe's fall, at the layer's
   median height. Points carry no up/down side, so a layer with another observed
   layer more than ``evidence_overhead_gap`` below it is overhead (a ceiling, a
   canopy) and skipped, as the mesh map skips downward-facing surfaces.
3. **Sampling gaps.** A depth camera or a splat trainer samples far surfaces
   more sparsely than near ones: rows or columns of cells stay empty between
   observed cells of one surface. An empty cell with observed cells on both
   sides along a grid row, column or diagonal, within :data:`_MAX_GAP_CELLS`
   cells and ``evidence_layer_gap`` in height of each other, gets their
   distance-weighted height. Wider holes stay holes.
4. **Robust height.** Each cell's height is the median over its 3 x 3
   neighbourhood, so a stray speck or a thin floater never decides it; an
   empty cell amid observed ones (a sampling gap) is filled the same way.

The **observed ground** is the part of that map an agent could stand on: cells
whose local slope is within ``ground_max_slope_deg``, joined with neighbours
whose height differs by at most ``ground_max_step``, in connected areas of at
least ``ground_min_area`` (a table top or a box lid is not ground; a terrain, a
floor, a platform or a landing is). An area at the floor's level (mean height
within ``ground_max_height`` of z = 0, where alignment put the observed floor)
is ground from the size of a probe's flat landing disc on: one RGB-D picture
sees less than a square metre of floor between the furniture, and that floor
is still ground, not an object top.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError
from worldgen_sim.usd_geometry import prim_world_matrix, usd_transform_points
from worldgen_sim.verify.surfaces import SurfaceMap, grid_for
from worldgen_sim.verify.verify_cfg import VerifyCfg

__all__ = [
    "SPLAT_TYPE", "ObservedGround", "first_array", "load_observed_points", "observed_ground", "prim_world_matrix",
    "splat_prims",
]

SPLAT_TYPE = "ParticleField3DGaussianSplat"
"""USD type name of the splat prims a world package holds (``UsdVol.ParticleField3DGaussianSplat``)."""
_SPACING_SAMPLE = 20000
_MAX_GAP_CELLS = 2
"""Sampling gaps up to this many cells wide (on a row, column or diagonal) are filled."""


@dataclass(eq=False)
class ObservedGround:
    """The input's evidence as a top-down map.

    Attributes:
        surface: per-cell robust height of the observed drop surface [m] (NaN: none observed).
        ground: (H, W) bool, cells of the observed ground (same grid as ``surface``).
        source: where the evidence came from (``"splats"``, ``"evidence.npz (rgbd)"``, ...).
        num_points: opaque evidence points used.
    """

    surface: SurfaceMap
    ground: np.ndarray
    source: str
    num_points: int

    @property
    def ground_area(self) -> float:
        """Observed ground area [m^2]."""
        return float(self.ground.sum()) * self.surface.cell**2

    def ground_points(self) -> np.ndarray:
        """(G, 3) float64 cell centres of the observed ground at their observed heights [m]."""
        rows, cols = np.nonzero(self.ground)
        xy = self.surface.origin + np.stack([cols, rows], axis=1) * self.surface.cell
        return np.column_stack([xy, self.surface.heights[rows, cols]])


def load_observed_points(world_path: Path) -> tuple[np.ndarray, np.ndarray, str] | None:
    """World-frame evidence points (P, 3) [m], weights (P,) and their source; None when the world has none.

    Reads every ``ParticleField3DGaussianSplat`` prim of the composed stage (float or
    half attributes, with its transform), else ``evidence.npz`` beside ``world.usda``.
    """
    from pxr import Usd

    stage = Usd.Stage.Open(str(world_path))
    if stage is None:
        raise WorldgenError(f"{world_path}: cannot open as a USD stage")
    points, weights = [], []
    for prim, positions in splat_prims(stage):
        opacities = first_array(prim, ("opacities", "opacitiesh"))
        if opacities is None or len(opacities) != len(positions):
            opacities = np.ones(len(positions))
        points.append(positions)
        weights.append(opacities)
    if points:
        return np.concatenate(points), np.concatenate(weights), "splats"
    from worldgen_sim.evidence import EVIDENCE_FILE, read_evidence

    path = Path(world_path).parent / EVIDENCE_FILE
    if path.is_file():
        observed, weights, source = read_evidence(path)
        return observed, weights, f"{EVIDENCE_FILE} ({source})"
    return None


def splat_prims(stage):
    """Each splat prim of ``stage`` with authored positions, as (prim, (N, 3) float64 world positions [m])
    (float or half attributes, the prim's transform applied)."""
    for prim in stage.Traverse():
        if prim.GetTypeName() != SPLAT_TYPE:
            continue
        positions = first_array(prim, ("positions", "positionsh"))
        if positions is None or len(positions) == 0:
            continue
        yield prim, usd_transform_points(positions, prim_world_matrix(prim))


def first_array(prim, names) -> np.ndarray | None:
    """The first of ``names`` the prim has an authored value for, as float64, or None."""
    for name in names:
        attribute = prim.GetAttribute(name)
        if attribute and attribute.HasAuthoredValue():
            value = attribute.Get()
            if value is not None:
                return np.asarray(value, dtype=np.float64)
    return None


def observed_ground(points: np.ndarray, weights: np.ndarray, *, cfg: VerifyCfg, source: str) -> ObservedGround:
    """Build the observed drop-surface map and its ground mask (steps in the module docstring).

    Args:
        points: (P, 3) float64 world-frame evidence [m]; weights: (P,) confidences in [0, 1].
        cfg: probe size and drop height, evidence and ground thresholds.
        source: where the evidence came from (for the report).

    Raises:
        WorldgenError: too few opaque evidence points to map anything.
    """
    opaque = np.isfinite(points).all(1) & (weights >= cfg.evidence_min_opacity)
    points = np.asarray(points[opaque], np.float64)
    if points.shape[0] < 100:
        raise WorldgenError(
            f"verify: only {points.shape[0]} opaque evidence points ({source}); cannot map the observed ground "
            "(verify.evidence_min_opacity)"
        )
    cell = max(cfg.probe_radius / 2.0, 2.5 * _typical_spacing(points))
    origin, cell, shape = grid_for(points[:, :2].min(0), points[:, :2].max(0), cell)
    raw = _fill_sampling_gaps(_layer_heights(points, origin, cell, shape, cfg), cfg.evidence_layer_gap)
    heights = _median3x3(raw)
    ground = _ground_mask(heights, cell, cfg)
    return ObservedGround(SurfaceMap(origin=origin, cell=cell, heights=heights), ground, source, points.shape[0])


def _typical_spacing(points: np.ndarray) -> float:
    """Median nearest-neighbour distance [m], from a fixed-stride subsample corrected for its thinning."""
    from scipy.spatial import cKDTree

    stride = max(1, points.shape[0] // _SPACING_SAMPLE)
    sample = points[::stride]
    distance, _ = cKDTree(sample).query(sample, k=2)
    # On a surface, a subsample 1/k as dense is sqrt(k) times as far apart.
    return float(np.median(distance[:, 1])) / np.sqrt(stride)


def _layer_heights(points, origin, cell, shape, cfg) -> np.ndarray:
    """(H, W) median height of each cell's highest populated layer with room for the probe's fall above."""
    rows, cols = shape
    ij = np.floor((points[:, :2] - origin) / cell + 0.5).astype(np.int64)
    cell_id = ij[:, 1] * cols + ij[:, 0]
    z = points[:, 2]
    order = np.lexsort((z, cell_id))
    cell_id, z = cell_id[order], z[order]
    new_layer = np.concatenate([[True], (cell_id[1:] != cell_id[:-1]) | (np.diff(z) > cfg.evidence_layer_gap)])
    starts = np.flatnonzero(new_layer)
    counts = np.diff(np.append(starts, len(z)))
    layer_cell = cell_id[starts]
    bottom, top = z[starts], z[starts + counts - 1]
    median = z[starts + (counts - 1) // 2]
    populated = counts >= cfg.evidence_min_points
    # Gap to the next populated layer above in the same cell (noise layers do not block the fall).
    index = np.flatnonzero(populated)
    gap = np.full(len(starts), np.inf)
    gap_below = np.full(len(starts), np.inf)
    same = layer_cell[index[1:]] == layer_cell[index[:-1]]
    gap[index[:-1][same]] = bottom[index[1:][same]] - top[index[:-1][same]]
    gap_below[index[1:][same]] = gap[index[:-1][same]]
    # Without normals a ceiling looks like a floor seen from above: a layer with observed
    # ground far below it is overhead (ceiling, canopy), not somewhere to drop a probe.
    overhead = gap_below > cfg.evidence_overhead_gap
    overhead &= np.isfinite(gap_below)
    overhead &= populated
    # The same ceiling over a tall cabinet has nothing far below it: a layer at the height of a
    # nearby overhead layer (within 1.5 m sideways, 10 cm up or down) is overhead too.
    overhead |= populated & _near_overhead(layer_cell, median, overhead, shape, cell)
    usable = populated & (gap > cfg.drop_height + 2.0 * cfg.probe_radius) & ~overhead
    best = np.full(rows * cols, -np.inf)
    np.maximum.at(best, layer_cell[usable], median[usable])
    heights = np.where(np.isfinite(best), best, np.nan)
    return heights.reshape(rows, cols)


def _near_overhead(layer_cell, median, overhead, shape, cell, *, reach=1.5, band=0.1) -> np.ndarray:
    """(L,) bool: the layer lies within ``band`` of the height of the nearest overhead layer within ``reach`` [m]."""
    from scipy import ndimage

    rows, cols = shape
    height = np.full(rows * cols, np.inf)
    np.minimum.at(height, layer_cell[overhead], median[overhead])
    height = height.reshape(rows, cols)
    known = np.isfinite(height)
    if not known.any():
        return np.zeros(len(median), dtype=bool)
    distance, (iy, ix) = ndimage.distance_transform_edt(~known, return_indices=True)
    nearest = np.where(distance * cell <= reach, height[iy, ix], np.nan).ravel()
    with np.errstate(invalid="ignore"):
        return np.abs(median - nearest[layer_cell]) <= band


def _fill_sampling_gaps(heights: np.ndarray, tolerance: float) -> np.ndarray:
    """(H, W) heights with sampling gaps filled (step 3 of the module docstring).

    For each line direction (row, column, two diagonals) an empty cell looks for the
    nearest observed cell on either side within :data:`_MAX_GAP_CELLS`; when both exist
    and differ by at most ``tolerance`` [m], the cell gets their distance-weighted mean.
    Over several directions the fills are averaged.
    """
    rows, cols = heights.shape
    pad = _MAX_GAP_CELLS
    padded = np.pad(heights, pad, constant_values=np.nan)
    empty = ~np.isfinite(heights)
    total = np.zeros_like(heights)
    count = np.zeros(heights.shape, dtype=np.int64)

    def shifted(dy, dx):
        return padded[pad + dy : pad + dy + rows, pad + dx : pad + dx + cols]

    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        sides = []
        for sign in (1, -1):
            value = np.full(heights.shape, np.nan)
            distance = np.zeros(heights.shape)
            for k in range(_MAX_GAP_CELLS, 0, -1):  # nearest last, so it wins
                candidate = shifted(sign * k * dy, sign * k * dx)
                found = np.isfinite(candidate)
                value = np.where(found, candidate, value)
                distance = np.where(found, k, distance)
            sides.append((value, distance))
        (a, da), (b, db) = sides
        with np.errstate(invalid="ignore"):
            ok = empty & np.isfinite(a) & np.isfinite(b) & (np.abs(a - b) <= tolerance)
        fill = (a * db + b * da) / np.where(ok, da + db, 1.0)
        total += np.where(ok, fill, 0.0)
        count += ok
    return np.where(count > 0, total / np.maximum(count, 1), heights)


def _median3x3(heights: np.ndarray) -> np.ndarray:
    """NaN-aware median over each cell's 3 x 3 neighbourhood.

    Valid cells get the median; an empty cell with at least 6 valid neighbours is a
    sampling gap (too few points fell into it), not a gap in what was observed, and
    gets their median too. Other empty cells stay NaN.
    """
    padded = np.pad(heights, 1, constant_values=np.nan)
    rows, cols = heights.shape
    stack = np.stack([padded[dy : dy + rows, dx : dx + cols] for dy in range(3) for dx in range(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods of invalid cells
        smooth = np.nanmedian(stack, axis=0)
    keep = np.isfinite(heights) | (np.isfinite(stack).sum(0) >= 6)
    return np.where(keep, smooth, np.nan)


def _ground_mask(heights: np.ndarray, cell: float, cfg: VerifyCfg) -> np.ndarray:
    """Cells of gentle slope in connected areas of at least ``ground_min_area`` (steps up to ``ground_max_step``)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    valid = np.isfinite(heights)
    filled = np.where(valid, heights, 0.0)
    # Slope from central differences where both neighbours exist, else one-sided (0 when isolated).
    # A rise bigger than a step is a riser or an edge, not a slope: it only limits the joins below.
    slope = np.zeros_like(filled)
    for axis in (0, 1):
        ahead = np.zeros_like(valid)
        behind = np.zeros_like(valid)
        forward = np.zeros_like(filled)
        backward = np.zeros_like(filled)
        inner = [slice(None)] * 2
        inner[axis] = slice(0, -1)
        outer = [slice(None)] * 2
        outer[axis] = slice(1, None)
        inner, outer = tuple(inner), tuple(outer)
        forward[inner] = filled[outer] - filled[inner]
        ahead[inner] = valid[outer] & valid[inner]
        backward[outer] = forward[inner]
        behind[outer] = ahead[inner]
        ahead &= np.abs(forward) <= cfg.ground_max_step
        behind &= np.abs(backward) <= cfg.ground_max_step
        both = ahead & behind
        rise = np.where(both, 0.5 * (forward + backward), np.where(ahead, forward, np.where(behind, backward, 0.0)))
        slope = np.maximum(slope, np.abs(rise) / cell)
    gentle = valid & (slope <= np.tan(np.radians(cfg.ground_max_slope_deg)))
    rows, cols = heights.shape
    ids = np.arange(rows * cols).reshape(rows, cols)
    flat_gentle, flat_height = gentle.ravel(), filled.ravel()
    sources, targets = [], []
    for a, b in ((ids[:, :-1], ids[:, 1:]), (ids[:-1, :], ids[1:, :])):
        a, b = a.ravel(), b.ravel()
        joined = flat_gentle[a] & flat_gentle[b] & (np.abs(flat_height[a] - flat_height[b]) <= cfg.ground_max_step)
        sources.append(a[joined])
        targets.append(b[joined])
    a, b = np.concatenate(sources), np.concatenate(targets)
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(rows * cols, rows * cols))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels[flat_gentle], minlength=labels.max() + 1)
    area = sizes * cell**2
    height_sum = np.bincount(labels[flat_gentle], weights=flat_height[flat_gentle], minlength=labels.max() + 1)
    mean_height = height_sum / np.maximum(sizes, 1)
    landing = np.pi * (cfg.flat_radius_factor * cfg.probe_radius) ** 2  # a probe's flat landing disc
    floor_level = (np.abs(mean_height) <= cfg.ground_max_height) & (area >= landing)
    ground = (area >= cfg.ground_min_area) | floor_level
    return (flat_gentle & ground[labels]).reshape(rows, cols)

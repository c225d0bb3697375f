"""Ground truth grids of a scene, from its analytic geometry only (never from the pipeline).

* :func:`walkable_truth`: the cells an agent can truly stand on — on the ground
  (floor, terrain, steps, platform, ramp), slope <= ``max_slope``, nothing
  solid in the column from 2 cm above the ground up to ``agent_height``, and
  the cell centre at least ``agent_radius`` from every cell that fails those
  tests, from every solid standing on the ground within that height (its surface,
  sampled every centimetre: a 5 cm table leg between two cell centres fails no
  column test) and from every edge between cells whose ground heights differ by more
  than ``max_climb`` (Recast's definition, which the navigation stage also uses).
* the same grid's ``observed`` mask: cells where the capture cameras saw the
  ground (at least 2 of 4 points in the cell visible and unoccluded).
* :func:`free_space_points`: points of the free space in the scene's bounds,
  above the ground, outside every solid and farther than a tolerance from
  every true surface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from worldgen_sim.scenes.geometry import GROUND
from worldgen_sim.scenes.scene import Scene, visible_mask

__all__ = ["TruthGrid", "free_space_points", "walkable_truth"]

_Field = Callable[[np.ndarray], np.ndarray]
"""(N, 2) xy -> per-point values: a scene's ground height or gradient."""
_COLUMN_START = 0.02
"""Column occupancy is tested from this far above the ground [m] (the ground's own solid is below)."""
_COLUMN_STEP = 0.02
"""Vertical spacing of the column occupancy samples [m]."""
_SOLID_SPACING = 0.01
"""Spacing of the surface samples of solids on the ground whose distance bounds a cell's clearance [m]."""
_OBSERVED_OFFSETS = np.array([[-0.25, -0.25], [0.25, -0.25], [-0.25, 0.25], [0.25, 0.25]])
"""Where in a cell (in cell units from its centre) the observed-ground samples lie."""


@dataclass(eq=False)
class TruthGrid:
    """True walkability on a grid over the scene's bounds (row index is y, column x).

    Attributes:
        origin: (2,) float64 world x, y of cell (0, 0)'s corner [m].
        cell_size: cell edge [m].
        heights: (H, W) float64 ground height at cell centres [m], NaN off the ground.
        walkable: (H, W) bool, truly walkable for ``agent``.
        observed: (H, W) bool, the capture cameras saw the ground in the cell.
        agent: agent_radius, agent_height, max_climb [m], max_slope [deg].
    """

    origin: np.ndarray
    cell_size: float
    heights: np.ndarray
    walkable: np.ndarray
    observed: np.ndarray
    agent: dict

    def centres(self) -> np.ndarray:
        """(H, W, 2) cell-centre x, y [m]."""
        h, w = self.heights.shape
        xs = self.origin[0] + (np.arange(w) + 0.5) * self.cell_size
        ys = self.origin[1] + (np.arange(h) + 0.5) * self.cell_size
        return np.stack(np.meshgrid(xs, ys, indexing="xy"), axis=-1)

    def judged(self) -> np.ndarray:
        """(H, W) bool: cells whose walkability the input decides: the ground under the agent's
        whole footprint (a disc of ``agent_radius``) was observed."""
        from scipy import ndimage

        unseen = np.pad(~self.observed, 1, constant_values=True)
        distance = ndimage.distance_transform_edt(~unseen)[1:-1, 1:-1] * self.cell_size - 0.5 * self.cell_size
        return self.observed & (distance >= self.agent["agent_radius"] - 1e-9)


def walkable_truth(scene: Scene, agent: dict, *, cell_size: float = 0.05) -> TruthGrid:
    """True walkable cells of ``scene`` for ``agent`` (see the module docstring).

    Args:
        scene: a scene with ground.
        agent: ``agent_radius``, ``agent_height``, ``max_climb`` [m] and ``max_slope`` [deg],
            e.g. :data:`worldgen_sim.navigation.navigation_cfg.AGENT_PRESETS` entries.
        cell_size: grid cell edge [m].
    """
    from scipy import ndimage

    lo, hi = scene.bounds[0, :2], scene.bounds[1, :2]
    shape = tuple(np.ceil((hi - lo) / cell_size).astype(int)[::-1])
    grid = TruthGrid(lo.copy(), cell_size, np.full(shape, np.nan), np.zeros(shape, bool), np.zeros(shape, bool),
                     dict(agent))
    xy = grid.centres().reshape(-1, 2)
    if scene.ground_height is None or scene.ground_gradient is None:
        return grid
    heights = scene.ground_height(xy)
    grid.heights = heights.reshape(shape)
    on_ground = np.isfinite(heights)
    slope = np.degrees(np.arctan(np.linalg.norm(scene.ground_gradient(xy), axis=1)))
    ok = on_ground & (slope <= agent["max_slope"])
    ok[ok] = ~_column_blocked(scene, xy[ok], heights[ok], agent["agent_height"])
    ok = ok.reshape(shape)
    radius = agent["agent_radius"] - 1e-9
    bad = np.pad(~ok, 1, constant_values=True)
    to_bad = ndimage.distance_transform_edt(~bad)[1:-1, 1:-1] * cell_size - 0.5 * cell_size
    to_step = _distance_to_steps(grid, agent["max_climb"])
    to_solid = _distance_to_solids(scene, grid, scene.ground_height, agent["agent_height"], reach=radius + cell_size)
    grid.walkable = ok & (to_bad >= radius) & (to_step >= radius) & (to_solid >= radius)
    grid.observed = _observed_ground(scene, grid, scene.ground_height, scene.ground_gradient)
    return grid


def _column_blocked(scene: Scene, xy: np.ndarray, heights: np.ndarray, agent_height: float) -> np.ndarray:
    """(N,) bool: something solid stands in the column above each ground point, within the agent's height."""
    steps = np.arange(_COLUMN_START, agent_height + 1e-9, _COLUMN_STEP)
    blocked = np.zeros(len(xy), bool)
    chunk = max(1, 2_000_000 // len(steps))
    for start in range(0, len(xy), chunk):
        sl = slice(start, start + chunk)
        n = len(xy[sl])
        points = np.column_stack(
            [np.repeat(xy[sl], len(steps), axis=0), (heights[sl, None] + steps[None, :]).reshape(-1)]
        )
        blocked[sl] = scene.inside_solid(points).reshape(n, len(steps)).any(axis=1)
    return blocked


def _distance_to_solids(scene: Scene, grid: TruthGrid, ground_height: _Field, agent_height: float, *,
                        reach: float) -> np.ndarray:
    """(H, W) horizontal distance from each cell centre to the nearest surface point of a solid that is
    not ground and lies from ``_COLUMN_START`` to ``agent_height`` above the ground under it [m]
    (inf beyond ``reach`` or when there is none)."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(0)
    points = []
    for part in scene.parts:
        if part.kind == GROUND:
            continue
        p, _ = part.sample(_SOLID_SPACING, rng)
        above = p[:, 2] - ground_height(p[:, :2])  # NaN off the ground: dropped
        points.append(p[(above > _COLUMN_START) & (above <= agent_height), :2])
    points = np.concatenate(points) if points else np.zeros((0, 2))
    if len(points) == 0:
        return np.full(grid.heights.shape, np.inf)
    distance, _ = cKDTree(points).query(grid.centres().reshape(-1, 2), distance_upper_bound=reach)
    return distance.reshape(grid.heights.shape)


def _distance_to_steps(grid: TruthGrid, max_climb: float) -> np.ndarray:
    """(H, W) distance from each cell centre to the nearest edge between cells whose heights differ
    by more than ``max_climb`` [m] (inf when there is none)."""
    from scipy.spatial import cKDTree

    z, c = grid.heights, grid.cell_size
    segments = []
    # Vertical edges between columns j and j+1, and horizontal edges between rows i and i+1.
    for axis in (1, 0):
        a, b = (z[:, :-1], z[:, 1:]) if axis == 1 else (z[:-1, :], z[1:, :])
        rows, cols = np.nonzero(np.isfinite(a) & np.isfinite(b) & (np.abs(a - b) > max_climb))
        if axis == 1:
            x = grid.origin[0] + (cols + 1) * c
            y0 = grid.origin[1] + rows * c
            segments.append((np.column_stack([x, y0]), np.array([0.0, c])))
        else:
            y = grid.origin[1] + (rows + 1) * c
            x0 = grid.origin[0] + cols * c
            segments.append((np.column_stack([x0, y]), np.array([c, 0.0])))
    t = np.linspace(0.0, 1.0, 9)
    points = np.concatenate([(start[:, None, :] + t[None, :, None] * step).reshape(-1, 2) for start, step in segments])
    if len(points) == 0:
        return np.full(z.shape, np.inf)
    distance, _ = cKDTree(points).query(grid.centres().reshape(-1, 2))
    return distance.reshape(z.shape)


def _observed_ground(scene: Scene, grid: TruthGrid, ground_height: _Field, ground_gradient: _Field) -> np.ndarray:
    """(H, W) bool: at least 2 of 4 ground points in the cell are seen by a capture camera."""
    xy = (grid.centres()[:, :, None, :] + _OBSERVED_OFFSETS * grid.cell_size).reshape(-1, 2)
    heights = ground_height(xy)
    finite = np.isfinite(heights)
    grad = ground_gradient(xy[finite])
    normals = np.column_stack([-grad, np.ones(len(grad))])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    seen = np.zeros(len(xy), bool)
    seen[finite] = visible_mask(np.column_stack([xy[finite], heights[finite]]), normals, scene.cameras, scene.mesh)
    return seen.reshape(*grid.heights.shape, 4).sum(axis=2) >= 2


def free_space_points(scene: Scene, count: int, *, seed: int = 0, tolerance: float = 0.03) -> np.ndarray:
    """(M, 3) float64 points uniform in the free space of the scene's bounds [m] (M <= ``count``).

    Candidates are drawn uniformly in the bounds; kept are those above the ground
    (where there is ground), outside every solid, and farther than ``tolerance`` from
    every true surface (a collider hugging a surface within noise is not phantom).
    """
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    lo, hi = scene.bounds
    points = rng.uniform(lo, hi, (count, 3))
    keep = ~scene.inside_solid(points)
    if scene.ground_height is not None:
        ground = scene.ground_height(points[:, :2])
        keep &= ~(np.isfinite(ground) & (points[:, 2] <= ground))
    surface = scene.surface_points(spacing=tolerance / 2.0, seed=seed)
    tree = cKDTree(surface, balanced_tree=False, compact_nodes=False)
    distance, _ = tree.query(points[keep], distance_upper_bound=tolerance)
    kept = np.flatnonzero(keep)[~np.isfinite(distance)]
    return points[kept]

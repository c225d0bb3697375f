"""Navigation queries for training loops: walkability, nearest walkable point, paths, spawn points.

:class:`NavigationMap` needs only numpy and scipy (no USD): build it from a
:class:`~worldgen_sim.artifacts.NavigationResult` or load it from a world package's
``navigation.json`` (with the ``navigation.npz`` grid beside it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from worldgen_sim.errors import WorldgenError

FORMAT = "worldgen_sim.navigation"
VERSION = 1
_EIGHT_NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))
"""Half of the 8-neighbourhood (row, col) offsets; the graph is undirected."""


def clearance_map(walkable: np.ndarray, cell_size: float) -> np.ndarray:
    """(H, W) distance from each walkable cell's centre to the nearest non-walkable cell's edge [m].

    Non-walkable cells get -inf. Cells beyond the grid count as non-walkable.
    """
    from scipy import ndimage

    padded = np.pad(walkable, 1, constant_values=False)
    dist = ndimage.distance_transform_edt(padded)[1:-1, 1:-1] * cell_size - 0.5 * cell_size
    return np.where(walkable, dist, -np.inf)


def sample_spawn_points_on(
    *, regions, heights, clearance, origin, cell_size, count, clearance_min, seed, region=0
) -> tuple[np.ndarray, str | None]:
    """Seeded spawn points at cell centres of one region, at least ``clearance_min`` from its border.

    Args:
        regions: (H, W) int32 region id per cell, -1 where not walkable.
        heights: (H, W) float32 floor heights [m].
        clearance: (H, W) float from :func:`clearance_map` [m].
        origin: (2,) x, y of cell (0, 0)'s corner [m].
        cell_size: cell edge [m].
        count: points wanted.
        clearance_min: free distance wanted around each point, beyond the agent radius [m].
        seed: random seed.
        region: region id (0 is the largest).

    Returns:
        (count, 3) float32 points [m] (fewer only when the region is empty) and a note
        saying when the clearance had to be relaxed or cells were reused, else None.
    """
    in_region = regions == region
    candidates = np.flatnonzero(in_region & (clearance >= clearance_min - 1e-9))
    note = None
    if candidates.size == 0:
        if not in_region.any() or count == 0:
            return np.zeros((0, 3), np.float32), None
        best = clearance[in_region].max()
        candidates = np.flatnonzero(in_region & (clearance >= best - 1e-9))
        note = f"no cell has {clearance_min} m clearance; used the widest ({max(best, 0.0):.3f} m)"
    rng = np.random.default_rng(seed)
    replace = count > candidates.size
    if replace:
        note = (note + "; " if note else "") + f"{candidates.size} candidate cells for {count} points: cells reused"
    chosen = np.sort(rng.choice(candidates, size=count, replace=replace)) if count else candidates[:0]
    rows, cols = np.divmod(chosen, regions.shape[1])
    points = np.stack(
        [origin[0] + (cols + 0.5) * cell_size, origin[1] + (rows + 0.5) * cell_size, heights.ravel()[chosen]], axis=1
    )
    return points.astype(np.float32), note


class NavigationMap:
    """A 2.5D walkable grid with queries; no USD needed.

    Args:
        origin: (2,) float64 world x, y of cell (0, 0)'s corner [m].
        cell_size: cell edge [m].
        heights: (H, W) float32 floor height per cell [m], NaN where none.
        walkable: (H, W) bool.
        regions: (H, W) int32 region id (0 = largest), -1 where not walkable.
        agent: agent parameters (agent_radius, agent_height, max_climb, cell_size [m], max_slope [deg]).
        spawn_points: (S, 3) float32 precomputed spawn points [m], or None.
    """

    def __init__(self, *, origin, cell_size, heights, walkable, regions, agent, spawn_points=None) -> None:
        self.origin = np.asarray(origin, np.float64).reshape(2)
        self.cell_size = float(cell_size)
        self.heights = np.asarray(heights, np.float32)
        self.walkable = np.asarray(walkable, bool)
        self.regions = np.asarray(regions, np.int32)
        self.agent = dict(agent)
        spawn = np.zeros((0, 3)) if spawn_points is None else spawn_points
        self.spawn_points = np.asarray(spawn, np.float32).reshape(-1, 3)
        self._tree: Any = None
        self._graph: Any = None
        self._node_of_cell: np.ndarray | None = None
        self._clearance: np.ndarray | None = None

    # --- construction and persistence -------------------------------------------------------

    @classmethod
    def from_result(cls, result) -> NavigationMap:
        """From the navigation stage's :class:`~worldgen_sim.artifacts.NavigationResult`."""
        return cls(
            origin=result.origin, cell_size=result.cell_size, heights=result.heights, walkable=result.walkable,
            regions=result.regions, agent=result.agent, spawn_points=result.spawn_points,
        )

    @classmethod
    def load(cls, path: str | Path) -> NavigationMap:
        """From ``navigation.json`` and the grid file it names (``navigation.npz`` beside it).

        Raises:
            WorldgenError: missing or malformed files, naming the path.
        """
        path = Path(path)
        try:
            meta = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise WorldgenError(f"{path}: cannot read navigation JSON ({exc})") from None
        if meta.get("format") != FORMAT or "grid" not in meta:
            raise WorldgenError(f"{path}: not a worldgen_sim navigation file (expected format '{FORMAT}')")
        grid_path = path.parent / meta["grid"]["file"]
        try:
            with np.load(grid_path) as data:
                arrays = {k: data[k] for k in ("heights", "walkable", "regions")}
        except (OSError, KeyError, ValueError) as exc:
            raise WorldgenError(f"{grid_path}: cannot read the navigation grid ({exc})") from None
        return cls(
            origin=meta["grid"]["origin"], cell_size=meta["grid"]["cell_size"], agent=meta["agent"],
            spawn_points=np.asarray(meta.get("spawn_points", []), np.float32).reshape(-1, 3), **arrays,
        )

    def save(self, path: str | Path) -> None:
        """Write ``navigation.json`` (agent, grid, spawn points) and the ``.npz`` grid beside it."""
        meta = _base_json(self.agent, self.origin, self.cell_size, self.walkable.shape, Path(path))
        meta["spawn_points"] = _round_list(self.spawn_points)
        meta["regions"] = _region_summary(self.regions, self.heights, self.cell_size)
        _write(Path(path), meta, heights=self.heights, walkable=self.walkable, regions=self.regions)

    # --- point queries ----------------------------------------------------------------------

    def cells_of(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and in-grid mask of (N, 2) or (N, 3) points [m]."""
        points = np.asarray(points, np.float64).reshape(-1, np.shape(points)[-1])
        col = np.floor((points[:, 0] - self.origin[0]) / self.cell_size).astype(np.int64)
        row = np.floor((points[:, 1] - self.origin[1]) / self.cell_size).astype(np.int64)
        h, w = self.walkable.shape
        inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        return np.clip(row, 0, h - 1), np.clip(col, 0, w - 1), inside

    def is_walkable(self, points: np.ndarray, *, z_tolerance: float | None = None) -> np.ndarray:
        """(N,) bool: the point's cell is walkable (and, for 3D points, z is on its floor).

        Args:
            points: (N, 2) x, y or (N, 3) x, y, z [m].
            z_tolerance: largest |z - floor| accepted for 3D points [m]; default
                max(max_climb, cell_size).
        """
        points = np.asarray(points, np.float64)
        row, col, inside = self.cells_of(points)
        ok = inside & self.walkable[row, col]
        if points.shape[-1] == 3:
            tol = max(self.agent.get("max_climb", 0.0), self.cell_size) if z_tolerance is None else z_tolerance
            ok &= np.abs(points.reshape(-1, 3)[:, 2] - self.heights[row, col]) <= tol
        return ok

    def region_of(self, points: np.ndarray) -> np.ndarray:
        """(N,) int32 region id of each point's cell (x, y only), -1 off the walkable grid."""
        row, col, inside = self.cells_of(points)
        return np.where(inside, self.regions[row, col], -1).astype(np.int32)

    def nearest_walkable(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) float32 nearest walkable points in x, y, on the floor.

        A point over a walkable cell keeps its x, y; any other moves to the nearest
        walkable cell centre. z is the floor height.
        """
        from scipy.spatial import cKDTree

        points = np.asarray(points, np.float64)
        points = points.reshape(-1, points.shape[-1])
        if not self.walkable.any():
            raise WorldgenError("navigation map: no walkable cells to snap to")
        if self._tree is None:
            rows, cols = np.nonzero(self.walkable)
            self._tree_cells = (rows, cols)
            self._tree = cKDTree(self._centres(rows, cols))
        row, col, inside = self.cells_of(points)
        on = inside & self.walkable[row, col]
        out = np.empty((points.shape[0], 3), np.float64)
        out[:, :2] = points[:, :2]
        out[on, 2] = self.heights[row[on], col[on]]
        if (~on).any():
            _, idx = self._tree.query(points[~on, :2])
            r, c = self._tree_cells[0][idx], self._tree_cells[1][idx]
            out[~on, :2] = self._centres(r, c)
            out[~on, 2] = self.heights[r, c]
        return out.astype(np.float32)

    def sample_spawn_points(self, n: int, *, seed: int, clearance: float = 0.0, region: int = 0) -> np.ndarray:
        """(n, 3) float32 seeded points at walkable cell centres of ``region``.

        Args:
            n: points wanted.
            seed: random seed (same seed -> same points).
            clearance: free distance around each point beyond the agent radius [m];
                relaxed to the widest available when no cell has it.
            region: region id, 0 = largest.
        """
        if self._clearance is None:
            self._clearance = clearance_map(self.walkable, self.cell_size)
        points, _ = sample_spawn_points_on(
            regions=self.regions, heights=self.heights, clearance=self._clearance, origin=self.origin,
            cell_size=self.cell_size, count=n, clearance_min=clearance, seed=seed, region=region,
        )
        return points

    # --- paths ------------------------------------------------------------------------------

    def shortest_path(self, start, goal, *, max_snap: float | None = None, smooth: bool = True) -> np.ndarray | None:
        """Shortest walkable path between two points, or None when they are not connected.

        Dijkstra (scipy, exact) over the 8-connected walkable cells: diagonal moves need both
        side cells walkable, and every move's height change is at most max_climb. Then the
        path is shortened by dropping waypoints wherever the straight segment stays on
        walkable, climbable cells (checked every tenth of a cell). The search first runs
        within 1.5x the straight distance + 2 m, then unbounded.

        Args:
            start: (2,) or (3,) point [m]; snapped to the nearest walkable cell first.
            goal: (2,) or (3,) point [m]; likewise.
            max_snap: give up (None) when a point is further than this from walkable
                ground [m]; default 2 * agent_radius.
            smooth: shorten the cell path by line-of-sight.

        Returns:
            (P, 3) float32 waypoints on the floor from start to goal, or None.
        """
        from scipy.sparse.csgraph import dijkstra

        ends = self.nearest_walkable(np.stack([np.asarray(start, np.float64)[:2], np.asarray(goal, np.float64)[:2]]))
        snap = 2.0 * self.agent.get("agent_radius", self.cell_size) if max_snap is None else max_snap
        moved = np.linalg.norm(ends[:, :2] - np.stack([np.asarray(start)[:2], np.asarray(goal)[:2]]), axis=1)
        if (moved > snap + 0.75 * self.cell_size).any():
            return None
        row, col, _ = self.cells_of(ends)
        if self.regions[row[0], col[0]] != self.regions[row[1], col[1]]:
            return None
        graph, node_of_cell = self._cell_graph()
        w = self.walkable.shape[1]
        s, g = node_of_cell[row * w + col]
        if s == g:
            return ends.astype(np.float32)
        # Search a bounded disc first (most paths are < 1.5x the straight line), then everything.
        straight = float(np.linalg.norm(ends[1] - ends[0]))
        for limit in (1.5 * straight + 2.0, np.inf):
            _, pred = dijkstra(graph, directed=True, indices=int(s), return_predecessors=True, limit=limit)
            if pred[g] >= 0:
                break
        else:
            return None
        chain = [int(g)]
        while chain[-1] != s:
            chain.append(int(pred[chain[-1]]))
        cells = self._cell_of_node[np.asarray(chain[::-1])]
        r, c = np.divmod(cells, w)
        path = np.column_stack([self._centres(r, c), self.heights[r, c]])
        path[0], path[-1] = ends[0], ends[1]
        if smooth and len(path) > 2:
            path = self._string_pull(path)
        return path.astype(np.float32)

    def _cell_graph(self):
        """Symmetric CSR graph over walkable cells, weights = 3D step length [m]; built once."""
        from scipy.sparse import coo_matrix

        if self._graph is not None:
            return self._graph, self._node_of_cell
        h, w = self.walkable.shape
        walk = self.walkable
        z = self.heights
        cells = np.flatnonzero(walk)
        node_of_cell = np.full(h * w, -1, np.int64)
        node_of_cell[cells] = np.arange(cells.size)
        climb = self.agent.get("max_climb", np.inf) + 1e-4
        src, dst, weight = [], [], []
        rows, cols = np.nonzero(walk)
        for dr, dc in _EIGHT_NEIGHBOURS:
            r2, c2 = rows + dr, cols + dc
            ok = (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < w)
            r1, c1, r2, c2 = rows[ok], cols[ok], r2[ok], c2[ok]
            ok = walk[r2, c2] & (np.abs(z[r2, c2] - z[r1, c1]) <= climb)
            if dr and dc:  # no corner cutting
                ok &= walk[r1 + dr, c1] & walk[r1, c1 + dc]
            r1, c1, r2, c2 = r1[ok], c1[ok], r2[ok], c2[ok]
            step = self.cell_size * np.hypot(dr, dc)
            src.append(node_of_cell[r1 * w + c1])
            dst.append(node_of_cell[r2 * w + c2])
            weight.append(np.hypot(step, z[r2, c2] - z[r1, c1]))
        src, dst, weight = (np.concatenate(a) for a in (src, dst, weight))
        # Both directions stored: dijkstra(directed=True) then skips a per-query transpose.
        self._graph = coo_matrix(
            (np.concatenate([weight, weight]), (np.concatenate([src, dst]), np.concatenate([dst, src]))),
            shape=(cells.size, cells.size),
        ).tocsr()
        self._node_of_cell = node_of_cell
        self._cell_of_node = cells
        return self._graph, node_of_cell

    def segment_clear(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(M,) bool: segments a[i] -> b[i] (x, y) stay on walkable cells with climbable height changes.

        Each segment is sampled every tenth of a cell.
        """
        a = np.atleast_2d(np.asarray(a, np.float64))[:, :2]
        b = np.atleast_2d(np.asarray(b, np.float64))[:, :2]
        counts = np.ceil(np.linalg.norm(b - a, axis=1) / (0.1 * self.cell_size)).astype(np.int64) + 2
        owner = np.repeat(np.arange(len(a)), counts)
        step = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
        t = (step / (counts[owner] - 1))[:, None]
        row, col, inside = self.cells_of(a[owner] + t * (b - a)[owner])
        ok = inside & self.walkable[row, col]
        z = np.where(ok, self.heights[row, col], 0.0)
        climb = self.agent.get("max_climb", np.inf) + 1e-4
        same = np.append(owner[1:] == owner[:-1], False)
        jump = np.zeros(owner.size, bool)
        jump[:-1] = same[:-1] & (np.abs(z[1:] - z[:-1]) > climb)
        bad = ~ok | jump
        return np.bincount(owner, weights=bad, minlength=len(a)) == 0

    def _string_pull(self, path: np.ndarray) -> np.ndarray:
        """Keep the grid path's turning points, then greedily jump to the furthest one in line of sight."""
        direction = np.diff(path[:, :2], axis=0)
        direction = np.round(direction / np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12), 6)
        turns = np.flatnonzero((direction[1:] != direction[:-1]).any(axis=1)) + 1
        corners = path[np.concatenate([[0], turns, [len(path) - 1]])]
        keep = [0]
        i, last = 0, len(corners) - 1
        while i < last:
            later = np.arange(i + 1, last + 1)
            clear = self.segment_clear(np.repeat(corners[i : i + 1], len(later), axis=0), corners[later])
            i = int(later[np.flatnonzero(clear)[-1]]) if clear.any() else i + 1
            keep.append(i)
        return corners[keep]

    def _centres(self, rows, cols) -> np.ndarray:
        return np.stack(
            [self.origin[0] + (np.asarray(cols) + 0.5) * self.cell_size,
             self.origin[1] + (np.asarray(rows) + 0.5) * self.cell_size], axis=-1,
        )


def navigation_json(result, *, grid_file: str = "navigation.npz") -> dict:
    """The JSON-serialisable navigation description of a world package (no large arrays)."""
    meta = _base_json(result.agent, result.origin, result.cell_size, result.walkable.shape, Path(grid_file))
    inc = np.asarray(result.include_bounds, np.float64)
    surface = result.surface
    meta.update(
        {
            "walkable_surface": {
                "usd_prim": "/World/Navigation/WalkableSurface",
                "vertices": int(surface.vertices.shape[0]),
                "triangles": int(surface.faces.shape[0]),
                "area_m2": round(float(result.walkable.sum()) * result.cell_size**2, 4),
            },
            "include_volume": _volume_json(inc, "Include", "/World/Navigation/IncludeVolume"),
            "exclude_volumes": [
                _volume_json(box, "Exclude", f"/World/Navigation/ExcludeVolumes/Exclude_{i:03d}")
                for i, box in enumerate(np.asarray(result.exclude_bounds, np.float64).reshape(-1, 2, 3))
            ],
            "spawn_points": _round_list(result.spawn_points),
            "spawn_points_prim": "/World/Navigation/SpawnPoints",
            "regions": _region_summary(result.regions, result.heights, result.cell_size),
            "report": result.report,
        }
    )
    return meta


def write_navigation_json(path: str | Path, result) -> None:
    """Write ``navigation.json`` and its grid (``<stem>.npz`` beside it) for :meth:`NavigationMap.load`.

    Args:
        path: the JSON file to write, e.g. ``OUT/navigation.json``.
        result: the navigation stage's result.

    Raises:
        WorldgenError: the files cannot be written.
    """
    path = Path(path)
    meta = navigation_json(result, grid_file=path.with_suffix(".npz").name)
    _write(path, meta, heights=result.heights, walkable=result.walkable, regions=result.regions)


def _base_json(agent, origin, cell_size, shape, path: Path) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "units": {"length": "m", "angle": "deg"},
        "up_axis": "Z",
        "agent": {k: float(v) for k, v in agent.items()},
        "grid": {
            "file": path.with_suffix(".npz").name,
            "origin": [float(origin[0]), float(origin[1])],
            "cell_size": float(cell_size),
            "width": int(shape[1]),
            "height": int(shape[0]),
            "layout": "heights/walkable/regions are (height, width) arrays; cell (row, col) covers "
            "x in origin.x + col*cell_size + [0, cell_size), y in origin.y + row*cell_size + [0, cell_size)",
        },
    }


def _volume_json(box: np.ndarray, kind: str, prim: str) -> dict:
    lo, hi = np.asarray(box[0], float), np.asarray(box[1], float)
    return {
        "usd_prim": prim, "type": kind, "area": "Walkable" if kind == "Include" else "NotWalkable",
        "min": _round_list(lo), "max": _round_list(hi),
        "center": _round_list((lo + hi) / 2), "size": _round_list(hi - lo),
    }


def _region_summary(regions, heights, cell_size) -> list[dict]:
    ids = regions[regions >= 0]
    if ids.size == 0:
        return []
    counts = np.bincount(ids)
    return [{"id": int(i), "cells": int(n), "area_m2": round(float(n) * cell_size**2, 4)} for i, n in enumerate(counts)]


def _round_list(values) -> list:
    return np.round(np.asarray(values, np.float64), 5).tolist()


def _write(path: Path, meta: dict, **arrays) -> None:
    grid_path = path.parent / meta["grid"]["file"]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            grid_path,
            heights=arrays["heights"].astype(np.float32),
            walkable=arrays["walkable"].astype(bool),
            regions=arrays["regions"].astype(np.int32),
        )
        path.write_text(json.dumps(meta, indent=2))
    except OSError as exc:
        raise WorldgenError(f"{path}: cannot write navigation files ({exc.strerror})") from None

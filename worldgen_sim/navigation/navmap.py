"""Navigation queries for training loops: walkability, nearest walkable point, paths, spawn points.

:class:`NavigationMap` needs only numpy and scipy (no USD): build it from a
:class:`~worldgen_sim.artifacts.NavigationResult` or load it from a world package's
``navigation.json`` (with the ``navigation.npz`` grid beside it).

The map has several levels: a column may hold the floor, a landing above it and a
platform top above that, each a layer of the (L, H, W) grids. A 3D query point's z
picks the level (the walkable surface nearest in height, within a tolerance); a 2D
point means the lowest walkable level of its column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from worldgen_sim.errors import WorldgenError
from worldgen_sim.navigation.graph import NodeGraph, border_distance, diagonal_links, link_nodes

__all__ = ["FORMAT", "VERSION", "NavigationMap", "navigation_json", "sample_spawn_points_on", "write_navigation_json"]

FORMAT = "worldgen_sim.navigation"
VERSION = 2
"""2: multi-level (L, H, W) grids with a ``links`` array; version 1 files (one level) still load."""
_DIRECTION_OF = {(0, 1): 0, (1, 0): 1, (0, -1): 2, (-1, 0): 3}


def sample_spawn_points_on(
    *, graph: NodeGraph, regions: np.ndarray, clearance: np.ndarray, count: int, clearance_min: float, seed: int,
    region: int = 0,
) -> tuple[np.ndarray, str | None]:
    """Seeded spawn points at node centres of one region, at least ``clearance_min`` from its border.

    Args:
        graph: the standable nodes.
        regions: (N,) int32 region id per node, -1 where not walkable.
        clearance: (N,) distance to the walkable border from
            :func:`~worldgen_sim.navigation.graph.border_distance` [m].
        count: points wanted.
        clearance_min: free distance wanted around each point, beyond the agent radius [m].
        seed: random seed.
        region: region id (0 is the largest; it may span several levels).

    Returns:
        (count, 3) float32 points [m] (fewer only when the region is empty) and a note
        saying when the clearance had to be relaxed or nodes were reused, else None.
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
    points = np.column_stack([graph.centres(chosen), graph.z[chosen]])
    return points.astype(np.float32), note


class NavigationMap:
    """A multi-level walkable grid with queries; no USD needed.

    Args:
        origin: (2,) float64 world x, y of cell (0, 0)'s corner [m].
        cell_size: cell edge [m].
        heights: (L, H, W) float32 surface height per level and cell [m], NaN where none
            ((H, W) for a single level).
        walkable: (L, H, W) bool (or (H, W)).
        regions: (L, H, W) int32 region id (0 = largest), -1 where not walkable (or (H, W)).
        agent: agent parameters (agent_radius, agent_height, max_climb, cell_size [m], max_slope [deg]).
        spawn_points: (S, 3) float32 precomputed spawn points [m], or None.
        links: (4, L, H, W) int8 neighbour level per direction (+x, +y, -x, -y), -1 where none;
            None re-links levels whose heights differ by at most max_climb.
    """

    def __init__(self, *, origin, cell_size, heights, walkable, regions, agent, spawn_points=None,
                 links=None) -> None:
        self.origin = np.asarray(origin, np.float64).reshape(2)
        self.cell_size = float(cell_size)
        self.heights = _layered(heights, np.float32)
        self.walkable = _layered(walkable, bool) & np.isfinite(self.heights)
        self.regions = _layered(regions, np.int32)
        self.agent = dict(agent)
        spawn = np.zeros((0, 3)) if spawn_points is None else spawn_points
        self.spawn_points = np.asarray(spawn, np.float32).reshape(-1, 3)
        if links is None:
            graph = NodeGraph.from_layers(self.heights, np.full((4, *self.heights.shape), -1, np.int8),
                                          origin=self.origin, cell_size=self.cell_size)
            link_nodes(graph, max_climb=self.agent.get("max_climb", np.inf))
            links = graph.layer_links()
            if links.shape[1] < self.heights.shape[0]:
                pad = np.full((4, self.heights.shape[0] - links.shape[1], *self.heights.shape[1:]), -1, np.int8)
                links = np.concatenate([links, pad], axis=1)
        self.links = np.asarray(links, np.int8).reshape(4, *self.heights.shape)
        self._graph = NodeGraph.from_layers(self.heights, self.links, origin=self.origin, cell_size=self.cell_size)
        depth, h, w = self.heights.shape
        layer, cell = self._graph.layer, self._graph.cell
        self._node_walkable = self.walkable.reshape(depth, -1)[layer, cell]
        self._node_region = self.regions.reshape(depth, -1)[layer, cell]
        # Built on first use: (k-d tree, node ids) in 3D and in x, y; node index; walk links; path graph;
        # (reach [m], clearance per node).
        self._tree3: tuple[Any, np.ndarray] | None = None
        self._tree2: tuple[Any, np.ndarray] | None = None
        self._index: np.ndarray | None = None
        self._steps: np.ndarray | None = None
        self._path_graph: Any = None
        self._clearance: tuple[float, np.ndarray] | None = None

    @property
    def levels(self) -> int:
        """Number of layers L of the grids."""
        return int(self.heights.shape[0])

    # --- construction and persistence -------------------------------------------------------

    @classmethod
    def from_result(cls, result) -> NavigationMap:
        """From the navigation stage's :class:`~worldgen_sim.artifacts.NavigationResult`."""
        return cls(
            origin=result.origin, cell_size=result.cell_size, heights=result.heights, walkable=result.walkable,
            regions=result.regions, agent=result.agent, spawn_points=result.spawn_points,
            links=getattr(result, "links", None),
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
                arrays["links"] = data["links"] if "links" in data.files else None
        except (OSError, KeyError, ValueError) as exc:
            raise WorldgenError(f"{grid_path}: cannot read the navigation grid ({exc})") from None
        return cls(
            origin=meta["grid"]["origin"], cell_size=meta["grid"]["cell_size"], agent=meta["agent"],
            spawn_points=np.asarray(meta.get("spawn_points", []), np.float32).reshape(-1, 3), **arrays,
        )

    def save(self, path: str | Path) -> None:
        """Write ``navigation.json`` (agent, grid, spawn points) and the ``.npz`` grid beside it."""
        meta = _base_json(self.agent, self.origin, self.cell_size, self.heights.shape, Path(path))
        meta["spawn_points"] = _round_list(self.spawn_points)
        meta["regions"] = _region_summary(self.regions, self.cell_size)
        _write(Path(path), meta, heights=self.heights, walkable=self.walkable, regions=self.regions, links=self.links)

    # --- point queries ----------------------------------------------------------------------

    def cells_of(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and in-grid mask of (N, 2) or (N, 3) points [m]."""
        points = np.asarray(points, np.float64).reshape(-1, np.shape(points)[-1])
        col = np.floor((points[:, 0] - self.origin[0]) / self.cell_size).astype(np.int64)
        row = np.floor((points[:, 1] - self.origin[1]) / self.cell_size).astype(np.int64)
        _, h, w = self.heights.shape
        inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        return np.clip(row, 0, h - 1), np.clip(col, 0, w - 1), inside

    def _tolerance(self, z_tolerance: float | None) -> float:
        return max(self.agent.get("max_climb", 0.0), self.cell_size) if z_tolerance is None else z_tolerance

    def level_of(self, points: np.ndarray, *, z_tolerance: float | None = None) -> np.ndarray:
        """(N,) int64 walkable level of each point, -1 where none.

        3D points take the walkable level nearest their z, if within ``z_tolerance``;
        2D points take the lowest walkable level of their column.
        """
        points = np.asarray(points, np.float64)
        points = points.reshape(-1, points.shape[-1])
        row, col, inside = self.cells_of(points)
        column_z = np.where(self.walkable[:, row, col], self.heights[:, row, col], np.nan)  # (L, N)
        has = inside & np.isfinite(column_z).any(axis=0)
        if points.shape[1] == 3:
            dz = np.abs(np.nan_to_num(column_z - points[:, 2], nan=np.inf))
            level = np.argmin(dz, axis=0)
            has &= dz[level, np.arange(level.size)] <= self._tolerance(z_tolerance)
        else:
            level = np.argmax(np.isfinite(column_z), axis=0)
        return np.where(has, level, -1)

    def _node_of(self, points: np.ndarray, *, z_tolerance: float | None = None) -> np.ndarray:
        level = self.level_of(points, z_tolerance=z_tolerance)
        row, col, _ = self.cells_of(points)
        flat = (np.maximum(level, 0) * self.heights.shape[1] + row) * self.heights.shape[2] + col
        return np.where(level >= 0, self._node_index()[flat], -1)

    def _node_index(self) -> np.ndarray:
        """(L * H * W,) node id of each (level, cell), -1 where none; built once."""
        if self._index is None:
            depth, h, w = self.heights.shape
            self._index = np.full(depth * h * w, -1, np.int64)
            self._index[(self._graph.layer * h * w) + self._graph.cell] = np.arange(len(self._graph))
        return self._index

    def is_walkable(self, points: np.ndarray, *, z_tolerance: float | None = None) -> np.ndarray:
        """(N,) bool: the point lies on a walkable level of its cell.

        Args:
            points: (N, 2) x, y (any level) or (N, 3) x, y, z [m].
            z_tolerance: largest |z - surface| accepted for 3D points [m]; default
                max(max_climb, cell_size).
        """
        return self.level_of(points, z_tolerance=z_tolerance) >= 0

    def region_of(self, points: np.ndarray, *, z_tolerance: float | None = None) -> np.ndarray:
        """(N,) int32 region id at each point's level (see :meth:`level_of`), -1 off the walkable levels."""
        level = self.level_of(points, z_tolerance=z_tolerance)
        row, col, _ = self.cells_of(points)
        return np.where(level >= 0, self.regions[np.maximum(level, 0), row, col], -1).astype(np.int32)

    def nearest_walkable(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) float32 nearest walkable points, on the surface.

        A point on a walkable level keeps its x, y. Any other moves to the nearest
        walkable cell centre: nearest in 3D for (N, 3) points, in x, y (lowest level)
        for (N, 2) points. z is the surface height.
        """
        from scipy.spatial import cKDTree

        points = np.asarray(points, np.float64)
        points = points.reshape(-1, points.shape[-1])
        walk = np.flatnonzero(self._node_walkable)
        if walk.size == 0:
            raise WorldgenError("navigation map: no walkable cells to snap to")
        node = self._node_of(points)
        on = node >= 0
        out = np.empty((points.shape[0], 3), np.float64)
        out[:, :2] = points[:, :2]
        out[on, 2] = self._graph.z[node[on]]
        if (~on).any():
            if points.shape[1] == 3:
                if self._tree3 is None:
                    self._tree3 = (cKDTree(np.column_stack([self._graph.centres(walk), self._graph.z[walk]])), walk)
                tree, ids = self._tree3
                _, idx = tree.query(points[~on])
            else:
                if self._tree2 is None:
                    lowest = walk[np.unique(self._graph.cell[walk], return_index=True)[1]]
                    self._tree2 = (cKDTree(self._graph.centres(lowest)), lowest)
                tree, ids = self._tree2
                _, idx = tree.query(points[~on, :2])
            snapped = ids[idx]
            out[~on, :2] = self._graph.centres(snapped)
            out[~on, 2] = self._graph.z[snapped]
        return out.astype(np.float32)

    def sample_spawn_points(self, n: int, *, seed: int, clearance: float = 0.0, region: int = 0) -> np.ndarray:
        """(n, 3) float32 seeded points at walkable cell centres of ``region`` (any of its levels).

        Args:
            n: points wanted.
            seed: random seed (same seed -> same points).
            clearance: free distance around each point beyond the agent radius [m];
                relaxed to the widest available when no cell has it.
            region: region id, 0 = largest.
        """
        reach = max(clearance, 0.0) + self.cell_size
        if self._clearance is None or self._clearance[0] < reach:
            self._clearance = (reach, border_distance(self._graph, self._node_walkable, reach=reach))
        points, _ = sample_spawn_points_on(
            graph=self._graph, regions=self._node_region, clearance=self._clearance[1], count=n,
            clearance_min=clearance, seed=seed, region=region,
        )
        return points

    # --- paths ------------------------------------------------------------------------------

    def shortest_path(self, start, goal, *, max_snap: float | None = None, smooth: bool = True) -> np.ndarray | None:
        """Shortest walkable path between two points, across levels, or None when they are not connected.

        Dijkstra (scipy, exact) over the walkable cells of every level, 8-connected:
        orthogonal moves follow the links (steps <= max_climb, so stairs and ramps the
        agent can climb connect levels), diagonal moves need both orthogonal routes to
        agree. Then the path is shortened by dropping waypoints wherever the straight
        segment stays on linked walkable cells. The search first runs within 1.5x the
        straight distance + 2 m, then unbounded.

        Args:
            start: (2,) or (3,) point [m] (z picks the level); snapped to the nearest walkable cell first.
            goal: (2,) or (3,) point [m]; likewise.
            max_snap: give up (None) when a point is further than this from walkable
                ground [m]; default 2 * agent_radius.
            smooth: shorten the cell path by line-of-sight.

        Returns:
            (P, 3) float32 waypoints on the surface from start to goal, or None.
        """
        from scipy.sparse.csgraph import dijkstra

        query = [np.asarray(p, np.float64).ravel() for p in (start, goal)]
        dims = min(len(query[0]), len(query[1]))
        query = np.stack([q[:dims] for q in query])
        ends = self.nearest_walkable(query).astype(np.float64)
        snap = 2.0 * self.agent.get("agent_radius", self.cell_size) if max_snap is None else max_snap
        if (np.linalg.norm(ends[:, :dims] - query, axis=1) > snap + 0.75 * self.cell_size).any():
            return None
        s, g = self._node_of(ends, z_tolerance=1e-3)
        if s < 0 or g < 0 or self._node_region[s] != self._node_region[g]:
            return None
        if s == g:
            return ends.astype(np.float32)
        graph = self._cell_graph()
        straight = float(np.linalg.norm(ends[1] - ends[0]))
        for limit in (1.5 * straight + 2.0, np.inf):  # most paths are < 1.5x the straight line
            _, pred = dijkstra(graph, directed=True, indices=int(s), return_predecessors=True, limit=limit)
            if pred[g] >= 0:
                break
        else:
            return None
        chain = [int(g)]
        while chain[-1] != s:
            chain.append(int(pred[chain[-1]]))
        nodes = np.asarray(chain[::-1])
        path = np.column_stack([self._graph.centres(nodes), self._graph.z[nodes]])
        path[0], path[-1] = ends[0], ends[1]
        if smooth and len(path) > 2:
            path = self._string_pull(path)
        return path.astype(np.float32)

    def _cell_graph(self):
        """Symmetric CSR graph over walkable nodes (8-connected), weights = 3D step length [m]; built once."""
        from scipy.sparse import coo_matrix

        if self._path_graph is not None:
            return self._path_graph
        g, walk = self._graph, self._node_walkable
        n = len(g)
        src, dst = [], []
        for d in range(4):
            s = np.flatnonzero(walk & (g.link[:, d] >= 0))
            t = g.link[s, d]
            keep = walk[t]
            src.append(s[keep])
            dst.append(t[keep])
        for s, t in diagonal_links(g.link, walk):
            src.append(s)
            dst.append(t)
        src, dst = np.concatenate(src), np.concatenate(dst)
        xy = g.centres()
        weight = np.sqrt(((xy[src] - xy[dst]) ** 2).sum(axis=1) + (g.z[src] - g.z[dst]) ** 2)
        self._path_graph = coo_matrix((weight, (src, dst)), shape=(n, n)).tocsr()
        return self._path_graph

    def segment_clear(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(M,) bool: segments a[i] -> b[i] stay on linked walkable cells from a's level to b's.

        Points are (M, 3) (z picks the level) or (M, 2) (lowest level). The segment is
        sampled every tenth of a cell; each cell crossing must follow a link (a
        corner crossing both orthogonal routes), so a segment never jumps between levels.
        """
        a = np.atleast_2d(np.asarray(a, np.float64))
        b = np.atleast_2d(np.asarray(b, np.float64))
        node = self._node_of(a)
        goal = self._node_of(b)
        ok = (node >= 0) & (goal >= 0)
        moves, count = self._crossings(a[:, :2], b[:, :2])
        step = self._walk_links()
        for t in range(moves.shape[1]):
            active = np.flatnonzero(ok & (t < count))
            if active.size == 0:
                break
            nxt = _follow(node[active], moves[active, t, 0], moves[active, t, 1], step)
            node[active] = nxt
            ok[active] &= nxt >= 0
        return ok & (node == goal)

    def _walk_links(self) -> np.ndarray:
        """(N + 1, 4) links to walkable nodes only, -1 elsewhere; row N (index -1) is all -1, so -1 stays -1."""
        if self._steps is None:
            link = self._graph.link
            target_ok = (link >= 0) & self._node_walkable[np.maximum(link, 0)]
            self._steps = np.vstack([np.where(target_ok, link, -1), np.full((1, 4), -1, np.int64)])
        return self._steps

    def _crossings(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, T, 2) cell steps (drow, dcol) along each segment, padded, and (M,) step counts."""
        counts = np.ceil(np.linalg.norm(b - a, axis=1) / (0.1 * self.cell_size)).astype(np.int64) + 2
        owner = np.repeat(np.arange(len(a)), counts)
        step = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
        t = (step / (counts[owner] - 1))[:, None]
        row, col, _ = self.cells_of(a[owner] + t * (b - a)[owner])
        same = owner[1:] == owner[:-1]
        dr, dc = np.diff(row), np.diff(col)
        moved = same & ((dr != 0) | (dc != 0))
        who = owner[1:][moved]
        per = np.bincount(who, minlength=len(a))
        slot = np.arange(who.size) - np.repeat(np.cumsum(per) - per, per)
        moves = np.zeros((len(a), int(per.max(initial=0)), 2), np.int64)
        moves[who, slot, 0] = np.clip(dr[moved], -1, 1)
        moves[who, slot, 1] = np.clip(dc[moved], -1, 1)
        return moves, per

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


def _follow(node: np.ndarray, dr: np.ndarray, dc: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Node one cell step (dr, dc) away through walkable links, -1 where none; a corner step needs both routes."""
    d_row = np.where(dr > 0, 1, 3)
    d_col = np.where(dc > 0, 0, 2)
    out = step[node, np.where(dr != 0, d_row, d_col)]
    diagonal = np.flatnonzero((dr != 0) & (dc != 0))
    if diagonal.size:
        n, r, c = node[diagonal], d_row[diagonal], d_col[diagonal]
        via_row = step[step[n, r], c]
        via_col = step[step[n, c], r]
        out[diagonal] = np.where(via_row == via_col, via_row, -1)
    return out


def _layered(values, dtype) -> np.ndarray:
    values = np.asarray(values, dtype)
    return values[None] if values.ndim == 2 else values


def navigation_json(result, *, grid_file: str = "navigation.npz") -> dict:
    """The JSON-serialisable navigation description of a world package (no large arrays)."""
    meta = _base_json(result.agent, result.origin, result.cell_size, np.shape(result.heights), Path(grid_file))
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
            "regions": _region_summary(result.regions, result.cell_size),
            "report": result.report,  # no timings (world.json's timings_s): byte-identical across runs
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
    _write(path, meta, heights=result.heights, walkable=result.walkable, regions=result.regions,
           links=result.links)


def _base_json(agent, origin, cell_size, shape, path: Path) -> dict:
    shape = (1, *shape) if len(shape) == 2 else tuple(shape)
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
            "width": int(shape[2]),
            "height": int(shape[1]),
            "levels": int(shape[0]),
            "layout": "heights/walkable/regions are (levels, height, width) arrays, level k of a cell is its "
            "k-th walkable surface from below; cell (row, col) covers x in origin.x + col*cell_size + "
            "[0, cell_size), y in origin.y + row*cell_size + [0, cell_size); links is (4, levels, height, width): "
            "the level of the neighbour at +x, +y, -x, -y (-1: none)",
        },
    }


def _volume_json(box: np.ndarray, kind: str, prim: str) -> dict:
    lo, hi = np.asarray(box[0], float), np.asarray(box[1], float)
    return {
        "usd_prim": prim, "type": kind, "area": "Walkable" if kind == "Include" else "NotWalkable",
        "min": _round_list(lo), "max": _round_list(hi),
        "center": _round_list((lo + hi) / 2), "size": _round_list(hi - lo),
    }


def _region_summary(regions, cell_size) -> list[dict]:
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
        _write_npz(grid_path, {
            "heights": np.asarray(arrays["heights"], np.float32),
            "walkable": np.asarray(arrays["walkable"], bool),
            "regions": np.asarray(arrays["regions"], np.int32),
            "links": np.asarray(arrays["links"], np.int8),
        })
        path.write_text(json.dumps(meta, indent=2))
    except OSError as exc:
        raise WorldgenError(f"{path}: cannot write navigation files ({exc.strerror})") from None


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A compressed .npz that np.load reads, byte-identical for equal arrays (np.savez stamps the clock)."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())

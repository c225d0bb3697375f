"""The walkable-node graph of a multi-layer heightfield, shared by the stage and the queries.

A node is a surface an agent's centre may stand on: one (cell, height) pair, so a
column holds as many nodes as it has standable surfaces (ground under a platform,
the platform top above it). Each node links to at most one node in each of its
four neighbouring columns: the one nearest in height, when the step is at most
``max_climb`` and the gap shared by both columns fits the agent. Stairs and ramps
that the agent can climb therefore connect levels, and nothing else does.

Stored as layers (Recast's compact heightfield): node ``k`` of a column (0 =
lowest) lives in layer ``k`` of (L, H, W) arrays, and ``links[d, k, r, c]`` is the
layer of its neighbour in direction ``d`` (-1: none). Everything here is
vectorised over nodes; loops run over the four directions or a bounded number of
propagation rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DIRECTIONS",
    "NodeGraph",
    "border_distance",
    "connected_regions",
    "diagonal_links",
    "link_nodes",
    "subgraph",
    "surface_slope",
]

DIRECTIONS = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)], np.int64)
"""(row, col) steps of the four link directions: +x, +y, -x, -y."""
_OPPOSITE = np.array([2, 3, 0, 1])
_Z_KEY = 1e-3
"""Height quantum of the (cell, height) search keys [m]."""


@dataclass(eq=False)
class NodeGraph:
    """Standable surfaces of a heightfield and their links.

    Attributes:
        origin: (2,) float64 world x, y of cell (0, 0)'s corner [m].
        cell_size: cell edge [m].
        shape: (H, W) cells along y and x.
        cell: (N,) int64 flat cell index ``row * W + col``; nodes sorted by (cell, z).
        z: (N,) float64 surface height [m].
        ceiling: (N,) float64 bottom of the next solid above [m] (+inf: open sky).
        link: (N, 4) int64 neighbour node per :data:`DIRECTIONS`, -1 where none.
    """

    origin: np.ndarray
    cell_size: float
    shape: tuple[int, int]
    cell: np.ndarray
    z: np.ndarray
    ceiling: np.ndarray
    link: np.ndarray

    def __len__(self) -> int:
        return int(self.cell.size)

    @property
    def layer(self) -> np.ndarray:
        """(N,) int64 rank of each node in its column (0 = lowest)."""
        if self.cell.size == 0:
            return np.zeros(0, np.int64)
        start = np.ones(self.cell.size, bool)
        start[1:] = self.cell[1:] != self.cell[:-1]
        first = np.maximum.accumulate(np.where(start, np.arange(self.cell.size), 0))
        return np.arange(self.cell.size) - first

    def centres(self, nodes: np.ndarray | None = None) -> np.ndarray:
        """(N, 2) float64 x, y of the nodes' cell centres [m]."""
        cell = self.cell if nodes is None else self.cell[nodes]
        row, col = np.divmod(cell, self.shape[1])
        return np.stack([self.origin[0] + (col + 0.5) * self.cell_size,
                         self.origin[1] + (row + 0.5) * self.cell_size], axis=1)

    def to_layers(self, values: np.ndarray, fill) -> np.ndarray:
        """(L, H, W) array holding each node's value at (layer, row, col), ``fill`` elsewhere."""
        layer = self.layer
        depth = int(layer.max()) + 1 if layer.size else 1
        out = np.full((depth, self.shape[0] * self.shape[1]), fill, dtype=np.asarray(values).dtype)
        out[layer, self.cell] = values
        return out.reshape(depth, *self.shape)

    def layer_links(self) -> np.ndarray:
        """(4, L, H, W) int8 layer of each node's neighbour per direction, -1 where none."""
        layer = self.layer
        out = [self.to_layers(np.where(self.link[:, d] >= 0, layer[self.link[:, d]], -1).astype(np.int8), -1)
               for d in range(4)]
        return np.stack(out)

    @classmethod
    def from_layers(cls, heights: np.ndarray, links: np.ndarray, *, origin, cell_size) -> NodeGraph:
        """The graph stored as (L, H, W) heights (NaN: no node) and (4, L, H, W) layer links."""
        depth, h, w = heights.shape
        layer, cell = np.nonzero(np.isfinite(heights.reshape(depth, h * w)))
        order = np.lexsort((layer, cell))
        layer, cell = layer[order], cell[order]
        node_of = np.full(depth * h * w, -1, np.int64)
        node_of[layer * h * w + cell] = np.arange(cell.size)
        link = np.full((cell.size, 4), -1, np.int64)
        row, col = np.divmod(cell, w)
        for d, (dr, dc) in enumerate(DIRECTIONS):
            nb_layer = links[d].reshape(depth, h * w)[layer, cell].astype(np.int64)
            r2, c2 = row + dr, col + dc
            ok = (nb_layer >= 0) & (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < w)
            link[ok, d] = node_of[nb_layer[ok] * h * w + r2[ok] * w + c2[ok]]
        z = heights.reshape(depth, h * w)[layer, cell].astype(np.float64)
        return cls(np.asarray(origin, np.float64), float(cell_size), (h, w), cell, z,
                   np.full(cell.size, np.inf), link)


def link_nodes(graph: NodeGraph, *, max_climb: float, agent_height: float | None = None,
               denoise: bool = False) -> None:
    """Fill ``graph.link``: per direction, the neighbour column's node nearest in height.

    A link needs |dz| <= max_climb and, when ``agent_height`` is given, a shared gap
    ``min(ceilings) - max(heights) >= agent_height`` (Recast's rule: no stepping under
    a beam lower than the agent).

    With ``denoise``, dz is measured between *step heights*: the median of a node and its
    four neighbours within ``2 max_climb``, kept within ``max_climb / 2`` of its own height.
    A node's height is the highest sample of its cell, so on a reconstructed surface with
    ~1 cm noise neighbouring heights differ by more than a wheeled robot's 3 cm climb at
    about one edge in 200, and the radius erosion grows each such spike into a hole half
    a metre wide. The median drops spikes while a real step keeps its full height (a node
    at a step edge has most of its neighbours on its own level); a ridge one cell wide
    counts at most ``max_climb / 2`` lower than it is.
    """
    if denoise:
        own = graph.z
        link_nodes(graph, max_climb=2.0 * max_climb)
        around = np.where(graph.link >= 0, own[np.maximum(graph.link, 0)], np.nan)
        median = np.nanmedian(np.column_stack([own, around]), axis=1)
        # Within half a climb of its own height: nodes of one column (> 5 cm apart) keep their order.
        graph.z = np.clip(median, own - 0.5 * max_climb, own + 0.5 * max_climb)
        try:
            link_nodes(graph, max_climb=max_climb, agent_height=agent_height)
        finally:
            graph.z = own
        return
    h, w = graph.shape
    n = len(graph)
    graph.link = np.full((n, 4), -1, np.int64)
    if n == 0:
        return
    z_base = float(graph.z.min())
    zq = np.rint((graph.z - z_base) / _Z_KEY).astype(np.int64)
    key = (graph.cell << 32) | zq  # sorted, since nodes are sorted by (cell, z)
    row, col = np.divmod(graph.cell, w)
    climb = max_climb + 1e-4
    for d, (dr, dc) in enumerate(DIRECTIONS):
        r2, c2 = row + dr, col + dc
        inside = (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < w)
        nb_cell = np.where(inside, r2 * w + c2, -1)
        pos = np.searchsorted(key, (nb_cell << 32) | zq)
        best = np.full(n, -1, np.int64)
        best_dz = np.full(n, np.inf)
        # Every node of the neighbour column within the climb, outwards from this height (Recast checks every
        # span): the nearest one may lack the headroom (the tread under a step's nosing, which the captured
        # surface leans 1 cm over it) while the next one up (the nosing's top, 13 cm higher) is a fine step.
        # Taking only the nearest cut every riser of stairs seen at an angle to the grid.
        for k in range(n):
            more = False
            for cand in (pos - 1 - k, pos + k):  # k-th node below and k-th node at or above this height
                ok = inside & (cand >= 0) & (cand < n)
                cand = np.clip(cand, 0, n - 1)
                ok &= graph.cell[cand] == nb_cell
                dz = np.abs(graph.z[cand] - graph.z)
                ok &= dz <= climb
                more = more or bool(ok.any())
                ok &= dz < best_dz
                if agent_height is not None:
                    gap = np.minimum(graph.ceiling[cand], graph.ceiling) - np.maximum(graph.z[cand], graph.z)
                    ok &= gap >= agent_height - 1e-6
                best = np.where(ok, cand, best)
                best_dz = np.where(ok, dz, best_dz)
            if not more:  # no node of any neighbour column lies this far out within the climb
                break
        graph.link[:, d] = best
    # Keep links symmetric: a link stands only when the neighbour links back.
    for d in range(4):
        nb = graph.link[:, d]
        back = np.where(nb >= 0, graph.link[np.maximum(nb, 0), _OPPOSITE[d]], -1)
        graph.link[back != np.arange(n), d] = -1


def diagonal_links(link: np.ndarray, member: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per diagonal (+x+y, -x+y, -x-y, +x-y): (source nodes, target nodes) reachable both ways round.

    A diagonal move needs both orthogonal neighbours in ``member`` and both routes
    to reach the same node (no corner cutting, no jumping between levels).
    """
    out = []
    for d1, d2 in ((0, 1), (2, 1), (2, 3), (0, 3)):
        a, b = link[:, d1], link[:, d2]
        ok = member & (a >= 0) & (b >= 0)
        ok &= member[np.maximum(a, 0)] & member[np.maximum(b, 0)]
        via_a = np.where(ok, link[np.maximum(a, 0), d2], -1)
        via_b = np.where(ok, link[np.maximum(b, 0), d1], -1)
        ok &= (via_a >= 0) & (via_a == via_b)
        ok &= member[np.maximum(via_a, 0)]
        src = np.flatnonzero(ok)
        out.append((src, via_a[src]))
    return out


def border_distance(graph: NodeGraph, member: np.ndarray, *, reach: float,
                    edge_faces: np.ndarray | None = None) -> np.ndarray:
    """(N,) distance from each member node's centre to the nearest edge where the member set ends [m].

    An edge ends the set where a member node has no link to a member node: a wall,
    a ledge, a step too high or the end of the grid. Vector propagation over the
    links (each node keeps its nearest border segment and offers it to its
    neighbours) gives near-exact Euclidean distances across levels. Distances
    beyond ``reach`` may read as +inf; non-members read -inf.

    Args:
        graph: the nodes and their links.
        member: (N,) bool, the set.
        reach: distances up to this are exact [m].
        edge_faces: (N, 4, 3) per node and direction, where the border really lies: how far
            beyond the cell edge (the face of a wall inside the neighbouring cell) and its
            extent along the edge from the edge's low end (x or y), each in [0, cell_size] [m];
            None: on the cell edge, all of it.
    """
    n = len(graph)
    cell = graph.cell_size
    centre = graph.centres()
    valid = (graph.link >= 0) & member[:, None] & member[np.maximum(graph.link, 0)]
    # Each node's nearest border segment: middle x, y, axis (0: along y, constant x; 1: along x), half length.
    segment = np.full((n, 4), np.nan)
    dist = np.full(n, np.inf)
    if edge_faces is None:
        edge_faces = np.broadcast_to(np.array([0.0, 0.0, cell]), (n, 4, 3))
    for d in range(4):  # own open edges; the nearest wins
        dr, dc = DIRECTIONS[d]
        away = 0.5 * cell + edge_faces[:, d, 0]
        middle = 0.5 * (edge_faces[:, d, 1] + edge_faces[:, d, 2]) - 0.5 * cell  # from the cell's mid-line
        length = 0.5 * (edge_faces[:, d, 2] - edge_faces[:, d, 1])
        candidate = np.hypot(away, np.maximum(np.abs(middle) - length, 0.0))
        open_edge = np.flatnonzero(member & ~valid[:, d] & (candidate < dist))
        step = np.array([dc, dr], np.float64)
        segment[open_edge, :2] = (centre[open_edge] + away[open_edge, None] * step
                                  + middle[open_edge, None] * step[::-1])
        segment[open_edge, 2] = 0.0 if dc else 1.0
        segment[open_edge, 3] = length[open_edge]
        dist[open_edge] = candidate[open_edge]
    # Wavefront: only nodes whose nearest edge changed offer it on; nothing travels past `reach`.
    edges = [(np.flatnonzero(valid[:, d]), graph.link[valid[:, d], d]) for d in range(4)]
    limit = reach + cell
    changed = np.isfinite(dist)
    for _ in range(int(np.ceil(1.5 * reach / cell)) + 2):
        updated = np.zeros(n, bool)
        for src_all, nb_all in edges:
            offer = changed[nb_all]
            src, nb = src_all[offer], nb_all[offer]
            offered = segment[nb]
            cand = _segment_distance(centre[src], offered)
            better = (cand < dist[src] - 1e-12) & (cand <= limit)
            win = src[better]
            segment[win], dist[win] = offered[better], cand[better]
            updated[win] = True
        changed = updated
        if not changed.any():
            break
    return np.where(member, dist, -np.inf)


def _segment_distance(points: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Distance from points to axis-parallel segments, rows (middle x, y, axis, half length) as in
    :func:`border_distance`."""
    dx = np.abs(points[:, 0] - segments[:, 0])
    dy = np.abs(points[:, 1] - segments[:, 1])
    along_y = segments[:, 2] == 0.0
    half = segments[:, 3]
    dy = np.where(along_y, np.maximum(dy - half, 0.0), dy)
    dx = np.where(along_y, dx, np.maximum(dx - half, 0.0))
    return np.hypot(dx, dy)


def connected_regions(graph: NodeGraph, member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the member nodes through links, largest first.

    Returns:
        (N,) int32 region id per node (-1 for non-members), 0 = most nodes (ties: the
        region holding the lowest node index); (R,) int64 node count per region.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(graph)
    src, dst = [], []
    for d in (0, 1):  # links are symmetric: two directions cover every edge
        s = np.flatnonzero(member & (graph.link[:, d] >= 0))
        t = graph.link[s, d]
        keep = member[t]
        src.append(s[keep])
        dst.append(t[keep])
    src, dst = np.concatenate(src), np.concatenate(dst)
    adjacency = coo_matrix((np.ones(src.size, np.int8), (src, dst)), shape=(n, n)).tocsr()
    _, labels = connected_components(adjacency, directed=False)
    labels = np.where(member, labels, -1)
    ids, first, counts = np.unique(labels[member], return_index=True, return_counts=True)
    if ids.size == 0:
        return np.full(n, -1, np.int32), np.zeros(0, np.int64)
    first_node = np.flatnonzero(member)[first]
    order = np.lexsort((first_node, -counts))
    relabel = np.full(labels.max() + 2, -1, np.int32)
    relabel[ids[order]] = np.arange(ids.size, dtype=np.int32)
    return relabel[labels], counts[order]


def subgraph(graph: NodeGraph, keep: np.ndarray) -> NodeGraph:
    """The nodes where ``keep`` (N,) bool, with links to dropped nodes removed."""
    index = np.full(len(graph) + 1, -1, np.int64)  # slot -1 maps a missing link to -1
    kept = np.flatnonzero(keep)
    index[kept] = np.arange(kept.size)
    link = index[graph.link[kept]]
    return NodeGraph(graph.origin, graph.cell_size, graph.shape, graph.cell[kept], graph.z[kept],
                     graph.ceiling[kept], link)


def surface_gradient(graph: NodeGraph) -> np.ndarray:
    """(N, 2) dz/dx, dz/dy of the surface through each node and its linked neighbours, NaN where unmeasurable.

    Central differences of node heights over linked neighbours (two cells each way
    where the links reach, else one), so the slope is measured at the scale of the
    heightfield rather than of single noisy triangles; one-sided (the node and the
    node two links away) where only one side links, as next to a wall or a crate,
    whose base a captured floor often meets with a crease. NaN where a node has
    neither (a wall top, a ridge one or two cells wide, a spike).
    """
    n = len(graph)

    def hop(nodes: np.ndarray, d: int) -> np.ndarray:
        return np.where(nodes >= 0, graph.link[np.maximum(nodes, 0), d], -1)

    gradient = []
    for plus, minus in ((0, 2), (1, 3)):
        p1, m1 = graph.link[:, plus], graph.link[:, minus]
        p2, m2 = hop(p1, plus), hop(m1, minus)
        g = np.full(n, np.nan)
        own = np.arange(n)
        for a, b, cells in ((p2, m2, 4), (p1, m1, 2), (p2, own, 2), (own, m2, 2)):
            fill = np.isnan(g) & (a >= 0) & (b >= 0)
            g[fill] = (graph.z[a[fill]] - graph.z[b[fill]]) / (cells * graph.cell_size)
        gradient.append(g)
    return np.column_stack(gradient)


def surface_slope(graph: NodeGraph) -> np.ndarray:
    """(N,) slope of :func:`surface_gradient` [deg], NaN where unmeasurable."""
    return np.degrees(np.arctan(np.hypot(*surface_gradient(graph).T)))

"""The ground of a world-frame surface: floors at any height, terrain, steps, ramps, platform tops.

No floor plane and no box room are assumed. Up-facing surface (slope below
``max_slope``) is sampled and binned on an xy grid; each cell's samples split into
height *layers* (a floor and a table top above it are two layers of one cell). A
layer links to the nearest layer of each neighbouring cell, and to the next layer
of its own cell, when their heights differ by at most ``max_step``: rolling
terrain, ramps and stair treads chain into one connected piece, while a table
top, a sofa seat or a cabinet top stays apart from the floor around it. A layer
hanging less than ``clearance`` over another layer of its cell (foliage over
visible soil, a low shelf) takes no part: no one stands there. The
largest such piece is the ground, with any other piece of comparable area (a
second floor seen without its stairs). Layers of tiny area (the staircase facets
a TSDF leaves on a rotated cabinet's side) take no part in the chaining, so
they cannot climb an object.

The result is a :class:`GroundField`: ground heights per cell (a few layers each),
from which the segmentation decides which faces lie on the ground, which faces
are risers between two ground levels (stair risers, a platform's front), and how
far above the ground an object's lowest point floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GroundField", "fill_ground_holes", "find_ground"]

_MAX_LAYERS = 4
"""Ground layers kept per cell (a stair edge inside a cell has two)."""
_MAX_CELLS = 16_000_000
"""The cell grows until the grid holds at most this many cells."""
_BRIDGE = 0.5
"""Up-facing pieces level with the ground across a gap up to this wide are ground too [m]."""
_CRACK = 0.1
"""Gaps in the ground narrower than about twice this are closed, even where they reach its edge [m]."""


@dataclass(eq=False)
class GroundField:
    """Ground heights on an xy grid.

    Attributes:
        origin: (2,) float64 world x, y of cell (0, 0)'s corner [m].
        cell: cell edge [m].
        heights: (ny, nx, L) float32 ground heights per cell, ascending, NaN-padded [m].
        area: ground area found [m^2] (0 when there is no ground).
        report: JSON-serialisable counts (layers, pieces, ground pieces and their areas).
    """

    origin: np.ndarray
    cell: float
    heights: np.ndarray
    area: float
    report: dict

    @property
    def found(self) -> bool:
        return self.area > 0

    def cells_of(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P,) int64 row and column of each (P, >=2) point, clipped to the grid."""
        ny, nx = self.heights.shape[:2]
        ix = np.clip(np.floor((points[:, 0] - self.origin[0]) / self.cell), 0, nx - 1).astype(np.int64)
        iy = np.clip(np.floor((points[:, 1] - self.origin[1]) / self.cell), 0, ny - 1).astype(np.int64)
        return iy, ix

    def nearest_offset(self, points: np.ndarray) -> np.ndarray:
        """(P,) float64 smallest |z - ground| over the point's cell and its 8 neighbours [m] (inf: none)."""
        best = np.full(points.shape[0], np.inf)
        for layer_z in self._neighbourhood(points):
            np.minimum(best, np.nanmin(np.abs(layer_z - points[:, 2:3]), axis=1, initial=np.inf), out=best)
        return best

    def ground_below(self, points: np.ndarray, tolerance: float) -> np.ndarray:
        """(P,) float64 highest ground within the 3 x 3 cells at or below ``z + tolerance`` [m] (NaN: none)."""
        best = np.full(points.shape[0], -np.inf)
        for layer_z in self._neighbourhood(points):
            below = np.where(layer_z <= points[:, 2:3] + tolerance, layer_z, -np.inf)
            np.maximum(best, np.nanmax(below, axis=1, initial=-np.inf), out=best)
        return np.where(np.isfinite(best), best, np.nan)

    def range_near(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P,) lowest and highest ground height over the 3 x 3 cells around each point [m] (NaN: none)."""
        lo = np.full(points.shape[0], np.inf)
        hi = np.full(points.shape[0], -np.inf)
        for layer_z in self._neighbourhood(points):
            np.minimum(lo, np.nanmin(layer_z, axis=1, initial=np.inf), out=lo)
            np.maximum(hi, np.nanmax(layer_z, axis=1, initial=-np.inf), out=hi)
        return np.where(np.isfinite(lo), lo, np.nan), np.where(np.isfinite(hi), hi, np.nan)

    def _neighbourhood(self, points: np.ndarray):
        """Yields (P, L) ground heights of each point's cell and of its 8 neighbours, one offset at a time."""
        ny, nx = self.heights.shape[:2]
        iy, ix = self.cells_of(points)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                y, x = iy + dy, ix + dx
                inside = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
                layer_z = self.heights[np.clip(y, 0, ny - 1), np.clip(x, 0, nx - 1)].astype(np.float64)
                layer_z[~inside] = np.nan
                yield layer_z


def find_ground(
    vertices: np.ndarray,
    faces: np.ndarray,
    normals: np.ndarray,
    areas: np.ndarray,
    *,
    cell: float,
    max_step: float,
    max_slope: float,
    min_area: float,
    layer_gap: float,
    clearance: float = 1.0,
    min_links: int = 4,
    min_layer_fraction: float = 0.25,
    companion_fraction: float = 0.25,
) -> GroundField:
    """Find the ground: connected up-facing surface, chained through small height changes.

    Args:
        vertices: (V, 3) float64 world-frame positions [m] (Z-up).
        faces: (F, 3) int64 triangles.
        normals: (F, 3) float64 unit face normals.
        areas: (F,) float64 face areas [m^2].
        cell: grid cell edge [m] (grows for very large scenes).
        max_step: largest height change between neighbouring ground layers (a stair riser) [m].
        max_slope: steepest face that can be ground [deg].
        min_area: a connected piece needs at least this area to be ground [m^2].
        layer_gap: samples of one cell further apart in height than this are different layers [m].
        clearance: a layer less than this above another layer of its cell (and more than two
            ``layer_gap`` above it) is no ground: nothing stands on a leaf over visible soil, a
            shelf over a floor [m].
        min_links: layers linked to fewer chained neighbours than this (twice pruned) take no part
            in chaining: soil and floors are continuous, scattered leaves are not.
        min_layer_fraction: layers covering less than this fraction of their cell take no part
            in chaining (they may still be ground faces; see :meth:`GroundField.nearest_offset`).
        companion_fraction: besides the largest piece, pieces with at least this fraction of
            its area are ground too.
    """
    support = (normals[:, 2] > np.cos(np.radians(max_slope))) & (areas > 1e-12)
    lo = vertices[:, :2].min(axis=0) if len(vertices) else np.zeros(2)
    hi = vertices[:, :2].max(axis=0) if len(vertices) else np.zeros(2)
    cell = max(cell, float(np.sqrt(np.prod(np.maximum(hi - lo, cell)) / _MAX_CELLS)))
    origin = lo - cell
    nx, ny = (np.floor((hi - origin) / cell).astype(np.int64) + 2).tolist()
    empty = GroundField(origin, cell, np.full((ny, nx, 1), np.nan, np.float32), 0.0,
                        {"cell": round(cell, 4), "layers": 0, "pieces": 0, "ground_pieces": []})
    if not support.any():
        return empty
    node_cell, node_z, node_area = _layers(vertices, faces[support], areas[support], origin, cell, nx, layer_gap)
    chained = node_area >= min_layer_fraction * cell * cell
    below = np.full(node_z.size, np.inf)
    same = node_cell[1:] == node_cell[:-1]
    below[1:][same] = np.diff(node_z)[same]
    chained &= ~((below > 2 * layer_gap) & (below < clearance))
    labels = _chain(node_cell, node_z, chained, nx, max_step, min_links)
    piece_area = np.bincount(labels[chained], weights=node_area[chained]) if chained.any() else np.zeros(0)
    if piece_area.size == 0 or piece_area.max() < min_area:
        empty.report.update(layers=int(node_cell.size), pieces=int(piece_area.size))
        return empty
    ground_pieces = np.flatnonzero((piece_area >= min_area) & (piece_area >= companion_fraction * piece_area.max()))
    is_ground = chained & np.isin(labels, ground_pieces)
    is_ground, absorbed = _absorb_level_pieces(node_cell, node_z, node_area, labels, chained, is_ground,
                                               nx, ny, cell, max_step)
    heights = _height_grid(node_cell[is_ground], node_z[is_ground], nx, ny)
    report = {
        "cell": round(cell, 4),
        "layers": int(node_cell.size),
        "pieces": int(piece_area.size),
        "ground_pieces": [round(float(a), 3) for a in np.sort(piece_area[ground_pieces])[::-1]],
        "level_pieces_joined": absorbed,
        "ground_cells": int(np.isfinite(heights[..., 0]).sum()),
        "height_range": [round(float(np.nanmin(heights)), 4), round(float(np.nanmax(heights)), 4)],
    }
    area = float(node_area[is_ground].sum())
    return GroundField(origin, cell, heights, area, report)


def _absorb_level_pieces(node_cell, node_z, node_area, labels, chained, is_ground, nx, ny, cell, max_step):
    """Chained pieces that continue the ground across a small gap join it; (N,) ground mask and pieces joined.

    A capture leaves holes in the ground (grazing views, TSDF cracks), and a patch of ground
    beyond such a hole is a piece of its own, too small to be a companion: it would stand on
    the ground as an object. A piece joins when most of its layers within :data:`_BRIDGE` of
    the ground lie within ``max_step`` of the nearest ground cell's height (the rule that
    chains ground, applied across the gap); a table top or a rock top stays apart.
    """
    from scipy import ndimage

    joined = 0
    for _ in range(3):  # a joined piece may bring the next one within reach
        candidate = np.flatnonzero(chained & ~is_ground)
        if candidate.size == 0:
            break
        heights = _height_grid(node_cell[is_ground], node_z[is_ground], nx, ny)
        empty = ~np.isfinite(heights[..., 0])
        distance, (near_y, near_x) = ndimage.distance_transform_edt(empty, return_indices=True)
        row, col = np.divmod(node_cell[candidate], nx)
        near = distance[row, col] * cell <= _BRIDGE
        levels = heights[near_y[row, col], near_x[row, col]].astype(np.float64)
        dz = np.nanmin(np.abs(levels - node_z[candidate, None]), axis=1, initial=np.inf)
        level = near & (dz <= max_step)
        piece = labels[candidate]
        near_area = np.bincount(piece, weights=node_area[candidate] * near, minlength=labels.max() + 1)
        level_area = np.bincount(piece, weights=node_area[candidate] * level, minlength=labels.max() + 1)
        join = (near_area > 0) & (level_area >= 0.5 * near_area)
        new = candidate[join[piece]]
        if new.size == 0:
            break
        joined += int(np.unique(labels[new]).size)
        is_ground = is_ground.copy()
        is_ground[new] = True
    return is_ground, joined


def fill_ground_holes(ground: GroundField, surface_triangles: np.ndarray, *, on_ground: np.ndarray,
                      max_area: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """A patch closing the holes of the ground: (P, 3) float64 vertices, (Q, 3) int64 faces and a report.

    Coverage is measured on half cells by sampling the triangles' xy footprints (once, the
    ground's samples picked out by ``on_ground``), so a crack narrower than a cell counts
    too. A hole is a 4-connected set of half cells that no triangle of the surface covers,
    enclosed by surface (not touching the grid's border) and at most
    ``max_area``: a crack or gap the capture left in observed ground, next to a wall or in
    the open; a gap in the ground narrower than about twice :data:`_CRACK` is closed too,
    even where it reaches the ground's edge (a morphological closing). Ground hidden under
    an object is covered by the object and stays as it is. Every cell holding a hole is
    covered, with one cell of overlap onto the ground around it, by two up-facing triangles
    per cell whose corners take the height filled in from the ground around the hole's rim
    (:func:`_harmonic_fill`, work in proportion to the holes' area), so the ground collider
    has no holes that probes or feet fall through and navigation sees no drop there.

    Args:
        ground: the ground field.
        surface_triangles: (S, 3, 3) float64 corners of every face of the surface [m].
        on_ground: (S,) bool the faces on the ground.
        max_area: largest enclosed hole closed [m^2] (0: none).
    """
    from scipy import ndimage

    report = {"holes_filled": 0, "filled_m2": 0.0}
    none = (np.zeros((0, 3)), np.zeros((0, 3), np.int64), report)
    if not ground.found or max_area <= 0 or not np.any(on_ground):
        return none
    lowest = ground.heights[..., 0].astype(np.float64)
    ny, nx = lowest.shape
    half = 0.5 * ground.cell
    hole_sub, hole = _holes(*_coverage(surface_triangles, on_ground, ground.origin, half, (2 * ny, 2 * nx)),
                            half=half, max_area=max_area)
    if not hole.any():
        return none
    patch = ndimage.binary_dilation(hole, structure=np.ones((3, 3), bool))
    heights = _patch_heights(lowest, patch)
    if heights is None:
        return none
    vertices, faces = _patch_mesh(ground, patch, *heights)
    report = {"holes_filled": int(ndimage.label(hole)[1]),
              "filled_m2": round(float(hole_sub.sum()) * half**2, 4)}
    return vertices, faces, report


def _patch_mesh(ground: GroundField, patch: np.ndarray, corner: np.ndarray,
                z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, 3) float64 vertices and (2 P, 3) int64 faces: two up-facing triangles per ``patch`` cell.

    Args:
        ground: the ground field (its grid).
        patch: (ny, nx) bool the P cells covered.
        corner: (C,) sorted corner ids ``row * (nx + 1) + column`` of the patch cells' corners.
        z: (C,) their heights [m].
    """
    nx = patch.shape[1]
    cy, cx = np.divmod(corner, nx + 1)
    corner_xy = ground.origin + np.column_stack([cx, cy]) * ground.cell
    py, px = np.nonzero(patch)
    index = np.searchsorted(corner, np.stack([(py + dy) * (nx + 1) + px + dx for dy, dx in
                                              ((0, 0), (0, 1), (1, 1), (1, 0))], axis=1))
    faces = np.concatenate([index[:, [0, 1, 2]], index[:, [0, 2, 3]]])
    return np.column_stack([corner_xy, z]), faces.astype(np.int64)


def _coverage(triangles: np.ndarray, subset: np.ndarray, origin: np.ndarray, cell: float,
              shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) bool grid cells of edge ``cell`` that the triangles' xy footprints reach, for all of them and
    for the ``subset`` (a (T,) bool mask) alone.

    Each footprint is sampled about half a cell apart *in xy*: a wall's tall, thin triangle
    needs no more samples than its footprint's length, and one pass serves both masks.
    """
    from worldgen_sim.collision.mesh_ops import sample_triangles

    points, owner = sample_triangles(np.ascontiguousarray(triangles[:, :, :2]), 0.5 * cell)
    col, row = np.floor((points - origin) / cell).astype(np.int64).T
    inside = (col >= 0) & (col < shape[1]) & (row >= 0) & (row < shape[0])
    masks = []
    for keep in (inside, inside & subset[owner]):
        covered = np.zeros(shape, bool)
        covered[row[keep], col[keep]] = True
        masks.append(covered)
    return masks[0], masks[1]


def _closing(mask: np.ndarray, radius: float) -> np.ndarray:
    """Morphological closing of a 2D mask with a disc of ``radius`` cells."""
    from scipy import ndimage

    pad = int(np.ceil(radius)) + 1
    padded = np.pad(mask, pad)
    dilated = ndimage.distance_transform_edt(~padded) <= radius
    closed = ndimage.distance_transform_edt(dilated) > radius
    return closed[pad:-pad, pad:-pad]


def _holes(surface: np.ndarray, ground: np.ndarray, *, half: float, max_area: float) -> tuple[np.ndarray, np.ndarray]:
    """(2 ny, 2 nx) bool half cells to fill and (ny, nx) bool the cells holding one.

    Args:
        surface: (2 ny, 2 nx) bool half cells any surface triangle covers.
        ground: (2 ny, 2 nx) bool half cells a ground triangle covers.
        half: half-cell edge [m].
        max_area: largest enclosed hole filled [m^2].
    """
    from scipy import ndimage

    labels, count = ndimage.label(~surface)
    size = np.bincount(labels.ravel(), minlength=count + 1)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    fill = size * half**2 <= max_area
    fill[0] = False
    fill[border] = False
    hole_sub = fill[labels] | (_closing(ground, _CRACK / half) & ~ground)
    ny, nx = surface.shape[0] // 2, surface.shape[1] // 2
    return hole_sub, hole_sub.reshape(ny, 2, nx, 2).any(axis=(1, 3))


def _patch_heights(lowest: np.ndarray, patch: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Corners of the ``patch`` cells and their heights (None: no ground height known at all).

    Args:
        lowest: (ny, nx) float64 lowest ground height per cell, NaN where none [m].
        patch: (ny, nx) bool cells the fill covers.

    Returns:
        (C,) int64 sorted corner ids ``row * (nx + 1) + column`` on the (ny + 1, nx + 1) corner
        lattice, and (C,) float64 their heights [m]: the mean of the four cells around each
        corner, the empty ones filled by :func:`_harmonic_fill`.
    """
    from scipy import ndimage

    nx = lowest.shape[1]
    filled = _harmonic_fill(lowest, ndimage.binary_dilation(patch, structure=np.ones((3, 3), bool)))
    if filled is None:
        return None
    py, px = np.nonzero(patch)
    corner = np.unique(np.concatenate([(py + dy) * (nx + 1) + px + dx for dy in (0, 1) for dx in (0, 1)]))
    cy, cx = np.divmod(corner, nx + 1)
    return corner, _corner_mean(filled, cy, cx)


def _harmonic_fill(lowest: np.ndarray, region: np.ndarray) -> np.ndarray | None:
    """(ny, nx) float64 ``lowest`` with its NaN cells inside ``region`` filled (None: no height known near).

    Each empty cell takes the mean of its 4-neighbours, known or filled (Laplace's equation
    with the known cells as boundary values), in one sparse solve for every hole at once:
    the work grows with the holes' area, not the grid's, and a tilted plane (a ramp, a
    slope) comes back exactly. An empty area with no known neighbour at all takes the
    height of the nearest known cell.

    Args:
        lowest: (ny, nx) float64 lowest ground height per cell, NaN where none [m].
        region: (ny, nx) bool cells to fill.
    """
    from scipy import ndimage
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    known = np.isfinite(lowest)
    if not known.any():
        return None
    filled = lowest.copy()
    unknown = region & ~known
    uy, ux = np.nonzero(unknown)
    if uy.size == 0:
        return filled
    ny, nx = lowest.shape
    ids = np.full(lowest.shape, -1, np.int64)
    ids[uy, ux] = np.arange(uy.size)
    degree = np.zeros(uy.size)  # neighbours inside the grid that are known or to be filled
    touches_known = np.zeros(uy.size, bool)
    boundary = np.zeros(uy.size)  # sum of the known neighbours' heights
    rows, cols = [], []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        y, x = uy + dy, ux + dx
        inside = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
        y, x = np.clip(y, 0, ny - 1), np.clip(x, 0, nx - 1)
        known_next = inside & known[y, x]
        unknown_next = inside & unknown[y, x]
        degree += known_next | unknown_next
        touches_known |= known_next
        boundary += np.where(known_next, filled[y, x], 0.0)
        rows.append(np.flatnonzero(unknown_next))
        cols.append(ids[y[unknown_next], x[unknown_next]])
    # An empty area touching no known cell has no boundary values (a singular system): nearest known height.
    piece, count = ndimage.label(unknown)
    anchored = np.bincount(piece[uy, ux], weights=touches_known, minlength=count + 1) > 0
    solve = anchored[piece[uy, ux]]
    if not solve.all():
        _, (near_y, near_x) = ndimage.distance_transform_edt(~known, return_indices=True)
        filled[uy[~solve], ux[~solve]] = lowest[near_y[uy[~solve], ux[~solve]], near_x[uy[~solve], ux[~solve]]]
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    keep = solve[rows]  # unknown neighbours of a solved cell are in its (anchored) area too
    index = np.cumsum(solve) - 1
    size = int(solve.sum())
    if size:
        at = np.flatnonzero(solve)
        matrix = coo_matrix((np.concatenate([degree[at], -np.ones(int(keep.sum()))]),
                             (np.concatenate([index[at], index[rows[keep]]]),
                              np.concatenate([index[at], index[cols[keep]]]))), shape=(size, size))
        filled[uy[at], ux[at]] = np.atleast_1d(spsolve(matrix.tocsc(), boundary[at]))
    return filled


def _corner_mean(filled: np.ndarray, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
    """(C,) mean height of the (up to four) cells around each grid corner (row ``cy``, column ``cx``) [m]."""
    padded = np.pad(filled, 1, constant_values=np.nan)
    around = np.stack([padded[cy + dy, cx + dx] for dy in (0, 1) for dx in (0, 1)], axis=1)
    return np.nanmean(around, axis=1)


def _layers(vertices, faces, areas, origin, cell, nx, layer_gap):
    """Height layers of up-facing surface per cell: cell index (N,), mean height (N,), area (N,), sorted."""
    points, weight = _area_samples(vertices[faces], areas, cell)
    ix = np.floor((points[:, 0] - origin[0]) / cell).astype(np.int64)
    iy = np.floor((points[:, 1] - origin[1]) / cell).astype(np.int64)
    key = iy * nx + ix
    order = np.lexsort((points[:, 2], key))
    key, z, weight = key[order], points[order, 2], weight[order]
    new = np.ones(key.size, bool)
    new[1:] = (key[1:] != key[:-1]) | (np.diff(z) > layer_gap)
    starts = np.flatnonzero(new)
    area = np.add.reduceat(weight, starts)
    mean_z = np.add.reduceat(weight * z, starts) / np.maximum(area, 1e-30)
    return key[starts], mean_z, area


def _area_samples(tri, areas, spacing):
    """(P, 3) points standing for the triangles and the area (P,) each carries [m^2].

    Triangles smaller than ``spacing`` (a TSDF mesh's) are their centroid; larger ones are
    sampled about half ``spacing`` apart.
    """
    from worldgen_sim.collision.mesh_ops import sample_triangles

    edges = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1)
    small = edges <= spacing
    points, owner = sample_triangles(tri[~small], 0.5 * spacing)
    large_areas = areas[~small]
    weight = large_areas[owner] / np.bincount(owner, minlength=large_areas.size)[owner]
    return np.concatenate([tri[small].mean(axis=1), points]), np.concatenate([areas[small], weight])


def _chain(node_cell, node_z, chained, nx, max_step, min_links):
    """(N,) connected-piece label per layer: links within ``max_step`` to the same and the 8 neighbouring cells;
    layers with fewer than ``min_links`` links are pruned (twice) first."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    count = node_cell.size
    rows, cols = [], []
    # Next layer up in the same cell (a stair edge falling inside one cell).
    same = (node_cell[1:] == node_cell[:-1]) & (np.diff(node_z) <= max_step) & chained[1:] & chained[:-1]
    rows.append(np.flatnonzero(same))
    cols.append(np.flatnonzero(same) + 1)
    index = np.flatnonzero(chained)
    cells, z = node_cell[index], node_z[index]
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
        target = cells + dy * nx + dx
        # The layers of the target cell are a contiguous, height-sorted run of ``cells``.
        start = np.searchsorted(cells, target, side="left")
        stop = np.searchsorted(cells, target, side="right")
        best = np.full(index.size, -1)
        best_dz = np.full(index.size, np.inf)
        for j in range(int((stop - start).max(initial=0))):
            at = start + j
            ok = at < stop
            dz = np.where(ok, np.abs(z[np.minimum(at, index.size - 1)] - z), np.inf)
            better = dz < best_dz
            best = np.where(better, at, best)
            best_dz = np.minimum(best_dz, dz)
        # Wrap-around at the row ends is harmless: cells of a padded grid's border are empty.
        link = best_dz <= max_step
        rows.append(index[link])
        cols.append(index[best[link]])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    alive = np.ones(count, bool)
    for _ in range(2):
        live = alive[rows] & alive[cols]
        degree = np.bincount(rows[live], minlength=count) + np.bincount(cols[live], minlength=count)
        alive &= degree >= min_links
    live = alive[rows] & alive[cols]
    graph = coo_matrix((np.ones(int(live.sum()), np.int8), (rows[live], cols[live])), shape=(count, count))
    labels = connected_components(graph, directed=False)[1]
    # Pruned layers next to a kept one join its piece (a floor's corner cells, the rim of a tread);
    # one ring only, so pruning still stops chains through scattered leaves.
    for a, b in ((rows, cols), (cols, rows)):
        rim = ~alive[a] & alive[b]
        labels[a[rim]] = labels[b[rim]]
    return labels


def _height_grid(cells, z, nx, ny):
    """(ny, nx, L) float32 ground heights per cell (ascending, NaN-padded) from sorted (cell, z) layers."""
    heights = np.full((ny * nx, _MAX_LAYERS), np.nan, np.float32)
    if cells.size:
        first = np.ones(cells.size, bool)
        first[1:] = cells[1:] != cells[:-1]
        rank = np.arange(cells.size) - np.maximum.accumulate(np.where(first, np.arange(cells.size), 0))
        keep = rank < _MAX_LAYERS
        heights[cells[keep], rank[keep]] = z[keep]
    layers = max(1, int(np.isfinite(heights).any(axis=0).sum()))
    return heights[:, :layers].reshape(ny, nx, layers)

"""Close an object's open surface into a solid before convex decomposition.

Generated and reconstructed scenes are open shells: a box on the floor has no
bottom, a sofa against a wall no back. Decomposing such a shell gives hollow
hulls that miss the solid. Here each object becomes a *layered heightfield*:
vertical rays through the centres of a fine xy grid meet the object's surface;
going down a ray, an up-facing surface enters the solid and a down-facing one
leaves it (a clamped count, so a table leg whose top meets the table's underside
still reaches the floor), and a ray still inside at the bottom is closed on the
floor. Table tops keep the free space under them; tops are exact in height,
sides are quantised to the grid. Columns with equal spans are merged into
boxes whose union (manifold3d, guaranteed manifold) is the closed solid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class Solid:
    """A closed object.

    Attributes:
        vertices: (V, 3) float64 [m].
        faces: (F, 3) int32, outward-facing, watertight and manifold.
        volume: enclosed volume [m^3].
        boxes: (B, 2, 3) float64 min/max corners of the boxes whose union it is [m].
        cell_size: xy grid cell used [m].
    """

    vertices: np.ndarray
    faces: np.ndarray
    volume: float
    boxes: np.ndarray
    cell_size: float

    @property
    def is_empty(self) -> bool:
        return self.faces.shape[0] == 0


def solidify(
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    ground_height: float,
    cell_size: float = 0.01,
    max_cells: int = 250_000,
    max_boxes: int = 3000,
    min_slope_normal: float = 0.2,
    seam: float | None = None,
    ground_triangles: np.ndarray | None = None,
    underside: float = 0.05,
    max_interior: float = 0.0,
) -> Solid:
    """Close an open object surface into a solid standing on the ground.

    Args:
        vertices: (V, 3) float world-frame positions [m] (Z-up).
        faces: (F, 3) int triangles.
        ground_height: floor height where columns still inside are closed [m].
        cell_size: xy grid cell edge; the sides are accurate to about half of it [m].
        max_cells: the cell grows so the object's xy footprint holds at most this many cells.
        max_boxes: the cell doubles (up to three times) while more boxes than this are needed.
        min_slope_normal: faces whose normal has a smaller |z| component are sides, not
            tops or bottoms, and are not cast against.
        seam: None: nested up-facing surfaces need as many down-facing ones to leave (exact
            meshes); a height [m]: the last surface crossed decides (reconstructed meshes);
            see :func:`column_spans`.
        ground_triangles: (G, 3, 3) float triangles of the ground the input observed under the
            object [m] (same frame as ``vertices``), or None; see :func:`observed_below`.
        underside: a top over observed ground is closed this far below it [m].
        max_interior: an unseen interior enclosed by sides, up to this area, is solid with its ring of sides
            (:func:`worldgen_sim.collision.boxes.enclosed_spans`: a trunk seen only from around it) [m^2].
    """
    tri = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
    empty = Solid(np.zeros((0, 3)), np.zeros((0, 3), np.int32), 0.0, np.zeros((0, 2, 3)), cell_size)
    if tri.shape[0] == 0:
        return empty
    lo = tri[..., :2].reshape(-1, 2).min(axis=0)
    hi = tri[..., :2].reshape(-1, 2).max(axis=0)
    cell = max(cell_size, float(np.sqrt(np.prod(np.maximum(hi - lo, 1e-9)) / max_cells)))
    for _ in range(4):
        open_below = observed_below(ground_triangles, lo, hi, cell, object_triangles=tri, ground=ground_height)
        boxes = _column_boxes(tri, lo, hi, cell, ground_height, min_slope_normal, seam, open_below, underside,
                              max_interior)
        if boxes.shape[0] <= max_boxes:
            break
        cell *= 2.0
    if boxes.shape[0] == 0:
        return Solid(empty.vertices, empty.faces, 0.0, boxes, cell)
    out_vertices, out_faces, volume = union_of_boxes(boxes)
    return Solid(out_vertices, out_faces, volume, boxes, cell)


def union_of_boxes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Manifold mesh of the union of boxes (B, 2, 3) [m]: vertices, int32 faces, volume [m^3]."""
    import manifold3d

    parts = [manifold3d.Manifold.cube(tuple(b[1] - b[0])).translate(tuple(b[0])) for b in boxes]
    union = manifold3d.Manifold.batch_boolean(parts, manifold3d.OpType.Add)
    # Merge the coplanar triangles that touching boxes leave behind.
    union = union.simplify(1e-6)
    mesh = union.to_mesh()
    return (
        np.asarray(mesh.vert_properties, np.float64)[:, :3],
        np.asarray(mesh.tri_verts, np.int32).reshape(-1, 3),
        float(union.volume()),
    )


def _column_boxes(tri, lo, hi, cell, ground, min_slope_normal, seam=None, open_below=None, underside=0.05,
                  max_interior=0.0):
    """(B, 2, 3) boxes of the layered heightfield on a grid of ``cell`` [m] starting at ``lo`` (with the
    unseen interiors enclosed by sides up to ``max_interior`` [m^2] and their rings)."""
    col, top, bottom, nx, ny = column_spans(tri, lo, hi, cell, ground, min_slope_normal, seam,
                                            open_below=open_below, underside=underside)
    if max_interior > 0:
        from worldgen_sim.collision.boxes import enclosed_spans

        fill_col, fill_top, fill_bottom = enclosed_spans(tri, lo, cell, nx, ny, ground, col, max_interior,
                                                         min_slope_normal)
        col, top, bottom = (np.concatenate([col, fill_col]), np.concatenate([top, fill_top]),
                            np.concatenate([bottom, fill_bottom]))
    if col.size == 0:
        return np.zeros((0, 2, 3))
    # Quantise heights relative to the ground (to the cell size: tops within half a cell)
    # so flat but noisy spans merge into few boxes.
    z_step = cell
    top = ground + np.round((top - ground) / z_step) * z_step
    bottom = ground + np.round((bottom - ground) / z_step) * z_step
    good = top > bottom + 1e-9
    col, top, bottom = col[good], top[good], bottom[good]
    if col.size == 0:
        return np.zeros((0, 2, 3))
    return merge_spans(col // nx, col % nx, top, bottom, lo, cell)


def observed_below(ground_triangles, lo, hi, cell, *, object_triangles=None, ground=0.0, rim: float = 0.03,
                   tolerance: float = 0.02) -> np.ndarray | None:
    """(ny * nx,) bool: cells of the grid of :func:`column_spans` over ground the input observed.

    The ground seen under an object's top (the floor beneath a table) means the camera saw
    past the top down to the floor: the top is not a block standing on the ground. Only ground
    reachable from the ground around the object counts: sides reaching down to the ground (a
    crate's, a sofa's) fence it off, so a floor that runs on under a closed object (an exact
    mesh's floor, never a capture's) does not open it. Strips narrower than about ``2 * rim``
    are left out: a reconstruction rounds the floor a little way under any object's foot.

    Args:
        ground_triangles: (G, 3, 3) float triangles of the observed ground [m], or None.
        lo, hi, cell: the grid, as for :func:`column_spans` [m].
        object_triangles: (T, 3, 3) the object's own triangles (its fences), or None.
        ground: the object's ground height [m]; sides within ``tolerance`` of it reach it.
        rim: half the width of the narrowest strip of seen ground that counts [m].

    Returns:
        The mask, or None when no ground triangles are given or none is seen under the object.
    """
    from scipy.ndimage import binary_closing, binary_opening, label

    if ground_triangles is None or len(ground_triangles) == 0:
        return None
    tri = np.asarray(ground_triangles, np.float64).reshape(-1, 3, 3)
    margin = 3
    lo_ext = np.asarray(lo, np.float64) - margin * cell
    nx = int(np.floor((hi[0] - lo[0]) / cell)) + 1
    ny = int(np.floor((hi[1] - lo[1]) / cell)) + 1
    hi_ext = lo_ext + (np.array([nx, ny]) + 2 * margin - 1) * cell + 1e-9
    # Every up-facing ground triangle enters a span in each cell whose centre it covers.
    hit, _top, _bottom, nx_ext, ny_ext = column_spans(tri, lo_ext, hi_ext, cell, float(tri[..., 2].min()) - 1.0, 0.2)
    mask = np.zeros(ny_ext * nx_ext, bool)
    mask[hit] = True
    mask = binary_closing(np.pad(mask.reshape(ny_ext, nx_ext), 1), np.ones((3, 3), bool))[1:-1, 1:-1]
    width = 2 * max(1, int(round(rim / cell))) + 1
    mask = binary_opening(mask, np.ones((width, width), bool))
    if object_triangles is not None and len(object_triangles):
        from scipy.ndimage import binary_dilation, binary_fill_holes

        from worldgen_sim.collision.mesh_ops import sample_triangles

        obj = np.asarray(object_triangles, np.float64)
        normal = np.cross(obj[:, 1] - obj[:, 0], obj[:, 2] - obj[:, 0])
        side = np.abs(normal[:, 2]) <= 0.2 * np.maximum(np.linalg.norm(normal, axis=1), 1e-30)
        fence_tri = obj[side & (obj[..., 2].min(axis=1) <= ground + tolerance)]
        fence = np.zeros_like(mask)
        if len(fence_tri):
            points, _ = sample_triangles(fence_tri, 0.5 * cell)
            ix = np.clip(np.floor((points[:, 0] - lo_ext[0]) / cell).astype(np.int64), 0, nx_ext - 1)
            iy = np.clip(np.floor((points[:, 1] - lo_ext[1]) / cell).astype(np.int64), 0, ny_ext - 1)
            fence[iy, ix] = True
        fenced = mask & ~fence
        # Opened again after fencing: a sliver of floor between a sofa's back and the wall is no passage.
        fenced = binary_opening(fenced, np.ones((width, width), bool))
        # Only ground connected to the ground around the object (in the margin, beyond its extent: not a
        # floor that stops at the wall behind it) is seen under it. The whole margin counts, not only its
        # outer ring: a capture's ground is given a fixed distance around the object, which is fewer
        # cells than the margin on a coarse grid.
        labels, _count = label(fenced)
        border = np.ones_like(mask)
        border[margin:margin + ny, margin:margin + nx] = False
        outside = np.unique(labels[border & fenced])
        reached = np.isin(labels, outside[outside > 0])
        # Back up to the legs and fences, never inside them (a leg stands on the floor it hides).
        mask &= binary_dilation(reached, np.ones((width, width), bool)) & ~binary_fill_holes(fence)
    mask = mask[margin:margin + ny, margin:margin + nx]
    return mask.reshape(-1) if mask.any() else None


def column_spans(tri, lo, hi, cell, ground, min_slope_normal, seam=None, *, open_below=None, underside=0.05):
    """Solid spans of the layered heightfield, one per (column, span).

    Args:
        tri: (T, 3, 3) float64 triangles [m].
        lo, hi: (2,) xy extent of the grid [m]; cell centres at ``lo + (i + 0.5) * cell``.
        cell: grid cell edge [m].
        ground: floor height where open columns are closed [m].
        min_slope_normal: faces with a smaller normal |z| fraction are not cast against.
        seam: None: a column is inside while more up-facing than down-facing surfaces
            were crossed (clamped count); a height [m]: inside after an up-facing surface,
            outside after a down-facing one, surfaces closer than ``seam`` ordered leaving first.
        open_below: (ny * nx,) bool cells over observed ground (:func:`observed_below`), or None:
            there a span still open at the bottom is closed ``underside`` below its top instead
            of on the ground (a table top is a slab; its legs come from their sides).
        underside: see ``open_below`` [m].

    Returns:
        column (S,) int64 index ``iy * nx + ix``, top (S,) and bottom (S,) float64 [m]
        (unquantised, bottom >= ground), nx, ny.
    """
    edge1 = tri[:, 1] - tri[:, 0]
    edge2 = tri[:, 2] - tri[:, 0]
    normal = np.cross(edge1, edge2)
    length = np.linalg.norm(normal, axis=1)
    keep = np.abs(normal[:, 2]) > min_slope_normal * np.maximum(length, 1e-30)
    tri, up = tri[keep], normal[keep, 2] > 0
    nx = int(np.floor((hi[0] - lo[0]) / cell)) + 1
    ny = int(np.floor((hi[1] - lo[1]) / cell)) + 1
    if tri.shape[0] == 0:  # sides only: no spans, but the grid stays the object's (its wall spans use it)
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), nx, ny

    # Rasterise every triangle's xy projection: cell centres inside it (vectorised over
    # triangles, via each triangle's bounding box of cells).
    tmin = (tri[..., :2].min(axis=1) - lo) / cell - 0.5
    tmax = (tri[..., :2].max(axis=1) - lo) / cell - 0.5
    i0 = np.clip(np.ceil(tmin[:, 0] - 1e-9), 0, nx - 1).astype(np.int64)
    i1 = np.clip(np.floor(tmax[:, 0] + 1e-9), -1, nx - 1).astype(np.int64)
    j0 = np.clip(np.ceil(tmin[:, 1] - 1e-9), 0, ny - 1).astype(np.int64)
    j1 = np.clip(np.floor(tmax[:, 1] + 1e-9), -1, ny - 1).astype(np.int64)
    wi = np.maximum(i1 - i0 + 1, 0)
    wj = np.maximum(j1 - j0 + 1, 0)
    counts = wi * wj
    owner = np.repeat(np.arange(tri.shape[0]), counts)
    local = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    ci = i0[owner] + local % wi[owner]
    cj = j0[owner] + local // wi[owner]
    px = lo[0] + (ci + 0.5) * cell
    py = lo[1] + (cj + 0.5) * cell
    a, b, c = tri[owner, 0], tri[owner, 1], tri[owner, 2]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    u = ((px - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (py - a[:, 1])) / det
    v = ((b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (px - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
    eps = 1e-7
    inside = (u >= -eps) & (v >= -eps) & (u + v <= 1 + eps)
    z = a[:, 2] + u * (b[:, 2] - a[:, 2]) + v * (c[:, 2] - a[:, 2])
    column = (cj * nx + ci)[inside]
    z, hit_up = z[inside], up[owner[inside]]

    # Shared edges are hit by both neighbours: drop duplicates (same column, direction, height).
    order = np.lexsort((z, hit_up, column))
    column, z, hit_up = column[order], z[order], hit_up[order]
    dup = np.zeros(column.size, bool)
    dup[1:] = (column[1:] == column[:-1]) & (hit_up[1:] == hit_up[:-1]) & (np.abs(z[1:] - z[:-1]) < 1e-5)
    column, z, hit_up = column[~dup], z[~dup], hit_up[~dup]

    # Walk each column downwards (z descending; at equal heights, or within one ``seam``
    # of each other, leaving before entering: a leg's top under a table's underside).
    z_key = -z if seam is None else -np.round(z / seam)
    order = np.lexsort((hit_up, z_key, column))
    column, z, hit_up = column[order], z[order], hit_up[order]
    n = column.size
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0), nx, ny
    first = np.ones(n, bool)
    first[1:] = column[1:] != column[:-1]
    last = np.ones(n, bool)
    last[:-1] = first[1:]
    step = np.where(hit_up, 1, -1)
    total = np.cumsum(step)
    start_index = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    running = total - (total[start_index] - step[start_index])  # count within the column
    # Clamp at zero (a stray down-facing surface above must not cancel the object below):
    # x = s - min(0, prefix-min(s)), the prefix minimum restarted per column by a falling offset.
    rank = np.cumsum(first) - 1
    offset = rank * (2 * n + 2)
    prefix_min = np.minimum.accumulate(running - offset) + offset
    depth = running - np.minimum(prefix_min, 0)
    # "count": nested up-facing layers need as many down-facing ones to leave (exact meshes);
    # "state": the last surface crossed decides (reconstructed meshes, whose thin parts
    # come out as doubled layers that would otherwise close every column on the floor).
    inside_after = depth > 0 if seam is None else hit_up
    inside_before = np.zeros(n, bool)
    inside_before[1:] = inside_after[:-1]
    inside_before[first] = False

    enters = inside_after & ~inside_before
    leaves = ~inside_after & inside_before
    tops_col, tops_z = column[enters], z[enters]
    open_bottom = inside_after & last
    ends_col = np.concatenate([column[leaves], column[open_bottom]])
    ends_z = np.concatenate([z[leaves], np.full(int(open_bottom.sum()), ground)])
    order = np.lexsort((-ends_z, ends_col))
    ends_col, ends_z = ends_col[order], ends_z[order]
    bottom = np.maximum(ends_z, ground)
    if open_below is not None:
        # Tops and ends pair up in order (each column's spans, topmost first).
        over = open_below[tops_col]
        on_ground = over & (bottom <= ground + 1e-9)
        # Where the reconstruction did close some of these tops from below (a table top's blurred
        # rim), the slab is as thick as most of them (so it and its rim make one box); else ``underside``.
        seen = over & ~on_ground & (tops_z - bottom < 10 * underside)
        thickness = float(np.percentile(tops_z[seen] - bottom[seen], 90)) if seen.sum() >= 10 else underside
        bottom = np.where(on_ground, np.maximum(bottom, tops_z - max(thickness, underside)), bottom)
    return tops_col, tops_z, bottom, nx, ny


def merge_spans(iy, ix, top, bottom, lo, cell):
    """(B, 2, 3) boxes from cell spans: runs along x of equal spans, then stacks along y of equal runs."""
    order = np.lexsort((ix, bottom, top, iy))
    iy, ix, top, bottom = iy[order], ix[order], top[order], bottom[order]
    new = np.ones(iy.size, bool)
    new[1:] = (iy[1:] != iy[:-1]) | (top[1:] != top[:-1]) | (bottom[1:] != bottom[:-1]) | (ix[1:] != ix[:-1] + 1)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], iy.size) - 1
    r_y, r_x0, r_x1, r_top, r_bot = iy[starts], ix[starts], ix[ends], top[starts], bottom[starts]
    order = np.lexsort((r_y, r_bot, r_top, r_x1, r_x0))
    r_y, r_x0, r_x1, r_top, r_bot = r_y[order], r_x0[order], r_x1[order], r_top[order], r_bot[order]
    new = np.ones(r_y.size, bool)
    new[1:] = ((r_x0[1:] != r_x0[:-1]) | (r_x1[1:] != r_x1[:-1]) | (r_top[1:] != r_top[:-1])
               | (r_bot[1:] != r_bot[:-1]) | (r_y[1:] != r_y[:-1] + 1))
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], r_y.size) - 1
    box_lo = np.column_stack([lo[0] + r_x0[starts] * cell, lo[1] + r_y[starts] * cell, r_bot[starts]])
    box_hi = np.column_stack([lo[0] + (r_x1[starts] + 1) * cell, lo[1] + (r_y[ends] + 1) * cell, r_top[starts]])
    return np.stack([box_lo, box_hi], axis=1)

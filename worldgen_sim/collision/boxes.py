"""Box fits of furniture in its own frame: the fast path tried before CoACD.

Most furniture is a few boxes (a table is a top and four legs, a cabinet or a sofa
block is one). A reconstructed (TSDF) surface hides that under noise, rounded edges
and, when the object is not aligned with the world axes, a staircase of grid
cells that makes CoACD slow (tens of seconds, sometimes a crash). So each object
is first turned into its own frame (the dominant direction of its side faces, else
its footprint's smallest bounding rectangle), closed into vertical solid spans on
an xy grid (as in :mod:`.solidify`; sides seen without a top add wall spans), the
span tops and bottoms snapped to a few dominant heights (within
``height_tolerance``), and the cells of each (top, bottom) class, with those of the
classes within 1.5 ``height_tolerance`` of it (one top cut by snapping), covered
greedily by the largest rectangles; each box side then moves out, to a fraction of a
cell, to where the solid's cells put the outline. When a few boxes cover the spans
(seams and a ragged rim excepted), those boxes are the hulls; otherwise the caller
decomposes the solid with CoACD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class BoxFit:
    """Boxes covering an object.

    Attributes:
        boxes: (B, 2, 3) float64 min/max corners in the object frame [m].
        yaw: rotation about z from the object frame to the world frame [rad].
        span_volume: volume of the object's solid spans (heights snapped) [m^3].
        covered: fraction of ``span_volume`` inside the boxes.
        cell: grid cell used [m].
        inside: fraction of ``span_volume`` geometrically inside the boxes (no rim tolerance).
        box_volume: summed volume of the boxes [m^3] (overlaps counted twice: boxes inscribed in a round
            outline overlap where their sides move out to it).
        hull: (H, 3) float64 object-frame vertices of the convex hull of the spans' cell centres at their
            tops and bottoms [m] (the alternative to the boxes for a round object), or None.
        hull_volume: that hull's volume [m^3] (0 without one).
    """

    boxes: np.ndarray
    yaw: float
    span_volume: float
    covered: float
    cell: float
    inside: float = 1.0
    box_volume: float = 0.0
    hull: np.ndarray | None = None
    hull_volume: float = 0.0

    def world_hull(self) -> np.ndarray | None:
        """(H, 3) float64 hull vertices (:attr:`hull`) in the world frame [m], or None."""
        return None if self.hull is None else rotate_z(self.hull, self.yaw)

    def world_corners(self) -> np.ndarray:
        """(B, 8, 3) float64 box corners in the world frame [m]."""
        lo, hi = self.boxes[:, 0], self.boxes[:, 1]
        pick = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], bool)  # (8, 3) hi or lo
        corners = np.where(pick[None], hi[:, None, :], lo[:, None, :])
        return rotate_z(corners.reshape(-1, 3), self.yaw).reshape(-1, 8, 3)


def rotate_z(points: np.ndarray, angle: float) -> np.ndarray:
    """(N, 3) points rotated by ``angle`` [rad] about the z axis."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.array(points, np.float64, copy=True)
    out[:, 0] = c * points[:, 0] - s * points[:, 1]
    out[:, 1] = s * points[:, 0] + c * points[:, 1]
    return out


def footprint_yaw(xy: np.ndarray) -> float:
    """Yaw in [0, pi/2) [rad] of the smallest-area rectangle around (N, 2) points [m].

    The smallest rectangle has a side along an edge of the convex hull, so only the
    hull edges' directions are tried.
    """
    from scipy.spatial import ConvexHull, QhullError

    xy = np.asarray(xy, np.float64)
    try:
        corners = xy[ConvexHull(xy).vertices]
    except (QhullError, ValueError):
        return 0.0
    edges = np.roll(corners, -1, axis=0) - corners
    angles = np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2)
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    u = c * corners[None, :, 0] + s * corners[None, :, 1]  # (A, P) along the candidate axis
    v = -s * corners[None, :, 0] + c * corners[None, :, 1]
    area = np.ptp(u, axis=1) * np.ptp(v, axis=1)
    return float(angles[int(np.argmin(area))])


def side_yaw(vertices: np.ndarray, faces: np.ndarray, *, max_normal_z: float = 0.3) -> float | None:
    """Yaw in (-pi/4, pi/4] [rad] of the dominant wall directions of an object's side faces.

    The area-weighted circular mean of four times the side normals' azimuth: sides at
    right angles agree, noise averages out (steadier than a hull's edges on a rough
    reconstruction). None when the object has (almost) no side faces.
    """
    tri = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area
    length = np.linalg.norm(normal, axis=1)
    side = np.abs(normal[:, 2]) < max_normal_z * np.maximum(length, 1e-30)
    if length[side].sum() < 1e-3 * max(length.sum(), 1e-30) or not side.any():
        return None
    azimuth = np.arctan2(normal[side, 1], normal[side, 0])
    mean = np.sum(length[side] * np.exp(4j * azimuth))
    if abs(mean) < 0.2 * length[side].sum():
        return None  # round or irregular: no dominant direction
    return float(np.angle(mean) / 4.0)


def snap_heights(values: np.ndarray, *, tolerance: float, step: float = 0.005) -> np.ndarray:
    """Each value replaced by the most common height (``step`` bins) within ``tolerance`` of it [m].

    Greedy: the most frequent height takes every value within ``tolerance``, then the
    most frequent of the rest, and so on (a loop over clusters, a handful per object).
    """
    values = np.asarray(values, np.float64)
    if values.size == 0:
        return values
    bins, inverse, counts = np.unique(np.round(values / step).astype(np.int64), return_inverse=True,
                                      return_counts=True)
    heights = bins * step
    # The mode's true mean height, not its bin centre: keeps tops to within a millimetre.
    means = np.bincount(inverse, weights=values) / counts
    snapped = np.full(bins.size, np.nan)
    remaining = np.ones(bins.size, bool)
    while remaining.any():
        mode = int(np.argmax(np.where(remaining, counts, -1)))
        members = remaining & (np.abs(heights - heights[mode]) <= tolerance)
        snapped[members] = means[mode]
        remaining &= ~members
    return snapped[inverse]


def largest_rectangle(mask: np.ndarray) -> tuple[int, int, int, int, int]:
    """Largest all-true axis-aligned rectangle of a (ny, nx) bool mask: (area, row0, row1, col0, col1), inclusive."""
    ny, nx = mask.shape
    rows = np.arange(ny)[:, None]
    last_false = np.maximum.accumulate(np.where(mask, -1, rows), axis=0)
    run = rows - last_false  # (ny, nx) consecutive trues ending at each row
    best = (0, 0, -1, 0, -1)
    window = run.copy()
    tallest = int(run.max()) if run.size else 0
    for width in range(1, nx + 1):
        if width > 1:
            window = np.minimum(window[:, :-1], run[:, width - 1:])  # min of run over `width` columns
        if tallest * width > best[0] or width == 1:
            k = int(np.argmax(window))
            row, col = divmod(k, window.shape[1])
            area = int(window[row, col]) * width
            if area > best[0]:
                best = (area, row - int(window[row, col]) + 1, row, col, col + width - 1)
        if window.size == 0 or int(window.max()) * nx <= best[0]:
            break
    return best


def fit_boxes(
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    ground_height: float,
    cell: float,
    height_tolerance: float,
    max_boxes: int,
    min_box_cells: int = 2,
    max_cells: int = 60_000,
    min_slope_normal: float = 0.2,
    seam: float | None = 0.01,
    target_cover: float = 0.98,
    rim_width: float = 0.04,
    min_gain: float = 0.004,
    ground_triangles: np.ndarray | None = None,
    underside: float = 0.05,
    max_interior: float = 0.0,
) -> BoxFit | None:
    """Cover an object's solid with at most ``max_boxes`` boxes in its own frame.

    Args:
        vertices: (V, 3) float world-frame surface vertices [m] (Z-up).
        faces: (F, 3) int triangles.
        ground_height: floor height where open columns are closed [m].
        cell: xy grid cell [m]; grows so the footprint holds at most ``max_cells`` cells.
        height_tolerance: span tops and bottoms within this of a dominant height take it [m].
        max_boxes: most boxes kept (the largest by volume).
        min_box_cells: rectangles of fewer cells are not made into boxes.
        max_cells: footprint cell budget.
        min_slope_normal: see :func:`worldgen_sim.collision.solidify.solidify`.
        seam: see :func:`worldgen_sim.collision.solidify.column_spans` [m].
        target_cover: boxes are added, largest first, until they cover this fraction
            of the span volume (within ``rim_width`` of a box's footprint).
        rim_width: a reconstruction's ragged rim: spans this close to a box (and within its
            heights, give or take 1.5 ``height_tolerance``) count as covered [m].
        min_gain: boxes stop when the next one adds less than this fraction of the volume.
        ground_triangles: (G, 3, 3) world-frame triangles of the ground observed under the
            object [m], or None; tops over it are closed ``underside`` below themselves
            (:func:`worldgen_sim.collision.solidify.observed_below`).
        underside: see ``ground_triangles`` [m].
        max_interior: unseen interiors enclosed by sides up to this area are solid (:func:`solid_spans`) [m^2].

    Returns:
        The fit (check ``covered``), or None when the object has no solid spans.
    """
    yaw, tri, lo, hi = object_frame(vertices, faces)
    cell = max(cell, float(np.sqrt(np.prod(np.maximum(hi - lo, 1e-9)) / max_cells)))
    spans = solid_spans(tri, lo, hi, cell, ground_height, height_tolerance, min_slope_normal, seam,
                        ground_triangles=local_triangles(ground_triangles, yaw), underside=underside,
                        max_interior=max_interior)
    spans = _snapped(spans, ground_height, height_tolerance, rim_width)
    if spans is None:
        return None
    column, pairs, label, nx, ny = spans
    thickness = pairs[:, 0] - pairs[:, 1]
    rim_tolerance = 1.5 * height_tolerance
    # Classes whose heights agree within the rim tolerance are one surface to a box: snapping
    # cuts a continuous top (a reconstruction's few-centimetre bulge) at the edge of its
    # tolerance window, and boxes built per class would leave notches along the cut.
    compatible = _compatible_classes(pairs, rim_tolerance)
    # Spans one cell wide among their compatible classes are the reconstruction's seams (a top
    # and an underside that miss each other by a millimetre at a rim): they neither count
    # towards the volume to cover nor become boxes.
    robust = _robust_spans(column, label, compatible, nx, ny)
    if not robust.any():
        robust[:] = True
    span_volume = float(thickness[label[robust]].sum() * cell * cell)
    rects = _rectangles(column, label, robust, compatible, thickness, nx, ny, cell, max_boxes, min_box_cells)
    if not rects:
        return None
    kept, covered = _choose_boxes(rects, column, label, robust, pairs, nx, cell, span_volume, max_boxes,
                                  target_cover, rim_width, rim_tolerance, min_gain)
    info = np.asarray([r[1:] for r in kept], np.int64)
    k, r0, r1, c0, c1 = info.T
    grow = _edge_extensions(info, column, label, compatible, nx, ny, max(1, round(rim_width / cell)))
    box_lo = np.column_stack([lo[0] + (c0 - grow[:, 0]) * cell, lo[1] + (r0 - grow[:, 2]) * cell, pairs[k, 1]])
    box_hi = np.column_stack([lo[0] + (c1 + 1 + grow[:, 1]) * cell, lo[1] + (r1 + 1 + grow[:, 3]) * cell, pairs[k, 0]])
    boxes = np.stack([box_lo, box_hi], axis=1)
    span_lo = np.column_stack([lo[0] + (column[robust] % nx) * cell, lo[1] + (column[robust] // nx) * cell])
    span_z = pairs[label[robust]][:, ::-1]  # (S, 2) bottom, top
    inside = _inside_boxes(span_lo, span_z, cell, boxes) / max(span_volume, 1e-30)
    hull, hull_volume = _span_hull(span_lo + 0.5 * cell, span_z)
    return BoxFit(boxes, yaw, span_volume, min(covered, 1.0), cell, min(inside, 1.0),
                  float(np.prod(boxes[:, 1] - boxes[:, 0], axis=1).sum()), hull, hull_volume)


def _inside_boxes(span_lo, span_z, cell, boxes):
    """Volume [m^3] of spans (cells from (S, 2) xy corners ``span_lo``, (S, 2) bottom/top ``span_z``) inside
    (B, 2, 3) boxes: exact overlap per (span, box) pair, at most the span's own volume per span."""
    span_min = np.column_stack([span_lo, span_z[:, 0]])[:, None, :]  # (S, 1, 3)
    span_max = np.column_stack([span_lo + cell, span_z[:, 1]])[:, None, :]
    overlap = np.clip(np.minimum(span_max, boxes[None, :, 1]) - np.maximum(span_min, boxes[None, :, 0]), 0.0, None)
    own = cell * cell * (span_z[:, 1] - span_z[:, 0])
    return float(np.minimum(np.prod(overlap, axis=2).sum(axis=1), own).sum())


def _span_hull(centres, span_z):
    """The convex hull of spans' (S, 2) cell centres at their (S, 2) bottoms and tops: (H, 3) vertices and
    volume [m^3], or (None, 0.0) when degenerate. Centres, not cell corners: the outline lies between the
    outermost centres and half a cell beyond them, and a hull through the corners would add that half cell
    all round as phantom."""
    from scipy.spatial import ConvexHull, QhullError

    points = np.concatenate([np.column_stack([centres, span_z[:, 0]]), np.column_stack([centres, span_z[:, 1]])])
    try:
        hull = ConvexHull(points)
    except (QhullError, ValueError):
        return None, 0.0
    return points[hull.vertices], float(hull.volume)


def object_frame(vertices: np.ndarray, faces: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """An object's own frame: yaw [rad], (F, 3, 3) float64 triangles turned by -yaw, xy lo (2,) and hi (2,) [m].

    The yaw is the dominant direction of its side faces, else its footprint's smallest rectangle.
    """
    vertices = np.asarray(vertices, np.float64)
    yaw = side_yaw(vertices, faces)
    if yaw is None:
        yaw = footprint_yaw(vertices[:, :2])
    local = rotate_z(vertices, -yaw)
    return yaw, local[np.asarray(faces, np.int64)], local[:, :2].min(axis=0), local[:, :2].max(axis=0)


def local_triangles(triangles: np.ndarray | None, yaw: float) -> np.ndarray | None:
    """(G, 3, 3) world-frame triangles turned into an object's frame (by ``-yaw``), or None."""
    if triangles is None or len(triangles) == 0:
        return None
    flat = np.asarray(triangles, np.float64).reshape(-1, 3)
    return rotate_z(flat, -yaw).reshape(-1, 3, 3)


def solid_spans(tri, lo, hi, cell, ground, tolerance, min_slope_normal=0.2, seam=0.01, *, ground_triangles=None,
                underside=0.05, max_interior=0.0):
    """Solid spans of an object on an xy grid: layered-heightfield spans plus wall spans.

    Wall spans (:func:`_wall_spans`) close sides seen without a top; those next to a
    column span covering their heights are dropped. ``ground_triangles`` (object frame) are
    the ground observed under the object: tops over it are slabs ``underside`` thick
    (:func:`worldgen_sim.collision.solidify.observed_below`). An interior enclosed by wall spans,
    with no surface seen in it and at most ``max_interior`` [m^2] in area, is filled
    (:func:`_enclosed_interiors`: a trunk seen only from its sides). Returns column (S,) int64, top (S,),
    bottom (S,) float64 [m], nx, ny as :func:`worldgen_sim.collision.solidify.column_spans`.
    """
    from worldgen_sim.collision.solidify import column_spans, observed_below

    open_below = observed_below(ground_triangles, lo, hi, cell, object_triangles=tri, ground=ground)
    column, top, bottom, nx, ny = column_spans(tri, lo, hi, cell, ground, min_slope_normal, seam=seam,
                                               open_below=open_below, underside=underside)
    wall_column, wall_top, wall_bottom = _wall_spans(tri, lo, cell, nx, ny, ground, tolerance, min_slope_normal)
    # Over observed ground, sides hanging from a top without reaching the ground are the top's
    # blurred edge (a table top's rim), not walls: a column span's top beside them explains them.
    hanging = np.zeros(wall_column.size, bool)
    if open_below is not None:
        hanging = open_below[wall_column] & (wall_bottom > ground + tolerance)
    keep = ~_explained(wall_column, wall_top, wall_bottom, column, top, bottom, nx, ny, tolerance, hanging)
    wall_column, wall_top, wall_bottom = wall_column[keep], wall_top[keep], wall_bottom[keep]
    fill_column, fill_top, fill_bottom = _enclosed_interiors(wall_column, wall_top, wall_bottom, column, nx, ny,
                                                             max_interior / (cell * cell))
    return (np.concatenate([column, wall_column, fill_column]), np.concatenate([top, wall_top, fill_top]),
            np.concatenate([bottom, wall_bottom, fill_bottom]), nx, ny)


def enclosed_spans(tri, lo, cell, nx, ny, ground, column, max_interior, min_slope_normal=0.2, tolerance=0.02):
    """Spans of the unseen interiors enclosed by an object's sides, with their rings of sides, for a solid
    built from layered-heightfield spans ``column`` alone (:func:`worldgen_sim.collision.solidify.solidify`):
    a trunk seen only from around it becomes a solid post, not a tube. Objects with a seen top or bottom
    inside their sides get nothing. Returns column (S,), top (S,), bottom (S,) [m] as :func:`solid_spans`."""
    wall_column, wall_top, wall_bottom = _wall_spans(tri, lo, cell, nx, ny, ground, tolerance, min_slope_normal)
    return _enclosed_interiors(wall_column, wall_top, wall_bottom, column, nx, ny, max_interior / (cell * cell),
                               with_ring=True)


def _enclosed_interiors(wall_column, wall_top, wall_bottom, column, nx, ny, max_cells, *, with_ring=False):
    """Spans filling the unseen interiors enclosed by wall spans, each of at most ``max_cells`` cells.

    An object seen only from its sides (a trunk taller than every camera) leaves a ring of wall spans
    around nothing: no surface was seen inside, so nothing says it is hollow, and a robot cannot get
    into a small enclosure anyway; it is solid to the ring's median height. A larger enclosure (an
    unlidded cabinet, a bin) stays open: filling it would put a block where the space may be free.
    An interior with any surface seen in it (the bottom of an open box) stays as seen. Returns
    column (S,), top (S,), bottom (S,) for the filled cells (median of the ring's tops and bottoms), and
    with ``with_ring`` the ring's own wall spans too.
    """
    from scipy.ndimage import binary_fill_holes, grey_dilation, label

    empty = np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    if wall_column.size == 0 or max_cells < 1:
        return empty
    walls = np.zeros(ny * nx, bool)
    walls[wall_column] = True
    walls = walls.reshape(ny, nx)
    holes, count = label(binary_fill_holes(walls) & ~walls)
    if count == 0:
        return empty
    holes = holes.reshape(-1)
    area = np.bincount(holes, minlength=count + 1)
    seen = np.bincount(holes[column], minlength=count + 1) > 0 if column.size else np.zeros(count + 1, bool)
    fill = (area <= max_cells) & ~seen
    fill[0] = False
    if not fill.any():
        return empty
    # Each wall cell takes the label of the interior it borders (3x3), so the ring's heights are known.
    ring = grey_dilation(holes.reshape(ny, nx), size=(3, 3)).reshape(-1)[wall_column]
    heights = []
    for values in (wall_top, wall_bottom):
        order = np.lexsort((values, ring))
        labels, sorted_values = ring[order], values[order]
        start = np.searchsorted(labels, np.arange(count + 1))
        end = np.searchsorted(labels, np.arange(count + 1), side="right")
        median = np.where(end > start, sorted_values[np.clip((start + end) // 2, 0, max(labels.size - 1, 0))], np.nan)
        heights.append(median)
    top, bottom = heights
    cells = np.flatnonzero(fill[holes] & np.isfinite(top[holes]) & (top[holes] > bottom[holes]))
    out = cells.astype(np.int64), top[holes[cells]], bottom[holes[cells]]
    if with_ring:
        ring_walls = fill[ring]
        out = (np.concatenate([out[0], wall_column[ring_walls]]), np.concatenate([out[1], wall_top[ring_walls]]),
               np.concatenate([out[2], wall_bottom[ring_walls]]))
    return out


def _snapped(spans, ground, tolerance, rim_width):
    """Spans with tops and bottoms snapped to dominant heights, grouped into (top, bottom) classes.

    Returns column (S,), pairs (K, 2) of (top, bottom), label (S,) into pairs, nx, ny; or None.
    """
    column, top, bottom, nx, ny = spans
    if column.size == 0:
        return None
    order = np.lexsort((-top, column))  # column by column, topmost first
    column, top, bottom = column[order], top[order], bottom[order]
    bottom = np.where(bottom <= ground + tolerance, ground, bottom)
    top = snap_heights(top, tolerance=tolerance)
    bottom = snap_heights(bottom, tolerance=tolerance)
    good = top > bottom + 1e-6
    if top.max() - ground > 5 * rim_width:
        # A tall object's foot: reconstruction rounds the corner between floor and object
        # into a low skirt around it, which no one can tell from the floor.
        good &= top > ground + rim_width
    column, top, bottom = column[good], top[good], bottom[good]
    if column.size == 0:
        return None
    pairs, label = np.unique(np.column_stack([top, bottom]), axis=0, return_inverse=True)
    return column, pairs, label.reshape(-1), nx, ny


def _compatible_classes(pairs, tolerance):
    """(K, K) bool: (top, bottom) classes whose tops and bottoms both agree within ``tolerance`` [m]."""
    return ((np.abs(pairs[:, None, 0] - pairs[None, :, 0]) <= tolerance + 1e-9)
            & (np.abs(pairs[:, None, 1] - pairs[None, :, 1]) <= tolerance + 1e-9))


def _rectangles(column, label, robust, compatible, thickness, nx, ny, cell, max_boxes, min_box_cells):
    """Candidate boxes, largest volume first: (volume, label, row0, row1, col0, col1) per rectangle.

    Classes are taken largest volume first; each covers greedily, with its largest rectangles, the
    cells of the robust spans of its own and its ``compatible`` classes that no earlier rectangle took.
    """
    rects = []
    taken = np.zeros(column.size, bool)
    row, col = column // nx, column % nx
    for k in np.argsort(-np.bincount(label[robust], weights=thickness[label[robust]], minlength=thickness.size),
                        kind="stable"):
        members = robust & compatible[k][label] & ~taken
        if not (members & (label == k)).any():
            continue
        mask = np.zeros(ny * nx, bool)
        mask[column[members]] = True
        mask = mask.reshape(ny, nx)
        for _ in range(max_boxes):
            area, r0, r1, c0, c1 = largest_rectangle(mask)
            if area < min_box_cells:
                break
            rects.append((area * cell * cell * thickness[k], k, r0, r1, c0, c1))
            mask[r0:r1 + 1, c0:c1 + 1] = False
            taken |= members & (row >= r0) & (row <= r1) & (col >= c0) & (col <= c1)
    rects.sort(key=lambda r: -r[0])
    return rects


def _edge_extensions(info, column, label, compatible, nx, ny, max_steps):
    """(B, 4) float cells each box's -x, +x, -y, +y side moves out to reach the solid's outline.

    A rectangle of whole cells stops at the innermost cell of a ragged edge (a reconstruction's
    sides wander by a few millimetres, and a cell's centre is either in or out), up to a cell
    inside the true outline along a whole side. Each side moves out by the fraction of the next
    row of cells (along the side's length) holding a span of a compatible class, row after row
    while a row is at least half full, at most ``max_steps`` rows: the side lands where the solid's
    cells say the outline is, to a fraction of a cell, without reaching into what the rows lack.
    """
    grow = np.zeros((info.shape[0], 4))
    grids: dict[int, np.ndarray] = {}
    for b, (k, r0, r1, c0, c1) in enumerate(info):  # a loop over boxes and their four sides
        if k not in grids:
            grid = np.zeros(ny * nx, bool)
            grid[column[compatible[k][label]]] = True
            grids[k] = np.pad(grid.reshape(ny, nx), max_steps)  # rows beyond the grid are empty
        grid, m = grids[k], max_steps
        r0, r1, c0, c1 = r0 + m, r1 + m + 1, c0 + m, c1 + m + 1  # padded, end-exclusive
        sides = (grid[r0:r1, c0 - m:c0].mean(axis=0)[::-1], grid[r0:r1, c1:c1 + m].mean(axis=0),
                 grid[r0 - m:r0, c0:c1].mean(axis=1)[::-1], grid[r1:r1 + m, c0:c1].mean(axis=1))
        for side, full in enumerate(sides):  # each: the fullness of the rows outside it, nearest first
            reach = int(np.argmax(full < 0.5)) if (full < 0.5).any() else m - 1
            grow[b, side] = float(full[:reach + 1].sum())
    return grow


def _choose_boxes(rects, column, label, robust, pairs, nx, cell, span_volume, max_boxes, target_cover,
                  rim_width, rim_tolerance, min_gain):
    """The boxes kept, largest first, and the fraction of the span volume they cover.

    A span is covered when it lies within a rim width of a box's footprint and within its
    heights (give or take ``rim_tolerance``: rounded edges sag): a reconstruction's ragged
    rim is not worth boxes of its own, probes and robots meet the box next to it. Boxes are
    taken until ``target_cover`` is reached or the next adds less than ``min_gain``.
    """
    thickness = pairs[:, 0] - pairs[:, 1]
    span_cell_volume = thickness[label] * cell * cell
    span_row, span_col = column // nx, column % nx
    span_top, span_bottom = pairs[label, 0], pairs[label, 1]
    grow = max(1, round(rim_width / cell))
    is_covered = np.zeros(column.size, bool)
    kept: list[tuple] = []
    covered = 0.0
    for rect in rects[:max_boxes]:  # a loop over boxes
        _, k, r0, r1, c0, c1 = rect
        is_covered |= ((span_row >= r0 - grow) & (span_row <= r1 + grow) & (span_col >= c0 - grow)
                       & (span_col <= c1 + grow) & (span_top <= pairs[k, 0] + rim_tolerance)
                       & (span_bottom >= pairs[k, 1] - rim_tolerance))
        now = float(span_cell_volume[is_covered & robust].sum()) / max(span_volume, 1e-30)
        if kept and now - covered < min_gain:
            break  # the rest are slivers of the reconstruction's side walls
        kept.append(rect)
        covered = now
        if covered >= target_cover:
            break
    return kept, covered


def _wall_spans(tri, lo, cell, nx, ny, ground, tolerance, min_slope_normal):
    """Spans of the cells crossed by side faces: from the lowest to the highest side-face point.

    A side seen without its top (a tall cabinet's front, under a top the camera never
    saw) closes no column; without these spans a robot would walk through it. Spans
    reaching within ``tolerance`` of the ground stand on it. Returns column (S,),
    top (S,), bottom (S,) as :func:`worldgen_sim.collision.solidify.column_spans`.
    """
    from worldgen_sim.collision.mesh_ops import sample_triangles

    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normal, axis=1)
    side = (np.abs(normal[:, 2]) <= min_slope_normal * length) & (length > 1e-12)
    if not side.any():
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    points, _ = sample_triangles(tri[side], 0.5 * cell)
    ix = np.floor((points[:, 0] - lo[0]) / cell).astype(np.int64)
    iy = np.floor((points[:, 1] - lo[1]) / cell).astype(np.int64)
    ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    cells = iy[ok] * nx + ix[ok]
    z = points[ok, 2]
    columns, inverse = np.unique(cells, return_inverse=True)
    top = np.full(columns.size, -np.inf)
    bottom = np.full(columns.size, np.inf)
    np.maximum.at(top, inverse, z)
    np.minimum.at(bottom, inverse, z)
    bottom = np.where(bottom <= ground + tolerance, ground, bottom)
    keep = top > bottom + tolerance  # a wall, not the edge of a slab seen edge-on
    return columns[keep], top[keep], np.maximum(bottom[keep], ground)


def _robust_spans(column, label, compatible, nx, ny):
    """(S,) bool: spans whose cell survives a 3x3 opening of the cell mask of their ``compatible`` classes."""
    from scipy.ndimage import binary_opening

    robust = np.zeros(column.size, bool)
    structure = np.ones((3, 3), bool)
    for k in range(compatible.shape[0]):  # a loop over (top, bottom) classes
        members = np.flatnonzero(label == k)
        if members.size == 0:
            continue
        mask = np.zeros(ny * nx, bool)
        mask[column[compatible[k][label]]] = True
        if mask.sum() < 9:
            continue
        opened = binary_opening(mask.reshape(ny, nx), structure=structure).reshape(-1)
        robust[members] = opened[column[members]]
    return robust


def _explained(wall_column, wall_top, wall_bottom, column, top, bottom, nx, ny, tolerance, top_only=None):
    """(W,) bool: wall spans next to (within one cell of) a column span covering their heights
    (for ``top_only`` (W,) bool spans: reaching their top is enough).

    A block's sides cross the cells along its edge; those are already closed by the
    block's own spans and must not widen it by a cell (a 5 cm table leg would double).
    """
    if wall_column.size == 0 or column.size == 0:
        return np.zeros(wall_column.size, bool)
    grid_top = np.full((ny + 2) * (nx + 2), -np.inf)
    grid_bottom = np.full((ny + 2) * (nx + 2), np.inf)
    padded = (column // nx + 1) * (nx + 2) + column % nx + 1
    np.maximum.at(grid_top, padded, top)  # the cell's extent over all its spans
    np.minimum.at(grid_bottom, padded, bottom)
    wall_padded = (wall_column // nx + 1) * (nx + 2) + wall_column % nx + 1
    explained = np.zeros(wall_column.size, bool)
    for offset in (0, -1, 1, -(nx + 2), nx + 2, -(nx + 3), -(nx + 1), nx + 1, nx + 3):
        neighbour = wall_padded + offset
        reaches_top = grid_top[neighbour] >= wall_top - tolerance
        explained |= reaches_top & (grid_bottom[neighbour] <= wall_bottom + tolerance)
        if top_only is not None:
            explained |= reaches_top & top_only
    return explained

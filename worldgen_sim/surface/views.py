"""Cameras to render the Gaussians from before fusion.

Either the input's own camera path (what the generator looked at, so every
surface it made is seen) rescaled to the render resolution, or views placed
automatically inside the scene's free space: standing positions on a grid over
the floor footprint at eye heights, kept where no Gaussian is near and something
observed lies below (a position beside a room, in the corner of its bounding box,
sees the walls from behind), each looking around in several yaws and two pitches
(down at the floor and furniture, up at the walls and ceiling).

Eye heights cannot look down on what is taller (the top of a wardrobe, a shelf,
a platform): an upward-facing surface is fused only from a view above it. So the
upward surfaces the Gaussians show are found (flat Gaussians whose normal is
vertical, with free space of the views' region right above them), those no eye
position looks down on are collected, and "top views" are added: positions in
the same free space (below any ceiling, clear of every Gaussian) chosen greedily
to look down on the most of them, each aimed at what it covers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from worldgen_sim.artifacts import CameraPath, GaussianCloud
from worldgen_sim.errors import WorldgenError

log = logging.getLogger(__name__)

EYE_HEIGHTS = (1.6, 1.2)
"""Heights of automatically placed views above the floor [m]; alternated over positions."""
YAWS_PER_POSITION = 4
PITCHES_DEG = (-35.0, 15.0)
"""Pitch of the views at each position [deg]; negative looks down."""
FREE_RADIUS = 0.35
"""A view position needs no Gaussian centre within this distance [m]."""
GRID_STEP = 0.25
"""Spacing of candidate positions over the footprint [m]."""
TOP_MIN_DEPRESSION_DEG = 20.0
"""An upward surface counts as seen from a position at least this far above its horizon [deg]: flatter
views fuse it from a few grazing pixels."""
EYE_MAX_DEPRESSION_DEG = 70.0
"""Steepest look down an eye position's views cover [deg] (pitch -35 deg, ~74 deg vertical field of view)."""
TOP_VIEW_RANGE = 4.0
"""An upward surface counts as seen from positions within this distance [m] (a 320 px, 90 deg view's pixel
is 2 cm, the default voxel, at 3.5 m)."""
TOP_RISES = np.arange(0.3, 1.31, 0.2)
"""Heights above the unseen upward surfaces at which top-view positions are tried [m]."""
TOP_MIN_CELLS = 4
"""A top view is added only when it looks down on at least this many unseen upward cells of the grid."""
TOP_MIN_POINTS = 3
"""An upward surface cell holds at least this many upward-facing Gaussians (a lone floater is not one)."""
FLAT_RATIO = 0.5
"""A Gaussian whose shortest axis is under this fraction of its middle one is a surface element with a normal."""
UP_COS = float(np.cos(np.radians(30.0)))
"""A surface element faces up (or down) when its normal is within 30 deg of vertical."""
TOP_MAX_CELLS = 1024
TOP_MAX_PAIRS = 2_000_000
"""Bounds on the top-view search in a large scene: at most this many unseen cells (an even subset) and
candidate positions x cells pairs (an even subset of the candidates)."""


def rescale_cameras(cameras: CameraPath, *, width: int, max_views: int) -> CameraPath:
    """The input camera path at ``width`` pixels wide (aspect kept), evenly subsampled to ``max_views``.

    Args:
        cameras: the input's cameras in the world frame.
        width: render width [px]; the height follows the input aspect ratio.
        max_views: keep at most this many, spread evenly along the path.
    """
    count = len(cameras)
    if count == 0:
        raise WorldgenError("the scene's camera path holds no cameras")
    keep = np.unique(np.linspace(0, count - 1, min(count, max(max_views, 1))).round().astype(int))
    factor = width / float(cameras.width)
    height = max(1, round(cameras.height * factor))
    intrinsics = np.array(cameras.intrinsics[keep], np.float64)
    # Pixel centres sit at +0.5: scale about the image corner, not pixel (0, 0)'s centre.
    intrinsics[:, 0, :] *= factor
    intrinsics[:, 1, :] *= height / float(cameras.height)
    intrinsics[:, 0, 2] = (cameras.intrinsics[keep, 0, 2] + 0.5) * factor - 0.5
    intrinsics[:, 1, 2] = (cameras.intrinsics[keep, 1, 2] + 0.5) * height / float(cameras.height) - 0.5
    intrinsics[:, 2, :] = (0.0, 0.0, 1.0)
    return CameraPath(intrinsics, np.array(cameras.cam_to_world[keep], np.float64), int(width), int(height))


def place_views(
    gaussians: GaussianCloud,
    *,
    num_views: int,
    width: int,
    height: int,
    fov_deg: float,
    min_opacity: float = 0.1,
    top_views: int = 8,
) -> CameraPath:
    """Views placed automatically inside the free space of a Z-up, floor-at-0 scene.

    Candidate positions form a grid over the footprint (1st-99th percentile of
    the opaque Gaussians' x, y) at :data:`EYE_HEIGHTS` (capped below the
    ceiling); those with a Gaussian within :data:`FREE_RADIUS` or with no Gaussian
    below them (within their :data:`GRID_STEP` cell) are rejected and
    ``num_views / (yaws x pitches)`` positions are picked by farthest-point
    sampling, starting next to the footprint's centre. Then up to ``top_views``
    views look down on the upward surfaces no eye position sees
    (:func:`_top_views`). Deterministic.

    Args:
        gaussians: the scene in the world frame.
        num_views: total views wanted (rounded up to whole positions).
        width: image width [px].
        height: image height [px].
        fov_deg: horizontal field of view [deg].
        min_opacity: Gaussians fainter than this do not count as scene or obstacles.
        top_views: at most this many extra views of upward surfaces above the eye heights; 0: none.

    Raises:
        WorldgenError: no opaque Gaussian, or no free position inside the footprint.
    """
    from scipy.spatial import cKDTree

    opaque = gaussians.positions[gaussians.opacities >= min_opacity].astype(np.float64)
    if opaque.shape[0] == 0:
        raise WorldgenError(f"the scene has no Gaussian with opacity >= {min_opacity}; nothing to mesh")
    low = np.percentile(opaque, 1.0, axis=0)
    high = np.percentile(opaque, 99.0, axis=0)
    ceiling = max(float(high[2]), 0.5)
    heights = [min(h, 0.8 * ceiling) for h in EYE_HEIGHTS]
    xs = np.arange(low[0] + GRID_STEP / 2, high[0], GRID_STEP)
    ys = np.arange(low[1] + GRID_STEP / 2, high[1], GRID_STEP)
    if xs.size == 0 or ys.size == 0:
        xs, ys = np.array([(low[0] + high[0]) / 2]), np.array([(low[1] + high[1]) / 2])
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    tree = cKDTree(opaque)
    candidates = np.concatenate([np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, h)]) for h in heights])
    distance, _ = tree.query(candidates, k=1, distance_upper_bound=FREE_RADIUS)
    grid = FreeGrid.build(opaque, candidates, low=low, high=high)
    free_mask = ~np.isfinite(distance) & grid.in_main(candidates)
    supported = _over_something(opaque, candidates, origin=low)
    if np.any(free_mask & supported):
        free_mask &= supported
    elif np.any(free_mask):
        log.warning("no free viewpoint stands over observed ground; placing views over the whole footprint")
    free = candidates[free_mask]
    if free.shape[0] == 0:
        raise WorldgenError(
            f"found no free viewpoint (no Gaussian within {FREE_RADIUS} m) inside the scene's footprint "
            f"x {low[0]:.2f}..{high[0]:.2f} m, y {low[1]:.2f}..{high[1]:.2f} m; give the scene a camera path"
        )
    per_position = YAWS_PER_POSITION * len(PITCHES_DEG)
    chosen = _farthest_points(free, count=max(1, int(np.ceil(num_views / per_position))), centre=(low + high) / 2)
    focal = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
    intrinsics = np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])
    poses = []
    for index, position in enumerate(chosen):
        # Stagger yaws between positions so neighbouring positions fill each other's gaps.
        offset = (index % 2) * np.pi / YAWS_PER_POSITION
        for yaw in offset + np.arange(YAWS_PER_POSITION) * 2 * np.pi / YAWS_PER_POSITION:
            for pitch in PITCHES_DEG:
                poses.append(look_pose(position, yaw=yaw, pitch=np.radians(pitch)))
    if top_views > 0:
        opaque_mask = gaussians.opacities >= min_opacity
        tops = _upward_tops(opaque, _faces_up(gaussians.rotations[opaque_mask], gaussians.scales[opaque_mask]), grid)
        poses += _top_views(tops, chosen, grid=grid, tree=tree, xs=xs, ys=ys, ceiling=float(high[2]),
                            count=top_views, intrinsics=intrinsics, width=width, height=height)
    poses = np.stack(poses)
    return CameraPath(np.repeat(intrinsics[None], len(poses), axis=0), poses, int(width), int(height))


def _faces_up(rotations: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(N,) bool: Gaussians that are evidence of an upward (or downward) surface.

    The normal of a flat Gaussian is its shortest axis; the world z of local axis
    i is row 2 of the rotation matrix of the (w, x, y, z) quaternion. Where most
    Gaussians are flat (a trained capture's surfaces), only flat ones with a
    near-vertical normal count: a round floater is no surface. Where most are
    round, there is no normal to go by and every one that is not a steep surface counts.
    """
    q = np.asarray(rotations, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    w, x, y, z = q.T
    axis_z = np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=1)
    s = np.asarray(scales, np.float64)
    order = np.argsort(s, axis=1)
    rows = np.arange(s.shape[0])
    flat = s[rows, order[:, 0]] < FLAT_RATIO * s[rows, order[:, 1]]
    vertical = np.abs(axis_z[rows, order[:, 0]]) >= UP_COS
    if flat.size and flat.mean() >= 0.5:
        return flat & vertical
    return ~flat | vertical


@dataclass(frozen=True)
class FreeGrid:
    """A coarse occupancy grid of the Gaussian centres and the free-space region the views belong in.

    Attributes:
        origin: (3,) world position of cell (0, 0, 0)'s corner [m].
        cell: cell edge [m].
        occupied: (X, Y, Z) bool, cells holding a Gaussian centre (not dilated).
        blocking: (X, Y, Z) bool, occupied cells with an occupied neighbour: what hides what lies
            behind it (a lone speck in the air does not).
        main: (X, Y, Z) bool, cells of the free-space region most eye-height candidates fall in.
    """

    origin: np.ndarray
    cell: float
    occupied: np.ndarray
    blocking: np.ndarray
    main: np.ndarray

    @classmethod
    def build(cls, points: np.ndarray, candidates: np.ndarray, *, low: np.ndarray, high: np.ndarray) -> FreeGrid:
        """The grid over ``low..high`` (+ a margin) and its main free-space region.

        A clearance test alone accepts the inside of a closed piece of furniture (a
        cabinet is empty inside); seen from there, surfaces are fused from behind.
        Free space is split into connected regions on the grid (occupancy dilated by
        one cell to close gaps between sparse splats); the room the cameras belong
        in is the region most ``candidates`` fall in.
        """
        from scipy import ndimage

        margin = 2 * FREE_RADIUS
        origin = low - margin
        top = high + margin
        cell = max(0.1, float(np.max(high - low + 2 * margin)) / 256)
        shape = np.maximum(np.ceil((top - origin) / cell).astype(int), 1)
        occupied = np.zeros(shape, bool)
        index = np.floor((points - origin) / cell).astype(int)
        inside = np.all((index >= 0) & (index < shape), axis=1)
        occupied[tuple(index[inside].T)] = True
        labels, _ = ndimage.label(~ndimage.binary_dilation(occupied))
        cand_index = np.clip(np.floor((candidates - origin) / cell).astype(int), 0, shape - 1)
        cand_labels = labels[tuple(cand_index.T)]
        counts = np.bincount(cand_labels[cand_labels > 0], minlength=1)
        empty = counts.size == 0 or counts.max() == 0
        main = np.zeros(shape, bool) if empty else labels == int(np.argmax(counts))
        neighbours = ndimage.convolve(occupied.astype(np.uint8), np.ones((3, 3, 3), np.uint8), mode="constant")
        return cls(origin=origin, cell=cell, occupied=occupied, blocking=occupied & (neighbours >= 2), main=main)

    def index(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P, 3) int cell indices of (P, 3) points [m] (clipped) and (P,) bool whether each lies in the grid."""
        index = np.floor((points - self.origin) / self.cell).astype(int)
        inside = np.all((index >= 0) & (index < self.occupied.shape), axis=1)
        return np.clip(index, 0, np.asarray(self.occupied.shape) - 1), inside

    def in_main(self, points: np.ndarray) -> np.ndarray:
        """(P,) bool: points in the main free-space region."""
        index, inside = self.index(points)
        return inside & self.main[tuple(index.T)]

    def clear_lines(self, starts: np.ndarray, ends: np.ndarray, *, chunk: int = 20000) -> np.ndarray:
        """(L,) bool: no blocking cell on each segment from (L, 3) ``starts`` to (L, 3) ``ends`` [m].

        Samples every half cell; the last half cell before each end is not tested (it is where the
        surface looked at begins).
        """
        length = np.linalg.norm(ends - starts, axis=1)
        steps = max(2, int(np.ceil(float(length.max(initial=0.0)) / (0.5 * self.cell))) + 1)
        clear = np.ones(len(starts), bool)
        for begin in range(0, len(starts), chunk):
            a, b = starts[begin:begin + chunk], ends[begin:begin + chunk]
            part = length[begin:begin + chunk]
            fraction = np.linspace(0.0, 1.0, steps)[None, :] * np.maximum(part - 0.5 * self.cell, 0.0)[:, None]
            direction = (b - a) / np.maximum(part, 1e-9)[:, None]
            samples = a[:, None, :] + fraction[..., None] * direction[:, None, :]
            index, inside = self.index(samples.reshape(-1, 3))
            hit = (inside & self.blocking[tuple(index.T)]).reshape(len(a), steps)
            clear[begin:begin + chunk] = ~hit.any(axis=1)
        return clear


def _upward_tops(points: np.ndarray, faces_up: np.ndarray, grid: FreeGrid) -> np.ndarray:
    """(T, 3) observed upward surfaces: per grid cell with free space of the main region right above it
    (two cells up, past the dilation), the mean position of its upward-facing Gaussians [m].

    A cell needs :data:`TOP_MIN_POINTS` such Gaussians and a majority of its Gaussians
    facing up (the top edge of a wall or of a cabinet's side is not a surface to look
    down on), in a group of at least :data:`TOP_MIN_CELLS` touching such cells.
    """
    from scipy import ndimage

    index, inside = grid.index(points)
    shape = np.asarray(grid.occupied.shape)
    flat = np.ravel_multi_index(tuple(index[inside].T), tuple(shape))
    up = faces_up[inside]
    total = np.bincount(flat, minlength=int(np.prod(shape)))
    upward = np.bincount(flat, weights=up, minlength=total.size)
    cells = np.nonzero((upward >= TOP_MIN_POINTS) & (2 * upward > total))[0]
    coords = np.stack(np.unravel_index(cells, tuple(shape)), axis=1)
    above = coords + [0, 0, 2]
    keep = above[:, 2] < shape[2]
    keep[keep] = grid.main[tuple(above[keep].T)]
    cells, coords = cells[keep], coords[keep]
    # A surface spans a few touching cells; a speck or a small floater cloud does not.
    mask = np.zeros(tuple(shape), bool)
    mask[tuple(coords.T)] = True
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    sizes = np.bincount(labels.ravel())
    cells = cells[sizes[labels[tuple(coords.T)]] >= TOP_MIN_CELLS]
    if cells.size == 0:
        return np.zeros((0, 3))
    lookup = np.full(total.size, -1)
    lookup[cells] = np.arange(cells.size)
    slot = lookup[flat]
    mine = (slot >= 0) & up
    sums = np.stack([np.bincount(slot[mine], weights=points[inside][mine, k], minlength=cells.size) for k in range(3)],
                    axis=1)
    return sums / upward[cells][:, None]


def _sees(positions: np.ndarray, tops: np.ndarray, grid: FreeGrid, *, max_depression_deg: float) -> np.ndarray:
    """(P, T) bool: each position looks down on each upward surface point: at least
    :data:`TOP_MIN_DEPRESSION_DEG` (and at most ``max_depression_deg``) below its horizon, within
    :data:`TOP_VIEW_RANGE`, with no Gaussian on the line (to a cell above the surface)."""
    sees = np.zeros((positions.shape[0], tops.shape[0]), bool)
    block = max(1, 250_000 // max(tops.shape[0], 1))  # bounds the (block, T, 3) offsets' memory
    for begin in range(0, positions.shape[0], block):
        offset = tops[None, :, :] - positions[begin:begin + block, None, :]
        depression = np.degrees(np.arctan2(-offset[..., 2], np.linalg.norm(offset[..., :2], axis=2)))
        near = np.linalg.norm(offset, axis=2) <= TOP_VIEW_RANGE
        sees[begin:begin + block] = near & (depression >= TOP_MIN_DEPRESSION_DEG) & (depression <= max_depression_deg)
    rows, cols = np.nonzero(sees)
    if rows.size:
        sees[rows, cols] = grid.clear_lines(positions[rows], tops[cols] + [0.0, 0.0, grid.cell])
    return sees


def _top_views(tops: np.ndarray, eyes: np.ndarray, *, grid: FreeGrid, tree, xs: np.ndarray, ys: np.ndarray,
               ceiling: float, count: int, intrinsics: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    """Up to ``count`` (4, 4) poses looking down on the upward surfaces ``tops`` that no eye position sees.

    Candidates stand on the eye positions' x-y grid (``xs`` x ``ys``) at :data:`TOP_RISES`
    above the unseen surfaces, in the main free region with no Gaussian within
    :data:`FREE_RADIUS` (so below any ceiling) and not above ``ceiling`` (the
    99th percentile of the heights [m]): a hole in a room's wall joins the space
    above its roof to the room, and seen from there the ceiling is fused from
    behind. Greedy cover: the candidate that sees
    the most unseen cells is taken, aimed at their mean; the cells inside its image
    are marked seen; repeat.
    """
    if tops.shape[0] == 0:
        return []
    # Nothing can look down on a surface at the top of the scene (the back of a ceiling seen through a hole).
    tops = tops[tops[:, 2] + TOP_RISES[0] <= ceiling]
    if tops.shape[0] == 0:
        return []
    unseen = tops[~_sees(eyes, tops, grid, max_depression_deg=EYE_MAX_DEPRESSION_DEG).any(axis=0)]
    if unseen.shape[0] < TOP_MIN_CELLS:
        return []
    unseen = unseen[_even_subset(unseen.shape[0], TOP_MAX_CELLS)]
    levels = np.unique(np.round((unseen[:, 2, None] + TOP_RISES[None, :]).ravel() / grid.cell) * grid.cell)
    gx, gy, gz = np.meshgrid(xs, ys, levels, indexing="ij")
    candidates = np.column_stack([gx.ravel(), gy.ravel(), gz.ravel()])
    candidates = candidates[grid.in_main(candidates) & (candidates[:, 2] <= ceiling)]
    distance, _ = tree.query(candidates, k=1, distance_upper_bound=FREE_RADIUS)
    candidates = candidates[~np.isfinite(distance)]
    candidates = candidates[_even_subset(candidates.shape[0], max(1, TOP_MAX_PAIRS // unseen.shape[0]))]
    if candidates.shape[0] == 0:
        log.info("%d upward surface cells are seen by no eye position and no free position below the top of "
                 "the scene looks down on them", unseen.shape[0])
        return []
    sees = _sees(candidates, unseen, grid, max_depression_deg=90.0)
    remaining = np.ones(unseen.shape[0], bool)
    poses: list[np.ndarray] = []
    while len(poses) < count:
        gain = (sees & remaining).sum(axis=1)
        best = int(np.argmax(gain))
        if gain[best] < TOP_MIN_CELLS:
            break
        targets = np.nonzero(sees[best] & remaining)[0]
        offset = unseen[targets].mean(axis=0) - candidates[best]
        pose = look_pose(candidates[best], yaw=float(np.arctan2(offset[1], offset[0])),
                         pitch=float(np.arctan2(offset[2], np.linalg.norm(offset[:2]))))
        framed = targets[_in_image(unseen[targets], pose, intrinsics, width=width, height=height)]
        remaining[framed if framed.size else targets] = False
        poses.append(pose)
    log.info("%d top views look down on %d of %d upward surface cells no eye position sees",
             len(poses), int((~remaining).sum()), unseen.shape[0])
    return poses


def _even_subset(count: int, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` of ``count`` items, evenly spread (deterministic)."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def _in_image(points: np.ndarray, pose: np.ndarray, intrinsics: np.ndarray, *, width: int, height: int) -> np.ndarray:
    """(P,) bool: (P, 3) world points in front of the (4, 4) OpenCV camera ``pose`` and inside its image."""
    camera = (points - pose[:3, 3]) @ pose[:3, :3]
    depth = camera[:, 2]
    safe = np.where(depth > 1e-6, depth, 1.0)
    u = intrinsics[0, 0] * camera[:, 0] / safe + intrinsics[0, 2]
    v = intrinsics[1, 1] * camera[:, 1] / safe + intrinsics[1, 2]
    return (depth > 1e-6) & (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)


def _over_something(points: np.ndarray, candidates: np.ndarray, *, origin: np.ndarray) -> np.ndarray:
    """(C,) bool: some Gaussian lies below each candidate, in its :data:`GRID_STEP` x-y cell.

    The footprint is an axis-aligned box; a room turned in it (the floor's yaw is
    the input camera's) leaves the box's corners outside the walls, and with no
    roof the free-space test joins them to the room. Seen from there the walls are
    fused from behind, making a second sheet a truncation distance behind each.
    """
    cell_of = np.floor((points[:, :2] - origin[:2]) / GRID_STEP).astype(np.int64)
    cand_cell = np.floor((candidates[:, :2] - origin[:2]) / GRID_STEP).astype(np.int64)
    low = np.minimum(cell_of.min(axis=0), cand_cell.min(axis=0))
    shape = np.maximum(cell_of.max(axis=0), cand_cell.max(axis=0)) - low + 1
    # The lowest Gaussian of each cell (a floor point under a table still counts).
    lowest = np.full(int(shape[0] * shape[1]), np.inf)
    np.minimum.at(lowest, (cell_of - low) @ [shape[1], 1], points[:, 2])
    return lowest[(cand_cell - low) @ [shape[1], 1]] < candidates[:, 2]


def look_pose(position: np.ndarray, *, yaw: float, pitch: float) -> np.ndarray:
    """(4, 4) OpenCV camera-to-world pose at ``position`` looking along ``yaw`` (from +x, CCW) and ``pitch`` [rad]."""
    forward = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([right, down, forward])
    pose[:3, 3] = position
    return pose


def _farthest_points(points: np.ndarray, *, count: int, centre: np.ndarray) -> np.ndarray:
    """``count`` of ``points`` spread out by farthest-point sampling from the one nearest ``centre``."""
    count = min(count, points.shape[0])
    first = int(np.argmin(np.linalg.norm(points - centre, axis=1)))
    chosen = [first]
    distance = np.linalg.norm(points - points[first], axis=1)
    for _ in range(count - 1):
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(points - points[nxt], axis=1))
    return points[chosen]

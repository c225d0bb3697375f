"""Cameras to render the Gaussians from before fusion.

Either the input's own camera path (what the generator looked at, so every
surface it made is seen) rescaled to the render resolution, or views placed
automatically inside the scene's free space: standing positions on a grid over
the floor footprint at eye heights, kept where no Gaussian is near and something
observed lies below (a position beside a room, in the corner of its bounding box,
sees the walls from behind), each looking around in several yaws and two pitches
(down at the floor and furniture, up at the walls and ceiling).

Eye heights cannot look down on what is taller (the top of a wardrobe, a shelf,
a platform); the surface stage adds views of what the eye views leave unseen
(:mod:`worldgen_sim.surface.coverage`, for input cameras too), which stand in the
free region :class:`FreeGrid` finds.
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
) -> CameraPath:
    """Views placed automatically inside the free space of a Z-up, floor-at-0 scene.

    Candidate positions form a grid over the footprint (1st-99th percentile of
    the opaque Gaussians' x, y) at :data:`EYE_HEIGHTS` (capped below the
    ceiling); those with a Gaussian within :data:`FREE_RADIUS` or with no Gaussian
    below them (within their :data:`GRID_STEP` cell) are rejected and
    ``num_views / (yaws x pitches)`` positions are picked by farthest-point
    sampling, starting next to the footprint's centre. Deterministic.

    Args:
        gaussians: the scene in the world frame.
        num_views: total views wanted (rounded up to whole positions).
        width: image width [px].
        height: image height [px].
        fov_deg: horizontal field of view [deg].
        min_opacity: Gaussians fainter than this do not count as scene or obstacles.

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
    poses = np.stack(poses)
    return CameraPath(np.repeat(intrinsics[None], len(poses), axis=0), poses, int(width), int(height))


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

"""Coverage views: extra views that see the opaque surfaces the planned views leave unseen.

The planned views (the input camera path, or automatically placed eye-height views)
see most of what the Gaussians show, but not all of it: ground near a tile's edge
that the cameras see only at a grazing angle, the top of an object taller than the
cameras, a shelf top above the eye heights. The visual mesh (and so the colliders)
lacks whatever no view fuses, although the Gaussians are evidence that it is there.

So, once the planned views' depth images exist:

1. *Seen*: each opaque Gaussian (an even subset, within ``far`` of a planned view)
   is projected into every view; a view sees it when it falls in the frame, its
   depth agrees with the view's depth image (within :func:`depth_tolerance`; what
   hides it does not), and, for a flat Gaussian (a surface element with a normal),
   the view is not at a grazing angle to that normal (within :data:`MAX_VIEW_ANGLE_DEG`).
2. *Candidates*: the unseen Gaussians are clustered (coarse cells x the dominant
   direction of their normal, oriented to the free side: up for ground and tops);
   for each cluster positions along the normal and tilted towards the planned views,
   at a few distances, aimed at the cluster. A candidate must stand in free space
   (no Gaussian within :data:`~worldgen_sim.surface.views.FREE_RADIUS`), in the free
   region of the planned views, over observed ground, below the scene's top, with a
   clear line to a planned view: never behind a wall or above a ceiling, where it
   would see the back of a one-sided surface.
3. *Judged on their renders*: the candidates with the most unseen Gaussians in frame
   and facing them (:data:`MAX_RENDERED`) are rendered (depth only, at a reduced
   resolution) and scored by how many unseen Gaussians each actually sees by the same
   rule, facing their oriented normal; an occluded candidate scores nothing. Views
   are taken greedily by that count, up to the cap.

The caller fuses the chosen views with the planned ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from worldgen_sim.artifacts import CameraPath, GaussianCloud
from worldgen_sim.progress import Progress
from worldgen_sim.surface.views import FREE_RADIUS, FreeGrid, look_pose
from worldgen_sim.surface.zbuffer import shortest_axes

log = logging.getLogger(__name__)

__all__ = ["CoverageResult", "coverage_views", "depth_tolerance", "seen_by_views"]

MAX_TARGETS = 60_000
"""At most this many opaque Gaussians (an even subset) are tested for being seen (bounds the cost)."""
MAX_VIEW_ANGLE_DEG = 70.0
"""A surface element counts as seen by a view within this angle of its normal [deg]: flatter views fuse it
from a few grazing pixels (20 deg above the horizon)."""
FLAT_RATIO = 0.5
"""A Gaussian whose shortest axis is under this fraction of its middle one has a normal (views.py's rule)."""
CLUSTER_CELL = 0.6
"""Edge of the cells unseen Gaussians are clustered in [m]."""
MAX_CLUSTERS = 32
"""Candidates are made for at most this many clusters, the largest first."""
MIN_GAIN = 8
"""A view is added only when it sees at least this many unseen Gaussians (of the tested subset)."""
DISTANCES = (0.6, 0.9, 1.3, 2.0, 3.0)
"""Distances of the candidate positions from their cluster's centre [m]."""
TILTS_DEG = (0.0, 35.0, 55.0, 65.0)
"""Candidates stand along the cluster's normal and tilted by these angles towards the planned views [deg]:
the steeper ones fit under a ceiling close above a tall top."""
TOP_MARGIN = 1.2
"""Candidates stand at most this far above the highest planned view or tested Gaussian (the 99th
percentile of heights) [m]: the scene's top, where a roof would be."""
SCORE_SCALE = 0.5
"""Candidates are rendered at this fraction of the planned views' resolution to be scored."""
SCORE_BATCH = 24
"""Candidates rendered per call (bounds the depth images held at once)."""
MAX_RENDERED = 192
"""Only this many candidates are rendered: those with the most unseen Gaussians in frame and facing them
(an upper bound of what their render can see; occlusion is judged on the render)."""


@dataclass(frozen=True)
class CoverageResult:
    """What the coverage pass found.

    Attributes:
        cameras: the added views (the planned views' image size; K may be 0).
        tested: Gaussians tested for being seen (the even subset of the opaque ones within reach).
        unseen_before: of those, seen by no planned view.
        candidates: candidate positions rendered and scored.
        predicted_seen: unseen Gaussians the added views see, judged on the candidates' scoring renders.
        unseen_points: (U, 3) the unseen tested Gaussians' positions [m], to judge the added views' final renders.
        unseen_normals: (U, 3) their unsigned normals (zero rows: none).
    """

    cameras: CameraPath
    tested: int
    unseen_before: int
    candidates: int
    predicted_seen: int
    unseen_points: np.ndarray
    unseen_normals: np.ndarray


def depth_tolerance(depth: np.ndarray) -> np.ndarray:
    """How far a Gaussian's depth may lie from a view's depth image and still be the surface seen [m].

    5 cm (the z-buffer's front-surface band) plus 2 % of the depth: the nearest pixel's depth on a
    slope seen 20 deg above its plane changes by about that across half a 320 px, 90 deg pixel.
    """
    return 0.05 + 0.02 * np.asarray(depth)


def seen_by_views(points: np.ndarray, normals: np.ndarray | None, cameras: CameraPath,
                  depths: np.ndarray | None, *, near: float, far: float, signed: bool = False) -> np.ndarray:
    """(M, P) bool: view m sees point p (in frame, on the view's depth image, not at a grazing angle).

    Args:
        points: (P, 3) world positions [m].
        normals: (P, 3) unit normals, zero rows where a point has none; None: no angle test.
        cameras: M pinhole cameras (OpenCV), the size of ``depths``.
        depths: (M, H, W) z-depth images [m], 0 where nothing was drawn; None: no occlusion test (in frame
            and facing the view is enough: an upper bound).
        near: nearer points are not seen [m].
        far: farther points are not seen [m].
        signed: the normals are oriented; a view behind one does not see the point.
    """
    count, height, width = len(cameras), int(cameras.height), int(cameras.width)
    seen = np.zeros((count, points.shape[0]), bool)
    cos_limit = float(np.cos(np.radians(MAX_VIEW_ANGLE_DEG)))
    for view in range(count):  # vectorised over the points; views are few
        pose = np.asarray(cameras.cam_to_world[view], np.float64)
        k = cameras.intrinsics[view]
        offset = points - pose[:3, 3]
        local = offset @ pose[:3, :3]
        z = local[:, 2]
        safe = np.where(z > 1e-6, z, 1.0)
        u = np.rint(k[0, 0] * local[:, 0] / safe + k[0, 2]).astype(np.int64)
        v = np.rint(k[1, 1] * local[:, 1] / safe + k[1, 2]).astype(np.int64)
        ok = (z >= near) & (z <= far) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
        if depths is not None:
            image = depths[view][np.clip(v, 0, height - 1), np.clip(u, 0, width - 1)]
            ok &= (image > 0) & (np.abs(image - z) <= depth_tolerance(z))
        if normals is not None:
            facing = -np.einsum("ij,ij->i", offset, normals) / np.maximum(np.linalg.norm(offset, axis=1), 1e-9)
            facing = facing if signed else np.abs(facing)
            has_normal = np.any(normals != 0, axis=1)
            ok &= ~has_normal | (facing >= cos_limit)
        seen[view] = ok
    return seen


def coverage_views(
    gaussians: GaussianCloud,
    cameras: CameraPath,
    depths: np.ndarray,
    *,
    count: int,
    min_opacity: float,
    near: float,
    far: float,
    fov_deg: float,
    render: Callable[[CameraPath], np.ndarray],
    progress: Progress | None = None,
) -> CoverageResult:
    """Up to ``count`` views that see the opaque Gaussians the planned views leave unseen.

    Args:
        gaussians: the scene in the world frame (Z-up, metres).
        cameras: the M planned views whose depth images are ``depths``.
        depths: (M, H, W) z-depth images of the planned views [m], 0 where empty.
        count: at most this many views are added; 0 adds none (the unseen Gaussians are still counted).
        min_opacity: fainter Gaussians are not surfaces to see (the depth images' own rule).
        near: the renders' near plane [m].
        far: the renders' far plane (``surface.max_depth``) [m].
        fov_deg: horizontal field of view of the added views [deg].
        render: depth images (V, h, w) [m] of V cameras, drawn as the planned ones were.
        progress: reports the candidate renders.

    Returns:
        The added views and counts (see :class:`CoverageResult`). Deterministic.
    """
    from scipy.spatial import cKDTree

    width, height = int(cameras.width), int(cameras.height)
    empty = CameraPath(np.zeros((0, 3, 3)), np.zeros((0, 4, 4)), width, height)
    eyes = np.asarray(cameras.cam_to_world, np.float64)[:, :3, 3]
    opaque = gaussians.opacities >= min_opacity
    positions = np.asarray(gaussians.positions[opaque], np.float64)
    # Only what a view could fuse (within ``far`` of a planned view) is a target: not a far sky shell.
    reach, _ = cKDTree(eyes).query(positions, k=1)
    near_enough = np.nonzero(reach <= far)[0]
    none = np.zeros((0, 3))
    if near_enough.size == 0:
        return CoverageResult(empty, 0, 0, 0, 0, none, none)
    pick = near_enough[_even_subset(near_enough.size, MAX_TARGETS)]
    points = positions[pick]
    normals = _normals(gaussians.rotations[opaque][pick], gaussians.scales[opaque][pick])
    seen = seen_by_views(points, normals, cameras, depths, near=near, far=far).any(axis=0)
    unseen = np.nonzero(~seen)[0]
    log.info("coverage: %d of %d tested Gaussians are seen by no planned view", unseen.size, points.shape[0])
    if unseen.size < MIN_GAIN or count <= 0:
        return CoverageResult(empty, points.shape[0], int(unseen.size), 0, 0, points[unseen], normals[unseen])

    scene_points = positions[near_enough]
    tree = cKDTree(scene_points)
    low, high = np.percentile(scene_points, 1.0, axis=0), np.percentile(scene_points, 99.0, axis=0)
    low, high = np.minimum(low, eyes.min(axis=0)), np.maximum(high, eyes.max(axis=0))
    grid = FreeGrid.build(scene_points, eyes, low=low, high=high)
    oriented = _orient(points[unseen], normals[unseen], grid)
    centres, directions = _clusters(points[unseen], oriented)
    top = float(high[2]) + TOP_MARGIN
    candidates, aims = _candidates(centres, directions, eyes, top=top)
    keep = _allowed(candidates, eyes, grid=grid, tree=tree, scene_points=scene_points)
    candidates, aims = candidates[keep], aims[keep]
    if candidates.shape[0] == 0:
        log.info("coverage: no free position inside the views' region sees the %d unseen Gaussians", unseen.size)
        return CoverageResult(empty, points.shape[0], int(unseen.size), 0, 0, points[unseen], normals[unseen])
    focal = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
    intrinsics = np.array([[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]])
    poses = np.stack([_aim(c, a) for c, a in zip(candidates, aims, strict=True)])
    frame = CameraPath(np.repeat(intrinsics[None], len(poses), axis=0), poses, width, height)
    bound = seen_by_views(points[unseen], oriented, frame, None, near=near, far=far, signed=True).sum(axis=1)
    best = np.sort(np.argsort(-bound, kind="stable")[:MAX_RENDERED])
    poses = poses[best]
    sees = _score(points[unseen], oriented, poses, intrinsics, width=width, height=height, near=near, far=far,
                  render=render, progress=progress)
    chosen, covered = _greedy(sees, count=count)
    log.info("coverage: %d views added (of %d candidates, %d rendered) see %d of the %d unseen Gaussians",
             len(chosen), candidates.shape[0], len(best), covered, unseen.size)
    added = CameraPath(np.repeat(intrinsics[None], len(chosen), axis=0), poses[chosen].reshape(-1, 4, 4),
                       width, height)
    return CoverageResult(added, points.shape[0], int(unseen.size), int(candidates.shape[0]), covered,
                          points[unseen], normals[unseen])


def _even_subset(count: int, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` of ``count`` items, evenly spread (deterministic)."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def _normals(rotations: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(P, 3) unit shortest axes of the flat Gaussians (unsigned), zero rows for round ones."""
    s = np.asarray(scales, np.float64)
    middle = np.sort(s, axis=1)[:, 1]
    flat = s.min(axis=1) < FLAT_RATIO * middle
    return np.where(flat[:, None], shortest_axes(rotations, s), 0.0)


def _orient(points: np.ndarray, normals: np.ndarray, grid: FreeGrid) -> np.ndarray:
    """(P, 3) normals pointing to the free side of each surface element: the side in the views' free region
    two grid cells out; up where both are (ground, a top: seen from above), and for a round Gaussian up
    where that side is free, else none (zero)."""
    up = np.array([0.0, 0.0, 1.0])
    base = np.where(np.any(normals != 0, axis=1)[:, None], normals, up)
    base = np.where((base[:, 2] < 0)[:, None], -base, base)  # the upper side first
    step = 2.0 * grid.cell
    plus = grid.in_main(points + step * base) & ~grid.occupied[tuple(grid.index(points + step * base)[0].T)]
    minus = grid.in_main(points - step * base) & ~grid.occupied[tuple(grid.index(points - step * base)[0].T)]
    sign = np.where(plus, 1.0, np.where(minus, -1.0, 0.0))
    return base * sign[:, None]


def _clusters(points: np.ndarray, oriented: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C, 3) centres [m] and (C, 3) unit mean oriented normals of the unseen Gaussians' clusters (cells of
    :data:`CLUSTER_CELL` x the dominant axis of the normal), at most :data:`MAX_CLUSTERS`, largest first."""
    facing = np.any(oriented != 0, axis=1)
    points, oriented = points[facing], oriented[facing]
    if points.shape[0] == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    dominant = np.argmax(np.abs(oriented), axis=1)
    direction = dominant * 2 + (oriented[np.arange(points.shape[0]), dominant] > 0)
    cell = np.floor(points / CLUSTER_CELL).astype(np.int64)
    keys = np.column_stack([cell, direction])
    _, label, sizes = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    label = label.ravel()
    centres = np.stack([np.bincount(label, weights=points[:, k]) for k in range(3)], axis=1) / sizes[:, None]
    mean = np.stack([np.bincount(label, weights=oriented[:, k]) for k in range(3)], axis=1).astype(np.float64)
    mean = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-9)
    order = np.argsort(-sizes, kind="stable")
    order = order[sizes[order] >= MIN_GAIN][:MAX_CLUSTERS]
    return centres[order], mean[order]


def _candidates(centres: np.ndarray, directions: np.ndarray, eyes: np.ndarray, *, top: float):
    """(K, 3) candidate positions [m] and (K, 3) the points they aim at: per cluster, along its normal and
    tilted by each of :data:`TILTS_DEG` towards the planned views' centre, at each of :data:`DISTANCES`; none above
    ``top`` [m]."""
    towards = eyes.mean(axis=0) - centres
    towards -= np.einsum("ij,ij->i", towards, directions)[:, None] * directions  # across the normal
    towards /= np.maximum(np.linalg.norm(towards, axis=1, keepdims=True), 1e-9)
    tilts = np.radians(np.asarray(TILTS_DEG))[None, :, None]
    ways = np.cos(tilts) * directions[:, None, :] + np.sin(tilts) * towards[:, None, :]  # (C, T, 3)
    steps = np.asarray(DISTANCES)[None, None, :, None]
    positions = centres[:, None, None, :] + steps * ways[:, :, None, :]  # (C, T, D, 3)
    aims = np.broadcast_to(centres[:, None, None, :], positions.shape)
    positions, aims = positions.reshape(-1, 3), aims.reshape(-1, 3)
    below = positions[:, 2] <= top
    return positions[below], aims[below]


def _allowed(candidates: np.ndarray, eyes: np.ndarray, *, grid: FreeGrid, tree, scene_points: np.ndarray):
    """(K,) bool: a candidate stands clear of every Gaussian, in the planned views' free region, over observed
    ground (some Gaussian below it in its cell of the grid) and in sight of a planned view (a clear line to
    one of its nearest three): not behind a wall, not above a ceiling."""
    if candidates.shape[0] == 0:
        return np.zeros(0, bool)
    distance, _ = tree.query(candidates, k=1, distance_upper_bound=FREE_RADIUS)
    ok = ~np.isfinite(distance) & grid.in_main(candidates)
    # Lowest Gaussian per grid column (x, y): the candidate stands above it.
    index, inside = grid.index(scene_points)
    columns = grid.occupied.shape[0] * grid.occupied.shape[1]
    flat = index[inside, 0] * grid.occupied.shape[1] + index[inside, 1]
    lowest = np.full(columns, np.inf)
    np.minimum.at(lowest, flat, scene_points[inside, 2])
    cand_index, cand_inside = grid.index(candidates)
    ok &= cand_inside & (lowest[cand_index[:, 0] * grid.occupied.shape[1] + cand_index[:, 1]] < candidates[:, 2])
    rows = np.nonzero(ok)[0]
    if rows.size:
        nearest = np.argsort(np.linalg.norm(candidates[rows, None, :] - eyes[None, :, :], axis=2), axis=1)[:, :3]
        starts = np.repeat(candidates[rows], nearest.shape[1], axis=0)
        clear = grid.clear_lines(starts, eyes[nearest.ravel()]).reshape(rows.size, -1).any(axis=1)
        ok[rows] = clear
    return ok


def _aim(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) pose at ``position`` looking at ``target``."""
    offset = target - position
    return look_pose(position, yaw=float(np.arctan2(offset[1], offset[0])),
                     pitch=float(np.arctan2(offset[2], np.linalg.norm(offset[:2]))))


def _score(points, oriented, poses, intrinsics, *, width, height, near, far, render, progress) -> np.ndarray:
    """(K, P) bool: candidate k, rendered at :data:`SCORE_SCALE` of the size, sees unseen point p facing it."""
    small_w, small_h = max(16, round(width * SCORE_SCALE)), max(16, round(height * SCORE_SCALE))
    k = intrinsics.copy()
    k[0, :] *= small_w / width
    k[1, :] *= small_h / height
    k[0, 2] = (intrinsics[0, 2] + 0.5) * small_w / width - 0.5
    k[1, 2] = (intrinsics[1, 2] + 0.5) * small_h / height - 0.5
    sees = np.zeros((poses.shape[0], points.shape[0]), bool)
    for begin in range(0, poses.shape[0], SCORE_BATCH):
        batch = poses[begin:begin + SCORE_BATCH]
        views = CameraPath(np.repeat(k[None], len(batch), axis=0), batch, small_w, small_h)
        depths = np.asarray(render(views), np.float32)
        sees[begin:begin + len(batch)] = seen_by_views(points, oriented, views, depths, near=near, far=far,
                                                       signed=True)
        if progress is not None:
            progress.step(min(begin + SCORE_BATCH, poses.shape[0]), poses.shape[0], "coverage candidates")
    return sees


def _greedy(sees: np.ndarray, *, count: int) -> tuple[list[int], int]:
    """Indices of up to ``count`` candidates taken greedily by how many still-unseen points each sees (at
    least :data:`MIN_GAIN`), and how many points they see together."""
    remaining = np.ones(sees.shape[1], bool)
    chosen: list[int] = []
    while len(chosen) < count:
        gain = (sees & remaining).sum(axis=1)
        best = int(np.argmax(gain))
        if gain[best] < MIN_GAIN:
            break
        chosen.append(best)
        remaining &= ~sees[best]
    return chosen, int((~remaining).sum())

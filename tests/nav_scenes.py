"""Gaussian scenes with analytic walkable truth for the navigation numbers (rolling terrain, room with floaters).

Each scene writes a PLY the way a generator would, and answers, in its own
world frame, where the default (wheeled) agent's centre may stand and which
ground the Gaussians observed. :func:`walkable_iou` maps a built world's
navigation grid back into that frame through the transforms and scores it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import SH_C0, GaussianCloud
from worldgen_sim.scenes.surfels import concat_clouds, normal_quaternions


@dataclass
class NavScene:
    """A Gaussian scene and its truth.

    Attributes:
        ply: the written PLY.
        input_to_world: (4, 4) true similarity from PLY coordinates to the scene's world frame.
        overrides: config overrides the build needs (up axis, scale, camera height).
        standable: (N, 2) xy -> (N,) bool, the agent's centre may stand there (eroded by its radius).
        ground: (N, 3) float64 world points of Gaussians on the walkable ground (what was observed).
        ground_z: (N, 2) xy -> (N,) ground height [m].
    """

    ply: Path
    input_to_world: np.ndarray
    overrides: dict
    standable: Callable[[np.ndarray], np.ndarray]
    ground: np.ndarray
    ground_z: Callable[[np.ndarray], np.ndarray]


def _surfels(points, normals, spacing, rng, color) -> GaussianCloud:
    n = len(points)
    rgb = np.clip(np.asarray(color) + rng.normal(0, 0.04, (n, 3)), 0, 1)
    noisy = points + rng.normal(0, 0.004, (n, 3))  # capture noise: a few millimetres
    return GaussianCloud(
        positions=noisy.astype(np.float32),
        rotations=normal_quaternions(normals),
        scales=np.column_stack([np.full((n, 2), 0.6 * spacing), np.full(n, 0.05 * spacing)]).astype(np.float32),
        opacities=np.clip(rng.normal(0.9, 0.04, n), 0.6, 1.0).astype(np.float32),
        sh=((rgb - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )


def _grid(lo, hi, spacing, rng) -> np.ndarray:
    xs = np.arange(lo[0] + spacing / 2, hi[0], spacing)
    ys = np.arange(lo[1] + spacing / 2, hi[1], spacing)
    x, y = np.meshgrid(xs, ys)
    xy = np.column_stack([x.ravel(), y.ravel()])
    return xy + rng.uniform(-0.3, 0.3, xy.shape) * spacing


def _box_sides(lo, hi, spacing, rng, *, bottom_z: Callable | None = None):
    """Points and outward normals on a box's top and four sides (above ``bottom_z(xy)`` when given)."""
    pts, nrm = [], []
    top = _grid(lo[:2], hi[:2], spacing, rng)
    pts.append(np.column_stack([top, np.full(len(top), hi[2])]))
    nrm.append(np.tile([0, 0, 1.0], (len(top), 1)))
    for axis in (0, 1):
        other = 1 - axis
        for side, sign in ((lo[axis], -1.0), (hi[axis], 1.0)):
            uv = _grid((lo[other], lo[2]), (hi[other], hi[2]), spacing, rng)
            p = np.zeros((len(uv), 3))
            p[:, axis], p[:, other], p[:, 2] = side, uv[:, 0], uv[:, 1]
            if bottom_z is not None:
                p = p[p[:, 2] > bottom_z(p[:, :2])]
            n = np.zeros((len(p), 3))
            n[:, axis] = sign
            pts.append(p)
            nrm.append(n)
    return np.concatenate(pts), np.concatenate(nrm)


def _distance_to_boxes(xy: np.ndarray, boxes) -> np.ndarray:
    d = np.full(len(xy), np.inf)
    for lo, hi in boxes:
        dx = np.maximum(np.maximum(lo[0] - xy[:, 0], xy[:, 0] - hi[0]), 0.0)
        dy = np.maximum(np.maximum(lo[1] - xy[:, 1], xy[:, 1] - hi[1]), 0.0)
        inside = (dx == 0) & (dy == 0)
        d = np.minimum(d, np.where(inside, -1.0, np.hypot(dx, dy)))
    return d


def rolling_terrain(folder: Path, *, radius: float = 0.25, spacing: float = 0.04, seed: int = 0) -> NavScene:
    """8 x 8 m of gently rolling ground (slopes under 6 deg) with a rock, a tree trunk and a low wall.

    Written as an INRIA-layout PLY in its own Z-up metric frame, with a far sky shell.
    """
    from worldgen_sim.io.gaussian_ply import write_gaussian_ply

    rng = np.random.default_rng(seed)
    half = 4.0

    def height(xy):
        x, y = xy[:, 0], xy[:, 1]
        return (0.07 * np.sin(2 * np.pi * x / 5.0) * np.cos(2 * np.pi * y / 6.0)
                + 0.03 * np.sin(2 * np.pi * (x + y) / 3.7))

    def gradient(xy):
        x, y = xy[:, 0], xy[:, 1]
        k1, k2, k3 = 2 * np.pi / 5.0, 2 * np.pi / 6.0, 2 * np.pi / 3.7
        gx = 0.07 * k1 * np.cos(k1 * x) * np.cos(k2 * y) + 0.03 * k3 * np.cos(k3 * (x + y))
        gy = -0.07 * k2 * np.sin(k1 * x) * np.sin(k2 * y) + 0.03 * k3 * np.cos(k3 * (x + y))
        return np.column_stack([gx, gy])

    rock = (np.array([1.2, -1.0, -0.2]), np.array([1.8, -0.5, 0.35]))
    wall = (np.array([-2.5, -2.65, -0.2]), np.array([0.5, -2.5, 0.4]))
    trunk_c, trunk_r = np.array([-1.5, 1.5]), 0.2
    blockers = [(rock[0][:2], rock[1][:2]), (wall[0][:2], wall[1][:2])]

    def obstacle_distance(xy):
        return np.minimum(_distance_to_boxes(xy, blockers), np.linalg.norm(xy - trunk_c, axis=1) - trunk_r)

    xy = _grid((-half, -half), (half, half), spacing, rng)
    xy = xy[obstacle_distance(xy) > 0]
    g = gradient(xy)
    normals = np.column_stack([-g, np.ones(len(xy))])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    ground = np.column_stack([xy, height(xy)])
    clouds = [_surfels(ground, normals, spacing, rng, (0.35, 0.45, 0.2))]
    for lo, hi in (rock, wall):
        p, n = _box_sides(lo, hi, spacing, rng, bottom_z=height)
        clouds.append(_surfels(p, n, spacing, rng, (0.5, 0.5, 0.48)))
    angle = rng.uniform(0, 2 * np.pi, int(2 * np.pi * trunk_r * 2.5 / spacing**2))
    tz = rng.uniform(-0.1, 2.5, angle.size)
    ring = np.column_stack([np.cos(angle), np.sin(angle)])
    p = np.column_stack([trunk_c + trunk_r * ring, tz])
    p = p[p[:, 2] > height(p[:, :2])]
    clouds.append(_surfels(p, np.column_stack([(p[:, :2] - trunk_c) / trunk_r, np.zeros(len(p))]), spacing, rng,
                           (0.4, 0.3, 0.2)))
    clouds.append(_sky(rng, 2000, 60.0))
    cloud = concat_clouds(clouds)
    ply = Path(folder) / "terrain.ply"
    write_gaussian_ply(ply, cloud, layout="inria")

    def standable(q):
        edge = half - np.abs(q).max(axis=1)  # the ground ends at the scene border: a ledge
        return np.minimum(obstacle_distance(q), edge) >= radius

    return NavScene(ply, np.eye(4), {"align.up": "z", "align.scale": 1.0, "align.yaw": "none"},
                    standable, ground, height)


def _sky(rng, count, radius) -> GaussianCloud:
    d = rng.normal(size=(count, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d[:, 2] = np.abs(d[:, 2])
    rgb = np.clip(np.array([0.55, 0.7, 0.95]) + rng.normal(0, 0.03, (count, 3)), 0, 1)
    return GaussianCloud(
        positions=(d * radius).astype(np.float32), rotations=np.tile(np.float32([1, 0, 0, 0]), (count, 1)),
        scales=np.full((count, 3), radius * 0.03, np.float32), opacities=rng.uniform(0.5, 1, count).astype(np.float32),
        sh=((rgb - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )


def room_with_floaters(folder: Path, *, radius: float = 0.25, spacing: float = 0.05, seed: int = 0,
                       floater_fraction: float = 0.01) -> NavScene:
    """The sample room (furnished, ceiling) with 1 % floaters, as a non-metric Lyra 2.0 PLY in its camera frame."""
    from worldgen_sim.io.gaussian_ply import write_gaussian_ply
    from worldgen_sim.samples import SURFACE, make_sample_room

    surface_count = len(make_sample_room(seed=seed, spacing=spacing).gaussians)
    room = make_sample_room(seed=seed, spacing=spacing, num_floaters=int(floater_fraction * surface_count))
    cloud, input_to_world = room.to_input_frame(scale=0.8, frame="opencv")
    ply = Path(folder) / "room.ply"
    write_gaussian_ply(ply, cloud, layout="lyra2")
    hx, hy = room.size[0] / 2, room.size[1] / 2
    # Obstacles for a 0.5 m agent: everything standing on the floor; the table top (0.70 m) is overhead.
    blockers = [(b.lo[:2], b.hi[:2]) for b in room.furniture if b.lo[2] <= 0.0 + 1e-9]

    def standable(q):
        wall = np.minimum(hx - np.abs(q[:, 0]), hy - np.abs(q[:, 1]))
        return np.minimum(_distance_to_boxes(q, blockers), wall) >= radius

    points = room.gaussians.positions.astype(np.float64)
    on_floor = (room.labels == SURFACE) & (np.abs(points[:, 2]) < 1e-6)
    return NavScene(ply, input_to_world, {"align.camera_height": room.camera_height}, standable,
                    points[on_floor], lambda q: np.zeros(len(q)))


def walkable_iou(scene: NavScene, nav, world_summary: dict, *, observed_within: float = 0.05) -> dict:
    """Score a built world's walkable ground against the scene's truth, on the ground the input observed.

    The built world's frame differs from the scene's by the alignment the pipeline
    estimated; ``input_to_world`` in ``world.json`` and the scene's true one map
    every navigation cell centre back into the scene frame.

    Returns:
        ``iou``, ``holes`` (connected agent-sized patches of truly standable, observed
        ground the navmesh lost), the cell masks and the number of observed cells.
    """
    from scipy import ndimage
    from scipy.spatial import cKDTree

    est = np.asarray(world_summary["input_to_world"], np.float64)
    to_scene = scene.input_to_world @ np.linalg.inv(est)
    depth, h, w = nav.heights.shape
    rows, cols = np.mgrid[0:h, 0:w]
    centres = np.stack([nav.origin[0] + (cols.ravel() + 0.5) * nav.cell_size,
                        nav.origin[1] + (rows.ravel() + 0.5) * nav.cell_size], axis=1)
    # The navigation level on the ground: the walkable surface nearest the true ground height.
    world_pts = np.column_stack([centres, np.zeros(len(centres)), np.ones(len(centres))])
    scene_xy = (world_pts @ to_scene.T)[:, :2]
    ground_scene = np.column_stack([scene_xy, scene.ground_z(scene_xy), np.ones(len(scene_xy))])
    ground_world_z = (ground_scene @ np.linalg.inv(to_scene).T)[:, 2]
    near = np.abs(nav.heights.reshape(depth, -1) - ground_world_z) <= max(nav.agent["max_climb"], 0.05)
    predicted = (nav.walkable.reshape(depth, -1) & near).any(axis=0)
    cell_scale = np.cbrt(abs(np.linalg.det(to_scene[:3, :3])))
    dist, _ = cKDTree(scene.ground[:, :2]).query(scene_xy)
    observed = dist <= observed_within * max(cell_scale, 1e-9)
    truth = scene.standable(scene_xy)
    inter = np.count_nonzero(predicted & truth & observed)
    union = np.count_nonzero((predicted | truth) & observed)
    # A hole is a lost patch at least an agent radius across (a thin strip along a wall is erosion error).
    lost = (truth & ~predicted & observed).reshape(h, w)
    labels, count = ndimage.label(lost)
    depth_in = ndimage.distance_transform_edt(lost) * nav.cell_size
    widest = ndimage.maximum(depth_in, labels, index=np.arange(1, count + 1)) if count else np.zeros(0)
    return {
        "iou": inter / max(union, 1),
        "holes": int(np.count_nonzero(np.asarray(widest) >= 0.5 * nav.agent["agent_radius"])),
        "predicted": predicted.reshape(h, w), "truth": truth.reshape(h, w), "observed": observed.reshape(h, w),
        "observed_cells": int(observed.sum()),
    }

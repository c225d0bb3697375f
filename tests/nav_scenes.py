"""A Gaussian scene with analytic walkable truth for the navigation numbers (the room with floaters).

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


def _distance_to_boxes(xy: np.ndarray, boxes) -> np.ndarray:
    d = np.full(len(xy), np.inf)
    for lo, hi in boxes:
        dx = np.maximum(np.maximum(lo[0] - xy[:, 0], xy[:, 0] - hi[0]), 0.0)
        dy = np.maximum(np.maximum(lo[1] - xy[:, 1], xy[:, 1] - hi[1]), 0.0)
        inside = (dx == 0) & (dy == 0)
        d = np.minimum(d, np.where(inside, -1.0, np.hypot(dx, dy)))
    return d


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

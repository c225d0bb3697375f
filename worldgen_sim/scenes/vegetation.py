"""A vegetation tile: 4 m x 4 m of gently bumpy ground with stems, leaves and flowers (~15 k Gaussians).

Thousands of small pieces, as in a captured flower field: the collision stage
must stay fast on them (cluster or cap per-piece cost) and never crash.
Written as Lyra 2.0 would (OpenCV frame of the first camera, not metric).
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.scenes.geometry import GROUND, OBJECT, cylinders_part, ellipsoids_part, heightfield_part
from worldgen_sim.scenes.scene import Defects, Scene, assemble_scene, camera_path, look_at

__all__ = ["make_vegetation"]

_HALF = 2.0
_CLUTTER_SPACING = 0.015


def _height(xy):
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    h = 0.04 * np.sin(1.7 * xy[:, 0] + 0.4) * np.cos(1.3 * xy[:, 1] - 0.2)
    return np.where(np.any(np.abs(xy) > _HALF, axis=1), np.nan, h)


def _gradient(xy):
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    a, b = 1.7 * xy[:, 0] + 0.4, 1.3 * xy[:, 1] - 0.2
    return np.column_stack([0.04 * 1.7 * np.cos(a) * np.cos(b), -0.04 * 1.3 * np.sin(a) * np.sin(b)])


def make_vegetation(*, seed: int = 0, spacing: float = 0.06, plants: int = 80, defects: Defects | None = None) -> Scene:
    """Build the vegetation tile: ``plants`` plants, each a stem, four leaves and a flower."""
    defects = defects or Defects(position_noise=0.004)
    rng = np.random.default_rng(seed + 1000)
    base_xy = rng.uniform(-_HALF + 0.2, _HALF - 0.2, (plants, 2))
    base = np.column_stack([base_xy, _height(base_xy) - 0.02])
    lean = rng.normal(0.0, 0.08, (plants, 2))
    heights = rng.uniform(0.2, 0.5, plants)
    tops = base + np.column_stack([lean * heights[:, None], heights + 0.02])
    stems = cylinders_part("stems", base, tops, np.full(plants, 0.003), kind=OBJECT, color=(0.25, 0.5, 0.15),
                           segments=6)
    stems.spacing = _CLUTTER_SPACING
    # Four leaves per plant, flat ellipsoids along the stem, turned about it.
    k = np.repeat(np.arange(plants), 4)
    t = rng.uniform(0.2, 0.7, k.size)
    yaw = rng.uniform(0, 2 * np.pi, k.size)
    direction = np.column_stack([np.cos(yaw), np.sin(yaw), np.zeros(k.size)])
    centres = base[k] + t[:, None] * (tops[k] - base[k]) + 0.035 * direction
    rotations = np.stack([np.column_stack([d, np.cross([0, 0, 1.0], d), [0, 0, 1.0]]) for d in direction])
    leaves = ellipsoids_part("leaves", centres, rotations, np.tile([0.035, 0.018, 0.002], (k.size, 1)),
                             kind=OBJECT, color=(0.3, 0.6, 0.2))
    leaves.spacing = _CLUTTER_SPACING
    colors = [(0.9, 0.2, 0.3), (0.95, 0.85, 0.2), (0.7, 0.4, 0.9)]
    flowers = [
        ellipsoids_part(f"flowers_{i}", tops[i::3], np.tile(np.eye(3), (len(tops[i::3]), 1, 1)),
                        np.tile([0.022, 0.022, 0.015], (len(tops[i::3]), 1)), kind=OBJECT, color=c)
        for i, c in enumerate(colors)
    ]
    for part in flowers:
        part.spacing = _CLUTTER_SPACING
    ground = heightfield_part("ground", _height, _gradient, (-_HALF, -_HALF), (_HALF, _HALF), kind=GROUND,
                              color=(0.4, 0.33, 0.22), bottom=-1.0, mesh_step=0.05)
    poses = [
        look_at((2.6 * np.cos(a), 2.6 * np.sin(a), 1.6), (0.3 * np.cos(a), 0.3 * np.sin(a), 0.0))
        for a in np.radians(np.arange(6) * 60.0 + 240.0)
    ]
    return assemble_scene(
        "vegetation", [ground, stems, leaves, *flowers], camera_path(poses), spacing=spacing, seed=seed,
        defects=defects, bounds=((-_HALF, -_HALF, -0.5), (_HALF, _HALF, 1.5)), ground_height=_height,
        ground_gradient=_gradient, layout="lyra2", frame="opencv", input_scale=1.0,
    )

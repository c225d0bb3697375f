"""Stairs (17 cm risers, 28 cm treads) up to a 0.85 m platform, and a 20 deg ramp to it, in a walled area.

The area spans [-3, 3] x [-2.5, 2.5] m with 2.5 m walls and no roof. The
platform fills the back-right corner; the stairs climb to it along +y, the
ramp along +x. With the agent presets of navigation_cfg, humanoids and
quadrupeds (20 cm climb; 35 / 30 deg slopes) take the stairs or the ramp,
wheeled robots (3 cm, 15 deg) neither. Written as Lyra 1.0 would: OpenCV
frame, relative depth.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.scenes.geometry import GROUND, STRUCTURE, box_part, convex_part
from worldgen_sim.scenes.scene import Defects, Scene, assemble_scene, camera_path, look_at

__all__ = ["PLATFORM", "PLATFORM_HEIGHT", "RAMP_DEG", "RISER", "TREAD", "make_stairs"]

RISER, TREAD, PLATFORM_HEIGHT, RAMP_DEG = 0.17, 0.28, 0.85, 20.0
"""Stair riser and tread [m], platform top [m], ramp slope [deg]."""
PLATFORM = ((0.6, 0.9), (3.0, 2.5))
"""Platform footprint, (x0, y0), (x1, y1) [m]."""
_HX, _HY, _WALL_H, _WALL_T = 3.0, 2.5, 2.5, 0.15
_STAIR_X = (1.7, 3.0)
_STEPS = int(round(PLATFORM_HEIGHT / RISER))  # 5 risers; the last one is the platform's edge
_RAMP_Y = (1.1, 2.5)
_RAMP_RUN = PLATFORM_HEIGHT / np.tan(np.radians(RAMP_DEG))


def ground_height(xy: np.ndarray) -> np.ndarray:
    """(N,) top of the floor, steps, platform and ramp at (N, 2) xy [m]; NaN outside the walls."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    h = np.zeros(len(xy))
    (px0, py0), (px1, py1) = PLATFORM
    stairs = (x > _STAIR_X[0]) & (x < _STAIR_X[1]) & (y < py0) & (y > py0 - (_STEPS - 1) * TREAD)
    step = _STEPS - 1 - np.floor((py0 - y) / TREAD)  # 1 .. 4 from the bottom
    h = np.where(stairs, RISER * step, h)
    ramp = (x < px0) & (x > px0 - _RAMP_RUN) & (y > _RAMP_Y[0]) & (y < _RAMP_Y[1])
    h = np.where(ramp, PLATFORM_HEIGHT - (px0 - x) * np.tan(np.radians(RAMP_DEG)), h)
    h = np.where((x > px0) & (x < px1) & (y > py0) & (y < py1), PLATFORM_HEIGHT, h)
    outside = (np.abs(x) >= _HX) | (np.abs(y) >= _HY)
    return np.where(outside, np.nan, h)


def ground_gradient(xy: np.ndarray) -> np.ndarray:
    """(N, 2) dh/dx, dh/dy of :func:`ground_height` (zero on treads, floor and platform)."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    (px0, _), _ = PLATFORM
    ramp = (xy[:, 0] < px0) & (xy[:, 0] > px0 - _RAMP_RUN) & (xy[:, 1] > _RAMP_Y[0]) & (xy[:, 1] < _RAMP_Y[1])
    grad = np.zeros((len(xy), 2))
    grad[ramp, 0] = np.tan(np.radians(RAMP_DEG))
    return grad


def make_stairs(*, seed: int = 0, spacing: float = 0.04, defects: Defects | None = None) -> Scene:
    """Build the stairs scene (about 60 k Gaussians at the default spacing)."""
    defects = defects or Defects()
    (px0, py0), (px1, py1) = PLATFORM
    floor_c, wall_c, step_c = (0.55, 0.52, 0.48), (0.8, 0.8, 0.78), (0.65, 0.45, 0.35)
    parts = [box_part("floor", (-_HX, -_HY, -0.1), (_HX, _HY, 0.0), kind=GROUND, color=floor_c)]
    parts.append(box_part("platform", (px0, py0, 0.0), (px1, py1, PLATFORM_HEIGHT), kind=GROUND, color=step_c))
    for k in range(1, _STEPS):
        y0 = py0 - (_STEPS - k) * TREAD
        parts.append(box_part(f"step_{k}", (_STAIR_X[0], y0, 0.0), (_STAIR_X[1], y0 + TREAD, RISER * k),
                              kind=GROUND, color=tuple(np.clip(np.add(step_c, 0.04 * k), 0, 1))))
    x0 = px0 - _RAMP_RUN
    wedge = [(x0, _RAMP_Y[0], 0), (x0, _RAMP_Y[1], 0), (px0, _RAMP_Y[0], 0), (px0, _RAMP_Y[1], 0),
             (px0, _RAMP_Y[0], PLATFORM_HEIGHT), (px0, _RAMP_Y[1], PLATFORM_HEIGHT)]
    parts.append(convex_part("ramp", wedge, kind=GROUND, color=(0.5, 0.5, 0.6)))
    t = _WALL_T
    walls = [
        ((-_HX - t, -_HY - t, -0.1), (_HX + t, -_HY, _WALL_H)),
        ((-_HX - t, _HY, -0.1), (_HX + t, _HY + t, _WALL_H)),
        ((-_HX - t, -_HY, -0.1), (-_HX, _HY, _WALL_H)),
        ((_HX, -_HY, -0.1), (_HX + t, _HY, _WALL_H)),
    ]
    parts += [box_part(f"wall_{i}", lo, hi, kind=STRUCTURE, color=wall_c) for i, (lo, hi) in enumerate(walls)]
    poses = [
        look_at((-2.2, -1.8, 1.6), (1.5, 1.0, 0.4)),
        look_at((0.5, -2.1, 1.6), (1.5, 1.5, 0.5)),
        look_at((-2.5, 0.5, 1.6), (0.5, 1.8, 0.3)),
        look_at((2.4, -2.0, 1.6), (-1.0, 1.0, 0.0)),
        look_at((-0.5, 0.0, 1.6), (-2.5, -2.0, 0.0)),
        look_at((1.2, -0.8, 1.6), (2.5, -2.3, 0.3)),
        look_at((1.8, 1.7, 2.45), (-1.5, -1.0, 0.0)),
        look_at((-1.5, 2.0, 1.6), (2.0, 2.0, 0.6)),
    ]
    return assemble_scene(
        "stairs", parts, camera_path(poses), spacing=spacing, seed=seed, defects=defects,
        bounds=((-_HX, -_HY, -0.1), (_HX, _HY, _WALL_H)), ground_height=ground_height,
        ground_gradient=ground_gradient, layout="lyra1", frame="opencv", input_scale=1.3,
    )

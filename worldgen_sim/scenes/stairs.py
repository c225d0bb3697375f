"""Stairs (17 cm risers, 28 cm treads) up to a 0.85 m platform, and a 20 deg ramp to it, in a walled area.

The area spans [-3, 3] x [-2.5, 2.5] m with 2.5 m walls and no roof. The
platform fills the back-right corner; the stairs climb to it along +y, the
ramp along +x. With the agent presets of navigation_cfg, humanoids and
quadrupeds (20 cm climb; 35 / 30 deg slopes) take the stairs or the ramp,
wheeled robots (3 cm, 15 deg) neither. Written as Lyra 1.0 would: OpenCV
frame, relative depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldgen_sim.scenes.geometry import GROUND, STRUCTURE, box_part, convex_part
from worldgen_sim.scenes.scene import Defects, Scene, assemble_scene, camera_path, look_at

__all__ = [
    "GROUND_POINT", "PLATFORM", "PLATFORM_HEIGHT", "PLATFORM_POINT", "RAMP_DEG", "RISER", "STAIRS_FOOT", "TREAD",
    "StairsLayout",
    "ground_functions", "ground_gradient", "ground_height", "make_stairs", "stairs_layout",
]

RISER, TREAD, PLATFORM_HEIGHT, RAMP_DEG = 0.17, 0.28, 0.85, 20.0
"""Stair riser and tread [m], platform top [m], ramp slope [deg]."""
PLATFORM = ((0.6, 0.9), (3.0, 2.5))
"""Platform footprint, (x0, y0), (x1, y1) [m]."""
GROUND_POINT, PLATFORM_POINT, STAIRS_FOOT = (-1.5, -1.5), (2.2, 1.8), (2.35, -1.6)
"""A floor point, a platform point and a floor point in front of the stairs (true frame, every layout) [m]:
the ends of the path queries. From the stairs' foot the way up the stairs is 2-4 m; round by the ramp, 9 m."""
_HX, _HY, _WALL_H, _WALL_T = 3.0, 2.5, 2.5, 0.15
_STAIR_X = (1.7, 3.0)
_RAMP_Y = (1.1, 2.5)
_RAMP_X0_MIN = -2.9  # the ramp's foot stays inside the west wall


@dataclass(frozen=True)
class StairsLayout:
    """The stairs scene's geometry (true frame, metres).

    Attributes:
        riser: height of each step [m]; the last riser is the platform's edge.
        tread: depth of each step [m].
        steps: risers from the floor to the platform top (``platform_height / riser``).
        ramp_deg: the ramp's slope [deg].
        platform_height: the platform top [m].
    """

    riser: float = RISER
    tread: float = TREAD
    steps: int = int(round(PLATFORM_HEIGHT / RISER))  # 5 risers
    ramp_deg: float = RAMP_DEG
    platform_height: float = PLATFORM_HEIGHT

    @property
    def ramp_run(self) -> float:
        """Horizontal length of the ramp [m]."""
        return self.platform_height / np.tan(np.radians(self.ramp_deg))


def stairs_layout(*, riser: float | None = None, platform_height: float | None = None,
                  ramp_deg: float | None = None, tread: float | None = None) -> StairsLayout:
    """The default layout, or one with other risers, platform height, ramp slope or tread.

    The platform height is rounded to whole risers: ``steps = round(platform_height / riser)``, and the
    riser is then ``platform_height / steps`` so the top step is flush with the platform.

    Raises:
        ValueError: a ramp that would not fit inside the walls, or a riser or tread outside 0.05-0.4 m.
    """
    default = StairsLayout()
    height = default.platform_height if platform_height is None else platform_height
    steps = max(1, int(round(height / (riser or default.riser))))
    layout = StairsLayout(riser=height / steps if riser or platform_height else default.riser,
                          tread=tread or default.tread, steps=steps, ramp_deg=ramp_deg or default.ramp_deg,
                          platform_height=height)
    (px0, py0), _ = PLATFORM
    if px0 - layout.ramp_run < _RAMP_X0_MIN:
        raise ValueError(f"ramp: {layout.ramp_deg:g} deg up to {height:g} m runs {layout.ramp_run:.2f} m, more "
                         f"than the {px0 - _RAMP_X0_MIN:.2f} m inside the walls")
    if not (0.05 <= layout.riser <= 0.4 and 0.05 <= layout.tread <= 0.4):
        raise ValueError(f"riser {layout.riser:g} m or tread {layout.tread:g} m outside 0.05-0.4 m")
    if py0 - (steps - 1) * layout.tread < -_HY + 0.3:
        raise ValueError(f"{steps} steps of {layout.tread:g} m do not fit in front of the platform")
    return layout


def ground_functions(layout: StairsLayout):
    """``(height, gradient)``: (N, 2) xy -> (N,) top of the floor, steps, platform and ramp [m] (NaN outside
    the walls), and (N, 2) xy -> (N, 2) its dh/dx, dh/dy (zero on treads, floor and platform)."""
    riser, tread, steps = layout.riser, layout.tread, layout.steps
    top, run, rise = layout.platform_height, layout.ramp_run, np.tan(np.radians(layout.ramp_deg))
    (px0, py0), (px1, py1) = PLATFORM

    def on_ramp(x, y):
        return (x < px0) & (x > px0 - run) & (y > _RAMP_Y[0]) & (y < _RAMP_Y[1])

    def height(xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        x, y = xy[:, 0], xy[:, 1]
        h = np.zeros(len(xy))
        stairs = (x > _STAIR_X[0]) & (x < _STAIR_X[1]) & (y < py0) & (y > py0 - (steps - 1) * tread)
        step = steps - 1 - np.floor((py0 - y) / tread)  # 1 .. steps-1 from the bottom
        h = np.where(stairs, riser * step, h)
        h = np.where(on_ramp(x, y), top - (px0 - x) * rise, h)
        h = np.where((x > px0) & (x < px1) & (y > py0) & (y < py1), top, h)
        outside = (np.abs(x) >= _HX) | (np.abs(y) >= _HY)
        return np.where(outside, np.nan, h)

    def gradient(xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        grad = np.zeros((len(xy), 2))
        grad[on_ramp(xy[:, 0], xy[:, 1]), 0] = rise
        return grad

    return height, gradient


ground_height, ground_gradient = ground_functions(StairsLayout())
"""The default scene's ground (see :func:`ground_functions`)."""


def make_stairs(*, seed: int = 0, spacing: float = 0.04, defects: Defects | None = None,
                riser: float | None = None, platform_height: float | None = None, ramp_deg: float | None = None,
                tread: float | None = None) -> Scene:
    """Build the stairs scene (about 60 k Gaussians at the default spacing).

    ``riser``, ``platform_height`` [m], ``ramp_deg`` [deg], ``tread`` [m]: another geometry
    (:func:`stairs_layout`); None keeps the default scene's.
    """
    defects = defects or Defects()
    layout = stairs_layout(riser=riser, platform_height=platform_height, ramp_deg=ramp_deg, tread=tread)
    top, rise, tread_, steps = layout.platform_height, layout.riser, layout.tread, layout.steps
    (px0, py0), (px1, py1) = PLATFORM
    floor_c, wall_c, step_c = (0.55, 0.52, 0.48), (0.8, 0.8, 0.78), (0.65, 0.45, 0.35)
    parts = [box_part("floor", (-_HX, -_HY, -0.1), (_HX, _HY, 0.0), kind=GROUND, color=floor_c)]
    parts.append(box_part("platform", (px0, py0, 0.0), (px1, py1, top), kind=GROUND, color=step_c))
    for k in range(1, steps):
        y0 = py0 - (steps - k) * tread_
        parts.append(box_part(f"step_{k}", (_STAIR_X[0], y0, 0.0), (_STAIR_X[1], y0 + tread_, rise * k),
                              kind=GROUND, color=tuple(np.clip(np.add(step_c, 0.04 * k), 0, 1))))
    x0 = px0 - layout.ramp_run
    wedge = [(x0, _RAMP_Y[0], 0), (x0, _RAMP_Y[1], 0), (px0, _RAMP_Y[0], 0), (px0, _RAMP_Y[1], 0),
             (px0, _RAMP_Y[0], top), (px0, _RAMP_Y[1], top)]
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
    heights, gradients = ground_functions(layout)
    return assemble_scene(
        "stairs", parts, camera_path(poses), spacing=spacing, seed=seed, defects=defects,
        bounds=((-_HX, -_HY, -0.1), (_HX, _HY, _WALL_H)), ground_height=heights,
        ground_gradient=gradients, layout="lyra1", frame="opencv", input_scale=1.3,
    )

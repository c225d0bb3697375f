"""Rolling outdoor terrain: a 10 m x 10 m heightfield (slopes under 6 deg), rocks, a fallen trunk, a low wall.

Written as Lyra 2.0 would hand it over: OpenCV frame of the first camera, not
metric, a ``cameras.npz`` beside the PLY, and a far sky shell.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import CameraPath
from worldgen_sim.scenes.geometry import (
    GROUND,
    OBJECT,
    STRUCTURE,
    box_part,
    cylinders_part,
    ellipsoids_part,
    heightfield_part,
)
from worldgen_sim.scenes.scene import Defects, Scene, assemble_scene, camera_path, look_at

__all__ = ["MAX_SLOPE_DEG", "make_terrain"]

MAX_SLOPE_DEG = 5.5
"""Steepest slope of the ground [deg] (the issue's "under 6 degrees")."""

_HALF = 5.0  # the tile spans [-5, 5] m in x and y
# Waves: (amplitude [m] before normalisation, wave vector [rad/m], phase).
_WAVES = [(1.0, (2 * np.pi / 9.0, 0.4), 0.3), (0.7, (-0.3, 2 * np.pi / 7.0), 1.0), (0.3, (0.9, 0.8), 2.0)]


def _wave_sum(xy: np.ndarray, amplitudes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, grad = np.zeros(len(xy)), np.zeros((len(xy), 2))
    for a, (k, _, phase) in zip(amplitudes, ((np.asarray(w[1]), None, w[2]) for w in _WAVES)):
        arg = xy @ k + phase
        h += a * np.sin(arg)
        grad += (a * np.cos(arg))[:, None] * k
    return h, grad


def _terrain_functions():
    """Height and gradient functions whose steepest slope over the tile is exactly MAX_SLOPE_DEG."""
    base = np.array([w[0] for w in _WAVES])
    g = np.linspace(-_HALF, _HALF, 401)
    xy = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    steepest = np.linalg.norm(_wave_sum(xy, base)[1], axis=1).max()
    amplitudes = base * np.tan(np.radians(MAX_SLOPE_DEG)) / steepest

    def height(xy):
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        h = _wave_sum(xy, amplitudes)[0]
        off = np.any(np.abs(xy) > _HALF, axis=1)
        return np.where(off, np.nan, h)

    def gradient(xy):
        return _wave_sum(np.asarray(xy, np.float64).reshape(-1, 2), amplitudes)[1]

    return height, gradient


def _yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def make_terrain(*, seed: int = 0, spacing: float = 0.04, defects: Defects | None = None) -> Scene:
    """Build the terrain scene (about 75 k Gaussians at the default spacing, 3000 of them sky)."""
    defects = defects or Defects(sky=3000)
    height, gradient = _terrain_functions()
    at = lambda x, y: float(height(np.array([[x, y]]))[0])  # noqa: E731
    ground = heightfield_part(
        "terrain", height, gradient, (-_HALF, -_HALF), (_HALF, _HALF), kind=GROUND, color=(0.42, 0.5, 0.3),
        bottom=-2.0,
    )
    rocks = [((1.8, 2.2), (0.5, 0.35, 0.3), 0.4), ((-2.5, 1.5), (0.4, 0.3, 0.28), 1.3),
             ((2.8, -2.0), (0.35, 0.3, 0.3), 2.2), ((-1.0, -3.2), (0.45, 0.4, 0.32), 0.7)]
    rock_part = ellipsoids_part(
        "rocks",
        [(x, y, at(x, y) + 0.35 * s[2]) for (x, y), s, _ in rocks],
        [_yaw(a) for *_, a in rocks],
        [s for _, s, _ in rocks],
        kind=OBJECT, color=(0.5, 0.48, 0.45),
    )
    # A fallen trunk, its axis 0.15 m above the ground at both ends (sunk a little into it).
    ends = [(-3.2, -0.6), (-0.4, 0.4)]
    trunk = cylinders_part(
        "trunk", [(*ends[0], at(*ends[0]) + 0.15)], [(*ends[1], at(*ends[1]) + 0.15)], [0.2],
        kind=OBJECT, color=(0.4, 0.28, 0.18),
    )
    wall_lo, wall_hi = (0.5, -1.2), (3.5, -1.0)
    wall_base = min(at(x, y) for x in (wall_lo[0], wall_hi[0]) for y in (wall_lo[1], wall_hi[1]))
    wall_top = at(2.0, -1.1) + 0.5
    wall = box_part("low_wall", (*wall_lo, wall_base - 0.2), (*wall_hi, wall_top), kind=STRUCTURE,
                    color=(0.6, 0.58, 0.55))
    cameras = _cameras(at)
    return assemble_scene(
        "terrain", [ground, rock_part, trunk, wall], cameras, spacing=spacing, seed=seed, defects=defects,
        bounds=((-_HALF, -_HALF, -1.0), (_HALF, _HALF, 2.5)), ground_height=height, ground_gradient=gradient,
        layout="lyra2", frame="opencv", input_scale=0.7, write_cameras=True,
    )


def _cameras(at) -> CameraPath:
    """A walk through the tile: 8 cameras on a 3.5 m circle looking in, 4 at the centre looking out, 1.6 m up."""
    poses = []
    for angle in np.radians(np.arange(8) * 45.0 + 225.0):
        x, y = 3.5 * np.cos(angle), 3.5 * np.sin(angle)
        poses.append(look_at((x, y, at(x, y) + 1.6), (0.3 * x, 0.3 * y, at(0.3 * x, 0.3 * y))))
    for angle in np.radians(np.arange(4) * 90.0 + 20.0):
        x, y = 4.0 * np.cos(angle), 4.0 * np.sin(angle)
        poses.append(look_at((0.0, 0.0, at(0.0, 0.0) + 1.6), (x, y, at(x, y))))
    return camera_path(poses)

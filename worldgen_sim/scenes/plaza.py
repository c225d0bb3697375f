"""A real-capture-like scene: a statue on a pedestal on a paved plaza, as an INRIA 3DGS trainer leaves it.

What differs from the other scenes is what real trainer output looks like
(issue 8's "statue on a paved plaza"):

* the frame is structure-from-motion's: an arbitrary rotation (up is 30-60 deg
  off every axis), an offset and an arbitrary scale (``input_scale`` units per
  metre), written as ``MODEL/point_cloud/iteration_30000/point_cloud.ply`` with
  ``MODEL/cameras.json`` (:meth:`~worldgen_sim.scenes.scene.Scene.write_inria_model`);
* the Gaussians are of very mixed size: log-normal scale jitter, huge flat
  "splotches" on the ground, needles, many faint ones; SH degree 3;
* the cameras orbit the statue 2-4 m away at 1.2-1.8 m height, all looking in:
  a 4 x 4 m tile is seen densely, the plaza around it more and more sparsely out
  to 25 m, and at grazing angles only;
* background: buildings 12-45 m away and trees 10-20 m away, sparse and blurry
  (30 cm surfels), and a sky shell.

The plaza itself drains gently (a 1 deg cross-fall plus centimetre undulations).
Truth is judged in :data:`BOUNDS` (8 x 8 m around the statue); the far ground
and the background are not scored (``scored_xy``) but are in the input, as in a
real capture. ``density`` multiplies the Gaussian count (7 gives about 1 M).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from worldgen_sim.scenes.geometry import (
    GROUND,
    OBJECT,
    STRUCTURE,
    Part,
    box_part,
    cylinders_part,
    ellipsoids_part,
    heightfield_part,
    tilt_rotation,
)
from worldgen_sim.scenes.scene import Defects, Scene, assemble_scene, camera_path, look_at

__all__ = ["BOUNDS", "PEDESTAL", "make_plaza", "sfm_rotation"]

BOUNDS = ((-4.0, -4.0, -0.5), (4.0, 4.0, 2.8))
"""Region of interest (lo, hi) [m]: walkability, free space and surfaces are judged inside it."""
PEDESTAL = ((-0.45, -0.45), (0.45, 0.45), 0.8)
"""The pedestal's x, y bounds (lo, hi) [m] and its top's height above the plaza's origin [m]."""
_RINGS = ((2.0, 0.02), (4.0, 0.045), (8.0, 0.1), (25.0, 0.3))
"""Ground rings (outer half-width [m], surfel spacing [m] at density 1): the centre tile, then ever sparser."""
_SLOPE = np.array([0.0175, 0.006])
"""Plaza cross-fall dh/dx, dh/dy (about 1 deg)."""


def _ground_functions():
    """Height and gradient of the plaza (a plane with centimetre undulations, NaN beyond the outer ring),
    and the same surface continued beyond it (where the far buildings stand)."""
    k1, k2 = np.array([2 * np.pi / 5.0, 0.7]), np.array([-0.5, 2 * np.pi / 3.5])

    def surface(xy):
        return xy @ _SLOPE + 0.012 * np.sin(xy @ k1 + 0.4) + 0.008 * np.sin(xy @ k2 + 1.1)

    def height(xy):
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return np.where(np.any(np.abs(xy) > _RINGS[-1][0], axis=1), np.nan, surface(xy))

    def gradient(xy):
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return (_SLOPE + (0.012 * np.cos(xy @ k1 + 0.4))[:, None] * k1
                + (0.008 * np.cos(xy @ k2 + 1.1))[:, None] * k2)

    return height, gradient, surface


def _ground_parts(height, gradient, density: float) -> list[Part]:
    """The centre tile and square rings around it (four rectangles each), coarser outwards."""
    parts, inner = [], 0.0
    for outer, spacing in _RINGS:
        step = spacing / np.sqrt(density)
        mesh_step = min(0.5, max(0.1, 2 * spacing))
        if inner == 0.0:
            pieces = [((-outer, -outer), (outer, outer))]
        else:
            pieces = [((-outer, inner), (outer, outer)), ((-outer, -outer), (outer, -inner)),
                      ((-outer, -inner), (-inner, inner)), ((inner, -inner), (outer, inner))]
        for k, (lo, hi) in enumerate(pieces):
            part = heightfield_part(f"plaza_{outer:g}_{k}", height, gradient, lo, hi, kind=GROUND,
                                    color=(0.55, 0.53, 0.5), bottom=-1.0, mesh_step=mesh_step)
            parts.append(dataclasses.replace(part, spacing=step))
        inner = outer
    return parts


def _statue(at, density: float) -> list[Part]:
    """A pedestal sunk into the plaza and a figure on it: torso, head, one arm raised, one held out."""
    (x0, y0), (x1, y1), top = PEDESTAL
    base = min(at(x, y) for x in (x0, x1) for y in (y0, y1)) - 0.1
    top += at(0.0, 0.0)
    pedestal = box_part("pedestal", (x0, y0, base), (x1, y1, top), kind=OBJECT, color=(0.72, 0.7, 0.66))
    blobs = [  # centre above the pedestal top, semi-axes, tilt about x and y [rad]
        ((0.0, 0.0, 0.08), (0.3, 0.25, 0.1), (0.0, 0.0)),
        ((0.0, 0.0, 0.5), (0.2, 0.15, 0.4), (0.0, 0.0)),
        ((0.02, 0.0, 1.02), (0.12, 0.12, 0.14), (0.1, 0.0)),
        ((0.3, 0.0, 0.85), (0.05, 0.05, 0.3), (0.0, 0.6)),  # raised arm: thin, reaching out and up
        ((-0.38, 0.05, 0.68), (0.3, 0.045, 0.045), (0.1, 0.15)),  # arm held out sideways
    ]
    figure = ellipsoids_part(
        "figure", [(c[0], c[1], top + c[2]) for c, _, _ in blobs], [tilt_rotation(*a) for *_, a in blobs],
        [s for _, s, _ in blobs], kind=OBJECT, color=(0.6, 0.62, 0.58),
    )
    step = 0.012 / np.sqrt(density)
    return [dataclasses.replace(pedestal, spacing=step), dataclasses.replace(figure, spacing=step)]


def _background(at, rng: np.random.Generator, density: float) -> list[Part]:
    """Buildings 12-45 m away and trees 10-20 m away, covered by coarse (blurry) surfels."""
    step = 0.3 / np.sqrt(density)
    parts = []
    for k, (angle, distance, width, depth, tall) in enumerate(
        [(20, 15, 10, 6, 9), (110, 24, 14, 8, 14), (200, 13, 8, 5, 7), (290, 40, 20, 10, 18)]
    ):
        c = distance * np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
        half = 0.5 * np.array([width, depth]) if k % 2 == 0 else 0.5 * np.array([depth, width])
        floor = at(*c) - 0.3
        box = box_part(f"building_{k}", (*(c - half), floor), (*(c + half), floor + tall), kind=STRUCTURE,
                       color=(0.65, 0.6, 0.55))
        parts.append(dataclasses.replace(box, spacing=step))
    angles = rng.uniform(0, 2 * np.pi, 6)
    distances = rng.uniform(10.0, 20.0, 6)
    xy = np.column_stack([distances * np.cos(angles), distances * np.sin(angles)])
    ground = np.array([at(x, y) for x, y in xy])
    trunks = cylinders_part("tree_trunks", np.column_stack([xy, ground - 0.2]), np.column_stack([xy, ground + 2.5]),
                            np.full(6, 0.18), kind=OBJECT, color=(0.35, 0.25, 0.15))
    crowns = ellipsoids_part("tree_crowns", np.column_stack([xy, ground + 3.8]), np.repeat(np.eye(3)[None], 6, 0),
                             np.column_stack([np.full(6, 1.8), np.full(6, 1.8), np.full(6, 1.6)]), kind=OBJECT,
                             color=(0.25, 0.4, 0.2))
    return parts + [dataclasses.replace(trunks, spacing=step), dataclasses.replace(crowns, spacing=step)]


def _cameras(at, rng: np.random.Generator, count: int):
    """``count`` cameras orbiting the statue 2-4 m away at 1.2-1.8 m above the plaza, all looking at it."""
    poses = []
    for i, angle in enumerate(np.linspace(0.0, 2 * np.pi, count, endpoint=False) + np.radians(200.0)):
        radius = (2.2, 3.0, 3.8)[i % 3] + rng.uniform(-0.15, 0.15)
        x, y = radius * np.cos(angle), radius * np.sin(angle)
        eye = (x, y, at(x, y) + 1.2 + 0.6 * ((i * 7) % count) / max(count - 1, 1))
        target = (rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), at(0.0, 0.0) + rng.uniform(0.6, 1.3))
        poses.append(look_at(eye, target))
    return camera_path(poses, width=800, height=600, fov_deg=75.0)


def sfm_rotation(rng: np.random.Generator, *, min_off_axis_deg: float = 30.0) -> np.ndarray:
    """(3, 3) a random world-to-input rotation whose image of world up is at least ``min_off_axis_deg``
    [deg] away from every input axis direction (up is no axis, as in a COLMAP frame)."""
    while True:
        q = rng.normal(size=4)
        w, x, y, z = q / np.linalg.norm(q)
        r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                      [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                      [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
        if np.degrees(np.arccos(np.abs(r[:, 2]).max())) >= min_off_axis_deg:
            return r


def make_plaza(*, seed: int = 0, density: float = 1.0, spacing: float | None = None, cameras: int = 36,
               defects: Defects | None = None, input_scale: float | None = None) -> Scene:
    """Build the plaza (about 150 k Gaussians at ``density`` 1, about 1 M at 7).

    Args:
        seed: random seed (geometry of the background, cameras, frame, surfels).
        density: Gaussian count factor (surfel spacing / sqrt(density)); the defects' counts scale with it.
        spacing: the centre tile's surfel spacing [m] instead of ``density`` (0.02 at density 1).
        cameras: capture cameras.
        defects: capture defects (default: SH 3, mixed sizes, splotches, needles, faint ones, sky).
        input_scale: input units per metre (default: drawn from 0.2-5, log-uniform, from the seed).
    """
    if spacing is not None:
        density = (_RINGS[0][1] / spacing) ** 2
    rng = np.random.default_rng(seed + 1000)  # the scene's own layout; assemble_scene draws from ``seed``
    height, gradient, surface = _ground_functions()
    at = lambda x, y: float(surface(np.array([[x, y]], np.float64))[0])  # noqa: E731
    defects = defects or Defects(
        position_noise=0.006, scale_jitter=0.45, rotation_jitter_deg=6.0, sky=int(4000 * density),
        sky_radius=100.0, sh_degree=3, splotches=int(600 * density), needles=int(2500 * density),
        faint_fraction=0.12,
    )
    parts = _ground_parts(height, gradient, density) + _statue(at, density) + _background(at, rng, density)
    scale = float(np.exp(rng.uniform(np.log(0.2), np.log(5.0)))) if input_scale is None else float(input_scale)
    rotation = sfm_rotation(rng)
    offset = tuple(float(v) for v in rng.uniform(-3.0, 3.0, 3))
    lo, hi = np.asarray(BOUNDS[0][:2]), np.asarray(BOUNDS[1][:2])
    return assemble_scene(
        "plaza", parts, _cameras(at, rng, cameras), spacing=_RINGS[0][1] / np.sqrt(density), seed=seed,
        defects=defects, bounds=BOUNDS, ground_height=height, ground_gradient=gradient, layout="inria",
        frame="colmap", input_scale=scale, input_rotation=rotation, input_offset=offset,
        scored_xy=np.array([lo, hi]),
    )

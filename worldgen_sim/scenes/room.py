"""Rooms: a furnished room with 1 % low-opacity floaters, and a room with an unlidded cabinet.

Both are closed rooms (floor, four walls, ceiling) seen by cameras 1.3-1.6 m
up. The floaters room is written as an INRIA 3DGS PLY with SH degree 3 in a
Z-up metric frame (a trainer's output); its floaters are what a trainer
leaves in the air: faint specks and small semi-transparent clouds. The
cabinet is an open-top box taller than every camera, so its top and inside
were never seen; the space inside it is free.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import GaussianCloud
from worldgen_sim.scenes.geometry import GROUND, OBJECT, STRUCTURE, Part, box_part
from worldgen_sim.scenes.scene import Defects, Scene, assemble_scene, camera_path, look_at

__all__ = ["CABINET", "furniture_layout", "make_cabinet_room", "make_floaters_room", "room_floaters"]

CABINET = ((1.7, -0.2, 0.0), (2.5, 0.6, 1.9))
"""The unlidded cabinet's outer bounds (lo, hi) [m]; its walls and bottom are 3 cm thick."""
_CABINET_WALL = 0.03


def _room_shell(size) -> tuple[list[Part], tuple]:
    sx, sy, sz = size
    hx, hy, t = sx / 2, sy / 2, 0.15
    parts = [box_part("floor", (-hx, -hy, -0.1), (hx, hy, 0.0), kind=GROUND, color=(0.55, 0.45, 0.35))]
    walls = [((-hx - t, -hy - t, -0.1), (hx + t, -hy, sz)), ((-hx - t, hy, -0.1), (hx + t, hy + t, sz)),
             ((-hx - t, -hy, -0.1), (-hx, hy, sz)), ((hx, -hy, -0.1), (hx + t, hy, sz))]
    colors = [(0.85, 0.85, 0.8), (0.8, 0.82, 0.85), (0.82, 0.8, 0.78), (0.8, 0.8, 0.82)]
    parts += [
        box_part(f"wall_{i}", lo, hi, kind=STRUCTURE, color=c) for i, ((lo, hi), c) in enumerate(zip(walls, colors))
    ]
    parts.append(box_part("ceiling", (-hx - t, -hy - t, sz), (hx + t, hy + t, sz + 0.1), kind=STRUCTURE,
                          color=(0.95, 0.95, 0.95)))
    return parts, ((-hx, -hy, 0.0), (hx, hy, sz))


def _table(x: float, y: float, *, top=0.74, size=(1.2, 0.8)) -> list[Part]:
    w, d = size[0] / 2, size[1] / 2
    parts = [
        box_part("table_top", (x - w, y - d, top - 0.04), (x + w, y + d, top), kind=OBJECT, color=(0.45, 0.3, 0.2))
    ]
    for i, (dx, dy) in enumerate([(-1, -1), (1, -1), (-1, 1), (1, 1)]):
        cx, cy = x + dx * (w - 0.05), y + dy * (d - 0.05)
        parts.append(box_part(f"table_leg_{i}", (cx - 0.025, cy - 0.025, 0.0), (cx + 0.025, cy + 0.025, top - 0.04),
                              kind=OBJECT, color=(0.4, 0.28, 0.18)))
    return parts


def _room_cameras(size) -> list[np.ndarray]:
    hx, hy = size[0] / 2, size[1] / 2
    return [
        look_at((-0.3, -hy + 0.7, 1.5), (0.4, hy, 0.3)),
        look_at((hx - 0.7, -hy + 0.7, 1.5), (-hx, hy * 0.3, 0.3)),
        look_at((-hx + 0.7, hy - 0.7, 1.4), (hx, -hy * 0.3, 0.3)),
        look_at((hx - 0.8, hy - 0.6, 1.6), (-hx * 0.5, -hy, 0.2)),
        look_at((0.2, 0.0, 1.3), (-hx, -hy, 0.4)),
        look_at((-hx + 0.6, -hy + 0.6, 1.6), (hx, hy, 0.5)),
    ]


def room_floaters(rng: np.random.Generator, count: int, lo, hi) -> GaussianCloud:
    """``count`` floaters in the box lo..hi [m]: half faint isolated specks, half small semi-transparent clouds.

    Clouds hold 25 Gaussians within ~8 cm, so an isolation filter alone does not remove them.
    """
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    specks = count // 2
    clumps = max(1, (count - specks) // 25)
    centres = rng.uniform(lo + 0.2, hi - 0.2, (clumps, 3))
    members = count - specks
    positions = np.concatenate([
        rng.uniform(lo, hi, (specks, 3)),
        centres[rng.integers(0, clumps, members)] + rng.normal(0.0, 0.04, (members, 3)),
    ])
    opacities = np.concatenate([rng.uniform(0.01, 0.1, specks), rng.uniform(0.05, 0.35, members)])
    quats = rng.normal(size=(count, 4))
    rgb = rng.uniform(0.2, 0.9, (count, 3))
    return GaussianCloud(
        positions=positions.astype(np.float32),
        rotations=(quats / np.linalg.norm(quats, axis=1, keepdims=True)).astype(np.float32),
        scales=rng.uniform(0.015, 0.05, (count, 3)).astype(np.float32),
        opacities=opacities.astype(np.float32),
        sh=((rgb - 0.5) / 0.28209479177387814).astype(np.float32)[:, None, :],
    )


def furniture_layout(layout_seed: int | None, size=(6.0, 5.0, 2.7)) -> list[Part]:
    """The floaters room's furniture: the default layout (``None``) or one drawn from ``layout_seed``.

    Drawn: a table (1.0-1.4 x 0.7-0.9 m, top 0.70-0.78 m) anywhere, a 1.8 m cabinet and a sofa against
    walls, a crate; footprints keep 0.6 m between each other and the walls they do not stand against, and
    0.4 m from every camera's foot.
    """
    if layout_seed is None:
        return _table(0.0, 0.8) + [
            box_part("cabinet", (2.5, 0.6, 0.0), (3.0, 1.8, 1.8), kind=OBJECT, color=(0.3, 0.35, 0.5)),
            box_part("sofa", (-3.0, -0.8, 0.0), (-2.1, 1.2, 0.45), kind=OBJECT, color=(0.6, 0.2, 0.2)),
            box_part("crate", (1.0, -1.2, 0.0), (1.5, -0.7, 0.3), kind=OBJECT, color=(0.7, 0.6, 0.3)),
        ]
    rng = np.random.default_rng([9, layout_seed])
    hx, hy = size[0] / 2, size[1] / 2
    cameras = np.array([pose[:2, 3] for pose in _room_cameras(size)])
    placed: list[tuple[np.ndarray, np.ndarray]] = []

    def place(extent, *, against_wall: bool) -> tuple[np.ndarray, np.ndarray]:
        while True:
            ex = np.array(extent if rng.integers(2) else extent[::-1], np.float64)
            if against_wall:  # pushed onto one of the four walls
                side = rng.integers(4)
                lo = rng.uniform([-hx + 0.6, -hy + 0.6], [hx - 0.6 - ex[0], hy - 0.6 - ex[1]])
                lo[side % 2] = (-hx, -hy)[side % 2] if side < 2 else (hx - ex[0], hy - ex[1])[side % 2]
            else:
                lo = rng.uniform([-hx + 0.6, -hy + 0.6], [hx - 0.6 - ex[0], hy - 0.6 - ex[1]])
            hi = lo + ex
            near_camera = np.any(np.all((cameras > lo - 0.4) & (cameras < hi + 0.4), axis=1))
            overlaps = any(np.all((lo < h + 0.6) & (hi > q - 0.6)) for q, h in placed)
            if not (near_camera or overlaps):
                placed.append((lo, hi))
                return lo, hi

    table_size = (float(rng.uniform(1.0, 1.4)), float(rng.uniform(0.7, 0.9)))
    top = float(rng.uniform(0.70, 0.78))
    lo, hi = place(table_size, against_wall=False)
    table_size = (float(hi[0] - lo[0]), float(hi[1] - lo[1]))
    parts = _table(float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2, top=top, size=table_size)
    for name, extent, height, against, color in (
        ("cabinet", (0.5, 1.2), 1.8, True, (0.3, 0.35, 0.5)),
        ("sofa", (0.9, 2.0), 0.45, True, (0.6, 0.2, 0.2)),
        ("crate", (0.5, 0.5), 0.3, False, (0.7, 0.6, 0.3)),
    ):
        lo, hi = place(extent, against_wall=against)
        parts.append(box_part(name, (*lo, 0.0), (*hi, height), kind=OBJECT, color=color))
    return parts


def make_floaters_room(*, seed: int = 0, spacing: float = 0.04, defects: Defects | None = None,
                       layout_seed: int | None = None) -> Scene:
    """A furnished 6 m x 5 m x 2.7 m room with 1 % floaters, INRIA SH3 (about 110 k Gaussians).

    ``layout_seed``: another furniture layout (:func:`furniture_layout`); None is the default scene.
    """
    defects = defects or Defects(floater_fraction=0.01, sh_degree=3)
    size = (6.0, 5.0, 2.7)
    parts, bounds = _room_shell(size)
    parts += furniture_layout(layout_seed, size)
    air_lo, air_hi = (bounds[0][0], bounds[0][1], 0.1), (bounds[1][0], bounds[1][1], 2.4)
    return assemble_scene(
        "floaters", parts, camera_path(_room_cameras(size)), spacing=spacing, seed=seed, defects=defects,
        bounds=bounds, ground_height=_flat_floor(size), ground_gradient=_zero_gradient,
        floaters=lambda rng, n: room_floaters(rng, n, air_lo, air_hi),
        layout="inria", frame="z", input_scale=1.0,
    )


def make_cabinet_room(*, seed: int = 0, spacing: float = 0.04, defects: Defects | None = None) -> Scene:
    """A 5 m x 4 m x 2.6 m room with an unlidded 1.9 m cabinet and a table, Lyra 2.0 layout (~70 k Gaussians)."""
    defects = defects or Defects()
    size = (5.0, 4.0, 2.6)
    parts, bounds = _room_shell(size)
    (x0, y0, z0), (x1, y1, z1) = CABINET
    w, c = _CABINET_WALL, (0.35, 0.3, 0.25)
    parts += [
        box_part("cabinet_bottom", (x0, y0, z0), (x1, y1, z0 + w), kind=OBJECT, color=c),
        box_part("cabinet_left", (x0, y0, z0), (x1, y0 + w, z1), kind=OBJECT, color=c),
        box_part("cabinet_right", (x0, y1 - w, z0), (x1, y1, z1), kind=OBJECT, color=c),
        box_part("cabinet_back", (x1 - w, y0, z0), (x1, y1, z1), kind=OBJECT, color=c),
        box_part("cabinet_front", (x0, y0, z0), (x0 + w, y1, z1), kind=OBJECT, color=c),
    ]
    parts += _table(-0.8, 0.6)
    poses = _room_cameras(size)
    return assemble_scene(
        "cabinet", parts, camera_path(poses), spacing=spacing, seed=seed, defects=defects, bounds=bounds,
        ground_height=_flat_floor(size), ground_gradient=_zero_gradient, layout="lyra2", frame="opencv",
        input_scale=1.0,
    )


def _flat_floor(size):
    hx, hy = size[0] / 2, size[1] / 2

    def height(xy):
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return np.where((np.abs(xy[:, 0]) < hx) & (np.abs(xy[:, 1]) < hy), 0.0, np.nan)

    return height


def _zero_gradient(xy):
    return np.zeros((len(np.asarray(xy).reshape(-1, 2)), 2))

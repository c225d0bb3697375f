"""Small helpers for the auto-up tests (the realistic scenes live in :mod:`worldgen_sim.scenes`).

- :func:`make_bare_room`: an empty box room (optionally with ceiling beams) whose
  floor and ceiling the geometry alone cannot tell apart;
- :func:`in_frame`: a world-frame cloud under any world -> input similarity.

Camera poses come from :func:`worldgen_sim.scenes.scene.look_at`.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.align.transforms import premultiply_quaternions
from worldgen_sim.artifacts import GaussianCloud

Y_UP_TO_INPUT = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]], np.float64)
"""World (Z-up) -> a +Y-up input frame: (x, y, z) -> (x, z, -y)."""


def surfels(points, normals, spacing, rng, *, noise=0.004, opacity=0.95) -> GaussianCloud:
    """Flat Gaussians on a surface: centres jittered along the normal, discs facing the normal."""
    points = np.asarray(points, np.float64)
    normals = np.asarray(normals, np.float64)
    normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    n = len(points)
    positions = points + normals * rng.normal(0.0, noise, (n, 1))
    # Shortest rotation of +Z onto each normal: q = (1 + n_z, -n_y, n_x, 0), normalised.
    quats = np.column_stack([1.0 + normals[:, 2], -normals[:, 1], normals[:, 0], np.zeros(n)])
    flipped = quats[:, 0] < 1e-9
    quats[flipped] = [0.0, 1.0, 0.0, 0.0]
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    colour = rng.uniform(-0.6, 0.6, (n, 1, 3))
    return GaussianCloud(
        positions=positions.astype(np.float32),
        rotations=quats.astype(np.float32),
        scales=np.column_stack([np.full((n, 2), 0.6 * spacing), np.full(n, 0.05 * spacing)]).astype(np.float32),
        opacities=np.full(n, opacity, np.float32),
        sh=colour.astype(np.float32),
    )


def concat(*clouds: GaussianCloud) -> GaussianCloud:
    fields = ("positions", "rotations", "scales", "opacities", "sh")
    return GaussianCloud(*(np.concatenate([getattr(c, f) for c in clouds]) for f in fields))


def _grid(lo, hi, spacing, rng):
    xs = np.arange(lo[0], hi[0], spacing)
    ys = np.arange(lo[1], hi[1], spacing)
    grid = np.stack(np.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    return grid + rng.uniform(-0.3 * spacing, 0.3 * spacing, grid.shape)


def _box_surfels(lo, hi, spacing, rng, *, bottom=False):
    """Surfels on the faces of an axis-aligned box (without its bottom unless asked)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    points, normals = [], []
    for axis in range(3):
        for side, value in ((-1, lo[axis]), (1, hi[axis])):
            if axis == 2 and side == -1 and not bottom:
                continue
            others = [a for a in range(3) if a != axis]
            uv = _grid(lo[others], hi[others], spacing, rng)
            p = np.zeros((len(uv), 3))
            p[:, others] = uv
            p[:, axis] = value
            normal = np.zeros(3)
            normal[axis] = side
            points.append(p)
            normals.append(np.tile(normal, (len(p), 1)))
    return np.concatenate(points), np.concatenate(normals)


def in_frame(cloud: GaussianCloud, world_to_input: np.ndarray) -> GaussianCloud:
    """The cloud under a rigid (or similarity) world -> input transform."""
    linear = world_to_input[:3, :3]
    scale = float(np.cbrt(np.linalg.det(linear)))
    positions = cloud.positions.astype(np.float64) @ linear.T + world_to_input[:3, 3]
    return GaussianCloud(
        positions=positions.astype(np.float32),
        rotations=premultiply_quaternions(linear / scale, cloud.rotations),
        scales=(cloud.scales * scale).astype(np.float32),
        opacities=cloud.opacities.copy(),
        sh=cloud.sh.copy(),
    )


def make_bare_room(*, seed=0, size=(6.0, 5.0, 2.6), spacing=0.06, beams=0) -> GaussianCloud:
    """An empty box room (floor, ceiling, four walls, surfels facing inwards): floor and ceiling look alike.

    ``beams`` ceiling beams (0.4 m deep, 0.5 m wide, across the room) put more mass near the
    ceiling than near the floor, so the geometry alone leans the wrong way.
    """
    rng = np.random.default_rng(seed)
    sx, sy, sz = size
    points, normals = _box_surfels((-sx / 2, -sy / 2, 0.0), (sx / 2, sy / 2, sz), spacing, rng, bottom=True)
    parts = [surfels(points, -normals, spacing, rng)]
    for x in np.linspace(-sx / 2, sx / 2, beams + 2)[1:-1]:
        beam_points, beam_normals = _box_surfels((x - 0.25, -sy / 2, sz - 0.4), (x + 0.25, sy / 2, sz), spacing, rng,
                                                 bottom=True)  # fmt: skip
        facing = beam_normals[:, 2] < 0.5  # the top is hidden in the ceiling
        parts.append(surfels(beam_points[facing], beam_normals[facing], spacing, rng))
    return concat(*parts)

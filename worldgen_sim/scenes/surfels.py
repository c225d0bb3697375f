"""Flat Gaussians ("surfels") on known surfaces, the defects real captures have, and input frames.

Shared by the demo room (:mod:`worldgen_sim.samples`) and the realistic test
scenes (:mod:`worldgen_sim.scenes`): one surfel per surface sample, oriented
by the surface normal, thin across the surface; optional capture defects
(position noise, scale and rotation jitter, low-opacity floaters, a far sky
shell); and the step that hands a world-frame cloud over the way a generator
would, in the OpenCV frame of its camera and in unknown units.

Every function takes its ``rng`` explicitly and draws a fixed sequence of
numbers from it, so a scene is reproducible from its seed.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.align.transforms import premultiply_quaternions, rotate_sh
from worldgen_sim.artifacts import SH_C0, GaussianCloud

__all__ = [
    "CLOUD_FIELDS",
    "cloud_to_input_frame",
    "concat_clouds",
    "faint_cloud",
    "floater_cloud",
    "needle_cloud",
    "normal_quaternions",
    "sample_parallelogram",
    "sky_shell",
    "splotch_cloud",
    "surfel_cloud",
]

CLOUD_FIELDS = ("positions", "rotations", "scales", "opacities", "sh")
"""The array fields of :class:`~worldgen_sim.artifacts.GaussianCloud`, in constructor order."""


def normal_quaternions(normals: np.ndarray) -> np.ndarray:
    """(N, 4) float32 unit quaternions (w, x, y, z) turning local +Z onto each (N, 3) unit normal.

    The shortest-arc rotation: q = (1 + n_z, -n_y, n_x, 0) normalised; a normal
    pointing straight down takes the half turn about +X.
    """
    n = np.asarray(normals, np.float64).reshape(-1, 3)
    q = np.column_stack([1.0 + n[:, 2], -n[:, 1], n[:, 0], np.zeros(len(n))])
    down = q[:, 0] < 1e-9
    q[down] = (0.0, 1.0, 0.0, 0.0)
    # + 0.0 turns -0.0 into 0.0: the same bytes as an axis-aligned table would give.
    return (q / np.linalg.norm(q, axis=1, keepdims=True) + 0.0).astype(np.float32)


def sample_parallelogram(origin, u, v, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """(P, 3) jittered-grid samples on the parallelogram ``origin + a u + b v``, about ``spacing`` apart [m]."""
    origin, u, v = (np.asarray(x, np.float64) for x in (origin, u, v))
    nu = max(1, int(round(np.linalg.norm(u) / spacing)))
    nv = max(1, int(round(np.linalg.norm(v) / spacing)))
    a, b = np.meshgrid((np.arange(nu) + 0.5) / nu, (np.arange(nv) + 0.5) / nv, indexing="ij")
    a = np.clip(a.ravel() + rng.uniform(-0.3, 0.3, a.size) / nu, 0, 1)
    b = np.clip(b.ravel() + rng.uniform(-0.3, 0.3, b.size) / nv, 0, 1)
    return origin + a[:, None] * u + b[:, None] * v


def surfel_cloud(
    positions: np.ndarray,
    rotations: np.ndarray,
    colors: np.ndarray,
    *,
    spacing: float | np.ndarray,
    rng: np.random.Generator,
    color_noise: float = 0.03,
    position_noise: float = 0.0,
    scale_jitter: float = 0.0,
    rotation_jitter_deg: float = 0.0,
) -> GaussianCloud:
    """Flat Gaussians on surface samples: in-plane sigma 0.6 x spacing, 0.05 x spacing across.

    Args:
        positions: (N, 3) surface samples [m].
        rotations: (N, 4) quaternions turning local +Z onto the surface normal.
        colors: (N, 3) RGB in [0, 1] before noise.
        spacing: mean distance between neighbouring samples [m], one for all or (N,) per sample.
        rng: random generator; draws colour noise, then opacities, then (only when
            non-zero) position noise, scale jitter and rotation jitter, in that order.
        color_noise: sigma of the per-Gaussian colour noise.
        position_noise: sigma of isotropic position noise [m] (a trained splat's ~0.5-1 cm).
        scale_jitter: sigma of log-normal scale noise (0.2 = about +-20 %).
        rotation_jitter_deg: sigma of the tilt of each surfel about a random axis [deg].
    """
    count = positions.shape[0]
    rgb = np.asarray(colors, np.float64) + rng.normal(0.0, color_noise, (count, 3))
    opacities = np.clip(rng.normal(0.9, 0.04, count), 0.6, 1.0)
    spacing = np.broadcast_to(np.asarray(spacing, np.float64), (count,))
    scales = np.column_stack([0.6 * spacing, 0.6 * spacing, 0.05 * spacing])
    positions = np.asarray(positions, np.float64)
    rotations = np.asarray(rotations, np.float32)
    if position_noise:
        positions = positions + rng.normal(0.0, position_noise, (count, 3))
    if scale_jitter:
        scales = scales * np.exp(rng.normal(0.0, scale_jitter, (count, 3)))
    if rotation_jitter_deg:
        rotations = _jitter_rotations(rotations, rotation_jitter_deg, rng)
    return GaussianCloud(
        positions=positions.astype(np.float32),
        rotations=rotations.astype(np.float32),
        scales=scales.astype(np.float32),
        opacities=opacities.astype(np.float32),
        sh=((np.clip(rgb, 0, 1) - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )


def _jitter_rotations(quats: np.ndarray, sigma_deg: float, rng: np.random.Generator) -> np.ndarray:
    """Each quaternion turned by a small random rotation (angle ~ N(0, sigma), axis uniform)."""
    axis = rng.normal(size=(len(quats), 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    half = 0.5 * np.radians(rng.normal(0.0, sigma_deg, len(quats)))
    w1, (x1, y1, z1) = np.cos(half), (axis * np.sin(half)[:, None]).T
    w2, x2, y2, z2 = np.asarray(quats, np.float64).T
    out = np.column_stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def floater_cloud(rng: np.random.Generator, count: int, lo, hi, spacing: float) -> GaussianCloud:
    """Half faint haze, half opaque but isolated specks, uniform in the box ``lo``..``hi`` [m]."""
    positions = rng.uniform(lo, hi, (count, 3))
    opacities = np.where(np.arange(count) % 2 == 0, rng.uniform(0.005, 0.04, count), rng.uniform(0.3, 0.9, count))
    quats = rng.normal(size=(count, 4))
    return GaussianCloud(
        positions=positions.astype(np.float32),
        rotations=(quats / np.linalg.norm(quats, axis=1, keepdims=True)).astype(np.float32),
        scales=np.full((count, 3), spacing, np.float32),
        opacities=opacities.astype(np.float32),
        sh=rng.normal(0.0, 0.5, (count, 1, 3)).astype(np.float32),
    )


def sky_shell(rng: np.random.Generator, count: int, radius: float, centre=(0.0, 0.0, 0.0)) -> GaussianCloud:
    """Large bluish Gaussians on a far sphere of ``radius`` [m] around ``centre`` (a generator's sky)."""
    directions = rng.normal(size=(count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    rgb = np.clip(np.array([0.55, 0.7, 0.95]) + rng.normal(0, 0.03, (count, 3)), 0, 1)
    return GaussianCloud(
        positions=(np.asarray(centre) + directions * radius * rng.uniform(0.9, 1.1, (count, 1))).astype(np.float32),
        rotations=np.tile(np.array([1, 0, 0, 0], np.float32), (count, 1)),
        scales=np.full((count, 3), radius * 0.03, np.float32),
        opacities=rng.uniform(0.5, 1.0, count).astype(np.float32),
        sh=((rgb - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )


def concat_clouds(parts: list[GaussianCloud]) -> GaussianCloud:
    """One cloud holding every part's Gaussians in order (SH padded with zeros to the highest degree)."""
    bands = max(p.sh.shape[1] for p in parts)
    fields = {k: np.concatenate([getattr(p, k) for p in parts]) for k in CLOUD_FIELDS if k != "sh"}
    sh = np.concatenate([np.pad(p.sh, ((0, 0), (0, bands - p.sh.shape[1]), (0, 0))) for p in parts])
    return GaussianCloud(sh=sh.astype(np.float32), **fields)


def cloud_to_input_frame(
    cloud: GaussianCloud, *, camera_to_world: np.ndarray, scale: float = 1.0, frame: str = "opencv",
    yaw_deg: float = 0.0, rotation: np.ndarray | None = None, offset=(0.0, 0.0, 0.0),
) -> tuple[GaussianCloud, np.ndarray]:
    """A world-frame cloud as a generator would write it, and the true input-to-world transform.

    Args:
        cloud: Gaussians in the world frame (Z-up, metres).
        camera_to_world: (4, 4) the generator's (OpenCV) camera, used when ``frame`` is ``"opencv"``.
        scale: input units per metre (a relative-depth generator's unknown factor).
        frame: ``"opencv"`` (the camera's frame: x right, y down, z forward),
            ``"y"`` (y-up world, x unchanged), ``"z"`` (the world itself, scaled) or ``"colmap"``
            (an arbitrary frame, as structure-from-motion leaves it: ``rotation`` then ``offset``).
        yaw_deg: the world turned by this angle about its up axis before ``frame`` applies [deg]
            (a capture whose axes are not the room's: a held-out variant).
        rotation: (3, 3) world-to-input rotation of the ``"colmap"`` frame.
        offset: (3,) where the world origin lands in the ``"colmap"`` frame, before scaling [m].

    Returns:
        The transformed cloud (higher SH bands rotated with it) and the (4, 4)
        similarity mapping input to world.
    """
    if frame == "opencv":
        world_to_input = np.linalg.inv(camera_to_world)
    elif frame == "y":
        world_to_input = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]], np.float64)
    elif frame == "z":
        world_to_input = np.eye(4)
    elif frame == "colmap":
        if rotation is None:
            raise ValueError("frame 'colmap' needs its (3, 3) world-to-input rotation")
        world_to_input = np.eye(4)
        world_to_input[:3, :3] = rotation
        world_to_input[:3, 3] = offset
    else:
        raise ValueError(f"frame must be 'opencv', 'y', 'z' or 'colmap', got {frame!r}")
    cos_yaw, sin_yaw = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    yaw = np.array([[cos_yaw, -sin_yaw, 0, 0], [sin_yaw, cos_yaw, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], np.float64)
    world_to_input = np.diag([scale, scale, scale, 1.0]) @ world_to_input @ yaw
    rotation = world_to_input[:3, :3] / scale
    positions = cloud.positions.astype(np.float64) @ world_to_input[:3, :3].T + world_to_input[:3, 3]
    transformed = GaussianCloud(
        positions=positions.astype(np.float32),
        rotations=premultiply_quaternions(rotation, cloud.rotations),
        scales=(cloud.scales * scale).astype(np.float32),
        opacities=cloud.opacities.copy(),
        sh=rotate_sh(cloud.sh, rotation) if cloud.sh.shape[1] > 1 else cloud.sh.copy(),
    )
    return transformed, np.linalg.inv(world_to_input)


def splotch_cloud(rng: np.random.Generator, count: int, points: np.ndarray, normals: np.ndarray,
                  *, size=(0.3, 2.0)) -> GaussianCloud:
    """Huge flat Gaussians lying on ground samples, as a trainer grows where few views saw the ground.

    Args:
        rng: random generator.
        count: Gaussians to make.
        points, normals: (P, 3) ground samples [m] and their unit normals; each splotch sits on one
            drawn with probability growing with its squared distance from the samples' centroid
            (far, sparsely seen ground grows the big ones).
        size: range of the in-plane sigma [m] (log-uniform); across the ground it is 1-3 % of that.
    """
    points, normals = np.asarray(points, np.float64), np.asarray(normals, np.float64)
    far = np.sum((points[:, :2] - points[:, :2].mean(axis=0)) ** 2, axis=1) + 1.0
    index = rng.choice(len(points), size=count, p=far / far.sum())
    sigma = np.exp(rng.uniform(np.log(size[0]), np.log(size[1]), count))
    scales = np.column_stack([sigma, sigma * rng.uniform(0.3, 1.0, count), sigma * rng.uniform(0.01, 0.03, count)])
    rotations = _jitter_rotations(normal_quaternions(normals[index]), 2.0, rng)
    rgb = np.clip(0.45 + rng.normal(0.0, 0.05, (count, 3)), 0, 1)
    return GaussianCloud(
        positions=(points[index] + normals[index] * rng.normal(0.0, 0.01, (count, 1))).astype(np.float32),
        rotations=rotations.astype(np.float32),
        scales=scales.astype(np.float32),
        opacities=rng.uniform(0.1, 0.7, count).astype(np.float32),
        sh=((rgb - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )


def needle_cloud(rng: np.random.Generator, count: int, points: np.ndarray, *, length=(0.05, 0.3)) -> GaussianCloud:
    """Elongated Gaussians ("needles") along random directions through surface samples.

    Args:
        rng: random generator.
        count: Gaussians to make.
        points: (P, 3) surface samples [m]; each needle is centred 0-2 cm off one of them.
        length: range of the long-axis sigma [m] (log-uniform); the other two are 1-5 mm.
    """
    points = np.asarray(points, np.float64)
    index = rng.integers(0, len(points), count)
    quats = rng.normal(size=(count, 4))
    long = np.exp(rng.uniform(np.log(length[0]), np.log(length[1]), count))
    thin = rng.uniform(0.001, 0.005, (count, 2))
    rgb = np.clip(0.5 + rng.normal(0.0, 0.15, (count, 3)), 0, 1)
    return GaussianCloud(
        positions=(points[index] + rng.normal(0.0, 0.01, (count, 3))).astype(np.float32),
        rotations=(quats / np.linalg.norm(quats, axis=1, keepdims=True)).astype(np.float32),
        scales=np.column_stack([long, thin]).astype(np.float32),
        opacities=rng.uniform(0.05, 0.8, count).astype(np.float32),
        sh=((rgb - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )


def faint_cloud(rng: np.random.Generator, count: int, points: np.ndarray, normals: np.ndarray,
                spacing: np.ndarray) -> GaussianCloud:
    """Low-opacity Gaussians hugging surface samples: the many faint ones a trainer keeps beside the
    opaque ones (opacity 0.01-0.3, log-uniform; 0-3 cm off the surface; tiny to twice a surfel's size).

    Args:
        rng: random generator.
        count: Gaussians to make.
        points, normals: (P, 3) surface samples [m] and unit normals.
        spacing: (P,) surfel spacing at each sample [m].
    """
    points, normals = np.asarray(points, np.float64), np.asarray(normals, np.float64)
    index = rng.integers(0, len(points), count)
    size = np.asarray(spacing, np.float64)[index] * np.exp(rng.uniform(np.log(0.1), np.log(2.0), count))
    rgb = np.clip(0.5 + rng.normal(0.0, 0.15, (count, 3)), 0, 1)
    return GaussianCloud(
        positions=(points[index] + normals[index] * rng.uniform(0.0, 0.03, (count, 1))).astype(np.float32),
        rotations=_jitter_rotations(normal_quaternions(normals[index]), 20.0, rng).astype(np.float32),
        scales=np.column_stack([size, size, 0.2 * size]).astype(np.float32),
        opacities=np.exp(rng.uniform(np.log(0.01), np.log(0.3), count)).astype(np.float32),
        sh=((rgb - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )

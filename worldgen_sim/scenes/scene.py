"""A test scene: analytic parts, the cameras that "captured" it, and the Gaussians they would give.

:func:`assemble_scene` covers every part with surfels, keeps only what some
camera sees (ray cast against all parts: faces turned away, the floor under
furniture, the buried half of a rock are absent, as in a real capture), adds
capture defects (position noise, scale and rotation jitter, floaters, a sky
shell) and returns a :class:`Scene`. The scene answers ground-truth questions
(inside a solid? ground height? what did the cameras see?) from the analytic
geometry alone; :mod:`worldgen_sim.scenes.truth` turns them into grids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import SH_C0, CameraPath, GaussianCloud, TriangleMesh
from worldgen_sim.scenes.geometry import Part, merge_meshes
from worldgen_sim.scenes.surfels import (
    cloud_to_input_frame,
    concat_clouds,
    normal_quaternions,
    sky_shell,
    surfel_cloud,
)

__all__ = [
    "FLOATER",
    "SKY",
    "SURFACE",
    "Defects",
    "Scene",
    "assemble_scene",
    "camera_path",
    "look_at",
    "pinhole",
    "visible_mask",
]

SURFACE, FLOATER, SKY = 0, 1, 2
"""Labels of :attr:`Scene.labels`: what each Gaussian was made as."""


@dataclass
class Defects:
    """What makes a scene's Gaussians look like a real capture rather than exact geometry.

    Attributes:
        position_noise: sigma of isotropic surfel position noise [m].
        scale_jitter: sigma of log-normal surfel scale noise.
        rotation_jitter_deg: sigma of surfel tilt [deg].
        floater_fraction: low-opacity floaters added, as a fraction of the surface Gaussians.
        sky: far sky-shell Gaussians added.
        sky_radius: radius of the sky shell around the scene centre [m].
        sh_degree: spherical-harmonics degree of the cloud (0 or 3; higher bands are small noise).
    """

    position_noise: float = 0.007
    scale_jitter: float = 0.2
    rotation_jitter_deg: float = 4.0
    floater_fraction: float = 0.0
    sky: int = 0
    sky_radius: float = 60.0
    sh_degree: int = 0


@dataclass(eq=False)
class Scene:
    """A scene with known geometry, in the world frame (Z-up, metres).

    Attributes:
        name: scene kind, e.g. ``"terrain"``.
        parts: the analytic solids.
        cameras: the capture cameras (OpenCV axes); camera 0 is the generator's reference camera,
            whose frame an ``"opencv"`` input is written in.
        gaussians: the captured cloud in the world frame.
        labels: (N,) int8 :data:`SURFACE` / :data:`FLOATER` / :data:`SKY` per Gaussian.
        bounds: (2, 3) float64 region of interest [m]: free space and walkability are judged inside.
        ground_height: (N, 2) xy -> (N,) top of the walkable ground [m], NaN where there is none;
            None for a scene without ground (a cropped object).
        ground_gradient: (N, 2) xy -> (N, 2) dh/dx, dh/dy of that ground.
        spacing: surfel spacing [m].
        layout: the PLY layout the scene is meant to be written in (``"inria"``, ``"lyra2"``, ``"lyra1"``).
        frame: its input frame (``"opencv"``, ``"y"`` or ``"z"``).
        input_scale: its input units per metre.
        write_cameras: also write ``cameras.npz`` beside the PLY (as Lyra 2.0 does).
        defects: the capture defects the Gaussians were made with.
    """

    name: str
    parts: list[Part]
    cameras: CameraPath
    gaussians: GaussianCloud
    labels: np.ndarray
    bounds: np.ndarray
    ground_height: Callable[[np.ndarray], np.ndarray] | None
    ground_gradient: Callable[[np.ndarray], np.ndarray] | None
    spacing: float
    layout: str = "lyra2"
    frame: str = "opencv"
    input_scale: float = 1.0
    write_cameras: bool = False
    defects: Defects = field(default_factory=Defects)
    _mesh: TriangleMesh | None = field(default=None, repr=False)

    @property
    def has_ground(self) -> bool:
        return self.ground_height is not None

    @property
    def camera_to_world(self) -> np.ndarray:
        """(4, 4) the reference camera."""
        return self.cameras.cam_to_world[0]

    @property
    def camera_height(self) -> float:
        """Reference camera height above the ground under it [m] (above z = 0 without ground)."""
        pose = self.camera_to_world
        below = self.ground_height(pose[None, :2, 3])[0] if self.ground_height is not None else np.nan
        return float(pose[2, 3] - (below if np.isfinite(below) else 0.0))

    @property
    def mesh(self) -> TriangleMesh:
        """Every part's tessellation in one mesh (for ray casting and pictures, not for scoring)."""
        if self._mesh is None:
            self._mesh = merge_meshes([p.mesh for p in self.parts])
        return self._mesh

    def inside_solid(self, points: np.ndarray, *, kinds: tuple[str, ...] | None = None) -> np.ndarray:
        """(N,) bool: each (N, 3) point [m] lies strictly inside some part (of the given kinds)."""
        points = np.asarray(points, np.float64).reshape(-1, 3)
        inside = np.zeros(len(points), bool)
        for part in self.parts:
            if kinds is None or part.kind in kinds:
                inside |= part.inside(points)
        return inside

    def surface_points(self, *, spacing: float, seed: int = 0, observed: bool = False) -> np.ndarray:
        """(P, 3) float64 points on the true surface [m], about ``spacing`` apart.

        Points inside another part (a rock's buried half, a floor under a wall) are not
        surface and are left out. With ``observed``, only the points some capture camera sees.
        """
        rng = np.random.default_rng(seed)
        points, normals = self._all_samples(spacing, rng)
        if observed:
            keep = visible_mask(points, normals, self.cameras, self.mesh)
            points = points[keep]
        return points

    def _all_samples(self, spacing, rng):
        points, normals = [], []
        for part in self.parts:
            p, n = part.sample(spacing, rng)
            outward = p + 1e-4 * n
            others = np.zeros(len(p), bool)
            for other in self.parts:
                if other is not part:
                    others |= other.inside(outward)
            points.append(p[~others])
            normals.append(n[~others])
        return np.concatenate(points), np.concatenate(normals)

    def to_input_frame(self, *, scale: float | None = None, frame: str | None = None, yaw_deg: float = 0.0):
        """The cloud as the generator would write it and the true (4, 4) input-to-world similarity.

        ``scale``, ``frame`` (default: the scene's) and ``yaw_deg`` as in
        :func:`~worldgen_sim.scenes.surfels.cloud_to_input_frame`.
        """
        return cloud_to_input_frame(
            self.gaussians,
            camera_to_world=self.camera_to_world,
            scale=self.input_scale if scale is None else scale,
            frame=self.frame if frame is None else frame,
            yaw_deg=yaw_deg,
        )

    def write(self, path: str | Path, *, layout: str | None = None, scale: float | None = None,
              frame: str | None = None, yaw_deg: float = 0.0, cameras: bool | None = None) -> np.ndarray:
        """Write the scene as a Gaussian PLY (and ``cameras.npz`` beside it when :attr:`write_cameras`).

        ``layout``, ``scale``, ``frame`` and ``cameras`` (write ``cameras.npz``) default to the
        scene's own; a held-out variant changes them or turns the world by ``yaw_deg`` [deg].

        Returns:
            (4, 4) the true input-to-world similarity of what was written.
        """
        from worldgen_sim.align.transforms import transform_poses
        from worldgen_sim.io.gaussian_ply import write_gaussian_ply

        path = Path(path)
        cloud, input_to_world = self.to_input_frame(scale=scale, frame=frame, yaw_deg=yaw_deg)
        write_gaussian_ply(path, cloud, layout=layout or self.layout)
        if self.write_cameras if cameras is None else cameras:
            poses = transform_poses(self.cameras.cam_to_world, np.linalg.inv(input_to_world))
            np.savez(
                path.parent / "cameras.npz",
                w2c_render=np.linalg.inv(poses),
                intrinsics_render=self.cameras.intrinsics,
                width=self.cameras.width,
                height=self.cameras.height,
            )
        return input_to_world


def pinhole(width: int = 640, height: int = 480, fov_deg: float = 90.0) -> np.ndarray:
    """(3, 3) intrinsics of a pinhole camera with the given horizontal field of view."""
    f = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float64)


def look_at(eye, target) -> np.ndarray:
    """(4, 4) OpenCV camera-to-world pose at ``eye`` looking at ``target`` (image up = world +Z)."""
    eye, target = np.asarray(eye, np.float64), np.asarray(target, np.float64)
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([right, down, forward])
    pose[:3, 3] = eye
    return pose


def camera_path(poses: list[np.ndarray], *, width: int = 640, height: int = 480, fov_deg: float = 90.0) -> CameraPath:
    """A :class:`CameraPath` of pinhole cameras at ``poses``."""
    k = pinhole(width, height, fov_deg)
    return CameraPath(np.repeat(k[None], len(poses), axis=0), np.stack(poses), width, height)


def visible_mask(points: np.ndarray, normals: np.ndarray, cameras: CameraPath, mesh: TriangleMesh,
                 *, tolerance: float = 0.02, min_cos: float = 0.05) -> np.ndarray:
    """(P,) bool: surface points some camera sees (in its image, facing it, not hidden by ``mesh``).

    A point is hidden when the ray from the camera centre towards it hits ``mesh``
    more than ``tolerance`` [m] before reaching it.
    """
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor.from_numpy(np.ascontiguousarray(mesh.vertices, np.float32)),
        o3d.core.Tensor.from_numpy(np.ascontiguousarray(mesh.faces, np.uint32)),
    )
    points = np.asarray(points, np.float64)
    seen = np.zeros(len(points), bool)
    for k, pose in zip(cameras.intrinsics, cameras.cam_to_world):
        centre = pose[:3, 3]
        local = (points - centre) @ pose[:3, :3]
        z = local[:, 2]
        safe = np.where(z > 0.05, z, 1.0)
        u = k[0, 0] * local[:, 0] / safe + k[0, 2]
        v = k[1, 1] * local[:, 1] / safe + k[1, 2]
        offset = centre - points
        distance = np.linalg.norm(offset, axis=1)
        facing = np.einsum("ij,ij->i", normals, offset) > min_cos * distance
        idx = np.flatnonzero(
            ~seen & (z > 0.05) & (u >= 0) & (u < cameras.width) & (v >= 0) & (v < cameras.height) & facing
        )
        if idx.size == 0:
            continue
        directions = -offset[idx] / distance[idx, None]
        rays = np.column_stack([np.broadcast_to(centre, (idx.size, 3)), directions]).astype(np.float32)
        hit = scene.cast_rays(o3d.core.Tensor.from_numpy(rays))["t_hit"].numpy()
        seen[idx[hit >= distance[idx] - tolerance]] = True
    return seen


def assemble_scene(
    name: str,
    parts: list[Part],
    cameras: CameraPath,
    *,
    spacing: float,
    seed: int,
    defects: Defects,
    bounds,
    ground_height=None,
    ground_gradient=None,
    floaters: Callable[[np.random.Generator, int], GaussianCloud] | None = None,
    **writing,
) -> Scene:
    """Cover the parts with surfels, keep what the cameras see, add the defects.

    Args:
        name: scene kind.
        parts: the analytic solids.
        cameras: capture cameras; camera 0 is the reference camera.
        spacing: surfel spacing [m].
        seed: random seed.
        defects: capture defects.
        bounds: (2, 3) region of interest [m].
        ground_height, ground_gradient: see :class:`Scene`.
        floaters: (rng, count) -> floater Gaussians; required when ``defects.floater_fraction`` > 0.
        **writing: ``layout``, ``frame``, ``input_scale``, ``write_cameras`` of :class:`Scene`.
    """
    rng = np.random.default_rng(seed)
    mesh = merge_meshes([p.mesh for p in parts])
    points, normals, colors, spacings = [], [], [], []
    for part in parts:
        step = part.spacing or spacing
        p, n = part.sample(step, rng)
        points.append(p)
        normals.append(n)
        colors.append(np.broadcast_to(part.color, p.shape))
        spacings.append(np.full(len(p), step))
    points, normals, colors, spacings = (np.concatenate(a) for a in (points, normals, colors, spacings))
    seen = visible_mask(points, normals, cameras, mesh)
    surface = surfel_cloud(
        points[seen], normal_quaternions(normals[seen]), colors[seen], spacing=spacings[seen], rng=rng,
        position_noise=defects.position_noise, scale_jitter=defects.scale_jitter,
        rotation_jitter_deg=defects.rotation_jitter_deg,
    )
    clouds, labels = [surface], [np.full(len(surface), SURFACE, np.int8)]
    if defects.floater_fraction > 0:
        if floaters is None:
            raise ValueError(f"scene '{name}': defects.floater_fraction > 0 needs a floaters generator")
        count = int(round(defects.floater_fraction * len(surface)))
        clouds.append(floaters(rng, count))
        labels.append(np.full(count, FLOATER, np.int8))
    if defects.sky:
        centre = np.asarray(bounds, np.float64).mean(axis=0)
        clouds.append(sky_shell(rng, defects.sky, defects.sky_radius, centre=centre))
        labels.append(np.full(defects.sky, SKY, np.int8))
    cloud = concat_clouds(clouds)
    if defects.sh_degree:
        cloud = _with_sh_noise(cloud, defects.sh_degree, rng)
    return Scene(
        name=name, parts=parts, cameras=cameras, gaussians=cloud, labels=np.concatenate(labels),
        bounds=np.asarray(bounds, np.float64), ground_height=ground_height, ground_gradient=ground_gradient,
        spacing=spacing, defects=defects, _mesh=mesh, **writing,
    )


def _with_sh_noise(cloud: GaussianCloud, degree: int, rng: np.random.Generator) -> GaussianCloud:
    """The cloud with SH bands up to ``degree``: small view-dependent noise, as a trainer leaves."""
    bands = (degree + 1) ** 2
    rest = rng.normal(0.0, 0.04 / SH_C0 * 0.28, (len(cloud), bands - 1, 3))
    sh = np.concatenate([cloud.sh[:, :1], rest.astype(np.float32)], axis=1)
    return GaussianCloud(cloud.positions, cloud.rotations, cloud.scales, cloud.opacities, sh.astype(np.float32))

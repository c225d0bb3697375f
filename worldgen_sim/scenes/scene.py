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
    faint_cloud,
    needle_cloud,
    normal_quaternions,
    sky_shell,
    splotch_cloud,
    surfel_cloud,
)

__all__ = [
    "FAINT",
    "FLOATER",
    "NEEDLE",
    "SKY",
    "SPLOTCH",
    "SURFACE",
    "Defects",
    "Scene",
    "assemble_scene",
    "camera_path",
    "look_at",
    "pinhole",
    "visible_mask",
]

SURFACE, FLOATER, SKY, SPLOTCH, NEEDLE, FAINT = 0, 1, 2, 3, 4, 5
"""Labels of :attr:`Scene.labels`: what each Gaussian was made as."""
_GROUND_NORMAL_Z = 0.9
"""Surface samples whose normal's z is above this are ground for splotches (slopes under ~25 deg)."""


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
        splotches: huge flat Gaussians (sigma 0.3-2 m) lying on the seen ground, most on its far,
            sparsely seen part (:func:`~worldgen_sim.scenes.surfels.splotch_cloud`).
        needles: elongated Gaussians (5-30 cm long, mm thin) through seen surface samples.
        faint_fraction: low-opacity (0.01-0.3) Gaussians hugging the seen surface, as a fraction of
            the surface Gaussians (a trainer's many faint ones).
    """

    position_noise: float = 0.007
    scale_jitter: float = 0.2
    rotation_jitter_deg: float = 4.0
    floater_fraction: float = 0.0
    sky: int = 0
    sky_radius: float = 60.0
    sh_degree: int = 0
    splotches: int = 0
    needles: int = 0
    faint_fraction: float = 0.0


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
        frame: its input frame (``"opencv"``, ``"y"``, ``"z"`` or ``"colmap"``).
        input_scale: its input units per metre.
        write_cameras: also write ``cameras.npz`` beside the PLY (as Lyra 2.0 does).
        defects: the capture defects the Gaussians were made with.
        input_rotation: (3, 3) world-to-input rotation of a ``"colmap"`` frame.
        input_offset: (3,) where the world origin lands in a ``"colmap"`` frame, before scaling [m].
        scored_xy: (2, 2) lo, hi x, y [m] of the region that true-surface scores look at, or None for
            everything. A capture whose ground and background reach tens of metres beyond the
            cameras (:mod:`.plaza`) is scored where it was captured: parts wholly outside are not
            sampled, and mesh points outside are not judged (:func:`~.metrics.visual_mesh_score`).
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
    input_rotation: np.ndarray | None = None
    input_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scored_xy: np.ndarray | None = None
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
        surface and are left out; so are points outside :attr:`scored_xy` when it is set. With
        ``observed``, only the points some capture camera sees.
        """
        rng = np.random.default_rng(seed)
        points, normals = self._all_samples(spacing, rng)
        if observed:
            keep = visible_mask(points, normals, self.cameras, self.mesh)
            points = points[keep]
        return points

    def in_scored_xy(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: each (N, 2+) point's x, y lies in :attr:`scored_xy` (all True when unset)."""
        points = np.asarray(points, np.float64)
        if self.scored_xy is None:
            return np.ones(len(points), bool)
        lo, hi = self.scored_xy
        return np.all((points[:, :2] >= lo) & (points[:, :2] <= hi), axis=1)

    def _scored_parts(self) -> list[Part]:
        if self.scored_xy is None:
            return self.parts
        lo, hi = self.scored_xy
        return [p for p in self.parts
                if np.all(p.mesh.vertices[:, :2].min(axis=0) < hi) and np.all(p.mesh.vertices[:, :2].max(axis=0) > lo)]

    def _all_samples(self, spacing, rng):
        points, normals = [], []
        for part in self._scored_parts():
            p, n = part.sample(spacing, rng)
            keep = self.in_scored_xy(p)
            p, n = p[keep], n[keep]
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
            rotation=self.input_rotation,
            offset=self.input_offset,
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

    def write_inria_model(self, model: str | Path, *, cameras: bool = True, iteration: int = 30_000) -> np.ndarray:
        """Write the scene as an INRIA 3DGS trainer leaves it: ``model/point_cloud/iteration_N/point_cloud.ply``
        and, with ``cameras``, ``model/cameras.json`` (the capture cameras in the PLY's frame).

        Returns:
            (4, 4) the true input-to-world similarity of what was written.
        """
        import json

        from worldgen_sim.align.transforms import transform_poses

        model = Path(model)
        ply = model / "point_cloud" / f"iteration_{iteration}" / "point_cloud.ply"
        ply.parent.mkdir(parents=True, exist_ok=True)
        input_to_world = self.write(ply, layout="inria", cameras=False)
        if cameras:
            poses = transform_poses(self.cameras.cam_to_world, np.linalg.inv(input_to_world))
            entries = [
                {"id": i, "img_name": f"{i:05d}", "width": int(self.cameras.width), "height": int(self.cameras.height),
                 "position": pose[:3, 3].tolist(), "rotation": pose[:3, :3].tolist(),
                 "fx": float(k[0, 0]), "fy": float(k[1, 1])}
                for i, (pose, k) in enumerate(zip(poses, self.cameras.intrinsics))
            ]
            (model / "cameras.json").write_text(json.dumps(entries))
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
    _add_trainer_artifacts(clouds, labels, defects, points[seen], normals[seen], spacings[seen], len(surface), rng)
    cloud = concat_clouds(clouds)
    if defects.sh_degree:
        cloud = _with_sh_noise(cloud, defects.sh_degree, rng)
    return Scene(
        name=name, parts=parts, cameras=cameras, gaussians=cloud, labels=np.concatenate(labels),
        bounds=np.asarray(bounds, np.float64), ground_height=ground_height, ground_gradient=ground_gradient,
        spacing=spacing, defects=defects, _mesh=mesh, **writing,
    )


def _add_trainer_artifacts(clouds, labels, defects: Defects, points, normals, spacings, surface_count: int,
                           rng: np.random.Generator) -> None:
    """Append splotches, needles and faint Gaussians (each only when asked: no draws otherwise)."""
    ground = normals[:, 2] > _GROUND_NORMAL_Z
    if defects.splotches and ground.any():
        clouds.append(splotch_cloud(rng, defects.splotches, points[ground], normals[ground]))
        labels.append(np.full(defects.splotches, SPLOTCH, np.int8))
    if defects.needles:
        clouds.append(needle_cloud(rng, defects.needles, points))
        labels.append(np.full(defects.needles, NEEDLE, np.int8))
    faint = int(round(defects.faint_fraction * surface_count))
    if faint:
        clouds.append(faint_cloud(rng, faint, points, normals, spacings))
        labels.append(np.full(faint, FAINT, np.int8))


def _with_sh_noise(cloud: GaussianCloud, degree: int, rng: np.random.Generator) -> GaussianCloud:
    """The cloud with SH bands up to ``degree``: small view-dependent noise, as a trainer leaves."""
    bands = (degree + 1) ** 2
    rest = rng.normal(0.0, 0.04 / SH_C0 * 0.28, (len(cloud), bands - 1, 3))
    sh = np.concatenate([cloud.sh[:, :1], rest.astype(np.float32)], axis=1)
    return GaussianCloud(cloud.positions, cloud.rotations, cloud.scales, cloud.opacities, sh.astype(np.float32))

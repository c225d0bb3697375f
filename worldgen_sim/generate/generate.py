"""The generate step: one picture (or one RGB-D frame) -> the usual :class:`SceneInput`.

A picture's depth is given (``--depth``) or estimated by a ``transformers``
depth model; its intrinsics come from the options, EXIF, the model or a
default (:mod:`.intrinsics`). The RGB-D image is lifted into pixel-aligned
Gaussians (:mod:`.lifting`) and what the view cannot see is completed
(:mod:`.completion`). The scene lives in the picture's OpenCV camera frame
(identity pose) -- ``world.json``'s ``input_to_world`` then maps that camera
frame to the world -- and carries the frame itself, so the surface stage fuses
the depth directly instead of re-rendering the Gaussians.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from worldgen_sim.artifacts import CameraPath, GaussianCloud, RGBDFrames, SceneInput, TriangleMesh
from worldgen_sim.errors import WorldgenError
from worldgen_sim.generate.completion import COMPLETED_KINDS, complete_view, completion_gaussians
from worldgen_sim.generate.generate_cfg import GenerateCfg
from worldgen_sim.generate.image import IMAGE_SUFFIXES, read_depth, read_picture
from worldgen_sim.generate.intrinsics import intrinsic_matrix, resolve_focal
from worldgen_sim.generate.lifting import lift_gaussians
from worldgen_sim.reports import GenerateReport

__all__ = ["GeneratedScene", "complete_single_frame", "generate_picture", "is_picture"]

HOW_TO_GET_DEPTH = (
    "give a depth map with --depth DEPTH.png|DEPTH.npy, or a depth model with --depth-model "
    "(e.g. depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf, Apache-2.0, or a local model folder; "
    "needs pip install 'worldgen-sim[depth]')"
)


@dataclass(eq=False)
class GeneratedScene:
    """What the generate step hands to the pipeline.

    Attributes:
        scene: Gaussians (lifted + completed, completed last), the RGB-D frame and its camera, in the input frame.
        completion: completed triangles in the input frame (vertex colours), possibly empty.
        completion_kinds: (F,) int8 label per completion face (``COMPLETED_KINDS``).
        completed_gaussians: how many of ``scene.gaussians`` (the last ones) are completed geometry.
        report: depth source, intrinsics and their source, lifting and completion counts
            (:class:`~worldgen_sim.reports.GenerateReport`).
    """

    scene: SceneInput
    completion: TriangleMesh
    completion_kinds: np.ndarray
    completed_gaussians: int = 0
    report: GenerateReport = field(default_factory=GenerateReport)


def is_picture(path: str | Path) -> bool:
    """Whether ``path`` is a PNG/JPEG file (an input for :func:`generate_picture`)."""
    path = Path(path)
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.is_dir()


def generate_picture(
    path: str | Path,
    *,
    cfg: GenerateCfg,
    depth_scale: float,
    scale_known: bool,
    progress=None,
) -> GeneratedScene:
    """Build the scene of one picture.

    Args:
        path: a PNG/JPEG.
        cfg: the generate configuration (depth source, intrinsics options, completion).
        depth_scale: units per metre of a 16-bit depth PNG (``input.depth_scale``).
        scale_known: whether ``--camera-height`` or ``--scale`` fixes the scale
            (relative-depth models need one).
        progress: optional progress reporter.

    Raises:
        WorldgenError: unreadable or tiny picture, bad depth, no depth source,
            a model that is not a depth model, or relative depth without a scale.
    """
    picture = read_picture(path)
    width, height = picture.size
    options: dict[str, Any] = {"width": width, "height": height, "focal_px": cfg.focal_px, "fov_deg": cfg.fov_deg,
                                "focal_35mm": picture.focal_35mm, "default_fov_deg": cfg.default_fov_deg}  # fmt: skip
    digest = hashlib.sha256(Path(path).read_bytes())
    depth_source, depth_info = _depth_source(cfg)
    if depth_source == "given":
        depth = read_depth(cfg.depth_path, size=(width, height), depth_scale=depth_scale)
        digest.update(Path(cfg.depth_path).read_bytes())
        focal, focal_source = resolve_focal(**options)
        metric = True
    else:
        depth, focal, focal_source, metric, depth_info = _model_depth(picture.rgb, depth_source, options, cfg, progress)
        if not metric and not scale_known:
            raise WorldgenError(
                f"generate.depth: '{depth_source}' predicts relative depth; give --camera-height H (the camera's "
                "height above the floor in metres) or --scale S, or use a metric model "
                "(depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf)"
            )
    _check_depth(depth, path)
    intrinsic = intrinsic_matrix(focal, width, height)
    camera = CameraPath(intrinsic[None], np.eye(4)[None], width, height)
    frames = RGBDFrames(colors=picture.rgb[None], depths=depth[None], cameras=camera, names=[Path(path).stem])
    scene = SceneInput(source=Path(path), sha256=digest.hexdigest(), layout="picture", frames=frames,
                       cameras=camera, default_up="opencv")  # fmt: skip
    generated = complete_single_frame(scene, cfg=cfg)
    generated.report.update(depth_info)
    generated.report.update(GenerateReport(
        depth=depth_source, depth_metric=bool(metric),
        intrinsics={"fx": focal, "fy": focal, "cx": intrinsic[0, 2], "cy": intrinsic[1, 2], "width": width,
                    "height": height, "source": focal_source},
        exif_focal_35mm=picture.focal_35mm,
    ))  # fmt: skip
    return generated


def complete_single_frame(scene: SceneInput, *, cfg: GenerateCfg) -> GeneratedScene:
    """Lift a scene's one RGB-D frame into Gaussians and complete what it cannot see.

    The frame may have any camera pose (an RGB-D folder's trajectory); the
    Gaussians and completed geometry are put in the scene's input frame.
    """
    frames = scene.frames
    if frames is None or len(frames) != 1:
        raise WorldgenError(f"{scene.source}: single-frame generation needs exactly one RGB-D frame")
    rgb, depth = np.asarray(frames.colors[0]), np.asarray(frames.depths[0], np.float32)
    intrinsic, pose = frames.cameras.intrinsics[0], frames.cameras.cam_to_world[0]
    cloud, lift_report = lift_gaussians(rgb, depth, intrinsic, stride=cfg.stride, edge_threshold=cfg.edge_threshold,
                                        max_depth=cfg.max_depth)  # fmt: skip
    completion_report: dict[str, Any] = {"skipped": "generate.complete = false"}
    if cfg.complete:
        completion = complete_view(
            rgb, depth, intrinsic, cell=cfg.completion_cell, outdoor_radius=cfg.outdoor_radius,
            object_depth=cfg.object_depth, max_object_height=cfg.max_object_height, max_depth=cfg.max_depth,
        )  # fmt: skip
        mesh, kinds, completion_report = completion.mesh, completion.kinds, completion.report
        extra = completion_gaussians(completion) if not mesh.is_empty else None
    else:
        mesh = TriangleMesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32))
        kinds, extra = np.zeros(0, np.int8), None
    if extra is not None:
        cloud = _concat(cloud, extra)
    cloud = _posed_cloud(cloud, pose)
    mesh = TriangleMesh(_apply(pose, mesh.vertices).astype(np.float32), mesh.faces, colors=mesh.colors)
    completed = len(extra) if extra is not None else 0
    completion_report["gaussians"] = completed
    report: GenerateReport = {
        "depth": "given", "depth_metric": True,
        "intrinsics": {"fx": float(intrinsic[0, 0]), "fy": float(intrinsic[1, 1]), "cx": float(intrinsic[0, 2]),
                       "cy": float(intrinsic[1, 2]), "width": int(frames.cameras.width),
                       "height": int(frames.cameras.height), "source": "input:rgbd folder intrinsics"},
        "lifting": lift_report, "completion": completion_report,
        "completed_kinds": {str(k): v for k, v in COMPLETED_KINDS.items()},
    }  # fmt: skip
    return GeneratedScene(scene=replace(scene, gaussians=cloud), completion=mesh, completion_kinds=kinds,
                          completed_gaussians=completed, report=report)  # fmt: skip


def _depth_source(cfg: GenerateCfg) -> tuple[str, GenerateReport]:
    if cfg.depth_path:
        if cfg.depth not in ("auto", "given"):
            raise WorldgenError(f"--depth {cfg.depth_path} and --depth-model {cfg.depth} both give depth; choose one")
        return "given", GenerateReport(depth_path=str(Path(cfg.depth_path).absolute()))
    if cfg.depth in ("auto", "given"):
        raise WorldgenError(f"a picture needs depth: {HOW_TO_GET_DEPTH}")
    return cfg.depth, GenerateReport()


def _model_depth(rgb, name: str, options: dict, cfg: GenerateCfg, progress):
    from worldgen_sim.generate.depth_models import load_depth_model

    model = load_depth_model(name, device=cfg.device)
    raw, model_fov = model.predict(rgb)
    focal, source = resolve_focal(**options, model_fov_deg=model_fov)
    depth = model.to_depth(raw, focal_px=focal, width=options["width"])
    info = GenerateReport(depth_model_type=model.model_type, depth_device=model.device,
                          model_field_of_view_deg=model_fov)  # fmt: skip
    return depth, focal, source, model.metric, info


def _check_depth(depth: np.ndarray, path) -> None:
    valid = np.isfinite(depth) & (depth > 0)
    if not np.any(valid):
        raise WorldgenError(f"{path}: the depth holds no valid reading (all zero, NaN or negative)")
    if np.count_nonzero(valid) < 0.05 * depth.size:
        raise WorldgenError(
            f"{path}: only {np.count_nonzero(valid)} of {depth.size} depth pixels hold a reading; expected >= 5 %"
        )


def _concat(a: GaussianCloud, b: GaussianCloud) -> GaussianCloud:
    return GaussianCloud(*(np.concatenate([getattr(a, k), getattr(b, k)]) for k in
                           ("positions", "rotations", "scales", "opacities", "sh")))  # fmt: skip


def _apply(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ pose[:3, :3].T + pose[:3, 3]


def _posed_cloud(cloud: GaussianCloud, pose: np.ndarray) -> GaussianCloud:
    """The cloud moved from the camera frame into the input frame by the rigid camera-to-input ``pose``."""
    if np.allclose(pose, np.eye(4)):
        return cloud
    from worldgen_sim.generate.lifting import matrix_to_quaternion

    w, x, y, z = (cloud.rotations[:, i].astype(np.float64) for i in range(4))
    local = np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], 1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], 1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], 1),
    ], axis=1)  # fmt: skip
    return replace(cloud, positions=_apply(pose, cloud.positions).astype(np.float32),
                   rotations=matrix_to_quaternion(pose[:3, :3] @ local))  # fmt: skip

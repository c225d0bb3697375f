"""The surface stage: a coloured visual mesh from Gaussians or RGB-D frames.

Gaussians: make depth and colour images from cameras covering the scene --
rasterised (the median depth, where accumulated opacity reaches one half: the
first opaque surface, not a blend of surface and background) or, faster on a
CPU, z-buffered Gaussian discs (the weighted mean of each pixel's front surface;
see ``surface.depth_source`` and :mod:`worldgen_sim.surface.zbuffer`), add views of
what those cameras leave unseen (:mod:`worldgen_sim.surface.coverage`) -- fuse them
into a TSDF, extract the mesh and clean it. RGB-D frames: fuse the measured
depth directly.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import AlignedScene, CameraPath, GaussianCloud, RGBDFrames, SurfaceResult
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.reports import CoverageReport, SurfaceReport
from worldgen_sim.surface.cleanup import clean_mesh
from worldgen_sim.surface.fusion import fuse_depth_frames
from worldgen_sim.surface.surface_cfg import SurfaceCfg
from worldgen_sim.surface.views import place_views, rescale_cameras
from worldgen_sim.surface.zbuffer import zbuffer_depth_maps

__all__ = ["MIN_VIEW_COVERAGE", "NEAR_PLANE", "extract_surface", "plan_views"]

MIN_VIEW_COVERAGE = 0.01
"""A rendered view is used when at least this fraction of its pixels holds a surface."""
NEAR_PLANE = 0.05
"""Gaussians closer to a camera than this are not rendered [m]."""


def extract_surface(scene: AlignedScene, *, cfg: SurfaceCfg, progress: Progress | None = None) -> SurfaceResult:
    """Build the cleaned visual mesh of an aligned scene.

    Gaussians are used when present (depth images from :func:`plan_views`'
    cameras); otherwise the RGB-D frames are fused as measured. Nothing is
    written to disk.

    Args:
        scene: the scene in the world frame (Z-up, metres).
        cfg: the surface configuration.
        progress: progress reporting; silent when None.

    Returns:
        The mesh (vertex colours and normals) and a :class:`~worldgen_sim.reports.SurfaceReport`
        (source, views rendered/used, coverage views added and the unseen fraction before/after,
        voxel size, clean-up counts); sub-stages are timed by ``progress``.

    Raises:
        WorldgenError: an empty or fully transparent scene, a camera path that
            sees none of it, inconsistent RGB-D frames, bad options, or an
            empty mesh after fusion.
    """
    progress = progress if progress is not None else Progress(quiet=True)
    cfg.validate()
    report = SurfaceReport(voxel_size=cfg.voxel_size)
    with progress.stage("surface"):
        with progress.stage("surface: depth"):
            depths, colors, cameras = _depth_images(scene, cfg=cfg, progress=progress, report=report)
        with progress.stage("surface: fusion"):
            raw = _fuse(depths, colors, cameras, cfg=cfg, progress=progress, report=report)
        with progress.stage("surface: cleanup"):
            mesh, report["cleanup"] = clean_mesh(
                raw, min_component_fraction=cfg.min_component_fraction, hole_size=cfg.hole_size,
                max_triangles=cfg.max_triangles, floor_band=cfg.floor_band,
            )  # fmt: skip
    if mesh.is_empty:
        raise WorldgenError("mesh clean-up removed every face; check surface.min_component_fraction")
    return SurfaceResult(mesh=mesh, report=report)


def _depth_images(scene: AlignedScene, *, cfg: SurfaceCfg, progress: Progress, report: SurfaceReport):
    """(M, H, W) depth [m], (M, H, W, 3) colour and the M cameras to fuse: rendered views or RGB-D frames."""
    if scene.gaussians is not None:
        depths, colors, cameras, view_report = _render_views(scene, cfg=cfg, progress=progress)
        report.update(view_report)
        return depths, colors, cameras
    if scene.frames is not None:
        frames = _checked_frames(scene.frames)
        report["source"], report["views_used"] = "rgbd", len(frames)
        return frames.depths, frames.colors, frames.cameras
    raise WorldgenError("the scene holds neither Gaussians nor RGB-D frames; nothing to mesh")


def _fuse(depths, colors, cameras: CameraPath, *, cfg: SurfaceCfg, progress: Progress, report: SurfaceReport):
    """The raw TSDF mesh from the chosen fusion backend; an empty one is an error naming the options."""
    fusion, device = _fusion_backend(cfg)
    report["fusion"] = fusion if fusion == "open3d" else f"torch:{device}"
    if fusion == "open3d":
        raw = fuse_depth_frames(
            depths, colors, cameras, voxel_size=cfg.voxel_size, truncation_voxels=cfg.truncation_voxels,
            max_depth=cfg.max_depth, min_weight=cfg.min_weight, progress=progress,
        )  # fmt: skip
    else:
        from worldgen_sim.surface.fusion_torch import fuse_depth_frames_torch

        raw = fuse_depth_frames_torch(
            depths, colors, cameras, device=device, voxel_size=cfg.voxel_size,
            truncation_voxels=cfg.truncation_voxels, max_depth=cfg.max_depth, min_weight=cfg.min_weight,
            progress=progress,
        )  # fmt: skip
    if raw.is_empty:
        raise WorldgenError(
            "TSDF fusion produced an empty mesh: the views see no surface within "
            f"surface.max_depth = {cfg.max_depth} m (or surface.voxel_size = {cfg.voxel_size} m is too coarse)"
        )
    return raw


def plan_views(scene: AlignedScene, *, cfg: SurfaceCfg) -> tuple[CameraPath, str]:
    """The cameras the Gaussians are rendered from, and where they came from.

    The input's camera path (``"input_cameras"``) when the scene has one and
    ``cfg.use_input_cameras``, else automatically placed views (``"auto"``).
    """
    if scene.gaussians is None:
        raise WorldgenError("view planning needs Gaussians")
    if scene.cameras is not None and cfg.use_input_cameras and len(scene.cameras) > 0:
        return rescale_cameras(scene.cameras, width=cfg.image_width, max_views=cfg.num_views), "input_cameras"
    cameras = place_views(
        scene.gaussians, num_views=cfg.num_views, width=cfg.image_width, height=cfg.image_height,
        fov_deg=cfg.fov_deg, min_opacity=min(0.1, cfg.min_alpha),
    )  # fmt: skip
    return cameras, "auto"


def _render_views(scene: AlignedScene, *, cfg: SurfaceCfg, progress: Progress):
    """Render depth and colour from every planned view; keep the views that see the scene; add coverage
    views for what they leave unseen (:mod:`worldgen_sim.surface.coverage`)."""
    assert scene.gaussians is not None  # the caller chose this path because there are Gaussians
    cloud = _checked_gaussians(scene.gaussians, min_alpha=cfg.min_alpha)
    cameras, source = plan_views(scene, cfg=cfg)
    depth_source = _depth_source(cfg)
    depths, colors, valid, backend = _draw(cloud, cameras, cfg=cfg, depth_source=depth_source, progress=progress)
    coverage = valid.reshape(valid.shape[0], -1).mean(axis=1)
    used = coverage >= MIN_VIEW_COVERAGE
    if not np.any(used):
        where = "the input camera path" if source == "input_cameras" else "the automatically placed views"
        raise WorldgenError(
            f"none of the {len(cameras)} views of {where} sees the scene (each has under "
            f"{MIN_VIEW_COVERAGE:.0%} of its pixels with opacity >= surface.min_alpha = {cfg.min_alpha} "
            f"within surface.max_depth = {cfg.max_depth} m); check the camera path's frame"
        )
    report = {
        "source": source,
        "views_rendered": len(cameras),
        "views_used": int(np.count_nonzero(used)),
        "mean_view_coverage": round(float(coverage[used].mean()), 4),
        "depth_source": backend,
    }
    depths, colors, cameras = depths[used], colors[used], _camera_slice(cameras, used)
    with progress.stage("surface: coverage views"):
        added = _coverage(cloud, cameras, depths, cfg=cfg, depth_source=depth_source, progress=progress)
    report["coverage"] = added[3]
    if len(added[2]) > 0:
        depths, colors = np.concatenate([depths, added[0]]), np.concatenate([colors, added[1]])
        cameras = CameraPath(np.concatenate([cameras.intrinsics, added[2].intrinsics]),
                             np.concatenate([cameras.cam_to_world, added[2].cam_to_world]),
                             cameras.width, cameras.height)
    return depths, colors, cameras, report


def _coverage(cloud: GaussianCloud, cameras: CameraPath, depths: np.ndarray, *, cfg: SurfaceCfg,
              depth_source: str, progress: Progress):
    """Depth (K, H, W), colour (K, H, W, 3) and cameras of up to ``surface.coverage_views`` views that see
    what the planned ``cameras`` leave unseen, and the :class:`~worldgen_sim.reports.CoverageReport`."""
    from worldgen_sim.surface.coverage import coverage_views, seen_by_views

    def render(views: CameraPath) -> np.ndarray:
        return _draw(cloud, views, cfg=cfg, depth_source=depth_source, progress=None)[0]

    found = coverage_views(
        cloud, cameras, depths, count=cfg.coverage_views, min_opacity=cfg.min_alpha, near=NEAR_PLANE,
        far=float(cfg.max_depth), fov_deg=cfg.fov_deg, render=render, progress=progress,
    )  # fmt: skip
    added = found.cameras
    height, width = depths.shape[1:]
    new_depths, new_colors = np.zeros((0, height, width), np.float32), np.zeros((0, height, width, 3), np.float32)
    still_unseen = found.unseen_before
    if len(added) > 0:
        new_depths, new_colors, _, _ = _draw(cloud, added, cfg=cfg, depth_source=depth_source, progress=progress)
        # Judged again on the full-size images that are fused (the choice was made on smaller ones).
        seen = seen_by_views(found.unseen_points, found.unseen_normals, added, new_depths, near=NEAR_PLANE,
                             far=float(cfg.max_depth)).any(axis=0)
        still_unseen = int(np.count_nonzero(~seen))
    tested = max(found.tested, 1)
    report = CoverageReport(
        views_added=len(added), candidates=found.candidates, tested=found.tested,
        unseen_before=round(found.unseen_before / tested, 4), unseen_after=round(still_unseen / tested, 4),
    )  # fmt: skip
    return new_depths, new_colors, added, report


def _draw(cloud: GaussianCloud, cameras: CameraPath, *, cfg: SurfaceCfg, depth_source: str,
          progress: Progress | None):
    """(V, H, W) depth [m] (0: nothing), (V, H, W, 3) colour, (V, H, W) bool valid and the backend's name."""
    from worldgen_sim.surface.render import render_gaussians

    if depth_source == "zbuffer":
        depths, colors = zbuffer_depth_maps(
            cloud, cameras, min_opacity=cfg.min_alpha, near=NEAR_PLANE, far=float(cfg.max_depth), progress=progress
        )
        return depths, colors, depths > 0, "zbuffer"
    # One call for all views: the renderer prepares the cloud once and batches views itself.
    out = render_gaussians(
        cloud, cameras, backend=cfg.renderer, near=NEAR_PLANE, far=float(cfg.max_depth), progress=progress
    )
    # Median depth (where transmittance crosses one half) is the first opaque surface; the expected
    # depth blends foreground and background at silhouettes and measured slightly worse here.
    depths = np.asarray(out.depth_median, np.float32)
    alpha = np.asarray(out.alpha, np.float32)
    valid = (alpha >= cfg.min_alpha) & np.isfinite(depths) & (depths > NEAR_PLANE) & (depths <= cfg.max_depth)
    depths = np.where(valid, depths, 0.0).astype(np.float32)
    # The renderer composites colour over black (premultiplied): divide alpha out for the surface colour.
    colors = np.clip(np.asarray(out.color, np.float32) / np.maximum(alpha, 1e-6)[..., None], 0.0, 1.0)
    return depths, colors, valid, getattr(out, "backend", cfg.renderer)


def _depth_source(cfg: SurfaceCfg) -> str:
    """``"render"`` (the Gaussian rasteriser) or ``"zbuffer"`` (disc z-buffer of centres), from the options.

    ``auto`` rasterises where gsplat can run on a CUDA GPU (milliseconds per
    view) or where ``surface.renderer`` asks for a backend explicitly, and
    z-buffers on a CPU, where rasterising a million Gaussians from dozens of
    views takes minutes.
    """
    if cfg.depth_source != "auto":
        return cfg.depth_source
    if cfg.renderer != "auto":
        return "render"
    from worldgen_sim.surface.render import cuda_available

    return "render" if cuda_available()[0] else "zbuffer"


def _fusion_backend(cfg: SurfaceCfg) -> tuple[str, str]:
    """(``"open3d"`` or ``"torch"``, the torch device) for ``cfg.fusion``.

    ``auto`` takes torch on a CUDA GPU (open3d's fusion runs on the CPU only, and its
    wheels are too large to ship to GPU machines) or when open3d is not installed.
    """
    import importlib.util

    if cfg.fusion == "open3d":
        return "open3d", "cpu"
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.fusion == "torch" or device == "cuda" or importlib.util.find_spec("open3d") is None:
        return "torch", device
    return "open3d", "cpu"


def _checked_gaussians(cloud: GaussianCloud, *, min_alpha: float) -> GaussianCloud:
    if len(cloud) == 0:
        raise WorldgenError("the scene has no Gaussians; nothing to mesh")
    if float(np.max(cloud.opacities)) < 1e-3:
        raise WorldgenError(
            f"every Gaussian is transparent (max opacity {float(np.max(cloud.opacities)):.2g}); nothing to mesh"
        )
    return cloud


def _checked_frames(frames: RGBDFrames) -> RGBDFrames:
    depths = np.asarray(frames.depths)
    if len(frames) == 0:
        raise WorldgenError("the scene's RGB-D frames are empty; nothing to fuse")
    if depths.ndim != 3 or len(frames.cameras) != depths.shape[0]:
        raise WorldgenError(
            f"RGB-D frames: {depths.shape[0] if depths.ndim else 0} depth images but {len(frames.cameras)} poses"
        )
    if (frames.cameras.height, frames.cameras.width) != depths.shape[1:]:
        raise WorldgenError(
            f"RGB-D frames: depth images are {depths.shape[2]}x{depths.shape[1]} px but the intrinsics say "
            f"{frames.cameras.width}x{frames.cameras.height} px"
        )
    if frames.colors is not None and np.asarray(frames.colors).shape[:3] != depths.shape:
        raise WorldgenError(
            f"RGB-D frames: colour images {np.asarray(frames.colors).shape[1:3]} do not match depth {depths.shape[1:]}"
        )
    if not np.all(np.isfinite(frames.cameras.cam_to_world)):
        raise WorldgenError("RGB-D frames: a camera pose holds NaN/Inf")
    return frames


def _camera_slice(cameras: CameraPath, keep) -> CameraPath:
    return CameraPath(cameras.intrinsics[keep], cameras.cam_to_world[keep], cameras.width, cameras.height)

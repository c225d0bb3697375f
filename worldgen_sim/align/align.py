"""The alignment stage: input frame -> Z-up metric world with the floor at z = 0.

Steps (each reported in ``AlignedScene.report``):

1. **Points.** The Gaussian centres (weighted by opacity), or, for RGB-D input,
   a strided subsample of depth pixels back-projected through the poses.
2. **Up.** ``opencv`` maps (x right, y down, z forward) to (x, z, -y); ``y``
   maps y-up to z-up by (x, -z, y); ``z`` is the identity. ``auto`` tries every
   axis direction and the cameras' mean up (-y of each OpenCV camera) and keeps
   the one with a plausible floor (:mod:`worldgen_sim.align.up`); the layout's
   convention only breaks ties. Without any plausible floor, ``add_ground``
   stands the scene on a synthetic ground sheet (:mod:`worldgen_sim.align.ground`)
   under the cameras' up, the ``up`` option's, or else the direction the capture's
   open bottom cut faces (:func:`~worldgen_sim.align.ground.cut_direction`);
   without ``add_ground`` it is an error that names ``--add-ground``.
3. **Floor.** Batched RANSAC among planes within ``floor_max_tilt_deg`` of
   up, scored by opacity-weighted inliers, rejecting planes with points clearly
   below them, refined by SVD on the inliers (:mod:`worldgen_sim.align.floor`).
   The floor normal is rotated onto +Z by the smallest rotation and the floor
   moved to z = 0.
4. **Yaw** about +Z. ``camera``: the input camera's forward (the first camera
   of ``scene.cameras``, else of the frames, else, for OpenCV inputs, the
   input-frame origin looking along +z), projected on the floor, points along
   +Y. ``walls``: the rotation in [-45, 45) deg that makes the histograms of
   the off-floor points' x and y coordinates sharpest, i.e. puts the dominant
   vertical planes on the X/Y axes. ``none``: no yaw. ``camera`` falls back to
   ``walls`` when there is no camera or it looks (nearly) straight down.
5. **Scale.** ``scale``, else ``camera_height`` / the input camera's distance
   from the floor plane (input units), else the trainer's own scale
   (``SceneInput.metres_per_unit``: nerfstudio's dataparser scale undone), else
   1 (input taken as metres).
6. **Origin.** x = y = 0 at the centre of the floor's extent (``origin:
   floor``) or under the input camera (``origin: camera``).
7. **Clean-up** (world frame, metres): sky (outside the ground's extent, the
   floor's and that of level ground at other heights, plus ``sky_margin``,
   above ``max_height``, below ``-below_floor_margin``), then low opacity,
   then isolation among what is left (:mod:`worldgen_sim.align.filters`).
   RGB-D frames are not filtered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from worldgen_sim.align.align_cfg import AlignCfg
from worldgen_sim.align.filters import isolated_mask, low_opacity_mask, sky_mask
from worldgen_sim.align.floor import CORE_FACTOR, UP_ROTATIONS, FloorSearch, find_floor
from worldgen_sim.align.ground import concatenate, cut_direction, synthetic_ground
from worldgen_sim.align.levels import ground_support
from worldgen_sim.align.transforms import (
    rotation_about_z,
    rotation_between,
    similarity_matrix,
    transform_cameras,
    transform_frames,
    transform_gaussians,
    transform_points,
)
from worldgen_sim.align.up import CONVENTION_UP, camera_up, choose_up
from worldgen_sim.artifacts import AlignedScene, SceneInput
from worldgen_sim.errors import WorldgenError
from worldgen_sim.evidence import backproject_frames
from worldgen_sim.progress import Progress
from worldgen_sim.reports import AlignReport

log = logging.getLogger(__name__)

_Z = np.array([0.0, 0.0, 1.0])


@dataclass
class _Camera:
    """The input camera used for yaw, scale and origin: centre (3,) and forward (3,) in the input frame."""

    centre: np.ndarray
    forward: np.ndarray
    source: str


def align_scene(scene: SceneInput, *, cfg: AlignCfg, progress: Progress | None = None) -> AlignedScene:
    """Bring a scene into the world frame (Z-up, metres, floor at z = 0) and clean it up.

    Args:
        scene: Gaussians and/or RGB-D frames (and optional cameras) in the input frame.
        cfg: alignment options.
        progress: progress reporter; silent when None.

    Returns:
        The scene in the world frame: kept Gaussians, frames with world poses and
        depths multiplied by the scale, cameras, the (4, 4) similarity
        ``input_to_world`` and the report.

    Raises:
        WorldgenError: a bad option, an empty scene, or no floor found.
    """
    progress = progress or Progress(quiet=True)
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)

    with progress.stage("align: floor"):
        points, weights, points_source = _floor_points(scene, max_points=cfg.floor_max_points, rng=rng)
        up = _resolve_up(scene, cfg, points, weights, rng)
        ground_info = None
        if up.search.plane is None:
            if not cfg.add_ground:
                raise WorldgenError(_no_floor_message(scene, cfg, up))
            scene, ground_info = _add_ground(scene, cfg, up, rng)
            points, weights, points_source = _floor_points(scene, max_points=cfg.floor_max_points, rng=rng)
            up.search = find_floor(points @ up.rotation.T, weights, **_search_options(cfg, rng))
            if up.search.plane is None:
                raise WorldgenError(f"{scene.source}: --add-ground: no floor found on the synthetic ground either")
    up_rotation, up_used, up_source, plane = up.rotation, up.name, up.source, up.search.plane

    level = rotation_between(plane.normal, _Z) @ up_rotation  # input -> floor-levelled frame
    normal_in = up_rotation.T @ plane.normal
    offset_in = plane.offset  # normal_in . x = offset_in on the floor, in input units
    camera = _reference_camera(scene, up_used)
    scale, scale_source = _scale(cfg, camera, normal_in, offset_in, plane.tolerance, scene,
                                 ground=(points, level, plane))
    yaw, yaw_rule = _yaw(cfg.yaw, level, camera, points, weights, plane, rng)
    rotation = rotation_about_z(yaw) @ level

    floor_xy = scale * (points[plane.inliers] @ rotation.T)[:, :2]
    floor_lo, floor_hi = np.percentile(floor_xy, 1, axis=0), np.percentile(floor_xy, 99, axis=0)
    # Ground at other heights (a platform in a corner) may reach further than the floor plane:
    # the sky filter keeps everything over either.
    on_ground = ground_support(
        points @ up_rotation.T, weights, plane, max_slope_deg=cfg.floor_max_tilt_deg
    ).on_level_ground
    ground_xy = scale * (points[plane.inliers | on_ground] @ rotation.T)[:, :2]
    ground_lo = np.minimum(floor_lo, np.percentile(ground_xy, 1, axis=0))
    ground_hi = np.maximum(floor_hi, np.percentile(ground_xy, 99, axis=0))
    origin_rule = cfg.origin if (cfg.origin == "floor" or camera is not None) else "floor (no camera)"
    if camera is not None and origin_rule == "camera":
        centre = scale * (rotation @ camera.centre)[:2]
    else:
        centre = 0.5 * (floor_lo + floor_hi)
    translation = np.array([-centre[0], -centre[1], -scale * offset_in])
    matrix = similarity_matrix(scale=scale, rotation=rotation, translation=translation)
    floor_lo, floor_hi = floor_lo - centre, floor_hi - centre
    ground_lo, ground_hi = ground_lo - centre, ground_hi - centre

    report: AlignReport = {
        "up": cfg.up,
        "up_used": up_used,
        "up_source": up_source,
        "up_candidates": up.candidates,
        "camera_file": scene.camera_file,
        "add_ground": ground_info,
        "floor_points": int(points.shape[0]),
        "floor_points_source": points_source,
        "floor_normal_input": [float(v) for v in normal_in],
        "floor_offset_input": float(offset_in),
        "floor_inliers": int(plane.inliers.sum()),
        "floor_fraction": round(float(plane.score), 4),
        "floor_below_fraction": round(float(plane.below_fraction), 4),
        "floor_tilt_deg": round(float(np.degrees(np.arccos(np.clip(plane.normal[2], -1, 1)))), 3),
        "floor_extent_world": [[float(v) for v in floor_lo], [float(v) for v in floor_hi]],
        "ground_extent_world": [[float(v) for v in ground_lo], [float(v) for v in ground_hi]],
        "yaw_rule": yaw_rule,
        "yaw_deg": round(float(np.degrees(yaw)), 4),
        "scale": float(scale),
        "scale_source": scale_source,
        "origin": origin_rule,
        "camera": camera.source if camera is not None else None,
        "camera_height_world": float(transform_points(camera.centre[None], matrix)[0, 2]) if camera else None,
        # Where the input camera stands and looks in the world (the viewer's starting view).
        "camera_world": _camera_world(camera, matrix, rotation) if camera is not None else None,
        "input_to_world": matrix.tolist(),
    }

    gaussians = None
    if scene.gaussians is not None:
        with progress.stage("align: filters"):
            keep, counts = _clean(scene, matrix, cfg, ground_lo, ground_hi)
        report.update(counts)
        with progress.stage("align: transform"):
            subset = scene.gaussians if keep.all() else scene.gaussians.subset(keep)
            gaussians = transform_gaussians(subset, matrix)
    frames = transform_frames(scene.frames, matrix) if scene.frames is not None else None
    cameras = transform_cameras(scene.cameras, matrix) if scene.cameras is not None else None
    log.info(
        "align: up=%s (%s) yaw=%s (%.1f deg) scale=%.4g (%s) kept=%s",
        up_used, up_source, yaw_rule, np.degrees(yaw), scale, scale_source, report.get("kept", "n/a"),
    )
    return AlignedScene(
        input_to_world=matrix, scale=float(scale), gaussians=gaussians, frames=frames, cameras=cameras, report=report
    )


def _floor_points(scene: SceneInput, *, max_points: int, rng: np.random.Generator):
    """(P, 3) float64 input-frame points, (P,) weights and where they came from, P <= max_points."""
    if scene.gaussians is not None and len(scene.gaussians):
        positions = np.asarray(scene.gaussians.positions, np.float64)
        weights = np.clip(np.asarray(scene.gaussians.opacities, np.float64), 0.0, 1.0)
        finite = np.isfinite(positions).all(1) & np.isfinite(weights)
        index = np.flatnonzero(finite)
        if index.size > max_points:
            index = np.sort(rng.choice(index, max_points, replace=False))
        return positions[index], weights[index], "gaussians"
    if scene.frames is not None and len(scene.frames):
        points = backproject_frames(scene.frames, max_points=max_points)
        return points, np.ones(points.shape[0]), "rgbd"
    raise WorldgenError(f"{scene.source}: the scene holds neither Gaussians nor RGB-D frames; nothing to align")


@dataclass
class _Up:
    """The up decision: rotation to Z-up, its name, where it came from, the floor search in that frame."""

    rotation: np.ndarray
    name: str
    source: str
    search: FloorSearch
    candidates: list = field(default_factory=list)


def _search_options(cfg: AlignCfg, rng) -> dict:
    return {
        "max_tilt_deg": cfg.floor_max_tilt_deg,
        "tolerance_fraction": cfg.floor_tolerance,
        "max_below_fraction": cfg.floor_max_below,
        "min_floor_fraction": cfg.floor_min_fraction,
        "rng": rng,
    }


def _camera_poses(scene: SceneInput) -> np.ndarray | None:
    """(M, 4, 4) input-frame camera-to-world poses of the scene's cameras and frames, or None."""
    poses = [
        np.asarray(p.cam_to_world, np.float64)
        for p in (scene.cameras, scene.frames.cameras if scene.frames else None)
        if p is not None and len(p)
    ]
    return np.concatenate(poses) if poses else None


def _resolve_up(scene, cfg, points, weights, rng) -> _Up:
    """The up direction: the option's convention, or the most plausible floor among all candidates."""
    search = _search_options(cfg, rng)
    if cfg.up != "auto":
        rotation = UP_ROTATIONS[cfg.up]
        return _Up(rotation, cfg.up, "option", find_floor(points @ rotation.T, weights, **search))
    poses = _camera_poses(scene)
    layout_up = CONVENTION_UP.get(scene.default_up)
    choice = choose_up(
        points,
        weights,
        camera_centres=poses[:, :3, 3] if poses is not None else None,
        camera_direction=camera_up(poses) if poses is not None else None,
        layout_up=layout_up,
        min_support=cfg.floor_min_support,
        min_footprint=cfg.floor_min_footprint,
        level_max_slope_deg=cfg.floor_max_tilt_deg,
        search=dict(search, num_hypotheses=2048, max_tilt_deg=max(cfg.auto_up_max_tilt_deg, cfg.floor_max_tilt_deg)),
    )
    name = choice.name
    if name is not None and layout_up == name and scene.default_up in UP_ROTATIONS:
        name = scene.default_up  # e.g. "opencv": keeps the input-origin camera of Lyra frames
    if name is None:
        return _Up(choice.rotation, "none", choice.reason, choice.search, choice.candidates)
    return _Up(choice.rotation, name, f"geometry: {choice.reason}", choice.search, choice.candidates)


def _no_floor_message(scene: SceneInput, cfg: AlignCfg, up: _Up) -> str:
    if cfg.up == "auto":
        tried = "; ".join(f"{row['name']}: {row['verdict']}" for row in up.candidates)
        where = f"no plausible floor in any up direction tried ({tried})"
    else:
        where = f"no floor found with up = {cfg.up!r} ({up.search.reason})"
    return (
        f"{scene.source}: {where}. If this is an object captured without its ground (e.g. a cropped statue), "
        "rebuild with --add-ground (align.add_ground) to stand it on a synthetic ground plane; otherwise set the "
        f"input's up axis with --up opencv|y|z (align.up) or allow more tilt with align.floor_max_tilt_deg "
        f"(now {cfg.floor_max_tilt_deg:g})"
        + (f" / align.auto_up_max_tilt_deg (now {cfg.auto_up_max_tilt_deg:g})" if cfg.up == "auto" else "")
    )


def _add_ground(scene: SceneInput, cfg: AlignCfg, up: _Up, rng) -> tuple[SceneInput, dict]:
    """The scene with a synthetic ground sheet under it, and what was added."""
    if scene.gaussians is None or not len(scene.gaussians):
        raise WorldgenError(
            f"{scene.source}: --add-ground (align.add_ground) needs Gaussian input; RGB-D frames without a floor "
            "cannot be given a synthetic one"
        )
    if cfg.up == "auto":
        poses = _camera_poses(scene)
        direction = camera_up(poses) if poses is not None else None
        if direction is not None:
            up.rotation, up.name, rule = rotation_between(direction, _Z), "cameras", "the cameras' mean up"
        else:
            # No floor and no cameras: the crop itself says where the ground was (an open outline
            # at the bottom); a PLY layout is ambiguous (INRIA degree 0 reads exactly like Lyra).
            positions = np.asarray(scene.gaussians.positions, np.float64)
            opaque = np.asarray(scene.gaussians.opacities) >= 0.5
            observed = positions[opaque] if opaque.sum() >= 100 else positions
            direction, hollowness = cut_direction(observed)
            if direction is None:
                raise WorldgenError(
                    f"{scene.source}: --add-ground (align.add_ground) needs to know which way is up, and this "
                    f"scene has no floor, no cameras and no open cut at its bottom (at most {hollowness:.0%} "
                    "hollow): give --up z|y|opencv (align.up) as well"
                )
            up.rotation, up.name = rotation_between(direction, _Z), "cut"
            rule = f"the capture's open cut off its ground lies at the bottom ({hollowness:.0%} hollow)"
        up.source = f"add_ground: {rule}; no direction had a plausible floor"
    ground, info = synthetic_ground(scene.gaussians, up.rotation, margin=cfg.add_ground_margin, rng=rng)
    from dataclasses import replace

    return replace(scene, gaussians=concatenate(scene.gaussians, ground)), info


def _camera_world(camera: _Camera, matrix: np.ndarray, rotation: np.ndarray) -> dict[str, list[float]]:
    """The reference camera's world position [m] and unit forward direction (rounded: world.json is compared)."""
    position = transform_points(camera.centre[None], matrix)[0]
    forward = rotation @ camera.forward
    forward = forward / max(float(np.linalg.norm(forward)), 1e-12)
    return {"position": [round(float(v), 6) for v in position], "forward": [round(float(v), 6) for v in forward]}


def _reference_camera(scene: SceneInput, up_used: str) -> _Camera | None:
    """The first input camera, or the OpenCV input frame's own camera at the origin."""
    for path, name in (
        (scene.cameras, "scene.cameras[0]"),
        (scene.frames.cameras if scene.frames else None, "frames[0]"),
    ):
        if path is not None and len(path):
            pose = np.asarray(path.cam_to_world[0], np.float64)
            return _Camera(pose[:3, 3].copy(), pose[:3, 2].copy(), name)
    if up_used == "opencv":
        return _Camera(np.zeros(3), _Z.copy(), "input origin (OpenCV camera frame)")
    return None


def _scale(cfg, camera, normal_in, offset_in, tolerance, scene, *, ground) -> tuple[float, str]:
    """World metres per input unit, and where that came from.

    ``ground`` is (input points (N, 3), (3, 3) rotation levelling the floor, floor plane): a camera
    height is measured down to the ground under the camera (:func:`_ground_under`), which on
    rolling terrain is not the floor plane.
    """
    if cfg.scale is not None:
        return float(cfg.scale), "scale option"
    if cfg.camera_height is None:
        if scene.metres_per_unit is not None:
            return float(scene.metres_per_unit), f"trainer camera file ({scene.camera_file})"
        return 1.0, "input units taken as metres"
    if camera is None:
        raise WorldgenError(
            f"{scene.source}: --camera-height (align.camera_height) needs the input camera, but the scene has "
            "no cameras and its frame is not an OpenCV camera frame (--up opencv); give --scale instead"
        )
    height = float(normal_in @ camera.centre - offset_in)
    if height <= tolerance:
        raise WorldgenError(
            f"{scene.source}: --camera-height: the input camera ({camera.source}) is not above the floor found "
            f"({height:.4g} input units); check --up or give --scale instead"
        )
    points, level, plane = ground
    rise = _ground_under(points @ level.T, level @ camera.centre, plane, height=height)
    if rise is not None and height - rise > tolerance:
        return cfg.camera_height / (height - rise), (
            f"camera height {cfg.camera_height:g} m ({camera.source}) above the ground under it, "
            f"{rise / height * cfg.camera_height:+.3g} m from the floor plane"
        )
    return cfg.camera_height / height, f"camera height {cfg.camera_height:g} m ({camera.source})"


def _ground_under(levelled: np.ndarray, centre: np.ndarray, plane, *, height: float, radius_factor: float = 0.75,
                  cells: int = 8, min_cells: int = 12, min_rise: float = 0.005) -> float | None:
    """Height [input units] of the ground under a camera above the floor plane, or None to keep the plane.

    A user's camera height is measured from the ground under the camera. On a flat floor that is
    the floor plane; on rolling terrain the plane fitted over the whole scene passes centimetres
    above or below it (8 cm under the terrain scene's first camera: a 4.4 % scale error). So the
    ground is fitted locally: within ``radius_factor`` x the camera's height of its foot, binned in
    ``cells`` cells per radius, the cells' median heights fit a plane z = a + b dx + c dy; cells
    off it by more than three robust sigmas of the residuals (furniture, walls, rocks), or two
    floor tolerances, are dropped and the plane refitted. None when the fit lacks support (fewer
    than ``min_cells`` cells, or an empty quadrant around the foot: an extrapolation) or when the
    ground under the camera is within ``min_rise`` x its height of the plane (a flat floor keeps
    exactly the plane's scale; the difference would be under 0.5 %).

    Args:
        levelled: (N, 3) points in the floor-levelled frame (floor normal +Z) [input units].
        centre: (3,) the camera centre in that frame.
        plane: the floor (its ``offset`` and ``tolerance``).
        height: the camera's height above the plane [input units].
    """
    radius = radius_factor * height
    offset = levelled[:, :2] - centre[:2]
    near = (np.einsum("ij,ij->i", offset, offset) <= radius**2) & (levelled[:, 2] - plane.offset < 0.5 * height)
    if near.sum() < min_cells:
        return None
    cell, width = radius / cells, 4 * cells + 1
    ij = np.floor(offset[near] / cell).astype(np.int64) + 2 * cells
    key = ij[:, 0] * width + ij[:, 1]
    z = levelled[near, 2] - plane.offset
    order = np.lexsort((z, key))
    key, z = key[order], z[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    counts = np.diff(np.concatenate([starts, [key.size]]))
    middle = z[starts + counts // 2]
    xy = (np.column_stack([key[starts] // width, key[starts] % width]) - 2 * cells + 0.5) * cell
    design = np.column_stack([np.ones(middle.size), xy])
    keep = np.ones(middle.size, dtype=bool)
    for _ in range(4):
        if keep.sum() < min_cells:
            return None
        coef = np.linalg.lstsq(design[keep], middle[keep], rcond=None)[0]
        residual = middle - design @ coef
        sigma = 1.4826 * np.median(np.abs(residual[keep]))
        keep = np.abs(residual) <= min(3.0 * sigma + 1e-9 * height, 2.0 * plane.tolerance)
    quadrants = {(bool(a), bool(b)) for a, b in (xy[keep] > 0)}
    if keep.sum() < min_cells or len(quadrants) < 4:
        return None
    rise = float(coef[0])
    return rise if abs(rise) > min_rise * height else None


def _yaw(rule, level, camera, points, weights, plane, rng) -> tuple[float, str]:
    """Yaw angle [rad] about +Z applied after levelling, and the rule that gave it."""
    if rule == "none":
        return 0.0, "none"
    note = ""
    if rule == "camera":
        if camera is not None:
            forward = level @ camera.forward
            horizontal = float(np.hypot(forward[0], forward[1]))
            if horizontal > 0.2 * np.linalg.norm(forward):
                return float(np.arctan2(forward[0], forward[1])), f"camera ({camera.source} looks along +Y)"
            note = " (camera looks straight down)"
        else:
            note = " (no camera)"
    angle = _walls_angle(points @ level.T, weights, plane, rng)
    if angle is None:
        return 0.0, f"none (too few wall points{note})"
    return angle, "walls" + (f", fallback from camera{note}" if rule == "camera" else "")


def _walls_angle(levelled, weights, plane, rng, max_points=40000) -> float | None:
    """Yaw in [-pi/4, pi/4) that makes the x and y histograms of the off-floor points sharpest."""
    height = levelled[:, 2] - plane.offset
    centre = np.median(levelled, axis=0)
    core = np.linalg.norm(levelled - centre, axis=1) <= CORE_FACTOR * plane.size
    index = np.flatnonzero(core & (height > 3 * plane.tolerance))
    if index.size < 100:
        return None
    if index.size > max_points:
        index = np.sort(rng.choice(index, max_points, replace=False))
    xy = levelled[index, :2] - centre[:2]
    w = weights[index]
    reach = float(np.abs(xy).max()) * 1.5 + 2.0 * plane.tolerance

    def sharpness(angles, bin_size):
        c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
        bins = int(np.ceil(2 * reach / bin_size)) + 1
        total = np.zeros(angles.size)
        for coordinate in (xy[:, 0] * c - xy[:, 1] * s, xy[:, 0] * s + xy[:, 1] * c):  # (A, S) each
            # Linear (soft) binning keeps the sharpness continuous in the angle.
            position = (coordinate + reach) / bin_size
            lower = np.floor(position)
            frac = position - lower
            keys = lower.astype(np.int64) + bins * np.arange(angles.size)[:, None]
            hist = np.bincount(keys.ravel(), weights=(w * (1.0 - frac)).ravel(), minlength=bins * angles.size + 1)
            hist[1:] += np.bincount(keys.ravel(), weights=(w * frac).ravel(), minlength=bins * angles.size)
            total += (hist[: bins * angles.size].reshape(angles.size, bins) ** 2).sum(1)
        return total

    coarse = np.radians(np.arange(0.0, 90.0, 1.0))
    best = coarse[int(np.argmax(sharpness(coarse, 2.0 * plane.tolerance)))]
    fine = best + np.radians(np.arange(-1.0, 1.0001, 0.02))
    angle = float(fine[int(np.argmax(sharpness(fine, 0.5 * plane.tolerance)))])
    return float((angle + np.pi / 4) % (np.pi / 2) - np.pi / 4)


def _clean(scene, matrix, cfg, floor_lo, floor_hi) -> tuple[np.ndarray, AlignReport]:
    """Keep mask over the input Gaussians and the per-filter counts (world-frame tests)."""
    cloud = scene.gaussians
    positions = transform_points(cloud.positions, matrix).astype(np.float32)
    keep = np.isfinite(positions).all(1)
    counts: AlignReport = {"input_gaussians": len(cloud), "removed_invalid": int((~keep).sum())}
    if cfg.remove_sky:
        sky = keep & sky_mask(
            positions,
            floor_lo=floor_lo,
            floor_hi=floor_hi,
            margin=cfg.sky_margin,
            max_height=cfg.max_height,
            below_floor_margin=cfg.below_floor_margin,
        )
        keep &= ~sky
        counts["removed_sky"] = int(sky.sum())
    if cfg.remove_floaters:
        faint = keep & low_opacity_mask(cloud.opacities, min_opacity=cfg.min_opacity)
        keep &= ~faint
        remaining = np.flatnonzero(keep)
        lonely = isolated_mask(
            positions[remaining], radius=cfg.isolation_radius, min_neighbors=cfg.isolation_min_neighbors
        )
        keep[remaining[lonely]] = False
        counts["removed_low_opacity"] = int(faint.sum())
        counts["removed_isolated"] = int(lonely.sum())
    counts["filters"] = {"sky": bool(cfg.remove_sky), "floaters": bool(cfg.remove_floaters)}
    counts["kept"] = int(keep.sum())
    return np.asarray(keep), counts

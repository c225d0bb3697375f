"""The one module that orders the stages: input -> align -> surface -> collision -> navigation -> USD.

Each stage is imported where it runs, so ``import worldgen_sim`` stays light
and a build that turns a stage off never imports its heavy libraries.

World package written by :func:`build_world` (all paths relative to ``OUT``)::

    world.usda        root layer: default prim /World, Z-up, metres, kilograms;
                      sublayers the files below, strongest first
    navigation.usdc   /World/Navigation   walkable surface, NavMeshVolumes, spawn points
    collision.usdc    /World/Collision    colliders, physics materials, /World/PhysicsScene
    objects.usdc      /World/Collision/Objects/*/Visual, */Splats   each object's own faces and Gaussians
                                          (cut from the visual mesh by holeIndices, left out of splats)
    visual.usdc       /World/Visual       visual mesh with colours and a preview material
    splats.usdc       /World/Splats       UsdVol.ParticleField3DGaussianSplat
    world.json        provenance, transform, counts, timings, effective config
    navigation.json   agent, walkable regions, spawn points (+ navigation.npz grids)
    evidence.npz      observed points for `worldgen verify` (only without a splats layer)
    config.yaml       the effective configuration
    preview.png       top view + input view (only with viewer.preview / --preview)
    manifest.json     the files above (a rebuild replaces OUT only if it holds nothing else)
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from worldgen_sim.build_checks import check_aligned, check_layers, preflight
from worldgen_sim.config import WorldgenCfg, config_to_dict
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.reports import GenerateReport
from worldgen_sim.runtime import thread_limits
from worldgen_sim.staging import staged_output

log = logging.getLogger(__name__)

__all__ = ["FORMAT_VERSION", "BuildResult", "build_world"]

FORMAT_VERSION = "1.0"
"""Version of the world package layout and ``world.json`` schema."""


@dataclass(eq=False)
class BuildResult:
    """What :func:`build_world` made.

    Attributes:
        out_dir: the world package folder.
        world_usd: path of ``world.usda``.
        summary: the contents of ``world.json``.
    """

    out_dir: Path
    world_usd: Path
    summary: dict


def build_world(
    input_path: str | Path,
    out_dir: str | Path,
    *,
    cfg: WorldgenCfg | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Build a simulation-ready world package from a Gaussian PLY or an RGB-D folder.

    Args:
        input_path: a Gaussian PLY (INRIA 3DGS, Lyra 2.0 or Lyra 1.0 layout) or a
            folder of RGB-D frames (see ``worldgen_sim.io.rgbd_folder``).
        out_dir: the package folder to create or replace (only a previous world
            or an empty folder is ever replaced).
        cfg: the configuration; defaults when None.
        progress: progress reporter; silent when None.

    Returns:
        The package location and its ``world.json`` contents.

    Raises:
        WorldgenError: bad input, option or output path, or a missing optional
            package; nothing is written. Config values and packages are checked
            before any data is read.
    """
    cfg = cfg if cfg is not None else WorldgenCfg()
    progress = progress if progress is not None else Progress(quiet=True)
    input_path = Path(input_path)
    _preflight(input_path, cfg)
    preflight(input_path, out_dir, cfg=cfg)
    started = time.perf_counter()
    # Thread pools sized once for the whole build (runtime.num_threads), put back when it ends.
    with thread_limits(cfg.runtime.num_threads), staged_output(out_dir, inputs=[input_path]) as staging:
        summary = _run_stages(input_path, staging, cfg=cfg, progress=progress)
        summary["timings_s"] = dict(progress.timings, total=round(time.perf_counter() - started, 4))
        (staging / "world.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
        if cfg.viewer.preview:  # opt-in: a picture of what was built (worldgen_sim.viewer.views)
            from worldgen_sim.viewer.views import write_preview

            with progress.stage("preview"):
                write_preview(staging, width=cfg.viewer.preview_width, height=cfg.viewer.preview_height,
                              max_points=cfg.viewer.max_points)
    out_dir = Path(out_dir).absolute()
    log.info("wrote %s", out_dir / "world.usda")
    return BuildResult(out_dir=out_dir, world_usd=out_dir / "world.usda", summary=summary)


def _preflight(input_path: Path, cfg: WorldgenCfg) -> None:
    """Everything that can be checked before data is read: the config, the input path, the optional packages."""
    from worldgen_sim.extras import check_dependencies

    cfg.validate()
    if not input_path.exists():
        raise WorldgenError(f"input '{input_path}' does not exist; expected a Gaussian .ply file or an RGB-D folder")
    check_dependencies(cfg, input_path=input_path)


@dataclass(eq=False)
class _Build:
    """What the stages of one build have made so far: layers (strongest first), skip reasons, reports."""

    out: Path
    layers: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    reports: dict[str, Any] = field(default_factory=dict)
    # A generated scene (one picture or one RGB-D frame): its completed triangles in the world frame,
    # their kinds, the merged visual mesh's per-face labels, and world.json's ``generate`` section.
    generated: Any = None
    completion: Any = None
    face_labels: Any = None
    visual_mesh: Any = None
    object_prims: dict[str, list[str]] = field(default_factory=dict)
    generate_report: GenerateReport = field(default_factory=GenerateReport)


def _run_stages(input_path: Path, out: Path, *, cfg: WorldgenCfg, progress: Progress) -> dict:
    _register_physx_schemas(cfg)
    scene, aligned, generated, lyra_report = _load_and_align(input_path, cfg=cfg, progress=progress)
    build = _Build(out, reports={"align": aligned.report})
    _attach_generated(build, generated, lyra_report, aligned)
    mesh = _surface_stage(build, aligned, cfg=cfg, progress=progress)
    collision = _collision_stage(build, mesh, cfg=cfg, progress=progress)
    # After collision: each object's faces and Gaussians go to the object layer, not the fused ones.
    membership = _object_stage(build, mesh, collision, aligned, cfg=cfg, progress=progress)
    has_splats = _splat_stage(build, aligned, membership, cfg=cfg, progress=progress)
    navigation_agent = _navigation_stage(build, collision, cfg=cfg, progress=progress)
    check_layers(build.layers, source=input_path, skipped=build.skipped)
    _write_root(build, input_path, scene, has_splats=has_splats, has_visual=mesh is not None, cfg=cfg)
    return _summary(build, input_path, scene, aligned, navigation_agent=navigation_agent, cfg=cfg)


def _register_physx_schemas(cfg: WorldgenCfg) -> None:
    if cfg.collision.enabled:
        try:
            # PhysX schemas register with USD's schema registry only if imported before the
            # first stage is opened; afterwards PhysxSchema API schemas silently fail to apply.
            import physx_usd_schemas  # noqa: F401
        except ImportError:
            pass  # the physics exporter authors the PhysX attributes by name instead


def _load_and_align(input_path: Path, *, cfg: WorldgenCfg, progress: Progress):
    from worldgen_sim.align.align import align_scene
    from worldgen_sim.io.load import load_input

    generated, load_path, lyra_report = _generate(input_path, cfg=cfg, progress=progress)
    with progress.stage("load"):
        scene = generated.scene if generated is not None else load_input(load_path, cfg=cfg.input, progress=progress)
    if generated is None and scene.gaussians is None and scene.frames is not None and len(scene.frames) == 1:
        from worldgen_sim.generate.generate import complete_single_frame

        with progress.stage("generate"):  # one RGB-D frame: lifted and completed like a picture
            generated = complete_single_frame(scene, cfg=cfg.generate)
        scene = generated.scene
    with progress.stage("align"):
        aligned = align_scene(scene, cfg=cfg.align, progress=progress)
    check_aligned(aligned, cfg=cfg, source=input_path)
    return scene, aligned, generated, lyra_report


def _generate(input_path: Path, *, cfg: WorldgenCfg, progress: Progress):
    """The generate step before load: (generated scene or None, the path to load, Lyra's report or None)."""
    if cfg.generate.backend != "depth":
        from worldgen_sim.generate.lyra import run_lyra

        with progress.stage("generate"):
            ply, report = run_lyra(input_path, cfg=cfg.generate, camera_height=cfg.align.camera_height)
        return None, ply, report
    from worldgen_sim.generate.generate import generate_picture, is_picture

    if is_picture(input_path):
        with progress.stage("generate"):
            generated = generate_picture(
                input_path, cfg=cfg.generate, depth_scale=cfg.input.depth_scale, progress=progress,
                scale_known=cfg.align.camera_height is not None or cfg.align.scale is not None,
            )  # fmt: skip
        return generated, input_path, None
    if cfg.generate.depth_path or cfg.generate.depth not in ("auto", "given"):
        raise WorldgenError(f"--depth / --depth-model apply to a .jpg/.png picture; '{input_path}' is not one")
    return None, input_path, None


def _attach_generated(build: _Build, generated, lyra_report: GenerateReport | None, aligned) -> None:
    """Carry a generated scene's completed geometry (moved into the world) and report through the build."""
    if lyra_report is not None:
        build.generate_report = lyra_report
    if generated is None:
        return
    from worldgen_sim.generate.labels import transform_mesh

    build.generated = generated
    build.completion = transform_mesh(generated.completion, aligned.input_to_world)
    build.generate_report = generated.report


def _splat_stage(build: _Build, aligned, membership, *, cfg: WorldgenCfg, progress: Progress) -> bool:
    """Write the splat layer when asked for and there are Gaussians; whether it was written.

    Gaussians the object layer holds (``membership.splat_owner >= 0``) are left out of it.
    Without a splat layer, ``evidence.npz`` keeps what the input observed, for ``worldgen verify``.
    """
    if not (cfg.usd.splats and aligned.gaussians is not None and len(aligned.gaussians) > 0):
        from worldgen_sim.evidence import write_world_evidence

        write_world_evidence(build.out, aligned)
        return False
    from worldgen_sim.exporters.usd_splats import write_splat_layer

    with progress.stage("write splats"):
        name = f"splats.{cfg.usd.splat_format}"
        background = aligned.gaussians
        if membership is not None and membership.splat_owner is not None:
            background = background.subset(membership.splat_owner < 0)
        write_splat_layer(build.out / name, background, half_precision=cfg.usd.half_precision)
        build.layers.append(name)
    return True


def _skipped(build: _Build, stage: str, *, enabled: bool, missing: bool = False, needs: str = "") -> bool:
    """Whether ``stage`` does not run (turned off, or what it ``needs`` is ``missing``); the reason goes
    to ``world.json``'s ``skipped``."""
    if not enabled:
        build.skipped[stage] = f"turned off ({stage}.enabled = false)"
    elif missing:
        build.skipped[stage] = f"needs {needs}"
    return stage in build.skipped


def _object_stage(build: _Build, mesh, collision, aligned, *, cfg: WorldgenCfg, progress: Progress):
    """The object layer (each object's own visual mesh and splats); the membership, or None without objects."""
    if mesh is None or collision is None or not any(o.hulls for o in collision.objects):
        return None
    from worldgen_sim.exporters.usd_objects import object_membership, write_object_layer
    from worldgen_sim.exporters.usd_visual import MATERIAL_PRIM

    splats = cfg.usd.splats and aligned.gaussians is not None and len(aligned.gaussians) > 0
    cloud = aligned.gaussians if splats else None
    with progress.stage("write objects"):
        membership = object_membership(mesh, collision, cloud)
        if cloud is not None and membership.splat_owner is not None and membership.splat_owner.min() >= 0:
            membership.splat_owner[:] = -1  # every Gaussian on an object: keep the splat layer whole
        build.object_prims = write_object_layer(build.out / "objects.usdc", mesh, membership,
                                                visual_material=MATERIAL_PRIM, cloud=cloud,
                                                half_precision=cfg.usd.half_precision)
    build.layers.insert(1, "objects.usdc")  # right after collision.usdc, stronger than visual.usdc
    return membership


def _surface_stage(build: _Build, aligned, *, cfg: WorldgenCfg, progress: Progress):
    """The visual mesh and its layer, or None when the stage is off."""
    if _skipped(build, "surface", enabled=cfg.surface.enabled):
        return None
    from worldgen_sim.exporters.usd_visual import write_visual_layer
    from worldgen_sim.surface.surface import extract_surface

    # A generated scene's surface is its measured/estimated depth frame, fused directly.
    surface_input = replace(aligned, gaussians=None) if build.generated is not None else aligned
    with progress.stage("surface"):
        surface = extract_surface(surface_input, cfg=cfg.surface, progress=progress)
    build.reports["surface"] = surface.report
    mesh = surface.mesh
    if build.completion is not None:
        from worldgen_sim.generate.labels import label_visual_layer, merge_completion

        mesh, build.face_labels = merge_completion(mesh, build.completion, build.generated.completion_kinds)
        build.visual_mesh = mesh
    with progress.stage("write visual"):
        write_visual_layer(build.out / "visual.usdc", mesh)
        if build.completion is not None:
            label_visual_layer(build.out / "visual.usdc", build.face_labels)
    build.layers.insert(0, "visual.usdc")
    return mesh


def _collision_stage(build: _Build, mesh, *, cfg: WorldgenCfg, progress: Progress):
    """The collision world and its layer, or None when the stage is off or has no mesh."""
    if _skipped(build, "collision", enabled=cfg.collision.enabled, missing=mesh is None,
                needs="the visual mesh (surface stage is off)"):
        return None
    from worldgen_sim.collision.collision import build_collision
    from worldgen_sim.exporters.usd_physics import write_physics_layer

    with progress.stage("collision"):
        collision = build_collision(mesh, cfg=cfg.collision, progress=progress)
    build.reports["collision"] = collision.report
    with progress.stage("write collision"):
        write_physics_layer(build.out / "collision.usdc", collision, cfg=cfg.collision)
        if build.completion is not None:
            from worldgen_sim.generate.labels import label_collision_layer

            touched = label_collision_layer(build.out / "collision.usdc", build.completion)
            build.generate_report["colliders_on_completed"] = touched
    build.layers.insert(0, "collision.usdc")
    return collision


def _navigation_stage(build: _Build, collision, *, cfg: WorldgenCfg, progress: Progress):
    """The navigation layer and navigation.json; the agent used, or None when the stage is off."""
    if _skipped(build, "navigation", enabled=cfg.navigation.enabled, missing=collision is None,
                needs="colliders (collision stage is off or skipped)"):
        return None
    from worldgen_sim.exporters.usd_navigation import write_navigation_layer
    from worldgen_sim.navigation.navigation import build_navigation
    from worldgen_sim.navigation.navmap import write_navigation_json

    try:
        with progress.stage("navigation"):
            navigation = build_navigation(collision, cfg=cfg.navigation, progress=progress)
    except WorldgenError as exc:
        # Asked for and not built is a failed build, never a silently missing layer.
        raise WorldgenError(
            f"navigation stage failed: {exc}; build without it with --no-navigation (navigation.enabled: false)"
        ) from None
    if build.visual_mesh is not None and not cfg.generate.spawn_on_completed:
        from worldgen_sim.generate.labels import spawn_points_to_drop

        drop = spawn_points_to_drop(navigation.spawn_points, build.visual_mesh, build.face_labels)
        navigation.spawn_points = navigation.spawn_points[~drop]
        build.generate_report["spawn_points_removed_on_completed"] = int(np.count_nonzero(drop))
    build.reports["navigation"] = navigation.report
    with progress.stage("write navigation"):
        write_navigation_layer(build.out / "navigation.usdc", navigation)
        write_navigation_json(build.out / "navigation.json", navigation)
    build.layers.insert(0, "navigation.usdc")
    return navigation.agent


def _write_root(build: _Build, input_path: Path, scene, *, has_splats: bool, has_visual: bool,
                cfg: WorldgenCfg) -> None:
    """world.usda over the stage layers, and the effective config.yaml."""
    from worldgen_sim.exporters.usd_world import write_world_layer

    write_world_layer(
        build.out / "world.usda",
        sublayers=build.layers,
        has_splats=has_splats,
        has_visual=has_visual,
        object_visuals=build.object_prims.get("visual", []),
        object_splats=build.object_prims.get("splats", []),
        doc=f"worldgen_sim world built from {input_path.name} (sha256 {scene.sha256[:16]}...)",
    )
    _write_yaml(build.out / "config.yaml", config_to_dict(cfg))


def _summary(build: _Build, input_path: Path, scene, aligned, *, navigation_agent, cfg: WorldgenCfg) -> dict:
    """The contents of world.json (the pipeline adds ``timings_s``)."""
    gaussians_in = len(scene.gaussians) if scene.gaussians is not None else 0
    return {
        "format_version": FORMAT_VERSION,
        "generator": "worldgen_sim",
        "input": {
            "path": str(input_path.absolute()),
            "sha256": scene.sha256,
            "layout": scene.layout,
            "gaussians": gaussians_in,
            "frames": len(scene.frames) if scene.frames is not None else 0,
            "dropped_nonfinite": scene.dropped_invalid,
        },
        "input_to_world": np.asarray(aligned.input_to_world, dtype=np.float64).tolist(),
        "scale": float(aligned.scale),
        "counts": {
            "gaussians_in": gaussians_in,
            "gaussians_kept": len(aligned.gaussians) if aligned.gaussians is not None else 0,
            "gaussians_added_ground": (aligned.report.get("add_ground") or {}).get("gaussians", 0),
            "removed": {
                "nonfinite": scene.dropped_invalid,
                **{k.removeprefix("removed_"): v for k, v in aligned.report.items() if k.startswith("removed_")},
            },
        },
        "layers": ["world.usda", *build.layers],
        "navigation_agent": navigation_agent,
        "skipped": build.skipped,
        "generate": _generate_summary(build, spawn_on_completed=cfg.generate.spawn_on_completed),
        "stages": build.reports,
        "config": config_to_dict(cfg),
    }


def _generate_summary(build: _Build, *, spawn_on_completed: bool) -> GenerateReport | None:
    """world.json's ``generate`` section: depth source, intrinsics and their sources, completed counts."""
    generated = build.generated
    if generated is None:
        return build.generate_report or None
    kinds = generated.completion_kinds
    summary = build.generate_report.copy()
    summary["completed"] = {
        "faces": int(kinds.shape[0]),
        "faces_by_kind": {name: int(np.count_nonzero(kinds == int(code)))
                          for code, name in generated.report["completed_kinds"].items()},
        "gaussians": generated.completed_gaussians,
        "walkable": True,
        "spawn_points_allowed": spawn_on_completed,
    }
    return summary


def _write_yaml(path: Path, data: dict) -> None:
    import yaml

    path.write_text("# Effective worldgen_sim configuration of this build.\n" + yaml.safe_dump(data, sort_keys=False))


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")

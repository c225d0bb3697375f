"""The one module that orders the stages: input -> align -> surface -> collision -> navigation -> USD.

Each stage is imported where it runs, so ``import worldgen_sim`` stays light
and a build that turns a stage off never imports its heavy libraries.

World package written by :func:`build_world` (all paths relative to ``OUT``)::

    world.usda        root layer: default prim /World, Z-up, metres, kilograms;
                      sublayers the files below, strongest first
    navigation.usdc   /World/Navigation   walkable surface, NavMeshVolumes, spawn points
    collision.usdc    /World/Collision    colliders, physics materials, /World/PhysicsScene
    visual.usdc       /World/Visual       visual mesh with colours and a preview material
    splats.usdc       /World/Splats       UsdVol.ParticleField3DGaussianSplat
    world.json        provenance, transform, counts, timings, effective config
    navigation.json   agent, walkable regions, spawn points (+ navigation.npz grids)
    config.yaml       the effective configuration
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from worldgen_sim.config import WorldgenCfg, config_to_dict
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
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
    started = time.perf_counter()
    with staged_output(out_dir) as staging:
        summary = _run_stages(input_path, staging, cfg=cfg, progress=progress)
        summary["timings_s"] = dict(progress.timings, total=round(time.perf_counter() - started, 4))
        (staging / "world.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
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


def _run_stages(input_path: Path, out: Path, *, cfg: WorldgenCfg, progress: Progress) -> dict:
    if cfg.collision.enabled:
        try:
            # PhysX schemas register with USD's schema registry only if imported before the
            # first stage is opened; afterwards PhysxSchema API schemas silently fail to apply.
            import physx_usd_schemas  # noqa: F401
        except ImportError:
            pass  # the physics exporter authors the PhysX attributes by name instead
    from worldgen_sim.align.align import align_scene
    from worldgen_sim.io.load import load_input

    generated, load_path, lyra_report = None, input_path, None
    if cfg.generate.backend != "depth":
        from worldgen_sim.generate.lyra import run_lyra

        with progress.stage("generate"):
            load_path, lyra_report = run_lyra(input_path, cfg=cfg.generate, camera_height=cfg.align.camera_height,
                                              progress=progress)  # fmt: skip
    elif _is_picture(input_path):
        from worldgen_sim.generate.generate import generate_picture

        with progress.stage("generate"):
            generated = generate_picture(
                input_path, cfg=cfg.generate, depth_scale=cfg.input.depth_scale, progress=progress,
                scale_known=cfg.align.camera_height is not None or cfg.align.scale is not None,
            )  # fmt: skip
    elif cfg.generate.depth_path or cfg.generate.depth not in ("auto", "given"):
        raise WorldgenError(f"--depth / --depth-model apply to a .jpg/.png picture; '{input_path}' is not one")
    with progress.stage("load"):
        scene = generated.scene if generated is not None else load_input(load_path, cfg=cfg.input, progress=progress)
    if generated is None and scene.gaussians is None and scene.frames is not None and len(scene.frames) == 1:
        from worldgen_sim.generate.generate import complete_single_frame

        with progress.stage("generate"):  # one RGB-D frame: lifted and completed like a picture
            generated = complete_single_frame(scene, cfg=cfg.generate)
        scene = generated.scene
    with progress.stage("align"):
        aligned = align_scene(scene, cfg=cfg.align, progress=progress)
    completion, completion_kinds, generate_report = None, np.zeros(0, np.int8), {}
    if generated is not None:
        from worldgen_sim.generate.labels import transform_mesh

        completion = transform_mesh(generated.completion, aligned.input_to_world)
        completion_kinds, generate_report = generated.completion_kinds, generated.report
    face_labels = np.zeros(0, np.int8)

    layers: list[str] = []
    skipped: dict[str, str] = {}
    reports: dict[str, Any] = {"align": aligned.report}

    has_splats = cfg.usd.splats and aligned.gaussians is not None and len(aligned.gaussians) > 0
    if has_splats:
        from worldgen_sim.exporters.usd_splats import write_splat_layer

        with progress.stage("write splats"):
            name = f"splats.{cfg.usd.splat_format}"
            write_splat_layer(out / name, aligned.gaussians, half_precision=cfg.usd.half_precision)
            layers.append(name)

    mesh = None
    if cfg.surface.enabled:
        from worldgen_sim.exporters.usd_visual import write_visual_layer
        from worldgen_sim.surface.surface import extract_surface

        # A generated scene's surface is its measured/estimated depth frame, fused directly.
        surface_input = replace(aligned, gaussians=None) if generated is not None else aligned
        with progress.stage("surface"):
            surface = extract_surface(surface_input, cfg=cfg.surface, progress=progress)
        mesh = surface.mesh
        reports["surface"] = surface.report
        if completion is not None:
            from worldgen_sim.generate.labels import label_visual_layer, merge_completion

            mesh, face_labels = merge_completion(mesh, completion, completion_kinds)
        with progress.stage("write visual"):
            write_visual_layer(out / "visual.usdc", mesh)
            if completion is not None:
                label_visual_layer(out / "visual.usdc", face_labels)
        layers.insert(0, "visual.usdc")
    else:
        skipped["surface"] = "turned off (surface.enabled = false)"

    collision = None
    if not cfg.collision.enabled:
        skipped["collision"] = "turned off (collision.enabled = false)"
    elif mesh is None:
        skipped["collision"] = "needs the visual mesh (surface stage is off)"
    else:
        from worldgen_sim.collision.collision import build_collision
        from worldgen_sim.exporters.usd_physics import write_physics_layer

        with progress.stage("collision"):
            collision = build_collision(mesh, cfg=cfg.collision, progress=progress)
        reports["collision"] = collision.report
        with progress.stage("write collision"):
            write_physics_layer(out / "collision.usdc", collision, cfg=cfg.collision)
            if completion is not None:
                from worldgen_sim.generate.labels import label_collision_layer

                generate_report["colliders_on_completed"] = label_collision_layer(out / "collision.usdc", completion)
        layers.insert(0, "collision.usdc")

    navigation_agent = None
    if not cfg.navigation.enabled:
        skipped["navigation"] = "turned off (navigation.enabled = false)"
    elif collision is None:
        skipped["navigation"] = "needs colliders (collision stage is off or skipped)"
    else:
        from worldgen_sim.exporters.usd_navigation import write_navigation_layer
        from worldgen_sim.navigation.navigation import build_navigation
        from worldgen_sim.navigation.navmap import write_navigation_json

        try:
            with progress.stage("navigation"):
                navigation = build_navigation(collision, cfg=cfg.navigation, progress=progress)
        except WorldgenError as exc:
            # A world without places to walk is still a valid world: keep it, say why.
            skipped["navigation"] = str(exc)
            log.warning("navigation layer left out: %s", exc)
        else:
            navigation_agent = navigation.agent
            if completion is not None and mesh is not None and not cfg.generate.spawn_on_completed:
                from worldgen_sim.generate.labels import spawn_points_to_drop

                drop = spawn_points_to_drop(navigation.spawn_points, mesh, face_labels)
                navigation.spawn_points = navigation.spawn_points[~drop]
                generate_report["spawn_points_removed_on_completed"] = int(np.count_nonzero(drop))
            reports["navigation"] = navigation.report
            with progress.stage("write navigation"):
                write_navigation_layer(out / "navigation.usdc", navigation)
                write_navigation_json(out / "navigation.json", navigation)
            layers.insert(0, "navigation.usdc")

    from worldgen_sim.exporters.usd_world import write_world_layer

    write_world_layer(
        out / "world.usda",
        sublayers=layers,
        has_splats=has_splats,
        has_visual=mesh is not None,
        doc=f"worldgen_sim world built from {input_path.name} (sha256 {scene.sha256[:16]}...)",
    )
    effective = config_to_dict(cfg)
    _write_yaml(out / "config.yaml", effective)
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
            "removed": {
                "nonfinite": scene.dropped_invalid,
                **{k.removeprefix("removed_"): v for k, v in aligned.report.items() if k.startswith("removed_")},
            },
        },
        "layers": ["world.usda", *layers],
        "navigation_agent": navigation_agent,
        "skipped": skipped,
        "generate": _generate_summary(generated, lyra_report, spawn_on_completed=cfg.generate.spawn_on_completed),
        "stages": reports,
        "config": effective,
    }


def _is_picture(path: Path) -> bool:
    from worldgen_sim.generate.generate import is_picture

    return is_picture(path)


def _generate_summary(generated, lyra_report: dict | None, *, spawn_on_completed: bool) -> dict | None:
    """world.json's ``generate`` section: depth source, intrinsics and their sources, completed counts."""
    if lyra_report is not None:
        return lyra_report
    if generated is None:
        return None
    kinds = generated.completion_kinds
    return {
        **generated.report,
        "completed": {
            "faces": int(kinds.shape[0]),
            "faces_by_kind": {name: int(np.count_nonzero(kinds == int(code)))
                              for code, name in generated.report["completed_kinds"].items()},
            "gaussians": generated.completed_gaussians,
            "walkable": True,
            "spawn_points_allowed": spawn_on_completed,
        },
    }


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

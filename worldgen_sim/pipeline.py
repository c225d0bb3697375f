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
    evidence.npz      observed points for `worldgen verify` (only without a splats layer)
    config.yaml       the effective configuration
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen_sim.config import WorldgenCfg, config_to_dict
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.staging import staged_output

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
        WorldgenError: bad input, option or output path; nothing is written.
    """
    cfg = cfg if cfg is not None else WorldgenCfg()
    progress = progress if progress is not None else Progress(quiet=True)
    input_path = Path(input_path)
    if not input_path.exists():
        raise WorldgenError(f"input '{input_path}' does not exist; expected a Gaussian .ply file or an RGB-D folder")
    started = time.perf_counter()
    with staged_output(out_dir) as staging:
        summary = _run_stages(input_path, staging, cfg=cfg, progress=progress)
        summary["timings_s"] = dict(progress.timings, total=round(time.perf_counter() - started, 4))
        (staging / "world.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    out_dir = Path(out_dir).absolute()
    progress.log(f"[worldgen] wrote {out_dir / 'world.usda'}")
    return BuildResult(out_dir=out_dir, world_usd=out_dir / "world.usda", summary=summary)


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

    with progress.stage("load"):
        scene = load_input(input_path, cfg=cfg.input, progress=progress)
    with progress.stage("align"):
        aligned = align_scene(scene, cfg=cfg.align, progress=progress)

    layers: list[str] = []
    skipped: dict[str, str] = {}
    reports: dict[str, dict] = {"align": aligned.report}

    has_splats = cfg.usd.splats and aligned.gaussians is not None and len(aligned.gaussians) > 0
    if has_splats:
        from worldgen_sim.exporters.usd_splats import write_splat_layer

        with progress.stage("write splats"):
            name = f"splats.{cfg.usd.splat_format}"
            write_splat_layer(out / name, aligned.gaussians, half_precision=cfg.usd.half_precision)
            layers.append(name)

    if not has_splats:
        from worldgen_sim.evidence import write_world_evidence

        write_world_evidence(out, aligned)  # no splats layer holds what the input observed: keep it for verify

    mesh = None
    if cfg.surface.enabled:
        from worldgen_sim.exporters.usd_visual import write_visual_layer
        from worldgen_sim.surface.surface import extract_surface

        with progress.stage("surface"):
            surface = extract_surface(aligned, cfg=cfg.surface, progress=progress)
        mesh = surface.mesh
        reports["surface"] = surface.report
        with progress.stage("write visual"):
            write_visual_layer(out / "visual.usdc", mesh)
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
            progress.log(f"[worldgen] navigation layer left out: {exc}")
        else:
            navigation_agent = navigation.agent
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
            "gaussians_added_ground": (aligned.report.get("add_ground") or {}).get("gaussians", 0),
            "removed": {
                "nonfinite": scene.dropped_invalid,
                **{k.removeprefix("removed_"): v for k, v in aligned.report.items() if k.startswith("removed_")},
            },
        },
        "layers": ["world.usda", *layers],
        "navigation_agent": navigation_agent,
        "skipped": skipped,
        "stages": reports,
        "config": effective,
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

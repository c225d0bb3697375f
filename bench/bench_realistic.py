"""Realistic scenes (worldgen_sim.scenes) through ``build_world``: per-scene quality metrics and build time.

For each scene: write it as a PLY in its layout, build it with the default
configuration (plus the camera height a Lyra user passes), and score the world
against the scene's analytic ground truth (worldgen_sim.scenes.metrics):
walkable IoU for the built agent (judged where the ground was observed),
phantom collision (share of free space inside solid colliders; stray
triangle-collider area in free space), probes resting within 3 cm of the true
ground (Newton), visual mesh F@2cm/F@5cm, collision fallbacks (crash ones
apart). The build time is printed next to the time of reading the same PLY,
measured in the same run (reference), and the issue's targets are printed with
each metric.

``--seeds`` and ``--variants`` sweep held-out inputs: every scene is built for
each seed (surfel sampling, noise, floaters and vegetation layout change with
it) and each variant of how the PLY is written, ``key=value[,key=value]``:
``layout`` (inria, lyra1, lyra2), ``frame`` (opencv, y, z), ``scale`` (input
units per metre), ``yaw`` (the world turned about its up axis before writing
[deg]), ``noise`` (surfel position noise sigma [m]) and ``cameras`` (0/1: write
``cameras.npz``), ``density`` (Gaussian count factor of the plaza: 7 gives about 1 M) and
``hint`` (``auto`` or ``none``, below). The camera height is passed whenever the written layout is
not INRIA, as a Lyra user would. The plaza (a capture in an arbitrary structure-from-motion frame
and scale) is written as an INRIA model folder (``cameras=0``: without ``cameras.json``); its user
gives the first camera's height when the camera file is there and the true scale when not
(``hint=none``: neither). Each row also records its seconds of scoring, the up the build chose, its
tilt error against the truth [deg] and the process's peak resident memory so far [GB].

Variants may also change the scene's GEOMETRY (held-out scenes "of these kinds"):
``geometry`` (terrain, floaters: ``layout_seed``, other waves and object places /
another furniture layout), ``riser``, ``height`` (platform), ``ramp`` [deg],
``tread`` (stairs) and ``floaters`` (fraction of floater Gaussians). A scene
that takes none of a variant's geometry keys is left out of that variant.
``--paths`` adds the stairs' path queries (ground to platform) per agent preset,
built navigation against the truth's.

``--speed`` times the builds instead (no metrics), against the previous surface
depth source in the same run: each scene is built once to warm up (imports, warp's
kernel load), then with the torch z-buffer (the reference, ``kernel="torch"``) and
with the default (the compiled warp z-buffer), alternating ``--repeat`` times
(``--threads``: torch's CPU threads in every build). Printed
per scene: wall and CPU seconds (this process plus its collision workers) of the
whole build, each stage's wall seconds, and reference / current ratios. The issue's
target is a 15k-Gaussian vegetation tile in <= 30 s on 2 cores.

Usage::

    python bench/bench_realistic.py [--scenes terrain stairs ...] [--probes 40] [--out DIR]
    python bench/bench_realistic.py --seeds 1 2 --variants default frame=y,yaw=30 layout=inria,frame=z
    python bench/bench_realistic.py --speed [--scenes vegetation] [--repeat 1] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS = "IoU >= 0.90 (terrain, floaters); phantom <= 1 %; probes >= 95 %; F@5 >= 0.90, F@2 >= 0.75; no crashes"


VARIANT_KEYS = {"layout": str, "frame": str, "scale": float, "yaw": float, "noise": float, "cameras": int,
                "density": float, "hint": str, "geometry": int, "riser": float, "height": float, "ramp": float,
                "tread": float, "floaters": float}
"""What a ``--variants`` entry may set, and the type of its value."""
GEOMETRY_KEYS = {
    "terrain": {"geometry": "layout_seed"},
    "floaters": {"geometry": "layout_seed", "floaters": "floater_fraction"},
    "stairs": {"riser": "riser", "height": "platform_height", "ramp": "ramp_deg", "tread": "tread"},
}
"""Per scene, the variant keys that change its geometry and the ``make_*`` option each sets."""
_GEOMETRY = {key for keys in GEOMETRY_KEYS.values() for key in keys}


def takes_variant(name: str, variant: dict) -> bool:
    """True when every geometry key of ``variant`` applies to scene ``name``."""
    return all(key in GEOMETRY_KEYS.get(name, {}) for key in variant if key in _GEOMETRY)


def parse_variant(text: str) -> dict:
    """``"frame=y,yaw=30"`` -> ``{"frame": "y", "yaw": 30.0}``; ``"default"`` -> ``{}``."""
    if text == "default":
        return {}
    variant = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key not in VARIANT_KEYS or not value:
            raise SystemExit(f"--variants: '{item}' is not key=value with key in {', '.join(VARIANT_KEYS)}")
        variant[key] = VARIANT_KEYS[key](value)
    return variant


def make_variant_scene(name: str, *, seed: int, variant: dict):
    """The scene for ``seed`` with the variant's geometry options and density, remade with its position noise
    and floater share when it sets them."""
    import dataclasses

    from worldgen_sim.scenes import make_scene

    keys = GEOMETRY_KEYS.get(name, {})
    options = {keys[k]: v for k, v in variant.items() if k in keys and keys[k] != "floater_fraction"}
    if "density" in variant:
        options["density"] = variant["density"]
    scene = make_scene(name, seed=seed, **options)
    changes = {"position_noise": variant["noise"]} if "noise" in variant else {}
    if "floaters" in variant:
        changes["floater_fraction"] = variant["floaters"]
    if changes:
        scene = make_scene(name, seed=seed, defects=dataclasses.replace(scene.defects, **changes), **options)
    return scene


def write_scene(scene, folder: Path, options: dict) -> tuple[Path, np.ndarray]:
    """Write the scene as its variant says; the PLY to build and the true input-to-world similarity."""
    if scene.frame == "colmap" and not {"layout", "frame", "yaw"} & set(options):
        cameras = bool(options.get("cameras", 1))
        true_input_to_world = scene.write_inria_model(folder / "model", cameras=cameras)
        return folder / "model" / "point_cloud" / "iteration_30000" / "point_cloud.ply", true_input_to_world
    ply = folder / f"{scene.name}.ply"
    true_input_to_world = scene.write(
        ply, layout=options.get("layout"), frame=options.get("frame"), scale=options.get("scale"),
        yaw_deg=options.get("yaw", 0.0), cameras=bool(options["cameras"]) if "cameras" in options else None,
    )
    return ply, true_input_to_world


def user_hints(scene, cfg, options: dict) -> None:
    """What a user passes for the scale: the camera height for Lyra layouts; for a capture in an
    arbitrary frame the first camera's height (with a camera file) or the true scale (without)."""
    if options.get("hint", "auto") == "none":
        return
    if options.get("layout", scene.layout) != "inria":
        cfg.align.camera_height = scene.camera_height
    elif scene.frame == "colmap" and "scale" not in options:
        if options.get("cameras", 1):
            cfg.align.camera_height = scene.camera_height
        else:
            cfg.align.scale = 1.0 / scene.input_scale


def stairs_paths(world_usd: Path, scene, to_truth: np.ndarray) -> dict:
    """Per agent preset, the stairs scene's path queries in the built world's navigation for that preset and
    in the truth's walkable cells: ``{preset: {"reach": (built, truth), "up_m": (built, truth)}}``, whether a
    path joins the floor and the platform, and the length of the way up from the stairs' foot [m] (None when
    there is none; a built way much longer than the truth's went round by the ramp: the stairs are cut)."""
    from scipy import ndimage

    from worldgen_sim.navigation.navigation_cfg import AGENT_PRESETS
    from worldgen_sim.navigation.navmap import NavigationMap
    from worldgen_sim.scenes import metrics
    from worldgen_sim.scenes.stairs import GROUND_POINT, PLATFORM_POINT, STAIRS_FOOT
    from worldgen_sim.scenes.truth import walkable_truth

    def length(path, to_metres: np.ndarray) -> float | None:
        if path is None:
            return None
        xyz = path.astype(np.float64) @ to_metres[:3, :3].T
        return round(float(np.linalg.norm(np.diff(xyz[:, :2], axis=0), axis=1).sum()), 2)

    colliders = metrics.load_colliders(world_usd)
    to_built = np.linalg.inv(to_truth)
    ground, platform, foot = [(to_built[:3, :3] @ [*xy, scene.ground_height(np.array([xy]))[0]] + to_built[:3, 3])[:2]
                              for xy in (GROUND_POINT, PLATFORM_POINT, STAIRS_FOOT)]
    result = {}
    for preset in ("humanoid", "quadruped", "wheeled"):
        nav = metrics.navigation_for(colliders, preset=preset)
        truth = walkable_truth(scene, AGENT_PRESETS[preset])
        regions, _ = ndimage.label(truth.walkable)
        true_nav = NavigationMap(origin=truth.origin, cell_size=truth.cell_size, walkable=truth.walkable,
                                 heights=np.nan_to_num(truth.heights).astype(np.float32), regions=regions - 1,
                                 agent=AGENT_PRESETS[preset])
        result[preset] = {
            "reach": (nav.shortest_path(ground, platform) is not None,
                      true_nav.shortest_path(GROUND_POINT, PLATFORM_POINT) is not None),
            "up_m": (length(nav.shortest_path(foot, platform), to_truth),
                     length(true_nav.shortest_path(STAIRS_FOOT, PLATFORM_POINT), np.eye(4))),
        }
    return result


def measure(name: str, folder: Path, *, probes: int, seed: int = 0, variant: str = "default",
            paths: bool = False) -> dict:
    """Build one scene (``seed``, written as ``variant`` says) and score it; returns the row of the table."""
    from worldgen_sim.config import WorldgenCfg
    from worldgen_sim.errors import WorldgenError
    from worldgen_sim.io.gaussian_ply import read_gaussian_ply
    from worldgen_sim.navigation.navmap import NavigationMap
    from worldgen_sim.pipeline import build_world
    from worldgen_sim.scenes import metrics
    from worldgen_sim.scenes.truth import free_space_points, walkable_truth

    options = parse_variant(variant)
    scene = make_variant_scene(name, seed=seed, variant=options)
    ply, true_input_to_world = write_scene(scene, folder, options)
    started = time.perf_counter()
    read_gaussian_ply(ply)
    row = {"scene": name, "seed": seed, "variant": variant, "gaussians": len(scene.gaussians),
           "read_s": time.perf_counter() - started}
    cfg = WorldgenCfg()
    user_hints(scene, cfg, options)
    cfg.collision.cache_dir = str(folder / "coacd-cache")
    started = time.perf_counter()
    try:
        result = build_world(ply, folder / "world", cfg=cfg)
    except WorldgenError as exc:
        row.update(build_s=time.perf_counter() - started, error=str(exc))
        return row
    row["build_s"] = time.perf_counter() - started
    row["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    scoring = time.perf_counter()
    row["stages_s"] = {k: v for k, v in result.summary["timings_s"].items() if ":" not in k}
    to_truth = metrics.built_to_truth(result.out_dir, true_input_to_world)
    row["scale_error"] = float(np.cbrt(abs(np.linalg.det(to_truth[:3, :3]))) - 1.0)
    up_truth = to_truth[:3, :3] @ np.array([0.0, 0.0, 1.0])
    row["tilt_deg"] = float(np.degrees(np.arccos(np.clip(up_truth[2] / np.linalg.norm(up_truth), -1.0, 1.0))))
    row["up"] = result.summary.get("stages", {}).get("align", {}).get("up_used")
    fallbacks = result.summary.get("stages", {}).get("collision", {}).get("fallbacks", [])
    row["fallbacks"], row["crash_fallbacks"] = len(fallbacks), len(metrics.crash_fallbacks(result.summary))
    free = free_space_points(scene, 100_000)
    row["phantom"] = metrics.phantom_collision(metrics.load_colliders(result.world_usd), scene, free, to_truth)
    surface = metrics.visual_mesh_score(result.world_usd, scene, to_truth)
    row["f2"], row["f5"] = surface.fscore[0.02], surface.fscore[0.05]
    nav_path = result.out_dir / "navigation.json"
    if scene.has_ground and nav_path.is_file():
        nav = NavigationMap.load(nav_path)
        truth = walkable_truth(scene, nav.agent, cell_size=nav.cell_size)
        row["iou"] = metrics.walkable_iou(nav, truth, to_truth)
        if probes:
            drop = metrics.drop_probes(result.world_usd, scene, truth, to_truth, count=probes)
            row["probes"] = drop.fraction
            row["probe_reasons"] = {r: drop.reasons.count(r) for r in sorted(set(drop.reasons))}
            row["probe_failures"] = [(r, round(float(e), 3), [round(float(v), 2) for v in start[:2]])
                                     for r, e, ok, start in zip(drop.reasons, drop.errors, drop.passed, drop.starts)
                                     if not ok]
    if paths and name == "stairs":
        row["paths"] = stairs_paths(result.world_usd, scene, to_truth)
    row["score_s"] = time.perf_counter() - scoring
    return row


@contextlib.contextmanager
def _zbuffer_kernel(kernel: str):
    """The surface stage z-buffers with ``kernel`` ("auto": the default, "torch": the reference) inside."""
    from worldgen_sim.surface import surface, zbuffer

    default = surface.zbuffer_depth_maps
    surface.zbuffer_depth_maps = functools.partial(zbuffer.zbuffer_depth_maps, kernel=kernel)
    try:
        yield
    finally:
        surface.zbuffer_depth_maps = default


def time_build(name: str, folder: Path, *, kernel: str, threads: int | None = None) -> dict:
    """Build one scene with the default config and the given z-buffer kernel; wall, CPU and stage seconds."""
    from worldgen_sim.config import WorldgenCfg
    from worldgen_sim.pipeline import build_world
    from worldgen_sim.scenes import make_scene

    scene = make_scene(name)
    ply = folder / f"{name}.ply"
    if not ply.is_file():
        scene.write(ply)
    cfg = WorldgenCfg()
    if scene.layout != "inria":
        cfg.align.camera_height = scene.camera_height
    run = len(list(folder.glob("world-*")))
    cfg.collision.cache_dir = str(folder / f"coacd-cache-{run}")  # every build decomposes anew
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, wall = time.process_time(), time.perf_counter()
    from worldgen_sim.runtime import torch_threads

    with _zbuffer_kernel(kernel), torch_threads(threads):
        result = build_world(ply, folder / f"world-{run}", cfg=cfg)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - cpu + (after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime)
    stages = {k: v for k, v in result.summary["timings_s"].items() if ":" not in k or k.startswith("surface:")}
    return {"scene": name, "gaussians": len(scene.gaussians), "kernel": kernel, "wall_s": wall, "cpu_s": cpu,
            "stages_s": stages}


def speed(names: list[str], root: Path, *, repeat: int, threads: int | None) -> None:
    """Time each scene's build against the reference z-buffer in the same run and print the ratios."""
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, torch threads "
          f"{threads or 'default'}; issue 8: vegetation <= 30 s")
    for name in names:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        warm = time_build(name, folder, kernel="auto", threads=threads)
        print(f"\n{name}: {warm['gaussians']:,} Gaussians; warm-up build {warm['wall_s']:.1f} s wall "
              f"(imports, warp kernel load)", flush=True)
        runs: dict[str, list[dict]] = {"torch": [], "auto": []}
        for _ in range(repeat):
            for kernel in runs:
                runs[kernel].append(time_build(name, folder, kernel=kernel, threads=threads))
        best = {kernel: min(rows, key=lambda r: r["wall_s"]) for kernel, rows in runs.items()}
        ref, cur = best["torch"], best["auto"]
        print(f"  {'':<22} {'reference':>10} {'current':>10} {'ratio':>7}")
        for label, key in (("build wall [s]", "wall_s"), ("build CPU [s]", "cpu_s")):
            print(f"  {label:<22} {ref[key]:10.2f} {cur[key]:10.2f} {ref[key] / cur[key]:6.1f}x")
        for stage, seconds in cur["stages_s"].items():
            before = ref["stages_s"].get(stage, float("nan"))
            print(f"  {stage:<22} {before:10.2f} {seconds:10.2f} {before / max(seconds, 1e-9):6.1f}x")


def _print(rows: list[dict]) -> None:
    print(f"\nrealistic scenes ({TARGETS})")
    print(f"{'scene':<11} {'seed':>4} {'variant':<22} {'gauss':>7} {'read s':>7} {'build s':>8} {'x read':>7} "
          f"{'IoU':>6} {'phantom':>8} {'stray':>7} {'probes':>7} {'F@2':>6} {'F@5':>6} {'fallb.':>6} {'crash':>6} "
          f"{'scale':>7} {'tilt':>5} {'up':<8} {'peak GB':>7}")
    for r in rows:
        head = f"{r['scene']:<11} {r['seed']:>4} {r['variant']:<22}"
        if "error" in r:
            print(f"{head} {r['gaussians']:>7} {r['read_s']:7.2f} {r['build_s']:8.1f}  error: {r['error']}")
            continue
        iou = f"{r['iou']['iou']:.3f}" if "iou" in r else "-"
        probes = f"{r['probes']:.3f}" if "probes" in r else "-"
        print(f"{head} {r['gaussians']:>7} {r['read_s']:7.2f} {r['build_s']:8.1f} "
              f"{r['build_s'] / r['read_s']:7.0f} {iou:>6} {100 * r['phantom']['fraction']:7.2f}% "
              f"{100 * r['phantom']['stray_fraction']:6.2f}% {probes:>7} {r['f2']:6.3f} {r['f5']:6.3f} "
              f"{r['fallbacks']:>6} {r['crash_fallbacks']:>6} {100 * r['scale_error']:+6.1f}% "
              f"{r['tilt_deg']:5.2f} {r['up']:<8} {r['peak_gb']:5.2f}")
    for r in rows:
        if "paths" in r:
            print(f"  stairs seed {r['seed']} {r['variant']}: floor -> platform path, built / truth (way up from "
                  "the stairs' foot [m]): " + ", ".join(
                      f"{p} {'yes' if q['reach'][0] else 'no'}/{'yes' if q['reach'][1] else 'no'} "
                      f"({q['up_m'][0]} / {q['up_m'][1]})" for p, q in r["paths"].items()))
    print("\nseconds per stage:")
    for r in rows:
        if "stages_s" in r:
            print(f"  {r['scene']} seed {r['seed']} {r['variant']}: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_s"].items()) + f"; scoring {r['score_s']:.1f}")


def main() -> None:
    from worldgen_sim.scenes import SCENE_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="+", choices=SCENE_NAMES, help="default: all (--speed: vegetation)")
    parser.add_argument("--probes", type=int, default=40, help="probes per scene (0: no drop test)")
    parser.add_argument("--out", type=Path, help="keep the worlds and a JSON of the rows here")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="scene seeds to build (held-out: 1 2 3)")
    parser.add_argument("--variants", nargs="+", default=["default"],
                        help="how each PLY is written: 'default' or key=value[,key=value] with keys "
                        + ", ".join(VARIANT_KEYS))
    parser.add_argument("--paths", action="store_true", help="stairs: path queries per agent preset (built / truth)")
    parser.add_argument("--speed", action="store_true", help="time builds against the torch z-buffer, no metrics")
    parser.add_argument("--repeat", type=int, default=1, help="--speed: builds of each kind (the fastest counts)")
    parser.add_argument("--threads", type=int, help="--speed: torch CPU threads in the builds (default: torch's); "
                        "1 keeps a busy machine's other load from stalling torch's parallel regions")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        if args.speed:
            speed(args.scenes or ["vegetation"], root, repeat=args.repeat, threads=args.threads)
            return
        for variant in args.variants:
            parse_variant(variant)  # a typo fails before the first build, not after an hour
        started = time.perf_counter()
        for seed in args.seeds:  # seeds outermost: an interrupted sweep has covered every scene once
            for k, variant in enumerate(args.variants):
                for name in args.scenes or SCENE_NAMES:
                    if not takes_variant(name, parse_variant(variant)):
                        continue
                    folder = root / f"{name}-{seed}-{k}"
                    folder.mkdir(parents=True, exist_ok=True)
                    rows.append(measure(name, folder, probes=args.probes, seed=seed, variant=variant, paths=args.paths))
                    print(json.dumps(rows[-1], default=float), flush=True)
                    if args.out:  # what is measured so far survives an interrupted sweep
                        (args.out / "bench_realistic.json").write_text(json.dumps(rows, indent=2, default=float))
        print(f"sweep: {len(rows)} builds in {time.perf_counter() - started:.0f} s "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    _print(rows)


if __name__ == "__main__":
    main()

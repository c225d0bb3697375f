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

Usage::

    python bench/bench_realistic.py [--scenes terrain stairs ...] [--probes 40] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS = "IoU >= 0.90 (terrain, floaters); phantom <= 1 %; probes >= 95 %; F@5 >= 0.90, F@2 >= 0.75; no crashes"


def measure(name: str, folder: Path, *, probes: int) -> dict:
    """Build one scene and score it; returns the row of the table."""
    from worldgen_sim.config import WorldgenCfg
    from worldgen_sim.errors import WorldgenError
    from worldgen_sim.io.gaussian_ply import read_gaussian_ply
    from worldgen_sim.navigation.navmap import NavigationMap
    from worldgen_sim.pipeline import build_world
    from worldgen_sim.scenes import make_scene, metrics
    from worldgen_sim.scenes.truth import free_space_points, walkable_truth

    scene = make_scene(name)
    ply = folder / f"{name}.ply"
    true_input_to_world = scene.write(ply)
    started = time.perf_counter()
    read_gaussian_ply(ply)
    row = {"scene": name, "gaussians": len(scene.gaussians), "read_s": time.perf_counter() - started}
    cfg = WorldgenCfg()
    if scene.layout != "inria":
        cfg.align.camera_height = scene.camera_height
    cfg.collision.cache_dir = str(folder / "coacd-cache")
    started = time.perf_counter()
    try:
        result = build_world(ply, folder / "world", cfg=cfg)
    except WorldgenError as exc:
        row.update(build_s=time.perf_counter() - started, error=str(exc))
        return row
    row["build_s"] = time.perf_counter() - started
    row["stages_s"] = {k: v for k, v in result.summary["timings_s"].items() if ":" not in k}
    to_truth = metrics.built_to_truth(result.out_dir, true_input_to_world)
    row["scale_error"] = float(np.cbrt(abs(np.linalg.det(to_truth[:3, :3]))) - 1.0)
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
    return row


def _print(rows: list[dict]) -> None:
    print(f"\nrealistic scenes ({TARGETS})")
    print(f"{'scene':<11} {'gauss':>7} {'read s':>7} {'build s':>8} {'x read':>7} {'IoU':>6} {'phantom':>8} "
          f"{'stray':>7} {'probes':>7} {'F@2':>6} {'F@5':>6} {'fallb.':>6} {'crash':>6} {'scale':>7}")
    for r in rows:
        if "error" in r:
            print(f"{r['scene']:<11} {r['gaussians']:>7} {r['read_s']:7.2f} {r['build_s']:8.1f}  error: {r['error']}")
            continue
        iou = f"{r['iou']['iou']:.3f}" if "iou" in r else "-"
        probes = f"{r['probes']:.3f}" if "probes" in r else "-"
        print(f"{r['scene']:<11} {r['gaussians']:>7} {r['read_s']:7.2f} {r['build_s']:8.1f} "
              f"{r['build_s'] / r['read_s']:7.0f} {iou:>6} {100 * r['phantom']['fraction']:7.2f}% "
              f"{100 * r['phantom']['stray_fraction']:6.2f}% {probes:>7} {r['f2']:6.3f} {r['f5']:6.3f} "
              f"{r['fallbacks']:>6} {r['crash_fallbacks']:>6} {100 * r['scale_error']:+6.1f}%")
    print("\nseconds per stage:")
    for r in rows:
        if "stages_s" in r:
            print(f"  {r['scene']}: " + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_s"].items()))


def main() -> None:
    from worldgen_sim.scenes import SCENE_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="+", default=list(SCENE_NAMES), choices=SCENE_NAMES)
    parser.add_argument("--probes", type=int, default=40, help="probes per scene (0: no drop test)")
    parser.add_argument("--out", type=Path, help="keep the worlds and a JSON of the rows here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = args.out or Path(scratch)
        for name in args.scenes:
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            rows.append(measure(name, folder, probes=args.probes))
            print(json.dumps(rows[-1], default=float), flush=True)
        if args.out:
            (args.out / "bench_realistic.json").write_text(json.dumps(rows, indent=2, default=float))
    _print(rows)


if __name__ == "__main__":
    main()

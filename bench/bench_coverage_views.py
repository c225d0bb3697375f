"""Benchmark the surface stage's coverage views: its time on this checkout against another checkout (main), and
what the views add, on the terrain (12 input cameras) and the furnished sample room (automatic views).

Each variant runs in its own process (``sys.path`` pointing at its checkout), one untimed warm-up then the
timed stage, alternated ``--repeats`` times (the median is printed), so the ratio holds on a loaded machine.
"This checkout" also runs with ``surface.coverage_views = 0``: the planned views alone (main's without its
top views) plus the unseen count. Printed
per variant: views fused, seconds, the unseen fraction before/after (this checkout) and the fraction of a
truth with a mesh vertex within 3 cm: on the terrain the true ground of the 10 m tile, in the sample room a
2 cm grid over the tops above the eye heights (the 1.8 m cabinet; main's top views, this checkout's coverage
views).

    python bench/bench_coverage_views.py --main /work/main [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]


def _scene(name: str):
    """(AlignedScene, (P, 3) truth points the mesh should hold) in the world frame."""
    from worldgen_sim.artifacts import AlignedScene

    if name == "terrain":
        from worldgen_sim.scenes import make_scene

        scene = make_scene("terrain")
        rng = np.random.default_rng(0)
        xy = rng.uniform(-5.0, 5.0, (20000, 2))
        height = scene.ground_height(xy) if scene.ground_height is not None else np.full(len(xy), np.nan)
        ground = np.column_stack([xy, height])[np.isfinite(height)]
        return AlignedScene(np.eye(4), 1.0, gaussians=scene.gaussians, cameras=scene.cameras), ground
    from worldgen_sim.samples import make_sample_room
    from worldgen_sim.surface.views import EYE_HEIGHTS

    room = make_sample_room(spacing=0.04)
    tops = []
    for box in room.furniture:
        if box.hi[2] > max(EYE_HEIGHTS):
            x, y = np.meshgrid(np.arange(box.lo[0] + 0.02, box.hi[0] - 0.01, 0.02),
                               np.arange(box.lo[1] + 0.02, box.hi[1] - 0.01, 0.02))
            tops.append(np.column_stack([x.ravel(), y.ravel(), np.full(x.size, box.hi[2])]))
    return AlignedScene(np.eye(4), 1.0, gaussians=room.gaussians), np.concatenate(tops)


def _worker(name: str, coverage_views: int | None) -> None:
    """One timed surface stage; prints a JSON line (run with this checkout or main first on ``sys.path``)."""
    from scipy.spatial import cKDTree

    from worldgen_sim.surface.surface import extract_surface
    from worldgen_sim.surface.surface_cfg import SurfaceCfg

    scene, truth = _scene(name)
    cfg = SurfaceCfg() if coverage_views is None else SurfaceCfg(coverage_views=coverage_views)
    extract_surface(scene, cfg=cfg)  # warm-up: imports, warp kernels, thread pools
    start = time.perf_counter()
    result = extract_surface(scene, cfg=cfg)
    seconds = time.perf_counter() - start
    row = {"seconds": seconds, "views": result.report["views_used"], "coverage": result.report.get("coverage")}
    distance, _ = cKDTree(np.asarray(result.mesh.vertices, np.float64)).query(truth)
    row["truth_meshed"] = float(np.mean(distance <= 0.03))
    print(json.dumps(row))


def _run(root: Path, name: str, coverage_views: int | None) -> dict:
    code = (f"import sys; sys.path.insert(0, {str(root)!r}); sys.path.insert(1, {str(HERE / 'bench')!r}); "
            f"import bench_coverage_views as b; b._worker({name!r}, {coverage_views!r})")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--main", type=Path, required=True, help="the checkout to compare against")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scenes", nargs="+", default=["terrain", "sample room"])
    args = parser.parse_args()
    variants = {"main": (args.main, None), "coverage_views=0": (HERE, 0), "this checkout": (HERE, None)}
    for name in args.scenes:
        rows: dict[str, list[dict]] = {key: [] for key in variants}
        for _ in range(args.repeats):
            for key, (root, views) in variants.items():
                rows[key].append(_run(root, name, views))
        base = statistics.median(r["seconds"] for r in rows["main"])
        for key, runs in rows.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            last = runs[-1]
            what = "true ground" if name == "terrain" else "tall tops"
            extra = f", {what} meshed {last['truth_meshed']:.1%}"
            cover = last.get("coverage")
            unseen = f", unseen {cover['unseen_before']:.2%} -> {cover['unseen_after']:.2%}" if cover else ""
            print(f"{name:12s} {key:17s}: {last['views']:3d} views, {seconds:6.1f} s ({seconds / base:.2f}x main)"
                  f"{unseen}{extra}")


if __name__ == "__main__":
    main()

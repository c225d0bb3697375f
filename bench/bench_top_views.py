"""Benchmark the surface stage's top views: time with ``surface.top_views`` = 0 against the default, and what
they add (views, fused upward surfaces above the eye heights), on the furnished sample room and the floaters room.

Both variants run in this process after one untimed warm-up, alternated ``--repeats`` times (the median is
printed), so the ratio holds on a loaded machine. Coverage: the fraction of a 2 cm grid over each true
upward face above the eye heights (the sample room's 1.8 m cabinet top; the floaters room's 1.8 m
cabinet) with a mesh vertex within 3 cm.

    python bench/bench_top_views.py [--repeats 2] [--spacing 0.04]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _scenes(spacing: float):
    """(name, world-frame Gaussians, list of (lo, hi) boxes whose tops are above the eye heights)."""
    from worldgen_sim.samples import make_sample_room
    from worldgen_sim.scenes import make_scene
    from worldgen_sim.scenes.geometry import OBJECT
    from worldgen_sim.surface.views import EYE_HEIGHTS

    room = make_sample_room(spacing=spacing)
    tall = [(b.lo, b.hi) for b in room.furniture if b.hi[2] > max(EYE_HEIGHTS)]
    yield "sample room", room.gaussians, tall
    floaters = make_scene("floaters", spacing=spacing)
    bounds = [(p.mesh.vertices.min(axis=0), p.mesh.vertices.max(axis=0)) for p in floaters.parts if p.kind == OBJECT]
    yield "floaters room", floaters.gaussians, [(lo, hi) for lo, hi in bounds if max(EYE_HEIGHTS) < hi[2] < 2.5]


def _top_coverage(vertices: np.ndarray, boxes) -> float:
    from scipy.spatial import cKDTree

    if not boxes:
        return float("nan")
    grid = []
    for lo, hi in boxes:
        x, y = np.meshgrid(np.arange(lo[0] + 0.02, hi[0] - 0.01, 0.02), np.arange(lo[1] + 0.02, hi[1] - 0.01, 0.02))
        grid.append(np.column_stack([x.ravel(), y.ravel(), np.full(x.size, hi[2])]))
    distance, _ = cKDTree(vertices).query(np.concatenate(grid))
    return float(np.mean(distance < 0.03))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--spacing", type=float, default=0.04)
    args = parser.parse_args()
    from worldgen_sim.artifacts import AlignedScene
    from worldgen_sim.surface.surface import extract_surface
    from worldgen_sim.surface.surface_cfg import SurfaceCfg

    for name, cloud, boxes in _scenes(args.spacing):
        scene = AlignedScene(np.eye(4), 1.0, gaussians=cloud)
        extract_surface(scene, cfg=SurfaceCfg(top_views=0))  # warm-up: imports, thread pools, caches
        rows = {}
        for _ in range(args.repeats):
            for top_views in (0, SurfaceCfg().top_views):
                start = time.perf_counter()
                result = extract_surface(scene, cfg=SurfaceCfg(top_views=top_views))
                seconds = time.perf_counter() - start
                row = rows.setdefault(top_views, {"seconds": []})
                row["seconds"].append(seconds)
                row["views"] = result.report["views_rendered"]
                row["coverage"] = _top_coverage(result.mesh.vertices, boxes)
        base, new = (statistics.median(rows[k]["seconds"]) for k in sorted(rows))
        for key in sorted(rows):
            row = rows[key]
            print(f"{name:14s} top_views={key}: {row['views']} views, {statistics.median(row['seconds']):6.1f} s, "
                  f"tall tops fused {row['coverage']:.1%}")
        print(f"{name:14s} time ratio (top views / none): {new / base:.2f}x")


if __name__ == "__main__":
    main()

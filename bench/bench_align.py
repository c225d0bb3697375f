"""Benchmark of the alignment stage on ~1M Gaussians (the sample room, OpenCV frame, unknown scale).

Prints the time of each step of ``align_scene`` and compares the two heavy
pieces against naive references in the same run:

* isolation: ``isolated_mask`` (voxel hashing, exact) vs scipy ``cKDTree``
  ``query_ball_point(..., return_length=True)`` neighbour counting;
* floor: batched RANSAC (``find_floor``) vs a one-hypothesis-at-a-time Python loop
  over the same number of hypotheses.

Run: ``python bench/bench_align.py [--spacing 0.0114] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, default=0.0114, help="surface spacing [m]; 0.0114 gives ~1M Gaussians")
    parser.add_argument("--floaters", type=int, default=5000)
    parser.add_argument("--sky", type=int, default=30000)
    parser.add_argument("--repeats", type=int, default=3, help="align_scene runs (best time reported)")
    args = parser.parse_args()

    from scipy.spatial import cKDTree

    from worldgen_sim.align.align import align_scene
    from worldgen_sim.align.align_cfg import AlignCfg
    from worldgen_sim.align.filters import isolated_mask
    from worldgen_sim.align.floor import UP_ROTATIONS, find_floor
    from worldgen_sim.artifacts import SceneInput
    from worldgen_sim.progress import Progress
    from worldgen_sim.samples import SURFACE, make_sample_room

    room = make_sample_room(seed=0, spacing=args.spacing, num_floaters=args.floaters, num_sky=args.sky)
    cloud, true_input_to_world = room.to_input_frame(scale=0.37, frame="opencv")
    scene = SceneInput(source=Path("bench.ply"), sha256="", layout="bench", gaussians=cloud, default_up="opencv")
    cfg = AlignCfg(camera_height=room.camera_height)
    print(
        f"input: {len(cloud):,} Gaussians ({int((room.labels == SURFACE).sum()):,} surface, "
        f"{args.floaters:,} floaters, {args.sky:,} sky), OpenCV frame, scale 0.37"
    )

    best, result = np.inf, None
    for _ in range(args.repeats):
        start = time.perf_counter()
        progress = Progress(quiet=True)
        result = align_scene(scene, cfg=cfg, progress=progress)
        best = min(best, time.perf_counter() - start)
    report = result.report
    print(f"align_scene total: {best:.2f} s (best of {args.repeats})")
    for step, seconds in progress.timings.items():  # the last run's
        print(f"  {step:10s} {seconds:7.3f} s")
    print(
        f"  scale {result.scale:.5f} (true {1 / 0.37:.5f}), kept {report['kept']:,}, removed sky "
        f"{report['removed_sky']:,}, low opacity {report['removed_low_opacity']:,}, "
        f"isolated {report['removed_isolated']:,}"
    )

    # Isolation: ours vs cKDTree on the same world-frame points.
    positions = cloud.positions.astype(np.float64) @ true_input_to_world[:3, :3].T + true_input_to_world[:3, 3]
    positions = positions[np.abs(positions).max(1) < 20].astype(np.float32)  # sky out, as in the stage
    radius, k = cfg.isolation_radius, cfg.isolation_min_neighbors
    start = time.perf_counter()
    ours = isolated_mask(positions, radius=radius, min_neighbors=k)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    tree = cKDTree(positions)
    counts = tree.query_ball_point(positions, radius, return_length=True, workers=1)
    reference = counts - 1 < k
    t_tree = time.perf_counter() - start
    print(
        f"isolation on {len(positions):,} points (r = {radius} m, k = {k}): voxel hashing {t_ours:.2f} s, "
        f"cKDTree {t_tree:.2f} s, ratio {t_tree / t_ours:.1f}x; masks identical: {bool((ours == reference).all())}"
    )

    # Floor: batched RANSAC vs a per-hypothesis loop with the same hypotheses count.
    rng = np.random.default_rng(0)
    points = cloud.positions.astype(np.float64) @ UP_ROTATIONS["opencv"].T
    pick = rng.choice(len(points), min(len(points), 1000000), replace=False)
    weights = cloud.opacities.astype(np.float64)
    options = {"max_tilt_deg": 30.0, "tolerance_fraction": 0.01, "max_below_fraction": 0.05, "min_floor_fraction": 0.02}
    start = time.perf_counter()
    find_floor(points[pick], weights[pick], rng=np.random.default_rng(0), **options)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    _naive_ransac(points[pick], weights[pick], hypotheses=4096, sample_size=20000, rng=np.random.default_rng(0))
    t_naive = time.perf_counter() - start
    print(
        f"floor RANSAC (4096 hypotheses on 20k points, 1M refinement): batched {t_batched:.2f} s, "
        f"per-hypothesis loop {t_naive:.2f} s, ratio {t_naive / t_batched:.1f}x"
    )


def _naive_ransac(points, weights, *, hypotheses, sample_size, rng):
    """Reference: score one hypothesis at a time (no tilt or below test, just the scoring cost)."""
    sample = points[rng.choice(len(points), sample_size, replace=False)]
    tolerance = 0.01 * np.median(np.linalg.norm(points - np.median(points, 0), axis=1))
    best, best_score = None, -1.0
    for _ in range(hypotheses):
        a, b, c = sample[rng.integers(0, sample_size, 3)]
        normal = np.cross(b - a, c - a)
        length = np.linalg.norm(normal)
        if length == 0:
            continue
        normal /= length
        score = float((np.abs((sample - a) @ normal) <= tolerance).sum())
        if score > best_score:
            best, best_score = normal, score
    return best


if __name__ == "__main__":
    main()

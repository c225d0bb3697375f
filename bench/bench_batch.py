"""Benchmark ``worldgen batch``: the local pool on 1 and 2 workers, and Ray on the same 2 CPUs.

Writes ``--items`` sample-room PLYs (``--spacing`` sets their size; 0.04 m is the
demo's own input) and one manifest, then in the same run times:

* the reference: the local pool with 1 worker;
* the local pool with ``--workers`` workers (goal: >= 1.7x faster than 1 on 2 cores);
* Ray with the same CPUs (goal: within 15 % of the local pool), if ray is installed.

Every run starts from an empty OUTROOT, so nothing is skipped.

    python bench/bench_batch.py [--items 20] [--workers 2] [--spacing 0.04] [--full]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--spacing", type=float, default=0.04, help="Gaussian spacing of each room [m]")
    parser.add_argument("--full", action="store_true", help="every stage (default: load, align, splats only)")
    args = parser.parse_args()

    from worldgen_sim.batch.batch import run_batch
    from worldgen_sim.io.gaussian_ply import write_gaussian_ply
    from worldgen_sim.samples import make_sample_room

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        scratch = Path(scratch)
        (scratch / "in").mkdir()
        for seed in range(args.items):
            room = make_sample_room(seed=seed, spacing=args.spacing)
            cloud, _ = room.to_input_frame(scale=1.0, frame="opencv")
            write_gaussian_ply(scratch / "in" / f"room{seed:03d}.ply", cloud, layout="lyra2")
        stages = "{align.camera_height: 1.4}" if args.full else "{align.camera_height: 1.4, surface.enabled: false}"
        (scratch / "manifest.yaml").write_text(f"inputs: [in/*.ply]\noptions:\n  run: {stages}\nverify: false\n")
        runs = [("local, 1 worker (reference)", "local", 1), (f"local, {args.workers} workers", "local", args.workers)]
        try:
            import ray  # noqa: F401

            runs.append((f"ray, {args.workers} CPUs", "ray", args.workers))
        except ImportError:
            print("ray is not installed: pip install 'worldgen-sim[batch]' to compare it")
        times = {}
        for label, engine, workers in runs:
            start = time.perf_counter()
            report = run_batch(scratch / "manifest.yaml", scratch / f"out_{engine}_{workers}", engine=engine,
                               workers=workers)
            times[label] = time.perf_counter() - start
            assert report.counts() == {"done": args.items}, report.counts()
            print(f"{label:28s} {times[label]:8.2f} s")
        values = list(times.values())
        print(f"speed-up of {args.workers} workers over 1: {values[0] / values[1]:.2f}x (goal >= 1.7x)")
        if len(values) > 2:
            print(f"ray / local pool: {values[2] / values[1]:.2f} (goal <= 1.15)")


if __name__ == "__main__":
    main()

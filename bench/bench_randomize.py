"""Benchmark ``worldgen randomize`` on the demo world: 1000 variants against writing one.

Builds the demo world once (or takes ``--world DIR``, the OUT of an earlier build),
then times in the same run:

* the reference: reading the base world and writing ONE variant (what a single
  ``worldgen randomize --variants 1`` costs beyond start-up);
* ``--variants`` variants with ``--workers`` processes.

Prints both, their ratio (1000 variants ideally cost 1000 / workers times the
per-variant time, not 1000 times the whole single run), and the largest layer.

    python bench/bench_randomize.py [--world demo_world] [--variants 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def demo_world(scratch: Path) -> Path:
    from worldgen_sim.config import load_config
    from worldgen_sim.demo import write_demo_input
    from worldgen_sim.pipeline import build_world

    ply, camera_height = write_demo_input(scratch)
    cfg = load_config(overrides={"align.camera_height": camera_height, "collision.dynamic_objects": True})
    return build_world(ply, scratch / "world", cfg=cfg).out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, help="an already built world (default: build the demo)")
    parser.add_argument("--variants", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from worldgen_sim.randomize.randomize import randomize_world

    with tempfile.TemporaryDirectory(prefix="bench-randomize-") as scratch:
        scratch = Path(scratch)
        source = args.world if args.world is not None else demo_world(scratch)
        runs = {}
        for label, count, workers in (("one variant (reference)", 1, 1),
                                      (f"{args.variants} variants, {args.workers} workers", args.variants,
                                       args.workers)):
            target = scratch / f"copy_{count}"
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("variants*", "world_variants.usda"))
            start, cpu_start = time.perf_counter(), _cpu_seconds()
            result = randomize_world(target, variants=count, seed=0, workers=workers)
            runs[label] = (time.perf_counter() - start, _cpu_seconds() - cpu_start,
                           max(p.stat().st_size for p in result.files))
        (one, one_cpu, _), (many, many_cpu, largest) = runs.values()
        for label, (seconds, cpu, size) in runs.items():
            print(f"{label:36s} {seconds:8.2f} s wall {cpu:8.2f} s CPU   largest layer {size / 1024:6.1f} KiB")
        # On a shared machine wall time counts other people's work; CPU seconds over the cores used do not.
        dedicated = many_cpu / args.workers
        print(f"ratio many/one: wall {many / one:.1f}, CPU {many_cpu / one_cpu:.1f}  (per variant: "
              f"{1000 * many_cpu / args.variants:.1f} ms CPU; on {args.workers} free cores ~{dedicated:.1f} s)")
        print(f"goal: {args.variants} variants <= 30 s on 2 cores, each layer <= 100 KB -> wall "
              f"{'met' if many <= 30 else 'NOT met'}, CPU/{args.workers} {'met' if dedicated <= 30 else 'NOT met'}, "
              f"size {'met' if largest <= 100_000 else 'NOT met'}")


def _cpu_seconds() -> float:
    """CPU time [s] of this process and of its finished children (the pool's workers)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()

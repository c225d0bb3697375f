"""``worldgen build`` end to end on a 1M-Gaussian Lyra 2.0 scene: wall time and peak memory.

Writes the sample room at about 1 M Gaussians as a Lyra 2.0 PLY (OpenCV frame,
0.8 units per metre, floaters and a sky shell), then times, each in a fresh
subprocess measured by ``/usr/bin/time`` (so this script's own memory never
counts), in the same run:

- ``read``: reading the PLY alone, the I/O floor every build pays (reference);
- ``spine``: ``worldgen build --no-mesh`` (load, align, splat layer, world.json);
- ``full``: the default build (+ visual mesh, colliders, navigation), with a
  cold CoACD cache;
- ``full cached``: the same build again, decompositions served from the cache.

Prints a table with ratios to the reference and to the spine issue's goal
(<= 20 s and <= 3 GB for the 1M build on 2 cores).

Usage::

    python bench/bench_build.py [--spacing 0.0114] [--skip-full]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".bench"
GOAL_SECONDS, GOAL_GB = 20.0, 3.0

READ = "import sys; from worldgen_sim.io.gaussian_ply import read_gaussian_ply; read_gaussian_ply(sys.argv[1])"


def timed(command: list[str], *, env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS in GB) of one command, from /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", report.name, *command], check=True, env=env)
        seconds, kilobytes = report.read().split()[-2:]
    return float(seconds), float(kilobytes) / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, default=0.0114, help="sample room spacing [m]; 0.0114 gives ~1 M")
    parser.add_argument("--skip-full", action="store_true", help="time only the read and the spine build")
    args = parser.parse_args()

    CACHE.mkdir(exist_ok=True)
    ply = CACHE / f"room_{args.spacing}.ply"
    worldgen = [sys.executable, "-m", "worldgen_sim.cli"]
    if not ply.exists():
        subprocess.run([*worldgen, "sample", str(ply), "--spacing", str(args.spacing), "--scale", "0.8",
                        "--floaters", "5000", "--sky", "20000"], check=True)
    header = ply.read_bytes()[:300].decode("latin-1")
    count = int(header.split("element vertex ")[1].split()[0])

    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        scratch = Path(scratch)
        build = [*worldgen, "build", str(ply), "--camera-height", "1.4", "--quiet"]
        rows = [("read (reference)", *timed([sys.executable, "-c", READ, str(ply)]))]
        rows.append(("build --no-mesh (spine)", *timed([*build, "-o", str(scratch / "spine"), "--no-mesh"])))
        if not args.skip_full:
            config = scratch / "cfg.yaml"
            config.write_text(f"collision:\n  cache_dir: {scratch / 'coacd'}\n")
            full = [*build, "--config", str(config)]
            rows.append(("build (full, cold cache)", *timed([*full, "-o", str(scratch / "full")])))
            stages = json.loads((scratch / "full" / "world.json").read_text())["timings_s"]
            rows.append(("build (full, cached)", *timed([*full, "-o", str(scratch / "full")])))
        shutil.rmtree(scratch, ignore_errors=True)

    reference = rows[0][1]
    print(f"\nworldgen build, {count:,} Gaussians (Lyra 2.0 layout), {ply.name}")
    print(f"{'run':<26} {'wall s':>8} {'peak GB':>8} {'x read':>8} {'/ 20 s goal':>12} {'/ 3 GB goal':>12}")
    for name, seconds, gigabytes in rows:
        print(f"{name:<26} {seconds:8.2f} {gigabytes:8.2f} {seconds / reference:8.1f} "
              f"{seconds / GOAL_SECONDS:12.2f} {gigabytes / GOAL_GB:12.2f}")
    if not args.skip_full:
        print("\nfull build, seconds per stage (cold):")
        print("  " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))


if __name__ == "__main__":
    main()

"""One 640 x 480 RGB-D frame -> a verified world: wall time per stage on this machine.

Builds the bundled Redwood frame 0 (``worldgen demo``'s input), each run in a
fresh subprocess, in the same run:

- ``read``: reading the RGB-D folder alone (the reference);
- ``build, no completion``: the one frame through every stage without the
  completed floor/walls/object backs (``generate.complete: false``);
- ``build (cold)``: the default build with an empty CoACD cache;
- ``build (cached)``: the same build again, decompositions from the cache;
- ``verify``: ``worldgen verify`` on the result (validators + Newton drop test;
  warp kernels come from ``~/.cache/warp`` after the first run).

Prints wall seconds, the ratio to the reference and to the issue's goal
(<= 20 s for mesh, colliders and navigation on 2 cores), and the cold build's
seconds per stage. On a shared machine single timings are noisy: say so.

Usage::

    python bench/bench_picture.py [--skip-verify]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 20.0
READ = (
    "import sys; from worldgen_sim.io.input_cfg import InputCfg; "
    "from worldgen_sim.io.rgbd_folder import read_rgbd_folder; read_rgbd_folder(sys.argv[1], cfg=InputCfg())"
)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    from worldgen_sim.demo import demo_frame_folder

    frame = demo_frame_folder()
    worldgen = [sys.executable, "-m", "worldgen_sim.cli"]
    with tempfile.TemporaryDirectory(prefix="bench-picture-") as scratch:
        scratch = Path(scratch)
        cold = scratch / "cold.yaml"
        cold.write_text(f"collision:\n  cache_dir: {scratch / 'coacd'}\n")
        plain = scratch / "plain.yaml"
        # Without completion the one frame leaves no floor wide enough for the agent (navigation refuses it).
        plain.write_text(f"collision:\n  cache_dir: {scratch / 'coacd_plain'}\ngenerate:\n  complete: false\n"
                         "navigation:\n  enabled: false\n")  # fmt: skip
        build = [*worldgen, "build", str(frame), "--quiet"]
        rows = [("read RGB-D frame (reference)", timed([sys.executable, "-c", READ, str(frame)]))]
        plain_build = [*build, "-o", str(scratch / "plain"), "--config", str(plain)]
        rows.append(("build, no completion, no nav (cold)", timed(plain_build)))
        rows.append(("build (cold cache)", timed([*build, "-o", str(scratch / "world"), "--config", str(cold)])))
        stages = json.loads((scratch / "world" / "world.json").read_text())["timings_s"]
        rows.append(("build (cached)", timed([*build, "-o", str(scratch / "world"), "--config", str(cold)])))
        if not args.skip_verify:
            rows.append(("verify (validators + drop test)", timed([*worldgen, "verify", str(scratch / "world"),
                                                                    "--quiet"])))  # fmt: skip
        shutil.rmtree(scratch, ignore_errors=True)
    reference = rows[0][1]
    print(f"\none 640x480 RGB-D frame ({frame.name}) -> world, {os.cpu_count()} CPUs (shared machine: timings noisy)")
    print(f"{'run':<34} {'wall s':>8} {'x read':>8} {'/ 20 s goal':>12}")
    for name, seconds in rows:
        print(f"{name:<34} {seconds:8.2f} {seconds / reference:8.1f} {seconds / GOAL_SECONDS:12.2f}")
    if not args.skip_verify:
        total = rows[2][1] + rows[-1][1]
        print(f"{'verified world (cold build + verify)':<34} {total:8.2f} {total / reference:8.1f} "
              f"{total / GOAL_SECONDS:12.2f}")  # fmt: skip
    print("\ncold build, seconds per stage:")
    print("  " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))


if __name__ == "__main__":
    main()

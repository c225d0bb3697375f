"""Reading a large Gaussian PLY: time and peak memory against the output arrays' size.

Writes a synthetic PLY (5M Gaussians by default; Lyra 2.0 layout = INRIA SH
degree 0 with normals, or ``--degree 3`` for a full 3DGS file), then reads it
in fresh subprocesses with

* ours: ``read_gaussian_ply`` (chunked, preallocated outputs), and
* reference: the common one-shot numpy reader (``np.fromfile`` of the whole
  vertex table, then stacking columns and activating), which is what most
  3DGS scripts do when they do not loop in Python,

and prints wall time of the read, peak RSS above the interpreter's baseline
(``/usr/bin/time -f %M``, so the
parent's own memory never counts), numpy's traced peak (``tracemalloc``)
and both as multiples of the output arrays' bytes.

Usage::

    python bench/bench_ply_read.py [--count 5000000] [--degree 0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".bench"

BASELINE = """
import json, numpy, worldgen_sim.io.gaussian_ply
print(json.dumps({"seconds": 0.0, "traced": 0, "array_bytes": 0, "n": 0}))
"""

OURS = """
import json, sys, time, tracemalloc
from worldgen_sim.io.gaussian_ply import read_gaussian_ply
tracemalloc.start()
start = time.perf_counter()
cloud, info = read_gaussian_ply(sys.argv[1])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "traced": tracemalloc.get_traced_memory()[1],
                  "array_bytes": cloud.nbytes(), "n": len(cloud)}))
"""

REFERENCE = """
import json, sys, time, tracemalloc
import numpy as np
from worldgen_sim.io.ply_header import inspect_gaussian_ply
info = inspect_gaussian_ply(sys.argv[1])
tracemalloc.start()
start = time.perf_counter()
dtype = np.dtype([(p, "<f4") for p in info.properties])
v = np.fromfile(sys.argv[1], dtype=dtype, count=info.count, offset=info.header_bytes)
positions = np.stack([v["x"], v["y"], v["z"]], axis=1)
rotations = np.stack([v[f"rot_{i}"] for i in range(4)], axis=1)
rotations /= np.linalg.norm(rotations, axis=1, keepdims=True)
scales = np.exp(np.stack([v[f"scale_{i}"] for i in range(3)], axis=1))
opacities = 1.0 / (1.0 + np.exp(-v["opacity"]))
dc = np.stack([v[f"f_dc_{c}"] for c in range(3)], axis=1)[:, None, :]
rest_names = [p for p in info.properties if p.startswith("f_rest_")]
if rest_names:
    rest = np.stack([v[p] for p in rest_names], axis=1).reshape(len(v), 3, -1).transpose(0, 2, 1)
    sh = np.concatenate([dc, rest], axis=1)
else:
    sh = dc
keep = np.isfinite(positions).all(1) & np.isfinite(scales).all(1) & np.isfinite(sh.reshape(len(v), -1)).all(1)
arrays = [a[keep] for a in (positions, rotations, scales, opacities, sh)]
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "traced": tracemalloc.get_traced_memory()[1],
                  "array_bytes": sum(a.nbytes for a in arrays), "n": len(arrays[0])}))
"""


def make_ply(path: Path, n: int, degree: int, seed: int = 0, chunk: int = 1_000_000) -> None:
    """A Lyra 2.0 / INRIA layout PLY of n random Gaussians, generated chunk by chunk."""
    rest = 3 * ((degree + 1) ** 2 - 1)
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    names += [f"f_rest_{i}" for i in range(rest)]
    names += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    rng = np.random.default_rng(seed)
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property float {p}" for p in names] + ["end_header"]
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode())
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            table = rng.normal(size=(rows, len(names))).astype("<f4")
            table[:, names.index("nx") : names.index("nz") + 1] = 0.0
            table[:, names.index("scale_0") : names.index("scale_2") + 1] -= 4.0
            fh.write(table.tobytes())


def run_measured(code: str, ply: Path) -> tuple[dict, float]:
    """(the child's JSON report, its peak RSS in bytes, measured by ``/usr/bin/time``)."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        cmd = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), sys.executable, "-c", code, str(ply)]
        proc = subprocess.run(cmd, capture_output=True, cwd=REPO)
        if proc.returncode != 0:
            raise RuntimeError(f"child failed:\n{proc.stderr.decode(errors='replace')[-2000:]}")
        report = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        return report, int(rss_file.read_text().split()[-1]) * 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5_000_000)
    parser.add_argument("--degree", type=int, default=0, choices=[0, 1, 2, 3])
    parser.add_argument("--workdir", type=Path, default=CACHE / "ply_read")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    ply = args.workdir / f"gaussians_sh{args.degree}_{args.count}.ply"
    if not ply.exists():
        start = time.perf_counter()
        make_ply(ply, args.count, args.degree)
        print(f"wrote {ply} ({ply.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s")

    _, baseline_rss = run_measured(BASELINE, ply)
    results = {name: run_measured(code, ply) for name, code in (("ours", OURS), ("reference", REFERENCE))}
    array_bytes = results["ours"][0]["array_bytes"]
    mib = 2.0**20
    print(
        f"\nread {args.count} Gaussians, SH degree {args.degree}, file {ply.stat().st_size / mib:.0f} MiB; "
        f"output arrays {array_bytes / mib:.0f} MiB; interpreter baseline RSS {baseline_rss / mib:.0f} MiB\n"
    )
    header = (
        f"{'reader':>10} | {'read s':>7} | {'RSS-base MiB':>12} {'x arrays':>8} | {'traced MiB':>10} {'x arrays':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, (report, rss) in results.items():
        above = rss - baseline_rss
        print(f"{name:>10} | {report['seconds']:>7.2f} | {above / mib:>12.0f} {above / array_bytes:>8.2f} | "
              f"{report['traced'] / mib:>10.0f} {report['traced'] / array_bytes:>8.2f}")  # fmt: skip
    ours, ref = results["ours"][0], results["reference"][0]
    print(f"\nspeed-up vs reference: {ref['seconds'] / ours['seconds']:.2f}x; goal: ours peak < 2x output arrays")


if __name__ == "__main__":
    main()

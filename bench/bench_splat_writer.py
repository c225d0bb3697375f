"""PLY -> USD splat layer: worldgen_sim against NVIDIA's ``usd-convert-gsplat``, same files, same run.

Makes synthetic INRIA PLY files (SH degree 3 by default), converts each with
both tools in fresh subprocesses (imports included, ``.usdc`` output), and
prints wall time and peak RSS (``/usr/bin/time -f %M``, so the
parent's own memory never counts) with
ratios. It also checks that both outputs hold the same splats.

``usd-convert-gsplat`` pins numpy==2.3.1, so it runs from its own virtual
environment, created on first use under ``.bench/venv-gsplatconv``.

Usage::

    python bench/bench_splat_writer.py [--sizes 200000 1000000] [--degree 3] [--venv DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".bench"
CONVERTER = "usd-convert-gsplat==0.1.15"

OURS = """
import sys
from worldgen_sim.io.gaussian_ply import read_gaussian_ply
from worldgen_sim.exporters.usd_splats import write_splat_layer
cloud, _ = read_gaussian_ply(sys.argv[1])
write_splat_layer(sys.argv[2], cloud)
"""


BASELINE = """
from pxr import Sdf, Usd, UsdGeom, UsdVol, Vt
import numpy
UsdVol.ParticleField3DGaussianSplat.Define(Usd.Stage.CreateInMemory(), "/Splats")
"""
"""What both tools load before touching any data: USD's libraries and numpy."""


def ensure_converter_venv(venv: Path) -> Path:
    """The ``usd-convert-gsplat`` executable, installing it into ``venv`` if missing."""
    exe = venv / "bin" / "usd-convert-gsplat"
    if exe.exists():
        return exe
    print(f"creating {venv} with {CONVERTER} (one-off) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # usd-core is pinned to the version worldgen_sim uses so both write with the same crate library.
    from pxr import Usd

    usd_version = ".".join(str(v) for v in Usd.GetVersion()[1:])
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", CONVERTER, f"usd-core=={usd_version}"], check=True)
    return exe


def make_ply(path: Path, n: int, degree: int, seed: int = 0) -> None:
    from worldgen_sim.artifacts import GaussianCloud
    from worldgen_sim.io.gaussian_ply import write_gaussian_ply

    rng = np.random.default_rng(seed)
    quats = rng.normal(size=(n, 4)).astype(np.float32)
    cloud = GaussianCloud(
        positions=rng.uniform(-5, 5, size=(n, 3)).astype(np.float32),
        rotations=quats / np.linalg.norm(quats, axis=1, keepdims=True),
        scales=np.exp(rng.normal(-4, 0.5, size=(n, 3))).astype(np.float32),
        opacities=rng.uniform(0.05, 0.95, n).astype(np.float32),
        sh=rng.normal(0, 0.3, size=(n, (degree + 1) ** 2, 3)).astype(np.float32),
    )
    write_gaussian_ply(path, cloud)


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process, measured by ``/usr/bin/time``."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *cmd], capture_output=True, cwd=REPO)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr.decode(errors='replace')[-2000:]}")
        return seconds, int(rss_file.read_text().split()[-1]) / 1024.0


def splat_arrays(path: Path) -> dict[str, np.ndarray]:
    from pxr import Usd

    stage = Usd.Stage.Open(str(path))
    prim = next(p for p in stage.Traverse() if p.GetTypeName() == "ParticleField3DGaussianSplat")
    names = ["positions", "orientations", "scales", "opacities", "radiance:sphericalHarmonicsCoefficients"]
    return {name: np.array(prim.GetAttribute(name).Get()) for name in names}


def compare_outputs(ours: Path, theirs: Path) -> float:
    """Largest absolute difference over every splat attribute of the two outputs."""
    a, b = splat_arrays(ours), splat_arrays(theirs)
    worst = 0.0
    for name in a:
        if a[name].shape != b[name].shape:
            raise AssertionError(f"{name}: shapes differ {a[name].shape} vs {b[name].shape}")
        worst = max(worst, float(np.abs(a[name] - b[name]).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--degree", type=int, default=3, choices=[0, 1, 2, 3])
    parser.add_argument("--venv", type=Path, default=CACHE / "venv-gsplatconv")
    parser.add_argument("--workdir", type=Path, default=CACHE / "splat_writer")
    args = parser.parse_args()
    exe = ensure_converter_venv(args.venv)
    args.workdir.mkdir(parents=True, exist_ok=True)

    _, base_ours = run_measured([sys.executable, "-c", BASELINE])
    _, base_theirs = run_measured([str(args.venv / "bin" / "python"), "-c", BASELINE])
    rows = []
    for n in args.sizes:
        ply = args.workdir / f"inria_sh{args.degree}_{n}.ply"
        if not ply.exists():
            make_ply(ply, n, args.degree)
        ours_out, theirs_out = args.workdir / f"ours_{n}.usdc", args.workdir / f"theirs_{n}.usdc"
        t_ours, m_ours = run_measured([sys.executable, "-c", OURS, str(ply), str(ours_out)])
        t_theirs, m_theirs = run_measured([str(exe), "-i", str(ply), "-o", str(theirs_out), "--up-axis", "Z"])
        diff = compare_outputs(ours_out, theirs_out)
        rows.append((n, t_ours, t_theirs, m_ours, m_theirs, diff, ply.stat().st_size / 2**20))
        print(f"  {n} splats done", flush=True)

    print(f"\nPLY -> USD (.usdc), INRIA SH degree {args.degree}; ours = read_gaussian_ply + write_splat_layer, "
          f"reference = {CONVERTER}\n")  # fmt: skip
    header = f"{'splats':>9} {'PLY MiB':>8} | {'ours s':>7} {'ref s':>7} {'speed-up':>8} | "
    header += f"{'ours MiB':>8} {'ref MiB':>8} {'mem ratio':>9} {'above base':>10} | {'max |diff|':>10}"
    print(header)
    print("-" * len(header))
    for n, t_ours, t_theirs, m_ours, m_theirs, diff, size in rows:
        above = (m_ours - base_ours) / max(m_theirs - base_theirs, 1e-9)
        print(f"{n:>9} {size:>8.0f} | {t_ours:>7.2f} {t_theirs:>7.2f} {t_theirs / t_ours:>7.1f}x | "
              f"{m_ours:>8.0f} {m_theirs:>8.0f} {m_ours / m_theirs:>9.2f} {above:>10.2f} | {diff:>10.2e}")  # fmt: skip
    print(f"\nbaseline RSS (python + numpy + USD libraries, no data): ours {base_ours:.0f} MiB, "
          f"reference venv {base_theirs:.0f} MiB; 'above base' = (ours - base) / (ref - base)")  # fmt: skip
    print("\ngoal: speed-up >= 10x and mem ratio (ours/ref peak RSS) <= 0.33")


if __name__ == "__main__":
    main()

"""The drop test's PhysX engine: ovphysx on the CPU, in a subprocess of an environment that has it.

ovphysx (PhysX without Kit) pins ``packaging<24``, which breaks other extras,
so it normally lives in its own environment: the ``physx`` extra installed
there, or the Python 3.12 environment of ``make test-isaac``. This module finds
that environment's Python (:func:`physx_python`), hands it the world and the
probe starts, and runs :mod:`worldgen_sim.verify.physx_worker` there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.verify.verify_cfg import VerifyCfg

__all__ = ["PHYSX_PYTHON_ENV", "DropSimulation", "physx_python", "simulate_drops"]

PHYSX_PYTHON_ENV = "WORLDGEN_PHYSX_PYTHON"
"""Environment variable naming a Python interpreter that has ovphysx."""
_WORKER = Path(__file__).with_name("physx_worker.py")
# Density of the probe spheres [kg/m^3] (rubber); the rest height does not depend on it.
_PROBE_DENSITY = 1000.0
# Angular damping of the probes [1/s]: PhysX spheres have no rolling friction; this settles them instead.
# Demo room, 20 ground probes after 1.5 s: 5 left 16 rolling at 0.05-0.16 m/s, 20 and 60 none. Stairs scene
# (bumpier ground), 38 ground probes: 20 left 3 rolling at ~0.09 m/s, 60 one at 0.066 m/s.
_PROBE_ANGULAR_DAMPING = 60.0


@dataclass(eq=False)
class DropSimulation:
    """What an engine's simulation of the dropped probes returned.

    Attributes:
        ends: (N, 3) float64 probe centres at the end [m]; NaN where the engine lost a probe.
        speeds: (N,) float64 linear speeds at the end [m/s]; inf where unknown.
        colliders: the world's collider prim paths.
        loaded: collider prim paths the engine created shapes for (None when it cannot say).
        messages: the engine's own warnings, each ``{"prim": path or None, "text": line}``.
        seconds: wall time of the engine run, start-up included [s].
    """

    ends: np.ndarray
    speeds: np.ndarray
    colliders: list[str]
    loaded: list[str] | None
    messages: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def physx_python(cfg: VerifyCfg, *, discover: bool = True) -> str | None:
    """The Python interpreter that runs PhysX, or None when none is installed.

    In order: ``cfg.physx_python``, ``$WORLDGEN_PHYSX_PYTHON``, this interpreter
    when it can import ovphysx, then (with ``discover``) the environment
    ``make isaac-venv`` builds (``isaac_ext/tools/isaac_venv.sh``, under
    ``~/.cache/worldgen_sim``).
    """
    for candidate in (cfg.physx_python, os.environ.get(PHYSX_PYTHON_ENV)):
        if candidate:
            return candidate
    if importlib.util.find_spec("ovphysx") is not None:
        return sys.executable
    if not discover:
        return None
    from worldgen_sim.cache import user_cache_dir

    cache = Path(os.environ.get("WORLDGEN_CACHE") or user_cache_dir())  # as isaac_venv.sh
    built = sorted(cache.glob("isaac-venv-*/.complete"), key=lambda p: p.stat().st_mtime, reverse=True)
    return str(built[0].parent / "bin" / "python") if built else None


def simulate_drops(world_path: str | Path, starts: np.ndarray, *, cfg: VerifyCfg,
                   progress: Progress | None = None) -> DropSimulation:  # fmt: skip
    """Drop probe spheres from ``starts`` onto the world's colliders in PhysX and return where they end.

    Args:
        world_path: the composed ``world.usda`` (Z-up, metres).
        starts: (N, 3) probe centres at release [m].
        cfg: probe radius, simulated time and time step; ``physx_python`` and ``physx_timeout``.
        progress: progress reporter; silent when None.

    Raises:
        WorldgenError: no Python with ovphysx is found (naming the ``physx`` extra), or the
            PhysX run fails or times out.
    """
    progress = progress or Progress(quiet=True)
    python = physx_python(cfg)
    if python is None:
        raise WorldgenError(
            "verify.engine 'physx' needs ovphysx, which is not installed; install the 'physx' extra in its own "
            "environment (pip install 'worldgen-sim[physx]'; ovphysx pins packaging<24) and name its Python with "
            f"verify.physx_python or ${PHYSX_PYTHON_ENV}, or run 'make isaac-venv'"
        )
    request = {
        "world": str(Path(world_path).absolute()),
        "starts": np.asarray(starts, dtype=np.float64).tolist(),
        "probe_radius": cfg.probe_radius,
        "probe_density": _PROBE_DENSITY,
        "angular_damping": _PROBE_ANGULAR_DAMPING,
        "sim_seconds": cfg.sim_seconds,
        "sim_dt": cfg.sim_dt,
    }
    progress.write(f"[worldgen]   physx (ovphysx, CPU) in {python}")
    with tempfile.TemporaryDirectory(prefix="worldgen-physx-") as scratch:
        request_file, result_file = Path(scratch) / "request.json", Path(scratch) / "result.json"
        request_file.write_text(json.dumps(request))
        _run_worker(python, request_file, result_file, timeout=cfg.physx_timeout)
        result = json.loads(result_file.read_text())
    ends = np.asarray(result["ends"], dtype=np.float64).reshape(-1, 3)
    speeds = np.asarray(result["speeds"], dtype=np.float64)
    return DropSimulation(ends=ends, speeds=speeds, colliders=result["colliders"], loaded=result["loaded"] or None,
                          messages=result["messages"], seconds=float(result["seconds"]))  # fmt: skip


def _run_worker(python: str, request_file: Path, result_file: Path, *, timeout: float) -> None:
    env = dict(os.environ, OMNI_KIT_ACCEPT_EULA="YES")
    try:
        done = subprocess.run([python, str(_WORKER), str(request_file), str(result_file)], env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
    except FileNotFoundError:
        raise WorldgenError(f"verify.physx_python: '{python}' does not exist") from None
    except subprocess.TimeoutExpired:
        raise WorldgenError(f"PhysX drop test did not finish in verify.physx_timeout = {timeout:g} s") from None
    if done.returncode != 0 or not result_file.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-8:]
        raise WorldgenError(f"PhysX drop test failed in {python} (exit {done.returncode}): " + " | ".join(tail))

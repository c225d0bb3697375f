"""Shared fixtures of the Isaac tests (``make test-isaac``, in the Python 3.12 Isaac environment).

Outside that environment they skip, naming what is missing; with
``WORLDGEN_REQUIRE_ISAAC=1`` (set by ``make test-isaac``) a missing piece fails instead.
The Kit run happens once per session: it builds the demo world inside Kit, and
the Isaac Lab and PhysX tests reuse that world.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("WORLDGEN_REQUIRE_ISAAC") == "1"


def need(*modules: str) -> None:
    """Skip (or fail under ``make test-isaac``) unless every module imports here."""
    missing = [name for name in modules if not _installed(name)]
    if missing:
        message = f"needs {', '.join(missing)} (the Python 3.12 Isaac environment: make test-isaac)"
        pytest.fail(message) if REQUIRED else pytest.skip(message)


def _installed(name: str) -> bool:
    """Whether ``name`` is installed, without importing any parent package (isaacsim's starts Kit)."""
    top, _, rest = name.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None or not rest:
        return spec is not None
    base = Path(next(iter(spec.submodule_search_locations or []), ""))
    relative = Path(*rest.split("."))
    return (base / relative).is_dir() or (base / relative).with_suffix(".py").is_file()


@pytest.fixture(scope="session")
def kit_run(tmp_path_factory) -> dict:
    """Headless Kit with the extension: build and spawn the demo world, drop a probe (kit_smoke.py's result)."""
    need("isaacsim.kit", "ovphysx", "worldgen_sim")
    scratch = Path(os.environ.get("WORLDGEN_ISAAC_SCRATCH") or tmp_path_factory.mktemp("kit"))
    result_file = scratch / "kit_result.json"
    command = [sys.executable, str(ROOT / "isaac_ext" / "tools" / "kit_smoke.py"), "--repo", str(ROOT),
               "--scratch", str(scratch), "--result", str(result_file), "--fast"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    (scratch / "kit_output.log").write_text(done.stdout + done.stderr)
    output = (done.stdout + done.stderr)[-4000:]
    assert result_file.is_file(), f"Kit wrote no result (exit {done.returncode}):\n{output}"
    result = json.loads(result_file.read_text())
    result["exit_code"] = done.returncode
    result["output_tail"] = (done.stdout + done.stderr)[-4000:]
    return result


@pytest.fixture(scope="session")
def world_dir(kit_run) -> Path:
    """The world package Kit built."""
    assert "spawn" in kit_run, kit_run.get("error") or kit_run["output_tail"]
    return Path(kit_run["spawn"]["world_usd"]).parent

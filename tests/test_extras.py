"""A missing optional package is named, with the extra that brings it, before any data is read."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Runs the CLI with chosen modules made unimportable (a None entry in sys.modules makes
# `import name` raise ImportError, as on a machine without the package).
HIDE_AND_RUN = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from worldgen_sim.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_without(modules: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", HIDE_AND_RUN, modules, *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "hidden, extra",
    [("scipy", "surface"), ("torch", "surface"), ("coacd", "collision"), ("open3d,mcubes", "surface")],
)
def test_missing_extra_is_one_line_exit_2_and_nothing_written(sample_ply, tmp_path, hidden, extra):
    out = tmp_path / "world"
    result = run_without(hidden, "build", str(sample_ply), "-o", str(out), "--camera-height", "1.4")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("worldgen: error: ")
    assert f"pip install 'worldgen-sim[{extra}]'" in lines[0]
    assert hidden.split(",")[0] in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_disabled_stage_needs_nothing(sample_ply, tmp_path):
    # Splats only: scipy, torch and CoACD are not needed, so their absence is no error.
    out = tmp_path / "world"
    result = run_without(
        "scipy,torch,coacd,open3d", "build", str(sample_ply), "-o", str(out), "--camera-height", "1.4", "--no-mesh",
        "--quiet", "--no-floaters",  # 0.2 m spacing > isolation_radius: the filter would drop 98 % (refused)
    )
    assert result.returncode == 0, result.stderr
    assert (out / "splats.usdc").is_file()


def test_requirements_follow_the_config():
    from worldgen_sim.config import WorldgenCfg
    from worldgen_sim.extras import requirements

    cfg = WorldgenCfg()
    modules = {m for r in requirements(cfg) for m in r.modules}
    assert {"torch", "scipy", "coacd", "manifold3d"} <= modules
    cfg.collision.enabled = False
    assert "coacd" not in {m for r in requirements(cfg) for m in r.modules}
    assert "newton" in {m for r in requirements(cfg, verify=True) for m in r.modules}

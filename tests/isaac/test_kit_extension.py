"""The extension in real headless Kit (isaacsim-kernel): start, build and spawn, PhysX, clean shutdown."""

from __future__ import annotations

import subprocess
import sys

from .conftest import need


def test_extension_starts_headless(kit_run):
    """Kit enabled the extension from the repository and on_startup ran, headless (no omni.ui, no menu)."""
    assert kit_run.get("error") is None, kit_run.get("error")
    assert kit_run["enabled"] is True
    state = kit_run["state_after_startup"]
    assert state["started"] is True and state["window"] is False and state["menu"] is False
    assert state["reason"].startswith("headless: omni.ui")
    assert "/exts/worldgen_sim/isaac_ext/" in kit_run["module_file"]


def test_build_and_spawn_inside_kit(kit_run):
    """The headless API built the demo world in Kit's process and referenced it into a usd-core stage."""
    spawn = kit_run["spawn"]
    assert spawn["prim_path"] == "/worldgen_0" and spawn["references_world"] is True
    assert spawn["colliders_in_stage"] >= 6  # floor, walls, ceiling, then the furniture's hulls
    assert spawn["counts"]["gaussians_kept"] > 50_000


def test_physx_steps_the_spawned_stage(kit_run):
    """ovphysx, in Kit's process, drops a probe onto the spawned world's floor and it comes to rest there."""
    drop = kit_run["drop"]
    floor_z, radius = drop["floor"][2], 0.05
    assert drop["start"][2] - floor_z > 0.5
    assert abs(drop["end"][2] - (floor_z + radius)) < 0.03, drop
    assert abs(drop["end"][0] - drop["start"][0]) < 0.1 and abs(drop["end"][1] - drop["start"][1]) < 0.1
    assert drop["speed"] < 0.05
    assert drop["shapes_loaded"] == kit_run["spawn"]["colliders_in_stage"]


def test_clean_shutdown(kit_run):
    """Disabling the extension ran on_shutdown; Kit shut down with exit code 0 and logged no worldgen error."""
    assert kit_run["after_shutdown"]["stopped"] is True
    assert kit_run["enabled_after_shutdown"] is False
    assert kit_run["exit_code"] == 0 and kit_run.get("kit_exit_code", 0) == 0
    assert kit_run["kit_errors"] == []


def test_import_worldgen_sim_loads_no_kit():
    """In this environment (where Kit is installed), importing worldgen_sim and its public API loads no Kit module."""
    need("isaacsim.kit")
    code = (
        "import sys, worldgen_sim;"
        "[getattr(worldgen_sim, name) for name in worldgen_sim.__all__];"
        "import worldgen_sim.isaaclab, worldgen_sim.verify.verify;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'omni', 'carb', 'isaacsim'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"

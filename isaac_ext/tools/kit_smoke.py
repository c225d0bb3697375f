"""Start headless Kit with the worldgen_sim extension, build and spawn a world, drop a probe in PhysX.

Run with the Python of the Isaac environment (``isaac_ext/tools/isaac_venv.sh``)::

    python isaac_ext/tools/kit_smoke.py --repo . --scratch /tmp/kit --result result.json

Writes ``result.json`` with what happened at each step (``tests/isaac/test_kit_extension.py``
asserts on it) and exits 0 once it got as far as shutting Kit down. Kit's kernel
(``isaacsim-kernel``) starts without a GPU through its ``KitApp`` bootstrap; its
caches go under ``--scratch`` (``HOME`` is pointed there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

EXTENSION = "worldgen_sim"


def main() -> int:
    args = _arguments()
    scratch = Path(args.scratch).absolute()
    result: dict = {"steps": []}
    save = lambda: Path(args.result).write_text(json.dumps(result, indent=2))  # noqa: E731
    exts = _extension_folder(Path(args.repo).absolute(), scratch)
    _kit_environment(scratch)
    from isaacsim.kit.kit_app import KitApp  # the bootstrap reads the environment set above

    app = KitApp()
    kit_file = Path(sys.modules["isaacsim.kit.kit_app"].__file__).with_name("apps") / "omni.app.empty.kit"
    started = time.perf_counter()
    app.startup([str(kit_file), "--no-window", "--ext-folder", str(exts), "--enable", EXTENSION,
                 "--/app/extensions/registryEnabled=0", "--/log/level=warning"])  # fmt: skip
    for _ in range(5):
        app.update()
    result["startup_seconds"] = round(time.perf_counter() - started, 2)
    try:
        _check_extension(app, result)
        save()
        _build_spawn_and_drop(args, scratch, result)
    except Exception:
        result["error"] = traceback.format_exc()
    save()
    manager = app.extension_manager
    manager.set_extension_enabled_immediate(EXTENSION, False)
    import worldgen_sim_isaac

    result["after_shutdown"] = worldgen_sim_isaac.extension_state()
    result["enabled_after_shutdown"] = manager.is_extension_enabled(EXTENSION)
    result["kit_errors"] = _kit_errors(scratch)
    save()
    # Kit's shutdown may end the process itself; its exit status is the process's (the test checks it).
    code = app.shutdown()
    result["kit_exit_code"] = code
    save()
    return code


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="the worldgen_sim checkout (the extension folder)")
    parser.add_argument("--scratch", required=True, help="scratch folder (Kit's HOME, the built world)")
    parser.add_argument("--result", required=True, help="JSON file to write")
    parser.add_argument("--input", help="PLY to build (default: the bundled demo room)")
    parser.add_argument("--fast", action="store_true", help="24 views instead of 48 (a smoke test, not a demo)")
    return parser.parse_args()


def _extension_folder(repo: Path, scratch: Path) -> Path:
    """A folder holding ``worldgen_sim`` -> the checkout, whatever the checkout's folder is called."""
    exts = scratch / "exts"
    exts.mkdir(parents=True, exist_ok=True)
    link = exts / EXTENSION
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(repo, target_is_directory=True)
    return exts


def _kit_environment(scratch: Path) -> None:
    home = scratch / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(home)  # Kit's caches and logs stay in the scratch folder
    os.environ["OMNI_KIT_ACCEPT_EULA"] = "YES"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ["OMNI_KIT_ALLOW_ROOT"] = "1"  # Kit refuses (segfaults) as root without it


def _check_extension(app, result: dict) -> None:
    import worldgen_sim_isaac

    result["enabled"] = app.extension_manager.is_extension_enabled(EXTENSION)
    result["state_after_startup"] = worldgen_sim_isaac.extension_state()
    result["module_file"] = worldgen_sim_isaac.__file__
    result["steps"].append("extension started")


def _build_spawn_and_drop(args: argparse.Namespace, scratch: Path, result: dict) -> None:
    """Build the sample world, spawn it into a usd-core stage, drop a probe on its floor in PhysX."""
    import worldgen_sim_isaac
    from pxr import Usd, UsdGeom

    input_path, camera_height = _input(args, scratch)
    stage = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    started = time.perf_counter()
    overrides = {"align.camera_height": camera_height}
    if args.fast:
        overrides["surface.num_views"] = 24
    spawned = worldgen_sim_isaac.build_and_spawn(input_path, scratch / "world", stage=stage, overrides=overrides)
    result["build_seconds"] = round(time.perf_counter() - started, 2)
    prim = stage.GetPrimAtPath(spawned.prim_path)
    result["spawn"] = {
        "prim_path": spawned.prim_path,
        "world_usd": str(spawned.world_usd),
        "references_world": any(str(spawned.world_usd) in str(ref.assetPath)
                                for ref in prim.GetMetadata("references").GetAddedOrExplicitItems()),  # fmt: skip
        "colliders_in_stage": sum(1 for p in Usd.PrimRange(prim) if p.HasAPI("PhysicsCollisionAPI")),
        "counts": spawned.summary.get("counts", {}),
    }
    result["steps"].append("built and spawned")
    spawned_file = scratch / "spawned.usda"
    stage.GetRootLayer().Export(str(spawned_file))
    result["drop"] = _drop_probe(spawned_file, spawned.world_usd.parent / "navigation.json", scratch)
    result["steps"].append("physx stepped")


def _input(args: argparse.Namespace, scratch: Path) -> tuple[Path, float]:
    if args.input:
        return Path(args.input), 1.5
    from worldgen_sim.demo import write_demo_input

    folder = scratch / "input"
    folder.mkdir(parents=True, exist_ok=True)
    return write_demo_input(folder)


def _drop_probe(stage_file: Path, navigation: Path, scratch: Path) -> dict:
    """One probe released 0.5 m above a spawn point (walkable floor), simulated by ovphysx in this process."""
    from worldgen_sim.verify import physx_worker

    floor = json.loads(navigation.read_text())["spawn_points"][0]
    radius = 0.05
    request = {"world": str(stage_file), "starts": [[floor[0], floor[1], floor[2] + radius + 0.5]],
               "probe_radius": radius, "probe_density": 1000.0, "angular_damping": 60.0,
               "sim_seconds": 1.5, "sim_dt": 0.002}  # fmt: skip
    drop_stage = scratch / "drop.usda"
    physx_worker.compose_drop_stage(request, drop_stage)
    log = physx_worker._Collected()
    ends, speeds, loaded = physx_worker.simulate(request, drop_stage, log)
    return {"floor": floor, "start": request["starts"][0], "end": ends[0].tolist(), "speed": float(speeds[0]),
            "shapes_loaded": len(loaded), "physx_messages": log.messages()}  # fmt: skip


def _kit_errors(scratch: Path) -> list[str]:
    """Error lines in Kit's log that name worldgen (the extension's own failures)."""
    lines = []
    for log in (scratch / "home").rglob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if "[Error]" in line and "worldgen" in line.lower():
                lines.append(line[:300])
    return lines


if __name__ == "__main__":
    sys.exit(main())

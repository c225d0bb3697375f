"""worldgen verify with two engines: the same probes in Newton and PhysX, per-engine results, agreement.

Needs Newton here and a Python with ovphysx (``$WORLDGEN_PHYSX_PYTHON``, or the environment
``make test-isaac`` caches); ``make test-isaac`` runs this with both and with the world Kit
built (``$WORLDGEN_ISAAC_WORLD``). Without a PhysX Python it checks the message naming the extra.
Issue 10's numbers hold on the demo world and on the geometry scenes (:mod:`worldgen_sim.scenes`
stairs and terrain, built here once per module): each engine >= 95 % of probes at rest, median rest
heights within 1 cm.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from worldgen_sim.errors import WorldgenError
from worldgen_sim.verify.engine_checks import resolve_engines
from worldgen_sim.verify.physx_engine import physx_python
from worldgen_sim.verify.verify_cfg import VerifyCfg

REQUIRED = os.environ.get("WORLDGEN_REQUIRE_ISAAC") == "1"


def test_missing_physx_names_the_extra(tmp_path, monkeypatch):
    """--engine physx without ovphysx anywhere: one error naming the 'physx' extra and how to point at it."""
    monkeypatch.delenv("WORLDGEN_PHYSX_PYTHON", raising=False)
    monkeypatch.setenv("WORLDGEN_CACHE", str(tmp_path / "no-cache"))
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    cfg = VerifyCfg(engine="physx")
    assert physx_python(cfg) is None and physx_python(cfg, discover=False) is None
    with pytest.raises(WorldgenError, match=r"'physx' extra.*verify.physx_python or \$WORLDGEN_PHYSX_PYTHON"):
        from worldgen_sim.verify.physx_engine import simulate_drops

        simulate_drops(tmp_path / "world.usda", [[0, 0, 1]], cfg=cfg)
    assert resolve_engines(VerifyCfg(engine="both")) == ["newton", "physx"]
    with pytest.raises(WorldgenError, match="no physics engine is installed"):
        resolve_engines(VerifyCfg(engine="auto"))


def _needs_physx(what: str) -> None:
    if physx_python(VerifyCfg()) is None:
        message = f"needs a Python with ovphysx{what} (make test-isaac)"
        pytest.fail(message) if REQUIRED else pytest.skip(message)


def _verify_in_both(out: Path):
    """verify_world with Newton and PhysX on ``out``; asserts what must hold whatever the pass fractions."""
    from worldgen_sim.verify.verify import format_report, verify_world

    report = verify_world(out, cfg=VerifyCfg(engine="both", validators=False))
    text = format_report(report)
    print(text)
    newton, physx = report.drop_tests["newton"], report.drop_tests["physx"]
    assert (newton.starts == physx.starts).all()
    rows = {check.name: check for check in report.checks}
    assert rows["colliders loaded (newton)"].status == "pass" and rows["colliders loaded (physx)"].status == "pass"
    assert rows["engines agree (newton vs physx)"].status == "pass", text
    saved = json.loads((out / "verify.json").read_text())
    assert set(saved["drop_tests"]) == {"newton", "physx"}
    assert saved["drop_tests"]["physx"]["engine"] == "physx" and saved["collider_audit"]["colliders"] > 0
    return newton, physx, text


def test_newton_and_physx_agree(tmp_path):
    """Both engines drop the same 40 probes on a built world: each >= 95 % at rest, heights within 1 cm (median)."""
    world = os.environ.get("WORLDGEN_ISAAC_WORLD")
    _needs_physx(" and $WORLDGEN_ISAAC_WORLD")
    if not world:
        message = "needs $WORLDGEN_ISAAC_WORLD (make test-isaac)"
        pytest.fail(message) if REQUIRED else pytest.skip(message)
    import shutil

    out = tmp_path / "world"
    shutil.copytree(world, out)
    newton, physx, text = _verify_in_both(out)
    assert newton.pass_fraction >= 0.95 and physx.pass_fraction >= 0.95, text


_SCENE_WORLDS: dict[str, Path] = {}


@pytest.fixture(scope="module")
def scene_world(tmp_path_factory):
    """The world package of a geometry scene, built with the default config once per module (+ the camera
    height for Lyra inputs, as ``worldgen build --camera-height`` would get it)."""

    def build(name: str) -> Path:
        if name not in _SCENE_WORLDS:
            from worldgen_sim.config import WorldgenCfg
            from worldgen_sim.pipeline import build_world
            from worldgen_sim.scenes import make_scene

            scene = make_scene(name)
            folder = tmp_path_factory.mktemp(name)
            scene.write(folder / f"{name}.ply")
            cfg = WorldgenCfg()
            if scene.layout != "inria":
                cfg.align.camera_height = scene.camera_height
            cfg.collision.cache_dir = str(folder / "coacd-cache")
            _SCENE_WORLDS[name] = build_world(folder / f"{name}.ply", folder / "world", cfg=cfg).out_dir
        return _SCENE_WORLDS[name]

    return build


@pytest.mark.parametrize("name", ["stairs", "terrain"])
def test_newton_and_physx_agree_on_geometry_scenes(name, scene_world):
    """Issue 10 on the geometry test scenes: stairs (17 cm risers, 20 deg ramp, 0.85 m platform) and rolling
    terrain, each engine >= 95 % of probes at rest within 3 cm of the observed ground, heights within 1 cm."""
    if not REQUIRED and not os.environ.get("WORLDGEN_PHYSX_PYTHON"):
        # Two scene builds and both engines take about a minute: CI runs this once, in make test-isaac,
        # rather than also here through the cached Isaac environment that physx_python would discover.
        pytest.skip("runs in make test-isaac (or set $WORLDGEN_PHYSX_PYTHON to a Python with ovphysx)")
    _needs_physx("")
    newton, physx, text = _verify_in_both(scene_world(name))  # asserts the engines agree, whatever follows
    # The terrain's tile edges, seen by the 12 input cameras only at grazing angles, are meshed from the surface
    # stage's coverage views (was an xfail: Newton 35/40, PhysX 33/40, probes falling through holes open to the
    # border). Measured 2026-12-05: Newton 40/40, PhysX 40/40, collider coverage 99.5 % of 104.6 m2.
    assert newton.pass_fraction >= 0.95 and physx.pass_fraction >= 0.95, text

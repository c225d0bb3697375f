"""worldgen verify with two engines: the same probes in Newton and PhysX, per-engine results, agreement.

Needs Newton here and a Python with ovphysx (``$WORLDGEN_PHYSX_PYTHON``, or the environment
``make test-isaac`` caches); ``make test-isaac`` runs this with both and with the world Kit
built (``$WORLDGEN_ISAAC_WORLD``). Without a PhysX Python it checks the message naming the extra.
"""

from __future__ import annotations

import json
import os

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


def test_newton_and_physx_agree(tmp_path):
    """Both engines drop the same 40 probes on a built world: each >= 95 % at rest, heights within 1 cm (median)."""
    world = os.environ.get("WORLDGEN_ISAAC_WORLD")
    if physx_python(VerifyCfg()) is None or not world:
        message = "needs a Python with ovphysx and $WORLDGEN_ISAAC_WORLD (make test-isaac)"
        pytest.fail(message) if REQUIRED else pytest.skip(message)
    import shutil

    from worldgen_sim.verify.verify import format_report, verify_world

    out = tmp_path / "world"
    shutil.copytree(world, out)
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
    if not (newton.pass_fraction >= 0.95 and physx.pass_fraction >= 0.95):
        # Checked last, so the agreement above is always asserted. Known gap (issue 8 open): since verify judges
        # against the evidence, probes over the sample room's tall shelf top fall through in both engines: the
        # surface stage's automatic views (eye heights 1.2 and 1.6 m) never see the 1.8 m top, so the visual
        # mesh, and hence the colliders, have none (measured 2026-12-04: 35/40 in Newton).
        pytest.xfail(f"newton {newton.pass_fraction:.0%}, physx {physx.pass_fraction:.0%} at rest (need 95 %):\n{text}")

"""End to end: the demo input through every stage into a world package that validates and holds bodies.

One module-scoped build of the demo room (Lyra 2.0 layout, OpenCV frame, not
metric, with floaters and a sky shell) serves every test here. It is the
slowest part of the suite (CoACD, warp kernels), hence the marker.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from usd_checks import assert_valid_usd

from worldgen_sim.config import WorldgenCfg
from worldgen_sim.pipeline import build_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory, demo_input):
    root = tmp_path_factory.mktemp("pipeline")
    ply, camera_height = demo_input
    cfg = WorldgenCfg()
    cfg.align.camera_height = camera_height
    cfg.collision.cache_dir = str(root / "coacd-cache")
    result = build_world(ply, root / "world", cfg=cfg)
    return {"root": root, "ply": ply, "cfg": cfg, "result": result}


def test_package_layout_and_metadata(built):
    out = built["result"].out_dir
    summary = json.loads((out / "world.json").read_text())
    assert summary == built["result"].summary
    assert summary["layers"] == ["world.usda", "navigation.usdc", "collision.usdc", "objects.usdc", "visual.usdc",
                                 "splats.usdc"]
    for name in summary["layers"] + ["navigation.json", "config.yaml"]:
        assert (out / name).is_file(), name
    assert summary["skipped"] == {}
    assert summary["input"]["layout"] == "lyra2"
    assert len(summary["input"]["sha256"]) == 64
    transform = np.asarray(summary["input_to_world"])
    assert transform.shape == (4, 4) and np.allclose(transform[3], [0, 0, 0, 1])
    # The demo input is 0.8 units per metre: the recovered scale must undo it.
    assert summary["scale"] == pytest.approx(1 / 0.8, rel=0.03)
    removed = summary["counts"]["removed"]
    assert removed["sky"] >= 0.9 * 3000
    assert summary["navigation_agent"].keys() >= {"agent_radius", "agent_height", "max_slope", "max_climb", "cell_size"}
    assert set(summary["timings_s"]) >= {"load", "align", "surface", "collision", "navigation", "total"}


def test_stage_reports_hold_only_their_declared_keys(built):
    """Each stage's report in world.json uses only its TypedDict's keys (mypy sees literals, not merged dicts)."""
    from worldgen_sim import reports

    declared = {"align": reports.AlignReport, "surface": reports.SurfaceReport,
                "collision": reports.CollisionReport, "navigation": reports.NavigationReport}
    stages = built["result"].summary["stages"]
    assert set(stages) == set(declared)
    for stage, report_type in declared.items():
        extra = set(stages[stage]) - set(report_type.__annotations__)
        assert not extra, (stage, sorted(extra))


def test_world_passes_both_validators(built):
    assert_valid_usd(built["result"].world_usd)


def test_world_stage_is_z_up_metres_with_every_concern(built):
    from pxr import Usd, UsdGeom, UsdPhysics, UsdVol

    stage = Usd.Stage.Open(str(built["result"].world_usd))
    assert stage.GetDefaultPrim().GetPath() == "/World"
    assert UsdGeom.GetStageUpAxis(stage) == "Z" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert UsdPhysics.GetStageKilogramsPerUnit(stage) == 1.0
    assert stage.GetPrimAtPath("/World/Splats").IsA(UsdVol.ParticleField3DGaussianSplat)
    assert stage.GetPrimAtPath("/World/Visual").IsValid()
    assert stage.GetPrimAtPath("/World/Navigation/SpawnPoints").IsValid()
    colliders = [p for p in stage.Traverse() if p.HasAPI(UsdPhysics.CollisionAPI)]
    assert colliders
    floor = [p for p in colliders if "floor" in p.GetName()]
    assert floor, "the static shell must contain a floor collider"
    # Floor at z = 0 within 3 cm in the world frame.
    points = np.asarray(UsdGeom.Mesh(floor[0]).GetPointsAttr().Get())
    assert abs(np.median(points[:, 2])) < 0.03


@pytest.mark.xfail(strict=False, reason="known gap (issue 8 open): 35/40 < 95 % (2026-12-04): probes on the 1.8 m "
                   "shelf top fall through; the visual mesh has no top (auto views at 1.2/1.6 m never see it), "
                   "so no collider can have one (surface/views.py)")
def test_verify_passes_and_fails_without_floor(built):
    from pxr import Sdf

    from worldgen_sim.verify.verify import verify_world

    out = built["result"].out_dir
    report = verify_world(out, cfg=built["cfg"].verify)
    assert report.passed, report.to_dict()
    assert json.loads((out / "verify.json").read_text())["passed"] is True

    broken = built["root"] / "no_floor"
    shutil.copytree(out, broken)
    layer = Sdf.Layer.FindOrOpen(str(broken / "collision.usdc"))
    floors = [p for p in layer.GetPrimAtPath("/World/Collision/Static").nameChildren if "floor" in p.name]
    assert floors
    for spec in floors:
        spec.active = False
    layer.Save()
    broken_report = verify_world(broken, cfg=built["cfg"].verify)
    assert not broken_report.passed
    drop = next(c for c in broken_report.checks if c.name == "drop test")
    assert drop.status.lower() == "fail"


def test_rebuild_is_byte_identical_and_records_the_cache(built, tmp_path):
    again = build_world(built["ply"], tmp_path / "again", cfg=built["cfg"])
    caches = again.summary["stages"]["collision"]["caches"]
    first_caches = built["result"].summary["stages"]["collision"]["caches"]
    # The first build missed every lookup, the rebuild hit each key the first one stored.
    assert first_caches["decomposition"]["hits"] == 0 and caches["decomposition"]["misses"] == 0
    assert [e["key"] for e in caches["decomposition"]["lookups"]] == [
        e["key"] for e in first_caches["decomposition"]["lookups"]
    ]
    assert caches["segmentation"]["lookups"][0]["hit"] is True
    # Every file but world.json (timings, cache hits, paths) is byte for byte the same
    # (verify.json is written by another test's `verify_world`, not by the build).
    first_out, again_out = built["result"].out_dir, tmp_path / "again"
    names = sorted(p.name for p in first_out.iterdir() if p.name != "verify.json")
    assert names == sorted(p.name for p in again_out.iterdir())
    differing = [n for n in names if n != "world.json" and (first_out / n).read_bytes() != (again_out / n).read_bytes()]
    assert differing == []
    first, second = (json.loads((out / "world.json").read_text()) for out in (first_out, again_out))
    # Each decomposition's time is a timing like any other (the cached rebuild ran none).
    assert any(name.startswith("collision: decompose ") for name in first["timings_s"])
    assert not any(name.startswith("collision: decompose ") for name in second["timings_s"])
    for summary in (first, second):
        summary.pop("timings_s")  # the one timing record; no stage report holds one
        summary["stages"]["collision"].pop("caches")
        for entry in summary["stages"]["collision"]["objects"]:
            assert "seconds" not in entry
            entry.pop("cached")
        for key in ("segmentation_cached", "decompositions", "cache_hits"):
            summary["stages"]["collision"].pop(key)
        assert "timings" not in summary["stages"]["navigation"]
    assert first == second

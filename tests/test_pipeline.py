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


def _observed_tall_tops(built) -> tuple[object, np.ndarray]:
    """Verify's evidence map of the world's splats and its (cells,) bool mask of flat upward surfaces above the
    automatic views' eye heights (a cell whose 3 x 3 neighbourhood lies within 3 cm: not a wall's column)."""
    from scipy import ndimage

    from worldgen_sim.surface.views import EYE_HEIGHTS
    from worldgen_sim.verify.observed import load_observed_points, observed_ground

    loaded = load_observed_points(built["result"].world_usd)
    assert loaded is not None and loaded[2] == "splats"
    surface = observed_ground(*loaded[:2], cfg=built["cfg"].verify, source=loaded[2]).surface
    heights = np.where(np.isfinite(surface.heights), surface.heights, -1.0)
    spread = ndimage.maximum_filter(heights, size=3) - ndimage.minimum_filter(heights, size=3)
    tall = (heights > max(EYE_HEIGHTS) + 0.1) & (spread <= 0.03)
    # The shelf top (0.5 m x 1.2 m at 1.8 m, less a cell at its edges) is the one upward surface above 1.7 m.
    assert 0.25 <= tall.sum() * surface.cell**2 <= 0.6
    assert np.all(np.abs(heights[tall] - 1.8) < 0.05)
    return surface, tall.ravel()


def _nearest_crossing(surface, triangles: np.ndarray) -> np.ndarray:
    """(cells,) distance from each cell's observed height to the nearest triangle its vertical line crosses [m]."""
    from worldgen_sim.verify.surfaces import vertical_hits

    heights = surface.heights.ravel()
    cell_id, z, _ = vertical_hits(triangles, surface.origin, surface.cell, surface.heights.shape)
    nearest = np.full(heights.size, np.inf)
    np.minimum.at(nearest, cell_id, np.abs(z - np.nan_to_num(heights[cell_id], nan=np.inf)))
    return nearest


def test_observed_tops_above_the_eye_heights_are_in_the_visual_mesh(built):
    """The surface stage fuses every upward surface the input Gaussians show above its eye heights (the 1.8 m
    shelf top, seen by its coverage views): the visual mesh within 3 cm of all of it, judged on verify's evidence
    map of the world's splats, not on the mesh."""
    from worldgen_sim.verify.surfaces import load_visual_triangles

    surface, tall = _observed_tall_tops(built)
    vertices, triangles, _ = load_visual_triangles(built["result"].world_usd)
    nearest = _nearest_crossing(surface, vertices[triangles])
    assert np.mean(nearest[tall] <= 0.03) >= 0.99, np.sort(nearest[tall])[-10:]


def test_observed_tops_above_the_eye_heights_have_colliders(built):
    """Every upward surface the input Gaussians show above the eye heights (the 1.8 m shelf top) has a collider
    within 3 cm, judged on verify's evidence map of the world's splats, not on the mesh."""
    from worldgen_sim.verify.surfaces import load_collider_triangles

    surface, tall = _observed_tall_tops(built)
    nearest = _nearest_crossing(surface, load_collider_triangles(built["result"].world_usd))
    assert np.mean(nearest[tall] <= 0.03) >= 0.95, np.sort(nearest[tall])[-10:]


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
    # One drop test per installed engine ("drop test", or "drop test (newton)" / "(physx)" with both): each fails.
    drops = [c for c in broken_report.checks if c.name.split(" (")[0] == "drop test"]
    assert drops and all(c.status.lower() == "fail" for c in drops), [(c.name, c.status) for c in drops]


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

"""`worldgen verify` on a terrain built from Gaussians through the whole pipeline, judged against the evidence.

The rolling terrain of :mod:`worldgen_sim.scenes` (Lyra 2.0 layout, OpenCV frame,
cameras.npz, sky shell, capture noise) is built and verified. The two measures
of the colliders, probes dropped in Newton and the ray-cast collider coverage of
the observed ground, must agree with each other and with the verdict (whichever it is: the surface
stage's coverage views now mesh the tile's edges, so it passes; it failed while
they had holes). Then holes are cut into the ground, out of the
visual mesh *and* the colliders, as a collider cooked from a holed mesh would
be, so the world still agrees with itself: the coverage must fall by the share
of the observed ground that was cut away.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from worldgen_sim.config import WorldgenCfg
from worldgen_sim.pipeline import build_world
from worldgen_sim.scenes import make_scene
from worldgen_sim.scenes.truth import walkable_truth
from worldgen_sim.verify.observed import load_observed_points, observed_ground
from worldgen_sim.verify.verify import format_report, verify_world

pytestmark = pytest.mark.slow

HOLE_RADIUS = 0.9  # [m]


@pytest.fixture(scope="module")
def terrain(tmp_path_factory):
    root = tmp_path_factory.mktemp("terrain")
    scene = make_scene("terrain", seed=0, spacing=0.07)
    scene.write(root / "reconstructed_scene.ply")
    cfg = WorldgenCfg()
    cfg.align.camera_height = scene.camera_height
    cfg.collision.cache_dir = str(root / "coacd-cache")
    cfg.verify.validators = False
    result = build_world(root / "reconstructed_scene.ply", root / "world", cfg=cfg)
    return {"root": root, "scene": scene, "cfg": cfg, "out": result.out_dir}


def test_terrain_coverage_and_probes_agree_with_each_other_and_the_truth(terrain):
    cfg = terrain["cfg"].verify
    cfg.num_probes, cfg.sim_seconds, cfg.sim_dt = 24, 1.0, 0.004
    report = verify_world(terrain["out"], cfg=cfg)
    text = format_report(report)
    print(text)
    coverage = report.coverage
    terrain["coverage"] = coverage
    assert coverage["evidence"] == "splats"
    # The observed ground is what the capture saw of the terrain (truth from the analytic scene).
    truth = walkable_truth(terrain["scene"], {"agent_radius": 0.2, "agent_height": 1.5, "max_slope": 30.0,
                                              "max_climb": 0.2}, cell_size=0.1)  # fmt: skip
    observed_truth = float(truth.observed.sum()) * truth.cell_size**2
    assert coverage["observed_ground_m2"] == pytest.approx(observed_truth, rel=0.25)
    # Two independent measures of the same colliders: physics (probes over observed ground) and
    # ray casts (collider within 3 cm of the observed ground). 24 probes: 3 standard errors ~ 0.3.
    drop = report.drop_test
    ground = np.asarray(drop.kinds) == "ground"
    assert abs(drop.passed[ground].mean() - coverage["collider_fraction"]) < 0.3
    assert 0.0 <= coverage["walkable_fraction"] <= 1.0
    expected = coverage["collider_fraction"] >= cfg.min_collider_coverage and drop.ok
    assert report.passed == expected
    if not expected:
        assert "Failed:" in text and ("fell through" in text or "no collider at its height" in text)


def _cut_holes(layer_path, centres, *, colliders: bool) -> int:
    """Remove upward-facing ground triangles whose centroid lies within HOLE_RADIUS of a centre; returns how many."""
    from pxr import Usd, UsdGeom, UsdPhysics, Vt

    stage = Usd.Stage.Open(str(layer_path))
    removed = 0
    for prim in stage.Traverse():
        if not prim.IsA(UsdGeom.Mesh) or "/Objects/" in str(prim.GetPath()):
            continue
        if colliders != prim.HasAPI(UsdPhysics.CollisionAPI):
            continue
        mesh = UsdGeom.Mesh(prim)
        counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get())
        if not np.all(counts == 3):
            continue
        points = np.asarray(mesh.GetPointsAttr().Get(), np.float64)
        faces = np.asarray(mesh.GetFaceVertexIndicesAttr().Get()).reshape(-1, 3)
        tri = points[faces]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        up = normal[:, 2] > 0.7 * np.linalg.norm(normal, axis=1)
        centroid = tri.mean(1)[:, :2]
        inside = (np.linalg.norm(centroid[:, None] - centres[None], axis=2) < HOLE_RADIUS).any(1)
        keep = ~(up & inside)
        removed += int((~keep).sum())
        mesh.GetFaceVertexCountsAttr().Set(Vt.IntArray.FromNumpy(counts[keep].astype(np.int32)))
        mesh.GetFaceVertexIndicesAttr().Set(Vt.IntArray.FromNumpy(faces[keep].reshape(-1).astype(np.int32)))
    stage.GetRootLayer().Save()
    return removed


def test_holes_cut_into_mesh_and_colliders_lower_the_coverage_by_their_share(terrain):
    out = terrain["root"] / "holed"
    shutil.copytree(terrain["out"], out)
    cfg = terrain["cfg"].verify
    points, weights, source = load_observed_points(out / "world.usda")
    ground = observed_ground(points, weights, cfg=cfg, source=source).ground_points()
    # Four holes centred on observed ground, spread over the tile.
    rng = np.random.default_rng(4)
    centres = []
    for candidate in rng.permutation(ground[:, :2]):
        if all(np.linalg.norm(candidate - c) > 3 * HOLE_RADIUS for c in centres):
            centres.append(candidate)
        if len(centres) == 4:
            break
    centres = np.asarray(centres)
    assert _cut_holes(out / "collision.usdc", centres, colliders=True) > 0
    assert _cut_holes(out / "visual.usdc", centres, colliders=False) > 0
    in_holes = (np.linalg.norm(ground[:, None, :2] - centres[None], axis=2) < HOLE_RADIUS).any(1).mean()
    assert 0.08 < in_holes < 0.4

    before = terrain.get("coverage") or verify_world(terrain["out"], cfg=_no_drop(cfg)).coverage
    report = verify_world(out, cfg=_no_drop(cfg))
    print(format_report(report))
    assert not report.passed
    # Whatever was covered inside the holes is gone (the rest is untouched): the coverage falls by
    # the holes' share of the observed ground, times how much of it was covered before.
    expected = before["collider_fraction"] * (1.0 - in_holes)
    assert report.coverage["collider_fraction"] == pytest.approx(expected, abs=0.06)
    assert report.coverage["collider_fraction"] < before["collider_fraction"] - 0.5 * in_holes * before[
        "collider_fraction"
    ]
    assert {c.name: c.status for c in report.checks}["collider coverage"] == "FAIL"


def _no_drop(cfg):
    from dataclasses import replace

    return replace(cfg, drop_test=False)

"""worldgen verify: validators, probe placement, coverage and the Newton drop test.

The test worlds are built here with pxr in the world-package layout (a 4 m floor
and a 0.8 x 0.8 x 0.5 m box, each as visual mesh and collider) plus an
``evidence.npz`` of what an input observed (noisy points on the floor and the
box), so these tests do not depend on the exporters. Worlds whose meshes and
colliders disagree with the evidence (holes, offsets) must fail.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest
from pxr import Sdf
from usd_checks import assert_valid_usd

from worldgen_sim.errors import WorldgenError
from worldgen_sim.verify.drop_test import place_probes
from worldgen_sim.verify.surfaces import load_visual_triangles, surface_map
from worldgen_sim.verify.validators import validate_stage_file
from worldgen_sim.verify.verify import format_report, verify_world
from worldgen_sim.verify.verify_cfg import VerifyCfg

BOX_LO, BOX_HI = (0.3, 0.3, 0.0), (1.1, 1.1, 0.5)
FLOOR_HALF = 2.0
# Fewer probes and a shorter run than the defaults keep the Newton tests quick;
# 0.8 s leaves 0.5 s of settling after a 0.5 m fall (0.32 s).
FAST = {"num_probes": 16, "sim_seconds": 0.8, "sim_dt": 0.004, "engine": "newton"}
PROBE_RADIUS = VerifyCfg().probe_radius


def _layer(path: Path):
    from pxr import Usd, UsdGeom, UsdPhysics

    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdPhysics.SetStageKilogramsPerUnit(stage, 1.0)
    stage.SetDefaultPrim(UsdGeom.Xform.Define(stage, "/World").GetPrim())
    return stage


def _box(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """8 corners and 6 outward-wound quads of an axis-aligned box."""
    corners = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], dtype=np.float64)
    points = np.asarray(lo) + corners * (np.asarray(hi) - np.asarray(lo))
    quads = np.array([[0, 2, 3, 1], [4, 5, 7, 6], [0, 1, 5, 4], [2, 6, 7, 3], [0, 4, 6, 2], [1, 3, 7, 5]])
    return points, quads


def _floor(z: float = 0.0, *, facing_up: bool = True, holes: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The 4 m floor: one quad, or with ``holes`` 0.5 m tiles with every third tile left out."""
    h, tile = FLOOR_HALF, 0.5
    if not holes:
        points = np.array([[-h, -h, z], [h, -h, z], [h, h, z], [-h, h, z]], dtype=np.float64)
        return points, np.array([[0, 1, 2, 3]] if facing_up else [[0, 3, 2, 1]])
    n = int(round(2 * h / tile))
    xs = np.linspace(-h, h, n + 1)
    grid = np.stack(np.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    points = np.column_stack([grid, np.full(len(grid), z)])
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="xy")
    i, j = i.ravel(), j.ravel()
    if holes:
        keep = (i + 2 * j) % 3 != 0
        i, j = i[keep], j[keep]
    corners = np.stack([j * (n + 1) + i, j * (n + 1) + i + 1, (j + 1) * (n + 1) + i + 1, (j + 1) * (n + 1) + i], 1)
    return points, corners if facing_up else corners[:, ::-1]


def _write_evidence(out: Path, *, seed: int = 0, spacing: float = 0.025, noise: float = 0.003) -> None:
    """What an input observed: noisy points on the whole floor (except under the box) and the box's sides and top."""
    from worldgen_sim.evidence import write_evidence

    rng = np.random.default_rng(seed)
    xs = np.arange(-FLOOR_HALF, FLOOR_HALF, spacing)
    floor = np.stack(np.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    floor = floor[~np.all((floor > np.array(BOX_LO[:2])) & (floor < np.array(BOX_HI[:2])), axis=1)]
    parts = [np.column_stack([floor, np.zeros(len(floor))])]
    lo, hi = np.asarray(BOX_LO), np.asarray(BOX_HI)
    top = np.stack(np.meshgrid(np.arange(lo[0], hi[0], spacing), np.arange(lo[1], hi[1], spacing)), -1).reshape(-1, 2)
    parts.append(np.column_stack([top, np.full(len(top), hi[2])]))
    for axis in (0, 1):
        along = np.arange(lo[1 - axis], hi[1 - axis], spacing)
        up = np.arange(lo[2], hi[2], spacing)
        a, u = (g.ravel() for g in np.meshgrid(along, up))
        for value in (lo[axis], hi[axis]):
            side = np.zeros((len(a), 3))
            side[:, axis], side[:, 1 - axis], side[:, 2] = value, a, u
            parts.append(side)
    points = np.concatenate(parts)
    points += rng.normal(0.0, noise, points.shape)
    write_evidence(out / "evidence.npz", points, rng.uniform(0.6, 1.0, len(points)), source="test")


def _mesh(stage, path: str, points: np.ndarray, faces: np.ndarray):
    """A polygon mesh with face-varying normals from its winding and an extent."""
    from pxr import Gf, UsdGeom, Vt

    mesh = UsdGeom.Mesh.Define(stage, path)
    mesh.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(points.astype(np.float32)))
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), faces.shape[1], dtype=np.int32)))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(faces.reshape(-1).astype(np.int32)))
    a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
    normals = np.cross(b - a, c - a)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    mesh.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(np.repeat(normals, faces.shape[1], axis=0).astype(np.float32)))
    mesh.SetNormalsInterpolation(UsdGeom.Tokens.faceVarying)
    mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    mesh.CreateExtentAttr([Gf.Vec3f(*points.min(axis=0)), Gf.Vec3f(*points.max(axis=0))])
    return mesh


def build_world(
    out: Path,
    *,
    floor_collider: bool = True,
    colliders: bool = True,
    ceiling: bool = False,
    box_lift: float = 0.0,
    phantom: bool = False,
    evidence: bool = True,
    holes: bool = False,
    offset: float = 0.0,
) -> Path:
    """Write a minimal world package (world.usda + visual.usda + collision.usda + evidence.npz) to ``out``.

    ``box_lift`` makes the box's collider that much taller than its visual mesh [m];
    ``phantom`` adds a 1 m tall collider with no visual over the floor's x < -0.5 part;
    ``holes`` leaves a third of the floor's tiles out of both its mesh and its collider (as a
    collider cooked from a holed mesh would be); ``offset`` lifts meshes and colliders that far
    above what the evidence observed [m]; ``evidence`` writes the observed points.
    """
    from pxr import UsdGeom, UsdPhysics, UsdShade

    out.mkdir(parents=True, exist_ok=True)
    if evidence:
        _write_evidence(out)
    floor_points, floor_faces = _floor(offset, holes=holes)
    box_points, box_faces = _box(BOX_LO, BOX_HI)
    box_points = box_points + [0.0, 0.0, offset]

    visual = _layer(out / "visual.usda")
    UsdGeom.Scope.Define(visual, "/World/Visual")
    points = np.vstack([floor_points, box_points])
    faces = np.vstack([floor_faces, box_faces + len(floor_points)])
    _mesh(visual, "/World/Visual/Mesh", points, faces)
    if ceiling:  # a room's ceiling, seen from inside: faces down, above everything
        _mesh(visual, "/World/Visual/Ceiling", *_floor(2.5, facing_up=False))
    visual.GetRootLayer().Save()

    sublayers = ["./visual.usda"]
    if colliders:
        collision = _layer(out / "collision.usda")
        scene = UsdPhysics.Scene.Define(collision, "/World/PhysicsScene")
        scene.CreateGravityDirectionAttr((0.0, 0.0, -1.0))
        scene.CreateGravityMagnitudeAttr(9.81)
        for scope in ("/World/Collision", "/World/Collision/Materials", "/World/Collision/Static"):
            UsdGeom.Scope.Define(collision, scope)
        material = UsdShade.Material.Define(collision, "/World/Collision/Materials/Default")
        physics_material = UsdPhysics.MaterialAPI.Apply(material.GetPrim())
        physics_material.CreateStaticFrictionAttr(0.8)
        physics_material.CreateDynamicFrictionAttr(0.6)
        physics_material.CreateRestitutionAttr(0.0)

        def make_collider(mesh, approximation: str) -> None:
            prim = mesh.GetPrim()
            UsdPhysics.CollisionAPI.Apply(prim)
            UsdPhysics.MeshCollisionAPI.Apply(prim).CreateApproximationAttr(approximation)
            mesh.CreatePurposeAttr(UsdGeom.Tokens.guide)
            UsdShade.MaterialBindingAPI.Apply(prim).Bind(material, UsdShade.Tokens.weakerThanDescendants, "physics")

        if floor_collider:
            make_collider(_mesh(collision, "/World/Collision/Static/Floor", floor_points, floor_faces), "none")
        UsdGeom.Xform.Define(collision, "/World/Collision/Objects")
        UsdGeom.Xform.Define(collision, "/World/Collision/Objects/Box")
        hull_points = box_points + np.where(box_points[:, 2:] > 0, box_lift, 0.0) * np.array([0, 0, 1])
        make_collider(_mesh(collision, "/World/Collision/Objects/Box/Hull0", hull_points, box_faces), "convexHull")
        if phantom:
            UsdGeom.Xform.Define(collision, "/World/Collision/Objects/Phantom")
            phantom_points, phantom_faces = _box((-FLOOR_HALF, -FLOOR_HALF, 0.0), (-0.5, FLOOR_HALF, 1.0))
            make_collider(
                _mesh(collision, "/World/Collision/Objects/Phantom/Hull0", phantom_points, phantom_faces), "convexHull"
            )
        collision.GetRootLayer().Save()
        sublayers.append("./collision.usda")

    world = _layer(out / "world.usda")
    world.GetRootLayer().subLayerPaths = sublayers
    world.GetRootLayer().Save()
    return out / "world.usda"


# --- validators -------------------------------------------------------------------------------


def test_good_world_validates_clean(tmp_path):
    world = build_world(tmp_path / "out")
    result = assert_valid_usd(world)
    assert set(result.per_validator) == {"usd-core", "nvidia", "worldgen"}
    for layer in ("visual.usda", "collision.usda"):
        assert_valid_usd(tmp_path / "out" / layer)


def test_validators_flag_broken_stage(tmp_path):
    from pxr import Usd, UsdGeom

    path = tmp_path / "broken.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)  # wrong up axis, no units, no default prim
    UsdGeom.Xform.Define(stage, "/World")
    stage.GetRootLayer().Save()

    result = validate_stage_file(path)
    text = "\n".join(result.errors)
    usd_core = "\n".join(result.per_validator["usd-core"].errors)
    nvidia = "\n".join(result.per_validator["nvidia"].errors)
    assert "defaultPrim" in usd_core and "metersPerUnit" in usd_core
    assert "upAxis of 'Y'" in nvidia and "DefaultPrimChecker" in nvidia
    assert "kilogramsPerUnit" in text
    with pytest.raises(AssertionError, match="USD validation problem"):
        assert_valid_usd(path)


def test_validate_missing_file_and_missing_package(tmp_path, monkeypatch):
    with pytest.raises(WorldgenError, match="does not exist"):
        validate_stage_file(tmp_path / "nope.usda")

    import importlib

    real_import = importlib.import_module

    def no_nvidia(name, *args, **kwargs):
        if name == "omni.asset_validator":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", no_nvidia)
    with pytest.raises(WorldgenError, match=r"worldgen-sim\[verify\]"):
        validate_stage_file(build_world(tmp_path / "out"))


# --- probe placement --------------------------------------------------------------------------


def _probes(world: Path, cfg: VerifyCfg):
    vertices, triangles, normals = load_visual_triangles(world)
    return place_probes(surface_map(vertices, triangles, normals, cfg=cfg), cfg=cfg)


def test_probes_over_flat_floor_and_box_top(tmp_path):
    cfg = VerifyCfg(num_probes=20)
    starts, kinds, notes = _probes(build_world(tmp_path / "out"), cfg)
    assert len(starts) == 20 and notes == []
    kinds = np.asarray(kinds)
    assert (kinds == "object").sum() == 10 and (kinds == "ground").sum() == 10
    drop = cfg.probe_radius + cfg.drop_height
    np.testing.assert_allclose(starts[kinds == "ground", 2], 0.0 + drop, atol=1e-6)
    np.testing.assert_allclose(starts[kinds == "object", 2], BOX_HI[2] + drop, atol=1e-6)
    # Every probe is at least flat_radius_factor radii inside its flat area: clear of the box
    # edges (top probes) and of the box walls and the floor's border (ground probes).
    margin = cfg.flat_radius_factor * cfg.probe_radius - 0.03  # one cell of slack
    xy = starts[:, :2]
    top = xy[kinds == "object"]
    assert np.all((top > np.array(BOX_LO[:2]) + margin) & (top < np.array(BOX_HI[:2]) - margin))
    ground = xy[kinds == "ground"]
    outside_box = np.max(np.maximum(np.array(BOX_LO[:2]) - ground, ground - np.array(BOX_HI[:2])), axis=1)
    assert np.all(outside_box > margin) and np.all(np.abs(ground) < FLOOR_HALF - margin)
    # Same seed, same probes; another seed, other probes.
    again, _, _ = _probes(tmp_path / "out" / "world.usda", cfg)
    np.testing.assert_array_equal(starts, again)
    other, _, _ = _probes(tmp_path / "out" / "world.usda", VerifyCfg(num_probes=20, seed=1))
    assert not np.array_equal(starts, other)


def test_probes_ignore_a_ceiling(tmp_path):
    starts, _, _ = _probes(build_world(tmp_path / "out", ceiling=True), VerifyCfg(num_probes=10))
    assert len(starts) == 10
    assert np.all(starts[:, 2] < 1.2), "probes must be dropped under the ceiling, onto the floor and box"


# --- verify_world without physics ---------------------------------------------------------------


def test_verify_world_bad_input(tmp_path):
    with pytest.raises(WorldgenError, match="does not exist"):
        verify_world(tmp_path / "missing", cfg=VerifyCfg())
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorldgenError, match="no world.usda"):
        verify_world(tmp_path / "empty", cfg=VerifyCfg())


def test_verify_world_without_colliders_fails(tmp_path):
    out = tmp_path / "out"
    build_world(out, colliders=False)
    report = verify_world(out, cfg=VerifyCfg())
    assert not report.passed
    status = {c.name: c.status for c in report.checks}
    assert status["colliders"] == "FAIL" and status["drop test"] == "skip"
    assert status["validator usd-core"] == "pass" and status["validator nvidia"] == "pass"
    saved = json.loads((out / "verify.json").read_text())
    assert saved["passed"] is False and saved["drop_test"] is None
    text = format_report(report)
    assert "FAILED" in text and "no colliders" in text


# --- Newton drop test (compiles warp kernels on first run: ~100 s, then cached) ------------------


@pytest.mark.slow
def test_drop_test_passes_on_good_world(tmp_path):
    out = tmp_path / "out"
    build_world(out)
    start = time.perf_counter()
    report = verify_world(out, cfg=VerifyCfg(**FAST))
    print(f"verify_world (good world): {time.perf_counter() - start:.1f} s")
    text = format_report(report)
    print(text)
    assert report.passed, text
    drop = report.drop_test
    assert drop.ok and drop.pass_fraction >= 0.95
    assert {"ground", "object"} == set(drop.kinds)
    assert "newton loaded 2 collision shapes from world.usda" in drop.notes
    assert np.all(drop.errors[drop.passed] <= 0.03)
    saved = json.loads((out / "verify.json").read_text())
    assert saved["passed"] is True and saved["drop_test"]["num_probes"] == FAST["num_probes"]
    assert "PASSED" in text


@pytest.mark.slow
def test_drop_test_stops_early_only_once_every_probe_is_still(tmp_path, caplog):
    """verify.stop_at_rest ends a good world's run early with the same verdicts as the full run and ends
    within 5 mm of it; where probes fall through (no floor collider) it runs to the end."""
    out = tmp_path / "out"
    build_world(out)
    caplog.set_level(logging.INFO, logger="worldgen_sim.verify.drop_test")
    options = {**FAST, "sim_seconds": 1.5}
    early = verify_world(out, cfg=VerifyCfg(**options)).drop_test
    assert "every probe at rest after" in caplog.text
    caplog.clear()
    full = verify_world(out, cfg=VerifyCfg(**options, stop_at_rest=False)).drop_test
    assert "every probe at rest" not in caplog.text
    assert list(early.passed) == list(full.passed) and list(early.reasons) == list(full.reasons)
    assert np.nanmax(np.abs(early.ends - full.ends)) < 0.005
    holed = tmp_path / "holed"
    build_world(holed, floor_collider=False)
    verify_world(holed, cfg=VerifyCfg(**options))
    assert "every probe at rest" not in caplog.text


@pytest.mark.slow
def test_drop_test_fails_without_floor_collider(tmp_path):
    out = tmp_path / "out"
    build_world(out, floor_collider=False)
    report = verify_world(out, cfg=VerifyCfg(**FAST))
    text = format_report(report)
    print(text)
    assert not report.passed
    drop = report.drop_test
    kinds, reasons = np.asarray(drop.kinds), np.asarray(drop.reasons)
    # Probes over the floor fall through; probes on the box top still land.
    assert np.all(reasons[kinds == "ground"] == "fell through")
    assert np.all(drop.passed[kinds == "object"])
    assert drop.pass_fraction == pytest.approx(np.mean(kinds == "object"))
    assert "newton loaded 1 collision shapes from world.usda" in drop.notes
    assert {c.name: c.status for c in report.checks}["drop test"] == "FAIL"
    assert "fell through the ground" in text and "FAILED" in text
    assert json.loads((out / "verify.json").read_text())["passed"] is False


@pytest.mark.slow
def test_drop_test_catches_collider_sticking_out_of_visual(tmp_path):
    """A box collider 5 cm taller than its visual mesh: probes on it rest too high (> 3 cm)."""
    out = tmp_path / "out"
    build_world(out, box_lift=0.05)
    report = verify_world(out, cfg=VerifyCfg(validators=False, **FAST))
    drop = report.drop_test
    kinds, reasons = np.asarray(drop.kinds), np.asarray(drop.reasons)
    assert np.all(reasons[kinds == "object"] == "rests too high")
    np.testing.assert_allclose(drop.errors[kinds == "object"], 0.05, atol=0.01)
    assert np.all(drop.passed[kinds == "ground"])
    assert not report.passed and "rest above the observed surface" in format_report(report)


@pytest.mark.slow
def test_drop_test_catches_collider_filling_free_space(tmp_path):
    """A collider where the visual world is empty: probes released with their centre inside it are pushed out.

    A probe whose centre is outside the phantom but whose sphere grazes its side (x within one radius of
    the phantom's face) is pushed sideways onto the real floor and rightly rests there within 3 cm:
    it is asserted neither way (it was, wrongly, counted as "inside" before)."""
    out = tmp_path / "out"
    build_world(out, phantom=True)
    report = verify_world(out, cfg=VerifyCfg(validators=False, **FAST))
    drop = report.drop_test
    inside = drop.starts[:, 0] < -0.5  # centre released inside the phantom
    clear = drop.starts[:, 0] >= -0.5 + PROBE_RADIUS  # the sphere does not touch it
    assert inside.any() and clear.any()
    assert not np.any(drop.passed[inside])
    # Pushed out up, down or sideways, depending on where the solver resolves the overlap.
    assert set(np.asarray(drop.reasons)[inside]) <= {"thrown out", "rests too high", "left the area"}
    assert np.all(drop.passed[clear])
    assert not report.passed


# --- evidence: the observed ground, coverage, and worlds that disagree with it ----------------------


def _observed(world: Path, cfg: VerifyCfg):
    from worldgen_sim.verify.observed import load_observed_points, observed_ground

    points, weights, source = load_observed_points(world)
    return observed_ground(points, weights, cfg=cfg, source=source)


def test_observed_ground_from_evidence(tmp_path):
    """The evidence map finds the floor (not the box top) as ground, at the observed heights."""
    cfg = VerifyCfg()
    observed = _observed(build_world(tmp_path / "out"), cfg)
    assert observed.source == "evidence.npz (test)"
    floor_area = (2 * FLOOR_HALF) ** 2 - np.prod(np.subtract(BOX_HI, BOX_LO)[:2])
    assert 0.9 * floor_area < observed.ground_area < 1.02 * floor_area
    heights = observed.ground_points()[:, 2]
    assert np.abs(heights).max() < 0.01  # robust: 3 mm noise, the box's sides never leak in
    starts, kinds, _ = place_probes(observed.surface, cfg=VerifyCfg(num_probes=20), ground=observed.ground)
    kinds = np.asarray(kinds)
    assert (kinds == "object").sum() == 10 and (kinds == "ground").sum() == 10
    drop = cfg.probe_radius + cfg.drop_height
    np.testing.assert_allclose(starts[kinds == "object", 2], BOX_HI[2] + drop, atol=0.01)
    np.testing.assert_allclose(starts[kinds == "ground", 2], drop, atol=0.01)


@pytest.mark.parametrize(
    ("variant", "expected", "status"),
    [({}, 1.0, "pass"), ({"holes": True}, 2 / 3, "FAIL"), ({"offset": 0.1}, 0.0, "FAIL")],
)
def test_collider_coverage_of_the_observed_ground(tmp_path, variant, expected, status):
    """Coverage is measured against the evidence: holes and a 10 cm offset both show, though the
    visual mesh and the colliders agree with each other in every variant."""
    out = tmp_path / "out"
    build_world(out, **variant)
    report = verify_world(out, cfg=VerifyCfg(validators=False, drop_test=False))
    coverage = report.coverage
    assert coverage["collider_fraction"] == pytest.approx(expected, abs=0.05)
    checks = {c.name: c.status for c in report.checks}
    assert checks["evidence"] == "pass" and checks["collider coverage"] == status
    assert checks["walkable coverage"] == "skip"  # no navigation.json in these worlds
    assert report.passed == (status == "pass")
    saved = json.loads((out / "verify.json").read_text())
    assert saved["coverage"]["collider_fraction"] == coverage["collider_fraction"]


def test_without_evidence_verify_warns_that_it_checks_itself(tmp_path):
    out = tmp_path / "out"
    build_world(out, evidence=False, holes=True)
    report = verify_world(out, cfg=VerifyCfg(validators=False, drop_test=False))
    checks = {c.name: (c.status, c.detail) for c in report.checks}
    assert checks["evidence"][0] == "warn" and "against itself" in checks["evidence"][1]
    assert report.coverage is None and report.passed  # nothing to judge against: it cannot see the holes


@pytest.mark.slow
def test_drop_test_fails_on_holed_ground_that_the_mesh_agrees_with(tmp_path):
    """A third of the floor missing from both the visual mesh and its collider: judged against the
    mesh the probes only land where the mesh is (passes); judged against the evidence they fall through."""
    out = tmp_path / "out"
    build_world(out, holes=True, evidence=False)
    gc.disable()  # what verify leaves open must not depend on when the collector runs
    try:
        itself = verify_world(out, cfg=VerifyCfg(validators=False, **FAST))
        # verify keeps no layer of the world open, so the world can be rebuilt in place
        assert Sdf.Layer.Find(str(out / "visual.usda")) is None
    finally:
        gc.enable()
    assert itself.drop_test.ok  # the old, self-referential verdict
    build_world(out, holes=True)
    report = verify_world(out, cfg=VerifyCfg(validators=False, **FAST))
    drop = report.drop_test
    assert not report.passed and not drop.ok
    fell = np.asarray(drop.reasons) == "fell through"
    assert fell.sum() >= 2 and set(np.asarray(drop.kinds)[fell]) == {"ground"}
    assert "fell through the ground" in format_report(report)


@pytest.mark.slow
def test_drop_test_fails_when_colliders_are_offset_from_the_evidence(tmp_path):
    """Meshes and colliders 10 cm above what the input observed: every probe rests 10 cm too high."""
    out = tmp_path / "out"
    build_world(out, offset=0.1)
    report = verify_world(out, cfg=VerifyCfg(validators=False, **FAST))
    drop = report.drop_test
    assert not report.passed and drop.pass_fraction == 0.0
    assert set(drop.reasons) == {"rests too high"}
    np.testing.assert_allclose(drop.errors, 0.1, atol=0.015)

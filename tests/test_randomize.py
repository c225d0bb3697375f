"""Scripted randomisation: reproducible, small, composable variants that stay physically valid.

One module-scoped world (the sample room from Gaussians through the whole
pipeline, objects dynamic) is randomised several ways; every check reads the
written layers back through USD rather than trusting the sampler's own numbers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from worldgen_sim.config import WorldgenCfg
from worldgen_sim.errors import WorldgenError
from worldgen_sim.pipeline import build_world
from worldgen_sim.randomize.isaaclab_terms import event_term_params, make_event_terms
from worldgen_sim.randomize.randomize import randomize_world
from worldgen_sim.randomize.randomize_cfg import RandomizeCfg, load_randomize_config
from worldgen_sim.randomize.sample import sample_variant
from worldgen_sim.randomize.world_info import load_world_info
from worldgen_sim.randomize.write import read_variant_record
from worldgen_sim.usd_geometry import prim_world_matrix, usd_transform_points

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A built sample room (Lyra 2.0 layout from Gaussians, floaters and a sky shell)."""
    from worldgen_sim.io.gaussian_ply import write_gaussian_ply
    from worldgen_sim.samples import make_sample_room

    root = tmp_path_factory.mktemp("randomize")
    room = make_sample_room(seed=0, spacing=0.03, num_floaters=200, num_sky=500)
    cloud, _ = room.to_input_frame(scale=1.0, frame="opencv")
    write_gaussian_ply(root / "room.ply", cloud, layout="lyra2")
    cfg = WorldgenCfg()
    cfg.align.camera_height = room.camera_height
    cfg.collision.cache_dir = str(root / "cache")
    return build_world(root / "room.ply", root / "world", cfg=cfg).out_dir


def fresh_copy(world: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(world, target, ignore=shutil.ignore_patterns("variants", "variants.json", "world_variants.usda"))
    return target


def test_same_seed_gives_byte_identical_layers_whatever_the_workers_or_order(world, tmp_path):
    """Variant i depends on (world, config, seed, i) only: not on worker count, order or other variants."""
    one = fresh_copy(world, tmp_path, "one")
    two = fresh_copy(world, tmp_path, "two")
    randomize_world(one, variants=6, seed=11, workers=1)
    randomize_world(two, variants=6, seed=11, workers=2)
    for index in range(6):
        name = f"variants/variant_{index:04d}.usda"
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert (one / "variants.json").read_bytes() == (two / "variants.json").read_bytes()
    alone = sample_variant(load_world_info(one), RandomizeCfg(), seed=11, index=4)
    recorded = json.loads((one / "variants.json").read_text())["variants"][4]
    assert json.loads(json.dumps(alone.to_dict(), sort_keys=True)) == recorded
    other_seed = sample_variant(load_world_info(one), RandomizeCfg(), seed=12, index=4)
    assert other_seed.materials != alone.materials


def test_variants_are_small_layers_over_the_base_world(world, tmp_path):
    """Each variant sublayers ../world.usda, copies no mesh, and stays under 100 KB."""
    from pxr import Sdf

    out = fresh_copy(world, tmp_path, "small")
    result = randomize_world(out, variants=5, seed=0)
    for path in result.files:
        assert path.stat().st_size <= 100_000, (path, path.stat().st_size)
        layer = Sdf.Layer.FindOrOpen(str(path))
        assert "../world.usda" in list(layer.subLayerPaths)
        meshes = _mesh_specs(layer)
        assert not meshes, f"{path} defines meshes {meshes}: variants must reference, not copy"


def _mesh_specs(layer) -> list:
    """Paths of Mesh prim specs authored in one layer (not composed)."""
    found: list = []

    def visit(path):
        spec = layer.GetPrimAtPath(path)
        if spec is not None and spec.typeName == "Mesh":
            found.append(path)

    layer.Traverse("/", visit)
    return found


def test_composed_variant_carries_its_sampled_values(world, tmp_path):
    """Opening a variant through USD shows the friction, poses, lights, spawn set and tint it recorded."""
    from pxr import Usd, UsdGeom, UsdLux

    out = fresh_copy(world, tmp_path, "composed")
    randomize_world(out, variants=3, seed=5)
    values = json.loads((out / "variants.json").read_text())["variants"][2]
    stage = Usd.Stage.Open(str(out / "variants" / "variant_0002.usda"))
    for cls, expected in values["materials"].items():
        prim = stage.GetPrimAtPath(f"/World/Physics/Materials/{cls}")
        assert prim.GetAttribute("physics:staticFriction").Get() == pytest.approx(expected["static_friction"])
        assert prim.GetAttribute("physics:dynamicFriction").Get() <= prim.GetAttribute("physics:staticFriction").Get()
    cache = UsdGeom.XformCache()
    for move in values["moves"]:
        prim = stage.GetPrimAtPath(f"/World/Collision/Objects/{move['name']}")
        moved = np.asarray(cache.GetLocalToWorldTransform(prim).ExtractTranslation())
        assert moved == pytest.approx(move["centre"], abs=1e-4)
    dome = UsdLux.DomeLight(stage.GetPrimAtPath("/World/Lights/Dome"))
    assert dome.GetIntensityAttr().Get() == pytest.approx(values["lighting"]["dome_intensity"])
    active = stage.GetPrimAtPath("/World/Navigation/SpawnPoints").GetAttribute("primvars:worldgen:active").Get()
    assert np.flatnonzero(np.asarray(active)).tolist() == values["spawn_active"]
    assert 0 < len(values["spawn_active"]) <= len(active)
    for item in values["distractors"]:
        prim = stage.GetPrimAtPath(f"/World/Distractors/{item['name']}")
        assert prim.IsValid() and "PhysicsRigidBodyAPI" in prim.GetAppliedSchemas()

    visual = Usd.Stage.Open(str(out / "visual.usdc"))  # kept alive: a prim of a dropped stage is invalid
    base = UsdGeom.Mesh(visual.GetPrimAtPath("/World/Visual/Mesh"))
    original = np.asarray(base.GetDisplayColorPrimvar().Get())
    tinted = np.asarray(UsdGeom.Mesh(stage.GetPrimAtPath("/World/Visual/Mesh")).GetDisplayColorPrimvar()
                        .ComputeFlattened())
    assert tinted.shape == original.shape
    expected = np.clip(original * np.asarray(values["appearance"]["tint"]), 0, 1)
    # A palette colour is the mean of its 1/12-wide bin: within one bin (times the tint) of each vertex's
    # exactly tinted colour, and on average far closer.
    assert np.abs(tinted - expected).max() <= 1.15 / 12 + 1e-3
    assert np.abs(tinted - expected).mean() < 0.02
    # The objects' own visual meshes (objects.usdc) take the same tint from their part of the palette.
    objects = Usd.Stage.Open(str(out / "objects.usdc"))
    meshes = [p for p in objects.Traverse() if p.GetName() == "Visual" and p.GetTypeName() == "Mesh"]
    assert meshes
    for prim in meshes:
        original = np.asarray(UsdGeom.Mesh(prim).GetDisplayColorPrimvar().Get())
        tinted = np.asarray(UsdGeom.Mesh(stage.GetPrimAtPath(prim.GetPath())).GetDisplayColorPrimvar()
                            .ComputeFlattened())
        expected = np.clip(original * np.asarray(values["appearance"]["tint"]), 0, 1)
        assert tinted.shape == original.shape and np.abs(tinted - expected).max() <= 1.15 / 12 + 1e-3


def test_moved_objects_rest_without_interpenetration(world, tmp_path):
    """Read back from USD (world-frame hulls, static mesh vertices and face centres): no moved object
    overlaps a static collider or another object by more than 5 mm."""
    from pxr import Usd
    from scipy.spatial import ConvexHull

    out = fresh_copy(world, tmp_path, "poses")
    cfg = load_randomize_config(data={"objects": {"moves": 3, "max_shift": 0.3, "max_yaw": 45}})
    randomize_world(out, variants=8, seed=2, cfg=cfg)
    moved_any = 0
    for index in range(8):
        record = read_variant_record(out / "variants" / f"variant_{index:04d}.usda")
        colliders = _world_colliders(Usd.Stage.Open(str(out / "variants" / f"variant_{index:04d}.usda")))
        for move in record["values"]["moves"]:
            moved_any += 1
            name = move["name"]
            others = np.concatenate([colliders["static"]] + [p for n, hulls in colliders["objects"].items()
                                                             if n != name for p in hulls])
            for hull_points in colliders["objects"][name]:
                planes = ConvexHull(hull_points).equations
                depth = (-(others @ planes[:, :3].T + planes[:, 3]).max(axis=1)).max()
                assert depth <= 0.005 + 1e-4, (index, name, depth)
    assert moved_any >= 8, "the room has furniture that can move; most variants should move some"


def _world_colliders(stage) -> dict:
    """World-frame collider points: static triangle-mesh vertices (densified) and each object's hulls."""
    from pxr import UsdGeom, UsdPhysics

    cache = UsdGeom.XformCache()
    static, objects = [], {}
    for prim in stage.Traverse():
        if not prim.IsA(UsdGeom.Mesh) or not str(prim.GetPath()).startswith("/World/Collision"):
            continue
        if not prim.HasAPI(UsdPhysics.CollisionAPI):
            continue  # an object's own visual mesh (the object layer), not a collider
        points = np.asarray(UsdGeom.Mesh(prim).GetPointsAttr().Get(), np.float64)
        world = usd_transform_points(points, prim_world_matrix(prim, cache=cache))
        if "/Static/" in str(prim.GetPath()):
            faces = np.asarray(UsdGeom.Mesh(prim).GetFaceVertexIndicesAttr().Get()).reshape(-1, 3)
            corners = world[faces]
            static += [world, corners.mean(axis=1)]
        else:
            objects.setdefault(prim.GetParent().GetName(), []).append(world)
    return {"static": np.concatenate(static), "objects": objects}


def _world_bounds(stage, prim_path: str, purpose: str) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned world-space (lo, hi) of a prim's geometry of one purpose, by UsdGeom.BBoxCache."""
    from pxr import Usd, UsdGeom

    cache = UsdGeom.BBoxCache(Usd.TimeCode.Default(), [purpose], useExtentsHint=False)
    box = cache.ComputeWorldBound(stage.GetPrimAtPath(prim_path)).ComputeAlignedRange()
    return np.asarray(box.GetMin(), np.float64), np.asarray(box.GetMax(), np.float64)


def _drawn_triangles(stage, prim_path: str) -> np.ndarray:
    """(T, 3, 3) world-frame corners of a mesh's triangles, less the faces listed in holeIndices."""
    from pxr import UsdGeom

    mesh = UsdGeom.Mesh(stage.GetPrimAtPath(prim_path))
    points = np.asarray(mesh.GetPointsAttr().Get(), np.float64)
    faces = np.asarray(mesh.GetFaceVertexIndicesAttr().Get(), np.int64).reshape(-1, 3)
    holes = np.asarray(mesh.GetHoleIndicesAttr().Get() or [], np.int64)
    world = usd_transform_points(points, prim_world_matrix(mesh))
    return world[np.delete(faces, holes, axis=0)]


def test_a_moved_object_takes_its_visual_mesh_and_splats_along(world, tmp_path):
    """From the USD written: a moved object's collider, visual mesh and splats move by the same rigid motion
    (world bounds by BBoxCache, checked against the move recorded in variants.json), and the fused visual
    mesh no longer draws the object where it stood."""
    from pxr import Usd

    out = fresh_copy(world, tmp_path, "visual_moves")
    cfg = load_randomize_config(data={"objects": {"moves": 2, "max_shift": 0.15, "max_yaw": 30}})
    randomize_world(out, variants=4, seed=3, cfg=cfg)
    base = Usd.Stage.Open(str(out / "world.usda"))
    moves = [(i, m) for i, v in enumerate(json.loads((out / "variants.json").read_text())["variants"])
             for m in v["moves"]]
    assert moves, "the room has furniture that can move"
    for index, move in moves:
        variant = Usd.Stage.Open(str(out / "variants" / f"variant_{index:04d}.usda"))
        xform = f"/World/Collision/Objects/{move['name']}"
        assert variant.GetPrimAtPath(f"{xform}/Visual").IsValid(), f"{move['name']} has no visual mesh of its own"
        old_centre = np.asarray(base.GetPrimAtPath(xform).GetAttribute("xformOp:translate").Get(), np.float64)
        yaw = np.radians(move["yaw"])
        rotation = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
        new_centre = np.asarray(move["centre"], np.float64)
        for child, purpose in (("Visual", "default"), ("hull_000", "guide"), ("Splats", "default")):
            if not variant.GetPrimAtPath(f"{xform}/{child}").IsValid():
                continue
            lo, hi = _world_bounds(base, f"{xform}/{child}", purpose)
            new_lo, new_hi = _world_bounds(variant, f"{xform}/{child}", purpose)
            # A yawed box's aligned bounds grow; their centre is the moved centre of the base box's centre.
            expected = rotation @ (0.5 * (lo + hi) - old_centre) + new_centre  # where the recorded move sends it
            assert 0.5 * (new_lo + new_hi) == pytest.approx(expected, abs=2e-3), (index, child)
            if move["yaw"] == 0:
                assert new_hi - new_lo == pytest.approx(hi - lo, abs=1e-4)
        # Every corner of the moved visual mesh is where the recorded move sends it (not only its box).
        visual_before = _drawn_triangles(base, f"{xform}/Visual").reshape(-1, 3)
        visual_after = _drawn_triangles(variant, f"{xform}/Visual").reshape(-1, 3)
        assert np.abs(visual_after - (visual_before - old_centre) @ rotation.T - new_centre).max() < 1e-4
        # The fused mesh draws none of the object's faces at the old place: no drawn face centroid within
        # 1 mm of one of the object's own face centroids there (without holeIndices, every one would match).
        from scipy.spatial import cKDTree

        object_centroids = _drawn_triangles(base, f"{xform}/Visual").mean(axis=1)
        background = _drawn_triangles(variant, "/World/Visual/Mesh").mean(axis=1)
        distance, _ = cKDTree(background).query(object_centroids, distance_upper_bound=1e-3)
        assert np.isinf(distance).all(), f"{np.isfinite(distance).sum()} faces of {move['name']} still drawn"
        holes = np.asarray(variant.GetPrimAtPath("/World/Visual/Mesh").GetAttribute("holeIndices").Get())
        assert len(holes) >= len(object_centroids)


def test_dynamic_objects_get_sampled_densities(world, tmp_path):
    """Rigid objects' densities are scaled within physics.density_scale and land on the object prims."""
    from pxr import Usd

    from worldgen_sim.randomize.write import write_variant

    info = load_world_info(world)
    for obj in info.objects:
        obj.rigid = True  # as a world built with --dynamic-objects reads back
    cfg = load_randomize_config(data={"physics": {"density_scale": [0.5, 0.6]}})
    variant = sample_variant(info, cfg, seed=0, index=0)
    assert set(variant.densities) == {o.name for o in info.objects}
    for obj in info.objects:
        assert 0.5 * obj.density - 1e-3 <= variant.densities[obj.name] <= 0.6 * obj.density + 1e-3
    out = fresh_copy(world, tmp_path, "density")
    (out / "variants").mkdir()
    write_variant(variant, out / "variants" / "v.usda", world=info, key="test")
    stage = Usd.Stage.Open(str(out / "variants" / "v.usda"))
    name, density = next(iter(variant.densities.items()))
    prim = stage.GetPrimAtPath(f"/World/Collision/Objects/{name}")
    assert prim.GetAttribute("physics:density").Get() == pytest.approx(density)


def test_resume_keeps_finished_variants_and_redoes_the_rest(world, tmp_path):
    """An interrupted run (missing and truncated layers) resumes; a changed config rewrites everything."""
    out = fresh_copy(world, tmp_path, "resume")
    first = randomize_world(out, variants=5, seed=3)
    assert first.written == 5
    before = {p.name: p.read_bytes() for p in first.files}
    first.files[1].unlink()
    first.files[3].write_text("#usda 1.0\n(\n")  # a torn file from a killed run
    second = randomize_world(out, variants=5, seed=3)
    assert second.written == 2
    assert {p.name: p.read_bytes() for p in second.files} == before
    changed = load_randomize_config(data={"lighting": {"dome_intensity": [10.0, 20.0]}})
    assert randomize_world(out, variants=5, seed=3, cfg=changed).written == 5


def test_variant_set_selects_each_variant(world, tmp_path):
    from pxr import Usd

    out = fresh_copy(world, tmp_path, "variantset")
    randomize_world(out, variants=3, seed=1, variant_set=True)
    stage = Usd.Stage.Open(str(out / "world_variants.usda"))
    variants = stage.GetPrimAtPath("/World").GetVariantSet("randomization")
    assert variants.GetVariantNames() == ["variant_0000", "variant_0001", "variant_0002"]
    values = json.loads((out / "variants.json").read_text())["variants"]
    variants.SetVariantSelection("variant_0001")
    friction = stage.GetPrimAtPath("/World/Physics/Materials/floor").GetAttribute("physics:staticFriction").Get()
    assert friction == pytest.approx(values[1]["materials"]["floor"]["static_friction"])
    assert stage.GetPrimAtPath("/World/Collision/Static").IsValid(), "the variant brings the whole base world"


def test_a_variant_passes_the_validators_and_the_drop_test(world, tmp_path):
    from usd_checks import assert_valid_usd

    from worldgen_sim.verify.drop_test import run_drop_test
    from worldgen_sim.verify.verify_cfg import VerifyCfg

    out = fresh_copy(world, tmp_path, "valid")
    result = randomize_world(out, variants=2, seed=9)
    assert_valid_usd(result.files[1])
    drop = run_drop_test(result.files[1], cfg=VerifyCfg(num_probes=12))
    assert drop.ok, drop.reasons


@pytest.mark.parametrize(("data", "fragment"), [
    ({"physics": {"frction": 1}}, "unknown key 'physics.frction'"),
    ({"physics": {"default": {"static_friction": [1.0, 0.5]}}}, "'physics.default.static_friction' is an inverted"),
    ({"physics": {"classes": {"floor": {"dynamic_friction": [-0.2, 0.5]}}}},
     "'physics.classes.floor.dynamic_friction' must lie within"),
    ({"physics": {"default": {"restitution": [0.0, 1.5]}}}, "'physics.default.restitution' must lie within"),
    ({"lighting": {"sun_elevation": [10, "high"]}}, "'lighting.sun_elevation' must be a range"),
    ({"distractors": {"shapes": ["cone"]}}, "'distractors.shapes'"),
    ({"objects": {"moves": -1}}, "'objects.moves' must be >= 0"),
])
def test_bad_config_names_the_key(data, fragment):
    with pytest.raises(WorldgenError, match=None) as caught:
        load_randomize_config(data=data)
    assert fragment in str(caught.value)


def test_more_moves_than_objects_and_unknown_class_are_refused(world, tmp_path):
    out = fresh_copy(world, tmp_path, "refused")
    with pytest.raises(WorldgenError, match="'objects.moves' is 99"):
        randomize_world(out, variants=1, cfg=load_randomize_config(data={"objects": {"moves": 99}}))
    with pytest.raises(WorldgenError, match="'physics.classes.lava'"):
        randomize_world(out, variants=1, cfg=load_randomize_config(data={"physics": {"classes": {"lava": {}}}}))
    assert not (out / "variants.json").exists()


def test_cli_randomize_and_its_errors(world, tmp_path):
    out = fresh_copy(world, tmp_path, "cli")
    bad = tmp_path / "bad.yaml"
    bad.write_text("physics:\n  density_scale: [2.0, 1.0]\n")
    run = [sys.executable, "-m", "worldgen_sim.cli", "randomize", str(out)]
    failed = subprocess.run(run + ["--variants", "2", "--config", str(bad)], capture_output=True, text=True)
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0 and "physics.density_scale" in failed.stderr
    done = subprocess.run(run + ["--variants", "2", "--seed", "4", "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(json.loads((out / "variants.json").read_text())["variants"]) == 2


def test_isaaclab_event_terms_use_the_same_ranges():
    cfg = load_randomize_config(data={"physics": {"classes": {"floor": {"static_friction": [0.9, 1.2]}},
                                                  "density_scale": [0.8, 1.5]},
                                      "lighting": {"sun_elevation": [30, 40]}, "appearance": {"tint": [0.9, 1.1]}})
    params = event_term_params(cfg)
    assert params["physics_material"]["static_friction_range"] == (0.9, 1.2)
    assert params["physics_material"]["dynamic_friction_range"] == cfg.physics.default.dynamic_friction
    assert params["object_mass"]["mass_distribution_params"] == (0.8, 1.5)
    assert params["lights"]["ranges"]["sun_elevation"] == (30.0, 40.0)
    assert params["appearance"]["tint"] == (0.9, 1.1)
    try:
        import isaaclab  # noqa: F401
    except ImportError:
        with pytest.raises(WorldgenError, match="isaaclab"):
            make_event_terms(cfg)
    else:
        terms = make_event_terms(cfg, mass_objects=("box",))
        assert set(terms) == {"physics_material", "box_mass", "lights", "appearance"}


def test_run_time_pose_pool_is_the_offline_variants_moves(world, tmp_path):
    """Pose set k of the Isaac Lab object term is variant k's moves as written to its layer (same seed)."""
    from pxr import Usd

    out = fresh_copy(world, tmp_path, "pool")
    randomize_world(out, variants=4, seed=9)
    info = load_world_info(out)
    names = [obj.name for obj in info.objects]
    params = event_term_params(RandomizeCfg(), world=info, objects={f"obj_{n}": n for n in names}, num_envs=4,
                               pool_size=4, seed=9, distractors={"small": 0.1, "large": 0.25})
    pool = np.asarray(params["object_poses"]["pool"])
    assert pool.shape == (4, len(names), 7)
    moved = 0
    for index in range(4):
        stage = Usd.Stage.Open(str(out / "variants" / f"variant_{index:04d}.usda"))
        for slot, name in enumerate(names):
            prim = stage.GetPrimAtPath(f"/World/Collision/Objects/{name}")
            centre = np.asarray(prim.GetAttribute("xformOp:translate").Get(), np.float64)
            yaw = np.radians(prim.GetAttribute("xformOp:rotateZ").Get() or 0.0)
            assert pool[index, slot, :3] == pytest.approx(centre, abs=1e-4)
            assert pool[index, slot, 3:] == pytest.approx([0, 0, np.sin(yaw / 2), np.cos(yaw / 2)], abs=1e-4)
            moved += bool(np.abs(pool[index, slot, :3] - info.objects[slot].centre).max() > 1e-6)
    assert moved >= 4, "the default config moves 2 objects per variant"
    drops = np.asarray(params["distractor_poses"]["pool"])  # (sets, 2, 7): placed together, never overlapping
    placed = drops[:, :, 2] > -50
    assert placed.mean() > 0.5
    radii = np.array([0.1, 0.25]) * np.sqrt(3) / 2
    both = placed.all(axis=1)
    assert (np.linalg.norm(drops[both, 0, :3] - drops[both, 1, :3], axis=1) >= radii.sum() - 1e-6).all()
    ground = info.walkable_points
    for slot, size in enumerate((0.1, 0.25)):
        spots = drops[placed[:, slot], slot, :3]
        nearest = np.linalg.norm(ground[None, :, :2] - spots[:, None, :2], axis=2).argmin(axis=1)
        lift = spots[:, 2] - ground[nearest, 2] - size / 2
        assert np.abs(lift - RandomizeCfg().distractors.drop_height).max() < 0.05, "dropped from over walkable ground"
    spawn = params["spawn_points"]
    masks = np.asarray(spawn["active"])
    for env in range(4):  # environment e uses variant e's spawn set
        assert np.flatnonzero(masks[env]).tolist() == json.loads((out / "variants.json").read_text())[
            "variants"][env]["spawn_active"]


class _Scene:
    """Stand-in for Isaac Lab's InteractiveScene: a usd-core stage and rigid objects that record poses."""

    def __init__(self, stage, num_envs: int, names=()) -> None:
        self.stage, self.num_envs = stage, num_envs
        self.assets = {name: _Asset() for name in names}

    def __getitem__(self, name):
        return self.assets[name]


class _Asset:
    device = "cpu"

    def __init__(self) -> None:
        self.poses, self.ids = None, None

    def write_root_pose_to_sim_index(self, *, root_pose, env_ids):
        self.poses, self.ids = root_pose.clone(), env_ids.clone()

    def write_root_velocity_to_sim_index(self, *, root_velocity, env_ids):
        assert float(root_velocity.abs().max()) == 0.0


def test_run_time_events_apply_the_distributions(world):
    """The event functions, run on a usd-core stage and recording assets: lights, tint, pose sets, spawn sets."""
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from pxr import Usd, UsdGeom

    from worldgen_sim.isaaclab.randomize_events import (
        randomize_lights,
        randomize_visual_appearance,
        reset_poses_from_pool,
        reset_to_active_spawn_points,
    )

    stage = Usd.Stage.Open(str(world / "world.usda"))
    stage.SetEditTarget(stage.GetSessionLayer())  # nothing reaches the files
    env = SimpleNamespace(scene=_Scene(stage, 6, ["a", "b", "robot"]))
    params = event_term_params(load_randomize_config(data={"lighting": {"sun_elevation": [30, 40]}}),
                               world=load_world_info(world), num_envs=6)
    values = randomize_lights(env, None, seed=1, **params["lights"])
    sun = stage.GetPrimAtPath("/World/Lights/Sun")
    assert sun.GetAttribute("inputs:intensity").Get() == pytest.approx(values["sun_intensity"])
    towards_sun = np.asarray(UsdGeom.Xformable(sun).ComputeLocalToWorldTransform(0).TransformDir((0, 0, 1)))
    assert np.degrees(np.arcsin(towards_sun[2])) == pytest.approx(values["sun_elevation"], abs=0.01)
    assert 30 <= values["sun_elevation"] <= 40

    mesh = UsdGeom.Mesh(stage.GetPrimAtPath("/World/Visual/Mesh")).GetDisplayColorPrimvar()
    base = np.asarray(mesh.Get())
    assert len(params["appearance"]["mesh_paths"]) > 1, "the objects' own meshes are tinted too"
    for seed in (1, 2):  # tints never compound: each call scales the colours the world was built with
        look = randomize_visual_appearance(env, None, seed=seed, **params["appearance"])
        assert np.asarray(mesh.Get()) == pytest.approx(np.clip(base * look["tint"], 0, 1), abs=1e-6)

    pool = np.random.default_rng(0).normal(size=(5, 2, 7)).astype(np.float32)
    reset_poses_from_pool(env, torch.tensor([1, 4]), pool, ["a", "b"])
    rows = [int(np.argmin(np.abs(pool[:, 0] - p.numpy()).sum(axis=1))) for p in env.scene["a"].poses]
    assert np.allclose(env.scene["b"].poses.numpy(), pool[rows, 1]), "both assets take the same pose set"
    assert env.scene["a"].ids.tolist() == [1, 4]

    spawn = params["spawn_points"]
    active = np.asarray(spawn["active"])
    for _ in range(5):
        reset_to_active_spawn_points(env, None, spawn["spawn_poses"], active, SimpleNamespace(name="robot"),
                                     height=0.5)
        pose = env.scene["robot"].poses.numpy()
        points = np.asarray(spawn["spawn_poses"])[:, :2]
        picked = np.argmin(np.linalg.norm(points[None] - pose[:, None, :2], axis=2), axis=1)
        assert active[np.arange(6), picked].all(), "a robot landed on a spawn point its environment left out"
        assert pose[:, 2] == pytest.approx(np.asarray(spawn["spawn_poses"])[picked, 2] + 0.5, abs=1e-5)
        assert np.abs(pose[:, 3:5]).max() < 1e-6 and np.linalg.norm(pose[:, 3:], axis=1) == pytest.approx(1.0)

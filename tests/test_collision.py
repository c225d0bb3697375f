"""Collision stage: segmentation, solidification, decomposition, cache, materials, physics layer.

Inputs are the sample room's ground-truth surface (an open shell: furniture has
no bottoms and no faces against walls), subdivided and jittered by 1 mm to look
like a reconstructed mesh; the furniture boxes give the true solids.
"""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.artifacts import TriangleMesh
from worldgen_sim.collision.collision import build_collision
from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.errors import WorldgenError

FURNITURE_GROUPS = {"table": "table", "cabinet": "cabinet", "sofa": "sofa", "crate": "crate"}


def subdivide(mesh: TriangleMesh, max_edge: float) -> TriangleMesh:
    """Split triangles until no edge is longer than ``max_edge`` [m], as a reconstruction would have them."""
    import trimesh

    vertices, faces = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, max_edge)
    return TriangleMesh(vertices.astype(np.float32), faces.astype(np.int32))


def jitter(mesh: TriangleMesh, sigma: float, seed: int = 0) -> TriangleMesh:
    rng = np.random.default_rng(seed)
    return TriangleMesh((mesh.vertices + rng.normal(0, sigma, mesh.vertices.shape)).astype(np.float32), mesh.faces)


@pytest.fixture(scope="module")
def room(coarse_room):
    return coarse_room


@pytest.fixture(scope="module")
def scan(room):
    return jitter(subdivide(room.ground_truth_mesh(), 0.15), 0.001)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("coacd_cache")


@pytest.fixture(scope="module")
def world(scan, cache_dir):
    return build_collision(scan, cfg=CollisionCfg(cache_dir=str(cache_dir), workers=2))


def furniture_boxes(room) -> dict[str, list]:
    groups: dict[str, list] = {}
    for box in room.furniture:
        groups.setdefault(box.semantic_class, []).append(box)
    return groups


def points_in_hulls(points: np.ndarray, hulls) -> np.ndarray:
    """(P,) bool: inside any convex hull, by half-space tests vectorised over points."""
    inside = np.zeros(points.shape[0], bool)
    for hull in hulls:
        tri = hull.vertices.astype(np.float64)[hull.faces]
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        offsets = np.einsum("ij,ij->i", normals, tri[:, 0])
        lo, hi = hull.vertices.min(axis=0), hull.vertices.max(axis=0)
        near = np.flatnonzero(np.all((points >= lo - 1e-6) & (points <= hi + 1e-6), axis=1))
        inside[near] |= np.all(points[near] @ normals.T <= offsets + 1e-9, axis=1)
    return inside


@pytest.mark.parametrize("variant", ["ground_truth", "scan"])
def test_segmentation_finds_shell_and_furniture(room, scan, variant):
    from worldgen_sim.collision.segment import segment_surface

    mesh = room.ground_truth_mesh() if variant == "ground_truth" else scan
    seg = segment_surface(mesh.vertices, mesh.faces, cfg=CollisionCfg())
    classes = sorted(p.semantic_class for p in seg.static)
    assert classes == ["ceiling", "floor", "wall", "wall", "wall", "wall"]
    floor = next(p for p in seg.static if p.semantic_class == "floor")
    assert floor.kind == "ground" and floor.normal[2] > 0.999 and abs(floor.offset) < 0.01
    ceiling = next(p for p in seg.static if p.semantic_class == "ceiling")
    assert ceiling.normal[2] < -0.999 and abs(-ceiling.offset - room.size[2]) < 0.01
    # The cabinet's 1.8 m tall front and the sofa's 1.8 m^2 seat are large planes but not shell:
    # every piece of furniture comes out whole.
    assert len(seg.objects) == len(furniture_boxes(room))
    assert all(c == "furniture" for c in seg.object_classes)
    vertices = np.asarray(mesh.vertices, np.float64)
    for boxes in furniture_boxes(room).values():
        lo = np.min([b.lo for b in boxes], axis=0)
        hi = np.max([b.hi for b in boxes], axis=0)
        match = [o for o in seg.objects
                 if np.allclose(vertices[mesh.faces[o]].reshape(-1, 3).min(0), lo, atol=0.02)
                 and np.allclose(vertices[mesh.faces[o]].reshape(-1, 3).max(0), hi, atol=0.02)]
        assert len(match) == 1, f"no single object matches furniture box {lo} .. {hi}"


def test_world_classes_hull_limits_and_report(world):
    classes = sorted(p.semantic_class for p in world.static_parts)
    assert classes == ["ceiling", "floor", "wall", "wall", "wall", "wall"]
    assert len(world.objects) == 4
    from worldgen_sim.collision.hulls import hull_polygon_count

    for obj in world.objects:
        assert obj.hulls and obj.fallback is None
        for hull in obj.hulls:
            assert 4 <= hull.vertices.shape[0] <= 64 and hull_polygon_count(hull.vertices, hull.faces) <= 64
            tri = hull.vertices.astype(np.float64)[hull.faces]
            assert np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() > 0  # outward
    report = world.report
    assert report["decompositions"] == 4 and report["cache_hits"] == 0 and not report["segmentation_cached"]
    assert report["fallbacks"] == [] and not any(report["fallback_counts"].values())
    assert set(report["caches"]) == {"segmentation", "decomposition"} and "timings" not in report
    assert set(world.materials) >= {"floor", "wall", "ceiling", "furniture", "object"}


def test_phantom_volume_and_coverage(room, world):
    rng = np.random.default_rng(1)
    half = room.size / 2
    points = rng.uniform([-half[0], -half[1], 0.0], [half[0], half[1], room.size[2]], (400_000, 3))
    hulls = [h for o in world.objects for h in o.hulls]
    inside_hull = points_in_hulls(points, hulls)
    solid = room.inside_furniture(points)
    phantom = (inside_hull & ~solid).sum() / (~solid).sum()
    assert phantom <= 0.01, f"{phantom:.2%} of the empty room lies inside colliders"
    coverage = (inside_hull & solid).sum() / solid.sum()
    assert coverage >= 0.95, f"colliders cover only {coverage:.1%} of the furniture"


def test_hull_volume_matches_true_object_volume(room, world):
    truth = {cls: sum(float(np.prod(b.hi - b.lo)) for b in boxes) for cls, boxes in furniture_boxes(room).items()}
    volumes = sorted((o.hull_volume, o.volume) for o in world.objects)
    for (hull_volume, solid_volume), true_volume in zip(volumes, sorted(truth.values())):
        assert abs(solid_volume - true_volume) <= 0.08 * true_volume
        assert abs(hull_volume - true_volume) <= 0.10 * true_volume


def test_object_tops_are_collided_at_the_true_height(room, world):
    """Vertical probes over each furniture top hit the colliders within 3 cm of the true top."""
    hulls = [h for o in world.objects for h in o.hulls]
    rng = np.random.default_rng(2)
    for box in room.furniture:
        if box.name.startswith("table_leg"):
            continue
        xy = rng.uniform(box.lo[:2] + 0.03, box.hi[:2] - 0.03, (50, 2))
        heights = np.linspace(0, room.size[2], 541)
        grid = np.column_stack([np.repeat(xy, heights.size, axis=0), np.tile(heights, xy.shape[0])])
        inside = points_in_hulls(grid, hulls).reshape(xy.shape[0], heights.size)
        top = np.array([heights[np.flatnonzero(row)].max() if row.any() else -1.0 for row in inside])
        assert np.all(np.abs(top - box.hi[2]) <= 0.03), f"{box.name}: tops {top.min():.3f}..{top.max():.3f}"


def test_cached_rebuild_does_no_decomposition(scan, cache_dir, world):
    again = build_collision(scan, cfg=CollisionCfg(cache_dir=str(cache_dir), workers=2))
    assert again.report["decompositions"] == 0 and again.report["segmentation_cached"]
    assert again.report["cache_hits"] == len(world.objects)
    for a, b in zip(world.objects, again.objects):
        assert len(a.hulls) == len(b.hulls)
        assert all(np.array_equal(x.vertices, y.vertices) for x, y in zip(a.hulls, b.hulls))
    # Any change of geometry or setting is a different key (library versions: tests/test_cache.py).
    from worldgen_sim.collision.decompose import DecomposeTask, decomposition_key

    obj = world.objects[0]
    task = DecomposeTask(obj.name, obj.mesh.vertices, obj.mesh.faces, 0.0)
    key = decomposition_key(task, CollisionCfg())
    moved = DecomposeTask(obj.name, obj.mesh.vertices + np.float32(1e-4), obj.mesh.faces, 0.0)
    assert key == decomposition_key(task, CollisionCfg())
    assert key == decomposition_key(task, CollisionCfg(workers=1, object_timeout=5))  # not a result setting
    assert key != decomposition_key(moved, CollisionCfg())
    assert key != decomposition_key(task, CollisionCfg(max_hull_vertices=32))
    clutter = DecomposeTask(obj.name, obj.mesh.vertices, obj.mesh.faces, 0.0, "clutter")
    assert key != decomposition_key(clutter, CollisionCfg())
    lookups = again.report["caches"]["decomposition"]["lookups"]
    assert [entry["hit"] for entry in lookups] == [True] * len(world.objects)


def reconstruction_like(room, yaw_deg: float = 8.0) -> tuple[TriangleMesh, np.ndarray]:
    """The room turned ``yaw_deg`` about z, jittered by 3 mm, with the table top's surface doubled 1 cm
    under itself (as a TSDF does to thin parts): the failure modes of a reconstructed mesh for
    grid-based solids. Returns the mesh and the (3, 3) room-to-world rotation."""
    mesh = jitter(subdivide(room.ground_truth_mesh(), 0.1), 0.003, seed=1)
    yaw = np.radians(yaw_deg)
    rotation = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    vertices = mesh.vertices.astype(np.float64)
    tri = vertices[mesh.faces]
    top = next(b for b in room.furniture if b.name == "table_top")
    on_top = np.all(np.abs(tri[..., 2] - top.hi[2]) < 0.01, axis=1)
    doubled = vertices[mesh.faces[on_top]].reshape(-1, 3) - [0, 0, 0.01]
    faces = np.arange(doubled.shape[0], dtype=np.int32).reshape(-1, 3) + vertices.shape[0]
    vertices = np.concatenate([vertices, doubled]) @ rotation.T
    return TriangleMesh(vertices.astype(np.float32), np.concatenate([mesh.faces, faces]).astype(np.int32)), rotation


def test_reconstruction_like_room_is_fitted_with_few_tight_boxes(room, tmp_path):
    mesh, rotation = reconstruction_like(room)
    world = build_collision(mesh, cfg=CollisionCfg(cache_dir=str(tmp_path), workers=2))  # speed: bench_collision.py
    assert len(world.objects) == 4 and world.report["fallbacks"] == []
    # Boxes in each object's own frame: a table is its top and four legs, not a CoACD staircase.
    assert all(e["method"] == "boxes" for e in world.report["objects"]), world.report["objects"]
    assert sorted(len(o.hulls) for o in world.objects) == [1, 1, 1, 5]
    hulls = [h for o in world.objects for h in o.hulls]
    assert all(h.vertices.shape[0] <= 64 for h in hulls)
    rng = np.random.default_rng(1)
    half = room.size / 2
    points = rng.uniform([-half[0], -half[1], 0.0], [half[0], half[1], room.size[2]], (300_000, 3))
    inside_hull = points_in_hulls(points @ rotation.T, hulls)
    solid = room.inside_furniture(points)
    phantom = (inside_hull & ~solid).sum() / (~solid).sum()
    assert phantom <= 0.01, f"{phantom:.2%} of the empty room lies inside colliders"
    assert (inside_hull & solid).sum() / solid.sum() >= 0.9
    for box in room.furniture:
        if box.name.startswith("table_leg"):
            continue
        xy = rng.uniform(box.lo[:2] + 0.03, box.hi[:2] - 0.03, (30, 2))
        heights = np.linspace(0, room.size[2], 541)
        grid = np.column_stack([np.repeat(xy, heights.size, axis=0), np.tile(heights, xy.shape[0])])
        inside = points_in_hulls(grid @ rotation.T, hulls).reshape(xy.shape[0], heights.size)
        top = np.array([heights[np.flatnonzero(row)].max() if row.any() else -1.0 for row in inside])
        assert np.all(np.abs(top - box.hi[2]) <= 0.03), f"{box.name}: tops {top.min():.3f}..{top.max():.3f}"


def test_coacd_path_closes_a_reconstruction_like_table(room):
    """With the box fit off, the table goes through solidify + CoACD in its own frame: the doubled
    top must not close its columns on the floor (phantom), and the hulls keep PhysX's limits."""
    from worldgen_sim.collision.decompose import decompose_one
    from worldgen_sim.collision.hulls import hull_polygon_count

    mesh, rotation = reconstruction_like(room)
    centroids = mesh.vertices.astype(np.float64)[mesh.faces].mean(axis=1) @ rotation  # back to the room frame
    table = np.all((centroids > [-0.62, 0.38, 0.02]) & (centroids < [0.62, 1.22, 0.77]), axis=1)
    used, inverse = np.unique(mesh.faces[table], return_inverse=True)
    result = decompose_one(mesh.vertices[used], inverse.reshape(-1, 3), ground_height=0.0,
                           cfg=CollisionCfg(max_boxes=0))
    true_volume = 1.2 * 0.8 * 0.05 + 4 * 0.05 * 0.05 * 0.7
    assert result.method == "coacd" and result.fallback is None
    assert abs(result.volume - true_volume) <= 0.2 * true_volume  # 2 cm cells: legs lose a little
    assert abs(result.hull_volume - true_volume) <= 0.25 * true_volume
    for vertices, faces in result.hulls:
        assert vertices.shape[0] <= 64 and hull_polygon_count(vertices, faces) <= 64


def test_timeout_gets_a_voxel_cover_and_is_counted(scan, tmp_path):
    """An object out of time is covered with boxes near its surface (not one hull), counted by kind."""
    from worldgen_sim.collision.hulls import hull_polygon_count

    # Box fits run in the main process (milliseconds, no limit): turn them off so CoACD's workers run.
    world = build_collision(scan, cfg=CollisionCfg(cache_dir=str(tmp_path), workers=2, object_timeout=1e-3,
                                                   convex_tolerance=0.0, max_boxes=0))
    assert len(world.objects) == 4
    timed_out = [e for e in world.report["objects"] if e["fallback_kind"] == "timeout"]
    # The table needs CoACD (about a second); a box may solidify within the limit.
    assert len(timed_out) >= 1 and all("timed out" in e["fallback"] and e["method"] == "cover" for e in timed_out)
    table = next(e for e in world.report["objects"] if e["hulls"] > 1 and e["fallback_kind"] == "timeout")
    assert table["hull_volume"] <= 1.5 * table["volume"]
    for obj in world.objects:
        for hull in obj.hulls:
            assert hull.vertices.shape[0] <= 64 and hull_polygon_count(hull.vertices, hull.faces) <= 64
    assert world.report["fallback_counts"]["timeout"] == len(timed_out)
    assert {f["name"] for f in world.report["fallbacks"]} == {e["name"] for e in timed_out}
    # Time-dependent outcomes are not cached: a rebuild decomposes them again.
    again = build_collision(scan, cfg=CollisionCfg(cache_dir=str(tmp_path), workers=2, convex_tolerance=0.0,
                                                   max_boxes=0))
    assert again.report["fallback_counts"]["timeout"] == 0 and again.report["decompositions"] >= len(timed_out)


def test_worker_error_and_degenerate_pieces(tmp_path):
    from worldgen_sim.collision.decompose import DecomposeTask, decompose_objects

    box = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], np.float32)
    top = np.array([[4, 5, 6], [4, 6, 7]], np.int32)
    nan_box = box.copy()
    nan_box[5] = np.nan
    flat = np.array([[0, 0, 0], [1, 0, 0], [1, 0, 1], [0, 0, 1]], np.float32)  # vertical sheet, no top
    tasks = [
        DecomposeTask("nan", nan_box, top, 0.0),
        DecomposeTask("sheet", flat, np.array([[0, 1, 2], [0, 2, 3]], np.int32), 0.0),
        DecomposeTask("line", np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0]], np.float32),
                      np.array([[0, 1, 2]], np.int32), 0.0),
    ]
    results = decompose_objects(tasks, cfg=CollisionCfg(object_timeout=30, workers=1))
    # The worker raised on the NaN vertex: the finite half of the top is covered down to the ground.
    assert results[0].fallback_kind == "error" and "decomposition failed" in results[0].fallback
    assert results[0].method == "cover" and 0.4 <= results[0].hull_volume <= 0.6
    # A standing sheet (a board seen from one side) blocks as a thin wall, not as nothing.
    assert results[1].method in ("boxes", "cover") and results[1].hulls
    assert results[2].method == "empty" and results[2].hulls == []


def test_floating_sheet_is_dropped_as_a_floater_and_bad_faces_reported(room, tmp_path):
    mesh = room.ground_truth_mesh()
    extra_v = np.array([[0, 0, 1.5], [0.4, 0, 1.5], [0.4, 0, 1.9],  # a floating vertical sheet
                        [1, 1, 1], [1, 1, 1], [1, 1, 1],  # zero-area triangle
                        [np.nan, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    base = mesh.vertices.shape[0]
    extra_f = base + np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]], np.int32)
    bad = TriangleMesh(np.concatenate([mesh.vertices, extra_v]), np.concatenate([mesh.faces, extra_f]))
    world = build_collision(bad, cfg=CollisionCfg(cache_dir=str(tmp_path), workers=2, object_timeout=30))
    assert world.report["invalid_faces_dropped"] == 1
    assert len(world.objects) == 4  # the furniture is all still there
    assert world.report["dropped"] == {"floater_thin": 1}
    floater = world.report["segmentation"]["dropped"]["floaters"][0]
    assert floater["reason"] == "floater_thin" and floater["height_above_ground"] == pytest.approx(1.5, abs=0.01)
    with pytest.raises(WorldgenError, match="face indices"):
        build_collision(TriangleMesh(mesh.vertices, mesh.faces + 10_000), cfg=CollisionCfg(cache_dir=str(tmp_path)))


def test_material_library_overrides_and_errors(tmp_path):
    from worldgen_sim.collision.materials import load_material_library

    good = tmp_path / "good.yaml"
    good.write_text("materials:\n  floor: {static_friction: 1.1}\n"
                    "  rubber: {static_friction: 1.2, dynamic_friction: 1.0,"
                    " restitution: 0.6, density: 1100}\n")
    library = load_material_library(good)
    assert library["floor"].static_friction == 1.1 and library["floor"].dynamic_friction == 0.7
    assert library["rubber"].restitution == 0.6 and "wall" in library

    negative = tmp_path / "negative.yaml"
    negative.write_text("materials:\n  wall: {dynamic_friction: -0.2}\n")
    with pytest.raises(WorldgenError, match=r"negative\.yaml.*materials\.wall\.dynamic_friction.*>= 0"):
        load_material_library(negative)
    missing = tmp_path / "missing.yaml"
    missing.write_text("replace_defaults: true\nmaterials:\n  floor: {static_friction: 1, dynamic_friction: 1,"
                       " restitution: 0, density: 1000}\n")
    with pytest.raises(WorldgenError, match=r"missing\.yaml.*lacks required class.*wall"):
        load_material_library(missing)
    for text, pattern in [
        ("materials:\n  sofa: {static_friction: 0.5}\n", "new class"),
        ("materials:\n  floor: {restitution: 1.5}\n", r"\[0, 1\]"),
        ("materials:\n  floor: {density: 0}\n", "> 0"),
        ("materials:\n  floor: {frictoin: 0.5}\n", "unknown field"),
        ("materials: [1, 2]\n", "mapping"),
    ]:
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(WorldgenError, match=pattern):
            load_material_library(path)
    with pytest.raises(WorldgenError, match="negative.yaml"):
        build_collision(TriangleMesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)),
                        cfg=CollisionCfg(materials=str(negative)))


@pytest.mark.slow
def test_physics_layer_is_valid_and_complete(world, tmp_path):
    import dataclasses

    from pxr import Usd, UsdGeom, UsdPhysics, UsdSemantics, UsdShade, UsdValidation

    from worldgen_sim.exporters.usd_physics import write_physics_layer

    cfg = CollisionCfg(dynamic_objects=True)
    dynamic = dataclasses.replace(world, dynamic_objects=True)
    path = tmp_path / "physics.usdc"
    write_physics_layer(path, dynamic, cfg=cfg)
    stage = Usd.Stage.Open(str(path))
    assert stage.GetDefaultPrim().GetPath() == "/World"
    colliders = [p for p in stage.Traverse() if p.HasAPI(UsdPhysics.CollisionAPI)]
    assert len(colliders) == len(world.static_parts) + sum(len(o.hulls) for o in world.objects)
    for prim in colliders:
        approx = UsdPhysics.MeshCollisionAPI(prim).GetApproximationAttr().Get()
        static = prim.GetPath().pathString.startswith("/World/Collision/Static/")
        assert approx == ("none" if static else "convexHull")
        assert UsdGeom.Imageable(prim).GetPurposeAttr().Get() == "guide"
        binding = UsdShade.MaterialBindingAPI(prim).GetDirectBinding(materialPurpose="physics")
        assert binding.GetMaterial() and binding.GetMaterial().GetPrim().HasAPI(UsdPhysics.MaterialAPI)
        assert prim.GetAttribute("physxCollision:contactOffset").Get() == pytest.approx(cfg.contact_offset)
        if not static:
            assert prim.GetAttribute("physxConvexHullCollision:hullVertexLimit").Get() == 64
            assert len(UsdGeom.Mesh(prim).GetPointsAttr().Get()) <= 64
    for obj in world.objects:
        prim = stage.GetPrimAtPath(f"/World/Collision/Objects/{obj.name}")
        assert prim.HasAPI(UsdPhysics.RigidBodyAPI)
        assert UsdPhysics.MassAPI(prim).GetDensityAttr().Get() == world.materials[obj.semantic_class].density
        assert UsdSemantics.LabelsAPI(prim, "class").GetLabelsAttr().Get() == [obj.semantic_class]
    floor = stage.GetPrimAtPath("/World/Collision/Static/floor_0")
    assert UsdSemantics.LabelsAPI(floor, "class").GetLabelsAttr().Get() == ["floor"]
    scene = UsdPhysics.Scene(stage.GetPrimAtPath("/World/PhysicsScene"))
    assert tuple(scene.GetGravityDirectionAttr().Get()) == (0, 0, -1)
    assert scene.GetGravityMagnitudeAttr().Get() == pytest.approx(9.81)

    registry = UsdValidation.ValidationRegistry()
    context = UsdValidation.ValidationContext(registry.GetOrLoadAllValidators())
    errors = [e for e in context.Validate(stage) if e.GetType() == UsdValidation.ValidationErrorType.Error]
    assert errors == [], [e.GetMessage() for e in errors]
    # The validator does catch problems: a stage without a default prim fails it.
    broken = Usd.Stage.CreateInMemory()
    UsdGeom.Xform.Define(broken, "/X")
    assert any(e.GetType() == UsdValidation.ValidationErrorType.Error for e in context.Validate(broken))

    omni = pytest.importorskip("omni.asset_validator")
    result = omni.ValidationEngine().validate(str(path))
    failures = [i for i in result.issues() if i.severity.name in ("ERROR", "FAILURE")]
    assert failures == [], [str(i.message) for i in failures]


def _table_task(room):
    from worldgen_sim.collision.decompose import DecomposeTask

    mesh, rotation = reconstruction_like(room)
    centroids = mesh.vertices.astype(np.float64)[mesh.faces].mean(axis=1) @ rotation
    table = np.all((centroids > [-0.62, 0.38, 0.02]) & (centroids < [0.62, 1.22, 0.77]), axis=1)
    used, inverse = np.unique(mesh.faces[table], return_inverse=True)
    return DecomposeTask("table", mesh.vertices[used], inverse.reshape(-1, 3).astype(np.int32), 0.0), rotation


@pytest.mark.slow
def test_solid_that_crashes_coacd_is_decomposed_on_a_coarser_retry():
    """A rock of the terrain scene written as a Y-up INRIA PLY (held-out sweep, 2026-12-05): CoACD 1.0.14
    crashed (SIGSEGV) on its 2 cm and 3 cm solids whatever the seed, threshold, decimation or resolution,
    so the old retries (same cell twice, then 1.5x) all crashed and it fell back to a voxel cover. Retries
    coarsen by half a cell each: the 4 cm solid decomposes, with no crash fallback."""
    from pathlib import Path

    from worldgen_sim.collision.decompose import DecomposeTask, decompose_objects

    data = np.load(Path(__file__).parent / "golden" / "coacd_crash_rock.npz")
    task = DecomposeTask("rock", data["vertices"], data["faces"], float(data["ground_height"]),
                         ground_triangles=data["ground_triangles"])
    [result] = decompose_objects([task], cfg=CollisionCfg(workers=1))
    assert result.fallback_kind is None and result.method == "coacd", (result.fallback, result.retries)
    assert 0.9 * result.volume <= result.hull_volume <= 1.3 * result.volume


@pytest.mark.slow
def test_crashing_worker_is_retried_then_covered_never_one_hull(room, scan, tmp_path, monkeypatch):
    """A worker killed by SIGSEGV (the test hook) is replaced and the object retried with other settings;
    when every attempt crashes the object gets a voxel cover within the phantom budget, counted by kind."""
    from worldgen_sim.collision.decompose import CRASH_TEST_ENV, decompose_objects

    task, rotation = _table_task(room)
    true_volume = 1.2 * 0.8 * 0.05 + 4 * 0.05 * 0.05 * 0.7
    cfg = CollisionCfg(max_boxes=0, workers=1, object_timeout=120)
    monkeypatch.setenv(CRASH_TEST_ENV, "1")  # the first attempt crashes, the retry runs
    [retried] = decompose_objects([task], cfg=cfg)
    assert retried.retries == 1 and retried.fallback is None and retried.method in ("coacd", "convex")
    assert abs(retried.hull_volume - true_volume) <= 0.3 * true_volume

    monkeypatch.setenv(CRASH_TEST_ENV, "99")  # every attempt crashes
    [covered] = decompose_objects([task], cfg=CollisionCfg(max_boxes=0, workers=1, coacd_retries=1))
    assert covered.fallback_kind == "crash" and covered.retries == 1 and "2 attempts" in covered.fallback
    assert covered.method == "cover" and len(covered.hulls) > 1  # never one hull over the whole table
    assert 0.7 * true_volume <= covered.hull_volume <= 1.6 * true_volume
    # The table's free space under its top stays free: no box reaches from the floor to the top
    # anywhere but at the legs.
    hulls = [type("H", (), {"vertices": v, "faces": f}) for v, f in covered.hulls]
    under = np.column_stack([np.random.default_rng(0).uniform([-0.45, 0.55], [0.45, 1.05], (2000, 2)),
                             np.full(2000, 0.35)])
    assert points_in_hulls(under @ rotation.T, hulls).mean() < 0.01

    # Through the stage: counted in the report under fallback_counts, never cached.
    world = build_collision(scan, cfg=CollisionCfg(cache_dir=str(tmp_path), workers=2, max_boxes=0,
                                                   convex_tolerance=0.0, coacd_retries=0))
    report = world.report
    assert report["fallback_counts"]["crash"] == len(world.objects) == 4
    assert all(e["method"] == "cover" and e["fallback_kind"] == "crash" for e in report["objects"])
    assert not any(path.suffix == ".npz" for path in tmp_path.glob("*.npz"))


def _quads_mesh(quads) -> TriangleMesh:
    """Quads (origin, u, v) [m] as two triangles each, normal u x v."""
    vertices, faces = [], []
    for origin, u, v in quads:
        origin, u, v = (np.asarray(a, np.float64) for a in (origin, u, v))
        base = len(vertices)
        vertices += [origin, origin + u, origin + u + v, origin + v]
        faces += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    return TriangleMesh(np.asarray(vertices, np.float32), np.asarray(faces, np.int32))


def _open_box(lo, hi, *, top=True):
    """The four sides (outward) and optionally the top of a box: what a camera sees of it."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    dx, dy, dz = x1 - x0, y1 - y0, z1 - z0
    quads = [((x0, y0, z0), (dx, 0, 0), (0, 0, dz)), ((x0, y1, z0), (0, 0, dz), (dx, 0, 0)),
             ((x0, y0, z0), (0, 0, dz), (0, dy, 0)), ((x1, y0, z0), (0, dy, 0), (0, 0, dz))]
    if top:
        quads.append(((x0, y0, z1), (dx, 0, 0), (0, dy, 0)))
    return quads


@pytest.mark.parametrize("max_boxes", [24, 1])
def test_table_over_seen_floor_is_a_slab_on_legs_and_a_closed_crate_stays_solid(tmp_path, max_boxes):
    """A table top seen from above with the floor seen under it (no underside, as a capture has it) is a
    slab on its legs, not a block down to the floor; a crate whose floor runs on under it (an exact
    mesh's floor) is fenced by its sides and stays solid. With one box at most the table is no box fit:
    its voxel cover (coarser cells than the box fit's, so the floor must be given well around the table)
    keeps the space under the top free too."""
    top, legs = 0.74, [(-0.55, -0.35), (0.55, -0.35), (-0.55, 0.35), (0.55, 0.35)]
    quads = [((-2.0, -2.0, 0.0), (4.0, 0, 0), (0, 4.0, 0))]  # the floor, under everything
    quads += _open_box((-0.6, -0.4, top - 0.04), (0.6, 0.4, top))  # top and its 4 cm rim, no underside
    for x, y in legs:  # legs: sides only (their tops meet the unseen underside)
        quads += _open_box((x - 0.025, y - 0.025, 0.0), (x + 0.025, y + 0.025, top - 0.04), top=False)
    quads += _open_box((1.0, 1.0, 0.0), (1.5, 1.5, 0.3))  # the crate
    mesh = jitter(subdivide(_quads_mesh(quads), 0.05), 0.002)
    world = build_collision(mesh, cfg=CollisionCfg(cache_dir=str(tmp_path), workers=1, min_plane_area=50.0,
                                                   max_boxes=max_boxes))
    if max_boxes == 1:
        assert world.report["methods"] == {"boxes": 1, "cover": 1}, world.report["methods"]
    hulls = [h for o in world.objects for h in o.hulls]
    rng = np.random.default_rng(0)
    under = rng.uniform([-0.45, -0.25, 0.05], [0.45, 0.25, 0.62], (4000, 3))  # free, clear of the legs
    assert points_in_hulls(under, hulls).mean() < 0.01
    slab = rng.uniform([-0.55, -0.35, top - 0.03], [0.55, 0.35, top - 0.005], (2000, 3))
    assert points_in_hulls(slab, hulls).mean() > 0.95
    for x, y in legs:
        leg = rng.uniform([x - 0.015, y - 0.015, 0.05], [x + 0.015, y + 0.015, top - 0.1], (200, 3))
        assert points_in_hulls(leg, hulls).mean() > 0.9, (x, y)
    crate = rng.uniform([1.03, 1.03, 0.03], [1.47, 1.47, 0.27], (2000, 3))
    assert points_in_hulls(crate, hulls).mean() > 0.95


def test_box_hulls_are_exact_outward_boxes():
    from worldgen_sim.collision.boxes import rotate_z
    from worldgen_sim.collision.hulls import box_hulls, mesh_volume

    rng = np.random.default_rng(0)
    lo, size = rng.uniform(-1, 1, (50, 3)), rng.uniform(0.01, 0.5, (50, 3))
    size[0, 2] = 0.0  # a flat box is thickened, not dropped
    pick = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], np.float64)
    corners = rotate_z((lo[:, None] + pick[None] * size[:, None]).reshape(-1, 3), 0.4).reshape(-1, 8, 3)
    for mirror in (1.0, -1.0):  # a left-handed corner order gets its faces turned
        hulls = box_hulls(corners * [1.0, mirror, 1.0], max_vertices=64)
        assert len(hulls) == 50
        for (vertices, faces), s in zip(hulls, size):
            assert vertices.shape == (8, 3) and faces.shape == (12, 3)
            assert mesh_volume(vertices, faces) == pytest.approx(np.prod(np.maximum(s, 0.005)), rel=1e-4)
            tri = vertices.astype(np.float64)[faces]
            outward = np.einsum("ij,ij->i", np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]),
                                tri.mean(axis=1) - vertices.mean(axis=0))
            assert np.all(outward > 0)


def test_wall_height_is_the_longest_run_of_its_faces():
    """A cabinet front with a few stray faces at the ceiling in its plane spans the cabinet's height."""
    from worldgen_sim.collision.planes import _height_span

    rng = np.random.default_rng(0)
    front = np.sort(rng.uniform(0.0, 1.8, (400, 3)), axis=1)
    stray = np.full((5, 3), 2.66) + rng.uniform(0, 0.02, (5, 3))
    assert _height_span(np.concatenate([front, stray])) == pytest.approx(1.8, abs=0.02)
    assert _height_span(np.array([[0.0, 0.0, 2.7], [0.0, 2.7, 2.7]])) == pytest.approx(2.7)  # two big triangles

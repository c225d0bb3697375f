"""Collision on Gaussian-built scenes through the surface stage, judged against the scenes' ground truth.

Rolling terrain (slopes under 7 deg, two rocks, a trunk, a low wall) and stairs (17 cm
risers) up to a 0.85 m platform with a 20 deg ramp down its far side are covered with
surfels, meshed by the surface stage (z-buffered depth from a camera path, TSDF) and
segmented: the ground must become exact static triangle meshes without holes and
never convex hulls, objects must leave the free space free.
A turned 1.8 m cabinet, seen from rings of cameras, must be boxed out to its true outline.
"""

from __future__ import annotations

import numpy as np
import pytest
from collision_scenes import (
    camera_path,
    ring_cameras,
    rolling_terrain,
    round_object,
    stairs_platform_ramp,
    turned_cabinet,
)
from test_collision import points_in_hulls

from worldgen_sim.artifacts import AlignedScene, TriangleMesh
from worldgen_sim.collision.collision import build_collision
from worldgen_sim.collision.collision_cfg import CollisionCfg

pytestmark = pytest.mark.slow


def _surface(scene, cameras=None):
    from worldgen_sim.surface.surface import extract_surface
    from worldgen_sim.surface.surface_cfg import SurfaceCfg

    cameras = cameras if cameras is not None else camera_path(scene, step=2.5, width=192, height=144)
    aligned = AlignedScene(np.eye(4), 1.0, gaussians=scene.gaussians, cameras=cameras)
    cfg = SurfaceCfg(image_width=192, image_height=144, num_views=len(cameras), max_triangles=200_000)
    return extract_surface(aligned, cfg=cfg).mesh


@pytest.fixture(scope="module", params=["terrain", "stairs"])
def built(request, tmp_path_factory):
    scene = rolling_terrain(floaters=False) if request.param == "terrain" else stairs_platform_ramp()
    mesh = _surface(scene)
    world = build_collision(mesh, cfg=CollisionCfg(cache_dir=str(tmp_path_factory.mktemp("cache")), workers=2))
    return scene, mesh, world


def vertical_offsets(tri: np.ndarray, points: np.ndarray, cell: float = 0.05) -> np.ndarray:
    """(P,) smallest |z - z_triangle| over the triangles crossing each point's vertical line [m] (inf: none).

    Triangles are binned by the xy cells of their bounding boxes; each point is tested against the
    triangles of its cell (barycentric coordinates), vectorised over (point, triangle) pairs.
    """
    lo = np.minimum(points[:, :2].min(axis=0), tri[..., :2].reshape(-1, 2).min(axis=0)) - cell
    hi = np.maximum(points[:, :2].max(axis=0), tri[..., :2].reshape(-1, 2).max(axis=0)) + cell
    width = int(np.ceil((hi[0] - lo[0]) / cell)) + 1
    tmin = np.floor((tri[..., :2].min(axis=1) - lo) / cell).astype(np.int64)
    span = np.floor((tri[..., :2].max(axis=1) - lo) / cell).astype(np.int64) - tmin + 1
    count = span[:, 0] * span[:, 1]
    owner = np.repeat(np.arange(tri.shape[0]), count)
    local = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
    keys = (tmin[owner, 1] + local // span[owner, 0]) * width + tmin[owner, 0] + local % span[owner, 0]
    order = np.argsort(keys, kind="stable")
    keys, owner = keys[order], owner[order]
    cells = np.floor((points[:, :2] - lo) / cell).astype(np.int64)
    query = cells[:, 1] * width + cells[:, 0]
    start = np.searchsorted(keys, query)
    pairs = np.searchsorted(keys, query, side="right") - start
    pair_point = np.repeat(np.arange(points.shape[0]), pairs)
    pair_tri = owner[np.repeat(start, pairs) + np.arange(pair_point.size) - np.repeat(np.cumsum(pairs) - pairs, pairs)]
    a, b, c = tri[pair_tri, 0], tri[pair_tri, 1], tri[pair_tri, 2]
    p = points[pair_point]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    ok = np.abs(det) > 1e-12
    det = np.where(ok, det, 1.0)
    u = ((p[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (p[:, 1] - a[:, 1])) / det
    v = ((b[:, 0] - a[:, 0]) * (p[:, 1] - a[:, 1]) - (p[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
    inside = ok & (u >= -1e-9) & (v >= -1e-9) & (u + v <= 1 + 1e-9)
    z = a[:, 2] + u * (b[:, 2] - a[:, 2]) + v * (c[:, 2] - a[:, 2])
    best = np.full(points.shape[0], np.inf)
    np.minimum.at(best, pair_point[inside], np.abs(z[inside] - p[inside, 2]))
    return best


def test_ground_colliders_cover_the_true_ground_without_holes(built):
    """Every true ground point away from objects has a collider triangle within 3 cm above or below it."""
    scene, mesh, world = built
    vertices, faces = world.collision_triangles()
    points = scene.walkable_points(3000, seed=1)
    offsets = vertical_offsets(vertices.astype(np.float64)[faces], points)
    within = float((offsets <= 0.03).mean())
    # Ground the surface stage never produced (unseen behind a rock or a riser) cannot be collided;
    # everywhere it did, the colliders must not add holes.
    seen = vertical_offsets(np.asarray(mesh.vertices, np.float64)[mesh.faces], points) <= 0.03
    assert within >= 0.95, f"{scene.name}: {within:.1%} of the true ground has a collider within 3 cm"
    assert float((offsets[seen] <= 0.03).mean()) >= 0.995, f"{scene.name}: holes where the mesh has ground"
    assert float(np.median(offsets)) <= 0.01


def test_ground_is_exact_static_mesh_never_hulls(built):
    """Ground and risers are static triangle meshes; no convex hull lies on open ground."""
    scene, mesh, world = built
    report = world.report
    assert report["segmentation"]["ground"]["ground_pieces"], "no ground found"
    floor_faces = sum(p.mesh.faces.shape[0] for p in world.static_parts if p.semantic_class == "floor")
    assert floor_faces >= 0.6 * mesh.faces.shape[0]
    hulls = [h for o in world.objects for h in o.hulls]
    probes = scene.walkable_points(3000, seed=2, margin=0.1) + [0.0, 0.0, 0.03]
    assert points_in_hulls(probes, hulls).mean() <= 0.005
    # Objects are the scene's plus slivers (scene border, reconstruction blobs), not the hundreds of
    # terrain pieces a plane-first segmentation cut (~470 hulls on such terrain).
    assert len(world.objects) < 50
    assert report["fallback_counts"]["crash"] == 0


def test_phantom_collision_within_budget(built):
    scene, mesh, world = built
    free = scene.free_points(300_000, seed=3)
    hulls = [h for o in world.objects for h in o.hulls]
    phantom = float(points_in_hulls(free, hulls).mean())
    assert phantom <= 0.01, f"{scene.name}: {phantom:.2%} of the free space lies inside colliders"


def test_objects_are_collided(built):
    scene, mesh, world = built
    hulls = [h for o in world.objects for h in o.hulls]
    # The objects themselves are collided: their true volume deeper than 3 cm inside (the
    # reconstruction rounds edges by about that) lies inside hulls -- for each object the surface
    # stage produced (the collision stage cannot collide what the visual mesh lacks).
    visual = np.asarray(mesh.vertices, np.float64)
    for obj in scene.objects:
        if not (obj.footprint(visual[:, :2], 0.02) & (visual[:, 2] > scene.ground(visual[:, :2]) + 0.1)).any():
            continue
        rng = np.random.default_rng(4)
        lo = np.array([obj.x - 1, obj.y - 1, obj.bottom])
        inside = rng.uniform(lo, [obj.x + 1, obj.y + 1, obj.top], (200_000, 3))
        deep = obj.inside(inside) & ~(inside[:, 2] <= scene.ground(inside[:, :2]) + 0.03)
        for shift in np.vstack([np.eye(3), -np.eye(3)]) * 0.03:
            deep &= obj.inside(inside + shift)
        share = points_in_hulls(inside[deep], hulls).mean()
        assert share >= 0.9, f"{scene.name}: object at {obj.x}, {obj.y}: {share:.1%} of its deep volume in hulls"


@pytest.mark.parametrize("yaw_deg", [0.0, 17.0, 33.0, 45.0])
def test_turned_cabinet_boxes_reach_its_outline(yaw_deg, tmp_path):
    """A Gaussian-built 1.8 m cabinet, turned, meshed (TSDF: rounded edges, a lip where the top's discs overhang
    its sides) and box-fitted: the box reaches the true outline, its top within 3 cm of the true top nearly
    everywhere and nearly all the cabinet inside it, with almost no volume outside. (Whole-cell rectangles
    stopped up to a cell inside a ragged side: 92.4-95.5 % of the top, 92.0-95.3 % of the volume, 2026-12-05;
    with the sides moved out to the outline 100 % and 97.9-98.8 %.)"""
    scene = turned_cabinet(yaw_deg)
    cabinet = scene.objects[0]
    mesh = _surface(scene, ring_cameras(scene))
    # Alone in the scene the cabinet is the tallest thing: without a raised plane threshold its 2.2 m^2 sides
    # would be the scene's walls (static meshes), and this test is about the box fit of the whole object.
    world = build_collision(mesh, cfg=CollisionCfg(cache_dir=str(tmp_path), workers=1, min_plane_area=50.0))
    assert world.report["methods"] == {"boxes": 1}, world.report["methods"]
    hulls = world.objects[0].hulls
    assert len(hulls) <= 2
    vertices, faces = world.collision_triangles()
    # The true top at 1 cm cell centres (none on its very edge, where a vertical line grazes the box).
    u, v = np.meshgrid(np.arange(-cabinet.hx + 0.005, cabinet.hx, 0.01),
                       np.arange(-cabinet.hy + 0.005, cabinet.hy, 0.01))
    c, s = np.cos(cabinet.yaw), np.sin(cabinet.yaw)
    top = np.column_stack([cabinet.x + c * u.ravel() - s * v.ravel(), cabinet.y + s * u.ravel() + c * v.ravel(),
                           np.full(u.size, cabinet.top)])
    reached = float(np.mean(vertical_offsets(vertices.astype(np.float64)[faces], top) <= 0.03))
    assert reached >= 0.95, f"{yaw_deg} deg: {reached:.1%} of the true top has a collider within 3 cm"
    rng = np.random.default_rng(5)
    probes = rng.uniform([cabinet.x - 1.0, cabinet.y - 1.0, 0.0], [cabinet.x + 1.0, cabinet.y + 1.0, 2.2],
                         (400_000, 3))
    in_hulls = points_in_hulls(probes, hulls)
    true_volume = 4 * cabinet.hx * cabinet.hy * cabinet.top
    probe_volume = 2.0 * 2.0 * 2.2 / probes.shape[0]
    outside = float((in_hulls & ~scene.solid(probes)).sum()) * probe_volume
    assert outside <= 0.01 * true_volume, f"{yaw_deg} deg: {outside:.4f} m^3 of box outside the cabinet"
    inside = float((in_hulls & cabinet.inside(probes)).sum()) * probe_volume
    # The reconstruction moves the sides by millimetres: a box within 3 mm of each side holds 98 % of it.
    assert inside >= 0.97 * true_volume, f"{yaw_deg} deg: the boxes hold {inside / true_volume:.1%} of the cabinet"


@pytest.mark.parametrize("kind", ["trunk", "rock"])
def test_round_objects_are_collided_to_their_volume(kind, tmp_path):
    """A Gaussian-built trunk (0.36 m wide, 1.8 m tall cylinder) and rock (0.9 x 0.6 x 0.4 m half-ellipsoid),
    meshed from rings of cameras: their hulls hold at least 90 % of the true volume deeper than 3 cm inside and
    add at most 5 % of it outside the object. (Measured 2026-12-05: trunk 100 % / 3.0 % as one hull of its
    spans; its box fit, accepted before, held 100 % but put 10.2 % outside; rock 99.8 % / 0.6 %.)"""
    scene = round_object(kind)
    obj = scene.objects[0]
    mesh = _surface(scene, ring_cameras(scene))
    world = build_collision(mesh, cfg=CollisionCfg(cache_dir=str(tmp_path), workers=1, min_plane_area=50.0))
    hulls = [h for o in world.objects for h in o.hulls]
    rng = np.random.default_rng(4)
    probes = rng.uniform([obj.x - 1, obj.y - 1, -0.1], [obj.x + 1, obj.y + 1, obj.top + 0.3], (400_000, 3))
    probe_volume = 2.0 * 2.0 * (obj.top + 0.4) / probes.shape[0]
    deep = obj.inside(probes) & (probes[:, 2] > scene.ground(probes[:, :2]) + 0.03)
    for shift in np.vstack([np.eye(3), -np.eye(3)]) * 0.03:
        deep &= obj.inside(probes + shift)
    in_hulls = points_in_hulls(probes, hulls)
    share = float(in_hulls[deep].mean())
    true_volume = float(obj.inside(probes).sum()) * probe_volume
    outside = float((in_hulls & ~scene.solid(probes)).sum()) * probe_volume / true_volume
    assert share >= 0.9, f"{kind}: {share:.1%} of its deep volume in hulls"
    assert outside <= 0.05, f"{kind}: hulls add {outside:.1%} of its volume outside it"


def test_floaters_are_dropped_and_an_overhead_slab_stays_at_its_height(tmp_path):
    """Mid-air blobs and a thin sheet are dropped with reasons; a large unsupported slab is kept as an
    overhead obstacle at its true height, never a column down to the ground."""
    import trimesh

    ground = trimesh.Trimesh([[-3, -3, 0], [3, -3, 0], [3, 3, 0], [-3, 3, 0]], [[0, 1, 2], [0, 2, 3]])
    ground = ground.subdivide_to_size(0.1)
    blobs = [trimesh.creation.icosphere(subdivisions=2, radius=r).apply_translation(c)
             for c, r in (((0.5, 0.5, 1.2), 0.08), ((-1.0, 1.0, 0.9), 0.12), ((1.5, -1.5, 1.6), 0.05))]
    sheet = trimesh.Trimesh([[0, -2, 1.3], [0.6, -2, 1.3], [0.6, -2, 1.7]], [[0, 1, 2]])
    slab = trimesh.creation.box(extents=(1.2, 0.8, 0.1)).apply_translation((-1.5, -1.0, 1.5))
    crate = trimesh.creation.box(extents=(0.5, 0.5, 0.3)).apply_translation((1.5, 1.5, 0.15))
    scene = trimesh.util.concatenate([ground, *blobs, sheet, slab, crate])
    mesh = TriangleMesh(scene.vertices.astype(np.float32), scene.faces.astype(np.int32))
    world = build_collision(mesh, cfg=CollisionCfg(cache_dir=str(tmp_path), workers=1))
    report = world.report
    assert report["dropped"] == {"floater_small": 3, "floater_thin": 1}
    floaters = report["segmentation"]["dropped"]["floaters"]
    assert sorted(round(f["height_above_ground"], 1) for f in floaters) == [0.8, 1.1, 1.3, 1.6]
    kinds = sorted((e["kind"], e["class"]) for e in report["objects"])
    assert kinds == [("overhead", "object"), ("standing", "furniture")]
    overhead = next(o for o in world.objects if o.name.startswith("overhead_"))
    lowest = min(float(h.vertices[:, 2].min()) for h in overhead.hulls)
    assert lowest >= 1.4, f"the overhead slab reaches down to {lowest:.2f} m"
    # With --dynamic-objects only standing objects become rigid bodies: an overhead one would fall.
    import dataclasses

    from pxr import Usd, UsdPhysics

    from worldgen_sim.exporters.usd_physics import write_physics_layer

    path = tmp_path / "collision.usda"
    write_physics_layer(path, dataclasses.replace(world, dynamic_objects=True), cfg=CollisionCfg(dynamic_objects=True))
    stage = Usd.Stage.Open(str(path))
    bodies = sorted(p.GetName() for p in stage.Traverse() if p.HasAPI(UsdPhysics.RigidBodyAPI))
    assert bodies == [next(o.name for o in world.objects if o.kind == "standing")]

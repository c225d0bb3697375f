"""Surface stage: Gaussians -> rendered depth -> TSDF -> cleaned mesh, against known geometry.

Accuracy and completeness are measured on the sample room, whose surfaces are
known exactly:

* precision: the fraction of points sampled uniformly on the mesh (by area)
  that lie within d of the true surfaces;
* recall: the fraction of true surface points within d of the mesh, counting
  only the true points that the fused views actually see. A point counts as
  seen when it falls inside a view and the true surfaces, ray cast from that
  camera, put it in front within 2 cm (not hidden behind something). Points
  no view sees (the floor straight under a camera, behind furniture) cannot
  be reconstructed by any method fusing those views, so they are left out.
"""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.artifacts import AlignedScene, CameraPath, GaussianCloud, TriangleMesh
from worldgen_sim.errors import WorldgenError
from worldgen_sim.samples import make_sample_room
from worldgen_sim.scenes.metrics import f_scores
from worldgen_sim.surface.cleanup import (
    clean_mesh,
    decimate,
    fill_small_holes,
    remove_small_components,
    vertex_normals,
)
from worldgen_sim.surface.surface import extract_surface, plan_views
from worldgen_sim.surface.surface_cfg import SurfaceCfg
from worldgen_sim.surface.views import look_pose, place_views, rescale_cameras

ROOM_SIZE = (4.0, 3.5, 2.5)
FAST_CFG = {"image_width": 240, "image_height": 180, "num_views": 16, "renderer": "cpu"}
"""Fewer, smaller renders than the defaults so the CPU rasteriser keeps the file fast."""


def _scene(room) -> AlignedScene:
    return AlignedScene(input_to_world=np.eye(4), scale=1.0, gaussians=room.gaussians)


@pytest.fixture(scope="module")
def room():
    return make_sample_room(seed=1, spacing=0.04, size=ROOM_SIZE, num_floaters=200)


@pytest.fixture(scope="module")
def surface(room):
    cfg = SurfaceCfg(**FAST_CFG)
    return extract_surface(_scene(room), cfg=cfg), cfg


def _raycast_depth(mesh: TriangleMesh, cameras: CameraPath) -> np.ndarray:
    """(M, H, W) z-depth of ``mesh`` seen from each camera [m]; inf where no hit."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    u, v = np.meshgrid(np.arange(cameras.width), np.arange(cameras.height))
    depths = []
    for k, pose in zip(cameras.intrinsics, cameras.cam_to_world):
        # Directions with camera z = 1, so the hit distance t is the z-depth.
        rays_cam = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones(u.shape)], axis=-1)
        directions = rays_cam @ pose[:3, :3].T
        origins = np.broadcast_to(pose[:3, 3], directions.shape)
        rays = np.concatenate([origins, directions], axis=-1).astype(np.float32)
        depths.append(scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy())
    return np.stack(depths)


def _seen_by_views(points: np.ndarray, truth: TriangleMesh, cameras: CameraPath) -> np.ndarray:
    """(P,) bool: points some camera sees unoccluded (see the module docstring)."""
    depths = _raycast_depth(truth, cameras)
    seen = np.zeros(points.shape[0], bool)
    for k, pose, depth in zip(cameras.intrinsics, cameras.cam_to_world, depths):
        world_to_cam = np.linalg.inv(pose)
        cam = points @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
        z = cam[:, 2]
        front = z > 0.05
        u = np.round(k[0, 0] * cam[:, 0] / np.where(front, z, 1) + k[0, 2]).astype(int)
        v = np.round(k[1, 1] * cam[:, 1] / np.where(front, z, 1) + k[1, 2]).astype(int)
        inside = front & (u >= 0) & (u < cameras.width) & (v >= 0) & (v < cameras.height)
        hit = np.full(points.shape[0], np.inf)
        hit[inside] = depth[v[inside], u[inside]]
        seen |= inside & (np.abs(hit - z) < 0.02)
    return seen


def _assert_matches_room(room, mesh: TriangleMesh, cfg: SurfaceCfg) -> None:
    """F-score at 5 cm >= 0.90 and at 2 cm >= 0.75, accuracy p95 <= 3 cm (see the module docstring)."""
    cameras, source = plan_views(_scene(room), cfg=cfg)
    assert source == "auto"
    truth_points = room.surface_points(spacing=0.01)
    seen = _seen_by_views(truth_points, room.ground_truth_mesh(), cameras)
    assert seen.mean() > 0.8, "the automatic views should see most of the room"
    score = f_scores(mesh.sample_surface(200_000), truth_points, recall_points=truth_points[seen])
    assert score.fscore[0.05] >= 0.90, score.fscore
    assert score.fscore[0.02] >= 0.75, score.fscore
    assert score.accuracy_p95 <= 0.03


@pytest.mark.slow
def test_rasterised_mesh_matches_known_room_geometry(room, surface):
    result, cfg = surface
    assert result.report["depth_source"] == "cpu"
    _assert_matches_room(room, result.mesh, cfg)


@pytest.mark.slow
def test_zbuffered_mesh_matches_known_room_geometry():
    # Disc z-buffering needs a dense cloud (discs of a sparse one overhang edges): ~320k Gaussians.
    room = make_sample_room(seed=2, spacing=0.015, size=ROOM_SIZE)
    cfg = SurfaceCfg(image_width=320, image_height=240, num_views=16, depth_source="zbuffer")
    result = extract_surface(_scene(room), cfg=cfg)
    assert result.report["depth_source"] == "zbuffer"
    _assert_matches_room(room, result.mesh, cfg)


@pytest.mark.slow
def test_mesh_is_clean_oriented_coloured(room, surface):
    result, cfg = surface
    mesh = result.mesh
    assert mesh.faces.shape[0] <= cfg.max_triangles
    assert mesh.normals is not None and np.allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-3)
    assert mesh.colors is not None and mesh.colors.shape == mesh.vertices.shape
    # The floor's vertices face up (into the room) and carry the floor's colour.
    floor = (mesh.vertices[:, 2] < 0.01) & (np.abs(mesh.vertices[:, :2]).max(axis=1) < 1.0)
    floor &= ~room.inside_furniture(mesh.vertices + np.array([0, 0, 0.05], np.float32))
    assert floor.sum() > 100
    assert np.median(mesh.normals[floor, 2]) > 0.95
    assert np.allclose(np.median(mesh.colors[floor], axis=0), (0.55, 0.45, 0.35), atol=0.08)
    # Nothing left floating in the air where only floaters were (the scene holds 200 of them).
    from scipy.spatial import cKDTree

    far, _ = cKDTree(room.surface_points(spacing=0.02)).query(mesh.vertices)
    assert np.mean(far > 0.1) < 1e-3
    report = result.report
    assert report["views_used"] >= 1 and report["cleanup"]["output_faces"] == mesh.faces.shape[0]


def test_automatic_views_stay_in_the_room(room):
    """32 eye-height views: all inside the room, below the ceiling, outside the furniture, deterministic (the
    views of what they leave unseen, above the 1.8 m cabinet say, are tests/test_surface_coverage.py's)."""
    cameras = place_views(room.gaussians, num_views=32, width=64, height=48, fov_deg=90.0)
    again = place_views(room.gaussians, num_views=32, width=64, height=48, fov_deg=90.0)
    assert np.array_equal(cameras.cam_to_world, again.cam_to_world)
    positions = cameras.cam_to_world[:, :3, 3]
    half = np.asarray(ROOM_SIZE[:2]) / 2
    assert len(cameras) == 32
    assert np.all((positions[:, 2] > 1.0) & (positions[:, 2] < 1.7))
    assert np.all(np.abs(positions[:, :2]) < half)
    assert not room.inside_furniture(positions).any()
    rotations = cameras.cam_to_world[:, :3, :3]
    assert np.allclose(rotations @ rotations.transpose(0, 2, 1), np.eye(3), atol=1e-9)


def test_views_avoid_the_inside_of_closed_furniture():
    # A big empty cabinet: its inside is free of Gaussians but is not the room.
    room = make_sample_room(spacing=0.05, size=(4.0, 3.5, 2.5))
    cameras = place_views(room.gaussians, num_views=200, width=32, height=24, fov_deg=90.0)
    assert not room.inside_furniture(cameras.cam_to_world[:, :3, 3]).any()


def test_input_cameras_are_used_and_rescaled(room):
    k = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
    pose = look_pose(np.array([0.0, -1.0, 1.4]), yaw=np.pi / 2, pitch=-0.3)
    cameras = CameraPath(np.stack([k] * 3), np.stack([pose] * 3), 640, 480)
    scene = AlignedScene(np.eye(4), 1.0, gaussians=room.gaussians, cameras=cameras)
    planned, source = plan_views(scene, cfg=SurfaceCfg(image_width=160, num_views=2))
    assert source == "input_cameras" and len(planned) == 2
    assert (planned.width, planned.height) == (160, 120)
    assert np.allclose(planned.intrinsics[0], [[125.0, 0, 79.5], [0, 125.0, 59.5], [0, 0, 1]])
    _, auto = plan_views(scene, cfg=SurfaceCfg(use_input_cameras=False))
    assert auto == "auto"
    assert rescale_cameras(cameras, width=640, max_views=10).intrinsics.shape == (3, 3, 3)


def test_input_camera_path_fuses():
    room = make_sample_room(spacing=0.1, size=ROOM_SIZE)
    poses = [look_pose(np.array([0.0, -0.5, 1.4]), yaw=y, pitch=-0.4) for y in np.linspace(0, 2 * np.pi, 6)[:-1]]
    k = np.array([[40.0, 0, 39.5], [0, 40.0, 29.5], [0, 0, 1]])
    cameras = CameraPath(np.stack([k] * len(poses)), np.stack(poses), 80, 60)
    scene = AlignedScene(np.eye(4), 1.0, gaussians=room.gaussians, cameras=cameras)
    result = extract_surface(scene, cfg=SurfaceCfg(image_width=80, renderer="cpu", voxel_size=0.05))
    assert result.report["source"] == "input_cameras" and result.report["views_used"] == len(poses)
    assert not result.mesh.is_empty


# --- bad input -------------------------------------------------------------------------------


def _cloud(count: int, opacity: float) -> GaussianCloud:
    rng = np.random.default_rng(0)
    return GaussianCloud(
        positions=rng.uniform(-1, 1, (count, 3)).astype(np.float32) + np.float32([0, 0, 1]),
        rotations=np.tile(np.float32([1, 0, 0, 0]), (count, 1)),
        scales=np.full((count, 3), 0.05, np.float32),
        opacities=np.full(count, opacity, np.float32),
        sh=np.zeros((count, 1, 3), np.float32),
    )


def test_empty_scene_is_rejected():
    with pytest.raises(WorldgenError, match="no Gaussians"):
        extract_surface(AlignedScene(np.eye(4), 1.0, gaussians=_cloud(0, 0.9)), cfg=SurfaceCfg())
    with pytest.raises(WorldgenError, match="neither Gaussians nor RGB-D"):
        extract_surface(AlignedScene(np.eye(4), 1.0), cfg=SurfaceCfg())


def test_transparent_scene_is_rejected():
    with pytest.raises(WorldgenError, match="transparent"):
        extract_surface(AlignedScene(np.eye(4), 1.0, gaussians=_cloud(500, 0.0)), cfg=SurfaceCfg())


def test_camera_path_that_sees_nothing_is_rejected(room):
    # Cameras 50 m away looking away from the room.
    pose = look_pose(np.array([50.0, 0.0, 1.5]), yaw=0.0, pitch=0.0)
    k = np.array([[40.0, 0, 39.5], [0, 40.0, 29.5], [0, 0, 1]])
    cameras = CameraPath(np.stack([k] * 2), np.stack([pose] * 2), 80, 60)
    scene = AlignedScene(np.eye(4), 1.0, gaussians=room.gaussians, cameras=cameras)
    with pytest.raises(WorldgenError, match="input camera path sees the scene|none of the 2 views"):
        extract_surface(scene, cfg=SurfaceCfg(image_width=80, renderer="cpu"))


@pytest.mark.parametrize(
    "field, value",
    [
        ("voxel_size", 0.0),
        ("renderer", "vulkan"),
        ("depth_source", "lidar"),
        ("min_alpha", 0.0),
        ("num_views", 0),
        ("coverage_views", -1),
        ("truncation_voxels", 0.5),
    ],
)
def test_bad_options_are_rejected(room, field, value):
    with pytest.raises(WorldgenError, match=f"surface.{field}"):
        extract_surface(_scene(room), cfg=SurfaceCfg(**{field: value}))


# --- clean-up ----------------------------------------------------------------------------------


def _grid(n: int, *, offset=(0.0, 0.0, 0.0), spacing: float = 0.02) -> TriangleMesh:
    """An n x n vertex grid in the z = offset plane, faces wound for +Z normals."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    vertices = np.column_stack([i.ravel() * spacing, j.ravel() * spacing, np.zeros(i.size)]) + offset
    index = (i * n + j)[:-1, :-1].ravel()
    faces = np.concatenate(
        [np.column_stack([index, index + n, index + n + 1]), np.column_stack([index, index + n + 1, index + 1])]
    )
    return TriangleMesh(
        vertices.astype(np.float32), faces.astype(np.int32), colors=np.full((n * n, 3), 0.5, np.float32)
    )


def _merge(*meshes: TriangleMesh) -> TriangleMesh:
    offsets = np.cumsum([0] + [m.vertices.shape[0] for m in meshes[:-1]])
    return TriangleMesh(
        np.concatenate([m.vertices for m in meshes]),
        np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]).astype(np.int32),
        colors=np.concatenate([m.colors for m in meshes]),
    )


def test_small_pieces_are_dropped():
    big, speck = _grid(40), _grid(3, offset=(5.0, 5.0, 1.0))
    cleaned, removed = remove_small_components(_merge(big, speck), min_fraction=0.01)
    assert removed == {"components": 1, "faces": speck.faces.shape[0], "floor_pieces": 0}
    assert cleaned.faces.shape[0] == big.faces.shape[0] and cleaned.vertices[:, 0].max() < 1.0


def test_small_floor_pieces_are_kept():
    """Floor seen through a doorway is a small piece at z = 0: kept; the same piece in mid-air, or standing
    on edge at floor height (a wall shard), is dropped."""
    big, floor = _grid(40, offset=(0.0, 0.0, 0.3)), _grid(3, offset=(5.0, 5.0, 0.01))
    airborne = _grid(3, offset=(6.0, 6.0, 0.5))
    shard = _grid(3)  # 4 x 4 cm, turned to stand on edge at floor height (z 0..0.04 m)
    upright = TriangleMesh(shard.vertices[:, [0, 2, 1]] + np.float32([7.0, 7.0, 0.0]), shard.faces, colors=shard.colors)
    assert np.ptp(upright.vertices[:, 2]) > 0.03 and upright.vertices[:, 2].max() <= 0.05
    mesh = _merge(big, floor, airborne, upright)
    cleaned, removed = remove_small_components(mesh, min_fraction=0.01, floor_band=0.05)
    assert removed == {"components": 2, "faces": 2 * floor.faces.shape[0], "floor_pieces": 1}
    kept = cleaned.vertices[cleaned.vertices[:, 0] > 4.0]
    assert len(kept) == 9 and np.allclose(kept[:, 2], 0.01)
    _, none_kept = remove_small_components(mesh, min_fraction=0.01, floor_band=0.0)
    assert none_kept["components"] == 3 and none_kept["floor_pieces"] == 0


def test_small_holes_are_filled_and_large_kept():
    grid = _grid(30)
    centre = grid.vertices[grid.faces].mean(axis=1)
    small_hole = np.linalg.norm(centre[:, :2] - (0.15, 0.15), axis=1) < 0.03
    filled, holes = fill_small_holes(
        TriangleMesh(grid.vertices, grid.faces[~small_hole], colors=grid.colors), max_edges=64
    )
    assert holes == 1
    assert filled.faces.shape[0] > grid.faces.shape[0] - small_hole.sum()
    normals = np.cross(*(filled.vertices[filled.faces[:, k]] - filled.vertices[filled.faces[:, 0]] for k in (1, 2)))
    assert np.all(normals[:, 2] > 0), "the patch must keep the surrounding orientation"
    big_hole = np.linalg.norm(centre[:, :2] - (0.3, 0.3), axis=1) < 0.2
    _, none = fill_small_holes(TriangleMesh(grid.vertices, grid.faces[~big_hole], colors=grid.colors), max_edges=16)
    assert none == 0  # the outer border and the big hole both exceed 16 edges


def test_decimation_meets_budget_and_keeps_colours():
    grid = _grid(60)
    grid.colors[:] = (0.2, 0.4, 0.6)
    small = decimate(grid, max_triangles=1000)
    assert 0 < small.faces.shape[0] <= 1000
    assert np.allclose(small.colors, (0.2, 0.4, 0.6))
    cleaned, report = clean_mesh(grid, min_component_fraction=0.01, hole_size=8, max_triangles=500)
    assert cleaned.faces.shape[0] <= 500 and report["output_faces"] == cleaned.faces.shape[0]
    assert np.allclose(cleaned.normals, (0, 0, 1), atol=1e-4)


def test_vertex_normals_are_unit_and_outward():
    grid = _grid(5)
    normals = vertex_normals(grid.vertices, grid.faces)
    assert np.allclose(normals, (0.0, 0.0, 1.0))
    assert np.allclose(vertex_normals(grid.vertices, grid.faces[:, ::-1]), (0.0, 0.0, -1.0))


def test_zbuffer_depth_follows_tilted_surfels():
    from worldgen_sim.surface.zbuffer import zbuffer_depth_maps

    # Surfels on the plane z = 0.5 x (tilted 26.6 deg), seen from 2 m above, looking down.
    rng = np.random.default_rng(0)
    xy = rng.uniform(-1.0, 1.0, (20_000, 2))
    positions = np.column_stack([xy, 0.5 * xy[:, 0]]).astype(np.float32)
    angle = np.arctan(0.5) / 2  # quaternion turning +Z onto the plane normal (-0.5, 0, 1)/|.|, about -Y
    quat = np.float32([np.cos(angle), 0.0, -np.sin(angle), 0.0])
    cloud = GaussianCloud(
        positions=positions,
        rotations=np.tile(quat, (len(xy), 1)),
        scales=np.tile(np.float32([0.02, 0.02, 0.001]), (len(xy), 1)),
        opacities=np.full(len(xy), 0.9, np.float32),
        sh=np.zeros((len(xy), 1, 3), np.float32),
    )
    pose = look_pose(np.array([0.0, 0.0, 2.0]), yaw=0.0, pitch=-np.pi / 2)
    k = np.array([[100.0, 0, 49.5], [0, 100.0, 49.5], [0, 0, 1]])
    depth, color = zbuffer_depth_maps(
        cloud, CameraPath(k[None], pose[None], 100, 100), min_opacity=0.5, near=0.05, far=10.0
    )
    u, v = np.meshgrid(np.arange(100), np.arange(100))
    rays = np.stack([(u - 49.5) / 100.0, (v - 49.5) / 100.0, np.ones(u.shape)], -1) @ pose[:3, :3].T
    # Exact depth: the ray from (0, 0, 2) along d meets z = 0.5 x where 2 + t dz = 0.5 t dx.
    exact = 2.0 / (0.5 * rays[..., 0] - rays[..., 2])
    inner = (np.abs(u - 49.5) < 30) & (np.abs(v - 49.5) < 30)
    assert np.all(depth[0][inner] > 0)
    assert np.max(np.abs(depth[0][inner] - exact[inner])) < 0.005
    assert np.allclose(color[0][inner], 0.5, atol=1e-5)

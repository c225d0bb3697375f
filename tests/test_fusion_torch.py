"""Torch TSDF fusion (worldgen_sim.surface.fusion_torch) against open3d's, on the sample room."""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.artifacts import AlignedScene
from worldgen_sim.errors import WorldgenError
from worldgen_sim.samples import make_sample_room
from worldgen_sim.surface.fusion_torch import fuse_depth_frames_torch
from worldgen_sim.surface.surface import extract_surface, plan_views
from worldgen_sim.surface.surface_cfg import SurfaceCfg
from worldgen_sim.surface.zbuffer import zbuffer_depth_maps

FUSION = {"voxel_size": 0.02, "truncation_voxels": 4.0, "max_depth": 8.0, "min_weight": 1.0}


@pytest.fixture(scope="module")
def frames(furnished_room):
    """Depth and colour of the furnished sample room from 8 automatic views at 320x240, and the room."""
    room = furnished_room
    cfg = SurfaceCfg(num_views=8, image_width=320, image_height=240)
    cameras, _ = plan_views(AlignedScene(np.eye(4), 1.0, gaussians=room.gaussians), cfg=cfg)
    depths, colors = zbuffer_depth_maps(room.gaussians, cameras, min_opacity=0.5, near=0.05, far=8.0)
    return room, depths, colors, cameras


@pytest.fixture(scope="module")
def torch_mesh(frames):
    _, depths, colors, cameras = frames
    return fuse_depth_frames_torch(depths, colors, cameras, device="cpu", **FUSION)


def _face_normals(mesh):
    v = mesh.vertices.astype(np.float64)[mesh.faces]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    return v.mean(axis=1), n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def test_torch_fusion_agrees_with_open3d(frames, torch_mesh):
    o3d = pytest.importorskip("open3d")
    from scipy.spatial import cKDTree

    from worldgen_sim.surface.fusion import fuse_depth_frames

    room, depths, colors, cameras = frames
    reference = fuse_depth_frames(depths, colors, cameras, **FUSION)

    def distance_to(mesh, points):
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(mesh.vertices), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
        return scene.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()

    ours, theirs = torch_mesh.sample_surface(100_000), reference.sample_surface(100_000)
    precision = np.mean(distance_to(reference, ours) < 0.02)
    recall = np.mean(distance_to(torch_mesh, theirs) < 0.02)
    assert 2 * precision * recall / (precision + recall) >= 0.95
    assert abs(torch_mesh.faces.shape[0] - reference.faces.shape[0]) < 0.1 * reference.faces.shape[0]
    # Same winding: each face's normal agrees with the nearest open3d face's.
    centres, normals = _face_normals(torch_mesh)
    ref_centres, ref_normals = _face_normals(reference)
    nearest = cKDTree(ref_centres).query(centres)[1]
    assert np.mean(np.sum(normals * ref_normals[nearest], axis=1) > 0) > 0.95
    # Accuracy against the true surfaces within 5 mm of open3d's.
    truth = cKDTree(room.surface_points(spacing=0.01))
    ours_p95 = np.percentile(truth.query(ours)[0], 95)
    theirs_p95 = np.percentile(truth.query(theirs)[0], 95)
    assert ours_p95 < theirs_p95 + 0.005
    # Colours: the same averages, in [0, 1].
    assert torch_mesh.colors.min() >= 0.0 and torch_mesh.colors.max() <= 1.0
    np.testing.assert_allclose(torch_mesh.colors.mean(axis=0), reference.colors.mean(axis=0), atol=0.02)


def test_torch_fusion_faces_the_cameras(frames, torch_mesh):
    """Faces wind counter-clockwise seen from free space: floor normals point up, ceiling normals down.

    (Per-face normals of a fused 4 cm-spacing splat surface are bumpy, so only their sign is checked.)
    """
    room, *_ = frames
    centres, normals = _face_normals(torch_mesh)
    floor = centres[:, 2] < 0.03
    ceiling = centres[:, 2] > room.size[2] - 0.03
    assert floor.sum() > 1000 and ceiling.sum() > 1000
    assert np.mean(normals[floor, 2] > 0) > 0.95 and np.median(normals[floor, 2]) > 0.85
    assert np.mean(normals[ceiling, 2] < 0) > 0.95 and np.median(normals[ceiling, 2]) < -0.85


def test_torch_fusion_is_deterministic(frames, torch_mesh):
    _, depths, colors, cameras = frames
    again = fuse_depth_frames_torch(depths, colors, cameras, device="cpu", **FUSION)
    np.testing.assert_array_equal(again.vertices, torch_mesh.vertices)
    np.testing.assert_array_equal(again.faces, torch_mesh.faces)
    np.testing.assert_array_equal(again.colors, torch_mesh.colors)


def test_torch_fusion_on_cuda_matches_cpu(frames, torch_mesh):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch.cuda.is_available() is False: no CUDA GPU to compare against the CPU")
    from scipy.spatial import cKDTree

    _, depths, colors, cameras = frames
    gpu = fuse_depth_frames_torch(depths, colors, cameras, device="cuda", **FUSION)
    assert abs(gpu.faces.shape[0] - torch_mesh.faces.shape[0]) <= 0.001 * torch_mesh.faces.shape[0]
    distance = cKDTree(torch_mesh.vertices).query(gpu.vertices)[0]
    assert np.percentile(distance, 99.9) < 1e-3


def test_torch_fusion_rejects_bad_input(frames):
    _, depths, _colors, cameras = frames
    with pytest.raises(WorldgenError, match="nothing to fuse"):
        fuse_depth_frames_torch(np.zeros_like(depths), None, cameras, **FUSION)
    with pytest.raises(WorldgenError, match="camera poses"):
        fuse_depth_frames_torch(depths[:3], None, cameras, **FUSION)


def test_surface_stage_fusion_option():
    room = make_sample_room(spacing=0.08, furnished=False)
    scene = AlignedScene(np.eye(4), 1.0, gaussians=room.gaussians)
    options = {"num_views": 6, "image_width": 96, "image_height": 72, "voxel_size": 0.05, "depth_source": "zbuffer"}
    with pytest.raises(WorldgenError, match="surface.fusion"):
        extract_surface(scene, cfg=SurfaceCfg(fusion="bogus", **options))
    result = extract_surface(scene, cfg=SurfaceCfg(fusion="torch", **options))
    assert result.report["fusion"].startswith("torch:")
    assert result.mesh.faces.shape[0] > 100

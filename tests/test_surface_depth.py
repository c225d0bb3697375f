"""Depth images and fusion on slanted, noisy ground, against the analytic plane (issue 8: non-planar ground).

What limited the visual mesh on rolling terrain and stairs, each checked here on a
plane z = 0 seen at a slant, where the truth is exact:

* the z-buffer's nearest fragment sits about two noise sigmas in front of a noisy
  surface; the default front-surface mean does not (the nearest-only reference is
  measured too, so the check can fail);
* a surfel's round screen-space disc leaked over the ground behind it at grazing
  angles; a surfel now covers only where the ray meets it;
* open3d's fusion truncates a voxel's projection to a pixel, reading the pixel up-left
  of it; with :func:`pixel_lookup_intrinsics` it reads the nearest one;
* automatic views of a roofless room turned in its bounding box stay inside the walls.
"""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.artifacts import CameraPath
from worldgen_sim.scenes.surfels import surfel_cloud
from worldgen_sim.surface.views import look_pose, place_views
from worldgen_sim.surface.zbuffer import zbuffer_depth_maps

WIDTH, HEIGHT = 160, 120
K = np.array([[80.0, 0.0, 79.5], [0.0, 80.0, 59.5], [0.0, 0.0, 1.0]])
"""A 90 deg view; pixel centres at integer coordinates."""


def _ground(*, half: float, spacing: float, noise: float, seed: int = 0):
    """Surfels on z = 0 over [-half, half]^2 with isotropic position noise [m]."""
    rng = np.random.default_rng(seed)
    g = np.arange(-half, half, spacing) + spacing / 2
    xy = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    xy = xy + rng.uniform(-0.3, 0.3, xy.shape) * spacing
    positions = np.column_stack([xy, np.zeros(len(xy))])
    rotations = np.tile([1.0, 0.0, 0.0, 0.0], (len(xy), 1))
    return surfel_cloud(positions, rotations, np.full((len(xy), 3), 0.5), spacing=spacing, rng=rng,
                        position_noise=noise)


def _slanted_view(pitch_deg: float, *, eye_y: float = -6.0) -> CameraPath:
    """A camera 1.6 m above the ground at (0, eye_y), looking along +y, pitched down."""
    pose = look_pose(np.array([0.0, eye_y, 1.6]), yaw=np.pi / 2, pitch=np.radians(pitch_deg))
    return CameraPath(K[None], pose[None], WIDTH, HEIGHT)


def _heights(depth: np.ndarray, cameras: CameraPath) -> tuple[np.ndarray, np.ndarray]:
    """(heights above z = 0 [m], z-depths [m]) of the valid pixels of one depth image."""
    v, u = np.nonzero(depth > 0)
    z = depth[v, u].astype(np.float64)
    cam = np.column_stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z])
    pose = cameras.cam_to_world[0]
    return (cam @ pose[:3, :3].T + pose[:3, 3])[:, 2], z


@pytest.mark.parametrize("kernel", ["warp", "torch"])
def test_front_surface_depth_is_unbiased_on_noisy_ground(kernel):
    if kernel == "warp":
        pytest.importorskip("warp")
    cloud = _ground(half=3.0, spacing=0.03, noise=0.008)
    cameras = _slanted_view(-35.0, eye_y=-2.0)
    options = {"min_opacity": 0.5, "near": 0.05, "far": 8.0, "kernel": kernel}
    front, _ = zbuffer_depth_maps(cloud, cameras, **options)
    nearest, _ = zbuffer_depth_maps(cloud, cameras, band=0.0, **options)
    height_front, _ = _heights(front[0], cameras)
    height_nearest, _ = _heights(nearest[0], cameras)
    assert (front[0] > 0).mean() > 0.5 and height_front.size == height_nearest.size
    # The nearest fragment is the most extreme of the noisy samples at a pixel: 5.5 mm high (measured).
    assert np.median(height_nearest) > 0.004
    assert abs(np.median(height_front)) < 0.0015  # measured 0.1 mm
    assert np.percentile(np.abs(height_front), 90) < 0.8 * np.percentile(np.abs(height_nearest), 90)


@pytest.mark.parametrize("kernel", ["warp", "torch"])
def test_surfels_do_not_leak_over_ground_seen_at_a_grazing_angle(kernel):
    if kernel == "warp":
        pytest.importorskip("warp")
    cloud = _ground(half=6.0, spacing=0.04, noise=0.0)
    cameras = _slanted_view(-12.0)
    depth, _ = zbuffer_depth_maps(cloud, cameras, min_opacity=0.5, near=0.05, far=8.0, kernel=kernel)
    heights, z = _heights(depth[0], cameras)
    far = z > 4.0
    assert far.sum() > 1000
    # A round disc the size of a surfel's reach covers pixels that see ground up to ~10 cm farther.
    assert np.percentile(np.abs(heights[far]), 95) < 0.01
    assert abs(np.median(heights[far])) < 0.003


@pytest.mark.parametrize("band", [0.05, 0.0])
def test_compiled_zbuffer_matches_the_torch_reference_on_vegetation(band):
    """The warp kernel walks each disc itself; its images are the torch z-buffer's to float rounding:
    the same pixels covered, depth within 0.1 mm on all but a pixel or two whose fragment sits on the
    band's edge (measured: 1 pixel in 3.7 M differs, by 5.7 mm, over 48 views)."""
    pytest.importorskip("warp")
    from worldgen_sim.scenes import make_scene

    scene = make_scene("vegetation")
    cameras = place_views(scene.gaussians, num_views=6, width=WIDTH, height=HEIGHT, fov_deg=90.0)
    options = {"min_opacity": 0.5, "near": 0.05, "far": 8.0, "band": band}
    depth_warp, color_warp = zbuffer_depth_maps(scene.gaussians, cameras, kernel="warp", **options)
    depth_torch, color_torch = zbuffer_depth_maps(scene.gaussians, cameras, kernel="torch", **options)
    assert (depth_torch > 0).mean() > 0.2
    np.testing.assert_array_equal(depth_warp > 0, depth_torch > 0)
    off = np.abs(depth_warp - depth_torch) > 1e-4
    assert off.sum() <= 2, off.sum()
    assert (np.abs(color_warp - color_torch).max(axis=-1)[~off] < 1e-4).all()
    again, _ = zbuffer_depth_maps(scene.gaussians, cameras, kernel="warp", **options)
    np.testing.assert_array_equal(again, depth_warp)  # same inputs, same images (threads split views)


def test_zbuffer_falls_back_to_torch_when_the_warp_kernel_fails(monkeypatch, caplog):
    """``kernel="auto"`` logs a failing warp kernel and returns the torch reference's images; an explicit
    ``kernel="warp"`` raises; an unknown kernel is an error naming the choices."""
    from worldgen_sim.errors import WorldgenError
    from worldgen_sim.surface import zbuffer_warp

    cloud = _ground(half=1.0, spacing=0.04, noise=0.0)
    cameras = _slanted_view(-35.0, eye_y=-1.5)
    options = {"min_opacity": 0.5, "near": 0.05, "far": 8.0}
    reference, _ = zbuffer_depth_maps(cloud, cameras, kernel="torch", **options)

    def broken(*args, **kwargs):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(zbuffer_warp, "zbuffer_warp", broken)
    with caplog.at_level("WARNING", logger="worldgen_sim.surface.zbuffer"):
        depth, _ = zbuffer_depth_maps(cloud, cameras, kernel="auto", **options)
    assert "warp z-buffer failed (no compiler)" in caplog.text
    np.testing.assert_array_equal(depth, reference)
    assert (depth > 0).mean() > 0.2  # measured 0.29: the ground fills the lower part of the view
    with pytest.raises(RuntimeError, match="no compiler"):
        zbuffer_depth_maps(cloud, cameras, kernel="warp", **options)
    with pytest.raises(WorldgenError, match="'auto', 'torch' or 'warp'"):
        zbuffer_depth_maps(cloud, cameras, kernel="numba", **options)


def _exact_plane_depth(cameras: CameraPath) -> np.ndarray:
    """(1, H, W) z-depth of the plane z = 0 from the camera, 0 where it is not in front."""
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH]
    pose = cameras.cam_to_world[0]
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones(u.shape)], -1) @ pose[:3, :3].T
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -pose[2, 3] / rays[..., 2]
    return np.where((t > 0) & (t < 7.5), t, 0.0).astype(np.float32)[None]


@pytest.mark.parametrize("fusion", ["open3d", "torch"])
def test_fusion_reads_the_nearest_pixel(fusion):
    """Exact depth of slanted ground fuses onto the ground, not half a pixel's footprint below it."""
    cameras = _slanted_view(-25.0)
    depth = _exact_plane_depth(cameras)
    options = {"voxel_size": 0.02, "truncation_voxels": 4.0, "max_depth": 8.0}
    if fusion == "open3d":
        pytest.importorskip("open3d")
        from worldgen_sim.surface.fusion import fuse_depth_frames

        mesh = fuse_depth_frames(depth, None, cameras, **options)
    else:
        from worldgen_sim.surface.fusion_torch import fuse_depth_frames_torch

        mesh = fuse_depth_frames_torch(depth, None, cameras, device="cpu", **options)
    points = mesh.sample_surface(50_000, seed=0)
    distance = np.hypot(points[:, 0], points[:, 1] + 6.0)
    # 1-4 m ahead: slanted, and sampled densely enough (beyond, a pixel spans several voxels).
    heights = points[(distance > 1.0) & (distance < 4.0), 2]
    assert heights.size > 10_000
    # Reading the pixel up-left of each voxel put this mesh 1-2 cm under the ground (measured).
    assert abs(np.median(heights)) < 0.002, np.median(heights)


def test_automatic_views_stay_inside_a_roofless_room_turned_in_its_box():
    """Walls of a 6 x 5 m room turned 50 deg, no roof: the bounding box's corners lie outside the walls."""
    rng = np.random.default_rng(0)
    spacing = 0.05
    pieces = []
    gx, gy = np.arange(-3.0, 3.0, spacing), np.arange(-2.5, 2.5, spacing)
    floor = np.stack(np.meshgrid(gx, gy, indexing="ij"), -1).reshape(-1, 2)
    pieces.append(np.column_stack([floor, np.zeros(len(floor))]))
    heights = np.arange(0.0, 2.5, spacing)
    for x in (-3.0, 3.0):
        y, h = np.meshgrid(gy, heights, indexing="ij")
        pieces.append(np.column_stack([np.full(y.size, x), y.ravel(), h.ravel()]))
    for y in (-2.5, 2.5):
        x, h = np.meshgrid(gx, heights, indexing="ij")
        pieces.append(np.column_stack([x.ravel(), np.full(x.size, y), h.ravel()]))
    room = np.concatenate(pieces)
    turn = np.radians(50.0)
    rotation = np.array([[np.cos(turn), -np.sin(turn), 0.0], [np.sin(turn), np.cos(turn), 0.0], [0.0, 0.0, 1.0]])
    positions = room @ rotation.T
    cloud = surfel_cloud(positions, np.tile([1.0, 0.0, 0.0, 0.0], (len(positions), 1)),
                         np.full((len(positions), 3), 0.5), spacing=spacing, rng=rng)
    cameras = place_views(cloud, num_views=48, width=64, height=48, fov_deg=90.0)
    inside = cameras.cam_to_world[:, :3, 3] @ rotation  # back in the room's own frame
    assert np.all(np.abs(inside[:, 0]) < 3.0) and np.all(np.abs(inside[:, 1]) < 2.5), np.unique(inside, axis=0)


@pytest.mark.parametrize("kernel", ["warp", "torch"])
def test_needles_over_the_ground_stay_thin(kernel, monkeypatch):
    """Opaque needles (a trainer's elongated Gaussians, 5-30 cm long, mm thin) lying through noisy ground
    cover about their width, not discs of their length (the plaza scene: such discs became clutter)."""
    from worldgen_sim.scenes.surfels import concat_clouds, needle_cloud
    from worldgen_sim.surface import zbuffer

    if kernel == "warp":
        pytest.importorskip("warp")
    ground = _ground(half=3.0, spacing=0.03, noise=0.005)
    rng = np.random.default_rng(1)
    needles = needle_cloud(rng, 600, ground.positions[rng.choice(len(ground.positions), 600)].astype(np.float64))
    needles.opacities[:] = 0.8
    cloud = concat_clouds([ground, needles])
    cameras = _slanted_view(-35.0, eye_y=-2.0)
    options = {"min_opacity": 0.5, "near": 0.05, "far": 8.0, "kernel": kernel}

    def raised() -> float:
        heights, _ = _heights(zbuffer_depth_maps(cloud, cameras, **options)[0][0], cameras)
        return float(np.mean(heights > 0.03))

    thin = raised()
    monkeypatch.setattr(zbuffer, "NEEDLE_RATIO", np.inf)  # needles drawn as discs of their length
    fat = raised()
    assert thin < 0.01, thin  # measured 0.05 % of pixels more than 3 cm up; as discs of their length 51 %
    assert fat > 3 * thin, (fat, thin)

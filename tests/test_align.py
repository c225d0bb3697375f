"""Alignment stage: the sample room written in OpenCV / y-up / z-up frames at an unknown scale comes back
Z-up, metric, floor at z = 0, with floaters and the sky shell removed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from worldgen_sim.align.align import align_scene
from worldgen_sim.align.align_cfg import AlignCfg
from worldgen_sim.align.filters import isolated_mask
from worldgen_sim.align.transforms import quaternion_to_matrix, rotate_sh, sh_basis, transform_gaussians
from worldgen_sim.artifacts import CameraPath, GaussianCloud, RGBDFrames, SceneInput
from worldgen_sim.errors import WorldgenError
from worldgen_sim.samples import FLOATER, SKY, SURFACE, make_sample_room

INPUT_SCALE = 0.37  # input units per metre: the "unknown" scale of a relative-depth generator


@pytest.fixture(scope="module")
def room():
    # ~35k surface Gaussians; 2.5k floaters + 12.5k sky = 30 % outliers.
    return make_sample_room(seed=0, spacing=0.06, num_floaters=2500, num_sky=12500)


def _scene(room, frame, *, default_up=None, with_camera=False):
    """The room in an input frame, with each Gaussian's index hidden in its DC red (untouched by alignment)."""
    cloud, true = room.to_input_frame(scale=INPUT_SCALE, frame=frame)
    cloud.sh[:, 0, 0] = np.arange(len(cloud), dtype=np.float32)
    cameras = None
    if with_camera:
        pose = np.linalg.inv(true) @ room.camera_to_world
        pose[:3, :3] /= np.cbrt(np.linalg.det(pose[:3, :3]))  # rigid pose, centre in input units
        cameras = CameraPath(np.eye(3)[None], pose[None], 64, 48)
    scene = SceneInput(Path("room.ply"), "", "test", gaussians=cloud, cameras=cameras, default_up=default_up or frame)
    return scene, true


def _rotation(matrix):
    linear = matrix[:3, :3]
    return linear / np.cbrt(np.linalg.det(linear))


def _floor_error(room, true, out):
    """(tilt of the recovered floor normal [deg], worst |z| of the true floor points in our world [m])."""
    n_true = _rotation(true).T @ np.array([0.0, 0.0, 1.0])
    tilt = np.degrees(np.arccos(np.clip(n_true @ np.asarray(out.report["floor_normal_input"]), -1, 1)))
    pos = room.gaussians.positions.astype(np.float64)
    floor = pos[(room.labels == SURFACE) & (pos[:, 2] == 0.0)]
    inv = np.linalg.inv(true)
    ours = (floor @ inv[:3, :3].T + inv[:3, 3]) @ out.input_to_world[:3, :3].T + out.input_to_world[:3, 3]
    return tilt, np.abs(ours[:, 2]).max()


def _kept_labels(room, out):
    kept = np.zeros(len(room.labels), dtype=bool)
    kept[out.gaussians.sh[:, 0, 0].astype(np.int64)] = True
    return {
        name: kept[room.labels == label].mean()
        for name, label in (("surface", SURFACE), ("floater", FLOATER), ("sky", SKY))
    }


def test_opencv_frame_unknown_scale_done_when(room):
    scene, true = _scene(room, "opencv")
    out = align_scene(scene, cfg=AlignCfg(up="opencv", camera_height=room.camera_height))
    tilt, floor_z = _floor_error(room, true, out)
    assert tilt < 2.0
    assert floor_z < 0.03
    true_scale = 1.0 / INPUT_SCALE
    assert abs(out.scale / true_scale - 1.0) < 0.03
    assert out.report["scale_source"].startswith("camera height")
    kept = _kept_labels(room, out)
    assert kept["surface"] >= 0.98
    assert kept["floater"] <= 0.10
    assert kept["sky"] <= 0.10
    r = out.report
    assert r["removed_sky"] + r["removed_low_opacity"] + r["removed_isolated"] + r["kept"] == len(room.labels)
    assert r["kept"] == len(out.gaussians)
    json.loads(json.dumps(r))  # JSON-serialisable
    assert r["floor_inliers"] > 1000 and r["up_used"] == "opencv" and r["scale_source"]
    # The whole similarity is recorded and consistent with the scale.
    assert np.allclose(np.asarray(r["input_to_world"]), out.input_to_world)
    assert np.isclose(np.cbrt(np.linalg.det(out.input_to_world[:3, :3])), out.scale)


def test_noisy_floor_still_within_tolerance(room):
    # Real splat surfaces are fuzzy: 4 cm of noise on every centre (in metres, before scaling).
    scene, true = _scene(room, "opencv")
    noise = np.random.default_rng(5).normal(0.0, 0.04 * INPUT_SCALE, scene.gaussians.positions.shape)
    scene.gaussians.positions += noise.astype(np.float32)
    out = align_scene(scene, cfg=AlignCfg(up="opencv", camera_height=room.camera_height))
    tilt, floor_z = _floor_error(room, true, out)
    assert tilt < 2.0 and floor_z < 0.03
    assert abs(out.scale * INPUT_SCALE - 1.0) < 0.03


@pytest.mark.parametrize("frame", ["y", "z"])
def test_y_and_z_frames_with_walls_yaw(room, frame):
    scene, true = _scene(room, frame)
    out = align_scene(scene, cfg=AlignCfg(up=frame, scale=1.0 / INPUT_SCALE, yaw="walls"))
    tilt, floor_z = _floor_error(room, true, out)
    assert tilt < 2.0 and floor_z < 0.03
    assert out.report["yaw_rule"] == "walls"
    # Walls on the axes: ours differs from the truth by a turn about Z of a multiple of 90 deg.
    turn = _rotation(out.input_to_world) @ _rotation(true).T
    assert turn[2, 2] > 0.9999
    angle = np.degrees(np.arctan2(turn[1, 0], turn[0, 0]))
    assert abs((angle + 45.0) % 90.0 - 45.0) < 0.5


def test_camera_yaw_and_camera_path_transformed(room):
    scene, _true = _scene(room, "opencv", with_camera=True)
    out = align_scene(scene, cfg=AlignCfg(up="opencv", camera_height=room.camera_height, yaw="camera", origin="camera"))
    pose = out.cameras.cam_to_world[0]
    forward = pose[:3, 2]
    assert abs(forward[0]) < 1e-6 and forward[1] > 0.9  # looks along +Y (pitched 12 deg down)
    assert np.allclose(pose[:3, 3], [0.0, 0.0, room.camera_height], atol=0.02)  # origin under the camera
    assert np.allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-9)  # still rigid
    assert out.report["yaw_rule"].startswith("camera")


def test_auto_up_from_geometry_and_cameras(room):
    scene, true = _scene(room, "y", default_up="unknown")
    out = align_scene(scene, cfg=AlignCfg(up="auto", scale=1.0 / INPUT_SCALE))
    assert out.report["up_used"] == "+y"
    assert _floor_error(room, true, out)[1] < 0.03
    scene, _ = _scene(room, "z", default_up="auto")
    scene.gaussians.positions[:, 1:] *= -1  # upside down: the ceiling faces +z, the floor is the -z side
    assert align_scene(scene, cfg=AlignCfg(up="auto")).report["up_used"] == "-z"
    scene, true = _scene(room, "opencv", default_up="unknown")  # camera pitched 12 deg: up is ~-y
    assert align_scene(scene, cfg=AlignCfg(up="auto")).report["up_used"] == "-y"
    scene, true = _scene(room, "z", default_up="unknown", with_camera=True)
    out = align_scene(scene, cfg=AlignCfg(up="auto", camera_height=room.camera_height))
    assert out.report["up_used"] == "cameras"
    tilt, floor_z = _floor_error(room, true, out)
    assert tilt < 2.0 and floor_z < 0.03
    assert abs(out.scale * INPUT_SCALE - 1.0) < 0.03


def test_ceiling_and_table_top_never_win(room):
    # Triple the ceiling and add a big dense table-height slab: both outweigh the floor, neither is under the scene.
    cloud, _true = room.to_input_frame(scale=1.0, frame="z")
    pos = cloud.positions
    ceiling = np.flatnonzero(np.isclose(pos[:, 2], room.size[2]))
    rng = np.random.default_rng(3)
    slab = np.column_stack([rng.uniform(-2.5, 2.5, 40000), rng.uniform(-2, 2, 40000), np.full(40000, 0.75)])
    extra = np.concatenate([pos[ceiling], pos[ceiling], slab.astype(np.float32)])
    n = len(extra)
    big = GaussianCloud(
        np.concatenate([pos, extra]).astype(np.float32),
        np.concatenate([cloud.rotations, np.tile([[1, 0, 0, 0]], (n, 1))]).astype(np.float32),
        np.concatenate([cloud.scales, np.full((n, 3), 0.02)]).astype(np.float32),
        np.concatenate([cloud.opacities, np.full(n, 0.9)]).astype(np.float32),
        np.concatenate([cloud.sh, np.zeros((n, 1, 3))]).astype(np.float32),
    )
    scene = SceneInput(Path("room.ply"), "", "test", gaussians=big, default_up="z")
    out = align_scene(scene, cfg=AlignCfg(up="z"))
    assert abs(out.report["floor_offset_input"]) < 0.03


def test_deterministic(room):
    scene, _ = _scene(room, "opencv")
    cfg = AlignCfg(up="opencv", camera_height=1.4, seed=7)
    a, b = align_scene(scene, cfg=cfg), align_scene(scene, cfg=cfg)
    assert np.array_equal(a.input_to_world, b.input_to_world)
    assert np.array_equal(a.gaussians.positions, b.gaussians.positions)
    assert {k: v for k, v in a.report.items() if k != "seconds"} == {
        k: v for k, v in b.report.items() if k != "seconds"
    }


def test_switches_off_keep_everything(room):
    scene, _ = _scene(room, "opencv")
    out = align_scene(scene, cfg=AlignCfg(up="opencv", remove_floaters=False, remove_sky=False))
    assert len(out.gaussians) == len(room.labels) == out.report["kept"]
    assert "removed_sky" not in out.report and "removed_isolated" not in out.report
    only_sky = align_scene(scene, cfg=AlignCfg(up="opencv", remove_floaters=False))
    assert only_sky.report["removed_sky"] >= 0.9 * 12500 and "removed_isolated" not in only_sky.report


def test_gaussian_orientation_scale_and_sh_follow_the_transform(room):
    scene, _true = _scene(room, "opencv")
    out = align_scene(
        scene, cfg=AlignCfg(up="opencv", scale=1.0 / INPUT_SCALE, remove_floaters=False, remove_sky=False)
    )
    index = out.gaussians.sh[:, 0, 0].astype(np.int64)
    floor = (room.labels[index] == SURFACE) & (room.gaussians.positions[index, 2] == 0.0)
    local_z = quaternion_to_matrix(out.gaussians.rotations[floor])[:, :, 2]
    assert np.all(local_z[:, 2] > 0.999)  # flat floor surfels face +Z again
    assert np.allclose(out.gaussians.scales, room.gaussians.scales[index], rtol=1e-4, atol=1e-6)
    # Degree-3 SH: the colour seen along R d after equals the colour along d before.
    rng = np.random.default_rng(0)
    sh = rng.normal(size=(5, 16, 3)).astype(np.float32)
    rotation = _rotation(out.input_to_world)
    dirs = rng.normal(size=(20, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    before = np.einsum("qk,nkc->nqc", sh_basis(dirs, 3), sh)
    after = np.einsum("qk,nkc->nqc", sh_basis(dirs @ rotation.T, 3), rotate_sh(sh, rotation))
    assert np.allclose(before, after, atol=1e-4)
    moved = transform_gaussians(
        GaussianCloud(
            np.zeros((5, 3), np.float32),
            np.tile([[1, 0, 0, 0]], (5, 1)).astype(np.float32),
            np.ones((5, 3), np.float32),
            np.ones(5, np.float32),
            sh,
        ),
        out.input_to_world,
    )
    assert np.allclose(moved.scales, out.scale)


def _render_depth(points, pose, k, width, height):
    """(H, W) z-buffer depth of points seen by an OpenCV camera (pose: cam_to_frame)."""
    cam = (points - pose[:3, 3]) @ pose[:3, :3]
    front = cam[:, 2] > 1e-3
    cam = cam[front]
    uv = cam @ k.T
    u, v = (uv[:, 0] / uv[:, 2]).astype(np.int64), (uv[:, 1] / uv[:, 2]).astype(np.int64)
    ok = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    depth = np.full(width * height, np.inf)
    np.minimum.at(depth, v[ok] * width + u[ok], cam[ok, 2])
    depth[~np.isfinite(depth)] = 0.0
    return depth.reshape(height, width).astype(np.float32)


def test_rgbd_frames_only_input(room):
    _, true = room.to_input_frame(scale=INPUT_SCALE, frame="opencv")
    inv = np.linalg.inv(true)
    points = room.surface_points(spacing=0.02) @ inv[:3, :3].T + inv[:3, 3]  # input frame
    width, height = 160, 120
    k = np.array([[120.0, 0, 80], [0, 120.0, 60], [0, 0, 1]])
    poses = []
    for yaw in (0.0, 0.4, -0.4):  # the input camera (identity) and two turned about its own y axis
        c, s = np.cos(yaw), np.sin(yaw)
        pose = np.eye(4)
        pose[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
        poses.append(pose)
    depths = np.stack([_render_depth(points, p, k, width, height) for p in poses])
    frames = RGBDFrames(
        np.zeros((3, height, width, 3), np.uint8), depths, CameraPath(np.stack([k] * 3), np.stack(poses), width, height)
    )
    scene = SceneInput(Path("frames"), "", "rgbd", frames=frames, default_up="opencv")
    out = align_scene(scene, cfg=AlignCfg(up="auto", camera_height=room.camera_height))
    assert out.gaussians is None and out.report["floor_points_source"] == "rgbd"
    assert abs(out.scale * INPUT_SCALE - 1.0) < 0.03
    tilt, floor_z = _floor_error(room, true, out)
    assert tilt < 2.0 and floor_z < 0.03
    assert np.allclose(out.frames.depths, depths * out.scale, rtol=1e-5)
    assert np.allclose(out.frames.cameras.cam_to_world[:, 2, 3], room.camera_height, atol=0.03)


def test_isolation_matches_kdtree():
    spatial = pytest.importorskip("scipy.spatial")
    rng = np.random.default_rng(1)
    points = rng.uniform(-2, 2, (6000, 3))
    points[:3000, 2] = 0.0  # half on a plane, half scattered
    for radius, k in ((0.15, 4), (0.3, 2), (0.2, 10)):
        ours = isolated_mask(points, radius=radius, min_neighbors=k)
        reference = spatial.cKDTree(points).query_ball_point(points, radius, return_length=True) - 1 < k
        assert np.array_equal(ours, reference)
    assert not isolated_mask(points, radius=0.1, min_neighbors=0).any()


def _bad_scene(positions):
    n = len(positions)
    cloud = GaussianCloud(
        positions.astype(np.float32),
        np.tile([[1, 0, 0, 0]], (n, 1)).astype(np.float32),
        np.full((n, 3), 0.01, np.float32),
        np.ones(n, np.float32),
        np.zeros((n, 1, 3), np.float32),
    )
    return SceneInput(Path("bad.ply"), "", "test", gaussians=cloud, default_up="z")


def test_bad_inputs_raise(room):
    rng = np.random.default_rng(0)
    with pytest.raises(WorldgenError, match="--up"):
        align_scene(_bad_scene(rng.normal(size=(10, 3))), cfg=AlignCfg())  # too few points
    wall = np.column_stack([rng.uniform(-3, 3, 5000), np.zeros(5000), rng.uniform(0, 3, 5000)])
    with pytest.raises(WorldgenError, match="no floor found"):
        align_scene(_bad_scene(wall), cfg=AlignCfg(up="z"))  # only a vertical plane
    with pytest.raises(WorldgenError, match="no floor found"):
        align_scene(_bad_scene(rng.normal(size=(20000, 3))), cfg=AlignCfg(up="z"))  # a blob, no plane
    with pytest.raises(WorldgenError, match="neither Gaussians nor RGB-D"):
        align_scene(SceneInput(Path("empty"), "", "test"), cfg=AlignCfg())
    scene, _ = _scene(room, "y")
    with pytest.raises(WorldgenError, match="--camera-height"):
        align_scene(scene, cfg=AlignCfg(up="y", camera_height=1.4))  # no camera to measure from
    for bad in (AlignCfg(up="x"), AlignCfg(yaw="north"), AlignCfg(scale=-1.0), AlignCfg(camera_height=0.0)):
        with pytest.raises(WorldgenError, match="align\\."):
            align_scene(scene, cfg=bad)

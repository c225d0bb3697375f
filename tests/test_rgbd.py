"""RGB-D folder input: reading, fusing, and rejecting bad folders.

The real frames come from the shared data folder (``WORLDGEN_SHARED_DATA``,
default ``../shared/data`` next to the repository); tests that need them skip
when it is absent. Synthetic folders with known geometry are written here.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from worldgen_sim.artifacts import AlignedScene, CameraPath, TriangleMesh
from worldgen_sim.errors import WorldgenError
from worldgen_sim.io.input_cfg import InputCfg
from worldgen_sim.io.rgbd_folder import guess_up, read_rgbd_folder
from worldgen_sim.samples import make_sample_room
from worldgen_sim.surface.surface import extract_surface
from worldgen_sim.surface.surface_cfg import SurfaceCfg
from worldgen_sim.surface.views import look_pose

SHARED_DATA = Path(
    os.environ.get("WORLDGEN_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
)
REDWOOD = SHARED_DATA / "rgbd" / "redwood"
PRIMESENSE = {"fx": 525.0, "fy": 525.0, "cx": 319.5, "cy": 239.5, "width": 640, "height": 480}
"""The pinhole camera Open3D's examples integrate the Redwood frames with."""


@pytest.fixture
def redwood(tmp_path) -> Path:
    if not (REDWOOD / "trajectory.log").is_file():
        pytest.skip(f"shared RGB-D frames not found at {REDWOOD} (set WORLDGEN_SHARED_DATA)")
    folder = tmp_path / "redwood"
    shutil.copytree(REDWOOD, folder)
    (folder / "intrinsics.json").write_text(json.dumps(PRIMESENSE))
    return folder


def _fuse(scene_input, **cfg) -> TriangleMesh:
    scene = AlignedScene(np.eye(4), 1.0, frames=scene_input.frames)
    return extract_surface(scene, cfg=SurfaceCfg(**cfg)).mesh


def _depth_disagreement(mesh: TriangleMesh, depth: np.ndarray, intrinsics: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """|mesh z - measured depth| [m] for the mesh vertices this frame sees (in view, valid reading, not hidden)."""
    world_to_cam = np.linalg.inv(pose)
    cam = mesh.vertices.astype(np.float64) @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    z = cam[:, 2]
    front = z > 0.1
    u = np.round(intrinsics[0, 0] * cam[:, 0] / np.where(front, z, 1) + intrinsics[0, 2]).astype(int)
    v = np.round(intrinsics[1, 1] * cam[:, 1] / np.where(front, z, 1) + intrinsics[1, 2]).astype(int)
    inside = front & (u >= 0) & (u < depth.shape[1]) & (v >= 0) & (v < depth.shape[0])
    measured = np.zeros_like(z)
    measured[inside] = depth[v[inside], u[inside]]
    # Seen: a reading there, and the vertex not behind the measured surface (occluded from this frame).
    seen = inside & (measured > 0) & (z < measured + 0.1)
    return np.abs(z[seen] - measured[seen])


def test_redwood_folder_reads(redwood):
    scene = read_rgbd_folder(redwood, cfg=InputCfg())
    frames = scene.frames
    assert scene.layout == "rgbd" and scene.gaussians is None and len(frames) == 5
    assert frames.colors.shape == (5, 480, 640, 3) and frames.colors.dtype == np.uint8
    assert frames.depths.shape == (5, 480, 640) and frames.depths.dtype == np.float32
    readings = frames.depths[frames.depths > 0]
    assert 0.5 < np.median(readings) < 4.0 and readings.max() <= InputCfg().max_depth
    assert np.allclose(frames.cameras.intrinsics[0], [[525, 0, 319.5], [0, 525, 239.5], [0, 0, 1]])
    assert np.allclose(frames.cameras.cam_to_world[0, :3, 3], [-0.31058, 0.57301, 2.12648], atol=1e-4)
    # The Redwood living room's poses are y-up: every camera's "down" axis is about -y.
    assert scene.default_up == "y"
    assert frames.names == [f"{i:05d}" for i in range(5)]
    assert len(scene.sha256) == 64 and read_rgbd_folder(redwood, cfg=InputCfg()).sha256 == scene.sha256


@pytest.mark.slow
def test_redwood_fusion_agrees_with_each_frame(redwood):
    scene = read_rgbd_folder(redwood, cfg=InputCfg())
    mesh = _fuse(scene, voxel_size=0.02)
    assert mesh.faces.shape[0] > 10_000 and mesh.colors is not None
    frames = scene.frames
    for index in range(len(frames)):
        diff = _depth_disagreement(mesh, frames.depths[index], frames.cameras.intrinsics[index],
                                   frames.cameras.cam_to_world[index])  # fmt: skip
        assert diff.size > 0.5 * mesh.vertices.shape[0], f"frame {index} should see most of the mesh"
        assert np.median(diff) <= 0.02, f"frame {index}: median depth disagreement {np.median(diff):.4f} m"


# --- synthetic folders with known geometry --------------------------------------------------------


def _room_depths(room, poses: list[np.ndarray], k: np.ndarray, width: int, height: int) -> np.ndarray:
    """(M, H, W) exact z-depth of the room's surfaces [m] (ray cast), 0 where nothing is hit."""
    import open3d as o3d

    truth = room.ground_truth_mesh()
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(truth.vertices), o3d.core.Tensor(truth.faces.astype(np.uint32)))
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    rays_cam = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones(u.shape)], axis=-1)
    depths = []
    for pose in poses:
        directions = rays_cam @ pose[:3, :3].T
        rays = np.concatenate([np.broadcast_to(pose[:3, 3], directions.shape), directions], axis=-1)
        hit = scene.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))["t_hit"].numpy()
        depths.append(np.where(np.isfinite(hit), hit, 0.0))
    return np.stack(depths).astype(np.float32)


def _write_folder(folder: Path, depths_mm: np.ndarray, *, poses: np.ndarray, intrinsics: dict | None,
                  color_size: tuple[int, int] | None = None) -> Path:  # fmt: skip
    """Write color/*.png, depth/*.png, trajectory.log and intrinsics.json (when given)."""
    import open3d as o3d

    (folder / "color").mkdir(parents=True)
    (folder / "depth").mkdir()
    height, width = color_size or depths_mm.shape[1:]
    for index, depth in enumerate(depths_mm):
        color = np.full((height, width, 3), (200, 120, 40), np.uint8)
        o3d.io.write_image(str(folder / "color" / f"{index:05d}.png"), o3d.geometry.Image(color))
        o3d.io.write_image(str(folder / "depth" / f"{index:05d}.png"), o3d.geometry.Image(np.ascontiguousarray(depth)))
    lines = []
    for index, pose in enumerate(poses):
        lines.append(f"{index} {index} {index + 1}")
        lines += [" ".join(f"{x:.12g}" for x in row) for row in pose]
    (folder / "trajectory.log").write_text("\n".join(lines) + "\n")
    if intrinsics is not None:
        (folder / "intrinsics.json").write_text(json.dumps(intrinsics))
    return folder


SYNTH_K = np.array([[100.0, 0, 79.5], [0, 100.0, 59.5], [0, 0, 1]])
SYNTH_INTRINSICS = {"fx": 100.0, "fy": 100.0, "cx": 79.5, "cy": 59.5, "width": 160, "height": 120}


@pytest.fixture(scope="module")
def synthetic_room():
    room = make_sample_room(spacing=0.1, size=(4.0, 3.5, 2.5))
    poses = [look_pose(np.array([x, -0.8, 1.4]), yaw=yaw, pitch=-0.35) for x in (-0.5, 0.5) for yaw in (0.6, 1.57, 2.5)]
    depths = _room_depths(room, poses, SYNTH_K, 160, 120)
    return room, np.stack(poses), depths


def test_synthetic_rgbd_folder_fuses_to_known_geometry(tmp_path, synthetic_room):
    from scipy.spatial import cKDTree

    room, poses, depths = synthetic_room
    folder = _write_folder(tmp_path / "f", np.round(depths * 1000).astype(np.uint16), poses=poses,
                           intrinsics=SYNTH_INTRINSICS)  # fmt: skip
    scene = read_rgbd_folder(folder, cfg=InputCfg())
    assert scene.default_up == "z"
    mesh = _fuse(scene, voxel_size=0.02)
    distance, _ = cKDTree(room.surface_points(spacing=0.01)).query(mesh.vertices)
    assert np.percentile(distance, 95) <= 0.02
    assert np.allclose(np.median(mesh.colors, axis=0), np.array([200, 120, 40]) / 255, atol=0.02)


def _bad_folder(tmp_path, synthetic_room, **changes) -> Path:
    _, poses, depths = synthetic_room
    depth_mm = np.round(depths * changes.pop("scale", 1000.0)).astype(changes.pop("dtype", np.uint16))
    args = {"poses": poses, "intrinsics": SYNTH_INTRINSICS} | changes
    return _write_folder(tmp_path / "bad", depth_mm, **args)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"intrinsics": None}, "missing camera intrinsics: add intrinsics.json"),
        ({"dtype": np.uint8, "scale": 0.05}, "16-bit"),
        ({"color_size": (60, 80)}, "colour and depth must be registered at the same size"),
        ({"intrinsics": SYNTH_INTRINSICS | {"width": 320}}, "intrinsics.json says 320x120"),
        ({"scale": 1.0}, "set input.depth_scale"),
    ],
)
def test_bad_images_are_rejected(tmp_path, synthetic_room, changes, message):
    folder = _bad_folder(tmp_path, synthetic_room, **changes)
    with pytest.raises(WorldgenError, match=message):
        read_rgbd_folder(folder, cfg=InputCfg())


def test_bad_poses_are_rejected(tmp_path, synthetic_room):
    _, poses, _ = synthetic_room
    folder = _bad_folder(tmp_path, synthetic_room, poses=poses[:-2])
    with pytest.raises(WorldgenError, match="holds 4 poses for 6 frames"):
        read_rgbd_folder(folder, cfg=InputCfg())
    (folder / "trajectory.log").unlink()
    with pytest.raises(WorldgenError, match="missing camera poses: expected one of trajectory.log"):
        read_rgbd_folder(folder, cfg=InputCfg())
    sheared = poses.copy()
    sheared[2, 0, 1] += 0.5
    np.save(folder / "poses.npy", sheared)
    with pytest.raises(WorldgenError, match="pose 2 is not a rigid"):
        read_rgbd_folder(folder, cfg=InputCfg())


def test_missing_or_empty_folders_are_rejected(tmp_path):
    with pytest.raises(WorldgenError, match="must be a folder"):
        read_rgbd_folder(tmp_path / "nope", cfg=InputCfg())
    (tmp_path / "color").mkdir()
    with pytest.raises(WorldgenError, match="missing sub-folder 'depth/'"):
        read_rgbd_folder(tmp_path, cfg=InputCfg())
    (tmp_path / "depth").mkdir()
    (tmp_path / "intrinsics.json").write_text(json.dumps(SYNTH_INTRINSICS))
    with pytest.raises(WorldgenError, match="no frames"):
        read_rgbd_folder(tmp_path, cfg=InputCfg())


def test_inconsistent_frames_are_rejected_by_the_surface_stage(synthetic_room):
    from worldgen_sim.artifacts import RGBDFrames

    _, poses, depths = synthetic_room
    cameras = CameraPath(np.stack([SYNTH_K] * 3), poses[:3], 160, 120)
    frames = RGBDFrames(np.zeros(depths.shape + (3,), np.uint8), depths, cameras)
    with pytest.raises(WorldgenError, match="6 depth images but 3 poses"):
        extract_surface(AlignedScene(np.eye(4), 1.0, frames=frames), cfg=SurfaceCfg())
    empty = RGBDFrames(np.zeros(depths.shape + (3,), np.uint8), np.zeros_like(depths),
                       CameraPath(np.stack([SYNTH_K] * 6), poses, 160, 120))  # fmt: skip
    with pytest.raises(WorldgenError, match="no depth image holds a valid reading"):
        extract_surface(AlignedScene(np.eye(4), 1.0, frames=empty), cfg=SurfaceCfg())


def test_up_axis_guess():
    level = look_pose(np.zeros(3), yaw=0.3, pitch=-0.2)
    y_up = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, 1]], np.float64) @ level
    assert guess_up(level[None]) == "z"
    assert guess_up(y_up[None]) == "y"
    assert guess_up(np.eye(4)[None]) == "opencv"

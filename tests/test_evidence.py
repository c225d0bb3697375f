"""evidence.npz: what an RGB-D (or splat-less) build observed, written deterministically for `worldgen verify`."""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.artifacts import AlignedScene, CameraPath, GaussianCloud, RGBDFrames
from worldgen_sim.errors import WorldgenError
from worldgen_sim.evidence import EVIDENCE_FILE, read_evidence, write_world_evidence


def _floor_frames() -> RGBDFrames:
    """Two 64 x 48 depth frames of the plane z = 0 seen from 1.5 m straight above (world frame, metres)."""
    k = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
    poses = []
    for x in (0.0, 0.5):
        pose = np.eye(4)
        pose[:3, :3] = np.diag([1.0, -1.0, -1.0])  # looking down: camera z -> world -z
        pose[:3, 3] = [x, 0.0, 1.5]
        poses.append(pose)
    depths = np.full((2, 48, 64), 1.5, np.float32)
    depths[:, :4] = 0.0  # no reading
    cameras = CameraPath(np.stack([k, k]), np.stack(poses), 64, 48)
    return RGBDFrames(colors=np.zeros((2, 48, 64, 3), np.uint8), depths=depths, cameras=cameras)


def test_rgbd_evidence_lies_on_the_observed_surface_and_is_byte_identical(tmp_path):
    aligned = AlignedScene(input_to_world=np.eye(4), scale=1.0, frames=_floor_frames())
    path = write_world_evidence(tmp_path, aligned)
    assert path == tmp_path / EVIDENCE_FILE
    points, weights, source = read_evidence(path)
    assert source == "rgbd" and len(points) == 2 * 44 * 64 and np.all(weights == 1.0)
    assert np.abs(points[:, 2]).max() < 1e-5
    first = path.read_bytes()
    (tmp_path / "again").mkdir()
    assert write_world_evidence(tmp_path / "again", aligned).read_bytes() == first


def test_gaussian_evidence_and_bad_files(tmp_path):
    n = 1000
    rng = np.random.default_rng(0)
    cloud = GaussianCloud(
        rng.normal(size=(n, 3)).astype(np.float32),
        np.tile([1.0, 0, 0, 0], (n, 1)).astype(np.float32),
        np.full((n, 3), 0.01, np.float32),
        rng.uniform(0, 1, n).astype(np.float32),
        np.zeros((n, 1, 3), np.float32),
    )
    path = write_world_evidence(tmp_path, AlignedScene(input_to_world=np.eye(4), scale=1.0, gaussians=cloud))
    points, weights, source = read_evidence(path)
    assert source == "gaussians"
    np.testing.assert_array_equal(points, cloud.positions)
    np.testing.assert_array_equal(weights, cloud.opacities)
    assert write_world_evidence(tmp_path, AlignedScene(input_to_world=np.eye(4), scale=1.0)) is None
    path.write_bytes(b"not a zip")
    with pytest.raises(WorldgenError, match="evidence.npz: cannot read the evidence file"):
        read_evidence(path)

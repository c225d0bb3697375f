"""A real RGB-D picture becomes a world: the bundled Redwood frame 0 (``worldgen demo``), checked
against the four other Redwood frames' measured depth, and the same frame given as a photo + depth.

The other frames come from the shared data folder (``WORLDGEN_SHARED_DATA``, default
``../shared/data``); the accuracy test skips when it is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from worldgen_sim.artifacts import TriangleMesh
from worldgen_sim.cli import main
from worldgen_sim.demo import demo_frame_folder
from worldgen_sim.generate.labels import over_faces, spawn_points_to_drop

SHARED_DATA = Path(
    os.environ.get("WORLDGEN_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
)
REDWOOD = SHARED_DATA / "rgbd" / "redwood"
K = np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]])
PIL = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "world"
    assert main(["demo", "--no-verify", "-o", str(out), "--quiet"]) == 0
    return out


def _visual(out: Path) -> tuple[TriangleMesh, np.ndarray]:
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(out / "visual.usdc"))
    prim = stage.GetPrimAtPath("/World/Visual/Mesh")
    mesh = UsdGeom.Mesh(prim)
    vertices = np.asarray(mesh.GetPointsAttr().Get(), np.float32)
    faces = np.asarray(mesh.GetFaceVertexIndicesAttr().Get(), np.int32).reshape(-1, 3)
    labels = np.asarray(UsdGeom.PrimvarsAPI(prim).GetPrimvar("worldgen:completed").Get(), np.int8)
    return TriangleMesh(vertices, faces), labels


def _frames():
    if not (REDWOOD / "trajectory.log").is_file():
        pytest.skip(f"shared RGB-D frames not found at {REDWOOD} (set WORLDGEN_SHARED_DATA)")
    rows = [line.split() for line in (REDWOOD / "trajectory.log").read_text().splitlines() if line.strip()]
    poses = np.array([rows[i] for i in range(len(rows)) if i % 5], np.float64).reshape(-1, 4, 4)
    depths = [np.asarray(PIL.open(REDWOOD / "depth" / f"{i:05d}.png"), np.float64) / 1000.0 for i in range(5)]
    return poses, depths


def _points(depth: np.ndarray, pose: np.ndarray, stride: int = 4) -> np.ndarray:
    v, u = np.mgrid[0 : depth.shape[0] : stride, 0 : depth.shape[1] : stride]
    z = depth[v, u]
    keep = z > 0
    cam = np.stack([(u[keep] - K[0, 2]) * z[keep] / K[0, 0], (v[keep] - K[1, 2]) * z[keep] / K[1, 1], z[keep]], 1)
    return cam @ pose[:3, :3].T + pose[:3, 3]


def test_frame0_mesh_is_within_2cm_of_what_frames_1_to_4_measure(demo_world):
    """Measured points of frames 1-4 on surfaces frame 0 also sees (visible from frame 0's camera
    and within 5 cm of its own reading there) lie a median < 2 cm from the world's visual mesh."""
    from scipy.spatial import cKDTree

    poses, depths = _frames()
    summary = json.loads((demo_world / "world.json").read_text())
    to_world = np.asarray(summary["input_to_world"])
    mesh, _ = _visual(demo_world)
    tree = cKDTree(mesh.sample_surface(800_000, seed=0))
    world_to_cam0 = np.linalg.inv(poses[0])
    medians = []
    for index in range(1, 5):
        points = _points(depths[index], poses[index])
        cam0 = points @ world_to_cam0[:3, :3].T + world_to_cam0[:3, 3]
        z = cam0[:, 2]
        u = np.round(K[0, 0] * cam0[:, 0] / z + K[0, 2]).astype(int)
        v = np.round(K[1, 1] * cam0[:, 1] / z + K[1, 2]).astype(int)
        inside = (z > 0.1) & (u >= 0) & (u < 640) & (v >= 0) & (v < 480)
        reading = np.zeros_like(z)
        reading[inside] = depths[0][v[inside], u[inside]]
        same = inside & (reading > 0) & (np.abs(reading - z) < 0.05)
        assert same.sum() > 1000
        world = points[same] @ to_world[:3, :3].T + to_world[:3, 3]
        medians.append(float(np.median(tree.query(world)[0])))
    assert max(medians) < 0.02, medians


def test_demo_world_labels_completed_geometry(demo_world):
    summary = json.loads((demo_world / "world.json").read_text())
    generate = summary["generate"]
    assert summary["input"]["layout"] == "rgbd" and summary["input"]["frames"] == 1
    assert generate["completion"]["floor_found"] and generate["completion"]["walls_found"] >= 1
    assert generate["intrinsics"]["fx"] == 525.0
    completed = generate["completed"]
    assert completed["faces_by_kind"]["floor"] > 0 and completed["faces_by_kind"]["wall"] > 0
    mesh, labels = _visual(demo_world)
    assert labels.shape[0] == mesh.faces.shape[0]
    assert int(np.count_nonzero(labels)) == completed["faces"]
    assert {int(k) for k in np.unique(labels)} >= {0, 1, 2}
    # Completed geometry is collided (the static floor/walls take it) and labelled there too.
    assert any(f > 0 for f in generate["colliders_on_completed"].values())
    from pxr import Usd

    stage = Usd.Stage.Open(str(demo_world / "collision.usdc"))
    fractions = [p.GetCustomDataByKey("worldgen:completedFraction") for p in stage.Traverse()
                 if p.GetCustomDataByKey("worldgen:completedFraction") is not None]  # fmt: skip
    assert fractions and max(fractions) > 0.5


def test_spawn_points_stay_off_completed_floor(demo_world):
    """Every spawn point stands on floor the picture saw; on this frame some were removed from completed floor."""
    navigation = json.loads((demo_world / "navigation.json").read_text())
    spawn = np.asarray(navigation["spawn_points"], np.float64).reshape(-1, 3)
    assert spawn.shape[0] > 0
    mesh, labels = _visual(demo_world)
    assert over_faces(spawn, mesh.vertices, mesh.faces[labels == 0], max_dz=0.05).all()
    assert not spawn_points_to_drop(spawn, mesh, labels).any()
    summary = json.loads((demo_world / "world.json").read_text())
    assert summary["generate"]["spawn_points_removed_on_completed"] > 0


def test_photo_with_depth_maps_its_camera_frame_to_the_world(tmp_path):
    """``worldgen build photo.jpg --depth depth.png --focal 525``: intrinsics and depth recorded with their
    sources; input_to_world maps the picture's OpenCV camera frame to the world (camera at its height
    above the floor at z = 0, looking along +Y)."""
    folder = demo_frame_folder()
    out = tmp_path / "world"
    code = main(["build", str(folder / "color" / "00000.jpg"), "--depth", str(folder / "depth" / "00000.png"),
                 "--focal", "525", "-o", str(out), "--no-collision", "--quiet"])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "world.json").read_text())
    generate = summary["generate"]
    assert generate["depth"] == "given" and generate["intrinsics"]["source"] == "option:focal"
    assert summary["input"]["layout"] == "picture"
    matrix = np.asarray(summary["input_to_world"])
    centre = matrix[:3, 3]
    forward = matrix[:3, :3] @ np.array([0.0, 0.0, 1.0])
    assert centre[2] == pytest.approx(generate["completion"]["camera_height"], abs=0.03)
    assert forward[1] > 0.9 * np.linalg.norm(forward)


def test_bad_photo_inputs_exit_2_and_write_nothing(tmp_path, capsys):
    folder = demo_frame_folder()
    photo = str(folder / "color" / "00000.jpg")
    small = tmp_path / "small.png"
    PIL.fromarray(np.full((48, 64), 1000, np.uint16)).save(small)
    zero = tmp_path / "zero.npy"
    np.save(zero, np.zeros((480, 640), np.float32))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really")
    cases = [
        ([photo, "--depth", str(small)], "depth is 64x48 px but the picture is 640x480"),
        ([photo, "--depth", str(zero)], "every depth pixel is 0"),
        ([str(broken), "--depth", str(zero)], "cannot read the picture"),
    ]
    out = tmp_path / "world"
    for args, message in cases:
        assert main(["build", *args, "-o", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not out.exists()

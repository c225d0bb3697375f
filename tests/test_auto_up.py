"""``--up auto`` looks at the geometry (and the trainer's cameras), not at the PLY layout alone.

An INRIA degree-0 PLY without normals has exactly Lyra 1.0's 14 properties, so the
layout guess (OpenCV) must never decide on its own. Inputs are Gaussian scenes with
capture defects (:mod:`worldgen_sim.scenes`: rolling terrain with rocks, a trunk, a
wall and a sky shell; the cropped statue) and the furnished sample room, written as
such PLYs in +Z-up, +Y-up and OpenCV camera frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gaussian_scenes import in_frame, make_bare_room

from worldgen_sim.align.align import align_scene
from worldgen_sim.align.align_cfg import AlignCfg
from worldgen_sim.errors import WorldgenError
from worldgen_sim.io.gaussian_ply import write_gaussian_ply
from worldgen_sim.io.input_cfg import InputCfg
from worldgen_sim.io.load import load_input
from worldgen_sim.samples import make_sample_room
from worldgen_sim.scenes import make_scene
from worldgen_sim.scenes.scene import look_at

KEEP_ALL = {"remove_floaters": False, "remove_sky": False, "yaw": "none"}


@pytest.fixture(scope="module")
def scenes():
    return {
        "terrain": make_scene("terrain", seed=1, spacing=0.08),
        "room": make_sample_room(seed=0, spacing=0.06, num_floaters=500, num_sky=3000),
    }


@pytest.fixture(scope="module")
def statue():
    return make_scene("statue", seed=0, spacing=0.02)


def _write(scene, path: Path, frame: str, layout: str = "lyra1") -> np.ndarray:
    """Write a scene (geo scene or sample room) as a PLY in ``frame``; returns the true input -> world."""
    cloud, input_to_world = scene.to_input_frame(scale=1.0, frame=frame)
    write_gaussian_ply(path, cloud, layout=layout)
    return input_to_world


def _tilt_deg(matrix: np.ndarray, input_to_world_true: np.ndarray) -> float:
    """Angle between the true up, carried through input -> our world, and our +Z."""
    linear = matrix[:3, :3] / np.cbrt(np.linalg.det(matrix[:3, :3]))
    up = linear @ np.linalg.inv(input_to_world_true)[:3, :3] @ np.array([0.0, 0.0, 1.0])
    return float(np.degrees(np.arccos(np.clip(up[2] / np.linalg.norm(up), -1, 1))))


@pytest.mark.parametrize("scene", ["terrain", "room"])
@pytest.mark.parametrize("frame", ["z", "y", "opencv"])
def test_inria_sh0_without_normals_gets_the_true_up(scenes, scene, frame, tmp_path):
    """Read back as the (ambiguous) 14-property layout, every frame still comes out upright."""
    path = tmp_path / "point_cloud.ply"
    truth = _write(scenes[scene], path, frame)
    loaded = load_input(path, cfg=InputCfg())
    assert loaded.layout == "lyra1" and loaded.default_up == "opencv"  # the layout alone would say OpenCV
    assert loaded.cameras is None
    out = align_scene(loaded, cfg=AlignCfg())
    report = out.report
    assert _tilt_deg(out.input_to_world, truth) < (4.0 if scene == "terrain" else 2.0)
    assert report["up_source"].startswith("geometry: ")
    chosen = [row for row in report["up_candidates"] if row["verdict"] == "chosen"]
    assert len(chosen) == 1 and len(report["up_candidates"]) == 6
    expected = {"z": "+z", "y": "+y", "opencv": "opencv"}[frame]
    assert report["up_used"] == expected
    json.dumps(report)  # goes into world.json as is


def test_cropped_statue_is_a_clear_error_naming_add_ground(statue, tmp_path):
    path = tmp_path / "statue.ply"
    _write(statue, path, "z")
    scene = load_input(path, cfg=InputCfg())
    with pytest.raises(WorldgenError, match="--add-ground") as error:
        align_scene(scene, cfg=AlignCfg())
    message = str(error.value)
    assert "statue.ply" in message and "no plausible floor" in message


def _check_statue_on_ground(out, statue_count):
    info = out.report["add_ground"]
    positions = out.gaussians.positions
    assert info["gaussians"] > 1000
    assert len(out.gaussians) == statue_count + info["gaussians"]  # nothing filtered, the ground comes last
    statue = positions[:statue_count]
    # The pedestal's foot stands on z = 0 (within the capture's noise); the head's top is about 1.93 m up.
    assert abs(np.percentile(statue[:, 2], 0.5)) < 0.03
    assert 1.85 < np.percentile(statue[:, 2], 99.9) < 2.0
    # The ground is flat at z = 0 and reaches one object size beyond the pedestal on every side.
    ground = positions[statue_count:]
    assert np.abs(ground[:, 2]).max() < 0.01
    assert ground[:, 0].min() < -1.9 and ground[:, 0].max() > 1.9
    assert ground[:, 1].min() < -1.9 and ground[:, 1].max() > 1.9


def test_add_ground_stands_the_statue_upright_on_a_synthetic_floor(statue, tmp_path):
    path = tmp_path / "statue.ply"
    _write(statue, path, "z")  # +Z up; the layout would say OpenCV
    scene = load_input(path, cfg=InputCfg())
    out = align_scene(scene, cfg=AlignCfg(add_ground=True, up="z", **KEEP_ALL))
    assert out.report["up_used"] == "z" and _tilt_deg(out.input_to_world, np.eye(4)) < 0.5
    _check_statue_on_ground(out, len(statue.gaussians))
    # No floor and no cameras: the crop's open cut at the pedestal's foot says where the ground was,
    # whatever the frame (the layout would say OpenCV).
    for frame in ("z", "y", "opencv"):
        truth = _write(statue, path, frame)
        out = align_scene(load_input(path, cfg=InputCfg()), cfg=AlignCfg(add_ground=True, **KEEP_ALL))
        assert out.report["up_used"] == "cut" and "open cut" in out.report["up_source"]
        assert _tilt_deg(out.input_to_world, truth) < 2.0
        _check_statue_on_ground(out, len(statue.gaussians))
    # A closed blob has no cut: then it asks for --up rather than guess.
    rng = np.random.default_rng(0)
    blob = rng.normal(size=(4000, 3))
    blob /= np.linalg.norm(blob, axis=1, keepdims=True)
    cloud = statue.gaussians.subset(np.arange(4000))
    cloud.positions = blob.astype(np.float32)
    write_gaussian_ply(path, cloud, layout="lyra1")
    with pytest.raises(WorldgenError, match="no open cut at its bottom.*give --up"):
        align_scene(load_input(path, cfg=InputCfg()), cfg=AlignCfg(add_ground=True, **KEEP_ALL))
    # With the capture's cameras (here: Lyra's cameras.npz) their up decides, in any input frame.
    truth = _write(statue, path, "opencv")
    poses = np.linalg.inv(truth) @ statue.cameras.cam_to_world
    np.savez(tmp_path / "cameras.npz", c2w=poses, K=statue.cameras.intrinsics)
    out = align_scene(load_input(path, cfg=InputCfg()), cfg=AlignCfg(add_ground=True, **KEEP_ALL))
    assert out.report["up_used"] == "cameras" and out.report["up_source"].startswith("add_ground: the cameras")
    assert _tilt_deg(out.input_to_world, truth) < 1.0
    _check_statue_on_ground(out, len(statue.gaussians))


# --- trainer camera files -------------------------------------------------------------------------


def _flip() -> np.ndarray:
    """World -> input turned upside down (180 deg about x): the true up is the input's -z."""
    return np.diag([1.0, -1.0, -1.0, 1.0])


def _ring_cameras(height=1.5, count=8):
    """Cameras in a ring at ``height`` [m] looking at the room's far side, OpenCV poses (world frame)."""
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return [
        look_at([1.2 * np.cos(a), 1.2 * np.sin(a), height], [3 * np.cos(a + 2), 3 * np.sin(a + 2), 1.2])
        for a in angles
    ]


def _inria_model(tmp_path, name, to_input, units, *, cameras: bool):
    """An INRIA model folder: MODEL/point_cloud/iteration_7000/point_cloud.ply (+ MODEL/cameras.json)."""
    model = tmp_path / name
    ply = model / "point_cloud" / "iteration_7000" / "point_cloud.ply"
    ply.parent.mkdir(parents=True)
    write_gaussian_ply(ply, in_frame(make_bare_room(beams=4), to_input), layout="lyra1")
    if cameras:
        entries = []
        for index, pose in enumerate(_ring_cameras()):
            c2w = to_input @ pose
            c2w[:3, :3] /= units
            entries.append(
                {"id": index, "img_name": f"{index:05d}", "width": 640, "height": 480,
                 "position": c2w[:3, 3].tolist(), "rotation": c2w[:3, :3].tolist(), "fx": 500.0, "fy": 500.0}
            )  # fmt: skip
        (model / "cameras.json").write_text(json.dumps(entries))
    return ply


def test_beamed_room_misleads_the_geometry_and_inria_cameras_json_decides(tmp_path):
    """A bare room with ceiling beams: more mass hangs near the ceiling than stands on the floor, so the
    geometry alone takes the ceiling for the floor. INRIA's cameras.json (cameras above the floor) turns
    the decision round, upright and upside down, and gives the scale through --camera-height."""
    units = 0.37  # COLMAP units per metre
    scaled = np.diag([units, units, units, 1.0])
    guess = align_scene(load_input(_inria_model(tmp_path, "bare", scaled, units, cameras=False), cfg=InputCfg()),
                        cfg=AlignCfg())  # fmt: skip
    assert _tilt_deg(guess.input_to_world, np.linalg.inv(scaled)) > 179.0  # upside down: the geometry was misled
    assert guess.report["up_used"] == "-z"

    for flip in (np.eye(4), _flip()):
        to_input = scaled @ flip
        scene = load_input(_inria_model(tmp_path, "model", to_input, units, cameras=True), cfg=InputCfg())
        assert scene.camera_file.endswith("cameras.json") and len(scene.cameras) == 8
        out = align_scene(scene, cfg=AlignCfg(camera_height=1.5))
        assert out.report["up_used"] == "cameras"
        assert _tilt_deg(out.input_to_world, np.linalg.inv(to_input)) < 1.0
        assert out.scale * units == pytest.approx(1.0, rel=0.02)
        assert out.report["camera_height_world"] == pytest.approx(1.5, abs=1e-6)
        wrong = "-z" if flip[2, 2] > 0 else "+z"
        row = next(row for row in out.report["up_candidates"] if row["name"] == wrong)
        # Cameras stand between floor and ceiling, so "above" cannot tell them apart: their up does.
        assert row["cameras_above"] == 1.0 and row["verdict"] == "180 deg from the cameras' up (at most 60)"
        import shutil

        shutil.rmtree(tmp_path / "model")


def test_nerfstudio_transforms_and_dataparser_give_up_scale_and_camera_height(tmp_path):
    """splatfacto's PLY lives in the dataparser frame (scaled 0.2, turned and shifted); the poses in
    transforms.json are metric (OpenGL). Undoing the dataparser scale gives metres and the true camera height."""
    angle = np.radians(35.0)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    transform = np.column_stack([rotation, [0.3, -0.2, 0.5]])
    scale = 0.2
    original_to_ply = np.diag([scale, scale, scale, 1.0]) @ np.vstack([transform, [0, 0, 0, 1]])
    capture = _flip()  # the capture's own metric frame is upside down too
    ply = tmp_path / "splat.ply"
    write_gaussian_ply(ply, in_frame(make_bare_room(), original_to_ply @ capture), layout="lyra2")
    opengl = np.diag([1.0, -1.0, -1.0, 1.0])
    frames = [{"file_path": f"images/{i}.png", "transform_matrix": (capture @ pose @ opengl).tolist()}
              for i, pose in enumerate(_ring_cameras(height=1.6))]  # fmt: skip
    (tmp_path / "transforms.json").write_text(
        json.dumps({"fl_x": 500.0, "fl_y": 500.0, "cx": 320.0, "cy": 240.0, "w": 640, "h": 480, "frames": frames})
    )
    (tmp_path / "dataparser_transforms.json").write_text(json.dumps({"transform": transform.tolist(), "scale": scale}))
    scene = load_input(ply, cfg=InputCfg())
    assert scene.metres_per_unit == pytest.approx(5.0)
    out = align_scene(scene, cfg=AlignCfg())
    assert out.report["up_used"] == "cameras"
    assert _tilt_deg(out.input_to_world, np.linalg.inv(original_to_ply @ capture)) < 1.0
    assert out.scale == pytest.approx(5.0) and out.report["scale_source"].startswith("trainer camera file")
    assert out.report["camera_height_world"] == pytest.approx(1.6, abs=0.03)
    # Without the dataparser file the PLY is taken to be in the poses' frame: the cameras then sit
    # nowhere near the splats and the up still comes from them, but no scale is claimed.
    Path(tmp_path / "dataparser_transforms.json").unlink()
    assert load_input(ply, cfg=InputCfg()).metres_per_unit is None


def test_bad_camera_files_name_the_file_and_field(tmp_path):
    ply = tmp_path / "scene.ply"
    write_gaussian_ply(ply, make_bare_room(spacing=0.2), layout="lyra1")
    (tmp_path / "cameras.json").write_text(json.dumps([{"id": 0, "position": [0, 0], "rotation": np.eye(3).tolist()}]))
    with pytest.raises(WorldgenError, match=r"cameras.json: camera 0: 'position' has shape \(2,\)"):
        load_input(ply, cfg=InputCfg())
    (tmp_path / "cameras.json").unlink()
    (tmp_path / "transforms.json").write_text(json.dumps({"frames": [{"transform_matrix": np.eye(4).tolist()}]}))
    with pytest.raises(WorldgenError, match="transforms.json: frames\\[0\\].*'fl_x'"):
        load_input(ply, cfg=InputCfg())
    (tmp_path / "transforms.json").write_text("{not json")
    with pytest.raises(WorldgenError, match="transforms.json: cannot read camera file"):
        load_input(ply, cfg=InputCfg())


def test_cli_names_the_up_decision_and_add_ground(scenes, statue, tmp_path):
    """The summary says which up was chosen and why; a statue without ground fails with one line naming
    --add-ground, writes nothing, and builds with it."""
    import subprocess
    import sys

    def worldgen(*args):
        command = [sys.executable, "-m", "worldgen_sim.cli", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=600)

    terrain = tmp_path / "terrain.ply"
    _write(scenes["terrain"], terrain, "y")
    # 14 properties, no cameras: Lyra 1.0 or a 3DGS export without normals, so the scale must be given.
    result = worldgen("build", str(terrain), "-o", str(tmp_path / "t"), "--no-mesh", "--quiet", "--scale", "1")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "t" / "world.json").read_text())
    align = summary["stages"]["align"]
    assert align["up_used"] == "+y" and [r["verdict"] for r in align["up_candidates"]].count("chosen") == 1
    result = worldgen("build", str(terrain), "-o", str(tmp_path / "t2"), "--no-mesh", "--scale", "1")
    assert "up: +y (geometry: " in result.stdout

    _write(statue, path := tmp_path / "statue.ply", "z")
    result = worldgen("build", str(path), "-o", str(tmp_path / "s"), "--no-mesh", "--scale", "1")
    assert result.returncode == 2 and "--add-ground" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()
    result = worldgen("build", str(path), "-o", str(tmp_path / "s"), "--no-mesh", "--add-ground", "--up", "z",
                      "--scale", "1")
    assert result.returncode == 0, result.stderr
    assert "added ground: " in result.stdout
    assert json.loads((tmp_path / "s" / "world.json").read_text())["config"]["align"]["add_ground"] is True

"""The Lyra backends run the user's own checkout with its documented commands; here a fake
checkout stands in (Python modules at Lyra's module paths that write a small PLY + cameras.npz),
with weights from a fake Hugging Face cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from worldgen_sim.cli import main
from worldgen_sim.errors import WorldgenError
from worldgen_sim.generate.generate_cfg import GenerateCfg
from worldgen_sim.generate.lyra import lyra2_trajectory, run_lyra

PIL = pytest.importorskip("PIL.Image")

FAKE_TRAJ_INFERENCE = """
import argparse, json, pathlib, numpy as np
p = argparse.ArgumentParser()
for name in ("input_image_path", "trajectory_path", "experiment", "checkpoint_dir", "captions_path", "output_path"):
    p.add_argument("--" + name, required=True)
p.add_argument("--num_frames", type=int, required=True)
a = p.parse_args()
traj = np.load(a.trajectory_path)
assert traj["w2c"].shape == (a.num_frames, 4, 4) and traj["intrinsics"].shape == (a.num_frames, 3, 3)
assert (pathlib.Path(a.checkpoint_dir) / "weights.safetensors").is_file(), a.checkpoint_dir
assert json.loads(pathlib.Path(a.captions_path).read_text())["0"]
out = pathlib.Path(a.output_path); out.mkdir(parents=True, exist_ok=True)
(out / (pathlib.Path(a.input_image_path).stem + ".mp4")).write_bytes(b"fake video")
"""

FAKE_GS_RECON = """
import argparse, pathlib, numpy as np
from worldgen_sim.io.gaussian_ply import write_gaussian_ply
from worldgen_sim.samples import make_sample_room
p = argparse.ArgumentParser()
p.add_argument("--input_video_path", required=True)
p.add_argument("--output_dir", required=True)
a = p.parse_args()
assert pathlib.Path(a.input_video_path).read_bytes() == b"fake video"
out = pathlib.Path(a.output_dir); out.mkdir(parents=True, exist_ok=True)
room = make_sample_room(seed=0, spacing=0.08)
cloud, _ = room.to_input_frame(scale=0.8, frame="opencv")
write_gaussian_ply(out / "reconstructed_scene.ply", cloud, layout="lyra2")
k = np.array([[600.0, 0, 640], [0, 600.0, 360], [0, 0, 1]])
np.savez(out / "cameras.npz", w2c_render=np.eye(4)[None], intrinsics_vipe=k[None])
(out / "camera_height.txt").write_text(str(room.camera_height))
"""


def _fake_checkout(root: Path) -> Path:
    inference = root / "Lyra-2" / "lyra_2" / "_src" / "inference"
    inference.mkdir(parents=True)
    for folder in (root / "Lyra-2" / "lyra_2", root / "Lyra-2" / "lyra_2" / "_src", inference):
        (folder / "__init__.py").write_text("")
    (inference / "lyra2_custom_traj_inference.py").write_text(FAKE_TRAJ_INFERENCE)
    (inference / "vipe_da3_gs_recon.py").write_text(FAKE_GS_RECON)
    return root


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    repo = cache / "models--nvidia--Lyra-2.0"
    model = repo / "snapshots" / ("b" * 40) / "checkpoints" / "model"
    model.mkdir(parents=True)
    (model / "weights.safetensors").write_bytes(b"fake")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "kitchen.jpg"
    PIL.fromarray((np.random.default_rng(1).random((72, 128, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_trajectory_is_opencv_w2c_with_pixel_intrinsics():
    traj = lyra2_trajectory(81, width=1280, height=720)
    assert traj["w2c"].shape == (81, 4, 4) and traj["intrinsics"].shape == (81, 3, 3)
    assert np.allclose(traj["w2c"][0], np.eye(4))
    rotation = traj["w2c"][:, :3, :3]
    assert np.allclose(rotation @ rotation.transpose(0, 2, 1), np.eye(3), atol=1e-9)
    assert traj["intrinsics"][0, 0, 2] == pytest.approx(639.5)


def test_lyra2_fake_checkout_builds_a_world(tmp_path, fake_hub, picture, capsys):
    checkout = _fake_checkout(tmp_path / "lyra")
    out = tmp_path / "world"
    code = main(["build", str(picture), "-o", str(out), "--backend", "lyra2", "--lyra-checkout", str(checkout),
                 "--lyra-python", sys.executable, "--camera-height", "1.5", "--no-collision",
                 "--config", str(_no_gpu_check(tmp_path))])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "world.json").read_text())
    assert summary["generate"]["backend"] == "lyra2" and summary["input"]["layout"] == "lyra2"
    assert summary["generate"]["weights"].endswith("b" * 40)
    assert "research licence" in summary["generate"]["licence"]
    assert summary["counts"]["gaussians_in"] > 1000
    assert "licences" in capsys.readouterr().err  # stated before starting


def _no_gpu_check(tmp_path) -> Path:
    config = tmp_path / "no_gpu.yaml"
    config.write_text("generate:\n  lyra_min_gpu_gb: 0\n  lyra_num_frames: 81\n")
    return config


def test_bad_lyra_setups_are_one_error_and_write_nothing(tmp_path, fake_hub, picture, capsys):
    out = tmp_path / "world"
    cases = [
        (["--lyra-checkout", str(tmp_path / "missing")], "not a Lyra checkout"),
        ([], "needs --lyra-checkout"),
        (["--lyra-checkout", str(_fake_checkout(tmp_path / "lyra")), "--no-camera-height"], "--camera-height"),
    ]
    for extra, message in cases:
        args = ["build", str(picture), "-o", str(out), "--backend", "lyra2", "--quiet",
                "--config", str(_no_gpu_check(tmp_path))]  # fmt: skip
        if "--no-camera-height" in extra:
            extra = extra[:-1]
        else:
            args += ["--camera-height", "1.5"]
        assert main(args + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not out.exists()


def test_gpu_check_refuses_without_enough_memory(tmp_path, fake_hub, picture, monkeypatch):
    import shutil as shutil_module

    monkeypatch.setattr(shutil_module, "which", lambda name: None)
    cfg = GenerateCfg(backend="lyra2", lyra_checkout=str(_fake_checkout(tmp_path / "lyra")))
    with pytest.raises(WorldgenError, match="needs an NVIDIA GPU"):
        run_lyra(picture, cfg=cfg, camera_height=1.5)

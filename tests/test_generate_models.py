"""Depth models through transformers, on tiny randomly initialised models built here (never a download):
Depth Anything V2 (metric and relative), Depth Pro with its field-of-view head, a model that is not a
depth model, and hub ids resolved from a fake Hugging Face cache."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from worldgen_sim.cli import main
from worldgen_sim.errors import WorldgenError
from worldgen_sim.generate.depth_models import load_depth_model, resolve_model_folder
from worldgen_sim.generate.generate import generate_picture
from worldgen_sim.generate.generate_cfg import GenerateCfg

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
PIL = pytest.importorskip("PIL.Image")


def _tiny_depth_anything(folder, *, kind: str):
    """A 4-layer, 16-wide Depth Anything V2 (~38k parameters) with its DPT image processor."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, DPTImageProcessor

    config = DepthAnythingConfig(
        backbone_config={
            "model_type": "dinov2", "image_size": 28, "patch_size": 14, "hidden_size": 16,
            "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 32,
            "out_features": ["stage1", "stage2", "stage3", "stage4"], "reshape_hidden_states": False,
        },
        reassemble_hidden_size=16, neck_hidden_sizes=[8] * 4, fusion_hidden_size=8, head_hidden_size=8,
        depth_estimation_type=kind, max_depth=20,
    )  # fmt: skip
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(config)
    with torch.no_grad():  # random weights, but a positive output everywhere (a relative head ends in ReLU)
        model.head.conv3.bias.fill_(1.0)
    model.save_pretrained(folder)
    DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14,
                      do_pad=False).save_pretrained(folder)  # fmt: skip
    return folder


def _tiny_depth_pro(folder):
    """Depth Pro's test-sized configuration with the field-of-view head (~80k parameters)."""
    from transformers import DepthProConfig, DepthProForDepthEstimation

    small = {
        "model_type": "dinov2",
        "num_hidden_layers": 2,
        "hidden_size": 16,
        "num_attention_heads": 1,
        "patch_size": 4,
    }
    config = DepthProConfig(
        patch_size=16, fusion_hidden_size=16, intermediate_hook_ids=[1, 0], intermediate_feature_dims=[10, 8],
        scaled_images_ratios=[0.5, 1.0], scaled_images_overlap_ratios=[0.0, 0.2], scaled_images_feature_dims=[12, 12],
        use_fov_model=True, num_fov_head_layers=0,
        image_model_config=dict(small), patch_model_config=dict(small), fov_model_config=dict(small),
    )  # fmt: skip
    torch.manual_seed(0)
    DepthProForDepthEstimation(config, use_fov_model=True).save_pretrained(folder)
    # Its transformers processor needs torchvision; the recorded preprocessing is what runs without it.
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "DepthProImageProcessor", "size": {"height": 32, "width": 32},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    }))  # fmt: skip
    return folder


@pytest.fixture
def picture(tmp_path):
    rgb = (np.random.default_rng(0).random((96, 128, 3)) * 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    PIL.fromarray(rgb).save(path)
    return path


def test_metric_depth_anything_gives_metres_and_default_intrinsics(tmp_path, picture):
    model = _tiny_depth_anything(tmp_path / "da_metric", kind="metric")
    generated = generate_picture(picture, cfg=GenerateCfg(depth=str(model), complete=False), depth_scale=1000,
                                 scale_known=False)  # fmt: skip
    report = generated.report
    assert report["depth"] == str(model) and report["depth_metric"] is True
    assert report["depth_model_type"] == "depth_anything"
    assert report["intrinsics"]["source"] == "default" and report["intrinsics"]["width"] == 128
    depth = generated.scene.frames.depths[0]
    assert depth.shape == (96, 128) and np.all((depth > 0) & (depth <= 20.0))  # sigmoid head * max_depth
    # The real inference ran: the depth equals the model's own post-processed output.
    loaded = load_depth_model(str(model), device="cpu")
    raw, fov = loaded.predict(np.asarray(PIL.open(picture)))
    assert fov is None and np.allclose(depth, raw)
    assert len(generated.scene.gaussians) > 1000


def test_relative_model_needs_a_scale(tmp_path, picture):
    model = _tiny_depth_anything(tmp_path / "da_relative", kind="relative")
    cfg = GenerateCfg(depth=str(model), complete=False)
    with pytest.raises(WorldgenError, match="relative depth; give --camera-height"):
        generate_picture(picture, cfg=cfg, depth_scale=1000, scale_known=False)
    generated = generate_picture(picture, cfg=cfg, depth_scale=1000, scale_known=True)
    depth = generated.scene.frames.depths[0]
    assert generated.report["depth_metric"] is False
    assert np.median(depth[depth > 0]) == pytest.approx(1.0, rel=1e-3)  # relative units: median 1
    out = tmp_path / "world"
    assert main(["build", str(picture), "-o", str(out), "--depth-model", str(model), "--quiet"]) == 2
    assert not out.exists()


def test_depth_pro_field_of_view_sets_focal_and_metric_depth(tmp_path, picture):
    model = _tiny_depth_pro(tmp_path / "depth_pro")
    own = generate_picture(picture, cfg=GenerateCfg(depth=str(model), complete=False), depth_scale=1000,
                           scale_known=False)  # fmt: skip
    fov = own.report["model_field_of_view_deg"]
    assert fov is not None and 1 < fov < 179
    assert own.report["intrinsics"]["source"] == "model:field_of_view"
    assert own.report["intrinsics"]["fx"] == pytest.approx(0.5 * 128 / np.tan(np.radians(fov) / 2))
    focal = 2.0 * own.report["intrinsics"]["fx"]
    given = generate_picture(picture, cfg=GenerateCfg(depth=str(model), focal_px=focal, complete=False),
                             depth_scale=1000, scale_known=False)  # fmt: skip
    assert given.report["intrinsics"]["source"] == "option:focal"
    # Depth Pro's metric depth is focal / (W * canonical inverse depth): twice the focal, twice the depth.
    ratio = given.scene.frames.depths[0] / own.scene.frames.depths[0]
    assert np.allclose(ratio, 2.0, rtol=1e-4)


def test_a_model_that_is_not_a_depth_model_is_refused(tmp_path, picture):
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder = tmp_path / "vit"
    ViTModel(ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                       image_size=28, patch_size=14)).save_pretrained(folder)  # fmt: skip
    ViTImageProcessor(size={"height": 28, "width": 28}).save_pretrained(folder)
    with pytest.raises(WorldgenError, match="'vit' model, not a depth-estimation model"):
        load_depth_model(str(folder))
    out = tmp_path / "world"
    assert main(["build", str(picture), "-o", str(out), "--depth-model", str(folder), "--quiet"]) == 2
    assert not out.exists()


def test_no_depth_and_no_model_says_how_to_get_depth(tmp_path, picture, capsys):
    out = tmp_path / "world"
    assert main(["build", str(picture), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs depth" in err[0] and "--depth" in err[0] and "--depth-model" in err[0]
    assert not out.exists()


def test_hub_ids_resolve_from_the_cache_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants

    model = _tiny_depth_anything(tmp_path / "da", kind="metric")
    cache = tmp_path / "hub"
    snapshot = cache / "models--wg-test--tiny-depth" / "snapshots" / ("a" * 40)
    shutil.copytree(model, snapshot)
    (cache / "models--wg-test--tiny-depth" / "refs").mkdir()
    (cache / "models--wg-test--tiny-depth" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model_folder("wg-test/tiny-depth") == snapshot
    assert load_depth_model("wg-test/tiny-depth").model_type == "depth_anything"
    with pytest.raises(WorldgenError, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set"):
        resolve_model_folder("wg-test/not-cached")


def test_licence_and_size_are_printed_before_a_first_download(tmp_path, monkeypatch):
    import huggingface_hub

    events = []

    def fake_snapshot_download(repo_id, local_files_only=False, **kwargs):
        if local_files_only:
            raise FileNotFoundError("not cached")
        events.append(("download", repo_id))
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    name = "depth-anything/Depth-Anything-V2-Small-hf"
    folder = resolve_model_folder(name, notice=lambda text: events.append(("notice", text)))
    assert folder == tmp_path
    assert events[0][0] == "notice" and "Apache-2.0" in events[0][1] and "99 MB" in events[0][1]
    assert events[1] == ("download", name)
    events.clear()
    resolve_model_folder("depth-anything/Depth-Anything-V2-Large-hf", notice=lambda t: events.append(("notice", t)))
    assert "CC-BY-NC-4.0" in events[0][1]

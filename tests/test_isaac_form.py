"""The Isaac Sim extension's Kit-free parts: the window's form and build job, the manifest, import lightness."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "isaac_ext"))

from worldgen_sim_isaac.form import BuildForm, BuildJob, input_kind

from worldgen_sim.errors import WorldgenError


@pytest.fixture
def inputs(tmp_path):
    ply = tmp_path / "scene.ply"
    ply.write_bytes(b"ply\n")
    picture = tmp_path / "photo.JPG"
    picture.write_bytes(b"\xff\xd8")
    rgbd = tmp_path / "frames"
    (rgbd / "color").mkdir(parents=True)
    (rgbd / "depth").mkdir()
    not_rgbd = tmp_path / "empty"
    not_rgbd.mkdir()
    return {"ply": ply, "image": picture, "rgbd": rgbd, "folder": not_rgbd, "other": tmp_path / "notes.txt"}


def test_input_kind(inputs):
    """PLY, picture and RGB-D folder are told apart; anything else is refused."""
    inputs["other"].write_text("x")
    assert [input_kind(inputs[k]) for k in ("ply", "image", "rgbd")] == ["ply", "image", "rgbd"]
    assert input_kind(inputs["folder"]) is None and input_kind(inputs["other"]) is None
    assert input_kind(inputs["ply"].with_name("missing.ply")) is None


def test_form_problems_and_overrides(inputs):
    """The button stays off with a sentence per problem; a ready form maps onto worldgen build's config keys."""
    form = BuildForm()
    assert form.problems() == ["choose an input: a Gaussian .ply, an RGB-D folder or a picture"]
    form = BuildForm(input_path=str(inputs["folder"]), scale_mode="camera_height", camera_height=0.0, agent="cat")
    problems = form.problems()
    assert len(problems) == 3 and "RGB-D folder" in problems[0] and "camera height" in problems[1]
    assert "agent 'cat'" in problems[2]
    form = BuildForm(input_path=str(inputs["ply"]), scale_mode="camera_height", camera_height=1.4,
                     dynamic_objects=True, agent="humanoid")  # fmt: skip
    assert form.problems() == []
    assert form.output() == inputs["ply"].with_name("scene_world")
    assert form.overrides() == {"navigation.preset": "humanoid", "collision.dynamic_objects": True,
                                "align.camera_height": 1.4}  # fmt: skip
    form.scale_mode, form.scale = "scale", 0.8
    assert form.overrides()["align.scale"] == 0.8 and "align.camera_height" not in form.overrides()


def test_form_overrides_are_valid_config(inputs):
    """Whatever the form produces, the config loader accepts (the keys exist, the types fit)."""
    from worldgen_sim.config import load_config

    form = BuildForm(input_path=str(inputs["ply"]), scale_mode="scale", scale=0.5, dynamic_objects=True)
    cfg = load_config(None, overrides=form.overrides())
    assert cfg.align.scale == 0.5 and cfg.collision.dynamic_objects is True and cfg.navigation.preset == "quadruped"


def test_job_runs_off_thread_with_progress_and_result():
    """The build runs on another thread; progress lines and fractions reach the state; the result is kept."""
    import threading

    seen = {}

    def work(progress):
        seen["thread"] = threading.current_thread().name
        with progress.stage("surface"):
            progress.step(5, 20, "views")
            seen["mid"] = job.snapshot()
        return "built"

    job = BuildJob()
    assert job.start(work)
    state = job.wait(timeout=30)
    assert seen["thread"] == "worldgen-build"
    assert seen["mid"].status == "running" and seen["mid"].line == "views: 5/20 (25%)"
    assert seen["mid"].fraction == pytest.approx(0.25)
    assert (state.status, state.result, state.fraction) == ("done", "built", 1.0)


def test_job_shows_errors():
    """A WorldgenError becomes the window's message; a bug too, with its type; the next job may start."""
    job = BuildJob()

    def bad_input(progress):
        raise WorldgenError("input 'x.ply' does not exist")

    job.start(bad_input)
    assert job.wait(30).status == "failed" and job.snapshot().line == "input 'x.ply' does not exist"
    job.start(lambda progress: 1 / 0)
    state = job.wait(30)
    assert state.status == "failed" and state.line.startswith("ZeroDivisionError")


def test_one_version_and_optional_kit_dependencies():
    """extension.toml and pyproject.toml carry one version; only the Kit kernel is required."""
    manifest = tomllib.loads((ROOT / "extension.toml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert manifest["package"]["version"] == project["project"]["version"]
    import worldgen_sim

    assert worldgen_sim.__version__ == project["project"]["version"]
    required = [name for name, spec in manifest["dependencies"].items() if not spec.get("optional")]
    assert required == []
    assert manifest["python"]["module"][0] == {"name": "worldgen_sim_isaac", "path": "isaac_ext"}


def test_imports_stay_light():
    """worldgen_sim, its Isaac Lab helpers and the extension's Kit-free modules load no Kit, Isaac Lab or torch."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import worldgen_sim, worldgen_sim.isaaclab, worldgen_sim.verify.physx_engine, worldgen_sim_isaac;"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'omni', 'carb', 'isaacsim', 'isaaclab', 'torch'});"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(ROOT / "isaac_ext")], capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert done.stdout.strip() == ""

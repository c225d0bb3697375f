"""Batch builds: bad inputs never stop good ones, a killed run resumes without loss, engines agree.

Items are spine-only builds (load, align, splats) of small sample rooms, so the
suite measures the batch machinery rather than the stages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worldgen_sim.batch.batch import run_batch
from worldgen_sim.batch.manifest import read_manifest
from worldgen_sim.errors import WorldgenError

pytestmark = pytest.mark.slow

WORLD_FILES = ("world.usda", "splats.usdc", "config.yaml")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Four small sample-room PLYs and one that is not a PLY, with a manifest over all of them."""
    from worldgen_sim.io.gaussian_ply import write_gaussian_ply
    from worldgen_sim.samples import make_sample_room

    root = tmp_path_factory.mktemp("batch")
    (root / "in").mkdir()
    for seed in range(4):
        room = make_sample_room(seed=seed, spacing=0.1)
        cloud, _ = room.to_input_frame(scale=1.0, frame="opencv")
        write_gaussian_ply(root / "in" / f"room{seed}.ply", cloud, layout="lyra2")
    (root / "in" / "broken.ply").write_text("ply\nnot really\n")
    (root / "manifest.yaml").write_text(
        "inputs: [in/*.ply]\n"
        "options:\n  spine: {surface.enabled: false, align.camera_height: 1.4}\n"
        "verify: false\n"
    )
    return root


def world_bytes(out_dir: Path) -> dict[str, bytes]:
    """Every file of a world that must be reproducible (world.json without its timings)."""
    files = {name: (out_dir / name).read_bytes() for name in WORLD_FILES}
    files["world.json"] = json.dumps(_without_timings(json.loads((out_dir / "world.json").read_text())),
                                     sort_keys=True).encode()
    return files


def _without_timings(summary: dict) -> dict:
    """world.json minus ``timings_s``, its one timing record (the only thing allowed to differ between two builds)."""
    return {k: v for k, v in summary.items() if k != "timings_s"}


def cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "worldgen_sim.cli", "batch", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_bad_input_is_recorded_and_the_others_finish_then_nothing_reruns(inputs, tmp_path):
    out = tmp_path / "out"
    report = run_batch(inputs / "manifest.yaml", out, workers=2)
    assert report.counts() == {"done": 4, "failed": 1}
    record = json.loads((out / "batch.json").read_text())
    assert record["items"]["broken"]["status"] == "failed"
    assert "broken.ply" in record["items"]["broken"]["error"] and "\n" not in record["items"]["broken"]["error"]
    for seed in range(4):
        assert (out / f"room{seed}" / "world.usda").is_file()
    again = run_batch(inputs / "manifest.yaml", out, workers=2)
    assert again.counts() == {"skipped": 4, "failed": 1} and again.ran == 1, "only the failed item is retried"


def test_killed_run_resumes_and_matches_an_uninterrupted_run(inputs, tmp_path):
    reference = tmp_path / "reference"
    run_batch(inputs / "manifest.yaml", reference, workers=1)

    out = tmp_path / "killed"
    process = cli(str(inputs / "manifest.yaml"), "-o", str(out), "--workers", "1", "--quiet")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill as soon as one item is on record, others still to come
        try:
            counts = json.loads((out / "batch.json").read_text())["counts"]
        except (OSError, ValueError, KeyError):
            counts = {}
        if counts.get("done", 0) >= 1:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    finished = [name for name, e in json.loads((out / "batch.json").read_text())["items"].items()
                if e["status"] in ("done", "failed")]
    assert 2 <= len(finished) < 5, finished
    marked = sorted(p.parent.name for p in out.glob("*/batch_item.json"))
    assert marked == sorted(n for n in finished if n != "broken"), "batch.json records exactly the finished items"

    resumed = run_batch(inputs / "manifest.yaml", out, workers=2)
    kept = sum(name != "broken" for name in finished)
    expected = {"skipped": kept, "done": 4 - kept, "failed": 1}
    assert resumed.counts() == {k: v for k, v in expected.items() if v}, "only what was left ran"
    for seed in range(4):
        assert world_bytes(out / f"room{seed}") == world_bytes(reference / f"room{seed}"), seed
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert not leftovers, f"staging folders left behind: {leftovers}"


def test_ray_engine_builds_the_same_worlds(inputs, tmp_path):
    pytest.importorskip("ray", reason="the 'batch' extra (ray) is not installed")
    local = tmp_path / "local"
    remote = tmp_path / "ray"
    run_batch(inputs / "manifest.yaml", local, workers=2)
    report = run_batch(inputs / "manifest.yaml", remote, engine="ray", workers=2)
    assert report.counts() == {"done": 4, "failed": 1}
    for seed in range(4):
        assert world_bytes(remote / f"room{seed}") == world_bytes(local / f"room{seed}"), seed


def test_dry_run_plans_without_writing(inputs, tmp_path):
    out = tmp_path / "plan"
    report = run_batch(inputs / "manifest.yaml", out, dry_run=True)
    assert report.counts() == {"planned": 5}
    assert not out.exists()


@pytest.mark.parametrize(("text", "fragment"), [
    ("inputs: [in/*.ply]\ncolour: red\n", "unknown manifest key 'colour'"),
    ("inputs: [nothing/*.ply]\n", "'inputs[0]' (nothing/*.ply) matches no file"),
    ("inputs: []\n", "'inputs' must be a non-empty list"),
    ("inputs: [in/room0.ply]\nvariants: -2\n", "'variants' must be an integer >= 0"),
    ("inputs: [{path: in/room0.ply, name: x}, {path: in/room1.ply, name: x}]\n", "two items are named 'x'"),
    ("inputs: [in/room0.ply]\nconfig: missing.yaml\n", "'config' names"),
])
def test_bad_manifest_names_the_key(inputs, text, fragment):
    manifest = inputs / "bad_manifest.yaml"
    manifest.write_text(text)
    with pytest.raises(WorldgenError) as caught:
        read_manifest(manifest)
    assert fragment in str(caught.value)


def test_cli_exit_codes(inputs, tmp_path):
    failed = cli(str(inputs / "manifest.yaml"), "-o", str(tmp_path / "cli"), "--workers", "2", "--quiet")
    assert failed.wait(timeout=300) == 1, "a failed item makes the batch exit 1"
    bad = cli(str(inputs / "manifest.yaml"), "-o", str(tmp_path / "cli2"), "--address", "x")
    assert bad.wait(timeout=60) == 2
    assert "--address needs --engine ray" in bad.stderr.read()

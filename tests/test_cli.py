"""The worldgen command line: one clear error line and a non-zero exit for bad input, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def worldgen(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "worldgen_sim.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_sample_writes_a_ply(tmp_path):
    result = worldgen("sample", str(tmp_path / "s.ply"), "--spacing", "0.2")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s.ply").read_bytes().startswith(b"ply\n")


def assert_clean_failure(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("worldgen: error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def test_info_prints_layout_count_and_statistics(sample_ply):
    result = worldgen("info", str(sample_ply))
    assert result.returncode == 0, result.stderr
    assert "lyra2" in result.stdout.lower()
    header = sample_ply.read_bytes()[:400].decode("latin-1")
    count = int(header.split("element vertex ")[1].split()[0])
    assert str(count) in result.stdout
    assert "sh degree" in result.stdout.lower() and "opacity" in result.stdout.lower()


def test_build_splats_only_writes_package(sample_ply, tmp_path):
    out = tmp_path / "world"
    result = worldgen("build", str(sample_ply), "-o", str(out), "--no-mesh", "--camera-height", "1.4", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet silences progress
    summary = json.loads((out / "world.json").read_text())
    assert summary["input"]["layout"] == "lyra2"
    assert np.asarray(summary["input_to_world"]).shape == (4, 4)
    assert summary["config"]["align"]["camera_height"] == 1.4
    assert summary["skipped"]["surface"].startswith("turned off")
    assert (out / "splats.usdc").is_file() and (out / "config.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]


def test_progress_is_shown_without_quiet(sample_ply, tmp_path):
    result = worldgen("build", str(sample_ply), "-o", str(tmp_path / "w"), "--no-mesh")
    assert result.returncode == 0, result.stderr
    assert "[worldgen] align" in result.stderr  # progress
    assert "worldgen: INFO: align: up=" in result.stderr  # decisions, through logging


def test_truncated_ply_keeps_existing_output(sample_ply, tmp_path):
    out = tmp_path / "world"
    assert worldgen("build", str(sample_ply), "-o", str(out), "--no-mesh", "--quiet").returncode == 0
    before = (out / "world.json").read_bytes()
    truncated = tmp_path / "truncated.ply"
    truncated.write_bytes(sample_ply.read_bytes()[:-1000])
    assert_clean_failure(worldgen("build", str(truncated), "-o", str(out), "--no-mesh"), "truncated.ply")
    assert (out / "world.json").read_bytes() == before


def test_bad_config_key_and_missing_input(sample_ply, tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text("align:\n  up_axis: z\n")
    result = worldgen("build", str(sample_ply), "-o", str(tmp_path / "w"), "--config", str(config))
    assert_clean_failure(result, "align.up_axis")
    assert_clean_failure(worldgen("build", str(tmp_path / "nope.ply"), "-o", str(tmp_path / "w")), "nope.ply")
    assert not (tmp_path / "w").exists()


def test_unwritable_output_is_a_clear_error(sample_ply):
    assert_clean_failure(worldgen("build", str(sample_ply), "-o", "/proc/worldgen_world", "--no-mesh"), "/proc")

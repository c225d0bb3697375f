"""Config composition: defaults, YAML loading, overrides, and clear errors for bad keys and types."""

from __future__ import annotations

import pytest

from worldgen_sim.config import WorldgenCfg, config_to_dict, load_config
from worldgen_sim.errors import WorldgenError


def test_defaults_round_trip_through_yaml(tmp_path):
    import yaml

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(WorldgenCfg())))
    assert config_to_dict(load_config(path)) == config_to_dict(WorldgenCfg())


def test_yaml_values_and_overrides_apply(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("align:\n  camera_height: 1.6\n  up: opencv\nsurface:\n  voxel_size: 1\n")
    cfg = load_config(path, overrides={"align.up": "y", "collision.dynamic_objects": True})
    assert cfg.align.camera_height == 1.6
    assert cfg.align.up == "y"  # the override wins over the file
    assert cfg.surface.voxel_size == 1.0 and isinstance(cfg.surface.voxel_size, float)
    assert cfg.collision.dynamic_objects is True


def test_unknown_key_names_file_and_dotted_key(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("align:\n  flor_tilt: 3\n")
    with pytest.raises(WorldgenError, match=r"cfg\.yaml.*'align\.flor_tilt'"):
        load_config(path)


def test_unknown_stage_is_rejected(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("physics: {}\n")
    with pytest.raises(WorldgenError, match="unknown key 'physics'"):
        load_config(path)


@pytest.mark.parametrize(
    "text, match",
    [
        ("align:\n  scale: fast\n", "align.scale: expected float or null, got 'fast'"),
        ("surface:\n  enabled: 1\n", "surface.enabled: expected bool, got 1"),
        ("navigation:\n  num_spawn_points: 2.5\n", "navigation.num_spawn_points: expected int, got 2.5"),
        ("align: 3\n", "'align' must be a mapping"),
        ("- a\n- b\n", "must be a mapping at the top level"),
        ("align: [\n", "not valid YAML"),
    ],
)
def test_bad_values_are_rejected(tmp_path, text, match):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    with pytest.raises(WorldgenError, match=match):
        load_config(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(WorldgenError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, worldgen_sim; worldgen_sim.load_config; "
        "heavy = [m for m in ('torch', 'open3d', 'trimesh', 'coacd', 'warp', 'newton', 'pxr', 'scipy') "
        "if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import worldgen_sim pulled in heavy modules: {out}"


def test_core_never_imports_kit():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    pattern = re.compile(r"^\s*(import|from)\s+(omni|carb|isaacsim)\b", re.MULTILINE)
    files = [p for d in ("worldgen_sim", "exporters") for p in (root / d).rglob("*.py")]
    offenders = [str(p) for p in files if pattern.search(p.read_text())]
    assert offenders == []


def test_progress_counts_a_reentered_stage_once():
    import io

    from worldgen_sim.progress import Progress

    stream = io.StringIO()
    progress = Progress(stream=stream)
    with progress.stage("surface"), progress.stage("surface"), progress.stage("surface: fusion"):
        pass
    assert set(progress.timings) == {"surface", "surface: fusion"}
    assert stream.getvalue().count("[worldgen] surface ...") == 1
    quiet = Progress(quiet=True, stream=stream)
    before = stream.getvalue()
    with quiet.stage("align"):
        quiet.step(1, 2)
    assert stream.getvalue() == before and "align" in quiet.timings


def test_public_api_resolves():
    import worldgen_sim

    assert sorted(worldgen_sim.__all__) == sorted(worldgen_sim._PUBLIC)
    for name in worldgen_sim.__all__:
        assert getattr(worldgen_sim, name) is not None

"""Every config value is checked when the config is loaded, before any data is read.

A table of bad values goes through the CLI (YAML file and options), the YAML
loader and the Python API; each must fail with one line naming the dotted key,
what was expected and the value, exit 2, and leave no output folder behind.
A loader that is never called proves nothing was read.
"""

from __future__ import annotations

import pytest

from worldgen_sim import cli
from worldgen_sim.config import WorldgenCfg, load_config
from worldgen_sim.errors import WorldgenError

BAD_YAML = [
    ("collision:\n  max_hull_vertices: 1000\n", "collision.max_hull_vertices: expected >= 4 and <= 255", "1000"),
    ("surface:\n  voxel_size: -1\n", "surface.voxel_size: expected > 0 and <= 1 [m]", "-1.0"),
    ("navigation:\n  preset: robot\n", "navigation.preset: expected one of 'wheeled', 'quadruped', 'humanoid'",
     "'robot'"),
    ("navigation:\n  cell_size: 0\n", "navigation.cell_size: expected >= 0.005 [m]", "0.0"),
    ("navigation:\n  max_climb: 0.6\n", "navigation.max_climb: expected less than navigation.agent_height", "0.6"),
    ("align:\n  max_height: -1\n", "align.max_height: expected > 0 [m]", "-1.0"),
    ("align:\n  up: x\n", "align.up: expected one of 'auto', 'opencv', 'y', 'z'", "'x'"),
    ("align:\n  yaw: north\n", "align.yaw: expected one of 'camera', 'walls', 'none'", "'north'"),
    ("align:\n  scale: 2\n  camera_height: 1.4\n", "align.scale (2) and align.camera_height (1.4 m) are both set", ""),
    ("align:\n  scale: 1.0e+30\n", "align.scale: expected >= 1e-06 and <= 1e+06", "1e+30"),
    ("align:\n  camera_height: 1.0e+6\n", "align.camera_height: expected > 0 and <= 1000 [m]", "1000000.0"),
    ("align:\n  min_opacity: .nan\n", "align.min_opacity: expected a finite number", "nan"),
    ("input:\n  layout: ply\n", "input.layout: expected one of 'auto', 'inria', 'lyra2', 'lyra1'", "'ply'"),
    ("input:\n  depth_scale: 0\n", "input.depth_scale: expected > 0", "0.0"),
    ("surface:\n  renderer: vulkan\n", "surface.renderer: expected one of 'auto', 'cpu', 'gsplat'", "'vulkan'"),
    ("surface:\n  fov_deg: 180\n", "surface.fov_deg: expected > 0 and < 170 [deg]", "180.0"),
    ("surface:\n  image_width: 8\n", "surface.image_width: expected >= 16 and <= 8192 [px]", "8"),
    ("collision:\n  rest_offset: 0.05\n", "collision.rest_offset: expected less than collision.contact_offset", "0.05"),
    ("collision:\n  materials: /nonexistent/lib.yaml\n", "collision.materials: /nonexistent/lib.yaml: cannot read", ""),
    ("collision:\n  ground_step: -0.1\n", "collision.ground_step: expected >= 0 [m]", "-0.1"),
    ("collision:\n  ground_slope: 90\n", "collision.ground_slope: expected > 0 and < 90 [deg]", "90.0"),
    ("collision:\n  coacd_retries: 1.5\n", "collision.coacd_retries: expected int", "1.5"),
    ("collision:\n  static_tile_faces: 10\n", "collision.static_tile_faces: expected >= 1000 [faces]", "10"),
    ("collision:\n  underside_thickness: 0\n", "collision.underside_thickness: expected > 0 [m]", "0.0"),
    ("collision:\n  object_cpu_limit: 0\n", "collision.object_cpu_limit: expected >= 1 [s of CPU time]", "0.0"),
    ("collision:\n  coacd_max_faces: 10\n", "collision.coacd_max_faces: expected >= 100 [faces]", "10"),
    ("collision:\n  enclosed_fill_area: -1\n", "collision.enclosed_fill_area: expected >= 0 [m^2; 0: never]", "-1.0"),
    ("usd:\n  splat_format: usdz\n", "usd.splat_format: expected one of 'usdc', 'usda'", "'usdz'"),
    ("verify:\n  device: gpu\n", "verify.device: expected 'cpu' or 'cuda:N'", "'gpu'"),
    ("verify:\n  min_pass_fraction: 2\n", "verify.min_pass_fraction: expected >= 0 and <= 1", "2.0"),
    ("verify:\n  engine: ovphysx\n", "verify.engine: expected one of 'auto', 'newton', 'physx', 'both'", "'ovphysx'"),
    ("runtime:\n  num_threads: 0\n", "runtime.num_threads: expected >= 1 and <= 4096", "0"),
    ("runtime:\n  num_threads: two\n", "runtime.num_threads: expected int or null", "'two'"),
]


@pytest.fixture
def no_data_read(monkeypatch):
    """Fail the test if any input is read (the loader is the only way data comes in)."""
    import worldgen_sim.io.load as load

    def refuse(*args, **kwargs):
        raise AssertionError("input data was read before the config was checked")

    monkeypatch.setattr(load, "load_input", refuse)


@pytest.mark.parametrize("text, message, value", BAD_YAML)
def test_bad_yaml_value_fails_before_anything_runs(tmp_path, capsys, no_data_read, text, message, value):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    ply = tmp_path / "scene.ply"
    ply.write_bytes(b"ply\n")  # never read: the config fails first
    out = tmp_path / "world"
    # --no-mesh too: a bad value for a stage this build skips is still a mistake.
    code = cli.main(["build", str(ply), "-o", str(out), "--config", str(config), "--no-mesh", "--quiet"])
    errors = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_USAGE
    assert len(errors) == 1 and errors[0].startswith("worldgen: error: "), errors
    assert str(config) in errors[0] and message in errors[0], errors[0]
    assert errors[0].endswith(f"got {value}") or not value, errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "scene.ply"]


def test_conflicting_cli_options_name_both(tmp_path, capsys, no_data_read):
    ply = tmp_path / "scene.ply"
    ply.write_bytes(b"ply\n")
    code = cli.main(["build", str(ply), "-o", str(tmp_path / "w"), "--scale", "2", "--camera-height", "1.4"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "align.scale" in error and "align.camera_height" in error and "--scale" in error
    assert not (tmp_path / "w").exists()


def test_bad_material_library_contents_are_named(tmp_path):
    library = tmp_path / "materials.yaml"
    library.write_text("materials:\n  floor: {static_friction: -1}\n")
    with pytest.raises(WorldgenError, match=r"collision\.materials: .*materials\.floor\.static_friction"):
        load_config(overrides={"collision.materials": str(library)})


def test_python_api_is_checked_at_build_world_start(tmp_path, no_data_read):
    from worldgen_sim.pipeline import build_world

    cfg = WorldgenCfg()
    cfg.surface.voxel_size = -0.5
    with pytest.raises(WorldgenError, match=r"surface\.voxel_size: expected > 0 and <= 1 \[m\], got -0\.5"):
        build_world(tmp_path / "missing.ply", tmp_path / "world", cfg=cfg)
    cfg = WorldgenCfg()
    cfg.align.up = "sideways"  # a Literal field set from Python is checked too
    with pytest.raises(WorldgenError, match=r"align\.up: expected one of"):
        build_world(tmp_path / "missing.ply", tmp_path / "world", cfg=cfg)
    assert list(tmp_path.iterdir()) == []


def test_stage_entry_points_check_their_own_config():
    from worldgen_sim.navigation.navigation_cfg import NavigationCfg, resolved_agent
    from worldgen_sim.surface.surface_cfg import SurfaceCfg

    with pytest.raises(WorldgenError, match=r"surface\.voxel_size"):
        SurfaceCfg(voxel_size=0.0).validate()
    with pytest.raises(WorldgenError, match=r"navigation\.preset"):
        resolved_agent(NavigationCfg(preset="tank"))  # type: ignore[arg-type]


def test_defaults_are_valid():
    WorldgenCfg().validate()

"""The fault battery: hostile but fair use of ``worldgen``, each run in a subprocess.

Promises checked (issue 15): nothing the tool did not write is ever deleted; a
world is what it says or the build fails; every failure is one ``worldgen: error:``
line with exit 2 (usage errors and malformed PLYs included); kills (SIGTERM,
SIGKILL) at several stages never damage an earlier world and leave nothing a later
build does not clean or restore; one build per OUT at a time; a full disk is one line.

Kills use the ``WORLDGEN_TEST_PAUSE`` hook (``worldgen_sim.interrupts.pause_point``):
the build stops at a named stage, touches a marker file, and the test signals it there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_cli import assert_clean_failure, worldgen

SPLATS_ONLY = ("--no-mesh", "--camera-height", "1.4", "--quiet")
# A full pipeline kept small: coarse surface, no objects to decompose (CoACD is the slow part).
FAST_FULL_CONFIG = """\
surface:
  voxel_size: 0.08
  num_views: 6
  image_width: 128
  image_height: 96
  max_triangles: 20000
collision:
  workers: 1
  min_object_size: 100.0
"""


@pytest.fixture(scope="module")
def earlier_world(sample_ply, tmp_path_factory) -> Path:
    """A splats-only world from conftest's ``sample_ply`` (the sample room, ~20 k Gaussians), built once."""
    out = tmp_path_factory.mktemp("earlier") / "world"
    result = worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY)
    assert result.returncode == 0, result.stderr
    return out


def copy_world(world: Path, where: Path) -> Path:
    target = where / "world"
    shutil.copytree(world, target)
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def start_paused(args: list[str], point: str, tmp_path: Path, *, pause_s: float = 60) -> subprocess.Popen:
    """Start ``worldgen ARGS`` and return once it sits at the pause point ``point``."""
    marker = tmp_path / f"paused-{point.replace(' ', '_')}"
    marker.unlink(missing_ok=True)
    env = dict(os.environ, WORLDGEN_TEST_PAUSE=point, WORLDGEN_TEST_PAUSE_FILE=str(marker),
               WORLDGEN_TEST_PAUSE_S=str(pause_s))  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "worldgen_sim.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"build ended before reaching '{point}': {proc.communicate()[1]}")
        assert time.monotonic() < deadline, f"build never reached '{point}'"
        time.sleep(0.05)
    return proc


# ----------------------------------------------------------------------------- 1. nothing lost


def test_input_inside_out_and_user_files_are_never_deleted(sample_ply, earlier_world, tmp_path):
    """The issue's data loss: `build w/scene.ply -o w` with the user's notes.txt in w."""
    out = copy_world(earlier_world, tmp_path)
    shutil.copy(sample_ply, out / "scene.ply")
    (out / "notes.txt").write_text("my notes")
    before = snapshot(out)
    assert_clean_failure(worldgen("build", str(out / "scene.ply"), "-o", str(out), *SPLATS_ONLY), "inside the output")
    (out / "scene.ply").unlink()
    before = snapshot(out)
    assert_clean_failure(worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY), "notes.txt")
    assert snapshot(out) == before
    # Files worldgen itself writes into a world (verify.json) do not block a rebuild.
    (out / "notes.txt").unlink()
    (out / "verify.json").write_text("{}")
    assert worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY).returncode == 0
    assert not (out / "verify.json").exists()
    assert leftovers(tmp_path) == []


def test_dangling_symlink_output_fails_before_the_build(sample_ply, tmp_path):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "gone")
    result = worldgen("build", str(sample_ply), "-o", str(link), "--no-mesh", "--camera-height", "1.4")
    assert_clean_failure(result, "symbolic link", "gone")
    assert "[worldgen] load" not in result.stderr  # refused before any data was read
    assert link.is_symlink() and not (tmp_path / "gone").exists()


# ----------------------------------------------------------------------------- 2. a world is what it says


def test_relative_depth_without_scale_source_names_both_options(tmp_path):
    lyra1 = tmp_path / "lyra1.ply"
    assert worldgen("sample", str(lyra1), "--layout", "lyra1", "--spacing", "0.1").returncode == 0
    result = worldgen("build", str(lyra1), "-o", str(tmp_path / "w"), "--no-mesh")
    assert_clean_failure(result, "lyra1.ply", "--camera-height", "--scale", "relative depth")
    assert "[worldgen] load" not in result.stderr
    assert not (tmp_path / "w").exists()
    assert worldgen("build", str(lyra1), "-o", str(tmp_path / "w"), *SPLATS_ONLY).returncode == 0


def _scaled_copy(sample_ply: Path, factor: float, where: Path) -> Path:
    from worldgen_sim.io.gaussian_ply import read_gaussian_ply, write_gaussian_ply

    cloud, _ = read_gaussian_ply(sample_ply)
    cloud.positions = cloud.positions * np.float32(factor)
    cloud.scales = cloud.scales * np.float32(factor)
    path = where / "huge.ply"
    write_gaussian_ply(path, cloud, layout="lyra2")
    return path


@pytest.mark.parametrize(
    "options, fragments",
    [
        (["--scale", "1e30"], ["align.scale", "1e+30"]),  # refused by the config check, before reading
        (["--camera-height", "1e6"], ["align.camera_height"]),
        (["--scale", "1e-30"], ["align.scale"]),
        (["--scale", "1e5"], ["m across", "scale 1e+05"]),  # a legal option, an absurd world
        (["--scale", "1e-4"], ["m across", "scale 0.0001"]),
        (None, ["m across", "input units taken as metres"]),  # coordinates of 1e30, read as metres
    ],
)
def test_absurd_scale_or_coordinates_fail_instead_of_an_empty_world(sample_ply, tmp_path, options, fragments):
    source = sample_ply if options is not None else _scaled_copy(sample_ply, 1e30, tmp_path)
    out = tmp_path / "w"
    result = worldgen("build", str(source), "-o", str(out), "--no-mesh", *(options or []))
    assert_clean_failure(result, *fragments)
    assert not out.exists() and leftovers(tmp_path) == []


def test_build_keeping_too_little_fails_with_the_cause(sample_ply, tmp_path):
    config = tmp_path / "strict.yaml"
    config.write_text("align:\n  min_kept_fraction: 0.999\n")
    out = tmp_path / "w"
    result = worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY, "--config", str(config))
    assert_clean_failure(result, "align.min_kept_fraction 0.999", "sky", "--no-sky")
    assert not out.exists()
    # The same input with the filters off keeps everything and builds.
    result = worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY, "--config", str(config),
                      "--no-sky", "--no-floaters")  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "world.json").read_text())
    assert summary["counts"]["gaussians_kept"] == summary["counts"]["gaussians_in"]


def test_rgbd_like_empty_world_is_refused(sample_ply, tmp_path):
    """Splats off and mesh off: nothing would be in the world."""
    config = tmp_path / "nothing.yaml"
    config.write_text("usd:\n  splats: false\n")
    out = tmp_path / "w"
    result = worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY, "--config", str(config))
    assert_clean_failure(result, "empty world", "--no-mesh")
    assert not out.exists()


def test_navigation_asked_for_and_failing_is_an_error(sample_ply, tmp_path):
    """A full (small) build whose navigation cannot succeed: exit 2, no world without its layer."""
    config = tmp_path / "fast.yaml"
    config.write_text(FAST_FULL_CONFIG + "navigation:\n  min_region_area: 1000.0\n")
    out = tmp_path / "w"
    result = worldgen("build", str(sample_ply), "-o", str(out), "--camera-height", "1.4", "--quiet",
                      "--config", str(config))  # fmt: skip
    assert_clean_failure(result, "navigation", "min_region_area", "--no-navigation")
    assert not out.exists() and leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- 3/4. one line, exit 2


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["build"], ["-o/--out", "worldgen build --help"]),
        (["build", "x.ply", "-o", "w", "--scale", "big"], ["--scale", "invalid float", "worldgen build --help"]),
        (["build", "x.ply", "-o", "w", "--agent", "spider"], ["--agent", "worldgen build --help"]),
        (["frobnicate"], ["frobnicate", "worldgen --help"]),
        ([], ["COMMAND", "worldgen --help"]),
    ],
)
def test_argparse_errors_are_one_line_with_a_help_hint(args, fragments, tmp_path):
    result = worldgen(*args, cwd=tmp_path)
    assert_clean_failure(result, *fragments)
    assert "usage:" not in result.stderr and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_non_utf8_config_is_one_line(sample_ply, tmp_path):
    config = tmp_path / "latin1.yaml"
    config.write_bytes(b"align:\n  up: z  # \xe9t\xe9 in Latin-1\n")
    assert_clean_failure(worldgen("build", str(sample_ply), "-o", str(tmp_path / "w"), "--config", str(config)),
                         "latin1.yaml", "not UTF-8")  # fmt: skip


def _header(count: int, *, fmt: str = "binary_little_endian", props: str = "lyra2") -> bytes:
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
             "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]  # fmt: skip
    lines = ["ply", f"format {fmt} 1.0", f"element vertex {count}", *[f"property float {n}" for n in names]]
    return ("\n".join([*lines, "end_header"]) + "\n").encode()


def _malformed_plys(tmp_path: Path, sample_ply: Path) -> dict[str, tuple[bytes, str]]:
    valid = sample_ply.read_bytes()
    end = valid.index(b"end_header\n") + len(b"end_header\n")
    row = 17 * 4
    return {
        "empty": (b"", "not a PLY"),
        "text": (b"hello world\n", "not a PLY"),
        "faces only": (b"ply\nformat binary_little_endian 1.0\nelement face 3\nend_header\n", "vertex"),
        "no end_header": (b"ply\nformat binary_little_endian 1.0\nelement vertex 3\n", "end_header"),
        "bad format": (_header(3, fmt="binary_middle_endian"), "format"),
        "negative count": (_header(3).replace(b"vertex 3", b"vertex -3"), "element"),
        "zero rows": (_header(0), "zero Gaussians"),
        "missing props": (_header(3).replace(b"property float opacity\n", b""), "opacity"),
        "list property": (_header(3).replace(b"end_header", b"property list uchar int idx\nend_header"), "list"),
        "duplicate props": (_header(3).replace(b"property float nz", b"property float nx"), "duplicate"),
        "truncated rows": (valid[: end + 10 * row + 5], "truncated"),
        "ascii short": (_header(2_000_000_000, fmt="ascii") + b"0 0 0\n", "truncated"),
        "all nan": (_header(2) + np.full((2, 17), np.nan, "<f4").tobytes(), "NaN"),
    }


def test_malformed_plys_fail_cleanly_and_write_nothing(sample_ply, tmp_path):
    """The earlier malformed-PLY battery (bad magic, headers, counts, rows, values), build and info."""
    out = tmp_path / "out"
    for name, (content, fragment) in _malformed_plys(tmp_path, sample_ply).items():
        bad = tmp_path / "bad.ply"
        bad.write_bytes(content)
        for args in (["build", str(bad), "-o", str(out), "--no-mesh", "--camera-height", "1.4"], ["info", str(bad)]):
            result = worldgen(*args)
            try:
                assert_clean_failure(result, "bad.ply", fragment)
            except AssertionError as exc:
                raise AssertionError(f"case '{name}', {args[0]}: {exc}") from None
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ply"], name


def test_ply_declaring_two_billion_gaussians_names_the_memory_it_needs(tmp_path):
    """A sparse file as long as its header promises: refused from the header, before allocating."""
    from worldgen_sim.io.ply_header import available_memory_bytes

    count = 2_000_000_000
    need = count * 4 * 14
    available = available_memory_bytes()
    if available is None or available >= need:
        pytest.skip("this machine could hold 2e9 Gaussians")
    huge = tmp_path / "huge.ply"
    header = _header(count)
    with open(huge, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + count * 17 * 4)  # sparse: no disk space used
    for args in (["build", str(huge), "-o", str(tmp_path / "w"), "--no-mesh", "--camera-height", "1.4"],
                 ["info", str(huge)]):  # fmt: skip
        assert_clean_failure(worldgen(*args), "huge.ply", "2000000000 Gaussians", f"{need / 2**30:.1f} GiB")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.ply"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_verify_names_a_corrupt_layer(earlier_world, tmp_path, damage):
    out = copy_world(earlier_world, tmp_path)
    # Give the splats-only world a collision layer, then damage it.
    world = out / "world.usda"
    world.write_text(world.read_text().replace("subLayers = [", "subLayers = [\n        @./collision.usdc@,"))
    layer = out / "collision.usdc"
    if damage == "garbage":
        layer.write_bytes(os.urandom(4096))
    elif damage == "truncated":
        layer.write_bytes((out / "splats.usdc").read_bytes()[:50_000])
    else:
        layer.write_bytes(b"")
    result = worldgen("verify", str(out), "--no-drop-test")
    assert_clean_failure(result, "collision.usdc")


def test_full_disk_is_one_line(sample_ply, tmp_path):
    """A 512 KiB tmpfs (mount namespace): USD's own writes hit ENOSPC."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    mount = tmp_path / "tiny"
    mount.mkdir()
    script = (
        f"mount -t tmpfs -o size=512k tmpfs {mount} || exit 77; "
        f"{sys.executable} -m worldgen_sim.cli build {sample_ply} -o {mount}/w {' '.join(SPLATS_ONLY)}; "
        f"code=$?; ls -A {mount} >&2; exit $code"
    )
    result = subprocess.run(["unshare", "-Urm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    if result.returncode == 77 or "unshare:" in result.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "no space left" in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_full_disk_in_python_writes_is_one_line(sample_ply, tmp_path):
    """ENOSPC raised by a Python-level write (monkeypatched in the subprocess), on any machine."""
    code = (
        "import errno, pathlib, sys\n"
        "from worldgen_sim import cli\n"
        "real = pathlib.Path.write_text\n"
        "def full(self, *a, **k):\n"
        "    if self.name == 'config.yaml':\n"
        "        raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "    return real(self, *a, **k)\n"
        "pathlib.Path.write_text = full\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    out = tmp_path / "w"
    result = subprocess.run([sys.executable, "-c", code, "build", str(sample_ply), "-o", str(out), *SPLATS_ONLY],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert_clean_failure(result, "no space left")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- kills, locks, recovery


@pytest.mark.parametrize("point", ["load", "align", "write splats", "staged"])
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_kill_at_a_stage_keeps_the_earlier_world(sample_ply, earlier_world, tmp_path, point, how):
    out = copy_world(earlier_world, tmp_path)
    before = snapshot(out)
    proc = start_paused(["build", str(sample_ply), "-o", str(out), *SPLATS_ONLY], point, tmp_path)
    proc.send_signal(how)
    _, stderr = proc.communicate(timeout=120)
    assert snapshot(out) == before
    if how == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM, stderr
        assert "interrupted by SIGTERM" in stderr and "Traceback" not in stderr
        assert leftovers(tmp_path) == [], "SIGTERM must clean the staging folder"
    else:
        assert proc.returncode == -signal.SIGKILL
        # The next build removes the dead build's staging folder and lock file.
        assert worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY).returncode == 0
        assert leftovers(tmp_path) == []


@pytest.mark.parametrize("point", ["surface", "collision"])
def test_sigterm_in_heavy_stages_cleans_up(sample_ply, earlier_world, tmp_path, point):
    config = tmp_path / "fast.yaml"
    config.write_text(FAST_FULL_CONFIG)
    out = copy_world(earlier_world, tmp_path)
    before = snapshot(out)
    args = ["build", str(sample_ply), "-o", str(out), "--camera-height", "1.4", "--quiet", "--config", str(config)]
    proc = start_paused(args, point, tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert snapshot(out) == before and leftovers(tmp_path) == []


def test_sigkill_between_the_swap_renames_is_recovered(sample_ply, earlier_world, tmp_path):
    out = copy_world(earlier_world, tmp_path)
    before = snapshot(out)
    proc = start_paused(["build", str(sample_ply), "-o", str(out), *SPLATS_ONLY], "swap", tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    assert not out.exists()
    assert any(name.startswith(".world.old-") for name in leftovers(tmp_path))
    # Any worldgen command naming the OUT restores it (verify fails on a splats-only world: no colliders).
    result = worldgen("verify", str(out), "--no-drop-test")
    assert "restored" in result.stderr, result.stderr
    (out / "verify.json").unlink()  # written by the verify run
    assert snapshot(out) == before
    # ... and the next build cleans what the dead build left.
    assert worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY).returncode == 0
    assert leftovers(tmp_path) == []


def test_sigterm_during_the_swap_is_held_until_it_is_done(sample_ply, earlier_world, tmp_path):
    out = copy_world(earlier_world, tmp_path)
    (out / "world.json").write_text('{"marker": "old"}')
    proc = start_paused(["build", str(sample_ply), "-o", str(out), *SPLATS_ONLY], "swap", tmp_path, pause_s=2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "marker" not in (out / "world.json").read_text()  # the new world, whole
    assert json.loads((out / "manifest.json").read_text())["files"]
    assert leftovers(tmp_path) == []


def test_second_build_into_the_same_out_refuses(sample_ply, tmp_path):
    out = tmp_path / "w"
    first = start_paused(["build", str(sample_ply), "-o", str(out), *SPLATS_ONLY], "align", tmp_path)
    try:
        second = worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY)
        assert_clean_failure(second, "another worldgen build", f"pid {first.pid}")
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert not out.exists() and leftovers(tmp_path) == []
    assert worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY).returncode == 0


def test_stale_leftovers_of_dead_builds_are_cleaned(sample_ply, earlier_world, tmp_path):
    """Folders named by a pid that no longer runs (or too old to matter) go; a live pid's stay."""
    out = copy_world(earlier_world, tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".world.building-{dead.pid}-abc").mkdir()
    (tmp_path / f".world.old-{dead.pid}-def").mkdir()
    legacy = tmp_path / ".world.building-xyz123"  # an older version's name, no pid, two days old
    legacy.mkdir()
    os.utime(legacy, (time.time() - 2 * 86400,) * 2)
    alive = tmp_path / f".world.building-{os.getpid()}-live"  # this test process: alive
    alive.mkdir()
    assert worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY).returncode == 0
    assert leftovers(tmp_path) == [alive.name]


# ----------------------------------------------------------------------------- 5. same input, same bytes


def test_two_splat_builds_are_byte_identical_but_for_timings(sample_ply, tmp_path):
    worlds = [tmp_path / "a", tmp_path / "b"]
    for out in worlds:
        assert worldgen("build", str(sample_ply), "-o", str(out), *SPLATS_ONLY).returncode == 0
    first, second = (snapshot(out) for out in worlds)
    assert first.keys() == second.keys()
    for name in first:
        if name == "world.json":
            a, b = (without_timings(json.loads(files[name])) for files in (first, second))
            assert a == b
        else:
            assert first[name] == second[name], name


def timing_keys(data, path: str = "") -> list[str]:
    """Dotted paths of every key in ``data`` that names a wall-clock timing (``seconds``, ``timings``, ``*_s``)."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if key in ("seconds", "timings") or str(key).endswith("_s"):
                found.append(where)
            found += timing_keys(value, where)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += timing_keys(value, f"{path}[{i}]")
    return found


def without_timings(summary: dict) -> dict:
    """world.json without ``timings_s``, the one place a build writes timings (asserted: no other key holds one)."""
    rest = {k: v for k, v in summary.items() if k != "timings_s"}
    assert timing_keys(rest) == []
    return rest


def test_two_full_builds_are_byte_identical_but_for_timings(sample_ply, tmp_path):
    """Mesh, colliders and navigation too (the small fast config): same input, same bytes."""
    config = tmp_path / "fast.yaml"
    config.write_text(FAST_FULL_CONFIG)
    worlds = [tmp_path / "a", tmp_path / "b"]
    for out in worlds:
        result = worldgen("build", str(sample_ply), "-o", str(out), "--camera-height", "1.4", "--quiet",
                          "--config", str(config))  # fmt: skip
        assert result.returncode == 0, result.stderr
    first, second = (snapshot(out) for out in worlds)
    assert first.keys() == second.keys()
    assert {"visual.usdc", "collision.usdc", "navigation.usdc", "navigation.json", "navigation.npz"} <= set(first)
    differing = [name for name in first if name != "world.json" and first[name] != second[name]]
    assert differing == []
    assert without_timings(json.loads(first["world.json"])) == without_timings(json.loads(second["world.json"]))
    timings = json.loads(first["world.json"])["timings_s"]
    assert {"navigation: rasterize", "navigation: filter", "navigation: outputs", "total"} <= set(timings)
    # verify.json, written into the world by `worldgen verify`, holds no timings either: verified twice, same bytes.
    reports = []
    for _ in range(2):
        result = worldgen("verify", str(worlds[0]), "--quiet")
        assert result.returncode in (0, 1), result.stderr  # 1: a check failed; the report is still written
        reports.append((worlds[0] / "verify.json").read_bytes())
    assert reports[0] == reports[1]
    assert timing_keys(json.loads(reports[0])) == []
    assert json.loads(reports[0])["drop_test"] is not None  # the drop test ran (its probes are in the report)

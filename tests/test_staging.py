"""Nothing half-written: builds land whole or not at all, and never replace foreign folders."""

from __future__ import annotations

import json
import os

import pytest

from worldgen_sim.errors import WorldgenError
from worldgen_sim.staging import staged_output


def test_success_replaces_previous_world(tmp_path):
    target = tmp_path / "world"
    target.mkdir()
    (target / "world.json").write_text("{}")
    (target / "visual.usdc").write_text("old")  # a layer the new build does not write
    with staged_output(target) as staging:
        (staging / "world.json").write_text('{"new": true}')
    assert (target / "world.json").read_text() == '{"new": true}'
    assert not (target / "visual.usdc").exists()
    assert json.loads((target / "manifest.json").read_text())["files"] == ["world.json", "manifest.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]  # no temporary folders left


def test_failure_leaves_existing_target_untouched(tmp_path):
    target = tmp_path / "world"
    target.mkdir()
    (target / "world.json").write_text("old")
    with pytest.raises(RuntimeError), staged_output(target) as staging:
        (staging / "world.json").write_text("half")
        raise RuntimeError("stage failed")
    assert (target / "world.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]


def test_interrupt_leaves_no_partial_target(tmp_path):
    target = tmp_path / "world"
    with pytest.raises(KeyboardInterrupt), staged_output(target) as staging:
        (staging / "world.json").write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_foreign_folder(tmp_path):
    target = tmp_path / "photos"
    target.mkdir()
    (target / "holiday.jpg").write_text("precious")
    with pytest.raises(WorldgenError, match="not a worldgen world"), staged_output(target):
        pass
    assert (target / "holiday.jpg").read_text() == "precious"


def test_refuses_file_and_missing_or_unwritable_parent(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorldgenError, match="is a file"), staged_output(tmp_path / "file"):
        pass
    # Missing parents are created for the build and removed again when it fails.
    with pytest.raises(RuntimeError), staged_output(tmp_path / "missing" / "deeper" / "world"):
        raise RuntimeError("stage failed")
    assert not (tmp_path / "missing").exists()
    with staged_output(tmp_path / "missing" / "deeper" / "world") as staging:
        (staging / "world.json").write_text("{}")
    assert (tmp_path / "missing" / "deeper" / "world" / "world.json").is_file()
    with pytest.raises(WorldgenError, match="is a file, not a folder"), staged_output(tmp_path / "file" / "world"):
        pass
    # A read-only file system refuses even root.
    with pytest.raises(WorldgenError, match="cannot write in"), staged_output("/proc/worldgen_world"):
        pass
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if os.access(locked, os.W_OK):
            pytest.skip("running as a user that can write read-only folders (root)")
        with pytest.raises(WorldgenError, match="not writable"), staged_output(locked / "world"):
            pass
    finally:
        locked.chmod(0o700)


def test_write_text_atomic_replaces_whole_file_with_ordinary_permissions(tmp_path):
    import os

    from worldgen_sim.staging import write_text_atomic

    path = tmp_path / "report.json"
    path.write_text("old")
    write_text_atomic(path, "new")
    assert path.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_refuses_world_holding_user_files_and_input_inside(tmp_path):
    target = tmp_path / "world"
    with staged_output(target) as staging:
        (staging / "world.json").write_text("{}")
    (target / "verify.json").write_text("{}")  # written later by worldgen verify: replaceable
    with staged_output(target) as staging:
        (staging / "world.json").write_text("{}")
    (target / "notes.txt").write_text("mine")
    with pytest.raises(WorldgenError, match=r"holds files a build did not write \(notes.txt\)"), staged_output(target):
        pass
    (target / "notes.txt").unlink()
    with pytest.raises(WorldgenError, match="lies inside the output folder"), staged_output(
        target, inputs=[target / "world.json"]
    ):
        pass
    assert (target / "world.json").is_file()


def test_dangling_symlink_is_refused_and_folder_link_followed(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(WorldgenError, match="symbolic link"), staged_output(link):
        pass
    real = tmp_path / "real"
    real.mkdir()
    link.unlink()
    link.symlink_to(real)
    with staged_output(link) as staging:
        (staging / "world.json").write_text("{}")
    assert link.is_symlink() and (real / "world.json").is_file()


def test_world_from_before_manifests_is_judged_by_the_pipeline_file_names(tmp_path):
    target = tmp_path / "world"
    target.mkdir()
    for name in ("world.json", "world.usda", "splats.usdc", "navigation.npz", "config.yaml"):
        (target / name).write_text("old")
    (target / ".verify.json.tmpab12").write_text("half")  # an interrupted write_text_atomic
    with staged_output(target) as staging:
        (staging / "world.json").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "world.json"]
    # A name the manifest does not list is the user's, even if a build could write it elsewhere.
    (target / "visual.usdc").write_text("someone else's")
    with pytest.raises(WorldgenError, match="visual.usdc"), staged_output(target):
        pass


def test_recover_output_restores_a_missing_world_from_a_dead_builds_old_folder(tmp_path):
    import subprocess
    import sys

    from worldgen_sim.staging import recover_output

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = tmp_path / f".world.old-{dead.pid}-abc"
    old.mkdir()
    (old / "world.json").write_text("old world")
    assert recover_output(tmp_path / "world") is not None
    assert (tmp_path / "world" / "world.json").read_text() == "old world" and not old.exists()
    assert recover_output(tmp_path / "world") is None  # present: nothing to do
    live = tmp_path / f".other.old-{os.getpid()}-abc"  # a live build mid-swap: left alone
    live.mkdir()
    (live / "world.json").write_text("{}")
    assert recover_output(tmp_path / "other") is None and live.exists()

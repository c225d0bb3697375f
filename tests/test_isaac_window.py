"""The Worldgen window's ``omni.ui`` binding, driven through a recording stand-in of Kit's UI (tests/fake_kit.py).

``make test-isaac`` runs the extension in the real Kit kernel, which has no ``omni.ui``; these tests run the
window code itself: the menu item opens it, typing and clicking go through the widgets' models, the build
runs off the "UI thread" with progress in the bar, the world is spawned into the open stage on a frame
update, and errors land in the window. The build is the real one.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "isaac_ext"))

import fake_kit


def _frames_until(kit, condition, *, timeout: float = 900.0) -> None:
    """Step Kit frames until ``condition()`` holds (the build runs on its own thread meanwhile)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the window never reached the expected state"
        kit.app.update.pump()
        time.sleep(0.05)


@pytest.fixture
def kit(monkeypatch):
    return fake_kit.install(monkeypatch)


def _open_window(kit):
    from worldgen_sim_isaac.extension import WorldgenSimExtension, extension_state

    extension = WorldgenSimExtension()
    extension.on_startup("worldgen_sim_isaac-0")
    assert extension_state()["menu"] and [item.name for item in kit.menus["Tools"]] == ["Worldgen"]
    kit.menus["Tools"][0].onclick_fn()
    window = extension._window
    assert extension_state()["window"] and window._window.visible
    return extension, window


def _choose(combo, value: str) -> None:
    combo.model.get_item_value_model().set_value(combo.model.items.index(value))


def test_window_builds_and_spawns_into_the_open_stage(kit, sample_ply, tmp_path):
    from pxr import Usd

    kit.usd_context.stage = Usd.Stage.CreateInMemory()
    extension, window = _open_window(kit)
    kit.app.update.pump()
    assert not window._button.enabled and window._status.text.startswith("choose an input")

    window._input.model.set_value(str(sample_ply))
    window._out.model.set_value(str(tmp_path / "world"))
    _choose(window._scale_mode, "camera_height")
    window._camera_height.model.set_value(1.4)  # the sample PLY's camera is 1.4 m above its floor
    _choose(window._agent, "humanoid")
    kit.app.update.pump()
    assert window._button.enabled, window._status.text
    assert window._status.text == f"ready: ply -> {tmp_path / 'world'}"

    window._button.click()
    assert window.form.agent == "humanoid" and window.job.running
    kit.app.update.pump()
    assert not window._button.enabled  # no second build while one runs
    seen = set()

    def spawned() -> bool:
        seen.add(round(window._progress.model.get_value_as_float(), 3))
        return window._status.text.startswith(("spawned at ", "failed"))

    _frames_until(kit, spawned)
    assert window._status.text.startswith("spawned at "), window._status.text
    prim_path = window._status.text.removeprefix("spawned at ")
    prim = kit.usd_context.stage.GetPrimAtPath(prim_path)
    assert prim.IsValid() and prim.HasAuthoredReferences()
    assert (tmp_path / "world" / "world.usda").is_file()
    assert len(seen) > 2, seen  # the bar moved while the build ran
    kit.app.update.pump()  # a later frame does not spawn it twice
    assert len(kit.usd_context.stage.GetPseudoRoot().GetChildren()) == 1

    extension.on_shutdown()
    assert kit.menus["Tools"] == [] and window._window.destroyed
    kit.app.update.pump()  # the window's frame subscription is gone with it
    assert not kit.app.update.subscriptions


def test_window_shows_build_errors(kit, tmp_path):
    bad = tmp_path / "broken.ply"
    bad.write_bytes(b"ply\nformat ascii 1.0\nend_header\n")
    extension, window = _open_window(kit)
    window._input.model.set_value(str(tmp_path / "missing.ply"))
    kit.app.update.pump()
    assert "is not a .ply, a picture or an RGB-D folder" in window._status.text and not window._button.enabled
    window._input.model.set_value(str(bad))
    kit.app.update.pump()
    window._button.click()
    _frames_until(kit, lambda: window._status.text.startswith("failed"), timeout=120)
    assert "broken.ply" in window._status.text  # the error names the file, in the window
    assert window._button.enabled  # and the user can fix it and try again
    assert not (tmp_path / "broken_world").exists()  # nothing half-written
    extension.on_shutdown()


def test_extension_without_omni_ui_is_headless(kit, monkeypatch):
    """Kit without a UI (the kernel ``make test-isaac`` runs): the extension starts and says why no window."""
    monkeypatch.delitem(sys.modules, "omni.ui")
    from worldgen_sim_isaac.extension import WorldgenSimExtension, extension_state

    extension = WorldgenSimExtension()
    extension.on_startup("worldgen_sim_isaac-0")
    assert not extension_state()["menu"] and "omni.ui" in extension_state()["reason"]
    assert kit.menus == {} and any("headless" in line for line in kit.log)
    extension.on_shutdown()
    assert extension_state()["stopped"]

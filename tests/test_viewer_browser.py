"""`worldgen view` in headless Chromium (Debian's chromium, driven by playwright; `make test` installs both).

The page must load without console errors, open at the input camera, toggle layers and jump between
views; what it draws is compared with the numpy rasteriser's picture of the same known geometry
from the same camera (the red cube's silhouette), not only checked for being non-blank.
"""

from __future__ import annotations

import io
import shutil
import time

import numpy as np
import pytest
from viewer_worlds import write_box_world

from worldgen_sim.viewer.views import render_view, view_camera
from worldgen_sim.viewer.world_layers import load_world_layers

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
WIDTH, HEIGHT = 960, 600
# Where the page's control panel and notifications may cover the canvas; compared outside them.
PANEL_LEFT, NOTICE_BOTTOM = 600, 170
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]  # fmt: skip


@pytest.fixture(scope="module")
def page_of_box(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    from worldgen_sim.viewer.server import serve_world

    world = write_box_world(tmp_path_factory.mktemp("browser") / "box")
    viewer = serve_world(world, port=0)
    messages: list[tuple[str, str]] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.on("console", lambda message: messages.append((message.type, message.text)))
        page.on("pageerror", lambda error: messages.append(("pageerror", str(error))))
        page.goto(viewer.url)
        page.wait_for_selector("canvas", timeout=60_000)
        yield {"page": page, "viewer": viewer, "world": world, "messages": messages, "browser": browser}
        browser.close()
    viewer.stop()


def _screenshot(page) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)


def _red(image: np.ndarray) -> np.ndarray:
    """The cube: strongly red pixels (lit or shaded), inside the part of the page nothing covers."""
    red = (image[:, :, 0] > 110) & (image[:, :, 0] > image[:, :, 1] + 60) & (image[:, :, 0] > image[:, :, 2] + 60)
    red[:, PANEL_LEFT:] = False
    red[:NOTICE_BOTTOM] = False
    return red


def _wait_for(condition, page, seconds: float = 90.0) -> np.ndarray:
    """Screenshots until ``condition(image)`` holds (software WebGL on a busy machine is slow)."""
    deadline = time.monotonic() + seconds
    while True:
        image = _screenshot(page)
        if condition(image) or time.monotonic() > deadline:
            return image
        time.sleep(1.0)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / max(float((a | b).sum()), 1.0)


def _expected_red(world, view: str) -> np.ndarray:
    layers = load_world_layers(world)
    picture = render_view(layers, view_camera(layers, view, width=WIDTH, height=HEIGHT), show=("visual",))
    return _red(picture.astype(int))


def test_page_opens_at_the_input_camera_without_console_errors(page_of_box):
    expected = _expected_red(page_of_box["world"], "input")
    assert expected.sum() > 2000
    image = _wait_for(lambda im: _iou(_red(im), expected) > 0.9, page_of_box["page"])
    # Measured 0.975; a field of view 10 deg off gives 0.65, the orbit view 0.62.
    assert _iou(_red(image), expected) > 0.9, _iou(_red(image), expected)
    errors = [m for m in page_of_box["messages"] if m[0] in ("error", "pageerror")]
    assert errors == []
    text = page_of_box["page"].inner_text("body")
    assert "32 of 32 shown as points" in text and "1/2 probes at rest" in text
    assert "sent when first switched on: splats, colliders, navmesh, camera" in text


def test_layer_toggle_reaches_the_scene(page_of_box):
    """Colliders start hidden and unsent; the toggle sends them (one node per object) and hides them again."""
    viewer, page = page_of_box["viewer"], page_of_box["page"]
    assert "colliders" in viewer.pending and "colliders" not in viewer.handles
    page.get_by_text("colliders", exact=True).click()
    deadline = time.monotonic() + 30
    while "colliders" not in viewer.handles and time.monotonic() < deadline:
        time.sleep(0.2)
    colliders = viewer.handles["colliders"]
    assert len(colliders) == 2 and all(handle.visible for handle in colliders)
    assert "colliders" not in viewer.pending
    page.get_by_text("colliders", exact=True).click()  # back off for the next test
    deadline = time.monotonic() + 30
    while any(handle.visible for handle in colliders) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(handle.visible for handle in colliders)


def test_top_view_button_shows_what_the_top_screenshot_shows(page_of_box):
    expected = _expected_red(page_of_box["world"], "top")
    page_of_box["page"].get_by_role("button", name="top view").click()
    image = _wait_for(lambda im: _iou(_red(im), expected) > 0.8, page_of_box["page"])
    assert _iou(_red(image), expected) > 0.8, _iou(_red(image), expected)
    assert [m for m in page_of_box["messages"] if m[0] in ("error", "pageerror")] == []


def test_coarse_visual_mesh_is_refined_to_the_full_budget_once_drawn(page_of_box, tmp_path):
    """A visual mesh over twice ``coarse_faces`` goes first reduced, then whole once the page has drawn it;
    the page says so."""
    from worldgen_sim.viewer.server import serve_world

    world = write_box_world(tmp_path / "box")
    viewer = serve_world(world, port=0, coarse_faces=4)  # the visual mesh has 13 faces
    try:
        assert viewer.refine is not None and viewer.sent["coarse_faces"] <= 4
        first_faces = viewer.sent["faces"]
        assert "visual mesh in two steps" in viewer.summary
        page = page_of_box["browser"].new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.goto(viewer.url)
        deadline = time.monotonic() + 90
        while viewer.refine is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert viewer.refine is None and "refined_s" in viewer.sent
        # Whole visual mesh (13 faces) instead of the coarse one, and still the one visible node.
        assert viewer.sent["faces"] == first_faces - viewer.sent["coarse_faces"] + 13
        assert len(viewer.handles["visual"]) == 1 and viewer.handles["visual"][0].visible
        expected = _expected_red(world, "input")
        image = _wait_for(lambda im: _iou(_red(im), expected) > 0.9, page)
        assert _iou(_red(image), expected) > 0.9, _iou(_red(image), expected)  # the whole cube again
        page.close()
    finally:
        viewer.stop()

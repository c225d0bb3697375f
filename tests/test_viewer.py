"""The viewer's layers, its numpy rasteriser (against analytic projections), screenshots and preview.png."""

from __future__ import annotations

import json

import numpy as np
import pytest
from viewer_worlds import CAMERA_POSITION, CUBE_MAX, CUBE_MIN, cube_mesh, write_box_world

from worldgen_sim.cli import main
from worldgen_sim.errors import WorldgenError
from worldgen_sim.viewer.raster import Camera, Canvas
from worldgen_sim.viewer.views import render_view, view_camera, write_preview
from worldgen_sim.viewer.world_layers import load_world_layers, object_colours


@pytest.fixture(scope="module")
def box_world(tmp_path_factory):
    return write_box_world(tmp_path_factory.mktemp("viewer") / "box")


def _png(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def _convex_mask(points_uv: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W) bool: pixel centres inside the convex hull of projected points (the analytic silhouette)."""
    from scipy.spatial import ConvexHull

    hull = ConvexHull(points_uv)
    x, y = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    centres = np.stack([x.ravel(), y.ravel()], axis=1)
    inside = (centres @ hull.equations[:, :2].T + hull.equations[:, 2] <= 0).all(axis=1)
    return inside.reshape(height, width)


def _project(camera: Camera, points: np.ndarray) -> np.ndarray:
    view = camera.world_to_camera()
    cam = points @ view[:3, :3].T + view[:3, 3]
    uv = cam @ camera.intrinsics().T
    return uv[:, :2] / uv[:, 2:3]


def test_layers_hold_what_the_package_holds(box_world):
    layers = load_world_layers(box_world)
    assert layers.splats is not None and len(layers.splats.points) == 32 and not layers.splats.subsampled
    assert layers.visual is not None and layers.visual.faces.shape == (13, 3)  # 12 cube + 1 seen floor face
    assert layers.completed is not None and layers.completed.faces.shape == (1, 3)
    assert sorted(c.name for c in layers.colliders) == ["box_000", "floor_0"]
    box = next(c for c in layers.colliders if c.name == "box_000")
    # The hull is authored relative to its object's translate: back in the world it is the cube.
    np.testing.assert_allclose(box.vertices.min(axis=0), CUBE_MIN, atol=1e-6)
    np.testing.assert_allclose(box.vertices.max(axis=0), CUBE_MAX, atol=1e-6)
    colours = {tuple(c.colors[0]) for c in layers.colliders}
    assert len(colours) == 2  # one colour per object
    assert next(c for c in layers.colliders if c.name == "floor_0").label == "floor"
    np.testing.assert_allclose(layers.nav_volumes[layers.nav_include][0], [[-1.5, -1.5, 0], [2.5, 2.5, 2]])
    np.testing.assert_allclose(layers.nav_volumes[~layers.nav_include][0], [[0, 0, 1], [1, 1, 2]])
    assert layers.spawn_points.shape == (2, 3)
    assert layers.probes_passed.tolist() == [True, False] and layers.probe_engine == "newton"
    assert layers.camera is not None
    np.testing.assert_allclose(layers.camera.position, CAMERA_POSITION)
    assert layers.camera.vfov_deg == pytest.approx(np.degrees(2 * np.arctan(240 / 400)))


def test_splats_are_subsampled_and_the_notes_say_so(box_world):
    layers = load_world_layers(box_world, max_points=10)
    assert layers.splats is not None and len(layers.splats.points) == 10 and layers.splats.total == 32
    assert any("10 of 32" in note for note in layers.notes)
    again = load_world_layers(box_world, max_points=10)
    np.testing.assert_array_equal(layers.splats.points, again.splats.points)  # seeded


def test_object_colours_are_distinct_and_stable():
    colours = object_colours(12)
    assert len({tuple(np.round(c, 3)) for c in colours}) == 12
    np.testing.assert_array_equal(colours[:5], object_colours(5))


def test_raster_silhouette_matches_the_analytic_projection_of_a_cube():
    camera = Camera((2.5, -3.0, 2.0), (0.5, 0.5, 0.5), vfov_deg=50, width=200, height=150)
    vertices, faces = cube_mesh(CUBE_MIN, CUBE_MAX)
    canvas = Canvas(camera, background=(1, 1, 1))
    canvas.triangles(vertices, faces, (1.0, 0.0, 0.0), shade=False)
    drawn = (canvas.image() != 255).any(axis=2)
    truth = _convex_mask(_project(camera, vertices), 200, 150)
    # Pixel centres exactly on an edge may go either way: allow the hull's 1-px border only.
    mismatch = drawn ^ truth
    assert mismatch.sum() <= 0.03 * truth.sum(), (int(mismatch.sum()), int(truth.sum()))
    assert truth.sum() > 1000
    # Depth of the pixel at the projected nearest corner's neighbourhood: the nearest visible surface.
    assert np.isfinite(canvas.depth).sum() == drawn.sum()


def test_raster_draws_a_floor_that_passes_behind_the_camera():
    """Homogeneous rasterisation: a huge floor under a level camera fills everything below the horizon."""
    camera = Camera((0.0, 0.0, 1.0), (0.0, 10.0, 1.0), vfov_deg=60, width=80, height=60)
    canvas = Canvas(camera, background=(1, 1, 1))
    floor = np.array([[-50, -50, 0], [50, -50, 0], [50, 50, 0], [-50, 50, 0]], float)
    canvas.triangles(floor, [[0, 1, 2], [0, 2, 3]], (0.0, 0.0, 0.0), shade=False)
    dark = (canvas.image() == 0).all(axis=2)
    # Level camera: the horizon is the middle row; the floor ends 50 m ahead, just below it.
    assert dark[32:].all() and not dark[:30].any()
    # Depth along the optical axis at the bottom row centre: camera height / tan(angle below the axis).
    v = 59.5 - 30.0
    expected = 1.0 / (v / camera.focal)
    assert canvas.depth.reshape(60, 80)[59, 40] == pytest.approx(expected, rel=1e-6)


def test_points_and_lines_land_where_they_project():
    camera = Camera((0.0, -5.0, 0.0), (0.0, 0.0, 0.0), vfov_deg=60, width=101, height=101)
    canvas = Canvas(camera, background=(1, 1, 1))
    canvas.points(np.array([[0.0, 0.0, 0.0]]), (0.0, 0.0, 1.0), radius_px=3)
    image = canvas.image()
    blue = np.argwhere((image == [0, 0, 255]).all(axis=2))
    np.testing.assert_allclose(blue.mean(axis=0), [50, 50], atol=0.5)  # the optical axis hits pixel (50, 50)
    assert 20 <= len(blue) <= 37  # a disc of radius 3 px: ~28 pixel centres
    canvas.lines(np.array([[[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]]), (0.0, 0.0, 0.0))
    black_rows = np.unique(np.argwhere((canvas.image() == 0).all(axis=2))[:, 0])
    assert set(black_rows) <= {49, 50, 51}


def test_render_view_shows_the_cube_where_the_input_camera_sees_it(box_world):
    layers = load_world_layers(box_world)
    camera = view_camera(layers, "input", width=160, height=120)
    image = render_view(layers, camera, show=("visual",))
    red = (image[:, :, 0] > 120) & (image[:, :, 1] < 60) & (image[:, :, 2] < 60)
    cube_vertices, _ = cube_mesh(CUBE_MIN, CUBE_MAX)
    truth = _convex_mask(_project(camera, cube_vertices), 160, 120)
    assert (red & truth).sum() / (red | truth).sum() > 0.9


def test_view_cameras_frame_the_world(box_world):
    layers = load_world_layers(box_world)
    lo, hi = layers.bounds()
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    for view in ("top", "orbit"):
        camera = view_camera(layers, view, width=320, height=240)
        uv = _project(camera, corners)
        assert (uv >= -1).all() and (uv[:, 0] <= 321).all() and (uv[:, 1] <= 241).all(), view
    with pytest.raises(WorldgenError, match="unknown camera 'side'"):
        view_camera(layers, "side")


@pytest.mark.parametrize("view", ["input", "top", "orbit"])
def test_screenshot_command_writes_the_same_png_every_time(box_world, tmp_path, view):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for path in (first, second):
        assert main(["view", str(box_world), "--screenshot", str(path), "--camera", view, "--size", "96x64",
                     "--quiet"]) == 0
    assert first.read_bytes() == second.read_bytes()
    image = _png(first)
    assert image.shape == (64, 96, 3)
    assert ((image[:, :, 0] > 120) & (image[:, :, 1] < 60)).sum() > 20  # the red cube is in every view


def test_view_errors_name_the_problem(tmp_path, capsys):
    assert main(["view", str(tmp_path), "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "no world.usda" in capsys.readouterr().err
    world = write_box_world(tmp_path / "w")
    assert main(["view", str(world), "--screenshot", str(tmp_path / "x.png"), "--size", "big"]) == 2
    assert "--size 'big'" in capsys.readouterr().err
    assert main(["view", str(world), "--screenshot", str(tmp_path / "missing" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (world / "verify.json").write_text("{not json")
    assert main(["view", str(world), "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "verify.json" in capsys.readouterr().err


def test_missing_viser_names_the_extra(monkeypatch, box_world):
    import sys

    from worldgen_sim.viewer import server

    monkeypatch.setitem(sys.modules, "viser", None)  # what an install without the extra looks like
    with pytest.raises(WorldgenError, match=r"needs the optional package viser .*pip install 'worldgen-sim\[view\]'"):
        server.serve_world(box_world, port=0)


def test_preview_is_top_and_input_view_and_deterministic(box_world):
    path = write_preview(box_world, width=120, height=90)
    first = path.read_bytes()
    assert write_preview(box_world, width=120, height=90).read_bytes() == first
    image = _png(path)
    assert image.shape == (90, 2 * 120 + 4, 3)
    layers = load_world_layers(box_world)
    for offset, view in ((0, "top"), (124, "input")):
        expected = render_view(layers, view_camera(layers, view, width=120, height=90), dollhouse=view == "top")
        np.testing.assert_array_equal(image[:, offset : offset + 120], expected)
    # A failed probe is drawn red, one at rest green (verify.json), in the top view.
    top = image[:, :120].astype(int)
    assert ((top[:, :, 0] > 180) & (top[:, :, 1] < 60) & (top[:, :, 2] < 60)).any()
    assert ((top[:, :, 1] > 150) & (top[:, :, 0] < 60) & (top[:, :, 2] < 80)).any()


def test_build_preview_is_opt_in_and_changes_no_other_output(sample_ply, tmp_path):
    """--preview adds preview.png; every other file is byte-identical to a build without it (world.json
    except its timings and the config's viewer.preview)."""
    plain, with_preview = tmp_path / "plain", tmp_path / "preview"
    options = ["--no-mesh", "--quiet"]
    assert main(["build", str(sample_ply), "-o", str(plain), *options]) == 0
    assert main(["build", str(sample_ply), "-o", str(with_preview), "--preview", *options]) == 0
    assert not (plain / "preview.png").exists()
    names = sorted(p.name for p in plain.iterdir())
    assert sorted(p.name for p in with_preview.iterdir()) == sorted([*names, "preview.png"])
    manifest = json.loads((with_preview / "manifest.json").read_text())
    assert "preview.png" in manifest["files"]
    differing = [n for n in names if n not in ("world.json", "manifest.json", "config.yaml")
                 and (plain / n).read_bytes() != (with_preview / n).read_bytes()]
    assert differing == []
    summaries = [json.loads((out / "world.json").read_text()) for out in (plain, with_preview)]
    for summary in summaries:
        summary.pop("timings_s")
        summary["config"]["viewer"].pop("preview")
    assert summaries[0] == summaries[1]
    # The sample's input frame is an OpenCV camera: the preview's second view is that camera's.
    align = summaries[0]["stages"]["align"]
    assert align["camera_world"]["position"][2] == pytest.approx(align["camera_height_world"], abs=1e-5)
    assert (with_preview / "preview.png").read_bytes() == write_preview(with_preview).read_bytes()
    # verify --preview writes one into a finished world, and a rebuild may still replace that world.
    main(["verify", str(plain), "--no-drop-test", "--preview", "--quiet"])
    assert (plain / "preview.png").is_file()
    assert main(["build", str(sample_ply), "-o", str(plain), *options]) == 0
    assert not (plain / "preview.png").exists()


def test_view_command_serves_the_page(box_world, tmp_path):
    """The address is printed before the world is read; then what was sent, and the cache is written."""
    import subprocess
    import sys
    import urllib.request

    pytest.importorskip("viser")
    process = subprocess.Popen([sys.executable, "-m", "worldgen_sim.cli", "view", str(box_world), "--port", "0",
                                "--cache-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        line = next(line for line in process.stdout if line.startswith("worldgen view: serving"))
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200 and b"<html" in response.read().lower()
        sent = next(line for line in process.stdout if "world sent after" in line)
        assert "read from the world and cached): 0 points, 14 faces" in sent  # splats hidden under the mesh
        assert len(list((tmp_path / "viewer").glob("*.npz"))) == 1
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_reduce_mesh_meets_the_budget_and_keeps_the_winding():
    from worldgen_sim.viewer.sent_layers import reduce_mesh
    from worldgen_sim.viewer.world_layers import MeshLayer

    n = 101  # a 2 m x 2 m floor of 20 000 upward-facing triangles
    x, y = np.meshgrid(np.linspace(0, 2, n), np.linspace(0, 2, n))
    vertices = np.column_stack([x.ravel(), y.ravel(), np.zeros(n * n)]).astype(np.float32)
    i = (np.arange(n - 1)[:, None] * n + np.arange(n - 1)).ravel()
    faces = np.concatenate([np.stack([i, i + 1, i + n + 1], 1), np.stack([i, i + n + 1, i + n], 1)]).astype(np.int32)
    mesh = MeshLayer(vertices, faces, np.full(vertices.shape, 0.5, np.float32), "visual")
    reduced, note = reduce_mesh(mesh, 2000)
    assert note is not None and "of 20,000 faces" in note
    assert 500 <= reduced.faces.shape[0] <= 2000
    corners = reduced.vertices[reduced.faces].astype(np.float64)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert (normals[:, 2] > 0).all()  # every kept face still faces up
    area = 0.5 * np.linalg.norm(normals, axis=1).sum()
    assert area == pytest.approx(4.0, rel=0.05)  # the floor is still covered
    same, none = reduce_mesh(mesh, 20_000)
    assert same is mesh and none is None


def test_mesh_glb_holds_the_mesh_and_its_colours():
    """The page's GLB (written without trimesh) read back by trimesh's glTF loader: the same mesh."""
    import io

    import trimesh

    from worldgen_sim.viewer.glb import mesh_glb

    vertices, faces = cube_mesh(CUBE_MIN, CUBE_MAX)
    colours = np.random.default_rng(0).uniform(0, 1, (len(vertices), 3))
    scene = trimesh.load(io.BytesIO(mesh_glb(vertices, faces, colours)), file_type="glb", process=False)
    (mesh,) = scene.geometry.values()
    np.testing.assert_allclose(mesh.vertices, vertices, atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, faces)
    np.testing.assert_array_equal(mesh.visual.vertex_attributes["color"][:, :3], np.rint(colours * 255))
    with pytest.raises(ValueError, match="face index 8 beyond 8 vertices"):
        mesh_glb(vertices, faces + 1, colours)


def test_sent_layers_are_cached_by_content(box_world, tmp_path):
    """A second view reads the cache and gets what reading the world gives; other content or other
    budgets are another key; the reports (verify.json) are read fresh."""
    import shutil

    from worldgen_sim.viewer.sent_layers import sent_layers

    world = shutil.copytree(box_world, tmp_path / "world")
    cache = tmp_path / "cache"
    first, coarse, use = sent_layers(world, max_points=10, max_faces=100, coarse_faces=4, cache_dir=cache)
    assert not use.hit and use.path is not None and use.path.is_file()
    assert coarse is not None and 0 < coarse.faces.shape[0] <= 4  # 13 visual faces, 4 at first
    again, coarse_again, use_again = sent_layers(world, max_points=10, max_faces=100, coarse_faces=4, cache_dir=cache)
    assert use_again.hit and use_again.path == use.path
    np.testing.assert_array_equal(coarse_again.faces, coarse.faces)
    np.testing.assert_array_equal(coarse_again.vertices, coarse.vertices)
    uncached, _, none = sent_layers(world, max_points=10, max_faces=100, coarse_faces=4, cache_dir=None)
    assert none.path is None and not none.hit
    assert sent_layers(world, max_points=10, max_faces=100, coarse_faces=7, cache_dir=None)[1] is None  # 13 <= 2 x 7
    for layers in (again, uncached):
        np.testing.assert_array_equal(layers.splats.points, first.splats.points)
        assert layers.splats.total == 32 and layers.visual is not None
        np.testing.assert_array_equal(layers.visual.faces, first.visual.faces)
        np.testing.assert_array_equal(layers.visual.vertices, first.visual.vertices)
        assert [(c.name, c.label, len(c.faces)) for c in layers.colliders] == \
            [(c.name, c.label, len(c.faces)) for c in first.colliders]
        np.testing.assert_array_equal(layers.nav_volumes, first.nav_volumes)
        assert layers.notes == first.notes and any("showing 10 of 32" in n for n in layers.notes)
        assert layers.camera is not None and layers.probes_passed.tolist() == [True, False]
    assert sent_layers(world, max_points=10, max_faces=100, coarse_faces=5, cache_dir=cache)[2].hit is False
    (world / "verify.json").write_text(json.dumps({"drop_test": {"engine": "newton", "probes": [
        {"start": [0, 0, 1], "end": [0, 0, 0], "passed": True}]}}))
    fresh, _, use_fresh = sent_layers(world, max_points=10, max_faces=100, coarse_faces=4, cache_dir=cache)
    assert use_fresh.hit and fresh.probes_passed.tolist() == [True]
    write_box_world(world, gaussians=20)  # other splats: another key, never the stale cache
    changed, _, use_changed = sent_layers(world, max_points=10, max_faces=100, coarse_faces=4, cache_dir=cache)
    assert not use_changed.hit and changed.splats.total == 20


def test_an_unwritable_cache_is_warned_about_not_fatal(box_world, tmp_path, caplog):
    import logging

    from worldgen_sim.viewer.sent_layers import sent_layers

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    logger = logging.getLogger("worldgen_sim.cache")  # directly: the CLI's logging (quiet, not propagating)
    logger.addHandler(caplog.handler)  # may be left from an earlier test's main()
    try:
        with caplog.at_level(logging.WARNING, logger="worldgen_sim.cache"):
            layers, _, use = sent_layers(box_world, max_points=10, max_faces=100, cache_dir=blocker / "cache")
    finally:
        logger.removeHandler(caplog.handler)
    assert layers.splats is not None and len(layers.splats.points) == 10 and not use.hit
    assert "viewer cache" in caplog.text and "cannot be written" in caplog.text


def test_page_is_served_before_the_world_loads_and_lists_what_it_received(box_world, tmp_path):
    import urllib.request

    pytest.importorskip("viser")
    from worldgen_sim.viewer.server import serve_world, show_layer

    served: list[int] = []  # (drawn_points left at its default: all 10 loaded points are drawn)

    def announce(url: str) -> None:  # called before the world is read: the page must answer already
        with urllib.request.urlopen(url, timeout=30) as response:
            served.append(response.status)

    viewer = serve_world(box_world, port=0, max_points=10, max_faces=6, cache_dir=tmp_path, announce=announce)
    try:
        assert served == [200]
        # At first only what shows: the visual mesh (reduced to 6 faces) and the completed face; the
        # splats (hidden under the mesh) and colliders are sent when switched on.
        assert viewer.sent["points"] == 0 and 1 < viewer.sent["faces"] <= 6 + 1
        assert set(viewer.pending) == {"splats", "colliders", "navmesh", "camera"}
        summary = viewer.summary
        assert "splat centres: 10 of 32 shown as points" in summary
        assert f"sent to this page at first: 0 points, {viewer.sent['faces']:,} faces" in summary
        assert "sent when first switched on: splats, colliders, navmesh, camera" in summary
        assert "Reduced for this page" in summary and "showing 10 of 32" in summary and "of 13 faces" in summary
        show_layer(viewer, "splats", True)  # what the page's toggle does
        assert viewer.sent["points"] == 10 and "splats" not in viewer.pending and viewer.handles["splats"][0].visible
        show_layer(viewer, "splats", False)
        assert viewer.sent["points"] == 10 and not viewer.handles["splats"][0].visible
    finally:
        viewer.stop()


def test_fewer_splat_points_are_drawn_at_first_and_the_slider_draws_more(box_world, tmp_path):
    pytest.importorskip("viser")
    from worldgen_sim.viewer.server import draw_points, serve_world, show_layer

    viewer = serve_world(box_world, port=0, max_points=10, drawn_points=4, cache_dir=tmp_path)
    try:
        assert "splat centres: 4 of 32 shown as points (10 loaded" in viewer.summary
        show_layer(viewer, "splats", True)
        assert viewer.sent["points"] == 4  # every 3rd of the 10 loaded
        sent = viewer.handles["splats"][0].points  # half precision on the wire
        np.testing.assert_array_equal(sent, viewer.layers.splats.points[::3].astype(np.float16))
        draw_points(viewer, 10)  # the page's slider
        (handle,) = viewer.handles["splats"]
        assert handle.visible and len(handle.points) == 10 and viewer.sent["points"] == 4 + 10
    finally:
        viewer.stop()

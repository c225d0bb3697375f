"""Realistic scenes through the whole pipeline, measured against analytic ground truth (issue 8).

Each scene (worldgen_sim.scenes) is made of Gaussians with capture defects —
position noise, scale/rotation jitter, one-sided surfaces, floaters, a sky
shell — over known geometry, written as a PLY in its layout and frame, and
built by ``build_world`` with the default configuration (plus the camera
height a Lyra user passes). The world is then scored in the scene's true frame
(worldgen_sim.scenes.metrics):

* walkable-area IoU >= 0.90 for the default agent where the input observed the ground;
* phantom collision <= 1 % of free space (solid colliders), and <= 1 % of triangle-mesh
  collider area lying in free space (stray surface);
* >= 95 % of probes dropped in Newton over truly walkable ground rest within 3 cm of it;
* visual mesh F@5cm >= 0.90 and F@2cm >= 0.75 on non-planar ground;
* no crash fallbacks on the vegetation tile; stairs traversable for the humanoid and
  quadruped presets and not for the wheeled one;
* a cropped object without ground fails with a message naming ``--add-ground``, and builds
  standing on a synthetic ground with it.

The first tests (not marked slow) check the scenes, their truth and the metrics themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from worldgen_sim.navigation.navigation_cfg import AGENT_PRESETS
from worldgen_sim.scenes import SCENE_NAMES, make_scene, metrics
from worldgen_sim.scenes.scene import FLOATER, SKY, SURFACE
from worldgen_sim.scenes.truth import free_space_points, walkable_truth

_SCENES: dict = {}


def scene_of(name: str, seed: int = 0, noise: float | None = None, **geometry):
    """Scenes are deterministic; make each once per test session (``noise``: another position noise [m];
    ``geometry``: the scene's geometry options, e.g. ``layout_seed`` or ``riser``)."""
    key = (name, seed, noise, *sorted(geometry.items()))
    if key not in _SCENES:
        scene = make_scene(name, seed=seed, **geometry)
        if noise is not None:
            import dataclasses

            scene = make_scene(name, seed=seed, defects=dataclasses.replace(scene.defects, position_noise=noise),
                               **geometry)
        _SCENES[key] = scene
    return _SCENES[key]


# --- the scenes, their truth and the metrics (fast) -----------------------------------------------------


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_scene_is_a_noisy_one_sided_capture_in_its_layout(name, tmp_path):
    """Each scene writes a PLY in its layout that reads back to its Gaussians in the input frame."""
    from worldgen_sim.io.gaussian_ply import read_gaussian_ply

    scene = scene_of(name)
    assert 10_000 <= len(scene.gaussians) <= 300_000
    surface = scene.gaussians.positions[scene.labels == SURFACE].astype(np.float64)
    # Position noise is real: surfels lie off the true surface by about 0.5-1 cm (robust sigma).
    assert 0.003 < _robust_sigma(_off_surface(scene, surface)) < 0.012
    path = tmp_path / f"{name}.ply"
    input_to_world = scene.write(path)
    cloud, info = read_gaussian_ply(path)
    assert info.layout == scene.layout
    back = cloud.positions.astype(np.float64) @ input_to_world[:3, :3].T + input_to_world[:3, 3]
    np.testing.assert_allclose(back, scene.gaussians.positions, atol=2e-4 * max(1.0, 1 / scene.input_scale))
    if scene.write_cameras:
        assert (tmp_path / "cameras.npz").is_file()


def _off_surface(scene, points: np.ndarray) -> np.ndarray:
    """Signed height of surfels above the true ground (or distance to the true surface without ground)."""
    if scene.has_ground:
        height = scene.ground_height(points[:, :2])
        offset = points[:, 2] - height
        return offset[np.isfinite(offset) & (np.abs(offset) < 0.04)]
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(scene.surface_points(spacing=0.004)).query(points[::10])
    return np.concatenate([distance, -distance])


def _robust_sigma(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def test_defects_of_each_scene():
    """Floaters, SH degree, sky and the vegetation's size are what the issue describes."""
    floaters = scene_of("floaters")
    share = np.mean(floaters.labels == FLOATER)
    assert 0.008 < share < 0.012 and floaters.gaussians.sh.shape[1] == 16
    assert np.all(floaters.gaussians.opacities[floaters.labels == FLOATER] <= 0.35)
    assert np.sum(scene_of("terrain").labels == SKY) == 3000
    assert 13_000 <= len(scene_of("vegetation").gaussians) <= 17_000


def test_terrain_slopes_stay_under_six_degrees():
    scene = scene_of("terrain")
    xy = np.random.default_rng(0).uniform(-5, 5, (100_000, 2))
    slope = np.degrees(np.arctan(np.linalg.norm(scene.ground_gradient(xy), axis=1)))
    assert 4.0 < slope.max() < 6.0
    heights = scene.ground_height(xy)
    assert np.ptp(heights) > 0.2  # rolling, not flat


def test_hidden_surfaces_are_absent():
    """The unlidded cabinet's top and inside, and the floor under furniture, were never seen."""
    from worldgen_sim.scenes.room import CABINET

    cabinet = scene_of("cabinet")
    p = cabinet.gaussians.positions[cabinet.labels == SURFACE]
    (x0, y0, _), (x1, y1, z1) = CABINET
    over = (p[:, 0] > x0 + 0.05) & (p[:, 0] < x1 - 0.05) & (p[:, 1] > y0 + 0.05) & (p[:, 1] < y1 - 0.05)
    assert not np.any(over & (p[:, 2] > 0.1) & (p[:, 2] < z1 + 0.05)), "inside or top of the cabinet"
    room = scene_of("floaters")
    p = room.gaussians.positions[room.labels == SURFACE]
    under_sofa = (p[:, 0] > -2.95) & (p[:, 0] < -2.15) & (p[:, 1] > -0.75) & (p[:, 1] < 1.15) & (p[:, 2] < 0.2)
    assert not under_sofa.any()


def test_stairs_truth_connects_ground_and_platform_per_agent():
    """Truth itself: humanoids and quadrupeds reach the platform (stairs or ramp), wheeled robots do not."""
    from scipy import ndimage

    from worldgen_sim.navigation.navmap import NavigationMap

    scene = scene_of("stairs")
    for preset, reachable in (("humanoid", True), ("quadruped", True), ("wheeled", False)):
        truth = walkable_truth(scene, AGENT_PRESETS[preset])
        regions, _ = ndimage.label(truth.walkable)
        nav = NavigationMap(origin=truth.origin, cell_size=truth.cell_size, walkable=truth.walkable,
                            heights=np.nan_to_num(truth.heights).astype(np.float32), regions=regions - 1,
                            agent=AGENT_PRESETS[preset])
        path = nav.shortest_path(STAIRS_GROUND, STAIRS_PLATFORM)
        assert (path is not None) == reachable, preset


def test_truth_sees_thin_solids_between_cell_centres():
    """The table's 5 cm legs lie between the 5 cm truth cells' centres: no leg footprint is walkable, and
    the clearance is the agent radius from the legs' faces."""
    scene = scene_of("floaters")
    truth = walkable_truth(scene, AGENT_PRESETS["wheeled"])
    legs = np.array([(x, y) for x in (-0.55, 0.55) for y in (0.45, 1.15)])
    cells = np.floor((legs - truth.origin) / truth.cell_size).astype(int)
    assert not truth.walkable[cells[:, 1], cells[:, 0]].any()
    centres = truth.centres().reshape(-1, 2)
    to_leg = np.min([np.linalg.norm(np.maximum(np.abs(centres - leg) - 0.025, 0.0), axis=1) for leg in legs], axis=0)
    under_table = (np.abs(centres[:, 0]) < 0.5) & (centres[:, 1] > 0.45) & (centres[:, 1] < 1.15)
    assert not truth.walkable.ravel()[to_leg < 0.25 - 1e-9].any()
    assert truth.walkable.ravel()[under_table & (to_leg >= 0.25 + 0.01)].all()


def test_free_space_points_are_free():
    scene = scene_of("terrain")
    points = free_space_points(scene, 20_000, seed=3)
    assert len(points) > 10_000
    assert not scene.inside_solid(points).any()
    assert np.all(points[:, 2] > scene.ground_height(points[:, :2]))


def test_phantom_metric_counts_a_sealed_cabinet():
    """A hull sealing the unlidded cabinet fills its inside: the metric sees about that volume."""
    from worldgen_sim.scenes.room import CABINET

    scene = scene_of("cabinet")
    free = free_space_points(scene, 200_000, seed=1)
    lo, hi = np.asarray(CABINET[0]), np.asarray(CABINET[1])
    box = np.array(np.meshgrid(*zip(lo, hi))).reshape(3, -1).T
    result = metrics.phantom_collision(metrics.Colliders(hulls=[box]), scene, free, np.eye(4))
    inner = np.prod(hi - lo - 2 * 0.03 - 2 * 0.03)  # inside, less the walls and the 3 cm surface band
    expected = inner / (np.prod(scene.bounds[1] - scene.bounds[0]) * len(free) / 200_000)
    assert result["fraction"] == pytest.approx(expected, rel=0.15)


def test_fscore_metric_separates_offsets():
    """A surface 3 cm off the truth passes at 5 cm and fails at 2 cm."""
    g = np.linspace(0.0, 2.0, 201)
    truth = np.column_stack([np.repeat(g, g.size), np.tile(g, g.size), np.zeros(g.size**2)])
    score = metrics.f_scores(truth + [0.0, 0.0, 0.03], truth)
    assert score.fscore[0.05] == 1.0 and score.fscore[0.02] == 0.0
    assert score.accuracy_p95 == pytest.approx(0.03)


@pytest.mark.parametrize("seed, writing", [
    (1, {}),  # as Lyra 2.0 hands it over, with cameras.npz: scale error -4.4 % before (2026-12-05, s5-heldout)
    (0, {"cameras": False}),  # the OpenCV frame alone (no cameras.npz): the same -4.4 % before
    (0, {"yaw_deg": 40.0}),
    (2, {"layout": "inria", "frame": "y", "scale": 1.0, "cameras": False}),  # a trainer's Y-up metric PLY
])
def test_terrain_aligns_from_held_out_writings(seed, writing, tmp_path):
    """The rolling terrain, other seeds and other ways of writing it, aligned against its true frame: up within
    0.5 deg, floor within 1 cm, scale within 1.5 %. The camera height a Lyra user gives is measured from the
    ground under the camera, which lies 8 cm below the floor plane fitted over the whole tile."""
    from worldgen_sim.align.align import align_scene
    from worldgen_sim.config import WorldgenCfg
    from worldgen_sim.io.load import load_input

    scene = make_scene("terrain", seed=seed)
    true_input_to_world = scene.write(tmp_path / "terrain.ply", **writing)
    cfg = WorldgenCfg()
    if writing.get("layout", scene.layout) != "inria":
        cfg.align.camera_height = scene.camera_height
    aligned = align_scene(load_input(tmp_path / "terrain.ply", cfg=cfg.input), cfg=cfg.align)
    to_truth = true_input_to_world @ np.linalg.inv(aligned.input_to_world)
    scale = float(np.cbrt(np.linalg.det(to_truth[:3, :3])))
    tilt = np.degrees(np.arccos(np.clip(to_truth[2, 2] / scale, -1.0, 1.0)))
    assert abs(scale - 1.0) <= 0.015, (scale, aligned.report["scale_source"])
    assert tilt <= 0.5 and abs(to_truth[2, 3]) <= 0.01, (tilt, to_truth[2, 3])


# --- held-out geometry: the generators' other layouts (fast) ----------------------------------------------

STAIRS_VARIANTS = [  # (riser, platform height [m], ramp [deg], tread); the wheeled preset climbs 15 deg, 3 cm
    (0.15, 0.6, 13.0, None),  # a ramp the wheeled robot can drive up
    (0.19, 0.95, 25.0, None),  # risers just under the 20 cm climb, a ramp just under the quadruped's 30 deg
    (0.18, 1.1, 22.0, 0.32),
]


@pytest.mark.parametrize("layout_seed", [1, 2, 3])
def test_terrain_layouts_are_other_rolling_ground(layout_seed):
    """Other waves (still under 6 deg, rolling), other places of the rocks, trunk and wall: none on a camera."""
    from worldgen_sim.scenes.terrain import DEFAULT_LAYOUT, _camera_feet, _terrain_functions, terrain_layout

    layout = terrain_layout(layout_seed)
    assert layout.waves != DEFAULT_LAYOUT.waves and layout.rocks != DEFAULT_LAYOUT.rocks
    height, gradient = _terrain_functions(layout.waves, layout.max_slope_deg)
    xy = np.random.default_rng(0).uniform(-5, 5, (100_000, 2))
    slope = np.degrees(np.arctan(np.linalg.norm(gradient(xy), axis=1)))
    assert 3.5 < slope.max() <= 5.5 + 1e-6 and np.ptp(height(xy)) > 0.15
    feet = _camera_feet()
    for (x, y), axes, _ in layout.rocks:
        assert np.min(np.linalg.norm(feet - (x, y), axis=1)) > 1.0 + axes[0] - 1e-9
    assert terrain_layout(layout_seed) == layout  # deterministic


@pytest.mark.parametrize("riser, height, ramp, tread", STAIRS_VARIANTS)
def test_stairs_variants_truth_matches_the_presets(riser, height, ramp, tread):
    """The truth of other stairs: legs reach the platform; wheels only up a ramp under 15 deg."""
    from scipy import ndimage

    from worldgen_sim.navigation.navmap import NavigationMap
    from worldgen_sim.scenes.stairs import GROUND_POINT, PLATFORM_POINT

    scene = make_scene("stairs", riser=riser, platform_height=height, ramp_deg=ramp, tread=tread)
    assert scene.ground_height(np.array([PLATFORM_POINT]))[0] == pytest.approx(height)
    for preset, reachable in (("humanoid", True), ("quadruped", True), ("wheeled", ramp <= 15.0)):
        truth = walkable_truth(scene, AGENT_PRESETS[preset])
        regions, _ = ndimage.label(truth.walkable)
        nav = NavigationMap(origin=truth.origin, cell_size=truth.cell_size, walkable=truth.walkable,
                            heights=np.nan_to_num(truth.heights).astype(np.float32), regions=regions - 1,
                            agent=AGENT_PRESETS[preset])
        assert (nav.shortest_path(GROUND_POINT, PLATFORM_POINT) is not None) == reachable, preset


def test_stairs_layout_refuses_a_ramp_through_the_wall():
    from worldgen_sim.scenes.stairs import PLATFORM_HEIGHT, RISER, stairs_layout

    default = stairs_layout()  # the default scene's numbers exactly, not recomputed from steps
    assert (default.riser, default.platform_height, default.steps) == (RISER, PLATFORM_HEIGHT, 5)
    assert stairs_layout(riser=0.19, platform_height=0.95).steps == 5
    with pytest.raises(ValueError, match="ramp"):
        stairs_layout(platform_height=1.1, ramp_deg=12.0)  # 5.2 m of ramp in a 6 m room


@pytest.mark.parametrize("layout_seed", [1, 2])
def test_floaters_room_layouts_keep_furniture_apart(layout_seed):
    """Another furniture layout: footprints 0.6 m apart, inside the room, none over a camera; 2.5 % floaters."""
    import dataclasses

    from worldgen_sim.scenes.room import _room_cameras, furniture_layout

    parts = furniture_layout(layout_seed)
    boxes = {}
    for part in parts:
        p = part.mesh.vertices[:, :2]
        boxes[part.name.split("_")[0]] = np.vstack([boxes.get(part.name.split("_")[0], p), p])
    feet = np.array([pose[:2, 3] for pose in _room_cameras((6.0, 5.0, 2.7))])
    names = list(boxes)
    assert sorted(names) == ["cabinet", "crate", "sofa", "table"]
    for i, a in enumerate(names):
        lo, hi = boxes[a].min(0), boxes[a].max(0)
        assert np.all(lo >= [-3.0, -2.5] - np.float64(1e-9)) and np.all(hi <= [3.0, 2.5] + np.float64(1e-9))
        assert not np.any(np.all((feet > lo) & (feet < hi), axis=1)), a
        for b in names[i + 1:]:
            lo2, hi2 = boxes[b].min(0), boxes[b].max(0)
            assert np.any((lo >= hi2 + 0.6 - 1e-9) | (lo2 >= hi + 0.6 - 1e-9)), (a, b)
    scene = make_scene("floaters", layout_seed=layout_seed,
                       defects=dataclasses.replace(scene_of("floaters").defects, floater_fraction=0.025))
    assert 0.02 < np.mean(scene.labels == FLOATER) < 0.03


def test_cli_writes_a_scene(tmp_path, capsys):
    from worldgen_sim.cli import main
    from worldgen_sim.io.ply_header import inspect_gaussian_ply

    assert main(["sample", str(tmp_path / "s.ply"), "--scene", "statue", "--layout", "lyra1"]) == 0
    assert inspect_gaussian_ply(tmp_path / "s.ply").layout == "lyra1"
    assert "statue" in capsys.readouterr().out


# --- whole pipeline (slow) ---------------------------------------------------------------------------------

STAIRS_GROUND, STAIRS_PLATFORM = (-1.5, -1.5), (2.2, 1.8)
"""A floor point and a platform point of the stairs scene (true frame) [m]."""


@dataclass(eq=False)
class Built:
    scene: object
    out: Path
    summary: dict
    to_truth: np.ndarray

    @property
    def world_usd(self) -> Path:
        return self.out / "world.usda"


_BUILT: dict = {}


def build(name: str, root: Path, seed: int = 0, noise: float | None = None, geometry: dict | None = None,
          **writing) -> Built:
    """The scene (``seed``, position ``noise`` [m], ``geometry`` options of its ``make_*``) written in its layout
    (or as ``writing`` says: :meth:`Scene.write`'s options) and built with the default config (+ camera height
    for Lyra inputs)."""
    from worldgen_sim.config import WorldgenCfg
    from worldgen_sim.pipeline import build_world

    geometry = geometry or {}
    key = (name, seed, noise, *sorted(geometry.items()), *sorted(writing.items()))
    if key not in _BUILT:
        scene = scene_of(name, seed, noise, **geometry)
        folder = root / "-".join([name, str(seed), f"noise={noise}",
                                  *(f"{k}={v}" for k, v in sorted({**geometry, **writing}.items()))])
        folder.mkdir(parents=True, exist_ok=True)
        true_input_to_world = scene.write(folder / f"{name}.ply", **writing)
        cfg = WorldgenCfg()
        if writing.get("layout", scene.layout) != "inria":
            cfg.align.camera_height = scene.camera_height
        cfg.collision.cache_dir = str(folder / "coacd-cache")
        result = build_world(folder / f"{name}.ply", folder / "world", cfg=cfg)
        _BUILT[key] = Built(scene, result.out_dir, result.summary,
                            metrics.built_to_truth(result.out_dir, true_input_to_world))
    return _BUILT[key]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("realistic")


def _nav(built: Built):
    from worldgen_sim.navigation.navmap import NavigationMap

    assert (built.out / "navigation.json").is_file(), built.summary["skipped"]
    return NavigationMap.load(built.out / "navigation.json")


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    "terrain",
    # floaters: 0.905 (2026-12-05, s4-nav); 1.83 m2 missed, mostly under the table, whose collider is a voxel
    # cover down to the floor (CoACD timed out); with the table's true boxes as colliders navigation scores 0.965.
    "floaters",
])
def test_walkable_area_matches_truth(name, root):
    built = build(name, root)
    nav = _nav(built)
    truth = walkable_truth(built.scene, nav.agent, cell_size=nav.cell_size)
    result = metrics.walkable_iou(nav, truth, built.to_truth)
    assert result["iou"] >= 0.90, result


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    "terrain",
    "stairs",
    "floaters", "cabinet",
    "vegetation",
])
def test_no_phantom_collision(name, root):
    built = build(name, root)
    free = free_space_points(built.scene, 100_000)
    result = metrics.phantom_collision(metrics.load_colliders(built.world_usd), built.scene, free, built.to_truth)
    assert result["unsupported"] == 0, result
    assert result["fraction"] <= 0.01, result
    assert result["stray_fraction"] <= 0.01, result


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    "terrain",
    "stairs",
    "floaters",
    "cabinet",
    "vegetation",
])
def test_probes_rest_on_the_true_ground(name, root):
    built = build(name, root)
    nav = _nav(built)
    truth = walkable_truth(built.scene, nav.agent, cell_size=nav.cell_size)
    result = metrics.drop_probes(built.world_usd, built.scene, truth, built.to_truth, count=40)
    failed = [(r, round(float(e), 3)) for r, e, ok in zip(result.reasons, result.errors, result.passed) if not ok]
    assert result.fraction >= 0.95, failed


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    "terrain",
    "stairs",
])
def test_visual_mesh_follows_non_planar_ground(name, root):
    built = build(name, root)
    score = metrics.visual_mesh_score(built.world_usd, built.scene, built.to_truth)
    assert score.fscore[0.05] >= 0.90, (score.precision, score.recall)
    assert score.fscore[0.02] >= 0.75, (score.precision, score.recall)


def _issue_8_numbers(built: Built) -> dict:
    """Every issue-8 number of a built scene that has ground (IoU, phantom, probes, F-scores, crash fallbacks)."""
    nav = _nav(built)
    truth = walkable_truth(built.scene, nav.agent, cell_size=nav.cell_size)
    free = free_space_points(built.scene, 100_000)
    surface = metrics.visual_mesh_score(built.world_usd, built.scene, built.to_truth)
    return {
        "iou": metrics.walkable_iou(nav, truth, built.to_truth)["iou"],
        "phantom": metrics.phantom_collision(metrics.load_colliders(built.world_usd), built.scene, free,
                                             built.to_truth)["fraction"],
        "probes": metrics.drop_probes(built.world_usd, built.scene, truth, built.to_truth, count=40).fraction,
        "f2": surface.fscore[0.02], "f5": surface.fscore[0.05],
        "crashes": len(metrics.crash_fallbacks(built.summary)),
    }


def _meets_issue_8(numbers: dict, *, planar: bool = False) -> bool:
    """Issue 8's numbers; the visual mesh's F-scores are judged on non-planar ground only (not ``planar``)."""
    surface = planar or (numbers["f5"] >= 0.90 and numbers["f2"] >= 0.75)
    return (numbers["iou"] >= 0.90 and numbers["phantom"] <= 0.01 and numbers["probes"] >= 0.95 and surface
            and numbers["crashes"] == 0)


@pytest.mark.slow
# 2026-12-05 (s5-heldout), before the camera height was measured to the ground under the camera: seed 3 IoU 0.897,
# 39/40 probes (one fell through), scale error -4.4 %; after: 0.934, 40/40, -0.75 %. Seed 2 (before: IoU 0.902;
# after: 0.918, 39/40) left the suite for CI's 20 min: bench_realistic's terrain geometries 1-5 cover other ground.
# Since session 6 this one build also carries the 1.2 cm noise that test_noisier_capture_meets_the_numbers gave
# the default terrain (before the coverage views and the folded-triangle / noisy-cell fixes: IoU 0.835, 37/40).
def test_held_out_noisier_terrain_meets_the_numbers(root):
    """Terrain of a held-out seed (other sampling, noise, floaters) with 1.2 cm surfel position noise."""
    numbers = _issue_8_numbers(build("terrain", root, 3, noise=0.012))
    assert _meets_issue_8(numbers), numbers


@pytest.mark.slow
# 2026-12-05 (s5-heldout) before the surface stage's coverage views: IoU 0.824, 37/40 probes (fell through holes
# 7-16 cm across in the visual mesh, inside the tile), F@2 0.839 / F@5 0.933: the automatic views left them unseen.
def test_terrain_without_cameras_meets_the_numbers(root):
    built = build("terrain", root, 0, layout="inria", frame="y", scale=1.0, cameras=False)
    numbers = _issue_8_numbers(built)
    assert _meets_issue_8(numbers), numbers


@pytest.mark.slow
# 2026-12-05 before the coverage views and the folded-triangle / noisy-cell fixes: IoU 0.897 (19 pinholes).
# The noisier terrain is test_held_out_noisier_terrain_meets_the_numbers.
def test_noisier_capture_meets_the_numbers(root):
    """The floaters room with 1.2 cm surfel position noise (a less converged trainer)."""
    built = build("floaters", root, 0, noise=0.012)
    numbers = _issue_8_numbers(built)
    assert _meets_issue_8(numbers, planar=True), numbers


@pytest.mark.slow
def test_floaters_room_keeps_the_space_under_the_table_and_the_ceiling_free(root):
    """Built from Gaussians: the true free space under the table top (the floor was seen beneath it) holds
    no collider, and no solid collider stands taller than the tallest true object (1.8 m cabinet): no
    ceiling bump or floater is boxed down to the floor."""
    built = build("floaters", root)
    colliders = metrics.load_colliders(built.world_usd)
    rng = np.random.default_rng(0)
    under = rng.uniform([-0.45, 0.55, 0.05], [0.45, 1.05, 0.62], (4000, 3))  # table: x +-0.6, y 0.4..1.2
    assert not built.scene.inside_solid(under).any()
    result = metrics.phantom_collision(colliders, built.scene, under, built.to_truth)
    assert result["fraction"] < 0.01, result
    heights = [np.ptp((h @ built.to_truth[:3, :3].T)[:, 2]) for h in colliders.hulls]
    assert max(heights) < 1.9, sorted(heights)[-3:]


@pytest.mark.slow
def test_vegetation_builds_without_crash_fallbacks(root):
    built = build("vegetation", root)
    assert metrics.crash_fallbacks(built.summary) == []
    assert json.loads((built.out / "world.json").read_text())["skipped"] == {}


def _assert_legs_take_the_stairs(built: Built, platform_height: float) -> None:
    """Path queries of the built world per agent preset: humanoid and quadruped go from the stairs' foot up to
    the platform by a way no longer than 1.2 x the straight 3.4 m the truth takes (a longer one went round by
    the ramp: the stairs were cut), and wheels reach the platform by neither the stairs nor the ramp."""
    from worldgen_sim.scenes.stairs import PLATFORM_POINT, STAIRS_FOOT

    colliders = metrics.load_colliders(built.world_usd)
    to_built = np.linalg.inv(built.to_truth)
    ends = []
    for xy in (STAIRS_FOOT, PLATFORM_POINT):
        z = built.scene.ground_height(np.array([xy]))[0]
        ends.append((to_built[:3, :3] @ [*xy, z] + to_built[:3, 3])[:2])
    straight = float(np.hypot(*np.subtract(PLATFORM_POINT, STAIRS_FOOT)))  # the truth's way up: 3.4 m
    for preset, reachable in (("humanoid", True), ("quadruped", True), ("wheeled", False)):
        path = metrics.navigation_for(colliders, preset=preset).shortest_path(*ends)
        assert (path is not None) == reachable, preset
        if reachable:
            xyz = path.astype(np.float64) @ built.to_truth[:3, :3].T + built.to_truth[:3, 3]
            assert np.linalg.norm(np.diff(xyz[:, :2], axis=0), axis=1).sum() < 1.2 * straight, preset
            assert xyz[-1, 2] == pytest.approx(platform_height, abs=0.05), preset


@pytest.mark.slow
def test_stairs_are_climbed_by_legs_not_wheels(root):
    """The default stairs (17 cm risers, 0.85 m platform, 20 deg ramp). 2026-12-05 (s6-shapes): before
    navigation linked past the tread under each nosing, the way up went round by the ramp (IoU 0.915)."""
    _assert_legs_take_the_stairs(build("stairs", root), 0.85)


@pytest.mark.slow
def test_held_out_stairs_meet_the_numbers_and_legs_climb_them(root):
    """Stairs of 19 cm risers (just under the 20 cm climb) to a 0.95 m platform and a 25 deg ramp: issue 8's
    numbers, and the path queries of the built world against the truth's: legs go up the stairs (the way up
    from the stairs' foot is as long as the truth's), wheels reach the platform by neither.
    2026-12-05 (s6-shapes) before navigation linked past the tread under each nosing: the numbers held (IoU
    0.961, 0 % phantom, 40/40 probes, F@2 0.971) but the way up was 8.55 m round by the ramp, truth 3.4 m."""
    built = build("stairs", root, geometry={"riser": 0.19, "platform_height": 0.95, "ramp_deg": 25.0})
    numbers = _issue_8_numbers(built)
    assert _meets_issue_8(numbers), numbers
    _assert_legs_take_the_stairs(built, 0.95)


@pytest.mark.slow
def test_cropped_statue_without_ground_is_refused_clearly(root):
    from worldgen_sim.errors import WorldgenError

    with pytest.raises(WorldgenError) as info:
        build("statue", root)
    assert re.search(r"add[-_]ground", str(info.value)), str(info.value)


@pytest.mark.slow
def test_cropped_statue_stands_on_a_synthetic_ground(root):
    from worldgen_sim.cli import main

    scene = scene_of("statue")
    folder = root / "statue_ground"
    folder.mkdir()
    true_input_to_world = scene.write(folder / "statue.ply")
    code = main(["build", str(folder / "statue.ply"), "-o", str(folder / "world"), "--add-ground", "--quiet"])
    assert code == 0
    to_truth = metrics.built_to_truth(folder / "world", true_input_to_world)
    free = free_space_points(scene, 100_000)
    result = metrics.phantom_collision(metrics.load_colliders(folder / "world" / "world.usda"), scene, free, to_truth)
    assert result["fraction"] <= 0.01, result
    # The ground is where the pedestal's foot is: walkable cells around it lie at z = 0 (true frame).
    from worldgen_sim.navigation.navmap import NavigationMap

    nav = NavigationMap.load(folder / "world" / "navigation.json")
    ring = np.array([[0.8 * np.cos(a), 0.8 * np.sin(a), 0.0] for a in np.linspace(0, 2 * np.pi, 16, endpoint=False)])
    to_built = np.linalg.inv(to_truth)
    assert nav.is_walkable(ring @ to_built[:3, :3].T + to_built[:3, 3], z_tolerance=0.03).mean() >= 0.9

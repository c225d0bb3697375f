"""A real-capture-like scene through the whole pipeline: the plaza (worldgen_sim.scenes.plaza), issue 8.

The plaza is what INRIA-style 3DGS trainers leave of "a statue on a paved plaza": an
arbitrary structure-from-motion frame and scale, Gaussians of very mixed size (splotches,
needles, many faint ones), SH degree 3, a far background and a sky. The fast tests check
that the scene is that; the slow one builds it once from its INRIA model folder (with
``cameras.json``, the first camera's height given as a user would) and asserts issue 8's
numbers against the analytic truth.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from worldgen_sim.scenes import make_scene, metrics
from worldgen_sim.scenes.scene import FAINT, NEEDLE, SKY, SPLOTCH, SURFACE
from worldgen_sim.scenes.truth import free_space_points, walkable_truth

_SCENE: dict = {}


def plaza():
    if "plaza" not in _SCENE:
        _SCENE["plaza"] = make_scene("plaza")
    return _SCENE["plaza"]


def test_plaza_is_a_capture_in_an_sfm_frame_with_trainer_defects():
    """Up is no input axis, the scale is not metric, and the Gaussians are what a trainer leaves."""
    scene = plaza()
    up_in = scene.input_rotation[:, 2]
    assert np.degrees(np.arccos(np.abs(up_in).max())) >= 30.0
    assert 0.2 <= scene.input_scale <= 5.0 and abs(np.log(scene.input_scale)) > 0.2
    assert scene.gaussians.sh.shape[1] == 16 and 120_000 <= len(scene.gaussians) <= 200_000
    labels, cloud = scene.labels, scene.gaussians
    largest = cloud.scales.max(axis=1)
    assert np.median(largest[labels == SPLOTCH]) > 0.5 and largest[labels == SPLOTCH].max() > 1.5
    middle = np.sort(cloud.scales, axis=1)[:, 1]
    assert np.all(largest[labels == NEEDLE] > 5 * middle[labels == NEEDLE])
    assert np.all(cloud.opacities[labels == FAINT] <= 0.3) and np.mean(labels == FAINT) > 0.08
    assert np.sum(labels == SKY) > 0
    # Mixed sizes: the surface Gaussians' largest scale spans more than a factor 30 (5th to 95th percentile).
    p5, p95 = np.percentile(largest[labels == SURFACE], [5, 95])
    assert p95 / p5 > 30
    # The ground reaches far beyond the 8 x 8 m the cameras circle: sparse ground 20 m away was captured.
    surface = cloud.positions[labels == SURFACE]
    assert np.sum(np.abs(surface[:, :2]).max(axis=1) > 15.0) > 1000


def test_inria_model_folder_reads_back_with_its_cameras(tmp_path):
    """``write_inria_model`` writes MODEL/point_cloud/iteration_30000/point_cloud.ply and cameras.json in the
    PLY's frame: mapped back by the true similarity, Gaussians and camera centres land on the scene's."""
    from worldgen_sim.io.gaussian_ply import read_gaussian_ply
    from worldgen_sim.io.trainer_cameras import find_trainer_cameras

    scene = plaza()
    input_to_world = scene.write_inria_model(tmp_path / "model")
    ply = tmp_path / "model" / "point_cloud" / "iteration_30000" / "point_cloud.ply"
    cloud, info = read_gaussian_ply(ply)
    assert info.layout == "inria"
    back = cloud.positions.astype(np.float64) @ input_to_world[:3, :3].T + input_to_world[:3, 3]
    np.testing.assert_allclose(back, scene.gaussians.positions, atol=1e-3)
    found = find_trainer_cameras(ply)
    assert found is not None and found.source.endswith("cameras.json")
    centres = found.cameras.cam_to_world[:, :3, 3] @ input_to_world[:3, :3].T + input_to_world[:3, 3]
    np.testing.assert_allclose(centres, scene.cameras.cam_to_world[:, :3, 3], atol=1e-6)
    heights = centres[:, 2] - scene.ground_height(centres[:, :2])
    distances = np.linalg.norm(centres[:, :2], axis=1)
    assert heights.min() >= 1.19 and heights.max() <= 1.81 and distances.min() >= 2.0 and distances.max() <= 4.0
    scene.write_inria_model(tmp_path / "bare", cameras=False)
    assert not (tmp_path / "bare" / "cameras.json").exists()


def test_scores_look_only_at_the_captured_region():
    """Truth surface points lie in ``scored_xy``; far ground and background are not sampled."""
    scene = plaza()
    points = scene.surface_points(spacing=0.05)
    lo, hi = scene.scored_xy
    assert np.all((points[:, :2] >= lo) & (points[:, :2] <= hi))
    assert np.mean(np.abs(points[:, 2] - scene.ground_height(points[:, :2])) < 0.01) > 0.8  # mostly plaza


# --- whole pipeline (slow) -----------------------------------------------------------------------------


@pytest.mark.slow
def test_plaza_from_its_inria_folder_meets_issue_8(tmp_path):
    """Built with the default config from the INRIA folder (+ the first camera's height, as a user gives
    for a capture in SfM units): auto-up picks an up within 1.5 deg of the truth (the plaza itself falls
    1.06 deg: the floor is levelled), and issue 8's numbers hold in the true frame."""
    from worldgen_sim.config import WorldgenCfg
    from worldgen_sim.navigation.navmap import NavigationMap
    from worldgen_sim.pipeline import build_world

    scene = plaza()
    true_input_to_world = scene.write_inria_model(tmp_path / "model")
    cfg = WorldgenCfg()
    cfg.align.camera_height = scene.camera_height
    result = build_world(tmp_path / "model" / "point_cloud" / "iteration_30000" / "point_cloud.ply",
                         tmp_path / "world", cfg=cfg)
    summary = json.loads((result.out_dir / "world.json").read_text())
    to_truth = metrics.built_to_truth(result.out_dir, true_input_to_world)
    align = summary["stages"]["align"]
    up = to_truth[:3, :3] @ np.array([0.0, 0.0, 1.0])
    tilt = np.degrees(np.arccos(up[2] / np.linalg.norm(up)))
    assert align["up_used"] != "none" and align["up_source"] and tilt < 1.5, (align["up_used"], tilt)
    assert abs(np.cbrt(np.linalg.det(to_truth[:3, :3])) - 1.0) < 0.02
    assert metrics.crash_fallbacks(summary) == []
    nav = NavigationMap.load(result.out_dir / "navigation.json")
    truth = walkable_truth(scene, nav.agent, cell_size=nav.cell_size)
    numbers = {
        "iou": metrics.walkable_iou(nav, truth, to_truth)["iou"],
        "phantom": metrics.phantom_collision(metrics.load_colliders(result.world_usd), scene,
                                             free_space_points(scene, 50_000), to_truth)["fraction"],
        "probes": metrics.drop_probes(result.world_usd, scene, truth, to_truth, count=20).fraction,
    }
    surface = metrics.visual_mesh_score(result.world_usd, scene, to_truth, samples=100_000)
    numbers.update(f2=surface.fscore[0.02], f5=surface.fscore[0.05])
    assert numbers["iou"] >= 0.90, numbers
    assert numbers["phantom"] <= 0.01, numbers
    assert numbers["probes"] >= 0.95, numbers
    assert numbers["f5"] >= 0.90 and numbers["f2"] >= 0.75, numbers

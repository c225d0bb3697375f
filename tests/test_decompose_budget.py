"""Decomposition bounded by its work, not by the clock; open shells closed only where nothing was seen.

* The same object gives the same hulls whether its worker is starved (a loaded machine: wall-clock
  time passes, no CPU time) or not, in a worker or in this process, with one worker or two.
* A runaway worker is stopped by its CPU budget (RLIMIT_CPU), reported as a ``timeout`` fallback with
  a voxel cover, never cached.
* The solid given to CoACD stays within ``coacd_max_faces``.
* An object seen only from its sides (a trunk taller than the cameras) is solid; an unlidded bin taller
  than the cameras stays free inside, and so does an open box whose inside bottom was seen.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_collision import _open_box, _quads_mesh, points_in_hulls

from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.collision.decompose import STALL_TEST_ENV, DecomposeTask, decompose_objects, decompose_one


@pytest.fixture(scope="module")
def room(coarse_room):
    return coarse_room


def _sides(mesh):
    """The faces a camera below the object's top sees: its sides."""
    import trimesh

    keep = np.abs(mesh.face_normals[:, 2]) < 0.5
    return trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False).subdivide_to_size(0.05)


def _task(name, mesh) -> DecomposeTask:
    return DecomposeTask(name, np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces, np.int32), 0.0)


def _l_shape_task() -> DecomposeTask:
    """An L of two boxes, closed, jittered by 2 mm: not convex, so it goes to CoACD with the box fit off."""
    import trimesh

    long = trimesh.creation.box(extents=(1.0, 0.3, 0.4)).apply_translation((0.5, 0.15, 0.2))
    tall = trimesh.creation.box(extents=(0.3, 0.3, 0.9)).apply_translation((0.15, 0.15, 0.45))
    mesh = trimesh.boolean.union([long, tall], engine="manifold").subdivide_to_size(0.08)
    rng = np.random.default_rng(0)
    vertices = mesh.vertices + rng.normal(0.0, 0.002, mesh.vertices.shape)
    return DecomposeTask("l_shape", vertices.astype(np.float32), mesh.faces.astype(np.int32), 0.0)


def _hull_bytes(result) -> list[bytes]:
    return [v.astype(np.float32).tobytes() + f.astype(np.int32).tobytes() for v, f in result.hulls]


@pytest.mark.slow
def test_hulls_do_not_depend_on_the_clock_or_the_worker(monkeypatch):
    """A worker starved for longer than its whole CPU budget (3 s asleep, 2 s budget) returns the very hulls
    of an unstarved one, of one of two workers and of this process: only the work decides, never the load.
    (With the former wall-clock limit the starved worker timed out and the object got a voxel cover.)"""
    task = _l_shape_task()
    cfg = CollisionCfg(max_boxes=0, workers=1, object_cpu_limit=2.0)
    here = decompose_one(task.vertices, task.faces, ground_height=0.0, cfg=cfg)
    assert here.method == "coacd" and len(here.hulls) >= 2, here.method
    [alone] = decompose_objects([task], cfg=cfg)
    [first, second] = decompose_objects([task, task], cfg=CollisionCfg(max_boxes=0, workers=2, object_cpu_limit=2.0))
    monkeypatch.setenv(STALL_TEST_ENV, "3")
    [starved] = decompose_objects([task], cfg=cfg)
    for result in (alone, first, second, starved):
        assert result.fallback is None and result.method == here.method
        assert _hull_bytes(result) == _hull_bytes(here)


@pytest.mark.slow
def test_runaway_worker_is_stopped_by_its_cpu_budget(monkeypatch, tmp_path):
    """A worker that burns CPU without end is ended by its CPU budget (not the 600 s wall clock), and the
    object gets a voxel cover counted as a timeout, which is not cached."""
    from worldgen_sim.cache import ArrayCache

    task = _l_shape_task()
    monkeypatch.setenv(STALL_TEST_ENV, "spin")
    cfg = CollisionCfg(max_boxes=0, workers=1, object_cpu_limit=1.0, object_timeout=600.0)
    cache = ArrayCache(str(tmp_path), "decomposition")
    [result] = decompose_objects([task], cfg=cfg, cache=cache)
    assert result.fallback_kind == "timeout" and "CPU budget of 1 s" in result.fallback, result.fallback
    assert result.retries == 0 and result.method == "cover" and len(result.hulls) >= 2
    assert result.seconds < 60.0  # stopped by the budget, long before the wall-clock guard
    assert not list(tmp_path.rglob("*.npz"))


def test_solid_given_to_coacd_stays_within_its_face_budget():
    from worldgen_sim.collision.decompose import _budgeted_solid

    task = _l_shape_task()
    for budget in (100, 2000):
        cfg = CollisionCfg(coacd_max_faces=budget)
        _yaw, _vertices, faces, volume = _budgeted_solid(task.vertices.astype(np.float64), task.faces,
                                                         ground_height=0.0, cell=0.02, cfg=cfg,
                                                         ground_triangles=None)
        assert faces.shape[0] <= budget
        assert volume == pytest.approx(1.0 * 0.3 * 0.4 + 0.3 * 0.3 * 0.5, rel=0.15)


def test_object_seen_only_from_its_sides_is_solid_but_large_enclosures_stay_open():
    """A trunk (r 0.18 m, 1.8 m, no top seen) is solid; an unlidded 0.8 m bin taller than the cameras and an
    open box whose inner bottom was seen keep their inside free (their walls still block)."""
    import trimesh

    from worldgen_sim.artifacts import ConvexHull

    trunk = _sides(trimesh.creation.cylinder(radius=0.18, height=1.8, sections=48).apply_translation((0, 0, 0.9)))
    outer = trimesh.creation.box(extents=(0.8, 0.8, 1.9)).apply_translation((2.1, 0.2, 0.95))
    bin_ = _sides(outer)
    # A 0.4 m box, 3 cm walls, open at its top (0.5 m): outer sides, inner sides facing in, inner bottom facing up.
    quads = _open_box((-2.2, -0.2, 0.0), (-1.8, 0.2, 0.5), top=False)
    quads += [(o, v, u) for o, u, v in _open_box((-2.17, -0.17, 0.03), (-1.83, 0.17, 0.5), top=False)]
    quads.append(((-2.17, -0.17, 0.03), (0.34, 0, 0), (0, 0.34, 0)))
    open_box = _quads_mesh(quads)
    open_box = trimesh.Trimesh(open_box.vertices, open_box.faces, process=False).subdivide_to_size(0.05)
    tasks = [_task("trunk", trunk), _task("bin", bin_), _task("open_box", open_box)]
    results = decompose_objects(tasks, cfg=CollisionCfg(workers=1))
    hulls = [[ConvexHull(v, f) for v, f in r.hulls] for r in results]
    rng = np.random.default_rng(0)
    core = rng.uniform([-0.12, -0.12, 0.05], [0.12, 0.12, 1.7], (3000, 3))
    core = core[np.hypot(core[:, 0], core[:, 1]) < 0.14]
    assert points_in_hulls(core, hulls[0]).mean() > 0.95, results[0].method
    inside_bin = rng.uniform([1.8, -0.1, 0.1], [2.4, 0.5, 1.8], (3000, 3))
    assert points_in_hulls(inside_bin, hulls[1]).mean() < 0.01
    walls = rng.uniform([1.702, -0.19, 0.1], [1.708, 0.59, 1.8], (500, 3))  # just behind the seen x = 1.7 side
    assert points_in_hulls(walls, hulls[1]).mean() > 0.9
    inside_box = rng.uniform([-2.12, -0.12, 0.1], [-1.88, 0.12, 0.45], (3000, 3))
    assert points_in_hulls(inside_box, hulls[2]).mean() < 0.01
    assert all(r.fallback is None for r in results), [r.fallback for r in results]
    # Without the box fit the trunk's solid (for CoACD) is a post too, not a tube.
    post = decompose_one(tasks[0].vertices, tasks[0].faces, ground_height=0.0, cfg=CollisionCfg(max_boxes=0))
    assert post.method in ("convex", "coacd") and post.volume > 0.8 * np.pi * 0.18**2 * 1.8, (post.method, post.volume)
    assert points_in_hulls(core, [ConvexHull(v, f) for v, f in post.hulls]).mean() > 0.9  # as test_objects_are_collided


@pytest.mark.slow
def test_same_scene_twice_writes_the_same_collision_layer(room, tmp_path, monkeypatch):
    """The reconstruction-like sample room built twice, the second time with two workers starved for a second
    per object and no cache: the collision layers are byte for byte the same."""
    from test_collision import reconstruction_like

    from worldgen_sim.collision.collision import build_collision
    from worldgen_sim.exporters.usd_physics import write_physics_layer

    mesh, _rotation = reconstruction_like(room)
    cfg = CollisionCfg(workers=1, max_boxes=0)  # every object through the workers (CoACD or one convex hull)
    first = build_collision(mesh, cfg=cfg)
    monkeypatch.setenv(STALL_TEST_ENV, "1")
    second = build_collision(mesh, cfg=CollisionCfg(workers=2, max_boxes=0))
    assert first.report["fallback_counts"] == second.report["fallback_counts"]
    assert sum(first.report["fallback_counts"].values()) == 0 and "coacd" in first.report["methods"], first.report
    layers = []
    for name, world in (("first", first), ("second", second)):
        path = tmp_path / f"{name}.usda"
        write_physics_layer(path, world, cfg=cfg)
        layers.append(path.read_bytes())
    assert layers[0] == layers[1]


def test_workers_start_from_a_script_without_a_main_guard(tmp_path):
    """A user's script that calls the pipeline at its top level (no ``if __name__ == "__main__":``): the
    spawned CoACD workers must not re-run it. Before spawn_without_main every worker re-ran the script,
    died, and the object fell back to a cover ("worker processes failed to start")."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "user_script.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_decompose_budget import _l_shape_task\n"
        "from worldgen_sim.collision.collision_cfg import CollisionCfg\n"
        "from worldgen_sim.collision.decompose import decompose_objects\n"
        "print('script body ran', flush=True)\n"
        "[result] = decompose_objects([_l_shape_task()], cfg=CollisionCfg(max_boxes=0, workers=1))\n"
        "print('fallback:', result.fallback_kind, len(result.hulls), flush=True)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("script body ran") == 1, done.stdout  # the worker did not run the script again
    assert "fallback: None" in done.stdout and "Traceback" not in done.stderr, (done.stdout, done.stderr[-2000:])

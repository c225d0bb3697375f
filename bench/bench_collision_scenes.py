"""Gaussian-built scenes through the surface and collision stages (``bench_collision.py --scenes``).

Scenes and their truth come from ``tests/collision_scenes.py``. For each: Gaussians ->
surface stage (z-buffered depth from a camera path, TSDF) -> collision stage (cold cache);
times, the collision time's ratio to the sample room's (the reference, same run),
objects/hulls/methods/fallbacks, phantom fraction of the free space, and the fraction of
true ground points with a collider within 3 cm (and, with ``drop``, of Newton probes
dropped on the true walkable ground that rest within 3 cm of it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the scenes live beside the tests

PROBE_RADIUS = 0.05
"""Drop-test sphere radius [m]."""


def run_scenes(*, workers: int, drop: bool) -> None:
    from bench_collision import STEP_TIMINGS, room_mesh, timed_build
    from collision_scenes import rolling_terrain, stairs_platform_ramp, vegetation_tile

    from worldgen_sim.collision.collision_cfg import CollisionCfg

    _room, mesh = room_mesh(0.1, 0.001)
    with tempfile.TemporaryDirectory() as cache:
        _world, reference_s = timed_build(mesh, CollisionCfg(cache_dir=cache, workers=workers))
    print(f"reference: sample room ({mesh.faces.shape[0]} triangles), collision cold {reference_s:.2f} s")
    print(f"\n{'scene':<11} {'gaussians':>9} {'triangles':>9} {'surface s':>9} {'collision s':>11} {'ratio':>6} "
          f"{'total s':>8} {'objects':>7} {'hulls':>6} {'phantom':>8} {'ground<=3cm':>11} {'fallbacks':>9}")
    for make in (rolling_terrain, stairs_platform_ramp, vegetation_tile):
        scene = make()
        mesh, surface_s = _surface(scene)
        with tempfile.TemporaryDirectory() as cache:
            world, collision_s = timed_build(mesh, CollisionCfg(cache_dir=cache, workers=workers))
        hulls = [(h.vertices, h.faces) for o in world.objects for h in o.hulls]
        phantom = _phantom(scene, hulls)
        ground = _ground_within(scene, world, 0.03)
        report = world.report
        fallbacks = sum(report["fallback_counts"].values())
        print(f"{scene.name:<11} {scene.gaussians.positions.shape[0]:9d} {mesh.faces.shape[0]:9d} {surface_s:9.2f} "
              f"{collision_s:11.2f} {collision_s / reference_s:6.2f} {surface_s + collision_s:8.2f} "
              f"{len(world.objects):7d} {len(hulls):6d} {phantom:8.2%} {ground:11.1%} {fallbacks:9d}")
        print(f"  methods {report['methods']}, clutter groups {report['segmentation']['clutter_groups']}, dropped "
              f"{report['dropped']}, timings {STEP_TIMINGS[id(world)]}")
        if drop and scene.name != "vegetation":
            rested, count = _drop_test(scene, world)
            print(f"  Newton: {rested:.1%} of {count} probes on the true walkable ground rest within 3 cm of it")


def run_realistic(names: list[str], *, workers: int, top: int = 8) -> None:
    """Realistic scenes (``worldgen_sim.scenes``) built from their PLY by ``build_world`` with the default
    config, cache off: each object's decomposition method, hulls, fallback and time [s] (the slowest
    ``top`` objects, then the sum and the maximum), the decomposition stage's time and its ratio to the
    sample room's cold collision time (the reference, same run)."""
    import json

    from bench_collision import room_mesh, timed_build

    from worldgen_sim.collision.collision_cfg import CollisionCfg
    from worldgen_sim.config import WorldgenCfg
    from worldgen_sim.pipeline import build_world
    from worldgen_sim.progress import Progress
    from worldgen_sim.scenes import make_scene

    _room, mesh = room_mesh(0.1, 0.001)
    with tempfile.TemporaryDirectory() as cache:
        _world, reference_s = timed_build(mesh, CollisionCfg(cache_dir=cache, workers=workers))
    print(f"reference: sample room ({mesh.faces.shape[0]} triangles), collision cold {reference_s:.2f} s")
    for name in names:
        scene = make_scene(name)
        with tempfile.TemporaryDirectory() as folder:
            ply = Path(folder) / f"{name}.ply"
            scene.write(ply)
            cfg = WorldgenCfg()
            cfg.collision.workers = workers
            if scene.layout != "inria":
                cfg.align.camera_height = scene.camera_height
            build_world(ply, Path(folder) / "world", cfg=cfg, progress=Progress(quiet=True))
            summary = json.loads((Path(folder) / "world" / "world.json").read_text())
        report, timings = summary["stages"]["collision"], summary["timings_s"]
        objects = [(timings.get(f"collision: decompose {e['name']}", 0.0), e) for e in report["objects"]]
        objects.sort(key=lambda item: -item[0])
        stage_s = timings.get("collision: decomposition", 0.0)
        print(f"\n{name}: {len(objects)} objects, decomposition stage {stage_s:.2f} s "
              f"({stage_s / reference_s:.2f}x the reference), collision {timings.get('collision', 0.0):.2f} s, "
              f"build {timings['total']:.2f} s; methods {report['methods']}, fallbacks {report['fallback_counts']}")
        print(f"  {'object':<16} {'method':<8} {'hulls':>5} {'seconds':>8}  fallback")
        for seconds, entry in objects[:top]:
            print(f"  {entry['name']:<16} {entry['method']:<8} {entry['hulls']:5d} {seconds:8.2f}  "
                  f"{entry['fallback_kind'] or ''}")
        times = [seconds for seconds, _ in objects]
        print(f"  per object: sum {sum(times):.2f} s, max {max(times, default=0.0):.2f} s")


def _surface(scene):
    from collision_scenes import camera_path

    from worldgen_sim.artifacts import AlignedScene
    from worldgen_sim.surface.surface import extract_surface
    from worldgen_sim.surface.surface_cfg import SurfaceCfg

    cameras = camera_path(scene, width=192, height=144)
    start = time.perf_counter()
    cfg = SurfaceCfg(image_width=192, image_height=144, num_views=len(cameras), max_triangles=200_000)
    mesh = extract_surface(AlignedScene(np.eye(4), 1.0, gaussians=scene.gaussians, cameras=cameras), cfg=cfg).mesh
    return mesh, time.perf_counter() - start


def _phantom(scene, hulls) -> float:
    from bench_collision import points_in_hulls

    free = scene.free_points(300_000, seed=3)
    return float(points_in_hulls(free, hulls).mean()) if hulls else 0.0


def _ground_within(scene, world, tolerance: float) -> float:
    from test_collision_scenes import vertical_offsets

    vertices, faces = world.collision_triangles()
    points = scene.walkable_points(3000, seed=1)
    return float((vertical_offsets(vertices.astype(np.float64)[faces], points) <= tolerance).mean())


def _drop_test(scene, world, count: int = 40, seconds: float = 1.5, dt: float = 1.0 / 240.0) -> tuple[float, int]:
    """Fraction of probes dropped 0.3 m above true walkable points that end within 3 cm of the truth."""
    import newton
    import warp as wp

    from worldgen_sim.collision.collision_cfg import CollisionCfg
    from worldgen_sim.exporters.usd_physics import write_physics_layer

    points = scene.walkable_points(count, seed=7, margin=0.25)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "collision.usda"
        write_physics_layer(path, world, cfg=CollisionCfg())
        builder = newton.ModelBuilder()
        builder.add_usd(str(path), load_visual_shapes=False, load_static_visual_shapes=False)
    probe = newton.ModelBuilder.ShapeConfig()
    probe.collision_group = -1
    probe.mu_rolling = 0.05
    bodies = []
    for start in points + [0.0, 0.0, 0.3 + PROBE_RADIUS]:
        body = builder.add_body(xform=wp.transform(p=wp.vec3(*start.tolist()), q=wp.quat_identity()))
        builder.add_shape_sphere(body, radius=PROBE_RADIUS, cfg=probe)
        bodies.append(body)
    model = builder.finalize(device="cpu")
    solver = newton.solvers.SolverXPBD(model, iterations=8)
    pipeline = newton.CollisionPipeline(model)
    contacts = pipeline.contacts()
    state, next_state, control = model.state(), model.state(), model.control()
    for _ in range(int(seconds / dt)):
        state.clear_forces()
        pipeline.collide(state, contacts)
        solver.step(state, next_state, control, contacts, dt)
        state, next_state = next_state, state
    ends = state.body_q.numpy()[bodies, :3].astype(np.float64)
    truth = scene.ground(ends[:, :2])
    rested = np.abs(ends[:, 2] - PROBE_RADIUS - truth) <= 0.03
    return float(np.nanmean(rested)), len(bodies)

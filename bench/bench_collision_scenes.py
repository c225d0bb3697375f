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

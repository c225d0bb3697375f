"""Collision benchmark: planes-first + per-object CoACD vs whole-room CoACD.

Input: the sample room's ground-truth surface (an open shell: furniture without
bottoms or backs), subdivided to 0.1 m edges and jittered by 1 mm like a
reconstructed mesh. Measures, side by side in one run:

- ours, cold: segmentation + solidification + decomposition with an empty cache;
- ours, cached: the same build again (no decomposition work);
- baseline: ``coacd.run_coacd`` on the whole room mesh at CoACD's default
  (bounding-box-relative) threshold 0.05, decimated to 64 vertices per hull,
  in a subprocess with a time limit; once as is and once without the ceiling;

each with time, hull count, the largest hull's vertex count, and the phantom
volume: the fraction of the room's empty space (inside the room, outside the
furniture) that lies inside a collider, by uniform sampling.

With ``--mesh file.npz`` (arrays ``vertices`` (V, 3) and ``faces`` (F, 3), world
frame, e.g. the demo's TSDF visual mesh) that mesh is the input instead. Its truth
is the sample room fitted to it (yaw and centre from the mesh's walls, scale from
its extent, the 90-degree turn that best matches the furniture), so phantom volume
and top errors are only meaningful when the mesh is a reconstruction of the sample
room (as ``worldgen demo``'s is). The reference rows are then: every object through
CoACD with the previous defaults (no box fit, 1 cm solids, 100 MCTS iterations, no
hull cap) and, with ``--whole-room``, the whole-room baselines.

With ``--scenes``, Gaussian-built scenes instead (``tests/collision_scenes.py``): rolling
terrain, stairs + platform + ramp and a 15 k-Gaussian vegetation tile, each meshed by the
surface stage and built cold; printed with the collision time's ratio to the sample
room's (the reference, built in the same run), the phantom fraction of the free space and
the fraction of true ground points with a collider within 3 cm. ``--drop`` adds a Newton
drop test: probes dropped on true walkable ground, the fraction resting within 3 cm of it.

With ``--realistic floaters vegetation`` (``worldgen_sim.scenes``), each scene is written as its PLY
and built by ``build_world`` with the default config and no cache: per-object decomposition
method, hulls, fallback and time, and the decomposition stage's ratio to the sample room's cold
collision time (the reference, same run).

Run: ``python bench/bench_collision.py [--edge 0.1] [--baseline-timeout 600]``,
``python bench/bench_collision.py --mesh /tmp/demo_visual_mesh.npz``,
``python bench/bench_collision.py --scenes [--drop]`` or
``python bench/bench_collision.py --realistic floaters vegetation``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue as queue_module
import tempfile
import time

import numpy as np


def room_mesh(edge: float, noise: float):
    import trimesh

    from worldgen_sim.artifacts import TriangleMesh
    from worldgen_sim.samples import make_sample_room

    room = make_sample_room(spacing=0.25)
    gt = room.ground_truth_mesh()
    vertices, faces = trimesh.remesh.subdivide_to_size(gt.vertices, gt.faces, edge)
    vertices = vertices + np.random.default_rng(0).normal(0.0, noise, vertices.shape)
    return room, TriangleMesh(vertices.astype(np.float32), faces.astype(np.int32))


class FittedRoom:
    """The sample room placed in a mesh's world frame: ``world = scale * R(yaw) @ room + centre``."""

    def __init__(self, room, yaw: float, centre: np.ndarray, scale: float):
        self.room, self.yaw, self.centre, self.scale = room, yaw, np.asarray(centre, np.float64), scale

    def to_world(self, points: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        return self.scale * points @ rotation.T + self.centre


def fit_sample_room(room, vertices: np.ndarray, world) -> FittedRoom:
    """Place the sample room on a reconstruction of it: yaw from the wall normals (mod 90 deg),
    centre and scale from the extent along them, the quarter turn that best matches ``world``'s hulls."""
    walls = [p for p in world.report["segmentation"]["static"] if p["kind"] == "wall"]
    normals = np.array([p["normal"] for p in walls])
    weights = np.array([p["area"] for p in walls])
    base = float(np.angle(np.sum(weights * np.exp(4j * np.arctan2(normals[:, 1], normals[:, 0])))) / 4.0)
    hulls = [(h.vertices, h.faces) for o in world.objects for h in o.hulls]
    rng = np.random.default_rng(3)
    best = None
    for quarter in range(4):
        yaw = base + quarter * np.pi / 2
        c, s = np.cos(-yaw), np.sin(-yaw)
        local = np.column_stack([c * vertices[:, 0] - s * vertices[:, 1], s * vertices[:, 0] + c * vertices[:, 1]])
        lo, hi = np.percentile(local, [0.5, 99.5], axis=0)
        scale = float(np.mean((hi - lo) / room.size[:2]))
        if np.any(np.abs((hi - lo) / room.size[:2] / scale - 1) > 0.05):
            continue  # the long side does not match the room's
        centre_local = (lo + hi) / 2
        cc, ss = np.cos(yaw), np.sin(yaw)
        centre = np.array([cc * centre_local[0] - ss * centre_local[1],
                           ss * centre_local[0] + cc * centre_local[1], 0.0])
        fitted = FittedRoom(room, yaw, centre, scale)
        half = room.size / 2
        probe = rng.uniform([-half[0], -half[1], 0.0], [half[0], half[1], room.size[2]], (60_000, 3))
        probe = probe[room.inside_furniture(probe)]
        score = points_in_hulls(fitted.to_world(probe), hulls).mean()
        if best is None or score > best[0]:
            best = (score, fitted)
    if best is None:
        raise SystemExit("--mesh: its extent does not match the sample room's; no truth to compare with")
    return best[1]


def points_in_hulls(points: np.ndarray, hulls) -> np.ndarray:
    """(N,) bool: points inside any convex hull (re-hulled, so faces need not be oriented)."""
    from scipy.spatial import ConvexHull, QhullError

    inside = np.zeros(points.shape[0], bool)
    for vertices, _ in hulls:
        vertices = np.asarray(vertices, np.float64)
        if len(vertices) < 4:
            continue
        try:
            hull = ConvexHull(vertices)
        except QhullError:
            continue
        lo, hi = vertices.min(axis=0), vertices.max(axis=0)
        near = np.flatnonzero(np.all((points >= lo) & (points <= hi), axis=1))
        eq = hull.equations
        inside[near] |= np.all(points[near] @ eq[:, :3].T + eq[:, 3] <= 1e-9, axis=1)
    return inside


def top_errors(truth, hulls, margin: float = 0.1, per_box: dict | None = None) -> np.ndarray:
    """|collider top - true top| [m] on vertical lines over each furniture top (legs skipped),
    ``margin`` [m] in from its edges; the true top as placed by ``truth`` (a FittedRoom).
    ``per_box``, when given, receives each box's errors by name."""
    room = truth.room
    rng = np.random.default_rng(2)
    errors = []
    for box in room.furniture:
        if box.name.startswith("table_leg"):
            continue
        xy = rng.uniform(box.lo[:2] + margin, box.hi[:2] - margin, (40, 2))
        heights = np.linspace(0, room.size[2], 541)
        grid = np.column_stack([np.repeat(xy, heights.size, axis=0), np.tile(heights, xy.shape[0])])
        world_grid = truth.to_world(grid)
        inside = points_in_hulls(world_grid, hulls).reshape(xy.shape[0], heights.size)
        z = world_grid[:, 2].reshape(xy.shape[0], heights.size)
        top = np.array([z[i, np.flatnonzero(row)].max() if row.any() else 0.0 for i, row in enumerate(inside)])
        errors.append(np.abs(top - truth.scale * box.hi[2]))
        if per_box is not None:
            per_box[box.name] = errors[-1]
    return np.concatenate(errors)


def phantom_fraction(room, hulls: list[tuple[np.ndarray, np.ndarray]], samples: int = 400_000,
                     fitted: FittedRoom | None = None) -> tuple[float, float]:
    """(fraction of the empty room inside hulls, fraction of the furniture inside hulls)."""
    rng = np.random.default_rng(1)
    half = room.size / 2
    points = rng.uniform([-half[0], -half[1], 0.0], [half[0], half[1], room.size[2]], (samples, 3))
    solid = room.inside_furniture(points)
    inside = points_in_hulls(fitted.to_world(points) if fitted is not None else points, hulls)
    return float((inside & ~solid).sum() / (~solid).sum()), float((inside & solid).sum() / max(solid.sum(), 1))


def _baseline_worker(vertices, faces, queue):
    import os

    os.environ["OMP_NUM_THREADS"] = "1"
    import coacd

    coacd.set_log_level("error")
    start = time.perf_counter()
    parts = coacd.run_coacd(coacd.Mesh(vertices, faces), threshold=0.05, decimate=True, max_ch_vertex=64, seed=0)
    queue.put((time.perf_counter() - start, [(np.asarray(v), np.asarray(f)) for v, f in parts]))


def run_baseline(mesh, timeout: float):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_baseline_worker, args=(mesh.vertices.astype(np.float64), mesh.faces, queue))
    start = time.perf_counter()
    proc.start()
    try:
        seconds, hulls = queue.get(timeout=timeout)
    except queue_module.Empty:
        proc.terminate()
        proc.join()
        return time.perf_counter() - start, None
    proc.join()
    return seconds, hulls


def load_mesh(path: str):
    from worldgen_sim.artifacts import TriangleMesh

    with np.load(path) as data:
        if "vertices" not in data or "faces" not in data:
            raise SystemExit(f"{path}: expected arrays 'vertices' (V, 3) and 'faces' (F, 3)")
        return TriangleMesh(np.asarray(data["vertices"], np.float32), np.asarray(data["faces"], np.int32))


STEP_TIMINGS: dict[int, dict[str, float]] = {}
"""Sub-stage timings of each build, by id(world) (Progress keeps them; reports carry none)."""


def timed_build(mesh, cfg):
    from worldgen_sim.collision.collision import build_collision
    from worldgen_sim.progress import Progress

    progress = Progress(quiet=True)
    start = time.perf_counter()
    world = build_collision(mesh, cfg=cfg, progress=progress)
    STEP_TIMINGS[id(world)] = {k.removeprefix("collision: "): v for k, v in progress.timings.items()}
    return world, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edge", type=float, default=0.1, help="subdivision edge length [m]")
    parser.add_argument("--noise", type=float, default=0.001, help="vertex jitter sigma [m]")
    parser.add_argument("--mesh", default=None, help="npz with 'vertices' and 'faces' (world frame) to use as input")
    parser.add_argument("--whole-room", action="store_true", help="with --mesh: run the whole-room baselines too")
    parser.add_argument("--no-reference", action="store_true", help="with --mesh: skip CoACD-per-object reference")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-timeout", type=float, default=600.0, help="[s]")
    parser.add_argument("--scenes", action="store_true", help="Gaussian terrain, stairs and vegetation scenes")
    parser.add_argument("--drop", action="store_true", help="with --scenes: Newton drop test on the true ground")
    parser.add_argument("--realistic", nargs="+", metavar="SCENE", default=None,
                        help="build these worldgen_sim.scenes (e.g. floaters vegetation) from their PLY: per-object "
                             "decomposition times")
    args = parser.parse_args()
    if args.realistic:
        from bench_collision_scenes import run_realistic

        run_realistic(args.realistic, workers=args.workers)
        return
    if args.scenes:
        from bench_collision_scenes import run_scenes

        run_scenes(workers=args.workers, drop=args.drop)
        return

    from worldgen_sim.collision.collision_cfg import CollisionCfg
    from worldgen_sim.samples import make_sample_room

    if args.mesh is None:
        room, mesh = room_mesh(args.edge, args.noise)
        print(f"input: sample room {room.size.tolist()} m, {mesh.faces.shape[0]} triangles, "
              f"{len(room.furniture)} furniture boxes; {mp.cpu_count()} CPU cores")
    else:
        room, mesh = make_sample_room(spacing=0.25), load_mesh(args.mesh)
        print(f"input: {args.mesh}, {mesh.vertices.shape[0]} vertices, {mesh.faces.shape[0]} triangles; "
              f"{mp.cpu_count()} CPU cores")
    builds = []  # (name, world, seconds)
    with tempfile.TemporaryDirectory() as cache:
        cfg = CollisionCfg(cache_dir=cache, workers=args.workers)
        cold, cold_s = timed_build(mesh, cfg)
        warm, warm_s = timed_build(mesh, cfg)
    builds += [("ours, cold", cold, cold_s), ("ours, cached", warm, warm_s)]
    if args.mesh is not None and not args.no_reference:
        with tempfile.TemporaryDirectory() as cache:
            old = CollisionCfg(cache_dir=cache, workers=args.workers, max_boxes=0, solid_cell=0.01, coacd_cell=0.01,
                               coacd_iterations=100, coacd_max_hulls=10_000)
            reference, reference_s = timed_build(mesh, old)
        builds.append(("CoACD per object", reference, reference_s))
    fitted = fit_sample_room(room, mesh.vertices, cold) if args.mesh is not None else None
    if fitted is not None:
        print(f"truth: sample room fitted to the mesh: yaw {np.degrees(fitted.yaw):.2f} deg, "
              f"centre {np.round(fitted.centre[:2], 3).tolist()} m, scale {fitted.scale:.4f}")
    else:
        fitted = FittedRoom(room, 0.0, np.zeros(3), 1.0)

    rows = []
    for name, world, seconds in builds:
        hulls = [(h.vertices, h.faces) for o in world.objects for h in o.hulls]
        phantom, cover = phantom_fraction(room, hulls, fitted=fitted)
        tops = top_errors(fitted, hulls)
        rows.append((name, seconds, len(hulls), max(len(v) for v, _ in hulls), phantom, cover,
                     float(np.mean(tops <= 0.03)), len(world.report["fallbacks"])))
    base = open_base = None
    if args.mesh is None or args.whole_room:
        base_s, base = run_baseline(mesh, args.baseline_timeout)
        # The closed room shell makes CoACD fill the room's air; without the ceiling it is an open
        # shell, which CoACD's preprocessing thickens into a skin (the case the notes measured).
        tri = mesh.vertices[mesh.faces]
        ceiling = np.all(tri[..., 2] > float(mesh.vertices[:, 2].max()) - 0.05, axis=1)
        open_mesh = type(mesh)(mesh.vertices, mesh.faces[~ceiling])
        open_s, open_base = run_baseline(open_mesh, args.baseline_timeout)
        for name, seconds, hulls in (("whole-room CoACD", base_s, base), ("  same, no ceiling", open_s, open_base)):
            if hulls is None:
                print(f"{name.strip()} did not finish within {args.baseline_timeout:.0f} s (stopped)")
                continue
            phantom, cover = phantom_fraction(room, hulls, fitted=fitted)
            tops = top_errors(fitted, hulls)
            rows.append((name, seconds, len(hulls), max(len(v) for v, _ in hulls), phantom, cover,
                         float(np.mean(tops <= 0.03)), 0))

    print(f"\n{'method':<18} {'time [s]':>9} {'hulls':>6} {'max verts':>9} {'phantom':>9} {'furniture covered':>18} "
          f"{'tops <= 3 cm':>12} {'fallbacks':>9}")
    for name, seconds, count, verts, phantom, cover, tops_ok, fallbacks in rows:
        print(f"{name:<18} {seconds:9.2f} {count:6d} {verts:9d} {phantom:9.2%} {cover:18.1%} {tops_ok:12.0%} "
              f"{fallbacks:9d}")
    report = cold.report
    steps = STEP_TIMINGS[id(cold)]
    print(f"\nours: segmentation {steps['segmentation']:.2f} s, decomposition "
          f"{steps['decomposition']:.2f} s, methods {report['methods']}; cached rebuild: "
          f"{warm.report['decompositions']} decompositions, {warm.report['cache_hits']} cache hits")
    half = room.size / 2
    points = np.random.default_rng(4).uniform([-half[0], -half[1], 0.0], [half[0], half[1], room.size[2]],
                                              (400_000, 3))
    empty = ~room.inside_furniture(points)
    world_points = fitted.to_world(points)
    room_volume = float(np.prod(room.size))
    for entry, obj in zip(report["objects"], cold.objects):
        inside = points_in_hulls(world_points, [(h.vertices, h.faces) for h in obj.hulls])
        phantom = (inside & empty).mean() * room_volume
        print(f"  {entry['name']:<14} {entry['method']:<8} {entry['hulls']:3d} hulls {obj.seconds:7.2f} s  "
              f"phantom {phantom:.3f} m^3" + (f"  fallback: {entry['fallback']}" if entry["fallback"] else ""))
    per_box: dict = {}
    top_errors(fitted, [(h.vertices, h.faces) for o in cold.objects for h in o.hulls], per_box=per_box)
    print("  tops (ours, cold): " + ", ".join(f"{name} {np.mean(e <= 0.03):.0%} within 3 cm (median "
                                              f"{100 * np.median(e):.1f} cm)" for name, e in per_box.items()))
    for name, world, _seconds in builds[2:]:
        print(f"{name}: decomposition {STEP_TIMINGS[id(world)]['decomposition']:.2f} s; fallbacks: "
              + "; ".join(f"{f['name']}: {f['reason']}" for f in world.report["fallbacks"]))
    reference = [r for r in rows if r[0] != "ours, cold" and r[0] != "ours, cached"]
    for r in reference:
        print(f"ratios ({r[0].strip()} / ours cold): time {r[1] / rows[0][1]:.1f}x, "
              f"phantom volume {r[4] / max(rows[0][4], 1e-9):.1f}x")


if __name__ == "__main__":
    main()

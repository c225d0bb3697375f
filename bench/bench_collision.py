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

Run: ``python bench/bench_collision.py [--edge 0.1] [--baseline-timeout 600]``
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


def phantom_fraction(room, hulls: list[tuple[np.ndarray, np.ndarray]], samples: int = 400_000) -> tuple[float, float]:
    """(fraction of the empty room inside hulls, fraction of the furniture inside hulls)."""
    rng = np.random.default_rng(1)
    half = room.size / 2
    points = rng.uniform([-half[0], -half[1], 0.0], [half[0], half[1], room.size[2]], (samples, 3))
    inside = np.zeros(samples, bool)
    for vertices, faces in hulls:
        vertices = np.asarray(vertices, np.float64)
        if len(vertices) < 4:
            continue
        from scipy.spatial import ConvexHull, QhullError

        try:
            hull = ConvexHull(vertices)  # re-hull: the baseline's faces need not be oriented
        except QhullError:
            continue
        lo, hi = vertices.min(axis=0), vertices.max(axis=0)
        near = np.flatnonzero(np.all((points >= lo) & (points <= hi), axis=1))
        eq = hull.equations
        inside[near] |= np.all(points[near] @ eq[:, :3].T + eq[:, 3] <= 1e-9, axis=1)
    solid = room.inside_furniture(points)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edge", type=float, default=0.1, help="subdivision edge length [m]")
    parser.add_argument("--noise", type=float, default=0.001, help="vertex jitter sigma [m]")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-timeout", type=float, default=600.0, help="[s]")
    args = parser.parse_args()

    from worldgen_sim.collision.collision import build_collision
    from worldgen_sim.collision.collision_cfg import CollisionCfg

    room, mesh = room_mesh(args.edge, args.noise)
    print(f"input: sample room {room.size.tolist()} m, {mesh.faces.shape[0]} triangles, "
          f"{len(room.furniture)} furniture boxes; {mp.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as cache:
        cfg = CollisionCfg(cache_dir=cache, workers=args.workers)
        start = time.perf_counter()
        cold = build_collision(mesh, cfg=cfg)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        warm = build_collision(mesh, cfg=cfg)
        warm_s = time.perf_counter() - start
    ours = [(h.vertices, h.faces) for o in cold.objects for h in o.hulls]
    ours_phantom, ours_cover = phantom_fraction(room, ours)

    base_s, base = run_baseline(mesh, args.baseline_timeout)
    # The closed room shell makes CoACD fill the room's air; without the ceiling it is an open
    # shell, which CoACD's preprocessing thickens into a skin (the case the notes measured).
    tri = mesh.vertices[mesh.faces]
    ceiling = np.all(tri[..., 2] > room.size[2] - 0.05, axis=1)
    open_mesh = type(mesh)(mesh.vertices, mesh.faces[~ceiling])
    open_s, open_base = run_baseline(open_mesh, args.baseline_timeout)
    rows = [
        ("ours, cold", cold_s, len(ours), max(len(v) for v, _ in ours), ours_phantom, ours_cover),
        ("ours, cached", warm_s, len(ours), max(len(v) for v, _ in ours), ours_phantom, ours_cover),
    ]
    if base is not None:
        base_phantom, base_cover = phantom_fraction(room, base)
        rows.append(("whole-room CoACD", base_s, len(base), max(len(v) for v, _ in base), base_phantom, base_cover))
    if open_base is not None:
        open_phantom, open_cover = phantom_fraction(room, open_base)
        rows.append(("  same, no ceiling", open_s, len(open_base), max(len(v) for v, _ in open_base), open_phantom,
                     open_cover))
    print(f"\n{'method':<18} {'time [s]':>9} {'hulls':>6} {'max verts':>9} {'phantom':>9} {'furniture covered':>18}")
    for name, seconds, count, verts, phantom, cover in rows:
        print(f"{name:<18} {seconds:9.2f} {count:6d} {verts:9d} {phantom:9.2%} {cover:18.1%}")
    print(f"\nours: segmentation {cold.report['timings']['segmentation']:.2f} s, decomposition "
          f"{cold.report['timings']['decomposition']:.2f} s; cached rebuild: {warm.report['decompositions']} "
          f"decompositions, {warm.report['cache_hits']} cache hits; fallbacks: {cold.report['fallbacks']}")
    if base is None:
        print(f"whole-room CoACD did not finish within {args.baseline_timeout:.0f} s (stopped)")
    else:
        print(f"ratios (baseline / ours cold): time {base_s / cold_s:.2f}x, "
              f"phantom volume {base_phantom / max(ours_phantom, 1e-9):.0f}x")
    if open_base is not None:
        print(f"ratios (no-ceiling baseline / ours cold): time {open_s / cold_s:.2f}x, "
              f"phantom volume {open_phantom / max(ours_phantom, 1e-9):.0f}x")


if __name__ == "__main__":
    main()

"""Benchmark the navigation stage on a 20 m x 20 m furnished scene and a two-storey scene at 5 cm cells.

Prints the time of :func:`build_navigation` on the whole scene, then compares it
in the same run against a reference on the same input: pynavmesh (a pure-Python
Recast port, ``pip install pynavmesh``) when it is installed, else a naive
per-cell Python reference (vertical ray casts, no erosion) on a crop. Walkable
areas are compared too. The multi-level case (a 12 x 12 m hall with a
mezzanine at 2.8 m reached by 16 stairs of 17.5 cm, furniture on both levels)
is baked whole by both, with the humanoid agent, and a path from the ground
floor onto the mezzanine is timed.

    python bench/bench_navigation.py [--cell 0.05] [--crop 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def box(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Closed axis-aligned box: (8, 3) vertices, (12, 3) outward counter-clockwise faces."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    corners = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], float)
    faces = [[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
             [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]]
    return (lo + corners * (hi - lo)).astype(np.float32), np.asarray(faces, np.int32)


def cylinder(centre, radius, height, segments=32) -> tuple[np.ndarray, np.ndarray]:
    """Closed upright cylinder (a convex hull like CoACD's): outward counter-clockwise faces."""
    angles = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], 1)
    v = np.concatenate([np.column_stack([ring, np.zeros(segments)]), np.column_stack([ring, np.full(segments, height)]),
                        [[centre[0], centre[1], 0.0], [centre[0], centre[1], height]]])
    i = np.arange(segments)
    j = (i + 1) % segments
    side = np.concatenate([np.stack([i, j, j + segments], 1), np.stack([i, j + segments, i + segments], 1)])
    bottom = np.stack([np.full(segments, 2 * segments), j, i], 1)
    top = np.stack([np.full(segments, 2 * segments + 1), i + segments, j + segments], 1)
    return v.astype(np.float32), np.concatenate([side, bottom, top]).astype(np.int32)


def furnished_scene(size=20.0, seed=0):
    """A 20 x 20 m floor split into 4 rooms with doorways, tables, cabinets, stools, stairs and a ramp."""
    from worldgen_sim.artifacts import CollisionObject, CollisionWorld, ConvexHull, StaticPart, TriangleMesh

    rng = np.random.default_rng(seed)
    t, wall_h = 0.12, 2.6
    static = [("floor", box((0, 0, -0.2), (size, size, 0)))]
    static += [("wall_s", box((0, 0, 0), (size, t, wall_h))), ("wall_n", box((0, size - t, 0), (size, size, wall_h))),
               ("wall_w", box((0, 0, 0), (t, size, wall_h))), ("wall_e", box((size - t, 0, 0), (size, size, wall_h)))]
    mid = size / 2
    for k, (a, b) in enumerate([(t, 4.0), (5.2, 14.0), (15.0, size - t)]):  # partitions with 1.0-1.2 m doors
        static.append((f"part_x{k}", box((mid - t / 2, a, 0), (mid + t / 2, b, wall_h))))
        static.append((f"part_y{k}", box((a, mid - t / 2, 0), (b, mid + t / 2, wall_h))))
    objects = []

    def add(name, mesh):
        objects.append(CollisionObject(name, "furniture", TriangleMesh(*mesh), [ConvexHull(*mesh)]))

    occupied = []
    def free_spot(w, d):
        for _ in range(200):
            x, y = rng.uniform(0.8, size - 0.8 - w), rng.uniform(0.8, size - 0.8 - d)
            if abs(x + w / 2 - mid) < w / 2 + 0.8 or abs(y + d / 2 - mid) < d / 2 + 0.8:
                continue
            if x > 14 and y < 5:  # stairs corner
                continue
            if all(x + w + 0.6 < a or a + c + 0.6 < x or y + d + 0.6 < b or b + e + 0.6 < y for a, b, c, e in occupied):
                occupied.append((x, y, w, d))
                return x, y
        return None

    for k in range(24):  # tables on legs (top 0.72-0.76 m)
        w, d = rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.0)
        spot = free_spot(w, d)
        if spot is None:
            continue
        x, y = spot
        top = rng.uniform(0.72, 0.76)
        add(f"table{k}_top", box((x, y, top - 0.04), (x + w, y + d, top)))
        for lx in (x, x + w - 0.06):
            for ly in (y, y + d - 0.06):
                add(f"table{k}_leg", box((lx, ly, 0), (lx + 0.06, ly + 0.06, top - 0.04)))
    for k in range(20):  # cabinets, sofas, beds
        w, d = rng.uniform(0.5, 2.0), rng.uniform(0.4, 1.0)
        spot = free_spot(w, d)
        if spot is not None:
            add(f"cabinet{k}", box((spot[0], spot[1], 0), (spot[0] + w, spot[1] + d, rng.uniform(0.4, 2.0))))
    for k in range(40):  # stools and bins: 32-sided hulls
        spot = free_spot(0.4, 0.4)
        if spot is not None:
            add(f"stool{k}", cylinder((spot[0] + 0.2, spot[1] + 0.2), 0.18, rng.uniform(0.3, 0.7)))
    for k in range(6):  # stairs (0.15 m risers) up to a platform in the south-east corner
        static.append((f"step{k}", box((15.0 + 0.3 * k, 1.0, 0), (15.3 + 0.3 * k, 3.0, 0.15 * (k + 1)))))
    static.append(("platform", box((16.8, 0.2, 0), (size - t, 4.5, 0.9))))
    parts = [StaticPart(name, "floor" if name == "floor" else "wall", TriangleMesh(*mesh)) for name, mesh in static]
    return CollisionWorld(static_parts=parts, objects=objects, materials={})


def two_storey_scene(seed=0):
    """A 12 x 12 m hall, a mezzanine (y 7..12, top 2.8 m) over its north part, 16 stairs up to it, furniture on both."""
    from worldgen_sim.artifacts import CollisionObject, CollisionWorld, ConvexHull, StaticPart, TriangleMesh

    rng = np.random.default_rng(seed)
    size, t, top = 12.0, 0.12, 2.8
    static = [("floor", box((0, 0, -0.2), (size, size, 0))), ("mezzanine", box((0, 7.0, top - 0.2), (size, size, top)))]
    static += [("wall_s", box((0, 0, 0), (size, t, 5.6))), ("wall_n", box((0, size - t, 0), (size, size, 5.6))),
               ("wall_w", box((0, 0, 0), (t, size, 5.6))), ("wall_e", box((size - t, 0, 0), (size, size, 5.6)))]
    rise, tread = top / 16, 0.28
    y0 = 7.0 - 16 * tread
    static += [(f"step{k}", box((9.0, y0 + k * tread, 0), (10.4, 7.0, (k + 1) * rise))) for k in range(16)]
    objects = []
    for level, (ylo, yhi, z0) in enumerate([(0.8, y0 - 0.6, 0.0), (7.8, size - 0.8, top)]):
        for k in range(10):
            w, d = rng.uniform(0.5, 1.5), rng.uniform(0.4, 1.0)
            x, y = rng.uniform(0.8, 8.0 - w), rng.uniform(ylo, yhi - d)
            mesh = box((x, y, z0), (x + w, y + d, z0 + rng.uniform(0.4, 1.6)))
            objects.append(CollisionObject(f"l{level}_obj{k}", "furniture", TriangleMesh(*mesh), [ConvexHull(*mesh)]))
    parts = [StaticPart(name, "wall", TriangleMesh(*mesh)) for name, mesh in static]
    return CollisionWorld(static_parts=parts, objects=objects, materials={})


def bench_two_storey(cell: float) -> None:
    from worldgen_sim.navigation.navigation import build_navigation
    from worldgen_sim.navigation.navigation_cfg import NavigationCfg
    from worldgen_sim.navigation.navmap import NavigationMap

    world = two_storey_scene()
    start = time.perf_counter()
    result = build_navigation(world, cfg=NavigationCfg(preset="humanoid", cell_size=cell))
    ours_s = time.perf_counter() - start
    nav = NavigationMap.from_result(result)
    start = time.perf_counter()
    ends = nav.nearest_walkable(np.array([[2.0, 1.5, 0.0], [4.0, 10.0, 2.8]]))  # clear of the random furniture
    path = nav.shortest_path(ends[0], ends[1])
    path_ms = (time.perf_counter() - start) * 1000
    levels = [r for r in result.report["regions"] if r["id"] == 0][0]
    print(f"\ntwo-storey 12 x 12 m (humanoid): build_navigation {ours_s:.2f} s, {result.heights.shape[0]} levels, "
          f"walkable {result.report['walkable_m2']:.1f} m^2; "
          f"region 0 spans z {levels['z_min']:.2f}..{levels['z_max']:.2f} m; "
          f"ground -> mezzanine path {'found' if path is not None else 'NOT found'} in {path_ms:.0f} ms")
    try:
        import pathfinder.navmesh_baker  # noqa: F401  (pynavmesh)
    except ImportError:
        print("pynavmesh not installed: no multi-level reference")
        return
    ref_s, ref_area = run_pynavmesh(world, agent=result.agent, cell_size=cell)
    print(f"pynavmesh on the same scene: {ref_s:.2f} s, navmesh area {ref_area:.1f} m^2")
    print(f"ratio: pynavmesh / ours = {ref_s / ours_s:.1f}x time; area ours / pynavmesh = "
          f"{result.report['walkable_m2'] / max(ref_area, 1e-9):.3f}")


def crop_world(world, lo, hi):
    """Triangles whose centroid lies in the x/y box [lo, hi] (floor slabs clipped to it)."""
    from worldgen_sim.artifacts import CollisionWorld, StaticPart, TriangleMesh

    v, f = world.collision_triangles()
    v = v.copy()
    slab = (v[f][:, :, 2].max(axis=1) <= 0.0)
    v_clip = v.copy()
    v_clip[:, :2] = np.clip(v_clip[:, :2], lo, hi)
    centroid = v[f].mean(axis=1)[:, :2]
    keep = ((centroid >= lo) & (centroid <= hi)).all(axis=1) & ~slab
    pieces = [TriangleMesh(v, f[keep])]
    slab_faces = f[slab]
    pieces.append(TriangleMesh(v_clip, slab_faces))
    return CollisionWorld([StaticPart(f"crop{i}", "wall", p) for i, p in enumerate(pieces)], [], {})


def run_pynavmesh(world, *, agent, cell_size):
    """Bake with pynavmesh (Y-up: swap y/z and reverse winding to keep normals); returns (seconds, area m^2)."""
    from pathfinder.navmesh_baker import NavmeshBaker

    v, f = world.collision_triangles()
    area2 = np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    f = f[area2 > 1e-9]  # its normaliser divides by zero on degenerate triangles
    baker = NavmeshBaker()
    baker.add_geometry([tuple(p) for p in v[:, [0, 2, 1]].astype(float)], [list(t) for t in f[:, ::-1]])
    start = time.perf_counter()
    baker.bake(
        cell_size=cell_size, cell_height=0.01, agent_height=agent["agent_height"], agent_radius=agent["agent_radius"],
        agent_max_climb=agent["max_climb"], agent_max_slope=agent["max_slope"], region_min_size=1,
    )
    seconds = time.perf_counter() - start
    verts, polys = baker.get_polygonization()
    verts = np.asarray(verts, float)
    area = 0.0
    for poly in polys:
        p = verts[poly][:, [0, 2]]
        area += 0.5 * abs(np.dot(p[:, 0], np.roll(p[:, 1], 1)) - np.dot(p[:, 1], np.roll(p[:, 0], 1)))
    return seconds, area


def run_naive(world, *, agent, cell_size):
    """Per-cell Python reference: ray-cast each cell centre against every triangle (no erosion)."""
    v, f = world.collision_triangles()
    tri = v[f].astype(float)
    lo = v[:, :2].min(axis=0)
    hi = v[:, :2].max(axis=0)
    nx, ny = np.ceil((hi - lo) / cell_size).astype(int)
    cos_max = np.cos(np.radians(agent["max_slope"]))
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    start = time.perf_counter()
    walkable = 0
    for iy in range(ny):
        for ix in range(nx):
            px, py = lo + (np.array([ix, iy]) + 0.5) * cell_size
            hits = []
            for (a, b, c), n in zip(tri, normals):
                d = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
                if abs(d) < 1e-12:
                    continue
                w0 = ((b[1] - c[1]) * (px - c[0]) + (c[0] - b[0]) * (py - c[1])) / d
                w1 = ((c[1] - a[1]) * (px - c[0]) + (a[0] - c[0]) * (py - c[1])) / d
                if w0 < 0 or w1 < 0 or w0 + w1 > 1:
                    continue
                hits.append((w0 * a[2] + w1 * b[2] + (1 - w0 - w1) * c[2], n[2]))
            hits.sort()
            ups = [k for k, (z, nz) in enumerate(hits) if nz >= cos_max]
            if ups:
                z = hits[ups[0]][0]
                above = [h for h, _ in hits if h > z + 0.05]
                if not above or above[0] - z >= agent["agent_height"]:
                    walkable += 1
    return time.perf_counter() - start, walkable * cell_size**2, nx * ny


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", type=float, default=0.05, help="cell size [m]")
    parser.add_argument("--crop", type=float, default=8.0, help="edge of the crop the reference runs on [m]")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    from worldgen_sim.navigation.navigation import build_navigation
    from worldgen_sim.navigation.navigation_cfg import NavigationCfg
    from worldgen_sim.navigation.navmap import NavigationMap
    from worldgen_sim.progress import Progress

    world = furnished_scene()
    v, f = world.collision_triangles()
    cfg = NavigationCfg(preset="wheeled", cell_size=args.cell)
    build_navigation(world, cfg=NavigationCfg(preset="wheeled", cell_size=0.2))  # warm imports
    progress = Progress(quiet=True)
    start = time.perf_counter()
    result = build_navigation(world, cfg=cfg, progress=progress)
    full = time.perf_counter() - start
    h, w = result.walkable.shape[-2:]
    print(f"scene: 20 x 20 m, {f.shape[0]} triangles, {len(world.objects)} objects; grid {w} x {h} at {args.cell} m")
    print(f"build_navigation (full scene): {full:.2f} s  [{progress.timings}]")
    print(f"  walkable {result.report['walkable_m2']:.1f} m^2 in {len(result.report['regions'])} regions, "
          f"{len(result.exclude_bounds)} exclude volumes, samples {result.report['samples']:,}")
    nav = NavigationMap.from_result(result)
    spawn = result.spawn_points
    start = time.perf_counter()
    found = sum(nav.shortest_path(a, b) is not None for a, b in zip(spawn[:10], spawn[10:20]))
    print(f"shortest_path: {(time.perf_counter() - start) / 10 * 1000:.0f} ms per query ({found}/10 found)")

    crop = crop_world(world, np.array([0.0, 0.0]), np.array([args.crop, args.crop]))
    start = time.perf_counter()
    ours = build_navigation(crop, cfg=cfg)
    ours_s = time.perf_counter() - start
    print(f"\ncrop {args.crop:g} x {args.crop:g} m: build_navigation {ours_s:.2f} s, "
          f"walkable {ours.report['walkable_m2']:.2f} m^2 "
          f"(before erosion {ours.report['walkable_before_erosion_m2']:.2f} m^2)")
    try:
        import pathfinder.navmesh_baker  # noqa: F401  (pynavmesh)

        ref_s, ref_area = run_pynavmesh(crop, agent=ours.agent, cell_size=args.cell)
        print(f"pynavmesh (pure-Python Recast) on the crop: {ref_s:.2f} s, navmesh area {ref_area:.2f} m^2")
        print(f"ratio: pynavmesh / ours = {ref_s / ours_s:.1f}x time; area ours / pynavmesh = "
              f"{ours.report['walkable_m2'] / max(ref_area, 1e-9):.3f}")
    except ImportError:
        small = crop_world(world, np.array([0.0, 0.0]), np.array([2.0, 2.0]))
        ref_s, ref_area, cells = run_naive(small, agent=ours.agent, cell_size=args.cell)
        ours_small = time.perf_counter()
        build_navigation(small, cfg=cfg)
        ours_small = time.perf_counter() - ours_small
        print(f"pynavmesh not installed; naive per-cell reference on a 2 x 2 m crop: {ref_s:.2f} s for {cells} cells "
              f"({ref_s / cells * 1e3:.2f} ms/cell) vs ours {ours_small:.3f} s -> {ref_s / ours_small:.0f}x")
    bench_two_storey(args.cell)


if __name__ == "__main__":
    main()

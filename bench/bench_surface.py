"""Benchmark the surface stage on the 1M-Gaussian furnished sample room.

Times :func:`extract_surface` (depth images + TSDF fusion + clean-up) with
the default options (on a CPU: ``depth_source="zbuffer"``; ``--with-render``
also times the Gaussian rasteriser) and its peak memory, then runs a reference
on the same input in the same run: screened Poisson reconstruction (open3d) from the Gaussian centres with normals from
each Gaussian's shortest axis -- the usual "mesh the point cloud" shortcut --
on a random subset (``--reference-points``). Both meshes are scored against the
room's true surfaces (precision/recall/F-score at 2 and 5 cm, accuracy p95;
recall over the true surfaces the automatic views see, as in the tests),
and the ratios are printed. Each method runs in its own process so peak RSS
(VmHWM, reset before the stage) is its own.

    python bench/bench_surface.py [--spacing 0.0114] [--views 48] [--width 320 --height 240]
                                  [--threads 2] [--reference-points 300000] [--skip-reference] [--with-render]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_gb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _score(vertices: np.ndarray, faces: np.ndarray, truth_mesh, truth: np.ndarray, seen: np.ndarray) -> dict:
    """Precision / recall (of the seen true points) / F at 2 and 5 cm, and accuracy p95.

    Distances are exact point-to-triangle distances (open3d ray-casting scenes),
    so neither side is blurred by the spacing of a point sampling.
    """
    import open3d as o3d

    from worldgen_sim.artifacts import TriangleMesh

    def distance_to(mesh_vertices, mesh_faces, points):
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(mesh_vertices, np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(mesh_faces, np.uint32)),
        )
        return scene.compute_distance(o3d.core.Tensor(np.ascontiguousarray(points, np.float32))).numpy()

    samples = TriangleMesh(vertices, faces).sample_surface(300_000)
    to_truth = distance_to(truth_mesh.vertices, truth_mesh.faces, samples)
    to_mesh = distance_to(vertices, faces, truth[seen])
    out = {"accuracy_p95_m": float(np.percentile(to_truth, 95)), "accuracy_median_m": float(np.median(to_truth))}
    for d in (0.02, 0.05):
        p, r = float(np.mean(to_truth < d)), float(np.mean(to_mesh < d))
        out[f"F@{int(d * 100)}cm"] = 2 * p * r / max(p + r, 1e-12)
        out[f"P@{int(d * 100)}cm"], out[f"R@{int(d * 100)}cm"] = p, r
    return out


def _seen_truth(room, truth: np.ndarray, *, views: int, width: int, height: int) -> np.ndarray:
    """(P,) bool: true surface points the default automatic views see unoccluded (ray cast on the truth)."""
    import open3d as o3d

    from worldgen_sim.artifacts import AlignedScene
    from worldgen_sim.surface.surface import plan_views
    from worldgen_sim.surface.surface_cfg import SurfaceCfg

    cfg = SurfaceCfg(num_views=views, image_width=width, image_height=height)
    cameras, _ = plan_views(AlignedScene(np.eye(4), 1.0, gaussians=room.gaussians), cfg=cfg)
    mesh = room.ground_truth_mesh()
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices), o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    seen = np.zeros(truth.shape[0], bool)
    for k, pose in zip(cameras.intrinsics, cameras.cam_to_world):
        world_to_cam = np.linalg.inv(pose)
        cam = truth @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
        z = cam[:, 2]
        u = k[0, 0] * cam[:, 0] / np.maximum(z, 1e-6) + k[0, 2]
        v = k[1, 1] * cam[:, 1] / np.maximum(z, 1e-6) + k[1, 2]
        inside = (z > 0.05) & (u >= -0.5) & (u < width - 0.5) & (v >= -0.5) & (v < height - 0.5)
        directions = truth[inside] - pose[:3, 3]
        rays = np.concatenate([np.broadcast_to(pose[:3, 3], directions.shape), directions], axis=1)
        hit = scene.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))["t_hit"].numpy()
        # Unit t at the point itself: seen when the first hit is (within 2 cm) the point.
        seen[
            np.flatnonzero(inside)[hit * np.linalg.norm(directions, axis=1) > np.linalg.norm(directions, axis=1) - 0.02]
        ] = True
    return seen


def run_method(args) -> dict:
    """One method in this process; returns timings, peak RSS and scores."""
    import torch

    torch.set_num_threads(args.threads)
    from worldgen_sim.artifacts import AlignedScene
    from worldgen_sim.samples import make_sample_room

    room = make_sample_room(spacing=args.spacing)
    cloud = room.gaussians
    truth = room.surface_points(spacing=0.02)
    # Recall counts only the true surfaces the default views see (what any fusion of them could recover).
    seen = _seen_truth(room, truth, views=args.views, width=args.width, height=args.height)
    result = {"method": args.method, "gaussians": len(cloud)}
    if args.method in ("surface", "surface-render"):
        from worldgen_sim.progress import Progress
        from worldgen_sim.surface.surface import extract_surface
        from worldgen_sim.surface.surface_cfg import SurfaceCfg

        cfg = SurfaceCfg(num_views=args.views, image_width=args.width, image_height=args.height)
        if args.method == "surface-render":
            cfg.depth_source = "render"  # the Gaussian rasteriser (render.py) instead of the default
        scene = AlignedScene(np.eye(4), 1.0, gaussians=cloud)
        _reset_peak_rss()
        start, cpu_start = time.perf_counter(), time.process_time()
        progress = Progress(quiet=True)
        surface = extract_surface(scene, cfg=cfg, progress=progress)
        result["seconds"] = time.perf_counter() - start
        result["cpu_seconds"] = time.process_time() - cpu_start
        result["peak_rss_gb"] = _peak_rss_gb()
        result["steps"] = {k.removeprefix("surface: "): v for k, v in progress.timings.items() if k != "surface"}
        result["views_used"] = surface.report["views_used"]
        mesh = surface.mesh
        vertices, faces = mesh.vertices, mesh.faces
    else:
        import open3d as o3d

        rng = np.random.default_rng(0)
        keep = rng.choice(len(cloud), size=min(args.reference_points, len(cloud)), replace=False)
        _reset_peak_rss()
        start, cpu_start = time.perf_counter(), time.process_time()
        q = cloud.rotations[keep].astype(np.float64)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        w, x, y, z = q.T
        # Rotation matrix columns; the normal is the column of the smallest scale.
        columns = np.stack([
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], 1),
            np.stack([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], 1),
            np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], 1),
        ], axis=1)  # fmt: skip
        shortest = np.argmin(cloud.scales[keep], axis=1)
        normals = columns[np.arange(keep.size), shortest]
        # Orient normals toward the room's centre at eye height (inward-facing shell).
        inward = np.array([0.0, 0.0, 1.3]) - cloud.positions[keep]
        normals *= np.sign(np.sum(normals * inward, axis=1, keepdims=True) + 1e-12)
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.positions[keep].astype(np.float64)))
        pcd.normals = o3d.utility.Vector3dVector(normals)
        mesh, density = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(pcd, depth=args.poisson_depth)
        density = np.asarray(density)
        mesh.remove_vertices_by_mask(density < np.quantile(density, 0.05))
        result["seconds"] = time.perf_counter() - start
        result["cpu_seconds"] = time.process_time() - cpu_start
        result["peak_rss_gb"] = _peak_rss_gb()
        vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.triangles)
        result["reference_points"] = int(keep.size)
    result["faces"] = int(faces.shape[0])
    result.update(_score(vertices, faces, room.ground_truth_mesh(), truth, seen))
    result["seen_fraction"] = float(seen.mean())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, default=0.0114, help="Gaussian spacing [m]; 0.0114 gives ~1M")
    parser.add_argument("--views", type=int, default=48)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference-points", type=int, default=300_000)
    parser.add_argument("--poisson-depth", type=int, default=9)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--with-render", action="store_true", help="also time depth_source='render' (slow on CPU)")
    parser.add_argument("--method", choices=("surface", "surface-render", "poisson"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:  # child process
        print("RESULT " + json.dumps(run_method(args)))
        return

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    passthrough = sys.argv[1:]
    results = {}
    methods = ("surface",) + (("surface-render",) if args.with_render else ())
    for method in methods + (() if args.skip_reference else ("poisson",)):
        proc = subprocess.run([sys.executable, __file__, *passthrough, "--method", method],
                              check=False, capture_output=True, text=True, env=env)  # fmt: skip
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{method} failed:\n{proc.stdout}\n{proc.stderr}")
        results[method] = json.loads(line[len("RESULT ") :])
        r = results[method]
        print(f"{method:14s} {r['seconds']:7.1f} s wall ({r['cpu_seconds']:.1f} s CPU)  "
              f"peak {r['peak_rss_gb']:.2f} GB  faces {r['faces']:>8d}  "
              f"F@2cm {r['F@2cm']:.3f} (P {r['P@2cm']:.3f} R {r['R@2cm']:.3f})  F@5cm {r['F@5cm']:.3f}  "
              f"acc p95 {100 * r['accuracy_p95_m']:.2f} cm  "
              + (f"steps {r['steps']}" if "steps" in r else f"({r['reference_points']} points)"))  # fmt: skip
    print(
        f"gaussians: {results['surface']['gaussians']}, threads: {args.threads}, "
        f"views: {args.views} at {args.width}x{args.height}"
    )
    if "poisson" in results:
        s, p = results["surface"], results["poisson"]
        print(
            f"ratios surface/poisson: time {s['seconds'] / p['seconds']:.2f}x, peak RSS "
            f"{s['peak_rss_gb'] / p['peak_rss_gb']:.2f}x, F@2cm {s['F@2cm'] / max(p['F@2cm'], 1e-9):.2f}x, "
            f"acc p95 {s['accuracy_p95_m'] / p['accuracy_p95_m']:.2f}x"
        )
    budget = results["surface"]
    print(
        f"targets (2-core CPU): <= 60 s -> {'met' if budget['seconds'] <= 60 else 'NOT met'}, "
        f"<= 6 GB -> {'met' if budget['peak_rss_gb'] <= 6 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()

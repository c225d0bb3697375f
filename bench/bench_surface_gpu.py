"""Benchmark the surface stage's TSDF fusion backends, on a CUDA GPU or on the CPU.

Builds the 1M-Gaussian furnished sample room and runs :func:`extract_surface`
with each requested configuration ``--repeats`` times (the first run on a GPU
includes gsplat's one-off CUDA compile; the last run is the warm number),
printing the stage's split (render, fusion, cleanup) and total wall time, and
the mesh's precision / recall / F-score at 2 and 5 cm against the room's true
surfaces (KD-tree distances between 1M area-weighted mesh samples and true
surface points 1 cm apart; recall is over every true surface, seen or not, so
it is a comparison between methods, not an absolute number).

    # GPU: gsplat depth + torch fusion on CUDA, reference: torch fusion on the CPU of the same machine
    python bench/bench_surface_gpu.py --device cuda
    # CPU: z-buffer depth, open3d fusion (reference) vs torch fusion
    python bench/bench_surface_gpu.py --device cpu --threads 2
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def score(mesh, truth_tree, truth_count: int, *, samples: int = 1_000_000) -> dict:
    """Precision / recall / F at 2 and 5 cm of a mesh against true surface points (KD-tree distances)."""
    from scipy.spatial import cKDTree

    points = mesh.sample_surface(samples)
    to_truth = truth_tree.query(points, workers=-1)[0]
    to_mesh = cKDTree(points).query(truth_tree.data, workers=-1)[0]
    out = {"faces": int(mesh.faces.shape[0]), "acc_p95_cm": 100 * float(np.percentile(to_truth, 95))}
    for d in (0.02, 0.05):
        p, r = float(np.mean(to_truth < d)), float(np.mean(to_mesh < d))
        out[f"F@{int(d * 100)}cm"] = 2 * p * r / max(p + r, 1e-12)
        out[f"P@{int(d * 100)}cm"], out[f"R@{int(d * 100)}cm"] = p, r
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--spacing", type=float, default=0.0114, help="Gaussian spacing [m]; 0.0114 gives ~1M")
    parser.add_argument("--views", type=int, default=48)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()

    import torch
    from scipy.spatial import cKDTree

    from worldgen_sim.artifacts import AlignedScene
    from worldgen_sim.progress import Progress
    from worldgen_sim.samples import make_sample_room
    from worldgen_sim.surface import surface as surface_module
    from worldgen_sim.surface.surface import extract_surface
    from worldgen_sim.surface.surface_cfg import SurfaceCfg

    if args.threads:
        torch.set_num_threads(args.threads)
    room = make_sample_room(spacing=args.spacing)
    scene = AlignedScene(np.eye(4), 1.0, gaussians=room.gaussians)
    truth = room.surface_points(spacing=0.01)
    truth_tree = cKDTree(truth)
    common = {"num_views": args.views, "image_width": args.width, "image_height": args.height}
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch.cuda.is_available() is False")
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
        runs = [("gsplat+torch:cuda", SurfaceCfg(renderer="gsplat", depth_source="render", fusion="torch", **common))]
        if not args.skip_reference:
            # Reference in the same run: the same depth, fused by torch on this machine's CPU.
            runs.append(("gsplat+torch:cpu", "cpu"))
    else:
        print(f"device: CPU, {torch.get_num_threads()} torch threads")
        runs = [("zbuffer+open3d", SurfaceCfg(depth_source="zbuffer", fusion="open3d", **common))]
        runs.append(("zbuffer+torch:cpu", SurfaceCfg(depth_source="zbuffer", fusion="torch", **common)))
    print(f"gaussians: {len(room.gaussians)}, views: {args.views} at {args.width}x{args.height}")

    results = {}
    for name, cfg in runs:
        repeats = args.repeats
        if cfg == "cpu":  # torch fusion forced onto the CPU while CUDA is visible
            cfg = SurfaceCfg(renderer="gsplat", depth_source="render", fusion="torch", **common)
            original = surface_module._fusion_backend
            surface_module._fusion_backend = lambda _cfg: ("torch", "cpu")
            repeats = 1
        try:
            for repeat in range(repeats):
                if args.device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                progress = Progress(quiet=True)
                result = extract_surface(scene, cfg=cfg, progress=progress)
                total = time.perf_counter() - start
                seconds = {k.removeprefix("surface: "): v for k, v in progress.timings.items()}
                print(
                    f"{name:20s} run {repeat + 1}: total {total:7.2f} s  render {seconds['depth']:6.2f}  "
                    f"fusion {seconds['fusion']:6.2f}  cleanup {seconds['cleanup']:6.2f}  "
                    f"({result.report.get('fusion')}, depth {result.report.get('depth_source')}, "
                    f"{result.report['views_used']} views)",
                    flush=True,
                )
        finally:
            if name.endswith("torch:cpu") and args.device == "cuda":
                surface_module._fusion_backend = original
        quality = score(result.mesh, truth_tree, truth.shape[0])
        results[name] = {"total": total, **seconds, **quality}
        print(
            f"{name:20s} quality: faces {quality['faces']}  F@2cm {quality['F@2cm']:.3f} "
            f"(P {quality['P@2cm']:.3f} R {quality['R@2cm']:.3f})  F@5cm {quality['F@5cm']:.3f}  "
            f"acc p95 {quality['acc_p95_cm']:.2f} cm",
            flush=True,
        )
    names = list(results)
    if len(names) == 2:
        a, b = results[names[0]], results[names[1]]
        print(
            f"{names[0]} vs {names[1]}: fusion {a['fusion']:.2f} s vs {b['fusion']:.2f} s "
            f"({b['fusion'] / max(a['fusion'], 1e-9):.2f}x), F@2cm {a['F@2cm']:.3f} vs {b['F@2cm']:.3f}"
        )
    if args.device == "cuda":
        warm = results[names[0]]["total"]
        print(f"target: 1M-Gaussian room surface stage on a CUDA GPU <= 10 s -> {warm:.2f} s warm, "
              f"{'met' if warm <= 10 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()

"""Benchmark the Gaussian renderer on the sample room (about 1 M Gaussians by default).

Prints, in one run:
- a machine-speed probe (ms for a 1 M-element float32 multiply), so numbers taken on a
  busy shared machine can be put in proportion;
- CPU renderer throughput for N views at W x H: the warp compositor (default) and the
  torch compositor (on a few views), wall and process-CPU seconds;
- the naive reference: unbinned dense composite (every Gaussian x every pixel) of one
  view on a random subset of the visible Gaussians, against the binned renderer on the
  same subset: time ratio and max difference;
- gsplat timings and CPU-vs-gsplat differences when a CUDA GPU and gsplat are present.

Usage: python bench/bench_render.py [--views 32] [--spacing 0.0114] [--width 320] [--height 240]
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np


def ring_cameras(room, views: int, width: int, height: int, fov_deg: float = 90.0):
    """The room's own camera plus cameras on a small ring looking outward and slightly down."""
    from worldgen_sim.artifacts import CameraPath

    focal = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
    intrinsics = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)
    poses = [room.camera_to_world]
    for i in range(views - 1):
        yaw = 2 * np.pi * i / max(1, views - 1)
        forward = np.array([np.sin(yaw), np.cos(yaw), -0.3])
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        pose = np.eye(4)
        pose[:3, :3] = np.column_stack([right, np.cross(forward, right), forward])
        pose[:3, 3] = (0.4 * np.cos(yaw), 0.4 * np.sin(yaw), 1.3 + 0.2 * np.sin(3 * yaw))
        poses.append(pose)
    return CameraPath(np.repeat(intrinsics[None], views, 0), np.stack(poses), width, height)


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=32)
    parser.add_argument("--spacing", type=float, default=0.0114)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--torch-views", type=int, default=4, help="views timed with the torch compositor")
    parser.add_argument("--dense-fraction", type=float, default=0.005,
                        help="visible Gaussians kept for the dense check")
    parser.add_argument("--skip-cpu", action="store_true", help="only gsplat (GPU machines)")
    parser.add_argument("--skip-gpu", action="store_true", help="no gsplat even where CUDA exists")
    parser.add_argument("--compositor", default="auto", choices=("auto", "warp", "torch"),
                        help="CPU compositor for the main timing (auto: warp when installed)")
    args = parser.parse_args()

    import torch

    from worldgen_sim.artifacts import CameraPath
    from worldgen_sim.samples import make_sample_room
    from worldgen_sim.surface import render_cpu, render_project
    from worldgen_sim.surface.render import cuda_available, render_gaussians

    probe = torch.rand(1_000_000)
    start = time.perf_counter()
    for _ in range(50):
        probe * 1.5
    print(f"machine probe: {1000 * (time.perf_counter() - start) / 50:.2f} ms per 1M-element multiply, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    room, seconds, _ = timed(lambda: make_sample_room(spacing=args.spacing))
    cloud = room.gaussians
    cameras = ring_cameras(room, args.views, args.width, args.height)
    print(f"scene: {len(cloud):,} Gaussians (spacing {args.spacing} m, built in {seconds:.1f} s); "
          f"{args.views} views at {args.width}x{args.height}")

    if not args.skip_cpu:
        render_gaussians(cloud, ring_cameras(room, 1, 32, 24), backend="cpu")  # warm-up: warp kernel compile/load
        compositor = args.compositor
        if compositor == "auto":
            compositor = "warp" if importlib.util.find_spec("warp") else "torch"
        cpu, wall, cpu_seconds = timed(lambda: render_gaussians(cloud, cameras, backend="cpu", compositor=compositor))
        print(f"cpu/{compositor}: {wall:6.2f} s wall, {cpu_seconds:6.2f} s CPU for {args.views} views "
              f"= {wall / args.views:.3f} s/view; mean alpha {cpu.alpha.mean():.3f}")
        subset = CameraPath(cameras.intrinsics[: args.torch_views], cameras.cam_to_world[: args.torch_views],
                            cameras.width, cameras.height)
        if compositor == "warp" and args.torch_views > 0:
            reference, wall_t, cpu_t = timed(lambda: render_gaussians(cloud, subset, backend="cpu", compositor="torch"))
            same = np.abs(reference.depth_expected - cpu.depth_expected[: args.torch_views]).max()
            print(f"cpu/torch: {wall_t:6.2f} s wall, {cpu_t:6.2f} s CPU for {args.torch_views} views "
                  f"= {wall_t / args.torch_views:.3f} s/view (warp is "
                  f"{wall_t / args.torch_views / (wall / args.views):.1f}x faster per view); "
                  f"max |depth diff| torch vs warp {same:.2e} m")

        # Naive reference: unbinned dense composite on a random subset of one view's Gaussians.
        prep = render_project.prepare_cloud(cloud)
        world_to_camera = np.linalg.inv(cameras.cam_to_world[0])
        projected = render_project.project_view(prep, world_to_camera, cameras.intrinsics[0], width=args.width,
                                            height=args.height, near=0.05, far=100.0, tile_size=8)
        rng = np.random.default_rng(0)
        keep = torch.as_tensor(np.sort(rng.choice(projected.attributes.shape[0],
                                                  max(1, int(args.dense_fraction * projected.attributes.shape[0])),
                                                  replace=False)))
        small = render_project.Projected(projected.attributes[keep], projected.tile_lo[keep], projected.tile_hi[keep])
        dense, wall_d, _ = timed(lambda: render_cpu.composite_dense(small, width=args.width, height=args.height))
        binned, wall_b, _ = timed(lambda: render_cpu.rasterize_batch([small], width=args.width, height=args.height,
                                                                      tile_size=8, compositor=compositor))
        diff = max(float((b[0] - d).abs().max()) for b, d in zip(binned, dense))
        print(f"naive dense reference on {keep.numel():,} of {projected.attributes.shape[0]:,} visible Gaussians: "
              f"dense {wall_d:.2f} s vs binned {wall_b:.3f} s -> {wall_d / max(wall_b, 1e-9):.0f}x; "
              f"max diff {diff:.2e}")

    ok, reason = cuda_available()
    if args.skip_gpu:
        ok, reason = False, "--skip-gpu"
    if not ok:
        print(f"gsplat: skipped ({reason})")
        return
    render_gaussians(cloud, ring_cameras(room, 2, args.width, args.height), backend="gsplat")  # warm-up / JIT
    torch.cuda.synchronize()
    gpu, wall_g, _ = timed(lambda: render_gaussians(cloud, cameras, backend="gsplat"))
    print(f"gsplat ({torch.cuda.get_device_name(0)}): {wall_g:.2f} s for {args.views} views "
          f"= {wall_g / args.views:.4f} s/view (incl. torch-on-GPU depths and host copies)")
    gsplat_only(cloud, cameras)
    torch_gpu(cloud, cameras)
    if not args.skip_cpu:
        both = (cpu.alpha > 0.5) & (gpu.alpha > 0.5)
        print(f"cpu vs gsplat: mean |colour| {np.abs(cpu.color - gpu.color).mean():.2e}, "
              f"mean |alpha| {np.abs(cpu.alpha - gpu.alpha).mean():.2e}, "
              f"mean |depth_expected| {np.abs(cpu.depth_expected - gpu.depth_expected)[both].mean():.2e} m, "
              f"normals agreeing (cos > 0.99) {(np.sum(cpu.normals * gpu.normals, -1)[both] > 0.99).mean():.4f}")


def gsplat_only(cloud, cameras) -> None:
    """Time gsplat.rasterization alone (RGB + normals as colours, all views in one call)."""
    import gsplat
    import torch

    from worldgen_sim.surface.render_project import eval_sh, oriented_normals, prepare_cloud

    prep = prepare_cloud(cloud, device="cuda")
    viewmats = torch.as_tensor(np.linalg.inv(cameras.cam_to_world), dtype=torch.float32, device="cuda")
    intrinsics = torch.as_tensor(cameras.intrinsics, dtype=torch.float32, device="cuda")
    centers = viewmats.inverse()[:, :3, 3]
    channels = torch.stack([torch.cat([eval_sh(prep.sh, prep.means - c),
                                       oriented_normals(prep.normals, prep.means, c)], 1)
                            for c in centers])
    for label in ("warm", "timed"):
        torch.cuda.synchronize()
        start = time.perf_counter()
        gsplat.rasterization(prep.means, prep.quats, prep.scales, prep.opacities, channels, viewmats, intrinsics,
                             cameras.width, cameras.height, near_plane=0.05, far_plane=100.0, packed=False,
                             render_mode="RGB+ED")
        torch.cuda.synchronize()
        if label == "timed":
            seconds = time.perf_counter() - start
            print(f"gsplat.rasterization alone: {seconds * 1000:.1f} ms for {len(cameras)} views "
                  f"= {seconds * 1000 / len(cameras):.2f} ms/view")


def torch_gpu(cloud, cameras) -> None:
    """Time the torch reference compositor on the GPU (what the gsplat backend uses for depths)."""
    import torch

    from worldgen_sim.surface.render_cpu import render_views
    from worldgen_sim.surface.render_project import prepare_cloud

    prep = prepare_cloud(cloud, device="cuda")
    render_views(prep, cameras, near=0.05, far=100.0, tile_size=16, batch_views=8)
    torch.cuda.synchronize()
    start = time.perf_counter()
    render_views(prep, cameras, near=0.05, far=100.0, tile_size=16, batch_views=8)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"torch compositor on GPU: {seconds:.2f} s for {len(cameras)} views = {seconds / len(cameras):.3f} s/view")


if __name__ == "__main__":
    main()

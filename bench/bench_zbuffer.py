"""Benchmark the z-buffer depth source (the CPU's default): front-surface mean vs nearest fragment.

On the realistic scenes with ground (worldgen_sim.scenes: rolling terrain with its
input camera path, stairs + platform + ramp with automatically placed views), in
their true frame, this times :func:`zbuffer_depth_maps` two ways on the same views
in the same run:

* ``front``: the default, the weighted mean of each pixel's front surface (fragments
  within ``DEPTH_BAND`` of the nearest, re-centred);
* ``nearest``: the reference, the nearest fragment alone (``band=0``).

Each depth image is judged against the evidence of the analytic ground: its pixels
are lifted to 3-D and their height above the true ground is taken where it is within
10 cm (the ground, not a rock standing on it). Printed per scene: seconds per view,
the ratio, and the median and robust spread (1.4826 MAD) of that height [mm] --
a median away from 0 is a bias the fused mesh inherits. Then the fused mesh
(open3d, the stage's defaults) of the front depth is timed, for scale.

    python bench/bench_zbuffer.py [--scenes terrain stairs] [--views 48] [--width 320 --height 240]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _heights_above_ground(scene, depths: np.ndarray, cameras) -> np.ndarray:
    """Heights [m] of every depth pixel above the scene's true ground, where within 10 cm of it."""
    heights = []
    for depth, k, pose in zip(depths, cameras.intrinsics, cameras.cam_to_world):
        v, u = np.nonzero(depth > 0)
        z = depth[v, u].astype(np.float64)
        cam = np.column_stack([(u - k[0, 2]) / k[0, 0] * z, (v - k[1, 2]) / k[1, 1] * z, z])
        world = cam @ pose[:3, :3].T + pose[:3, 3]
        above = world[:, 2] - scene.ground_height(world[:, :2])
        heights.append(above[np.isfinite(above) & (np.abs(above) < 0.1)])
    return np.concatenate(heights)


def _cameras(scene, *, views: int, width: int, height: int):
    from worldgen_sim.surface.views import place_views, rescale_cameras

    if scene.write_cameras:  # the capture's own path, as the stage renders it
        return rescale_cameras(scene.cameras, width=width, max_views=views), "input cameras"
    return place_views(scene.gaussians, num_views=views, width=width, height=height, fov_deg=90.0), "auto views"


def measure(name: str, *, views: int, width: int, height: int) -> None:
    from worldgen_sim.scenes import make_scene
    from worldgen_sim.surface.fusion import fuse_depth_frames
    from worldgen_sim.surface.zbuffer import DEPTH_BAND, zbuffer_depth_maps

    scene = make_scene(name)
    cameras, source = _cameras(scene, views=views, width=width, height=height)
    options = {"min_opacity": 0.5, "near": 0.05, "far": 8.0}
    rows = {}
    for label, band in (("nearest", 0.0), ("front", DEPTH_BAND)):
        start = time.perf_counter()
        depths, colors = zbuffer_depth_maps(scene.gaussians, cameras, band=band, **options)
        seconds = time.perf_counter() - start
        heights = _heights_above_ground(scene, depths, cameras)
        spread = 1.4826 * np.median(np.abs(heights - np.median(heights)))
        rows[label] = (seconds, float(np.median(heights)), float(spread), depths, colors)
    print(f"\n{name}: {len(scene.gaussians):,} Gaussians, {len(cameras)} {source} at {cameras.width}x{cameras.height}")
    for label, (seconds, median, spread, _, _) in rows.items():
        print(f"  {label:<8} {seconds / len(cameras):6.3f} s/view   height above true ground: "
              f"median {1000 * median:+6.1f} mm, spread {1000 * spread:5.1f} mm")
    print(f"  front / nearest time: {rows['front'][0] / rows['nearest'][0]:.2f}x")
    start = time.perf_counter()
    mesh = fuse_depth_frames(rows["front"][3], rows["front"][4], cameras, voxel_size=0.02, truncation_voxels=4.0,
                             max_depth=8.0)
    print(f"  (open3d fusion of the front depth: {time.perf_counter() - start:.1f} s, {len(mesh.faces):,} faces)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="+", default=["terrain", "stairs"])
    parser.add_argument("--views", type=int, default=48)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    args = parser.parse_args()
    for name in args.scenes:
        measure(name, views=args.views, width=args.width, height=args.height)


if __name__ == "__main__":
    main()

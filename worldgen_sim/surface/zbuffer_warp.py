"""The z-buffer of :mod:`worldgen_sim.surface.zbuffer` as a compiled warp kernel: the CPU's fast path.

The torch z-buffer expands every disc into a tensor of fragments (up to 217 per
Gaussian) and then gathers a dozen per-Gaussian values per fragment, in some sixty torch
operations per view. On a 15k-Gaussian vegetation tile, 48 views at 320x240 (2-core
machine shared with other jobs, 2026-12-05): 1.45 s CPU with one torch thread, but
15-36 s CPU and 14-50 s wall with torch's default two, each parallel region waiting for
its second thread to be scheduled. Here each Gaussian is one thread of a compiled kernel
that walks its own disc in registers, so no fragment is ever stored (0.5 s CPU, same
machine):

1. pass ``NEAREST``: each fragment lowers its pixel's nearest depth (atomic min);
2. pass ``FIRST``: fragments within ``band`` of the nearest add their weight, weighted
   depth and colour to the pixel's first window;
3. pass ``FRONT``: fragments within half a band of the first window's mean add to the
   re-centred window (the front surface);

then one thread per pixel divides its window's sums out into depth and colour. The sums
live in buffers of a few views at a time (a span), not of all views.

The fragment geometry (pixel, plane depth, surfel footprint, weight) is exactly the torch
one's, in float32, so the images agree with it to float rounding (tested); the sums only
run in another order. A warp CPU launch runs its threads one after another, so the atomic
sums are deterministic; views are split over torch's CPU threads, each launch writing its
own views only, so the split does not change a result either.
"""

from __future__ import annotations

import functools
import itertools
import logging
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np

from worldgen_sim.progress import Progress

__all__ = ["zbuffer_warp"]

NEAREST, FIRST, FRONT = 0, 1, 2
"""The three passes over the fragments (see the module docstring)."""
SPAN_BYTES = 64 * 2**20
"""Views are z-buffered in spans whose per-pixel sums take at most about this much memory [bytes]."""


def zbuffer_warp(discs: dict, world_to_cam: np.ndarray, intrinsics: np.ndarray, *, width: int, height: int,
                 near: float, far: float, max_radius_px: int, band: float,
                 progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Front-surface depth and colour of M views (the z-buffer's rule, compiled).

    Args:
        discs: the opaque Gaussians as prepared by ``zbuffer._prepare_discs`` (torch CPU tensors:
            positions (G, 3) [m], radius/reach (G,) [m], sigma (G,) [m], opacity (G,), colors (G, 3),
            normals (G, 3), flat (G,) bool).
        world_to_cam: (M, 4, 4) world-to-camera transforms (OpenCV camera frame).
        intrinsics: (M, 4) fx, fy, cx, cy [px] (pixel centres at integer coordinates).
        width: image width [px].
        height: image height [px].
        near: nearer centres are skipped [m].
        far: farther centres are skipped [m].
        max_radius_px: the largest disc radius drawn [px].
        band: depth range of a pixel's front surface behind its nearest fragment [m]; 0: nearest only.
        progress: reports views done.

    Returns:
        (M, H, W) float32 depth [m] (0 where nothing is drawn) and (M, H, W, 3) float32 RGB.
    """
    import warp as wp

    from worldgen_sim.runtime import warp_settings

    # warp's start-up banner and module-load lines stay out of the logs.
    with warp_settings(log_level=max(wp.config.log_level, logging.WARNING)):
        return _zbuffer(discs, world_to_cam, intrinsics, width=width, height=height, near=near, far=far,
                        max_radius_px=max_radius_px, band=band, progress=progress)


def _zbuffer(discs, world_to_cam, intrinsics, *, width, height, near, far, max_radius_px, band, progress):
    import torch
    import warp as wp

    splat, resolve = _warp_kernels()
    views, pixels, count = len(world_to_cam), width * height, int(discs["positions"].shape[0])
    # numpy, not torch, for the buffers: on a busy machine each of torch's parallel fills waits for its
    # second thread to be scheduled (~10 ms each under load 8 on 2 cores, measured).
    depth = np.zeros((views, pixels), np.float32)
    image = np.zeros((views, pixels, 3), np.float32)
    gaussians = [
        wp.from_torch(discs["positions"].contiguous(), dtype=wp.vec3),
        wp.from_torch(discs["normals"].contiguous(), dtype=wp.vec3),
        wp.from_torch(discs["colors"].contiguous(), dtype=wp.vec3),
        wp.from_torch(discs["radius"].contiguous()),
        wp.from_torch(discs["sigma"].contiguous()),
        wp.from_torch(discs["opacity"].contiguous()),
        wp.array(discs["flat"].numpy().astype(np.int32), dtype=wp.int32, device="cpu"),
    ]
    camera = [wp.array(np.ascontiguousarray(world_to_cam, np.float32), dtype=wp.mat44, device="cpu"),
              wp.array(np.ascontiguousarray(intrinsics, np.float32), dtype=wp.vec4, device="cpu")]
    outputs = [_wrap(depth), _wrap(image)]
    passes = (NEAREST, FIRST) if band <= 0 else (NEAREST, FIRST, FRONT)

    def launch(span):
        first_view, span_views = span[0], span[1] - span[0]
        # The span's own buffers (a few views): per pixel the nearest depth, then [weight, weight * depth,
        # weight * r, g, b] of the first window and of the front window.
        buffers = [_wrap(np.full((span_views, pixels), np.inf, np.float32)),
                   _wrap(np.zeros((span_views, pixels, 5), np.float32)),
                   _wrap(np.zeros((span_views, pixels, 5), np.float32))]
        for mode in passes:  # each pass needs the previous one complete for its views
            wp.launch(splat, dim=span_views * count, device="cpu",
                      inputs=[*gaussians, *camera, *buffers, first_view, count, width, height, float(near),
                              float(far), int(max_radius_px), float(band), mode])
        wp.launch(resolve, dim=span_views * pixels, device="cpu",
                  inputs=[*buffers, first_view, pixels, int(band > 0)], outputs=outputs)
        return span_views

    # A warp CPU launch runs on one core but releases the GIL: split the views over torch's threads, in
    # spans whose buffers (11 floats a pixel) stay under SPAN_BYTES.
    workers = min(max(1, torch.get_num_threads()), views)
    parts = max(4 * workers, -(-views * pixels * 44 // SPAN_BYTES))
    bounds = np.linspace(0, views, min(views, parts) + 1).astype(np.int64)
    spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in as_completed([pool.submit(launch, span) for span in spans]):
            done += future.result()
            if progress is not None:  # from this thread only
                progress.step(done, views, "z-buffer depth")
    wp.synchronize_device("cpu")
    return depth.reshape(views, height, width), image.reshape(views, height, width, 3)


def _wrap(array: np.ndarray):
    """A warp CPU array over a numpy array's memory (no copy): the kernels write into it in place."""
    import warp as wp

    return wp.array(array, dtype=wp.float32, device="cpu", copy=False)


@functools.cache
def _warp_kernels():
    """Build (once) the warp kernels (splat: the fragment passes; resolve: each pixel's front surface from
    its sums); warp is imported only when they are used."""
    from worldgen_sim.runtime import init_warp

    wp = init_warp()  # CPU kernels: no "CUDA driver not found" line on a machine without one

    @wp.kernel(enable_backward=False)
    def splat(
        positions: wp.array(dtype=wp.vec3),
        normals: wp.array(dtype=wp.vec3),
        colors: wp.array(dtype=wp.vec3),
        reach_of: wp.array(dtype=wp.float32),
        sigma_of: wp.array(dtype=wp.float32),
        opacity_of: wp.array(dtype=wp.float32),
        flat_of: wp.array(dtype=wp.int32),
        world_to_cam: wp.array(dtype=wp.mat44),
        intrinsics: wp.array(dtype=wp.vec4),
        nearest: wp.array2d(dtype=wp.float32),
        first: wp.array3d(dtype=wp.float32),
        front: wp.array3d(dtype=wp.float32),
        first_view: int,
        count: int,
        width: int,
        height: int,
        near: float,
        far: float,
        max_radius_px: int,
        band: float,
        mode: int,
    ):
        thread = wp.tid()
        view = thread // count  # in the span's buffers; first_view + view in the cameras
        g = thread - view * count
        m = world_to_cam[first_view + view]
        p = positions[g]
        cx_ = m[0, 0] * p[0] + m[0, 1] * p[1] + m[0, 2] * p[2] + m[0, 3]
        cy_ = m[1, 0] * p[0] + m[1, 1] * p[1] + m[1, 2] * p[2] + m[1, 3]
        cz = m[2, 0] * p[0] + m[2, 1] * p[1] + m[2, 2] * p[2] + m[2, 3]
        if cz <= near or cz >= far:
            return
        k = intrinsics[first_view + view]
        fx = k[0]
        fy = k[1]
        px0 = k[2]
        py0 = k[3]
        reach = reach_of[g]
        u = int(wp.rint(fx * cx_ / cz + px0))
        v = int(wp.rint(fy * cy_ / cz + py0))
        r = int(wp.clamp(wp.ceil(reach * fx / cz - 0.5), 0.0, float(max_radius_px)))
        # Frustum culling before the disc is walked: most centres in front of a 90 deg view are outside it.
        if u < -r or u >= width + r or v < -r or v >= height + r:
            return
        n = normals[g]
        nx = m[0, 0] * n[0] + m[0, 1] * n[1] + m[0, 2] * n[2]
        ny = m[1, 0] * n[0] + m[1, 1] * n[1] + m[1, 2] * n[2]
        nz = m[2, 0] * n[0] + m[2, 1] * n[1] + m[2, 2] * n[2]
        plane_offset = nx * cx_ + ny * cy_ + nz * cz
        flat = flat_of[g]
        sigma = sigma_of[g]
        inverse_var = 1.0 / wp.max(sigma * sigma, 1.0e-12)
        opacity = opacity_of[g]
        color = colors[g]
        limit = r * r + r
        for dy in range(-r, r + 1):
            pv = v + dy
            if pv < 0 or pv >= height:
                continue
            ry = (float(pv) - py0) / fy
            for dx in range(-r, r + 1):
                pu = u + dx
                if dy * dy + dx * dx > limit or pu < 0 or pu >= width:
                    continue
                # Ray through the pixel, z = 1: depth where it meets the Gaussian's plane, n . (t d) = n . p.
                rx = (float(pu) - px0) / fx
                dot = nx * rx + ny * ry + nz
                if wp.abs(dot) <= 1.0e-6:
                    dot = 1.0e-6
                z = plane_offset / dot
                if not wp.isfinite(z) or z <= 0.0:
                    z = cz
                z = wp.min(wp.max(z, cz - reach), cz + reach)
                ox = rx * z - cx_
                oy = ry * z - cy_
                oz = z - cz
                off_centre = ox * ox + oy * oy + oz * oz  # squared distance on the plane [m^2]
                if flat != 0 and off_centre > reach * reach:
                    continue
                pixel = pv * width + pu
                if mode == 0:
                    wp.atomic_min(nearest, view, pixel, z)
                    continue
                # A weight that underflows would drop a lone fragment's pixel: keep a floor.
                weight = wp.max(opacity * wp.exp(-0.5 * off_centre * inverse_var), 1.0e-12)
                if mode == 1:
                    if z > nearest[view, pixel] + band:
                        continue
                    wp.atomic_add(first, view, pixel, 0, weight)
                    wp.atomic_add(first, view, pixel, 1, weight * z)
                    wp.atomic_add(first, view, pixel, 2, weight * color[0])
                    wp.atomic_add(first, view, pixel, 3, weight * color[1])
                    wp.atomic_add(first, view, pixel, 4, weight * color[2])
                else:
                    mean = first[view, pixel, 1] / wp.max(first[view, pixel, 0], 1.0e-30)
                    if wp.abs(z - mean) > 0.5 * band:
                        continue
                    wp.atomic_add(front, view, pixel, 0, weight)
                    wp.atomic_add(front, view, pixel, 1, weight * z)
                    wp.atomic_add(front, view, pixel, 2, weight * color[0])
                    wp.atomic_add(front, view, pixel, 3, weight * color[1])
                    wp.atomic_add(front, view, pixel, 4, weight * color[2])

    @wp.kernel(enable_backward=False)
    def resolve(
        nearest: wp.array2d(dtype=wp.float32),
        first: wp.array3d(dtype=wp.float32),
        front: wp.array3d(dtype=wp.float32),
        first_view: int,
        pixels: int,
        use_front: int,
        depth: wp.array2d(dtype=wp.float32),
        image: wp.array3d(dtype=wp.float32),
    ):
        thread = wp.tid()
        view = thread // pixels
        pixel = thread - view * pixels
        if not wp.isfinite(nearest[view, pixel]):
            return  # nothing drawn: depth 0, black
        # The front window's weighted mean; a pixel whose re-centred window is empty keeps its first window.
        w = first[view, pixel, 0]
        z = first[view, pixel, 1]
        r = first[view, pixel, 2]
        g = first[view, pixel, 3]
        b = first[view, pixel, 4]
        if use_front != 0 and front[view, pixel, 0] > 0.0:
            w = front[view, pixel, 0]
            z = front[view, pixel, 1]
            r = front[view, pixel, 2]
            g = front[view, pixel, 3]
            b = front[view, pixel, 4]
        inverse = 1.0 / wp.max(w, 1.0e-30)
        depth[first_view + view, pixel] = z * inverse
        image[first_view + view, pixel, 0] = r * inverse
        image[first_view + view, pixel, 1] = g * inverse
        image[first_view + view, pixel, 2] = b * inverse

    return splat, resolve

"""The warp compositor of the CPU rasteriser: gsplat's per-pixel compositing loop, compiled.

Split from :mod:`worldgen_sim.surface.render_cpu` (which bins and sorts) so that
warp is imported only when this compositor is chosen. It produces the same
features as the torch compositor there, within 1e-4 (tested).
"""

from __future__ import annotations

import functools
import itertools
import logging

import numpy as np

from worldgen_sim.surface.render_project import FEATURES


def composite_warp(attributes, owners, tile_start, counts, *, views, width, height, tile_size):
    """Front-to-back compositing in warp (see :func:`_composite`); warp's log level is raised to
    WARNING for the call (its start-up banner and module-load lines stay out of the logs) and put back."""
    import warp as wp

    from worldgen_sim.runtime import warp_settings

    with warp_settings(log_level=max(wp.config.log_level, logging.WARNING)):
        return _composite(attributes, owners, tile_start, counts, views=views, width=width, height=height,
                          tile_size=tile_size)


def _composite(attributes, owners, tile_start, counts, *, views, width, height, tile_size):
    """Front-to-back compositing as a compiled per-pixel loop (warp, CPU), gsplat's kernel in form.

    Each pixel walks its tile's depth-sorted list and stops at the transmittance cut-off,
    so opaque surfaces cost only the Gaussians in front of them. The attributes are first
    gathered into sorted instance order and threads run tile by tile, so a tile's pixels
    stream through the same contiguous rows.
    """
    import torch
    import warp as wp

    kernel = _warp_kernel()
    table = attributes.index_select(0, owners).contiguous()  # (I, columns) in (tile, depth) order
    pixels = views * height * width
    tiles = counts.shape[0]
    features = torch.zeros(pixels, FEATURES, dtype=torch.float32)
    alpha = torch.zeros(pixels, dtype=torch.float32)
    median = torch.zeros(pixels, dtype=torch.float32)
    arrays = [wp.from_torch(tile_start.to(torch.int32).contiguous()),
              wp.from_torch(counts.to(torch.int32).contiguous()), wp.from_torch(table)]
    outputs = [wp.from_torch(features), wp.from_torch(alpha), wp.from_torch(median)]
    threads = tiles * tile_size * tile_size

    def launch(span):
        wp.launch(kernel, dim=span[1] - span[0], inputs=[*arrays, span[0], width, height, -(-width // tile_size),
                                                          tile_size], outputs=outputs, device="cpu")

    # A warp CPU launch runs on one core but releases the GIL: split the pixels into parts
    # (more parts than workers, for balance) and launch them from torch's number of threads.
    workers = max(1, torch.get_num_threads())
    parts = 1 if workers == 1 else 4 * workers
    bounds = np.linspace(0, threads, parts + 1).astype(np.int64)
    spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    if len(spans) == 1:
        launch(spans[0])
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(launch, spans))
    wp.synchronize_device("cpu")
    return (features.reshape(views, height, width, FEATURES), alpha.reshape(views, height, width),
            median.reshape(views, height, width))


@functools.cache
def _warp_kernel():
    """Build (once) the warp compositing kernel; warp is imported only when it is used."""
    from worldgen_sim.runtime import init_warp

    wp = init_warp()  # CPU kernels: no "CUDA driver not found" line on a machine without one

    @wp.kernel(enable_backward=False, module="unique")
    def composite(
        tile_start: wp.array(dtype=wp.int32),
        tile_count: wp.array(dtype=wp.int32),
        attr: wp.array2d(dtype=wp.float32),
        first_thread: int,
        width: int,
        height: int,
        tiles_x: int,
        tile_size: int,
        features: wp.array2d(dtype=wp.float32),
        alpha_out: wp.array(dtype=wp.float32),
        median_out: wp.array(dtype=wp.float32),
    ):
        thread = wp.tid() + first_thread  # tile-major: a tile's pixels run one after another
        per_tile = tile_size * tile_size
        tile = thread // per_tile
        local = thread - tile * per_tile
        tiles_y = (height + tile_size - 1) // tile_size
        view = tile // (tiles_x * tiles_y)
        in_view = tile - view * tiles_x * tiles_y
        x = (in_view % tiles_x) * tile_size + local % tile_size
        y = (in_view // tiles_x) * tile_size + local // tile_size
        if x >= width or y >= height:
            return
        pixel = view * width * height + y * width + x
        px = float(x) + 0.5
        py = float(y) + 0.5
        transmittance = float(1.0)  # noqa: UP018 (warp: a mutable local)
        median = float(0.0)  # noqa: UP018 (warp: a mutable local)
        r = float(0.0)  # noqa: UP018 (warp: a mutable local)
        g = float(0.0)  # noqa: UP018 (warp: a mutable local)
        b = float(0.0)  # noqa: UP018 (warp: a mutable local)
        d = float(0.0)  # noqa: UP018 (warp: a mutable local)
        nx = float(0.0)  # noqa: UP018 (warp: a mutable local)
        ny = float(0.0)  # noqa: UP018 (warp: a mutable local)
        nz = float(0.0)  # noqa: UP018 (warp: a mutable local)
        first = tile_start[tile]
        for i in range(first, first + tile_count[tile]):
            dx = attr[i, 0] - px
            dy = attr[i, 1] - py
            sigma = 0.5 * (attr[i, 2] * dx * dx + attr[i, 4] * dy * dy) + attr[i, 3] * dx * dy
            if sigma < 0.0:
                continue
            alpha = wp.min(0.999, attr[i, 5] * wp.exp(-sigma))
            if alpha < 0.00392156862745098:
                continue
            next_t = transmittance * (1.0 - alpha)
            if next_t <= 0.0001:
                break
            weight = alpha * transmittance
            inverse_depth = attr[i, 13] * px + attr[i, 14] * py + attr[i, 15]
            depth = attr[i, 9] + attr[i, 16]
            if inverse_depth > 0.0:
                depth = wp.clamp(1.0 / inverse_depth, attr[i, 9] - attr[i, 16], attr[i, 9] + attr[i, 16])
            r += weight * attr[i, 6]
            g += weight * attr[i, 7]
            b += weight * attr[i, 8]
            d += weight * depth
            nx += weight * attr[i, 10]
            ny += weight * attr[i, 11]
            nz += weight * attr[i, 12]
            if transmittance > 0.5 and next_t <= 0.5:
                median = depth
            transmittance = next_t
        features[pixel, 0] = r
        features[pixel, 1] = g
        features[pixel, 2] = b
        features[pixel, 3] = d
        features[pixel, 4] = nx
        features[pixel, 5] = ny
        features[pixel, 6] = nz
        alpha_out[pixel] = 1.0 - transmittance
        median_out[pixel] = median

    return composite

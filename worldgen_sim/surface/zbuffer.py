"""Depth and colour images of Gaussians by z-buffering them as small discs: the CPU's fast depth source.

Rasterising a million Gaussians from dozens of views takes minutes on a CPU; for
fusion only the first surface's depth matters. Each opaque Gaussian becomes a disc
of fragments (pixels), each fragment with the depth where the pixel's ray meets the
Gaussian's plane, and each pixel keeps its *front surface* (see
:func:`_front_surface`): not the single nearest fragment, which on a noisy capture is
the most extreme sample of the surface, but the footprint-weighted mean of the
fragments near it.

Three things keep the depth faithful on slopes, steps and far ground (measured on
the rolling terrain of worldgen_sim.scenes, 12 views, against the analytic ground):

- a flat Gaussian (surfel) covers only the pixels whose ray meets its plane within
  its reach of its centre: its true, elliptic footprint. A round screen-space disc
  leaks over the ground behind it where the surface is seen at a grazing angle,
  4-9 cm too near beyond 4 m;
- the nearest fragment is about two noise sigmas in front of the surface (+1.2 cm
  median on 0.5-1 cm position noise); the weighted mean of the front band is not;
- fragments are weighted by opacity times the Gaussian's falloff at the pixel, so a
  surfel's plane is trusted where it is, near its centre.
"""

from __future__ import annotations

import importlib.util
import logging

import numpy as np

from worldgen_sim.artifacts import CameraPath, GaussianCloud
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress

log = logging.getLogger(__name__)

__all__ = ["DEPTH_BAND", "FLAT_RATIO", "NEEDLE_RATIO", "shortest_axes", "zbuffer_depth_maps"]

DEPTH_BAND = 0.05
"""Fragments within this of a pixel's nearest one are its front surface [m] (about five noise sigmas of a
trained splat, under the gap between a thin object and what it stands on)."""
FLAT_RATIO = 0.3
"""A Gaussian whose shortest scale is at most this times the middle one is a surfel (the renderer's rule)."""
NEEDLE_RATIO = 2.0
"""A disc's size is at most this times a Gaussian's middle scale: an elongated Gaussian (a trainer's
"needle", long axis 10-100 x the others) covers a disc about its width, not one of its length. Drawn at
its length, each opaque needle near the ground of a capture became a 30-90 cm disc at a random tilt,
and hundreds of them a field of clutter objects that cut walkable IoU to 0.17 (plaza scene)."""


def zbuffer_depth_maps(
    gaussians: GaussianCloud,
    cameras: CameraPath,
    *,
    min_opacity: float,
    near: float,
    far: float,
    radius_sigmas: float = 1.5,
    max_radius_px: int = 8,
    band: float = DEPTH_BAND,
    kernel: str = "auto",
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Depth and colour images of the front surface, by z-buffering Gaussians as discs (no alpha blending).

    Each Gaussian with opacity >= ``min_opacity`` covers the pixels within
    ``radius_sigmas`` times its largest scale (at most :data:`NEEDLE_RATIO` times its
    middle one) of its centre (at most
    ``max_radius_px``); a surfel only those whose ray meets its plane within that
    reach. A fragment's depth is where the pixel's ray meets the Gaussian's plane
    (through its centre, normal to its shortest axis; a round Gaussian's is clamped
    to one reach around its centre depth), so the fragments of one surface agree.
    Each pixel takes the weighted mean depth and colour (DC) of its front surface:
    the fragments within ``band`` of the nearest, re-centred once on their mean.

    Args:
        gaussians: the cloud in the cameras' frame.
        cameras: M pinhole cameras (OpenCV; pixel centres at integer coordinates).
        min_opacity: fainter Gaussians (haze, floaters) are not drawn.
        near: nearer centres are skipped [m].
        far: farther centres are skipped [m].
        radius_sigmas: disc radius in standard deviations of the largest axis.
        max_radius_px: the largest disc radius drawn [px].
        band: depth range of a pixel's front surface behind its nearest fragment [m];
            0 keeps the nearest fragment alone.
        kernel: ``"warp"`` (:mod:`worldgen_sim.surface.zbuffer_warp`: each disc walked in a
            compiled loop; ~3x less CPU than torch on one thread, and no torch parallel
            regions to stall on a busy machine), ``"torch"`` (the vectorised reference: the
            fragments as tensors) or ``"auto"`` (warp when importable, torch if it fails).
            The images agree to float rounding.
        progress: reports views done.

    Returns:
        (M, H, W) float32 depth [m] (0 where nothing is drawn) and
        (M, H, W, 3) float32 RGB in [0, 1].
    """
    import torch

    if kernel not in ("auto", "torch", "warp"):
        raise WorldgenError(f"z-buffer kernel must be 'auto', 'torch' or 'warp'; got {kernel!r}")
    discs = _prepare_discs(gaussians, min_opacity=min_opacity, radius_sigmas=radius_sigmas)
    options = {"near": near, "far": far, "max_radius_px": max_radius_px, "band": band, "progress": progress}
    warp_found = importlib.util.find_spec("warp") is not None
    if kernel == "warp" or (kernel == "auto" and warp_found):
        try:
            return _zbuffer_warp(discs, cameras, **options)
        except Exception as error:
            if kernel == "warp":
                raise
            log.warning("warp z-buffer failed (%s); using the torch z-buffer", error)
    elif kernel == "auto":
        log.info("warp is not installed (the 'surface' extra); using the slower torch z-buffer")
    offsets = _disc_offsets(max_radius_px)
    height, width = int(cameras.height), int(cameras.width)
    depths = np.zeros((len(cameras), height, width), np.float32)
    images = np.zeros((len(cameras), height, width, 3), np.float32)
    for view in range(len(cameras)):
        world_to_cam = torch.from_numpy(np.linalg.inv(cameras.cam_to_world[view]).astype(np.float32))
        k = [float(v) for v in (cameras.intrinsics[view][0, 0], cameras.intrinsics[view][1, 1],
                                cameras.intrinsics[view][0, 2], cameras.intrinsics[view][1, 2])]
        projected = _project_discs(discs, world_to_cam, k, near=near, far=far, max_radius_px=max_radius_px)
        fragments = _disc_fragments(projected, offsets, k, width=width, height=height)
        if fragments is not None:
            pixels, pixel_z, weights, owners = fragments
            depths[view], images[view] = _front_surface(
                pixels, pixel_z, weights, owners, discs["colors"], band=band, width=width, height=height
            )
        if progress is not None:
            progress.step(view + 1, len(cameras), "z-buffer depth")
    return depths, images


def _zbuffer_warp(discs: dict, cameras: CameraPath, **options) -> tuple[np.ndarray, np.ndarray]:
    """The compiled z-buffer over every view at once (same rule, see :mod:`.zbuffer_warp`)."""
    from worldgen_sim.surface.zbuffer_warp import zbuffer_warp

    world_to_cam = np.linalg.inv(np.asarray(cameras.cam_to_world, np.float64)).astype(np.float32)
    k = np.asarray(cameras.intrinsics, np.float64)
    intrinsics = np.stack([k[:, 0, 0], k[:, 1, 1], k[:, 0, 2], k[:, 1, 2]], axis=1).astype(np.float32)
    return zbuffer_warp(discs, world_to_cam, intrinsics, width=int(cameras.width), height=int(cameras.height),
                        **options)


def _prepare_discs(gaussians: GaussianCloud, *, min_opacity: float, radius_sigmas: float) -> dict:
    """Torch tensors of the opaque Gaussians: (G, 3) positions, (G,) reach and largest sigma [m], (G,)
    opacity, (G, 3) colours, (G, 3) normals (shortest axes) and (G,) bool surfel flags."""
    import torch

    keep = gaussians.opacities >= min_opacity
    scales = np.asarray(gaussians.scales[keep], np.float32)
    ordered = np.sort(scales, axis=1)
    size = np.ascontiguousarray(np.minimum(ordered[:, 2], NEEDLE_RATIO * ordered[:, 1]))
    return {
        "positions": torch.from_numpy(np.ascontiguousarray(gaussians.positions[keep], np.float32)),
        "radius": torch.from_numpy(radius_sigmas * size),
        "sigma": torch.from_numpy(size),
        "opacity": torch.from_numpy(np.asarray(gaussians.opacities[keep], np.float32)),
        "colors": torch.from_numpy(gaussians.colors()[keep]),
        "normals": torch.from_numpy(shortest_axes(gaussians.rotations[keep], scales).astype(np.float32)),
        "flat": torch.from_numpy(ordered[:, 0] <= FLAT_RATIO * ordered[:, 1]),
    }


def _disc_offsets(max_radius_px: int) -> list:
    """Per radius r = 0..max_radius_px, the (P, 2) int64 (dy, dx) pixel offsets of a disc of radius r."""
    import torch

    offsets = []
    for r in range(max_radius_px + 1):
        dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
        disc = dy**2 + dx**2 <= r * r + r
        offsets.append(torch.from_numpy(np.stack([dy[disc], dx[disc]], axis=1)))
    return offsets


def _project_discs(discs: dict, world_to_cam, k: list[float], *, near: float, far: float, max_radius_px: int) -> dict:
    """The discs in front of one camera: their index into ``discs``, centre pixel (rounded), radius in
    pixels, camera-frame centre [m], reach and largest sigma [m], opacity, surfel flag, camera-frame
    normal and plane offset (n . p)."""
    import torch

    fx, fy, cx, cy = k
    cam = discs["positions"] @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    index = torch.nonzero((cam[:, 2] > near) & (cam[:, 2] < far)).squeeze(1)
    cam = cam[index]
    z = cam[:, 2]
    normal_cam = discs["normals"][index] @ world_to_cam[:3, :3].T
    reach = discs["radius"][index]
    return {
        "index": index,
        "u": torch.round(fx * cam[:, 0] / z + cx).long(),
        "v": torch.round(fy * cam[:, 1] / z + cy).long(),
        "radius_px": torch.clamp(torch.ceil(reach * fx / z - 0.5), 0, max_radius_px).long(),
        "centre": cam,
        "reach": reach,
        "sigma": discs["sigma"][index],
        "opacity": discs["opacity"][index],
        "flat": discs["flat"][index],
        "normal": normal_cam,
        "plane_offset": torch.sum(normal_cam * cam, dim=1),
    }


def _disc_fragments(projected: dict, offsets: list, k: list[float], *, width: int, height: int) -> tuple | None:
    """Every pixel each disc covers: (pixel index, depth [m], weight, owning Gaussian's index into
    ``discs``), or None when no disc lands in the image.

    A pixel's depth is where its ray meets the owner's plane. A surfel keeps the pixels
    whose ray meets its plane within its reach; a round Gaussian keeps its whole disc, the
    depth clamped to its reach around the centre depth. The weight is the opacity times the
    Gaussian's falloff at the meeting point (sigma: its largest scale).
    """
    import torch

    fx, fy, cx, cy = k
    u, v, radius_px = projected["u"], projected["v"], projected["radius_px"]
    # Frustum culling before the discs are expanded: most centres in front of a 90 deg view are outside it.
    in_frustum = (u >= -radius_px) & (u < width + radius_px) & (v >= -radius_px) & (v < height + radius_px)
    pixels, pixel_z, weights, owners = [], [], [], []
    for r, offset in enumerate(offsets):
        sel = torch.nonzero((radius_px == r) & in_frustum).squeeze(1)
        if sel.numel() == 0:
            continue
        pv = (v[sel, None] + offset[None, :, 0]).reshape(-1)
        pu = (u[sel, None] + offset[None, :, 1]).reshape(-1)
        owner = sel[:, None].expand(-1, offset.shape[0]).reshape(-1)
        inside = (pu >= 0) & (pu < width) & (pv >= 0) & (pv < height)
        pv, pu, owner = pv[inside], pu[inside], owner[inside]
        # Ray through the pixel, z = 1: depth where it meets the owner's plane, n . (t d) = n . p.
        ray = torch.stack([(pu - cx) / fx, (pv - cy) / fy, torch.ones(pu.shape)], dim=1)
        n = projected["normal"][owner]
        dot = (n * ray).sum(dim=1)
        centre, reach = projected["centre"][owner], projected["reach"][owner]
        plane_z = projected["plane_offset"][owner] / torch.where(dot.abs() > 1e-6, dot, torch.full_like(dot, 1e-6))
        plane_z = torch.where(torch.isfinite(plane_z) & (plane_z > 0), plane_z, centre[:, 2])
        plane_z = torch.minimum(torch.maximum(plane_z, centre[:, 2] - reach), centre[:, 2] + reach)
        off_centre = (ray * plane_z[:, None] - centre).square().sum(dim=1)  # squared distance on the plane [m^2]
        keep = ~projected["flat"][owner] | (off_centre <= reach * reach)
        sigma = projected["sigma"][owner]
        weight = projected["opacity"][owner] * torch.exp(-0.5 * off_centre / (sigma * sigma).clamp_min(1e-12))
        pixels.append((pv * width + pu)[keep])
        pixel_z.append(plane_z[keep])
        # A weight that underflows would drop a lone fragment's pixel: keep a floor.
        weights.append(weight[keep].clamp_min(1e-12))
        owners.append(projected["index"][owner[keep]])
    if not pixels:
        return None
    return torch.cat(pixels), torch.cat(pixel_z), torch.cat(weights), torch.cat(owners)


def _front_surface(pixels, pixel_z, weights, owners, colors, *, band: float, width: int, height: int):
    """(H, W) float32 depth (0 where empty) and (H, W, 3) colour of each pixel's front surface.

    The fragments within ``band`` of the nearest are the front surface; the mean is
    re-centred once on the fragments within half a band of their first weighted mean,
    so the cut at the nearest fragment (the most extreme sample) does not pull it toward
    the camera. Sums are index_add (sequential on a CPU), so one input gives one image.
    """
    import torch

    size = height * width
    nearest = torch.full((size,), float("inf")).scatter_reduce(0, pixels, pixel_z, "amin")
    covered = torch.isfinite(nearest)
    if band <= 0:
        front = pixel_z <= nearest[pixels]
    else:
        first = pixel_z <= nearest[pixels] + band
        mean = _weighted_sum(pixels[first], weights[first], pixel_z[first, None], size)[:, 0]
        front = (pixel_z - mean[pixels]).abs() <= 0.5 * band
        # A pixel whose re-centred window is empty keeps its first window.
        has_front = torch.zeros(size, dtype=torch.bool)
        has_front[pixels[front]] = True
        front |= first & ~has_front[pixels]
    values = torch.cat([pixel_z[front, None], colors[owners[front]]], dim=1)
    mean = _weighted_sum(pixels[front], weights[front], values, size)
    depth = torch.where(covered, mean[:, 0], 0.0)
    image = torch.where(covered[:, None], mean[:, 1:], 0.0)
    return depth.reshape(height, width).numpy(), image.reshape(height, width, 3).numpy()


def _weighted_sum(pixels, weights, values, size: int):
    """(size, C) per-pixel weighted mean of (F, C) ``values``; 0 where a pixel has no fragment."""
    import torch

    total = torch.zeros(size).index_add_(0, pixels, weights)
    summed = torch.zeros(size, values.shape[1]).index_add_(0, pixels, weights[:, None] * values)
    return summed / total.clamp_min(1e-30)[:, None]


def shortest_axes(rotations: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(N, 3) float64 unit direction of each Gaussian's shortest axis (its surface normal, unsigned).

    Args:
        rotations: (N, 4) quaternions (w, x, y, z), normalised here.
        scales: (N, 3) axis scales [m].
    """
    q = np.array(rotations, np.float64)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    w, x, y, z = q.T
    columns = np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], axis=1),
            np.stack([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], axis=1),
            np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], axis=1),
        ],
        axis=1,
    )
    shortest = np.argmin(scales, axis=1)
    return columns[np.arange(q.shape[0]), shortest]

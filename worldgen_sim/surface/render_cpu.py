"""Reference Gaussian rasteriser in torch (+ an optional warp kernel): the CPU path of rendering.

Gaussians are projected per view by :mod:`worldgen_sim.surface.render_project`; this
module bins and composites them. The math is 3DGS's as gsplat implements it
(``RasterizeToPixels3DGSFwd.cu``), so colour and alpha agree with gsplat up to float
rounding: tiles binned by sorted (tile, depth) keys, front-to-back compositing with
``alpha = min(0.999, opacity exp(-sigma))``, alpha < 1/255 skipped, and a pixel
finished (exclusively) when its transmittance would fall to 1e-4. Depth is per pixel
for surfels (where the ray meets the surfel's plane; see ``project_view``).

Two compositors share the binning: ``"torch"`` runs in rounds, each taking the next
``chunk`` Gaussians of every unfinished tile as one (tiles, chunk, pixels) tensor (any
device, vectorised; finished tiles drop out), and ``"warp"`` is a compiled per-pixel
loop over the same sorted lists (CPU, several times faster). Several views are binned
together so a batch shares the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from worldgen_sim.surface.render_project import ALPHA_MIN, FEATURES, PreparedCloud, Projected, project_view

if TYPE_CHECKING:
    from torch import Tensor
else:
    Tensor = Any

ALPHA_MAX = 0.999
"""Per-Gaussian alpha clamp (gsplat's; the INRIA rasteriser uses 0.99)."""
TRANSMITTANCE_MIN = 1e-4
"""A pixel is finished before a Gaussian that would drop its transmittance to this."""
MEDIAN_TRANSMITTANCE = 0.5
"""Median depth: depth of the Gaussian at which transmittance crosses this."""


def rasterize_batch(
    projected: list[Projected], *, width, height, tile_size=16, chunk=64, max_elements=1 << 22, compositor="torch"
):
    """Composite a batch of projected views front to back.

    Args:
        projected: one :class:`Projected` per view (B views).
        width, height: image size [px].
        tile_size: tile edge [px]; results do not depend on it, speed does.
        chunk: Gaussians per tile taken in each compositing round.
        max_elements: cap on one round's (tiles x chunk x pixels) tensor, bounding memory.
        compositor: ``"torch"`` (vectorised rounds, any device) or ``"warp"`` (a compiled
            per-pixel loop over the same sorted lists, CPU; same results up to rounding).

    Returns:
        features (B, H, W, FEATURES) float32 (premultiplied: rgb, z-depth, normal, each a
        weighted sum), alpha (B, H, W) float32, median depth (B, H, W) float32 [m] (0 where
        transmittance never reaches 0.5).
    """
    import torch

    device = projected[0].attributes.device
    grid = _TileGrid(views=len(projected), width=width, height=height, tile_size=tile_size)
    attributes, owners, instance_tile, counts = _bin_instances(projected, grid)
    tile_start = torch.cumsum(counts, 0) - counts
    if compositor == "warp":
        from worldgen_sim.surface.render_warp import composite_warp

        return composite_warp(attributes, owners, tile_start, counts, views=len(projected),
                               width=width, height=height, tile_size=tile_size)
    done, tile_centre, monomials = _tile_pixels(grid, device)
    coefficients, features, plane, depth_bounds = _instance_tables(attributes, owners, instance_tile, tile_centre)
    del attributes, owners, instance_tile
    tables = (coefficients, features, plane, depth_bounds, tile_start, counts, monomials)
    accumulated, transmittance, median = _composite_tiles(tables, done, counts, grid, chunk=chunk,
                                                          max_elements=max_elements)
    return (grid.to_images(accumulated, (FEATURES,)), 1.0 - grid.to_images(transmittance, ()),
            grid.to_images(median, ()))


@dataclass(frozen=True)
class _TileGrid:
    """The tiles of a batch of views: ``tiles_x`` by ``tiles_y`` per view, ``tile_size`` px square."""

    views: int
    width: int
    height: int
    tile_size: int

    @property
    def tiles_x(self) -> int:
        return -(-self.width // self.tile_size)

    @property
    def tiles_y(self) -> int:
        return -(-self.height // self.tile_size)

    @property
    def tiles_per_view(self) -> int:
        return self.tiles_x * self.tiles_y

    @property
    def num_tiles(self) -> int:
        return self.tiles_per_view * self.views

    @property
    def pixels(self) -> int:
        return self.tile_size * self.tile_size

    def to_images(self, tensor: Tensor, channels: tuple) -> Tensor:
        """(T, P, *channels) per-tile values as (views, H, W, *channels) images."""
        size = self.tile_size
        shape = (self.views, self.tiles_y, self.tiles_x, size, size, *channels)
        out = tensor.reshape(shape).permute(0, 1, 3, 2, 4, *range(5, 5 + len(channels)))
        return out.reshape((self.views, self.tiles_y * size, self.tiles_x * size, *channels))[
            :, : self.height, : self.width
        ]


def _bin_instances(projected: list[Projected], grid: _TileGrid):
    """One instance per (Gaussian, covered tile), sorted by tile and then depth.

    Returns the views' attributes concatenated (G, columns), each sorted instance's row in
    them (I,), its tile (I,) and the instance count per tile (T,). The sort key is
    ``tile << 32 | depth bits``: positive float32 depths order like their int32 bit patterns,
    so one integer sort does it.
    """
    import torch

    device = projected[0].attributes.device
    attributes: list[Tensor] = []
    key_parts: list[Tensor] = []
    owner_parts: list[Tensor] = []
    offset = 0
    for view, proj in enumerate(projected):
        span = proj.tile_hi - proj.tile_lo
        counts = span[:, 0] * span[:, 1]
        gaussian = torch.repeat_interleave(torch.arange(counts.shape[0], device=device), counts)
        first = torch.cumsum(counts, 0) - counts
        local = torch.arange(gaussian.shape[0], device=device) - first[gaussian]
        width_in_tiles = span[gaussian, 0]
        tile_col = proj.tile_lo[gaussian, 0] + local % width_in_tiles
        tile_row = proj.tile_lo[gaussian, 1] + local // width_in_tiles
        tile = (tile_row * grid.tiles_x + tile_col).add_(view * grid.tiles_per_view)
        depth_bits = proj.attributes[:, 9].contiguous().view(torch.int32).long()
        key_parts.append(tile.bitwise_left_shift_(32).bitwise_or_(depth_bits[gaussian]))
        owner_parts.append(gaussian + offset)
        attributes.append(proj.attributes)
        offset += proj.attributes.shape[0]
    keys, order = torch.sort(torch.cat(key_parts), stable=True)
    owners = torch.cat(owner_parts)[order]
    instance_tile = keys.bitwise_right_shift_(32)
    counts = torch.bincount(instance_tile, minlength=grid.num_tiles)
    return torch.cat(attributes), owners, instance_tile, counts


def _tile_pixels(grid: _TileGrid, device):
    """(T, P) bool pixels past the image edge (they start "done"), (T, 2) tile centres [px] and the
    (6, P) monomials (x^2, y^2, x y, x, y, 1) of each pixel relative to its tile's centre, which
    keeps the terms of the expanded quadratic small."""
    import torch

    size = grid.tile_size
    local_y, local_x = torch.meshgrid(
        torch.arange(size, device=device), torch.arange(size, device=device), indexing="ij"
    )
    local_x = local_x.reshape(-1).to(torch.float32) + 0.5
    local_y = local_y.reshape(-1).to(torch.float32) + 0.5
    tile_index = torch.arange(grid.num_tiles, device=device) % grid.tiles_per_view
    tile_origin = torch.stack([tile_index % grid.tiles_x, tile_index // grid.tiles_x], 1) * size  # (T, 2) [px]
    done = ((tile_origin[:, 0:1] + local_x[None, :]) > grid.width) | (
        (tile_origin[:, 1:2] + local_y[None, :]) > grid.height
    )
    tile_centre = tile_origin.to(torch.float32) + 0.5 * size
    local_x, local_y = local_x - 0.5 * size, local_y - 0.5 * size
    monomials = torch.stack([local_x * local_x, local_y * local_y, local_x * local_y, local_x, local_y,
                             torch.ones_like(local_x)])  # (6, P)
    return done, tile_centre, monomials


def _instance_tables(attributes: Tensor, owners: Tensor, instance_tile: Tensor, tile_centre: Tensor):
    """Per-instance tables in sorted order, each with a sentinel row (alpha 0) that pads short tiles:
    (I+1, 6) coefficients with ``ln(opacity) - sigma = coefficients . monomials`` in tile-centred
    pixel coordinates, (I+1, FEATURES) features (depth column zeroed: it is per pixel), (I+1, 3)
    depth planes and (I+1, 2) per-pixel depth bounds [m]."""
    import torch

    device = attributes.device
    instance_attr = attributes.index_select(0, owners)
    centre = tile_centre.index_select(0, instance_tile)
    mx, my = instance_attr[:, 0] - centre[:, 0], instance_attr[:, 1] - centre[:, 1]
    ca, cb, cc = instance_attr[:, 2], instance_attr[:, 3], instance_attr[:, 4]
    coefficients = torch.stack(
        [-0.5 * ca, -0.5 * cc, -cb, ca * mx + cb * my, cc * my + cb * mx,
         torch.log(instance_attr[:, 5]) - (0.5 * ca * mx * mx + 0.5 * cc * my * my + cb * mx * my)],
        dim=1,
    )
    sentinel = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, -torch.inf]], device=device)
    coefficients = torch.cat([coefficients, sentinel])
    # The depth feature is per pixel (planar depth): its column is zeroed here and summed apart.
    features = torch.cat([instance_attr[:, 6:6 + FEATURES], torch.zeros(1, FEATURES, device=device)])
    features[:, 3] = 0.0
    plane = instance_attr[:, 13:16]
    through_centre = plane[:, 0] * centre[:, 0] + plane[:, 1] * centre[:, 1] + plane[:, 2]
    plane = torch.stack([plane[:, 0], plane[:, 1], through_centre], 1)
    plane = torch.cat([plane, torch.tensor([[0.0, 0.0, 1.0]], device=device)])
    z, half = instance_attr[:, 9], instance_attr[:, 16]
    depth_bounds = torch.cat([torch.stack([z - half, z + half], 1), torch.zeros(1, 2, device=device)])
    return coefficients, features, plane, depth_bounds


def _composite_tiles(tables: tuple, done: Tensor, counts: Tensor, grid: _TileGrid, *, chunk: int, max_elements: int):
    """Composite every tile in rounds of ``chunk`` Gaussians until each is finished.

    The compositing state lives in compact arrays aligned with the list of unfinished tiles,
    updated in place, and is written out once when a tile finishes. Returns per-tile (T, P,
    FEATURES) accumulated features, (T, P) transmittance and (T, P) median depth.
    """
    import torch

    device, pixels = done.device, grid.pixels
    accumulated = torch.zeros(grid.num_tiles, pixels, FEATURES, device=device)
    transmittance = torch.ones(grid.num_tiles, pixels, device=device)
    median = torch.zeros(grid.num_tiles, pixels, device=device)
    active = torch.nonzero(counts > 0).squeeze(1)
    live = (
        torch.zeros(active.numel(), pixels, FEATURES, device=device),
        torch.ones(active.numel(), pixels, device=device),
        done.index_select(0, active),
        torch.zeros(active.numel(), pixels, device=device),
    )
    lanes = torch.arange(chunk, device=device)
    group_size = max(1, max_elements // (chunk * pixels))
    round_index = 0
    while active.numel() > 0:
        finished = torch.cat([
            _composite_round(active[g:g + group_size], round_index * chunk, lanes, tables,
                             *(t[g:g + group_size] for t in live))
            for g in range(0, active.numel(), group_size)
        ])
        if bool(finished.any()):
            out = torch.nonzero(finished).squeeze(1)
            tiles_out = active.index_select(0, out)
            accumulated[tiles_out] = live[0].index_select(0, out)
            transmittance[tiles_out] = live[1].index_select(0, out)
            median[tiles_out] = live[3].index_select(0, out)
            stay = torch.nonzero(~finished).squeeze(1)
            active = active.index_select(0, stay)
            live = tuple(t.index_select(0, stay) for t in live)
        round_index += 1
    return accumulated, transmittance, median


def _composite_round(tiles, first, lanes, tables, accumulated, transmittance, done, median):
    """Composite Gaussians ``first .. first + chunk`` of each tile in ``tiles`` (A,).

    ``accumulated`` (A, P, F), ``transmittance`` (A, P), ``done`` (A, P) and ``median`` (A, P)
    are updated in place. The exponent ``ln(opacity) - sigma`` of every (Gaussian, pixel)
    pair of the round comes from one (A K, 6) x (6, P) product with the pixels' monomials.

    Returns (A,) bool: tiles that are finished (all pixels opaque or no Gaussians left).
    """
    import torch

    coefficients, features, plane, depth_bounds, tile_start, counts, monomials = tables
    chunk, pixels = lanes.numel(), monomials.shape[1]
    remaining = counts[tiles] - first
    instance = torch.where(
        lanes[None, :] < remaining[:, None], tile_start[tiles, None] + first + lanes[None, :], coefficients.shape[0] - 1
    ).reshape(-1)  # (A K,), the sentinel where a tile has run out
    alpha = torch.mm(coefficients.index_select(0, instance), monomials).reshape(-1, chunk, pixels)
    alpha.exp_()
    alpha = torch.nn.functional.threshold(alpha, ALPHA_MIN, 0.0).clamp_max_(ALPHA_MAX)
    feats = features.index_select(0, instance).reshape(-1, chunk, FEATURES)
    inverse_depth = torch.mm(plane.index_select(0, instance), monomials[3:]).reshape(-1, chunk, pixels)
    bounds = depth_bounds.index_select(0, instance).reshape(-1, chunk, 2, 1)
    depth = torch.where(inverse_depth > 0, inverse_depth.reciprocal(), bounds[:, :, 1])
    depth = torch.minimum(torch.maximum(depth, bounds[:, :, 0]), bounds[:, :, 1])  # (A, K, P) [m]

    # Done pixels start at zero transmittance: they then take no weight and need no mask.
    start = torch.where(done, 0.0, transmittance)  # (A, P)
    after = torch.cumprod(alpha.neg_().add_(1.0), dim=1).mul_(start[:, None, :])  # T after each Gaussian
    before = torch.cat([start[:, None, :], after[:, :-1]], dim=1)
    weight = torch.where(after > TRANSMITTANCE_MIN, before.sub_(after), 0.0)  # exclusive cut-off, like gsplat
    accumulated.baddbmm_(weight.transpose(1, 2), feats)
    accumulated[:, :, 3] += (weight * depth).sum(dim=1)
    transmittance.copy_(torch.where(done, transmittance, start - weight.sum(dim=1)))

    # Median: the Gaussian during which T falls to 0.5 is the first with T_after <= 0.5.
    first_below = (after > MEDIAN_TRANSMITTANCE).sum(dim=1)  # (A, P)
    crossed = (start > MEDIAN_TRANSMITTANCE) & (first_below < chunk)
    depth_at = depth.gather(1, first_below.clamp_max(chunk - 1)[:, None, :])[:, 0]
    median.copy_(torch.where(crossed, depth_at, median))

    done |= after[:, -1, :] <= TRANSMITTANCE_MIN
    return done.all(dim=1) | (remaining <= chunk)


def render_views(
    prep: PreparedCloud, cameras, *, near, far, tile_size=16, chunk=64, batch_views=4, compositor="torch", progress=None
):
    """Render every camera of a :class:`CameraPath` with the reference rasteriser.

    ``compositor`` is ``"torch"`` or ``"warp"`` (see :func:`rasterize_batch`).

    Returns:
        dict of float32 numpy arrays: ``color`` (M, H, W, 3), ``depth_expected`` (M, H, W) [m],
        ``depth_median`` (M, H, W) [m], ``alpha`` (M, H, W), ``normals`` (M, H, W, 3).
    """
    import torch

    width, height = int(cameras.width), int(cameras.height)
    count = len(cameras)
    out = empty_outputs(count, height, width)
    world_to_camera = np.linalg.inv(np.asarray(cameras.cam_to_world, np.float64))
    with torch.no_grad():
        for start in range(0, count, batch_views):
            views = range(start, min(count, start + batch_views))
            projected = [
                project_view(
                    prep, world_to_camera[i], np.asarray(cameras.intrinsics[i], np.float64),
                    width=width, height=height, near=near, far=far, tile_size=tile_size,
                )
                for i in views
            ]
            if all(p.attributes.shape[0] == 0 for p in projected):
                continue
            features, alpha, median = rasterize_batch(
                projected, width=width, height=height, tile_size=tile_size, chunk=chunk, compositor=compositor
            )
            results = finish_features(features, alpha)
            batch = slice(views.start, views.stop)
            out["color"][batch] = results["color"].cpu().numpy()
            out["depth_expected"][batch] = results["depth_expected"].cpu().numpy()
            out["normals"][batch] = results["normals"].cpu().numpy()
            out["alpha"][batch] = alpha.cpu().numpy()
            out["depth_median"][batch] = median.cpu().numpy()
            if progress is not None:
                progress.step(views.stop, count, "render")
    return out


def finish_features(features, alpha):
    """Colour, alpha-normalised expected depth and unit normals from premultiplied features."""
    import torch

    covered = alpha > 1e-6
    depth = torch.where(covered, features[..., 3] / alpha.clamp_min(1e-6), 0.0)
    normals = features[..., 4:7]
    length = normals.norm(dim=-1, keepdim=True)
    normals = torch.where(length > 1e-6, normals / length.clamp_min(1e-6), 0.0)
    return {"color": features[..., :3], "depth_expected": depth, "normals": normals}


def composite_dense(projected: Projected, *, width, height, chunk=256):
    """Unbinned reference: every Gaussian against every pixel, in depth order.

    Slow (pixels x Gaussians work) and meant for tests and benchmarks on small inputs;
    same math as :func:`rasterize_batch` without tiles, bounding boxes or early exit
    other than the per-pixel transmittance cut-off.

    Returns:
        features (H, W, FEATURES), alpha (H, W), median depth (H, W), like one view of
        :func:`rasterize_batch`.
    """
    import torch

    attributes = projected.attributes[torch.sort(projected.attributes[:, 9], stable=True).indices]
    device = attributes.device
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    px = xs.reshape(-1).to(torch.float32) + 0.5
    py = ys.reshape(-1).to(torch.float32) + 0.5
    transmittance = torch.ones(px.shape[0], device=device)
    accumulated = torch.zeros(px.shape[0], FEATURES, device=device)
    median = torch.zeros(px.shape[0], device=device)
    alpha_total = torch.zeros(px.shape[0], device=device)
    for block in attributes.split(chunk):
        dx = block[None, :, 0] - px[:, None]  # (pixels, G)
        dy = block[None, :, 1] - py[:, None]
        sigma = 0.5 * (block[None, :, 2] * dx * dx + block[None, :, 4] * dy * dy) + block[None, :, 3] * dx * dy
        alpha = (block[None, :, 5] * torch.exp(-sigma)).clamp_max(ALPHA_MAX)
        alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_MIN), alpha, 0.0)
        after = transmittance[:, None] * torch.cumprod(1.0 - alpha, dim=1)
        before = torch.cat([transmittance[:, None], after[:, :-1]], dim=1)
        included = after > TRANSMITTANCE_MIN
        weight = torch.where(included, alpha * before, 0.0)
        inverse_depth = px[:, None] * block[None, :, 13] + py[:, None] * block[None, :, 14] + block[None, :, 15]
        low, high = block[None, :, 9] - block[None, :, 16], block[None, :, 9] + block[None, :, 16]
        depth = torch.where(inverse_depth > 0, 1.0 / inverse_depth, high)
        depth = torch.minimum(torch.maximum(depth, low), high)
        features = block[None, :, 6:6 + FEATURES].expand(px.shape[0], -1, -1).clone()
        features[:, :, 3] = depth
        accumulated += (weight[:, :, None] * features).sum(dim=1)
        alpha_total += weight.sum(dim=1)
        crossing = included & (before > MEDIAN_TRANSMITTANCE) & (after <= MEDIAN_TRANSMITTANCE)
        median = torch.where(crossing.any(dim=1), (crossing * depth).sum(dim=1), median)
        # Once a pixel is cut off it takes nothing more: freeze its transmittance at zero.
        transmittance = torch.where(included.all(dim=1), after[:, -1], 0.0)
    return (accumulated.reshape(height, width, FEATURES), alpha_total.reshape(height, width),
            median.reshape(height, width))


def empty_outputs(count: int, height: int, width: int) -> dict[str, np.ndarray]:
    """Zeroed render arrays for ``count`` views: the fields of ``RenderOutput`` by name."""
    return {
        "color": np.zeros((count, height, width, 3), np.float32),
        "depth_expected": np.zeros((count, height, width), np.float32),
        "depth_median": np.zeros((count, height, width), np.float32),
        "alpha": np.zeros((count, height, width), np.float32),
        "normals": np.zeros((count, height, width, 3), np.float32),
    }

"""Gaussians projected for one camera: the view-independent preparation and EWA projection.

The first half of the CPU rasteriser (:mod:`worldgen_sim.surface.render_cpu` bins and
composites what this produces; :mod:`worldgen_sim.surface.render_gsplat` composites it
on a GPU). The math is 3DGS's as gsplat implements it (``ProjectionEWA3DGSFused.cu``):

- covariance ``R S^2 R^T`` from the (w, x, y, z) quaternion and linear scales;
- EWA projection with the Jacobian's view-direction clamp (1.3 x the half field of
  view) and the 0.3 px^2 low-pass dilation;
- an opacity-aware bounding box: ``min(3.33, sqrt(2 ln(255 opacity)))`` standard
  deviations per image axis, outside of which alpha < 1/255 (so nothing is lost);
- view-dependent colour from spherical harmonics, degree 0-3.

One deliberate difference: depth. A flat Gaussian (surfel) contributes the depth where
the pixel's ray meets its plane, not its centre's depth (see :func:`project_view`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor
else:
    Tensor = Any

ALPHA_MIN = 1.0 / 255.0
"""Contributions with alpha below this are skipped (gsplat's ALPHA_THRESHOLD)."""
EPS2D = 0.3
"""Low-pass dilation added to the projected covariance's diagonal [px^2]."""

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
SH_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)

FEATURES = 7
"""Per-Gaussian composited features: rgb (3), z-depth (1), normal (3)."""


@dataclass(eq=False)
class PreparedCloud:
    """View-independent per-Gaussian tensors on one device.

    Attributes:
        means: (N, 3) float32 centres [m].
        quats: (N, 4) float32 unit quaternions (w, x, y, z).
        scales: (N, 3) float32 linear standard deviations [m].
        covariances: (N, 6) float32 world covariance ``xx, xy, xz, yy, yz, zz`` [m^2].
        normals: (N, 3) float32 world direction of each Gaussian's shortest axis.
        max_scale: (N,) float32 largest standard deviation [m] (for conservative culling).
        flat: (N,) bool, shortest scale <= 0.3 x the middle one: a surfel, whose per-pixel
            depth is taken on its plane (see :func:`project_view`).
        opacities: (N,) float32 in [0, 1].
        sh: (N, K, 3) float32 spherical-harmonic coefficients.
    """

    means: Tensor
    quats: Tensor
    scales: Tensor
    covariances: Tensor
    normals: Tensor
    max_scale: Tensor
    flat: Tensor
    opacities: Tensor
    sh: Tensor


def prepare_cloud(cloud, *, device="cpu") -> PreparedCloud:
    """Move a :class:`GaussianCloud` to torch and precompute covariances and normals."""
    import torch

    def tensor(array):
        return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32), device=device)

    quats = tensor(cloud.rotations)
    quats = quats / quats.norm(dim=1, keepdim=True).clamp_min(1e-12)
    scales = tensor(cloud.scales)
    rotation = quat_to_rotmat(quats)  # (N, 3, 3), columns = local axes in the world
    scaled = rotation * scales[:, None, :]
    cov = scaled @ scaled.transpose(1, 2)
    covariances = torch.stack([cov[:, 0, 0], cov[:, 0, 1], cov[:, 0, 2], cov[:, 1, 1], cov[:, 1, 2], cov[:, 2, 2]], 1)
    shortest = scales.argmin(dim=1)
    ordered = torch.sort(scales, dim=1).values
    normals = rotation.gather(2, shortest[:, None, None].expand(-1, 3, 1))[:, :, 0]
    return PreparedCloud(
        means=tensor(cloud.positions),
        quats=quats,
        scales=scales,
        covariances=covariances.contiguous(),
        normals=normals.contiguous(),
        max_scale=scales.max(dim=1).values,
        flat=ordered[:, 0] <= 0.3 * ordered[:, 1],
        opacities=tensor(cloud.opacities),
        sh=tensor(cloud.sh),
    )


def quat_to_rotmat(quats):
    """(N, 3, 3) rotation matrices from (N, 4) unit quaternions (w, x, y, z)."""
    import torch

    w, x, y, z = quats.unbind(1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=1,
    ).reshape(-1, 3, 3)


def eval_sh(sh, directions):
    """RGB radiance ``max(0, 0.5 + SH(dir))`` like gsplat/INRIA.

    Args:
        sh: (..., K, 3) coefficients, K in {1, 4, 9, 16}.
        directions: (..., 3) viewing directions (camera to Gaussian), any length.

    Returns:
        (..., 3) float32 RGB.
    """
    degree = round(math.sqrt(sh.shape[-2])) - 1
    result = SH_C0 * sh[..., 0, :]
    if degree >= 1:
        d = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        x, y, z = (d[..., i : i + 1] for i in range(3))
        result = result - SH_C1 * y * sh[..., 1, :] + SH_C1 * z * sh[..., 2, :] - SH_C1 * x * sh[..., 3, :]
        if degree >= 2:
            xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
            result = (
                result
                + SH_C2[0] * xy * sh[..., 4, :]
                + SH_C2[1] * yz * sh[..., 5, :]
                + SH_C2[2] * (2 * zz - xx - yy) * sh[..., 6, :]
                + SH_C2[3] * xz * sh[..., 7, :]
                + SH_C2[4] * (xx - yy) * sh[..., 8, :]
            )
            if degree >= 3:
                result = (
                    result
                    + SH_C3[0] * y * (3 * xx - yy) * sh[..., 9, :]
                    + SH_C3[1] * xy * z * sh[..., 10, :]
                    + SH_C3[2] * y * (4 * zz - xx - yy) * sh[..., 11, :]
                    + SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy) * sh[..., 12, :]
                    + SH_C3[4] * x * (4 * zz - xx - yy) * sh[..., 13, :]
                    + SH_C3[5] * z * (xx - yy) * sh[..., 14, :]
                    + SH_C3[6] * x * (xx - 3 * yy) * sh[..., 15, :]
                )
    return (result + 0.5).clamp_min(0.0)


def oriented_normals(normals, means, camera_center):
    """(N, 3) shortest-axis normals flipped to face a camera at (3,) ``camera_center``."""
    facing = ((camera_center - means) * normals).sum(dim=1, keepdim=True)
    return normals * (facing >= 0).to(normals.dtype).mul(2).sub(1)


@dataclass(eq=False)
class Projected:
    """The Gaussians one view sees (n of them), as the compositor needs them.

    Attributes:
        attributes: (n, 6 + FEATURES + 4) float32: mean2d x, y [px], conic a, b, c [1/px^2],
            opacity, then rgb, centre z-depth [m], world normal facing the camera, then the
            depth plane p (3) with ``1 / depth(u, v) = p . (u, v, 1)`` [1/m] and the half-range
            [m] that a per-pixel depth is clamped to around the centre depth.
        tile_lo: (n, 2) int64 first tile column, row covered.
        tile_hi: (n, 2) int64 one past the last tile column, row covered.
    """

    attributes: Tensor
    tile_lo: Tensor
    tile_hi: Tensor


def project_view(prep: PreparedCloud, world_to_camera, intrinsics, *, width, height, near, far, tile_size):
    """EWA-project the Gaussians for one camera and keep those touching the image.

    Args:
        prep: the prepared cloud.
        world_to_camera: (4, 4) float64 numpy, OpenCV camera.
        intrinsics: (3, 3) float64 numpy pixel-space K.
        width, height: image size [px].
        near, far: z-clipping planes [m]; centres outside (near, far) are dropped.
        tile_size: tile edge [px].
    """
    import torch

    device = prep.means.device
    rot = torch.as_tensor(world_to_camera[:3, :3], dtype=torch.float32, device=device)
    trans = torch.as_tensor(world_to_camera[:3, 3], dtype=torch.float32, device=device)
    fx, fy = float(intrinsics[0, 0]), float(intrinsics[1, 1])
    cx, cy = float(intrinsics[0, 2]), float(intrinsics[1, 2])
    lim_x_pos = (width - cx) / fx + 0.3 * 0.5 * width / fx
    lim_x_neg = cx / fx + 0.3 * 0.5 * width / fx
    lim_y_pos = (height - cy) / fy + 0.3 * 0.5 * height / fy
    lim_y_neg = cy / fy + 0.3 * 0.5 * height / fy

    # Cheap conservative cull of every Gaussian before any EWA work: depth range, and the
    # centre against the image grown by an upper bound of the footprint radius (the
    # clamped Jacobian stretches a standard deviation by at most sqrt(1 + lim^2)).
    x, y, z = torch.addmm(trans, prep.means, rot.T).unbind(1)
    rz = 1.0 / z
    u, v = x * rz * fx + cx, y * rz * fy + cy
    stretch = max(fx, fy) * math.sqrt(1.0 + max(lim_x_pos, lim_x_neg, lim_y_pos, lim_y_neg) ** 2)
    bound = torch.sqrt((prep.max_scale * rz * stretch) ** 2 + EPS2D) * 3.33 + 1.0
    candidate = (z > near) & (z < far) & (u + bound > 0) & (u - bound < width) & (v + bound > 0) & (v - bound < height)
    ids = torch.nonzero(candidate).squeeze(1)
    x, y, z, rz, u, v = (t.index_select(0, ids) for t in (x, y, z, rz, u, v))

    # EWA: cov2d = J (W Sigma W^T) J^T + 0.3 I. W Sigma W^T is linear in Sigma's six
    # entries, so it is one (n, 6) x (6, 6) product; J has four non-zero entries.
    tx = z * torch.clamp(x * rz, -lim_x_neg, lim_x_pos)
    ty = z * torch.clamp(y * rz, -lim_y_neg, lim_y_pos)
    rotate = torch.as_tensor(_covariance_rotation(np.asarray(world_to_camera[:3, :3], np.float64)),
                             dtype=torch.float32, device=device)
    cxx, cxy, cxz, cyy, cyz, czz = (prep.covariances.index_select(0, ids) @ rotate).unbind(1)
    j00, j11 = fx * rz, fy * rz
    j02, j12 = -j00 * tx * rz, -j11 * ty * rz
    a = j00 * j00 * cxx + 2.0 * j00 * j02 * cxz + j02 * j02 * czz + EPS2D
    b = j00 * j11 * cxy + j00 * j12 * cxz + j02 * j11 * cyz + j02 * j12 * czz
    c = j11 * j11 * cyy + 2.0 * j11 * j12 * cyz + j12 * j12 * czz + EPS2D
    det = a * c - b * b
    opacity = prep.opacities.index_select(0, ids)
    # Opacity-aware box: outside it alpha < 1/255, so it loses nothing.
    extend = torch.sqrt(2.0 * torch.log(opacity.clamp_min(ALPHA_MIN) / ALPHA_MIN)).clamp_max(3.33)
    radius_x = torch.ceil(extend * torch.sqrt(a))
    radius_y = torch.ceil(extend * torch.sqrt(c))
    keep = (det > 0) & (opacity >= ALPHA_MIN) & (radius_x > 0)
    keep &= (u + radius_x > 0) & (u - radius_x < width) & (v + radius_y > 0) & (v - radius_y < height)
    kept = torch.nonzero(keep).squeeze(1)
    ids = ids.index_select(0, kept)
    x, y, u, v, z, a, b, c, det, radius_x, radius_y, opacity = (
        t.index_select(0, kept) for t in (x, y, u, v, z, a, b, c, det, radius_x, radius_y, opacity)
    )
    inv_det = 1.0 / det

    means = prep.means.index_select(0, ids)
    camera_center = -rot.T @ trans
    rgb = eval_sh(prep.sh.index_select(0, ids), means - camera_center)
    normals = oriented_normals(prep.normals.index_select(0, ids), means, camera_center)
    # Per-pixel depth: a surfel's depth at a pixel is where the pixel's ray meets the surfel's
    # plane, not its centre's depth. Front-to-back order by centre depth otherwise biases slanted
    # surfaces toward the camera by about a pixel's worth of depth gradient (measured 1-4 cm
    # here). 1 / depth is linear in the pixel coordinates; other Gaussians keep the centre depth.
    nx, ny, nz = (normals @ rot.T).unbind(1)
    offset = nx * x + ny * y + nz * z  # plane: n . X = offset, camera frame
    planar = prep.flat.index_select(0, ids) & (offset.abs() > 1e-3 * z)
    safe = torch.where(planar, offset, 1.0)
    plane = torch.stack([nx / (fx * safe), ny / (fy * safe), (nz - nx * cx / fx - ny * cy / fy) / safe], 1)
    plane = torch.where(planar[:, None], plane, torch.stack([torch.zeros_like(z), torch.zeros_like(z), 1.0 / z], 1))
    # Clamp range: the Gaussian's 3-sigma extent plus what the 0.3 px^2 dilation adds (~2 px).
    half_range = 3.0 * prep.max_scale.index_select(0, ids) + 4.0 * z / min(fx, fy)
    attributes = torch.cat(
        [torch.stack([u, v, c * inv_det, -b * inv_det, a * inv_det, opacity], 1), rgb, z[:, None], normals,
         plane, half_range[:, None]],
        dim=1,
    )
    tiles_x, tiles_y = -(-width // tile_size), -(-height // tile_size)
    lo = torch.stack([torch.floor((u - radius_x) / tile_size), torch.floor((v - radius_y) / tile_size)], 1)
    hi = torch.stack([torch.ceil((u + radius_x) / tile_size), torch.ceil((v + radius_y) / tile_size)], 1)
    limit = torch.tensor([tiles_x, tiles_y], device=device, dtype=lo.dtype)
    lo = torch.minimum(lo.clamp_min(0), limit).long()
    hi = torch.minimum(hi.clamp_min(0), limit).long()
    return Projected(attributes=attributes, tile_lo=lo, tile_hi=hi)


_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


def _covariance_rotation(rotation: np.ndarray) -> np.ndarray:
    """(6, 6) M with ``vec6(R S R^T) = vec6(S) @ M`` for symmetric S stored as xx, xy, xz, yy, yz, zz."""
    matrix = np.zeros((6, 6))
    for col, (i, j) in enumerate(_PAIRS):
        for row, (k, m) in enumerate(_PAIRS):
            matrix[row, col] = rotation[i, k] * rotation[j, m] + (rotation[i, m] * rotation[j, k] if k != m else 0.0)
    return matrix

"""Lifting one RGB-D image into pixel-aligned Gaussians (camera frame, OpenCV, metres).

One Gaussian per ``stride`` x ``stride`` pixels, centred on the back-projected
pixel. Its footprint follows the pixel's: ``stride * z / f`` across, stretched
along the surface's tilt away from the view (by ``1 / cos`` of the angle
between the view ray and the normal, at most 4x) and flattened along the depth
normal (a tenth of its width). Normals come from the depth gradient; where a
pixel's neighbours lie across a depth edge (the second difference of inverse
depth, zero on any plane, above ``edge_threshold`` relative) the normal is the view ray and the footprint is not
stretched, so no Gaussian bridges a foreground object and the background.
Pixels without depth, or beyond ``max_depth`` (sky, far background), are not lifted.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import SH_C0, GaussianCloud

__all__ = ["backproject", "depth_edges", "depth_normals", "lift_gaussians", "matrix_to_quaternion"]

MAX_STRETCH = 4.0
"""Largest tangential stretch of a Gaussian on a surface seen at a grazing angle."""
FLATNESS = 0.1
"""Scale along the normal as a fraction of the scale across."""
OPACITY = 0.95


def backproject(depth: np.ndarray, intrinsic: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 camera-frame points [m] of an (H, W) z-depth map through a (3, 3) K."""
    height, width = depth.shape
    fx, fy, cx, cy = intrinsic[0, 0], intrinsic[1, 1], intrinsic[0, 2], intrinsic[1, 2]
    u = (np.arange(width, dtype=np.float32) - np.float32(cx)) / np.float32(fx)
    v = (np.arange(height, dtype=np.float32) - np.float32(cy)) / np.float32(fy)
    z = depth.astype(np.float32)
    return np.stack([z * u[None, :], z * v[:, None], z], axis=-1)


def depth_edges(depth: np.ndarray, *, step: int, threshold: float) -> np.ndarray:
    """(H, W) bool: pixels on a depth edge at ``step`` px scale.

    Inverse depth is affine in the image over any plane, whatever its slant, so
    its second difference is ~0 on surfaces and large across an occlusion edge
    (or a crease): a pixel is on an edge when ``|1/z(+s) + 1/z(-s) - 2/z| * z``
    along u or v exceeds ``threshold``, or a neighbour has no reading.
    """
    z = depth.astype(np.float32)
    inverse = np.where(z > 0, 1.0 / np.maximum(z, 1e-6), 0.0).astype(np.float32)
    padded = np.pad(inverse, step, mode="edge")
    height, width = z.shape
    edge = np.zeros(z.shape, bool)
    for dy, dx in ((0, step), (step, 0)):
        after = padded[step + dy : step + dy + height, step + dx : step + dx + width]
        before = padded[step - dy : step - dy + height, step - dx : step - dx + width]
        curvature = np.abs(after + before - 2.0 * inverse) * z
        edge |= (after <= 0) | (before <= 0) | (curvature > threshold)
    return edge & (z > 0)


def depth_normals(points: np.ndarray, *, step: int, edges: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 unit normals facing the camera, from central differences ``step`` px
    apart; at depth edges (and where the differences degenerate) the reversed view ray."""
    padded = np.pad(points, ((step, step), (step, step), (0, 0)), mode="edge")
    height, width = points.shape[:2]
    du = padded[step : step + height, 2 * step :][:, :width] - padded[step : step + height, :width]
    dv = padded[2 * step :][:height, step : step + width] - padded[:height, step : step + width]
    normal = np.cross(du, dv)
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    view = -points / np.maximum(np.linalg.norm(points, axis=-1, keepdims=True), 1e-9)
    bad = edges[..., None] | (length < 1e-12)
    normal = np.where(bad, view, normal / np.maximum(length, 1e-12))
    facing = np.sum(normal * view, axis=-1, keepdims=True) < 0
    return np.where(facing, -normal, normal).astype(np.float32)


def matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """(N, 4) float32 unit quaternions (w, x, y, z) of (N, 3, 3) rotation matrices (Shepperd's method)."""
    m = rotation.astype(np.float64)
    trace = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    diagonal = np.stack([trace, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    pick = np.argmax(diagonal, axis=1)
    q = np.empty((m.shape[0], 4))
    for case in range(4):  # four closed-form branches, each vectorised over its rows
        rows = pick == case
        r = m[rows]
        if case == 0:
            s = 2.0 * np.sqrt(np.maximum(1.0 + trace[rows], 1e-12))
            q[rows] = np.stack([0.25 * s, (r[:, 2, 1] - r[:, 1, 2]) / s, (r[:, 0, 2] - r[:, 2, 0]) / s,
                                (r[:, 1, 0] - r[:, 0, 1]) / s], axis=1)  # fmt: skip
        else:
            i = case - 1
            j, k = (i + 1) % 3, (i + 2) % 3
            s = 2.0 * np.sqrt(np.maximum(1.0 + r[:, i, i] - r[:, j, j] - r[:, k, k], 1e-12))
            out = np.empty((r.shape[0], 4))
            out[:, 0] = (r[:, k, j] - r[:, j, k]) / s
            out[:, 1 + i] = 0.25 * s
            out[:, 1 + j] = (r[:, j, i] + r[:, i, j]) / s
            out[:, 1 + k] = (r[:, k, i] + r[:, i, k]) / s
            q[rows] = out
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(q[:, :1] < 0, -q, q).astype(np.float32)


def lift_gaussians(
    rgb: np.ndarray,
    depth: np.ndarray,
    intrinsic: np.ndarray,
    *,
    stride: int,
    edge_threshold: float,
    max_depth: float,
) -> tuple[GaussianCloud, dict]:
    """Pixel-aligned Gaussians of one RGB-D image, in its camera frame (OpenCV, metres).

    Args:
        rgb: (H, W, 3) uint8.
        depth: (H, W) float32 z-depth [m], 0 = no reading.
        intrinsic: (3, 3) pixel-space K.
        stride: one Gaussian per ``stride`` x ``stride`` pixels.
        edge_threshold: relative depth jump that marks a depth edge.
        max_depth: readings beyond this (sky, far background) are masked [m].

    Returns:
        The cloud (SH degree 0) and counts: pixels sampled, lifted, masked as
        invalid or sky, on depth edges.
    """
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)
    far = depth > max_depth
    depth = np.where(far, 0.0, depth).astype(np.float32)
    points = backproject(depth, intrinsic)
    edges = depth_edges(depth, step=stride, threshold=edge_threshold)
    normals = depth_normals(points, step=stride, edges=edges)

    start = stride // 2
    grid = (slice(start, None, stride), slice(start, None, stride))
    keep = depth[grid] > 0
    position = points[grid][keep]
    normal = normals[grid][keep]
    on_edge = edges[grid][keep]
    color = rgb[grid][keep].astype(np.float32) / 255.0
    z = position[:, 2]

    view = position / np.maximum(np.linalg.norm(position, axis=1, keepdims=True), 1e-9)
    cos = np.abs(np.sum(view * normal, axis=1))
    tilt = view - np.sum(view * normal, axis=1, keepdims=True) * normal
    fallback = np.cross(normal, np.array([0.0, 1.0, 0.0], np.float32))  # any tangent when the ray is the normal
    fallback = np.where(np.linalg.norm(fallback, axis=1, keepdims=True) < 1e-3, np.cross(normal, [1.0, 0, 0]), fallback)
    tilt = np.where(np.linalg.norm(tilt, axis=1, keepdims=True) < 1e-6, fallback, tilt)
    t1 = tilt / np.linalg.norm(tilt, axis=1, keepdims=True)
    t2 = np.cross(normal, t1)
    rotation = np.stack([t1, t2, normal], axis=2)  # columns: local x, y, z

    across = 0.5 * stride * z / float(intrinsic[0, 0])
    stretch = np.where(on_edge, 1.0, np.minimum(1.0 / np.maximum(cos, 1e-6), MAX_STRETCH))
    scales = np.stack([across * stretch, across, FLATNESS * across], axis=1).astype(np.float32)
    cloud = GaussianCloud(
        positions=position.astype(np.float32),
        rotations=matrix_to_quaternion(rotation),
        scales=scales,
        opacities=np.full(len(z), OPACITY, np.float32),
        sh=((color - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )
    report = {
        "pixels_sampled": int(keep.size),
        "gaussians": int(len(z)),
        "masked_invalid": int(np.count_nonzero(~keep)) - int(np.count_nonzero(far[grid])),
        "masked_sky": int(np.count_nonzero(far[grid])),
        "on_depth_edges": int(np.count_nonzero(on_edge)),
    }
    return cloud, report

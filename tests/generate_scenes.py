"""Synthetic single-view RGB-D scenes with known geometry for the generate tests.

A room corner seen by a pinhole camera at ``height`` above the floor, pitched
down: floor z = 0, back wall y = ``back``, left wall x = ``left``, one box on the
floor in front of the back wall. World is Z-up; the camera looks along +Y.
Depth is ray-cast exactly, then optionally given Kinect-like noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RoomView", "render_room"]


@dataclass
class RoomView:
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 [m]
    intrinsic: np.ndarray  # (3, 3)
    cam_to_world: np.ndarray  # (4, 4) OpenCV camera -> Z-up world
    box: tuple  # ((x0, y0, 0), (x1, y1, top))
    back: float
    left: float | None


def camera_pose(height: float, pitch_deg: float) -> np.ndarray:
    t = np.radians(pitch_deg)
    forward = np.array([0.0, np.cos(t), -np.sin(t)])
    right = np.array([1.0, 0.0, 0.0])
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = [0.0, 0.0, height]
    return pose


def render_room(
    *, width=160, height_px=120, focal=120.0, cam_height=1.2, pitch_deg=20.0, back=4.0, left=-1.5,
    box=((-0.3, 2.6, 0.0), (0.5, 3.2, 0.7)), noise=0.0, seed=0, sky_beyond=None,
) -> RoomView:  # fmt: skip
    """Ray-cast the room; ``left=None`` and ``back=None`` leave walls out (outdoors: floor to the horizon)."""
    k = np.array([[focal, 0, (width - 1) / 2], [0, focal, (height_px - 1) / 2], [0, 0, 1.0]])
    pose = camera_pose(cam_height, pitch_deg)
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height_px, dtype=np.float64))
    rays_cam = np.stack([(u - k[0, 2]) / focal, (v - k[1, 2]) / focal, np.ones_like(u)], axis=-1)
    rays = rays_cam @ pose[:3, :3].T  # camera z component of t * ray_cam is t: depth = t
    origin = pose[:3, 3]
    t = np.full(u.shape, np.inf)
    color = np.zeros(u.shape + (3,))

    def hit(candidate, rgb):
        nonlocal t
        better = (candidate > 1e-6) & (candidate < t)
        t = np.where(better, candidate, t)
        color[better] = rgb

    with np.errstate(divide="ignore", invalid="ignore"):
        hit(np.where(rays[..., 2] < 0, -origin[2] / rays[..., 2], np.inf), (0.6, 0.45, 0.3))  # floor
        if back is not None:
            tb = (back - origin[1]) / rays[..., 1]
            hit(np.where(origin[2] + tb * rays[..., 2] >= 0, tb, np.inf), (0.85, 0.85, 0.8))
        if left is not None:
            tl = (left - origin[0]) / rays[..., 0]
            hit(np.where(origin[2] + tl * rays[..., 2] >= 0, tl, np.inf), (0.8, 0.8, 0.9))
        lo, hi = np.array(box[0]), np.array(box[1])
        t0, t1 = (lo - origin) / rays, (hi - origin) / rays
        near = np.max(np.minimum(t0, t1), axis=-1)
        far = np.min(np.maximum(t0, t1), axis=-1)
        hit(np.where((near <= far) & (near > 0), near, np.inf), (0.2, 0.4, 0.7))
    depth = np.where(np.isfinite(t), t, 0.0)
    if sky_beyond is not None:
        depth = np.where(depth > sky_beyond, 0.0, depth)
    if noise > 0:  # Kinect-like: sigma grows with the square of depth (~1.5 cm at 3 m for noise=0.0017)
        rng = np.random.default_rng(seed)
        depth = np.where(depth > 0, depth + rng.normal(size=depth.shape) * noise * depth**2, 0.0)
    rgb = (np.clip(color, 0, 1) * 255).astype(np.uint8)
    return RoomView(rgb, depth.astype(np.float32), k, pose, box, back, left)

"""A small vectorised numpy rasteriser: z-buffered triangles, round points and lines, and a PNG writer.

Headless pictures of a world (``worldgen view --screenshot``, ``preview.png``) must work on any
CI machine without a GPU, a display or a browser, and give the same bytes for the same world, so
they are drawn here with numpy alone. Triangles use homogeneous rasterisation (Olano & Greer
1997): each candidate pixel's barycentrics come from the inverse of the triangle's 3x3 matrix of
projected vertices, which handles triangles that pass behind the camera (a floor under the input
camera) without clipping. Every step runs on arrays of candidate pixels, in chunks; the nearest
candidate per pixel wins, ties broken by draw order, so the result is deterministic.

Camera convention: OpenCV (x right, y down, z forward), pinhole ``K``, like the rest of the project.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Camera", "Canvas", "write_png"]

_CHUNK = 2_000_000
"""Candidate pixels handled at once (bounds memory: ~100 bytes each)."""
_LIGHT = np.array([0.3, -0.5, 1.0]) / np.linalg.norm([0.3, -0.5, 1.0])


@dataclass(frozen=True)
class Camera:
    """A pinhole camera looking from ``position`` at ``look_at``.

    Attributes:
        position: (3,) world position [m].
        look_at: (3,) world point at the image centre [m].
        up: (3,) world direction that points up in the image.
        vfov_deg: vertical field of view [deg].
        width, height: image size [px].
        near: nearest drawn depth [m].
    """

    position: tuple[float, float, float]
    look_at: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    vfov_deg: float = 60.0
    width: int = 640
    height: int = 480
    near: float = 0.01

    @property
    def focal(self) -> float:
        """Focal length [px] (square pixels)."""
        return 0.5 * self.height / np.tan(np.radians(self.vfov_deg) / 2)

    def world_to_camera(self) -> np.ndarray:
        """(4, 4) float64 world -> OpenCV camera transform."""
        eye = np.asarray(self.position, np.float64)
        forward = np.asarray(self.look_at, np.float64) - eye
        forward /= max(float(np.linalg.norm(forward)), 1e-12)
        right = np.cross(forward, np.asarray(self.up, np.float64))
        if np.linalg.norm(right) < 1e-9:  # looking along up: any right angle will do
            right = np.cross(forward, [0.0, 1.0, 0.0] if abs(forward[1]) < 0.9 else [1.0, 0.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        matrix = np.eye(4)
        matrix[:3, :3] = np.stack([right, down, forward])
        matrix[:3, 3] = -matrix[:3, :3] @ eye
        return matrix

    def intrinsics(self) -> np.ndarray:
        """(3, 3) pixel-space K."""
        f = self.focal
        return np.array([[f, 0, 0.5 * self.width], [0, f, 0.5 * self.height], [0, 0, 1.0]])


class Canvas:
    """An RGB image with a depth buffer that layers are drawn into, nearest first wins.

    Args:
        camera: the view.
        background: RGB in [0, 1].
    """

    def __init__(self, camera: Camera, *, background=(1.0, 1.0, 1.0)) -> None:
        self.camera = camera
        self._view = camera.world_to_camera()
        self._k = camera.intrinsics()
        n = camera.width * camera.height
        self.depth = np.full(n, np.inf)
        self.color = np.tile(np.asarray(background, np.float32), (n, 1))

    def image(self) -> np.ndarray:
        """(H, W, 3) uint8."""
        rgb = np.clip(np.rint(self.color * 255), 0, 255).astype(np.uint8)
        return rgb.reshape(self.camera.height, self.camera.width, 3)

    def _to_camera(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, np.float64).reshape(-1, 3)
        return points @ self._view[:3, :3].T + self._view[:3, 3]

    # --- triangles ------------------------------------------------------------------------

    def triangles(self, vertices, faces, colors, *, alpha: float = 1.0, shade: bool = True,
                  cull_back: bool = False) -> None:
        """Draw a triangle mesh.

        Args:
            vertices: (V, 3) world positions [m].
            faces: (F, 3) vertex indices.
            colors: (V, 3) RGB in [0, 1] per vertex (interpolated), or (3,) for all.
            alpha: < 1 blends over what is drawn (depth-tested, depth not written).
            shade: Lambert shading by the face normal (two-sided) under a fixed light.
            cull_back: skip faces whose winding turns them away from the camera (a scanned
                room's inward-facing walls and ceiling, seen from outside).
        """
        faces = np.asarray(faces, np.int64).reshape(-1, 3)
        if faces.shape[0] == 0:
            return
        vertices = np.asarray(vertices, np.float64).reshape(-1, 3)
        colors = np.broadcast_to(np.asarray(colors, np.float32), vertices.shape)
        cam = self._to_camera(vertices)
        homogeneous = cam @ self._k.T  # (V, 3): (X, Y, W) with W = z
        z = cam[faces, 2]
        width, height = self.camera.width, self.camera.height
        near = self.camera.near
        in_front = (z > near).all(axis=1)
        # Pixels whose centres may be covered: the projected box (none for most sub-pixel triangles
        # of a dense mesh); for a triangle crossing the near plane, the box of its part in front.
        uv = homogeneous[:, :2] / np.where(cam[:, 2:3] > near, cam[:, 2:3], 1.0)
        tri_uv = uv[faces]
        lo = np.ceil(tri_uv.min(axis=1) - 0.5)
        hi = np.floor(tri_uv.max(axis=1) - 0.5)
        crossing = np.flatnonzero(~in_front & (z.max(axis=1) > near))
        if crossing.size:
            lo[crossing], hi[crossing] = self._clipped_boxes(cam[faces[crossing]], near)
        lo = np.maximum(lo, 0).astype(np.int64)
        hi = np.minimum(hi, [width - 1, height - 1]).astype(np.int64)
        ids = np.flatnonzero((z.max(axis=1) > near) & (lo <= hi).all(axis=1))
        matrices = homogeneous[faces[ids]].transpose(0, 2, 1)  # (F', 3, 3): columns are the 3 vertices
        det = np.linalg.det(matrices)
        keep = np.abs(det) > 1e-12 * np.abs(z[ids]).max(axis=1).clip(1e-6) ** 3
        if cull_back:  # det = det(K) * V0 . (V1 x V2) (camera frame) < 0: the face normal points at the camera
            keep &= det < 0
        ids, matrices = ids[keep], matrices[keep]
        if ids.size == 0:
            return
        inverse = np.linalg.inv(matrices)  # rows: edge functions
        shading = np.ones(faces.shape[0], np.float32)
        if shade:  # only for the faces that may be drawn: most of a dense mesh covers no pixel centre
            a, b, c = (vertices[faces[ids, i]] for i in range(3))
            normal = np.cross(b - a, c - a)
            normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-20)
            shading[ids] = 0.45 + 0.55 * np.abs(normal @ _LIGHT)
        box_w = hi[ids, 0] - lo[ids, 0] + 1
        box_h = hi[ids, 1] - lo[ids, 1] + 1
        sizes = box_w * box_h
        for chunk in _chunks(sizes):
            local_ids = np.arange(chunk.start, chunk.stop)
            count = sizes[local_ids]
            which = np.repeat(local_ids, count)
            offset = np.arange(which.size) - np.repeat(np.cumsum(count) - count, count)
            px = lo[ids[which], 0] + offset % box_w[which]
            py = lo[ids[which], 1] + offset // box_w[which]
            m = inverse[which]  # (C, 3, 3)
            sx, sy = px + 0.5, py + 0.5
            e = m[:, :, 0] * sx[:, None] + m[:, :, 1] * sy[:, None] + m[:, :, 2]  # (C, 3) = barycentrics / z
            total = e.sum(axis=1)
            inside = (e >= -1e-12 * np.abs(total)[:, None]).all(axis=1) & (total > 0)
            depth = np.divide(1.0, total, out=np.full_like(total, np.inf), where=inside)
            inside &= depth > near
            if not inside.any():
                continue
            e, depth, which, px, py = e[inside], depth[inside], which[inside], px[inside], py[inside]
            tri = ids[which]
            bary = (e * depth[:, None]).astype(np.float32)
            rgb = np.einsum("ci,cij->cj", bary, colors[faces[tri]]) * shading[tri, None]
            self._merge(py * width + px, depth, rgb, alpha=alpha)

    def _clipped_boxes(self, corners: np.ndarray, near: float) -> tuple[np.ndarray, np.ndarray]:
        """Pixel boxes (lo, hi) of (C, 3, 3) camera-frame triangles cut at ``z = near`` (the part in front)."""
        z = corners[:, :, 2]
        points, valid = [corners[:, i] for i in range(3)], [z[:, i] > near for i in range(3)]
        for i, j in ((0, 1), (1, 2), (2, 0)):  # where each edge crosses the near plane
            step = np.where(z[:, j] != z[:, i], z[:, j] - z[:, i], 1.0)
            t = np.clip((near - z[:, i]) / step, 0.0, 1.0)
            points.append(corners[:, i] + t[:, None] * (corners[:, j] - corners[:, i]))
            valid.append((z[:, i] - near) * (z[:, j] - near) < 0)
        projected = np.stack(points, axis=1) @ self._k.T  # (C, 6, 3)
        uv = projected[..., :2] / np.maximum(projected[..., 2:3], near)
        mask = np.stack(valid, axis=1)[..., None]
        lo = np.ceil(np.where(mask, uv, np.inf).min(axis=1) - 0.5)
        hi = np.floor(np.where(mask, uv, -np.inf).max(axis=1) - 0.5)
        return lo, hi

    # --- points and lines -----------------------------------------------------------------

    def points(self, points, colors, *, radius_px: float = 1.5, radius_m: float | None = None,
               alpha: float = 1.0) -> None:
        """Draw round points.

        Args:
            points: (N, 3) world positions [m].
            colors: (N, 3) or (3,) RGB in [0, 1].
            radius_px: radius on screen [px] (when ``radius_m`` is None).
            radius_m: radius in the world [m]: farther points are drawn smaller (at least 1 px).
            alpha: < 1 blends over what is drawn.
        """
        points = np.asarray(points, np.float64).reshape(-1, 3)
        if points.shape[0] == 0:
            return
        colors = np.broadcast_to(np.asarray(colors, np.float32), points.shape)
        cam = self._to_camera(points)
        front = cam[:, 2] > self.camera.near
        cam, colors = cam[front], colors[front]
        uv = (cam @ self._k.T)[:, :2] / cam[:, 2:3]
        if radius_m is not None:
            radius = np.clip(self.camera.focal * radius_m / cam[:, 2], 0.5, 12.0)
        else:
            radius = np.full(len(cam), float(radius_px))
        reach = np.ceil(radius - 0.5).astype(np.int64)
        for r in np.unique(reach):  # one offset stencil per integer reach
            sel = np.flatnonzero(reach == r)
            dx, dy = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
            dx, dy = dx.ravel(), dy.ravel()
            for chunk in _chunks(np.full(sel.size, dx.size)):
                part = sel[chunk]
                cx = np.floor(uv[part, 0]).astype(np.int64)[:, None] + dx
                cy = np.floor(uv[part, 1]).astype(np.int64)[:, None] + dy
                distance = np.hypot(cx + 0.5 - uv[part, 0:1], cy + 0.5 - uv[part, 1:2])
                keep = (distance <= np.maximum(radius[part, None], 0.5)) & (cx >= 0) & (cy >= 0)
                keep &= (cx < self.camera.width) & (cy < self.camera.height)
                rows = np.nonzero(keep)[0]
                depth = cam[part[rows], 2]
                if radius_m is not None:  # a sphere, not a flat disc: the floor it stands on must not cut it
                    across = distance[keep] / np.maximum(radius[part[rows]], 0.5)
                    depth = depth - radius_m * np.sqrt(np.clip(1.0 - across**2, 0.0, 1.0))
                self._merge(cy[keep] * self.camera.width + cx[keep], depth, colors[part[rows]], alpha=alpha)

    def lines(self, segments, color, *, radius_px: float = 1.0) -> None:
        """Draw (S, 2, 3) world segments [m] in one RGB colour, clipped at the near plane."""
        segments = np.asarray(segments, np.float64).reshape(-1, 2, 3)
        if segments.shape[0] == 0:
            return
        cam = self._to_camera(segments.reshape(-1, 3)).reshape(-1, 2, 3)
        near = self.camera.near
        a, b = cam[:, 0], cam[:, 1]
        keep = (a[:, 2] > near) | (b[:, 2] > near)
        a, b = a[keep], b[keep]
        # Move the end behind the near plane onto it.
        t = np.clip((near - a[:, 2]) / np.where(b[:, 2] != a[:, 2], b[:, 2] - a[:, 2], 1.0), 0.0, 1.0)
        a = np.where((a[:, 2] <= near)[:, None], a + t[:, None] * (b - a), a)
        t = np.clip((near - b[:, 2]) / np.where(a[:, 2] != b[:, 2], a[:, 2] - b[:, 2], 1.0), 0.0, 1.0)
        b = np.where((b[:, 2] <= near)[:, None], b + t[:, None] * (a - b), b)
        ua, ub = (a @ self._k.T)[:, :2] / a[:, 2:3], (b @ self._k.T)[:, :2] / b[:, 2:3]
        length = np.linalg.norm(ub - ua, axis=1)
        steps = np.clip(np.ceil(length * 2), 1, 4 * (self.camera.width + self.camera.height)).astype(np.int64) + 1
        which = np.repeat(np.arange(len(a)), steps)
        s = (np.arange(which.size) - np.repeat(np.cumsum(steps) - steps, steps)) / (steps[which] - 1).clip(1)
        samples_cam = a[which] + s[:, None] * (b[which] - a[which])
        world = (samples_cam - self._view[:3, 3]) @ self._view[:3, :3]  # back to world for points()
        self.points(world, color, radius_px=radius_px)

    # --- depth-tested writes ----------------------------------------------------------------

    def _merge(self, pixels: np.ndarray, depth: np.ndarray, rgb: np.ndarray, *, alpha: float) -> None:
        """Keep the nearest candidate per pixel; write it where it is nearer than the buffer."""
        if pixels.size == 0:
            return
        order = np.lexsort((depth, pixels))  # stable: equal depths keep draw order
        sorted_pixels = pixels[order]
        first = np.ones(order.size, bool)
        first[1:] = sorted_pixels[1:] != sorted_pixels[:-1]
        best = order[first]
        pix, z = pixels[best], depth[best]
        if alpha >= 1.0:
            nearer = z < self.depth[pix]
            self.depth[pix[nearer]] = z[nearer]
            self.color[pix[nearer]] = rgb[best][nearer]
        else:  # overlays (walkable surface) lie on what they mark: allow a little depth slack
            nearer = z <= self.depth[pix] * 1.002 + 0.01
            target = pix[nearer]
            self.color[target] = (1 - alpha) * self.color[target] + alpha * rgb[best][nearer]


def _chunks(sizes: np.ndarray):
    """Slices of consecutive items whose ``sizes`` add up to at most ``_CHUNK`` (at least one item each)."""
    ends = np.cumsum(sizes)
    start = 0
    while start < sizes.size:
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + _CHUNK, side="right")), start + 1)
        yield slice(start, stop)
        start = stop


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 image as an 8-bit RGB PNG (zlib level 6: the same bytes every time)."""
    image = np.ascontiguousarray(image, np.uint8)
    height, width = image.shape[:2]
    raw = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, -1)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    Path(path).write_bytes(png)

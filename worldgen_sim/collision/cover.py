"""Voxel cover: an object's solid spans merged into boxes — the method that always works.

Used where CoACD is the wrong tool or has failed: clutter (vegetation: thousands of
small pieces grouped per cell), objects whose worker crashed after every retry or
ran out of time, and open shells with no closed solid (sides seen without a top).
The object is turned into its own frame, its layered-heightfield spans and wall
spans (:func:`worldgen_sim.collision.boxes.solid_spans`) are quantised to the cell
and merged into boxes (:func:`worldgen_sim.collision.solidify.merge_spans`); the cell
doubles until at most ``max_boxes`` boxes remain. Phantom volume stays within about
one cell of the surface, unlike one hull over the whole object.
"""

from __future__ import annotations

import numpy as np

__all__ = ["voxel_cover"]


def voxel_cover(vertices: np.ndarray, faces: np.ndarray, *, ground_height: float, cell: float, max_boxes: int,
                tolerance: float = 0.02, max_doublings: int = 4, ground_triangles: np.ndarray | None = None,
                underside: float = 0.05, max_interior: float = 0.0) -> tuple[np.ndarray, float, float]:
    """Boxes covering an object's solid.

    Args:
        vertices: (V, 3) float world-frame surface vertices [m] (Z-up).
        faces: (F, 3) int triangles.
        ground_height: where open columns are closed [m].
        cell: starting grid cell [m]; doubles (up to ``max_doublings`` times) while more than
            ``max_boxes`` boxes are needed.
        max_boxes: most boxes.
        tolerance: wall spans within this of the ground stand on it [m].
        ground_triangles: (G, 3, 3) world-frame triangles of the ground observed under the object [m],
            or None: tops over it are closed ``underside`` [m] below themselves, not on the ground.
        max_interior: unseen interiors enclosed by sides up to this area are solid
            (:func:`worldgen_sim.collision.boxes.solid_spans`) [m^2].

    Returns:
        (B, 8, 3) float64 world-frame box corners [m], the covered span volume [m^3] and the cell used [m].
        No boxes when the object has no spans (a flat sheet, a line).
    """
    from worldgen_sim.collision.boxes import local_triangles, object_frame, rotate_z, solid_spans
    from worldgen_sim.collision.solidify import merge_spans

    vertices = np.asarray(vertices, np.float64)
    if vertices.shape[0] == 0 or not np.isfinite(vertices).all():
        return np.zeros((0, 8, 3)), 0.0, cell
    yaw, tri, lo, hi = object_frame(vertices, faces)
    ground_triangles = local_triangles(ground_triangles, yaw)
    cell = max(cell, float(np.sqrt(np.prod(np.maximum(hi - lo, 1e-9)) / 250_000)))
    boxes = np.zeros((0, 2, 3))
    for _ in range(max_doublings + 1):
        column, top, bottom, nx, _ny = solid_spans(tri, lo, hi, cell, ground_height, tolerance, seam=0.5 * cell,
                                                   ground_triangles=ground_triangles, underside=underside,
                                                   max_interior=max_interior)
        # Heights to the cell (outward: tops up, bottoms down), so neighbouring spans merge.
        top = ground_height + np.ceil((top - ground_height) / cell - 0.25) * cell
        bottom = ground_height + np.floor((bottom - ground_height) / cell + 0.25) * cell
        good = top > bottom + 1e-9
        if not good.any():
            break
        boxes = merge_spans(column[good] // nx, column[good] % nx, top[good], bottom[good], lo, cell)
        if boxes.shape[0] <= max_boxes:
            break
        cell *= 2.0
    if boxes.shape[0] > max_boxes:  # still too many at the coarsest cell: keep the largest
        volume = np.prod(boxes[:, 1] - boxes[:, 0], axis=1)
        boxes = boxes[np.sort(np.argsort(-volume, kind="stable")[:max_boxes])]
    volume = float(np.prod(boxes[:, 1] - boxes[:, 0], axis=1).sum()) if boxes.size else 0.0
    pick = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], bool)
    corners = np.where(pick[None], boxes[:, None, 1, :], boxes[:, None, 0, :]).reshape(-1, 3)
    return rotate_z(corners, yaw).reshape(-1, 8, 3), volume, cell

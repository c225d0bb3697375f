"""The ground fill as it was before session 5, kept as the reference the new fill is judged against.

Coverage: every surface triangle and, again, every ground triangle sampled in 3-D at a
quarter cell. Corner heights: ``scipy.interpolate.griddata`` over every known cell within
two cells of any hole (one Delaunay triangulation of all of them), linear inside its hull,
nearest outside. Same arguments as :func:`worldgen_sim.collision.ground.fill_ground_holes`
(the ground triangles given as a mask of the surface triangles), so a test or a bench can
run both on one input; finding the holes and meshing the patch, unchanged, are shared. A regular grid's Delaunay
triangulation is degenerate (which diagonal each square gets depends on round-off), so the
heights are kept to the letter, world coordinates and all: the same cells in another frame
give corner heights up to ~1 cm apart.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.collision.ground import GroundField, _holes, _patch_mesh


def fill_ground_holes_reference(ground: GroundField, surface_triangles: np.ndarray, *, on_ground: np.ndarray,
                                max_area: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """The pre-session-5 ``fill_ground_holes``: (P, 3) vertices, (Q, 3) faces, report."""
    from scipy import ndimage

    ground_triangles = surface_triangles[on_ground]
    report = {"holes_filled": 0, "filled_m2": 0.0}
    none = (np.zeros((0, 3)), np.zeros((0, 3), np.int64), report)
    if not ground.found or max_area <= 0 or len(ground_triangles) == 0:
        return none
    lowest = ground.heights[..., 0].astype(np.float64)
    ny, nx = lowest.shape
    half = 0.5 * ground.cell
    covered = _coverage(ground_triangles, ground.origin, half, (2 * ny, 2 * nx))
    surface = _coverage(surface_triangles, ground.origin, half, (2 * ny, 2 * nx))
    hole_sub, hole = _holes(surface, covered, half=half, max_area=max_area)  # unchanged in session 5: shared
    if not hole.any():
        return none
    patch = ndimage.binary_dilation(hole, structure=np.ones((3, 3), bool))
    heights = griddata_patch_heights(lowest, patch, origin=ground.origin, cell=ground.cell)
    if heights is None:
        return none
    vertices, faces = _patch_mesh(ground, patch, *heights)  # unchanged in session 5: shared
    report = {"holes_filled": int(ndimage.label(hole)[1]),
              "filled_m2": round(float(hole_sub.sum()) * half**2, 4)}
    return vertices, faces, report


def griddata_patch_heights(lowest: np.ndarray, patch: np.ndarray, *, origin: np.ndarray,
                           cell: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The old corner-height step: (C,) sorted corner ids and (C,) heights [m] of the ``patch`` cells' corners,
    as :func:`worldgen_sim.collision.ground._patch_heights` returns them (None: no known cell near)."""
    from scipy import ndimage

    nx = lowest.shape[1]
    known = ndimage.binary_dilation(patch, iterations=2) & np.isfinite(lowest)
    if not known.any():
        return None
    ky, kx = np.nonzero(known)
    py, px = np.nonzero(patch)
    corner = np.unique(np.concatenate([(py + dy) * (nx + 1) + px + dx for dy in (0, 1) for dx in (0, 1)]))
    cy, cx = np.divmod(corner, nx + 1)
    corner_xy = origin + np.column_stack([cx, cy]) * cell
    centre_xy = origin + (np.column_stack([kx, ky]) + 0.5) * cell
    return corner, _interpolate(centre_xy, lowest[ky, kx], corner_xy)


def _coverage(triangles: np.ndarray, origin: np.ndarray, cell: float, shape: tuple[int, int]) -> np.ndarray:
    from worldgen_sim.collision.mesh_ops import sample_triangles

    points, _ = sample_triangles(triangles, 0.5 * cell)
    col, row = np.floor((points[:, :2] - origin) / cell).astype(np.int64).T
    inside = (col >= 0) & (col < shape[1]) & (row >= 0) & (row < shape[0])
    covered = np.zeros(shape, bool)
    covered[row[inside], col[inside]] = True
    return covered


def _interpolate(xy: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    from scipy.interpolate import griddata

    if len(xy) >= 3:
        try:
            out = griddata(xy, values, query, method="linear")
        except Exception:  # degenerate (collinear) ring: nearest below
            out = np.full(len(query), np.nan)
    else:
        out = np.full(len(query), np.nan)
    missing = ~np.isfinite(out)
    if missing.any():
        out[missing] = griddata(xy, values, query[missing], method="nearest")
    return out

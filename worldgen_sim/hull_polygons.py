"""How many polygons a convex hull has, as PhysX counts them: facets on one plane are one polygon.

PhysX's GPU pipeline takes convex hulls of at most 64 vertices and 64 polygons. Qhull
returns triangles; the triangles of one face lie on one plane and are one polygon. A
float32 round trip (USD stores points as float3) or a transform tilts those triangles
apart by ~1e-7, so their plane equations no longer agree exactly: rounding them (the
rule before) split such faces on either side of a rounding boundary, and the collider
audit counted 65-70 polygons on the plaza statue's hulls that PhysX cooked for its GPU
without a word. Planes here are one polygon when their normals agree within
:data:`PLANE_ANGLE` and their offsets within :data:`PLANE_DISTANCE`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PLANE_ANGLE", "PLANE_DISTANCE", "polygon_count"]

PLANE_ANGLE = np.radians(0.1)
"""Facets whose normals differ by less than this are coplanar [rad]."""
PLANE_DISTANCE = 1e-4
"""Facets whose planes' offsets differ by less than this are coplanar [m]."""


def polygon_count(equations: np.ndarray, *, angle: float = PLANE_ANGLE, distance: float = PLANE_DISTANCE) -> int:
    """Number of distinct face planes among a convex hull's facets.

    Args:
        equations: (F, 4) facet planes ``n . x + d = 0`` (Qhull's ``ConvexHull.equations``; any scale
            of each row), of a hull about its own centre: ``d`` is compared in metres, and far
            from the origin a small tilt would move it by more than ``distance``.
        angle: largest angle between the normals of one polygon's facets [rad].
        distance: largest difference between their offsets [m].
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    planes = np.asarray(equations, np.float64).reshape(-1, 4)
    if len(planes) == 0:
        return 0
    planes = planes / np.maximum(np.linalg.norm(planes[:, :3], axis=1, keepdims=True), 1e-300)
    normals, offsets = planes[:, :3], planes[:, 3]
    same = (normals @ normals.T >= np.cos(angle)) & (np.abs(offsets[:, None] - offsets[None, :]) <= distance)
    count, _ = connected_components(csr_matrix(same), directed=False)
    return int(count)

"""Points out of a USD stage in world coordinates: USD's row-vector matrices in one place.

USD (``Gf.Matrix4d``) stores a transform for row vectors: a point ``p`` (1, 3) maps
to ``p @ M[:3, :3] + M[3, :3]``, the translation in the last *row*. The rest of
worldgen_sim (align's similarities, camera poses) uses column vectors,
``M[:3, :3] @ p + M[:3, 3]``; mixing the two up silently transposes a rotation and
drops the translation, so every reader of authored USD geometry goes through here.

pxr is imported where used: ``import worldgen_sim.usd_geometry`` stays light.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["fan_corners", "prim_world_matrix", "usd_transform_points"]


def usd_transform_points(points: np.ndarray, matrix: np.ndarray, *, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """Map points by a USD (row-vector) 4 x 4 matrix: ``points @ M[:3, :3] + M[3, :3]``.

    Args:
        points: (N, 3) or anything reshapeable to it, in the prim's local frame [m].
        matrix: (4, 4) USD local-to-world matrix (translation in row 3), e.g. :func:`prim_world_matrix`.
        dtype: dtype of the result; the product is always computed in float64.

    Returns:
        (N, 3) ``dtype`` world points [m]. An identity matrix costs no product (a million
        splats would pay ~0.5 s for nothing): the points come back as they are, in ``dtype``.
    """
    points = np.asarray(points).reshape(-1, 3)
    matrix = np.asarray(matrix, np.float64)
    if np.array_equal(matrix, np.eye(4)):
        return points.astype(dtype, copy=False)
    return (points.astype(np.float64, copy=False) @ matrix[:3, :3] + matrix[3, :3]).astype(dtype, copy=False)


def prim_world_matrix(prim, *, cache=None) -> np.ndarray:
    """(4, 4) float64 local-to-world matrix of a prim (row-vector convention, as USD stores it).

    Args:
        prim: a ``Usd.Prim`` (or a schema object wrapping one, e.g. ``UsdGeom.Mesh``).
        cache: a ``UsdGeom.XformCache`` to share the ancestors' work across many prims of one
            stage; None computes this prim's transform on its own.
    """
    from pxr import Usd, UsdGeom

    prim = prim.GetPrim() if hasattr(prim, "GetPrim") else prim
    if cache is not None:
        return np.asarray(cache.GetLocalToWorldTransform(prim), np.float64)
    return np.asarray(UsdGeom.Xformable(prim).ComputeLocalToWorldTransform(Usd.TimeCode.Default()), np.float64)


def fan_corners(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fan-triangulate a ``UsdGeom.Mesh``'s polygons at once: triangle k of a face uses its corners 0, k+1, k+2.

    Args:
        counts: (F,) int ``faceVertexCounts``; faces with fewer than 3 corners give no triangle.

    Returns:
        (T,) int64 the face each triangle came from, and (T, 3) int64 positions in
        ``faceVertexIndices`` of each triangle's corners (``indices[corners]`` gives point indices).
    """
    counts = np.asarray(counts, np.int64)
    face_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    tris_per_face = np.maximum(counts - 2, 0)
    face_of_tri = np.repeat(np.arange(len(counts)), tris_per_face)
    first_tri = np.concatenate([[0], np.cumsum(tris_per_face)[:-1]]).astype(np.int64)
    k = np.arange(len(face_of_tri)) - first_tri[face_of_tri]
    return face_of_tri, face_start[face_of_tri][:, None] + np.stack([np.zeros_like(k), k + 1, k + 2], axis=1)

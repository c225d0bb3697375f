"""Triangle helpers shared by the collision modules: face geometry, surface samples, voxel connectivity."""

from __future__ import annotations

import numpy as np

__all__ = ["connected_pieces", "face_geometry", "sample_triangles", "voxel_keys"]


def face_geometry(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit normals (F, 3), areas (F,) [m^2] and centroids (F, 3) [m] of triangles (float64)."""
    tri = vertices[faces].astype(np.float64)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    normals = cross / np.maximum(norm, 1e-20)[:, None]
    return normals, 0.5 * norm, tri.mean(axis=1)


def sample_triangles(tri: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points on triangles, no two neighbours farther apart than about ``spacing``.

    Args:
        tri: (F, 3, D) float64 triangle corners [m], D = 3 (or 2: xy footprints, spaced in xy).
        spacing: sample spacing [m].

    Returns:
        (P, D) float64 points and (P,) int64 index of the triangle each lies on.
    """
    if tri.shape[0] == 0:
        return np.zeros((0, tri.shape[2])), np.zeros(0, np.int64)
    edges = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1)
    steps = np.maximum(1, np.ceil(edges / spacing)).astype(np.int64)
    points, owners = [], []
    # One barycentric pattern per subdivision count; a loop over distinct counts, not faces.
    for n in np.unique(steps):
        idx = np.flatnonzero(steps == n)
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = i + j <= n
        a, b = i[keep] / n, j[keep] / n
        bary = np.stack([1 - a - b, a, b], axis=1)  # (S, 3)
        for chunk in np.array_split(idx, max(1, idx.size * len(bary) // 2_000_000 + 1)):
            pts = np.einsum("sk,fkj->fsj", bary, tri[chunk]).reshape(-1, tri.shape[2])
            points.append(pts)
            owners.append(np.repeat(chunk, len(bary)))
    return np.concatenate(points), np.concatenate(owners)


def voxel_keys(points: np.ndarray, voxel: float, origin: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """(P,) int64 linear keys of the voxels holding (P, 3) points, on a grid from ``origin`` of ``dims`` cells."""
    cells = np.floor((points - origin) / voxel).astype(np.int64)
    return (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]


def connected_pieces(tri: np.ndarray, voxel: float) -> np.ndarray:
    """(F,) int64 component label per triangle; triangles in touching voxels are connected.

    Reconstructed and generated meshes are full of T-junctions and hairline gaps (a table
    leg touching the underside of its top shares no vertex with it), so connectivity is
    judged on a sparse voxel grid rather than by shared vertices.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    count = tri.shape[0]
    if count == 0:
        return np.zeros(0, np.int64)
    points, owners = sample_triangles(tri, 0.5 * voxel)
    origin = points.min(axis=0) - voxel
    dims = np.floor((points.max(axis=0) - origin) / voxel).astype(np.int64) + 2
    unique, inverse = np.unique(voxel_keys(points, voxel, origin, dims), return_inverse=True)
    voxels = unique.size
    # Graph nodes: voxels, then faces. Faces link to their voxels; voxels to their 26 neighbours.
    rows, cols = [inverse], [voxels + owners]
    uc = np.stack([unique // (dims[1] * dims[2]), (unique // dims[2]) % dims[1], unique % dims[2]], axis=1)
    offsets = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) > (0, 0, 0)])
    for off in offsets:
        nk = ((uc[:, 0] + off[0]) * dims[1] + uc[:, 1] + off[1]) * dims[2] + uc[:, 2] + off[2]
        pos = np.minimum(np.searchsorted(unique, nk), voxels - 1)
        hit = unique[pos] == nk
        rows.append(np.flatnonzero(hit))
        cols.append(pos[hit])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(voxels + count, voxels + count))
    _, labels = connected_components(graph, directed=False)
    return labels[voxels:].astype(np.int64)

"""Mesh clean-up: drop small pieces, fill small holes, decimate, vertex normals.

Everything is vectorised over vertices, faces and edges. Boundary loops are
found without walking them one edge at a time: on a manifold boundary every
boundary vertex has exactly one outgoing boundary edge, so "next vertex" is a
permutation whose cycles are the loops; pointer doubling labels every cycle in
log2(V) array passes.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import TriangleMesh
from worldgen_sim.reports import CleanupReport


def clean_mesh(
    mesh: TriangleMesh,
    *,
    min_component_fraction: float,
    hole_size: int,
    max_triangles: int,
    floor_band: float = 0.0,
) -> tuple[TriangleMesh, CleanupReport]:
    """Clean a fused mesh.

    Steps: drop degenerate faces and unused vertices; drop connected
    pieces with fewer faces than ``min_component_fraction`` times the largest
    (floaters and fusion debris) unless they are a piece of floor (see
    :func:`remove_small_components`); fill boundary loops of at most ``hole_size``
    edges with a fan around their centroid; decimate to ``max_triangles`` with
    quadric error metrics; recompute area-weighted vertex normals.

    Args:
        mesh: the raw mesh (colours optional, carried through every step).
        min_component_fraction: in [0, 1]; 0 keeps every piece.
        floor_band: small pieces lying within this height of the floor (z = 0) and
            facing up are kept [m]; 0 keeps none of them.
        hole_size: the longest boundary loop filled [edges]; 0 fills none.
        max_triangles: the triangle budget; 0 or less means no decimation.

    Returns:
        The cleaned mesh (with normals) and a JSON-serialisable report of what
        each step removed or added.
    """
    report = CleanupReport(input_faces=int(mesh.faces.shape[0]))
    # open3d's marching cubes already shares vertices between faces: no welding needed.
    mesh = _compact(mesh)
    mesh, removed = remove_small_components(mesh, min_fraction=min_component_fraction, floor_band=floor_band)
    report["components_removed"] = removed["components"]
    report["faces_in_removed_components"] = removed["faces"]
    report["floor_pieces_kept"] = removed["floor_pieces"]
    mesh, holes = fill_small_holes(mesh, max_edges=hole_size)
    report["holes_filled"] = holes
    before = int(mesh.faces.shape[0])
    mesh = decimate(mesh, max_triangles=max_triangles)
    report["faces_removed_by_decimation"] = before - int(mesh.faces.shape[0])
    mesh = TriangleMesh(
        mesh.vertices, mesh.faces, normals=vertex_normals(mesh.vertices, mesh.faces), colors=mesh.colors
    )
    report["output_faces"] = int(mesh.faces.shape[0])
    report["output_vertices"] = int(mesh.vertices.shape[0])
    return mesh, report


def remove_small_components(
    mesh: TriangleMesh, *, min_fraction: float, floor_band: float = 0.0
) -> tuple[TriangleMesh, dict]:
    """Drop face-connected pieces with fewer than ``min_fraction`` x (faces of the largest) faces.

    A small piece that lies within ``floor_band`` [m] of the floor (z = 0 in the
    aligned world) and faces up (at least 80 % of its area within 30 deg of +z)
    is kept: it is floor seen through a doorway or between objects, cut off from
    the main floor by what stands in front of it, not debris, and the colliders
    and the drop test need it. Floaters never reach this stage near the floor
    (the align stage drops them); a flat shard at floor height is harmless.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    faces = mesh.faces
    if faces.shape[0] == 0 or min_fraction <= 0:
        return mesh, {"components": 0, "faces": 0, "floor_pieces": 0}
    count = mesh.vertices.shape[0]
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = coo_matrix((np.ones(rows.shape[0], np.int8), (rows, cols)), shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    face_labels = labels[faces[:, 0]]
    sizes = np.bincount(face_labels)
    keep_label = sizes >= min_fraction * sizes.max()
    floor_label = _floor_pieces(mesh, face_labels, sizes.shape[0], floor_band) & ~keep_label & (sizes > 0)
    keep_label |= floor_label
    keep = keep_label[face_labels]
    removed = {"components": int(np.count_nonzero((sizes > 0) & ~keep_label)), "faces": int(np.count_nonzero(~keep)),
               "floor_pieces": int(np.count_nonzero(floor_label))}  # fmt: skip
    return _compact(TriangleMesh(mesh.vertices, faces[keep], colors=mesh.colors)), removed


def _floor_pieces(mesh: TriangleMesh, face_labels: np.ndarray, num_labels: int, band: float) -> np.ndarray:
    """(num_labels,) bool: pieces whose vertices all lie within ``band`` of z = 0 and whose area faces up."""
    if band <= 0:
        return np.zeros(num_labels, bool)
    corners = mesh.vertices[mesh.faces].astype(np.float64)  # (F, 3, 3)
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    up_area = np.where(np.abs(cross[:, 2]) >= np.cos(np.radians(30)) * 2 * area, area, 0.0)
    highest = np.zeros(num_labels)
    np.maximum.at(highest, face_labels, np.abs(corners[:, :, 2]).max(axis=1))
    total = np.bincount(face_labels, weights=area, minlength=num_labels)
    facing_up = np.bincount(face_labels, weights=up_area, minlength=num_labels)
    return (highest <= band) & (facing_up >= 0.8 * np.maximum(total, 1e-12))


def fill_small_holes(mesh: TriangleMesh, *, max_edges: int) -> tuple[TriangleMesh, int]:
    """Close boundary loops of 3..``max_edges`` edges with a fan around the loop's centroid.

    Only clean loops are filled: every vertex on them has exactly one outgoing
    and one incoming boundary edge. The fan is wound against the loop's
    boundary edges, so it continues the orientation of the faces around it.

    Returns:
        The mesh (one new vertex per filled hole, its colour the loop's mean)
        and the number of holes filled.
    """
    faces = mesh.faces
    vertex_count = mesh.vertices.shape[0]
    if faces.shape[0] == 0 or max_edges < 3:
        return mesh, 0
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).astype(np.int64)
    keys = directed[:, 0] * vertex_count + directed[:, 1]
    reverse = directed[:, 1] * vertex_count + directed[:, 0]
    # An edge is on the boundary when no face holds its reverse (sorted search: np.isin is ~10x slower).
    sorted_keys = np.sort(keys)
    found = np.minimum(np.searchsorted(sorted_keys, reverse), sorted_keys.shape[0] - 1)
    boundary = directed[sorted_keys[found] != reverse]
    if boundary.shape[0] == 0:
        return mesh, 0
    start, end = boundary[:, 0], boundary[:, 1]
    out_degree = np.bincount(start, minlength=vertex_count)
    in_degree = np.bincount(end, minlength=vertex_count)
    # next_vertex: the successor along the boundary; bad vertices point at themselves.
    next_vertex = np.arange(vertex_count)
    next_vertex[start] = end
    bad = (out_degree + in_degree > 0) & ((out_degree != 1) | (in_degree != 1))
    next_vertex[bad] = np.flatnonzero(bad)
    label = np.arange(vertex_count)
    tainted = bad.copy()
    jump = next_vertex.copy()
    for _ in range(int(np.ceil(np.log2(max(vertex_count, 2)))) + 1):
        label = np.minimum(label, label[jump])
        tainted |= tainted[jump]
        jump = jump[jump]
    on_loop = (out_degree == 1) & ~tainted
    loop_of_edge = label[start]
    loop_ids, loop_index, loop_lengths = np.unique(loop_of_edge, return_inverse=True, return_counts=True)
    fillable = on_loop[loop_ids] & (loop_lengths >= 3) & (loop_lengths <= max_edges)
    if not np.any(fillable):
        return mesh, 0
    edge_mask = fillable[loop_index]
    fill_edges = boundary[edge_mask]
    new_index = np.cumsum(fillable) - 1  # loop -> its new centroid vertex offset
    centre_of_edge = vertex_count + new_index[loop_index[edge_mask]]
    holes = int(np.count_nonzero(fillable))
    counts = loop_lengths[fillable].astype(np.float64)[:, None]
    owner = new_index[loop_index[edge_mask]]
    centroids = np.zeros((holes, 3))
    np.add.at(centroids, owner, mesh.vertices[fill_edges[:, 0]].astype(np.float64))
    vertices = np.concatenate([mesh.vertices, (centroids / counts).astype(np.float32)])
    colors = mesh.colors
    if colors is not None:
        loop_colors = np.zeros((holes, 3))
        np.add.at(loop_colors, owner, colors[fill_edges[:, 0]].astype(np.float64))
        colors = np.concatenate([colors, (loop_colors / counts).astype(np.float32)])
    new_faces = np.column_stack([fill_edges[:, 1], fill_edges[:, 0], centre_of_edge]).astype(np.int32)
    return TriangleMesh(vertices, np.concatenate([faces, new_faces]), colors=colors), holes


def decimate(mesh: TriangleMesh, *, max_triangles: int) -> TriangleMesh:
    """Quadric-error decimation to at most ``max_triangles`` faces; colours from the nearest input vertex."""
    import fast_simplification

    face_count = mesh.faces.shape[0]
    if max_triangles <= 0 or face_count <= max_triangles:
        return mesh
    # The library stops slightly above its target; ask for a little more reduction.
    reduction = min(0.999, 1.0 - 0.995 * max_triangles / face_count)
    points, faces = fast_simplification.simplify(
        mesh.vertices.astype(np.float32), mesh.faces.astype(np.int32), target_reduction=reduction
    )
    colors = None if mesh.colors is None else _nearest_colors(mesh, points)
    result = _compact(TriangleMesh(points.astype(np.float32), faces.astype(np.int32), colors=colors))
    if result.faces.shape[0] > max_triangles:  # still over budget: drop the smallest faces
        area = np.linalg.norm(_face_cross(result.vertices, result.faces), axis=1)
        keep = np.argsort(-area, kind="stable")[:max_triangles]
        result = _compact(TriangleMesh(result.vertices, result.faces[np.sort(keep)], colors=result.colors))
    return result


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) float32 unit area-weighted vertex normals; +Z for vertices without faces."""
    cross = _face_cross(vertices, faces)
    normals = np.zeros((vertices.shape[0], 3), np.float64)
    for corner in range(3):
        for axis in range(3):
            normals[:, axis] += np.bincount(faces[:, corner], weights=cross[:, axis], minlength=vertices.shape[0])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 1e-20, normals / np.maximum(length, 1e-20), np.array([0.0, 0.0, 1.0]))
    return normals.astype(np.float32)


def _face_cross(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    v = vertices.astype(np.float64)
    return np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])


def _nearest_colors(mesh: TriangleMesh, points: np.ndarray) -> np.ndarray:
    """Colours of decimated vertices from the nearest original vertex (replaying the collapses costs 2x more)."""
    from scipy.spatial import cKDTree

    assert mesh.colors is not None  # only called for coloured meshes
    _, nearest = cKDTree(mesh.vertices).query(points, workers=-1)
    return mesh.colors[nearest].astype(np.float32)


def _compact(mesh: TriangleMesh) -> TriangleMesh:
    """Drop degenerate faces (repeated vertex) and vertices no face uses; reindex."""
    faces = mesh.faces
    good = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
    faces = faces[good]
    used = np.zeros(mesh.vertices.shape[0], bool)
    used[faces.reshape(-1)] = True
    remap = np.cumsum(used) - 1
    return TriangleMesh(
        vertices=mesh.vertices[used],
        faces=remap[faces].astype(np.int32),
        normals=None if mesh.normals is None else mesh.normals[used],
        colors=None if mesh.colors is None else mesh.colors[used],
    )

"""What the navigation stage hands on besides its grids: surface mesh and NavMesh volumes.

All three work on a :class:`~worldgen_sim.navigation.graph.NodeGraph`, so they
follow every level of the walkable surface (platform tops, landings, stairs).
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import TriangleMesh
from worldgen_sim.navigation.graph import NodeGraph

__all__ = ["exclude_bounds", "include_bounds", "walkable_surface_mesh"]

# Per cell corner (drow, dcol): the two link directions that lead to the cells sharing it.
_CORNERS = (((0, 0), (2, 3)), ((0, 1), (0, 3)), ((1, 1), (0, 1)), ((1, 0), (2, 1)))


def walkable_surface_mesh(graph: NodeGraph, walkable: np.ndarray) -> TriangleMesh:
    """The walkable nodes as a triangle mesh: two triangles per node, corners shared within a level.

    A corner's height averages the walkable nodes linked around it (the node, its two
    neighbours and the diagonal one), so ramps and stairs stay continuous while a
    platform top and the floor under it stay apart.

    Args:
        graph: the standable nodes.
        walkable: (N,) bool.
    """
    nodes = np.flatnonzero(walkable)
    h, w = graph.shape
    row, col = np.divmod(graph.cell[nodes], w)
    corner_keys, corner_z = [], []
    for (dr, dc), (d1, d2) in _CORNERS:
        zsum = graph.z[nodes].copy()
        count = np.ones(nodes.size)
        a, b = graph.link[nodes, d1], graph.link[nodes, d2]
        ok_a = (a >= 0) & walkable[np.maximum(a, 0)]
        ok_b = (b >= 0) & walkable[np.maximum(b, 0)]
        diag = np.where(ok_a, graph.link[np.maximum(a, 0), d2], -1)
        ok_d = (diag >= 0) & walkable[np.maximum(diag, 0)] & ok_b
        for ok, other in ((ok_a, a), (ok_b, b), (ok_d, diag)):
            zsum += np.where(ok, graph.z[np.maximum(other, 0)], 0.0)
            count += ok
        corner_keys.append((row + dr) * (w + 1) + (col + dc))
        corner_z.append(zsum / count)
    corner_keys = np.stack(corner_keys, axis=1)  # (n, 4): corners 00, 01, 11, 10
    corner_z = np.stack(corner_z, axis=1)
    zq = np.rint(corner_z * 1000.0).astype(np.int64)  # corners of one level agree to the millimetre
    key = (corner_keys << 24) + (zq - zq.min(initial=0) if zq.size else zq)
    unique, inverse = np.unique(key.ravel(), return_inverse=True)
    inverse = inverse.reshape(-1, 4)
    first = np.zeros(unique.size, np.int64)
    first[inverse.ravel()[::-1]] = np.arange(inverse.size)[::-1]
    corner = corner_keys.ravel()[first]
    crow, ccol = np.divmod(corner, w + 1)
    vertices = np.stack([graph.origin[0] + ccol * graph.cell_size, graph.origin[1] + crow * graph.cell_size,
                         corner_z.ravel()[first]], axis=1)
    faces = np.concatenate([inverse[:, [0, 1, 2]], inverse[:, [0, 2, 3]]]).astype(np.int32)
    return TriangleMesh(vertices=vertices.astype(np.float32), faces=faces, normals=_vertex_normals(vertices, faces))


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.stack([np.bincount(faces.ravel(), weights=np.repeat(face_n[:, k], 3), minlength=len(vertices))
                        for k in range(3)], axis=1)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 0, normals / np.maximum(length, 1e-12), [0.0, 0.0, 1.0])
    return normals.astype(np.float32)


def include_bounds(graph: NodeGraph, walkable: np.ndarray, *, agent: dict) -> np.ndarray:
    """(2, 3) box around every walkable level, grown by the agent radius and up by the agent height."""
    nodes = np.flatnonzero(walkable)
    row, col = np.divmod(graph.cell[nodes], graph.shape[1])
    zs = graph.z[nodes]
    cell = graph.cell_size
    margin = agent["agent_radius"] + cell
    lo = [graph.origin[0] + col.min() * cell - margin, graph.origin[1] + row.min() * cell - margin, zs.min() - 0.1]
    hi = [graph.origin[0] + (col.max() + 1) * cell + margin, graph.origin[1] + (row.max() + 1) * cell + margin,
          zs.max() + agent["agent_height"]]
    return np.array([lo, hi], np.float64)


def exclude_bounds(graph: NodeGraph, regions: np.ndarray, *, agent: dict, min_area: float,
                   max_volumes: int) -> np.ndarray:
    """(E, 2, 3) boxes over raised walkable-slope surfaces the agent cannot reach (table, cabinet, wall tops).

    A baker with its own agent settings (Isaac Sim's) would otherwise put islands of
    navmesh on them. A surface is raised when it lies more than ``max_climb`` above
    the main region (region 0) below it in its column, or above region 0's median
    height where nothing of region 0 lies below. Only compact components (filling >=
    half their box) become boxes, so an L-shaped wall never excludes the room it
    encloses; each box starts above region 0 beneath it and ends below region 0
    above it, so no walkable level is ever excluded.

    Args:
        graph: every walkable-slope surface (standable or not).
        regions: (N,) int32 region per node, -1 where not walkable.
    """
    main = regions == 0
    if not main.any():
        return np.zeros((0, 2, 3), np.float64)
    z = graph.to_layers(graph.z, np.nan)
    main_z = graph.to_layers(main, False)
    below = np.maximum.accumulate(np.where(main_z, z, -np.inf), axis=0)
    below = np.concatenate([np.full_like(below[:1], -np.inf), below[:-1]])
    above = np.minimum.accumulate(np.where(main_z, z, np.inf)[::-1], axis=0)[::-1]
    above = np.concatenate([above[1:], np.full_like(above[:1], np.inf)])
    reference = np.where(np.isfinite(below), below, float(np.median(graph.z[main])))
    raised = np.isfinite(z) & ~main_z & (z > reference + agent["max_climb"] + 1e-4)
    if not raised.any():
        return np.zeros((0, 2, 3), np.float64)
    top_layer = np.where(raised, np.arange(z.shape[0])[:, None, None], -1).max(axis=0)
    rows, cols = np.nonzero(top_layer >= 0)
    raised_z = np.full(graph.shape, np.nan)
    floor_below = np.full(graph.shape, -np.inf)
    ceiling_above = np.full(graph.shape, np.inf)
    k = top_layer[rows, cols]
    raised_z[rows, cols] = z[k, rows, cols]
    floor_below[rows, cols] = below[k, rows, cols]
    ceiling_above[rows, cols] = above[k, rows, cols]
    return _component_boxes(graph, raised_z, floor_below, ceiling_above, agent=agent, min_area=min_area,
                            max_volumes=max_volumes)


def _component_boxes(graph, raised_z, floor_below, ceiling_above, *, agent, min_area, max_volumes):
    """One box per compact 8-connected component of raised cells, largest first."""
    from scipy import ndimage

    cell = graph.cell_size
    labels, _ = ndimage.label(np.isfinite(raised_z), structure=np.ones((3, 3), bool))
    boxes, areas = [], []
    for index, box in enumerate(ndimage.find_objects(labels)):
        mask = labels[box] == index + 1
        n = int(mask.sum())
        area = n * cell * cell
        if area < min_area or n < 0.5 * mask.size:
            continue
        zs = raised_z[box][mask]
        z_lo = max(float(zs.min()) - 0.05, float(floor_below[box][mask].max()) + agent["max_climb"])
        z_hi = min(float(zs.max()) + agent["agent_height"], float(ceiling_above[box][mask].min()) - 0.05)
        if z_lo >= z_hi - cell:
            continue  # region 0 lies as high as the surface here: nothing to exclude
        lo = [graph.origin[0] + box[1].start * cell, graph.origin[1] + box[0].start * cell, z_lo]
        hi = [graph.origin[0] + box[1].stop * cell, graph.origin[1] + box[0].stop * cell, z_hi]
        boxes.append([lo, hi])
        areas.append(area)
    if not boxes:
        return np.zeros((0, 2, 3), np.float64)
    order = np.argsort(-np.asarray(areas), kind="stable")[:max_volumes]
    return np.asarray(boxes, np.float64)[order]

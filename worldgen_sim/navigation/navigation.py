"""Navigation stage: a Recast-style walkable surface from the collision geometry.

Pipeline (all vectorised over cells):

1. rasterise the collider triangles into span columns (:mod:`.heightfield`) and keep,
   per cell, the lowest surface with a walkable slope (the ground layer);
2. a cell is walkable when that surface has headroom >= ``agent_height``;
3. cell edges whose floors differ by more than ``max_climb`` are walls (step up) or
   ledges (step down) for the cells on both sides;
4. erode by ``agent_radius``: a cell stays when its centre is at least the radius
   away from every non-walkable cell and every unclimbable edge;
5. split into 4-connected regions, drop islands under ``min_region_area``;
6. sample seeded spawn points on the largest region, away from its border.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import CollisionWorld, NavigationResult, TriangleMesh
from worldgen_sim.errors import WorldgenError
from worldgen_sim.navigation.heightfield import Heightfield, grid_for, rasterize
from worldgen_sim.navigation.navigation_cfg import NavigationCfg, resolved_agent
from worldgen_sim.navigation.navmap import clearance_map, sample_spawn_points_on
from worldgen_sim.reports import NavigationReport

_MAX_CELLS = 25_000_000
"""Grids larger than this are refused (250 m x 250 m at 5 cm; ~100 MB per float32 layer)."""


def build_navigation(collision: CollisionWorld, *, cfg: NavigationCfg, progress=None) -> NavigationResult:
    """Build the walkable surface, regions, NavMesh volumes and spawn points.

    Args:
        collision: the collision world; all its triangles (static parts and hulls) are obstacles/floors.
        cfg: navigation configuration (agent from ``cfg.preset`` and explicit fields).
        progress: optional :class:`~worldgen_sim.progress.Progress`.

    Returns:
        The navigation result; ``agent`` holds agent_radius, agent_height, max_climb,
        cell_size [m] and max_slope [deg].

    Raises:
        WorldgenError: inconsistent agent parameters, no collision triangles, no walkable
            surface, or an agent too large for any free space.
    """
    from scipy import ndimage

    agent = resolved_agent(cfg)
    cell = agent["cell_size"]
    vertices, faces = collision.collision_triangles()
    if faces.shape[0] == 0:
        raise WorldgenError("navigation: the collision world has no triangles to walk on (no static parts, no hulls)")
    if faces.min() < 0 or faces.max() >= vertices.shape[0]:
        raise WorldgenError(
            f"navigation: collision faces index vertices 0..{vertices.shape[0] - 1} "
            f"but hold {faces.min()}..{faces.max()}"
        )
    finite = np.isfinite(vertices).all(axis=1)
    if not finite.all():
        faces = faces[finite[faces].all(axis=1)]
        if faces.shape[0] == 0:
            raise WorldgenError("navigation: every collision triangle has a NaN/Inf vertex")
    used = np.unique(faces)
    origin, shape = grid_for(vertices[used], cell_size=cell)
    if shape[0] * shape[1] > _MAX_CELLS:
        raise WorldgenError(
            f"navigation.cell_size: {cell} m gives a {shape[1]} x {shape[0]} grid over the scene's "
            f"{shape[1] * cell:.0f} x {shape[0] * cell:.0f} m footprint; use larger cells (at most {_MAX_CELLS} cells)"
        )
    hf = rasterize(
        vertices, faces, cell_size=cell, max_slope_deg=agent["max_slope"], origin=origin, shape=shape, progress=progress
    )
    raw, edge_cells = _walkable_raw(hf, agent)
    if not raw.any():
        raise WorldgenError(
            f"navigation: no walkable surface: no upward surface flatter than navigation.max_slope "
            f"({agent['max_slope']} deg) with headroom >= navigation.agent_height ({agent['agent_height']} m)"
        )
    clear = _border_clearance(raw, edge_cells, cell)
    walkable = clear >= agent["agent_radius"] - 1e-6
    if not walkable.any():
        low = np.isfinite(hf.floor) & (hf.clearance < agent["agent_height"])
        raise WorldgenError(
            f"navigation.agent_radius: {agent['agent_radius']} m is larger than any free space; the widest "
            f"clearance found is {max(float(clear.max()), 0.0):.3f} m from the nearest obstacle or drop "
            f"({float(raw.sum()) * cell * cell:.2f} m^2 of floor has headroom, "
            f"{float(low.sum()) * cell * cell:.2f} m^2 "
            f"is lower than navigation.agent_height {agent['agent_height']} m)"
        )
    labels, count = ndimage.label(walkable)
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:] * cell * cell
    order = np.argsort(-areas, kind="stable")
    kept = order[areas[order] >= cfg.min_region_area]
    if kept.size == 0:
        raise WorldgenError(
            f"navigation.min_region_area: every walkable island is smaller than {cfg.min_region_area} m^2 "
            f"(largest {areas.max():.3f} m^2); the agent (radius {agent['agent_radius']} m) fits nowhere useful"
        )
    relabel = np.full(count + 1, -1, np.int32)
    relabel[kept + 1] = np.arange(kept.size, dtype=np.int32)
    regions = relabel[labels]
    walkable = regions >= 0

    heights = np.where(np.isfinite(hf.floor), hf.floor, np.nan).astype(np.float32)
    spawn_clear = clearance_map(walkable, cell)
    spawn, spawn_note = sample_spawn_points_on(
        regions=regions, heights=heights, clearance=spawn_clear, origin=origin, cell_size=cell,
        count=cfg.num_spawn_points, clearance_min=cfg.spawn_clearance, seed=cfg.seed,
    )
    surface = walkable_surface_mesh(walkable, heights, origin=origin, cell_size=cell)
    include = _include_bounds(walkable, heights, origin=origin, cell_size=cell, agent=agent)
    exclude = _exclude_bounds(hf, walkable, regions, agent=agent, cfg=cfg)

    region_report = []
    for rid in range(kept.size):
        mask = regions == rid
        zs = heights[mask]
        region_report.append(
            {"id": rid, "area_m2": round(float(mask.sum()) * cell * cell, 4), "cells": int(mask.sum()),
             "z_min": round(float(zs.min()), 4), "z_max": round(float(zs.max()), 4)}
        )
    report: NavigationReport = {
        "grid": {
            "width": int(shape[1]), "height": int(shape[0]), "origin": [float(v) for v in origin], "cell_size": cell
        },
        "triangles": int(faces.shape[0]),
        "samples": hf.samples,
        "spans": hf.spans,
        "walkable_before_erosion_m2": round(float(raw.sum()) * cell * cell, 4),
        "walkable_m2": round(float(walkable.sum()) * cell * cell, 4),
        "regions": region_report,
        "regions_dropped_small": int(count - kept.size),
        "spawn_points": int(spawn.shape[0]),
        "spawn_note": spawn_note,
        "exclude_volumes": int(exclude.shape[0]),
        "surface_triangles": int(surface.faces.shape[0]),
    }
    return NavigationResult(
        agent=agent, origin=origin, cell_size=cell, heights=heights, walkable=walkable, regions=regions,
        surface=surface, include_bounds=include, exclude_bounds=exclude, spawn_points=spawn, report=report,
    )


def _walkable_raw(hf: Heightfield, agent: dict) -> tuple[np.ndarray, np.ndarray]:
    """Cells an agent's centre could stand on before erosion, and cells beside an unclimbable edge.

    A cell stands when it has a walkable-slope floor with headroom >= agent_height. An
    edge between two standing cells whose floors differ by more than max_climb is a
    riser on the low side and a ledge on the high side: both cells are marked, and
    erosion later measures from that edge.
    """
    floor = hf.floor
    raw = np.isfinite(floor) & (hf.clearance >= agent["agent_height"])
    edge = np.zeros_like(raw)
    z = np.where(raw, floor, np.nan)
    climb = agent["max_climb"] + 1e-4
    for axis in (0, 1):
        lo = [slice(None), slice(None)]
        hi = [slice(None), slice(None)]
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        step = np.abs(z[tuple(lo)] - z[tuple(hi)]) > climb  # NaN compares False: non-walkable handled by erosion
        edge[tuple(lo)] |= step
        edge[tuple(hi)] |= step
    return raw, edge


def _border_clearance(raw: np.ndarray, edge_cells: np.ndarray, cell_size: float) -> np.ndarray:
    """(H, W) distance from each standing cell's centre to the nearest obstacle or unclimbable edge [m].

    Obstacle samples are nudged into their solid, so an obstacle cell's near edge is the
    obstacle face: the distance is (cell-centre distance - half a cell). An unclimbable
    edge lies half a cell beyond the marked cell's centre.
    """
    from scipy import ndimage

    padded = np.pad(raw, 1, constant_values=False)
    to_obstacle = ndimage.distance_transform_edt(padded)[1:-1, 1:-1] * cell_size - 0.5 * cell_size
    if edge_cells.any():
        to_edge = ndimage.distance_transform_edt(~edge_cells) * cell_size + 0.5 * cell_size
        to_obstacle = np.minimum(to_obstacle, to_edge)
    return np.where(raw, to_obstacle, -np.inf)


def walkable_surface_mesh(
    walkable: np.ndarray, heights: np.ndarray, *, origin: np.ndarray, cell_size: float
) -> TriangleMesh:
    """The walkable cells as a triangle mesh: two triangles per cell, corners shared.

    Corner heights average the walkable cells around them, so ramps stay continuous.

    Args:
        walkable: (H, W) bool.
        heights: (H, W) float32 floor heights [m].
        origin: (2,) x, y of cell (0, 0)'s corner [m].
        cell_size: cell edge [m].
    """
    h, w = walkable.shape
    z = np.where(walkable, heights, 0.0).astype(np.float64)
    weight = walkable.astype(np.float64)
    zsum = np.zeros((h + 1, w + 1))
    wsum = np.zeros((h + 1, w + 1))
    for dr in (0, 1):
        for dc in (0, 1):
            zsum[dr : dr + h, dc : dc + w] += z
            wsum[dr : dr + h, dc : dc + w] += weight
    used = wsum > 0
    index = np.full((h + 1, w + 1), -1, np.int64)
    index[used] = np.arange(int(used.sum()))
    rows, cols = np.nonzero(used)
    corner_z = zsum[used] / wsum[used]
    vertices = np.stack([origin[0] + cols * cell_size, origin[1] + rows * cell_size, corner_z], axis=1)
    vertices = vertices.astype(np.float32)
    r, c = np.nonzero(walkable)
    v00, v01 = index[r, c], index[r, c + 1]
    v10, v11 = index[r + 1, c], index[r + 1, c + 1]
    faces = np.concatenate([np.stack([v00, v01, v11], 1), np.stack([v00, v11, v10], 1)]).astype(np.int32)
    # Vertex normals from the corner-height gradient (counter-clockwise faces point up).
    grid_z = np.where(used, zsum / np.maximum(wsum, 1), np.nan)
    gy, gx = np.gradient(np.nan_to_num(grid_z, nan=0.0), cell_size)
    normals = np.stack([-gx[used], -gy[used], np.ones(int(used.sum()))], axis=1)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return TriangleMesh(vertices=vertices, faces=faces, normals=normals.astype(np.float32))


def _include_bounds(walkable, heights, *, origin, cell_size, agent) -> np.ndarray:
    """(2, 3) box around the walkable cells, grown by the agent radius and up by the agent height."""
    rows, cols = np.nonzero(walkable)
    zs = heights[rows, cols]
    margin = agent["agent_radius"] + cell_size
    lo = [origin[0] + cols.min() * cell_size - margin, origin[1] + rows.min() * cell_size - margin, zs.min() - 0.1]
    hi = [origin[0] + (cols.max() + 1) * cell_size + margin, origin[1] + (rows.max() + 1) * cell_size + margin,
          zs.max() + agent["agent_height"]]
    return np.array([lo, hi], np.float64)


def _exclude_bounds(hf: Heightfield, walkable, regions, *, agent, cfg: NavigationCfg) -> np.ndarray:
    """(E, 2, 3) boxes over raised flat surfaces off the main region (table, cabinet and wall tops, islands).

    A baker with its own agent settings (Isaac Sim's) would otherwise put islands of
    navmesh on them. Only compact components (filling >= half their box) become boxes,
    so an L-shaped wall never excludes the room it encloses; each box starts above the
    floor beneath it, so walkable floor under a table stays included.
    """
    from scipy import ndimage

    cell = hf.cell_size
    ground = float(np.median(np.where(regions == 0, hf.floor, np.nan)[regions == 0]))
    raised_z = np.where(np.isfinite(hf.upper), hf.upper, np.where(regions != 0, hf.floor, np.nan))
    raised = np.isfinite(raised_z) & (raised_z > ground + agent["max_climb"] + 1e-4)
    if not raised.any():
        return np.zeros((0, 2, 3), np.float64)
    labels, count = ndimage.label(raised, structure=np.ones((3, 3), bool))
    boxes, areas = [], []
    for index, box in enumerate(ndimage.find_objects(labels)):
        mask = labels[box] == index + 1
        n = int(mask.sum())
        area = n * cell * cell
        if area < cfg.min_region_area or n < 0.5 * mask.size:
            continue
        zs = raised_z[box][mask]
        below = hf.floor[box][regions[box] == 0]
        z_lo = max(float(zs.min()) - 0.05, float(below.max()) + agent["max_climb"] if below.size else -np.inf)
        z_hi = float(zs.max()) + agent["agent_height"]
        if z_lo >= z_hi - cell:
            continue  # the main floor inside this footprint is as high as the surface: nothing to exclude
        lo = [hf.origin[0] + box[1].start * cell, hf.origin[1] + box[0].start * cell, z_lo]
        hi = [hf.origin[0] + box[1].stop * cell, hf.origin[1] + box[0].stop * cell, z_hi]
        boxes.append([lo, hi])
        areas.append(area)
    if not boxes:
        return np.zeros((0, 2, 3), np.float64)
    order = np.argsort(-np.asarray(areas), kind="stable")[: cfg.max_exclude_volumes]
    return np.asarray(boxes, np.float64)[order]

"""Navigation stage: a Recast-style multi-level walkable surface from the collider geometry.

Driven by collider triangles only (static meshes and convex hulls alike), never by
semantic class names. Steps, each vectorised over samples, spans or nodes:

1. rasterise the collider triangles into span columns, every span of every column
   kept (:mod:`.heightfield`), so platform tops, landings and the floor under them
   coexist; small thin solids hanging in mid-air that touch nothing (floaters, capture
   noise) are dropped and reported, never obstacles; anything else in mid-air is an
   overhead obstacle at its true height;
2. nodes: span tops with a walkable slope (<= ``max_slope``); a node is standable
   when the free gap above it is >= ``agent_height`` (an overhead obstacle blocks
   only where the gap is lower than the agent);
3. links: each node to the neighbouring column's node nearest in height, when the
   step is <= ``max_climb`` and the shared gap fits the agent (:mod:`.graph`);
   stairs and ramps the agent can climb connect levels, nothing else does; steps
   are measured between median-filtered heights, so one noisy cell of a captured
   surface is no step (:func:`.graph.link_nodes`);
4. erode by ``agent_radius``: a node stays when its centre is at least the radius
   from every edge where standable ground ends (wall, ledge, riser too high); where a
   side face (wall, leg, riser) ends it, the edge is that face inside its cell (the
   median of its samples within the agent's height), not the cell's edge, so the
   erosion is the agent radius from the evidence and not up to a cell more;
5. regions: connected components through links, islands under ``min_region_area``
   dropped, 0 = largest;
6. outputs: layered grids, the walkable surface mesh, NavMesh include/exclude
   volumes and seeded spawn points on region 0 (which may span several levels).

Steps are timed as ``navigation: <step>`` stages of the build's
:class:`~worldgen_sim.progress.Progress` (``world.json``'s ``timings_s``); the report
(:class:`~worldgen_sim.reports.NavigationReport`) holds no timings, so ``navigation.json`` is
byte-identical across runs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from worldgen_sim.artifacts import CollisionWorld, NavigationResult
from worldgen_sim.errors import WorldgenError
from worldgen_sim.navigation.graph import (
    DIRECTIONS,
    NodeGraph,
    border_distance,
    connected_regions,
    link_nodes,
    subgraph,
    surface_gradient,
    surface_slope,
)
from worldgen_sim.navigation.heightfield import SpanField, drop_floaters, face_offsets, grid_for, rasterize
from worldgen_sim.navigation.navigation_cfg import NavigationCfg, resolved_agent
from worldgen_sim.navigation.navmap import sample_spawn_points_on
from worldgen_sim.navigation.outputs import exclude_bounds, include_bounds, walkable_surface_mesh
from worldgen_sim.progress import Progress
from worldgen_sim.reports import NavigationReport

__all__ = ["build_navigation"]

_MAX_CELLS = 25_000_000
"""Grids larger than this are refused (250 m x 250 m at 5 cm; ~100 MB per float32 layer)."""


def build_navigation(
    collision: CollisionWorld, *, cfg: NavigationCfg, progress: Progress | None = None
) -> NavigationResult:
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
    agent = resolved_agent(cfg)
    progress = progress if progress is not None else Progress(quiet=True)
    with progress.stage("navigation: rasterize"):
        vertices, faces = _collider_triangles(collision)
        origin, shape = _grid(vertices, faces, agent["cell_size"])
        spans = rasterize(vertices, faces, cell_size=agent["cell_size"], max_slope_deg=agent["max_slope"],
                          origin=origin, shape=shape, progress=progress)
        spans, floaters = drop_floaters(spans, max_area=cfg.floater_max_area, max_height=cfg.floater_max_height)
    with progress.stage("navigation: filter"):
        surfaces, standable = _standable_nodes(spans, agent)
        walkable = _erode(surfaces, standable, agent, _edge_faces(surfaces, standable, spans, agent))
        regions, region_sizes, dropped = _regions(surfaces, walkable, agent, cfg)
    report: NavigationReport = {
        "triangles": int(faces.shape[0]), "samples": spans.samples, "spans": spans.spans,
        "walkable_before_erosion_m2": round(float(standable.sum()) * agent["cell_size"] ** 2, 4),
        "regions_dropped_small": dropped,
        "floaters_dropped": floaters["floaters_dropped"], "floater_area_m2": floaters["floater_area_m2"],
        "floater_heights_m": floaters["floater_heights_m"],
    }
    with progress.stage("navigation: outputs"):
        return _outputs(surfaces, standable, regions, region_sizes, agent=agent, cfg=cfg, report=report)


def _collider_triangles(collision: CollisionWorld) -> tuple[np.ndarray, np.ndarray]:
    """All collider triangles with finite vertices; raises on none or bad indices."""
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
    return vertices, faces


def _grid(vertices: np.ndarray, faces: np.ndarray, cell: float) -> tuple[np.ndarray, tuple[int, int]]:
    origin, shape = grid_for(vertices[np.unique(faces)], cell_size=cell)
    if shape[0] * shape[1] > _MAX_CELLS:
        raise WorldgenError(
            f"navigation.cell_size: {cell} m gives a {shape[1]} x {shape[0]} grid over the scene's "
            f"{shape[1] * cell:.0f} x {shape[0] * cell:.0f} m footprint; use larger cells (at most {_MAX_CELLS} cells)"
        )
    return origin, shape


def _standable_nodes(spans: SpanField, agent: dict) -> tuple[NodeGraph, np.ndarray]:
    """Every walkable-slope span top as a linked node, and which of them have headroom for the agent.

    A span top has a walkable slope when a triangle flatter than ``max_slope`` lies at its
    top (unless the surface around it is steeper: :func:`_steep_surface`), or when the
    surface through it and its linked neighbours is that flat: a noisy capture's creased
    triangles never punch holes into flat ground, while a ramp steeper than ``max_slope``
    stays steep on both counts.
    """
    everything = NodeGraph(spans.origin, spans.cell_size, spans.shape, spans.cell, spans.top, spans.ceiling(),
                           np.zeros((spans.spans, 4), np.int64))
    link_nodes(everything, max_climb=agent["max_climb"], agent_height=agent["agent_height"], denoise=True)
    flat_triangle = spans.walkable_top & ~_steep_surface(everything, agent["max_slope"])
    flat = flat_triangle | (spans.up_top & (surface_slope(everything) <= agent["max_slope"]))
    flat = _noisy_cells_flat(flat, everything.link)
    graph = subgraph(everything, flat)
    standable = graph.ceiling - graph.z >= agent["agent_height"] - 1e-6
    if not standable.any():
        raise WorldgenError(
            f"navigation: no walkable surface: no upward surface flatter than navigation.max_slope "
            f"({agent['max_slope']} deg) with headroom >= navigation.agent_height ({agent['agent_height']} m)"
        )
    return graph, standable


_STEEP_RINGS = 2
"""Rings of linked neighbours :func:`_steep_surface` averages the surface gradient over (a 13-cell diamond)."""


def _steep_surface(graph: NodeGraph, max_slope: float) -> np.ndarray:
    """(N,) bool: the surface around each node is steeper than ``max_slope`` [deg].

    The gradient of :func:`surface_gradient` over links whose step is at most what twice the walkable slope
    climbs in one cell (so a stair riser, a step within the agent's climb, is no slope), averaged
    component-wise over the node's linked neighbours ``_STEEP_RINGS`` deep: the capture noise averages out
    (a median of slope magnitudes would not: noise only adds to a magnitude, and 13 deg ramps turned steep
    for a 15 deg robot). A captured ramp's triangles tilt by the capture noise: on an 18 deg ramp, 88 % of
    the cells held a triangle flatter than a wheeled robot's 15 deg, and the ramp was walkable for it
    (2026-12-05, held-out stairs of bench_realistic), while the slope at the heightfield's scale was
    18.1 deg (median).
    """
    rise = 2.0 * graph.cell_size * np.tan(np.radians(max_slope))
    neighbour = np.maximum(graph.link, 0)
    gentle = (graph.link >= 0) & (np.abs(graph.z[neighbour] - graph.z[:, None]) <= rise)
    link = np.where(gentle, graph.link, -1)
    gradient = surface_gradient(dataclasses.replace(graph, link=link))
    measured = np.isfinite(gradient[:, 0]) & np.isfinite(gradient[:, 1])
    total, count = np.where(measured[:, None], gradient, 0.0), measured.astype(np.float64)
    for _ in range(_STEEP_RINGS):  # sums over the diamond, each pass one ring further
        ok = link >= 0
        total = total + np.where(ok[:, :, None], total[np.maximum(link, 0)], 0.0).sum(axis=1)
        count = count + np.where(ok, count[np.maximum(link, 0)], 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count[:, None]
    return np.hypot(mean[:, 0], mean[:, 1]) > np.tan(np.radians(max_slope))  # NaN (nothing measured): False


_NOISY_CELL_PASSES = 2
"""Passes of :func:`_noisy_cells_flat`: clusters of up to about three noisy cells become flat."""


def _noisy_cells_flat(flat: np.ndarray, link: np.ndarray) -> np.ndarray:
    """(N,) ``flat`` with single noisy cells of flat ground flat too.

    A node that is not flat but is linked (a step within the climb) in all four directions, to
    flat nodes in at least three of them, is a noisy cell of the ground around it: its top is a
    crease or a fold of the captured surface, and its slope, measured from span tops that are
    each a cell's highest sample, is the noise's. With 1.2 cm noise, 782 such cells dotted a
    terrain tile and the radius erosion took 2.6 m^2 around them. A ramp steeper than
    ``max_slope`` stays steep: inside it and along its sides, at most two neighbours are flat.

    Args:
        flat: (N,) bool nodes with a walkable slope.
        link: (N, 4) int64 neighbour node per direction, -1 where none.
    """
    linked = link >= 0
    all_linked = linked.all(axis=1)
    for _ in range(_NOISY_CELL_PASSES):
        flat_next = (linked & flat[np.maximum(link, 0)]).sum(axis=1)
        noisy = ~flat & all_linked & (flat_next >= 3)
        if not noisy.any():
            break
        flat = flat | noisy
    return flat


def _edge_faces(graph: NodeGraph, standable: np.ndarray, spans: SpanField, agent: dict) -> np.ndarray:
    """(N, 4, 3) per direction, the face that ends a standable node: how far into the neighbouring cell
    it lies and its extent along the cell edge (from the edge's low end) [m].

    Only side faces the agent would meet count: those facing back at the node, between
    ``max_climb`` and ``agent_height`` above it. None there (a drop, the end of the grid,
    a ceiling too low): the whole cell edge, (0, 0, cell_size).
    """
    found = np.tile([0.0, 0.0, graph.cell_size], (len(graph), 4, 1))
    if spans.sides is None:
        return found
    h, w = graph.shape
    row, col = np.divmod(graph.cell, w)
    linked = (graph.link >= 0) & standable[np.maximum(graph.link, 0)]
    for d, (dr, dc) in enumerate(DIRECTIONS):
        node = np.flatnonzero(standable & ~linked[:, d])
        r2, c2 = row[node] + dr, col[node] + dc
        inside = (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < w)
        z = graph.z[node]
        found[node, d] = graph.cell_size * face_offsets(
            spans.sides, np.where(inside, r2 * w + c2, -1), d, z + agent["max_climb"], z + agent["agent_height"])
    return found


def _erode(graph: NodeGraph, standable: np.ndarray, agent: dict, edge_faces: np.ndarray | None = None) -> np.ndarray:
    """Standable nodes at least ``agent_radius`` from where standable ground ends (at the faces
    of :func:`_edge_faces` where given)."""
    radius = agent["agent_radius"]
    clear = border_distance(graph, standable, reach=radius, edge_faces=edge_faces)
    walkable = clear >= radius - 1e-6
    if not walkable.any():
        cell = agent["cell_size"]
        low = np.count_nonzero(graph.ceiling - graph.z < agent["agent_height"])
        widest = float(clear[standable].max()) if standable.any() else 0.0
        raise WorldgenError(
            f"navigation.agent_radius: {radius} m is larger than any free space; the widest "
            f"clearance found is {max(widest, 0.0):.3f} m from the nearest obstacle or drop "
            f"({float(standable.sum()) * cell * cell:.2f} m^2 of floor has headroom, "
            f"{low * cell * cell:.2f} m^2 is lower than navigation.agent_height {agent['agent_height']} m)"
        )
    return walkable


def _regions(graph: NodeGraph, walkable: np.ndarray, agent: dict, cfg: NavigationCfg):
    """(N,) int32 region per node (-1: none), largest first, islands under ``min_region_area`` dropped."""
    regions, sizes = connected_regions(graph, walkable)
    areas = sizes * agent["cell_size"] ** 2
    kept = int(np.count_nonzero(areas >= cfg.min_region_area))
    if kept == 0:
        raise WorldgenError(
            f"navigation.min_region_area: every walkable island is smaller than {cfg.min_region_area} m^2 "
            f"(largest {areas.max():.3f} m^2); the agent (radius {agent['agent_radius']} m) fits nowhere useful"
        )
    regions = np.where(regions < kept, regions, -1).astype(np.int32)
    return regions, sizes[:kept], int(sizes.size - kept)


def _outputs(graph: NodeGraph, standable, regions, sizes, *, agent: dict, cfg: NavigationCfg,
             report: NavigationReport) -> NavigationResult:
    """Layered grids of the standable nodes, surface mesh, NavMesh volumes, spawn points; completes ``report``."""
    cell = agent["cell_size"]
    walkable = regions >= 0
    stand = subgraph(graph, standable)
    heights = stand.to_layers(stand.z.astype(np.float32), np.nan)
    walk_layers = stand.to_layers(walkable[standable], False)
    region_layers = stand.to_layers(regions[standable], -1)
    links = stand.layer_links()
    spawn_clear = border_distance(stand, walkable[standable], reach=cfg.spawn_clearance + cell)
    spawn, spawn_note = sample_spawn_points_on(
        graph=stand, regions=regions[standable], clearance=spawn_clear, count=cfg.num_spawn_points,
        clearance_min=cfg.spawn_clearance, seed=cfg.seed,
    )
    surface = walkable_surface_mesh(stand, walkable[standable])
    include = include_bounds(stand, walkable[standable], agent=agent)
    exclude = exclude_bounds(graph, regions, agent=agent, min_area=cfg.min_region_area,
                             max_volumes=cfg.max_exclude_volumes)
    region_report = []
    for rid in range(sizes.size):
        zs = graph.z[regions == rid]
        region_report.append(
            {"id": rid, "area_m2": round(float(sizes[rid]) * cell * cell, 4), "cells": int(sizes[rid]),
             "z_min": round(float(zs.min()), 4), "z_max": round(float(zs.max()), 4)}
        )
    report.update(NavigationReport(
        grid={"width": int(graph.shape[1]), "height": int(graph.shape[0]), "layers": int(heights.shape[0]),
              "origin": [float(v) for v in graph.origin], "cell_size": cell},
        walkable_m2=round(float(walkable.sum()) * cell * cell, 4),
        regions=region_report,
        spawn_points=int(spawn.shape[0]),
        spawn_note=spawn_note,
        exclude_volumes=int(exclude.shape[0]),
        surface_triangles=int(surface.faces.shape[0]),
    ))
    return NavigationResult(
        agent=agent, origin=graph.origin, cell_size=cell, heights=heights, walkable=walk_layers,
        regions=region_layers, surface=surface, include_bounds=include, exclude_bounds=exclude,
        spawn_points=spawn, report=report, links=links,
    )

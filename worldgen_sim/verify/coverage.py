"""How much of the ground the input observed a world can stand and walk on.

Two fractions of the observed ground (:class:`~worldgen_sim.verify.observed.ObservedGround`),
both measured on its grid, one sample per cell at the observed height:

- **collider**: a collider surface crosses the cell's vertical line within
  ``collider_tolerance`` of the observed height (holes, missing pieces and
  colliders offset from what was seen all lower it);
- **walkable**: ``navigation.json`` calls the point walkable (at that height);
  also reported for the ground farther than the agent radius from its edge
  (``walkable_away_from_edges``), since a navmesh keeps the agent's radius
  away from walls and drops by design.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldgen_sim.verify.observed import ObservedGround
from worldgen_sim.verify.surfaces import load_collider_triangles, vertical_hits
from worldgen_sim.verify.verify_cfg import VerifyCfg

__all__ = ["NAVIGATION_FILE", "ground_coverage"]

NAVIGATION_FILE = "navigation.json"


def ground_coverage(observed: ObservedGround, world_path: Path, *, cfg: VerifyCfg) -> dict:
    """Collider and walkable coverage of the observed ground (JSON-ready).

    Args:
        observed: the input's evidence as a map with its ground mask.
        world_path: the composed ``world.usda`` (``navigation.json`` beside it is used when present).
        cfg: ``collider_tolerance``.

    Returns:
        ``evidence``, ``evidence_points``, ``cell`` [m], ``observed_ground_m2``,
        ``collider_fraction``, ``collider_tolerance`` [m], ``walkable_fraction``,
        ``walkable_away_from_edges`` (None without ``navigation.json``) and ``notes``.
    """
    world_path = Path(world_path)
    surface = observed.surface
    notes: list[str] = []
    report: dict = {
        "evidence": observed.source,
        "evidence_points": observed.num_points,
        "cell": round(surface.cell, 4),
        "observed_ground_m2": round(observed.ground_area, 3),
        "collider_tolerance": cfg.collider_tolerance,
        "collider_fraction": None,
        "walkable_fraction": None,
        "walkable_away_from_edges": None,
        "notes": notes,
    }
    if not observed.ground.any():
        notes.append("the evidence shows no ground (no gentle area of ground_min_area or more)")
        return report
    report["collider_fraction"] = round(_collider_fraction(observed, world_path, cfg.collider_tolerance), 4)
    navigation = world_path.parent / NAVIGATION_FILE
    if navigation.is_file():
        report["walkable_fraction"], report["walkable_away_from_edges"] = _walkable_fractions(observed, navigation)
    else:
        notes.append(f"no {NAVIGATION_FILE}: walkable coverage not measured")
    return report


def _collider_fraction(observed: ObservedGround, world_path: Path, tolerance: float) -> float:
    """Fraction of ground cells with a collider crossing within ``tolerance`` of the observed height."""
    tri = load_collider_triangles(world_path)
    if len(tri) == 0:
        return 0.0
    surface = observed.surface
    heights = surface.heights.ravel()
    cell_id, z, _ = vertical_hits(tri, surface.origin, surface.cell, surface.heights.shape)
    ground = observed.ground.ravel()
    on_ground = ground[cell_id]
    cell_id, z = cell_id[on_ground], z[on_ground]
    nearest = np.full(heights.size, np.inf)
    np.minimum.at(nearest, cell_id, np.abs(z - heights[cell_id]))
    return float(np.mean(nearest[ground] <= tolerance))


def _walkable_fractions(observed: ObservedGround, navigation: Path) -> tuple[float, float | None]:
    """(walkable fraction of the observed ground, same for the ground an agent radius inside its edges)."""
    from scipy import ndimage

    from worldgen_sim.navigation.navmap import NavigationMap

    nav = NavigationMap.load(navigation)
    rows, cols = np.nonzero(observed.ground)
    points = observed.ground_points()
    walkable = np.zeros(observed.ground.shape, dtype=bool)
    walkable[rows, cols] = nav.is_walkable(points)
    overall = round(float(walkable[rows, cols].mean()), 4)
    radius = float(nav.agent.get("agent_radius", 0.0))
    steps = int(np.ceil(radius / observed.surface.cell))
    yy, xx = np.mgrid[-steps : steps + 1, -steps : steps + 1]
    inner = ndimage.binary_erosion(observed.ground, structure=xx**2 + yy**2 <= steps**2)
    away = round(float(walkable[inner].mean()), 4) if inner.any() else None
    return overall, away

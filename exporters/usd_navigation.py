"""The navigation layer of a world package: walkable surface, NavMesh volumes, spawn points.

Prims (under ``/World/Navigation``, an Xform carrying the agent settings as customData):

* ``WalkableSurface``: Mesh, ``purpose = "guide"`` (visible in the viewport's guide mode,
  never rendered or collided); every level (floor, landings, platform tops), the
  levels joined over stairs and ramps the agent can climb.
* ``IncludeVolume``: ``NavMeshVolume`` with ``nav:volume:type = "Include"`` and the
  ``NavMeshAreaAPI`` (``nav:area = "Walkable"``) around the walkable space.
* ``ExcludeVolumes/Exclude_NNN``: ``NavMeshVolume`` with ``nav:volume:type = "Exclude"``
  (``nav:area = "NotWalkable"``) over raised surfaces the agent cannot reach (table and
  cabinet tops), each between the walkable levels below and above it.
* ``SpawnPoints``: Points, ``purpose = "guide"``.

``NavMeshVolume`` and ``NavMeshAreaAPI`` belong to Isaac Sim's ``omni.anim.navigation.schema``
(``NavSchema``), which plain usd-core does not ship: the prims are authored by type and
schema name, with the attributes Isaac Sim's NavSchema declares (``token nav:volume:type``,
``string nav:area``, a unit-cube ``extent`` sized by ``xformOp:scale``, axis-aligned).
Isaac Sim keeps the navmesh agent settings as app settings, not in USD; the values
to set are stored here as customData ``isaacSimSettings`` (setting path -> value).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldgen_sim.exporters.usd_stage import (
    WORLD_PRIM,
    create_layer_stage,
    extent_of,
    float_array,
    int_array,
    vec3f_array,
)

__all__ = ["NAVIGATION_PRIM", "isaac_sim_settings", "write_navigation_layer"]

NAVIGATION_PRIM = f"{WORLD_PRIM}/Navigation"
NAVMESH_VOLUME_TYPE = "NavMeshVolume"
NAVMESH_AREA_API = "NavMeshAreaAPI"
_ISAAC_SETTING_ROOT = "/exts/omni.anim.navigation.core/navMesh/config"
_SPAWN_POINT_WIDTH = 0.1
"""Display diameter of spawn points [m]."""


def isaac_sim_settings(agent: dict) -> dict[str, float]:
    """Isaac Sim navmesh app settings for an agent (stage units: metres; slope in degrees)."""
    return {
        f"{_ISAAC_SETTING_ROOT}/agentRadius": float(agent["agent_radius"]),
        f"{_ISAAC_SETTING_ROOT}/agentHeight": float(agent["agent_height"]),
        f"{_ISAAC_SETTING_ROOT}/agentMaxStepHeight": float(agent["max_climb"]),
        f"{_ISAAC_SETTING_ROOT}/agentMaxFloorSlope": float(agent["max_slope"]),
    }


def write_navigation_layer(path: str | Path, result) -> None:
    """Write the navigation layer of a world package.

    Args:
        path: the layer file (``.usda`` or ``.usdc``); overwritten.
        result: the navigation stage's :class:`~worldgen_sim.artifacts.NavigationResult`.
    """
    from pxr import Gf, Sdf, UsdGeom, Vt

    stage = create_layer_stage(path)
    nav = UsdGeom.Xform.Define(stage, NAVIGATION_PRIM)
    agent = {k: float(v) for k, v in result.agent.items()}
    nav.GetPrim().SetCustomDataByKey("worldgen:agent", agent)
    nav.GetPrim().SetCustomDataByKey("worldgen:units", {"length": "m", "angle": "deg"})
    nav.GetPrim().SetCustomDataByKey("isaacSimSettings", isaac_sim_settings(agent))
    # Levels of the walkable surface (floor, landings, platform tops); the mesh below holds them all.
    nav.GetPrim().SetCustomDataByKey("worldgen:levels", int(np.shape(result.heights)[0]))

    surface = result.surface
    mesh = UsdGeom.Mesh.Define(stage, f"{NAVIGATION_PRIM}/WalkableSurface")
    mesh.CreatePointsAttr(vec3f_array(surface.vertices))
    mesh.CreateFaceVertexCountsAttr(int_array(np.full(surface.faces.shape[0], 3, np.int32)))
    mesh.CreateFaceVertexIndicesAttr(int_array(surface.faces))
    if surface.normals is not None:
        mesh.CreateNormalsAttr(vec3f_array(surface.normals))
        mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    mesh.CreateExtentAttr(extent_of(surface.vertices))
    mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    mesh.CreateDoubleSidedAttr(True)
    mesh.CreatePurposeAttr(UsdGeom.Tokens.guide)
    mesh.CreateDisplayColorAttr(Vt.Vec3fArray([Gf.Vec3f(0.1, 0.8, 0.3)]))

    _define_volume(stage, f"{NAVIGATION_PRIM}/IncludeVolume", result.include_bounds, include=True)
    exclude = np.asarray(result.exclude_bounds, np.float64).reshape(-1, 2, 3)
    if len(exclude):
        UsdGeom.Xform.Define(stage, f"{NAVIGATION_PRIM}/ExcludeVolumes")
        for i, box in enumerate(exclude):
            _define_volume(stage, f"{NAVIGATION_PRIM}/ExcludeVolumes/Exclude_{i:03d}", box, include=False)

    spawn = np.asarray(result.spawn_points, np.float32).reshape(-1, 3)
    points = UsdGeom.Points.Define(stage, f"{NAVIGATION_PRIM}/SpawnPoints")
    spawn_vt = vec3f_array(spawn)
    widths_vt = float_array(np.full(len(spawn), _SPAWN_POINT_WIDTH, np.float32))
    points.CreatePointsAttr(spawn_vt)
    points.CreateWidthsAttr(widths_vt)
    points.SetWidthsInterpolation(UsdGeom.Tokens.vertex)
    if len(spawn):  # a points extent includes the point radii; validators recompute it that way
        points.CreateExtentAttr(UsdGeom.Points.ComputeExtent(spawn_vt, widths_vt))
    points.CreatePurposeAttr(UsdGeom.Tokens.guide)
    points.GetPrim().CreateAttribute("worldgen:seedRegion", Sdf.ValueTypeNames.Int, custom=True).Set(0)
    stage.GetRootLayer().Save()


def _define_volume(stage, prim_path: str, bounds: np.ndarray, *, include: bool) -> None:
    """An axis-aligned NavMeshVolume: unit-cube extent, translated to the box centre, scaled to its size."""
    from pxr import Gf, Sdf

    lo, hi = np.asarray(bounds, np.float64)
    prim = stage.DefinePrim(prim_path, NAVMESH_VOLUME_TYPE)
    prim.AddAppliedSchema(NAVMESH_AREA_API)
    volume_type = "Include" if include else "Exclude"
    area = "Walkable" if include else "NotWalkable"
    prim.CreateAttribute("nav:volume:type", Sdf.ValueTypeNames.Token, custom=False).Set(volume_type)
    prim.CreateAttribute("nav:area", Sdf.ValueTypeNames.String, custom=False).Set(area)
    prim.CreateAttribute("extent", Sdf.ValueTypeNames.Float3Array, custom=False).Set(
        [Gf.Vec3f(-0.5, -0.5, -0.5), Gf.Vec3f(0.5, 0.5, 0.5)]
    )
    prim.CreateAttribute("xformOp:translate", Sdf.ValueTypeNames.Double3, custom=False).Set(Gf.Vec3d(*((lo + hi) / 2)))
    prim.CreateAttribute("xformOp:scale", Sdf.ValueTypeNames.Float3, custom=False).Set(Gf.Vec3f(*(hi - lo)))
    order = prim.CreateAttribute(
        "xformOpOrder", Sdf.ValueTypeNames.TokenArray, custom=False, variability=Sdf.VariabilityUniform
    )
    order.Set(["xformOp:translate", "xformOp:scale"])

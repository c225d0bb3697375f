"""Isaac Lab config objects for a world package; ``isaaclab`` is imported when a builder is called."""

from __future__ import annotations

import math
from pathlib import Path

from worldgen_sim.errors import WorldgenError
from worldgen_sim.isaaclab.world_data import read_world_materials, spawn_poses, world_usd

__all__ = ["import_isaaclab", "spawn_reset_event_cfg", "world_material_event_cfg", "world_terrain_cfg"]


def world_terrain_cfg(world_dir: str | Path, *, prim_path: str = "/World/ground", **kwargs):
    """``TerrainImporterCfg(terrain_type="usd")`` for the world's ``world.usda``.

    The world carries its own colliders and physics materials, which the USD
    importer keeps (it applies none of its own).

    Args:
        world_dir: the world package folder (or its ``world.usda``).
        prim_path: where Isaac Lab puts the terrain.
        **kwargs: further ``TerrainImporterCfg`` fields (e.g. ``collision_group``, ``debug_vis``).
    """
    terrains = import_isaaclab("isaaclab.terrains")
    return terrains.TerrainImporterCfg(prim_path=prim_path, terrain_type="usd", usd_path=str(world_usd(world_dir)),
                                       **kwargs)  # fmt: skip


def spawn_reset_event_cfg(world_dir: str | Path, *, asset_name: str = "robot", height: float = 0.0,
                          yaw_range: tuple[float, float] = (-math.pi, math.pi), mode: str = "reset"):  # fmt: skip
    """``EventTermCfg`` that resets the robot onto the world's spawn points (``navigation.json``).

    Args:
        world_dir: the world package folder.
        asset_name: the robot's name in the scene.
        height: root height above the spawn point [m].
        yaw_range: random yaw range [rad].
        mode: the event mode (``"reset"`` normally).
    """
    managers = import_isaaclab("isaaclab.managers")
    from worldgen_sim.isaaclab.events import reset_to_spawn_points

    params = {"spawn_poses": spawn_poses(world_dir).tolist(), "asset_cfg": managers.SceneEntityCfg(asset_name),
              "height": float(height), "yaw_range": tuple(float(v) for v in yaw_range)}  # fmt: skip
    return managers.EventTermCfg(func=reset_to_spawn_points, mode=mode, params=params)


def world_material_event_cfg(world_dir: str | Path, *, surface: str = "floor", asset_name: str = "robot",
                             spread: float = 0.0, mode: str = "startup"):  # fmt: skip
    """``EventTermCfg`` giving the robot's shapes the material of the world's ``surface`` class.

    Args:
        world_dir: the world package folder.
        surface: which of the world's physics materials (its semantic class) the robot walks on.
        asset_name: the robot's name in the scene.
        spread: relative friction randomisation (0 = exactly the world's values).
        mode: the event mode (``"startup"``: once, as Isaac Lab's material randomisation does).

    Raises:
        WorldgenError: the world has no material called ``surface``.
    """
    managers = import_isaaclab("isaaclab.managers")
    from worldgen_sim.isaaclab.events import apply_world_material

    materials = read_world_materials(world_dir)
    if surface not in materials:
        raise WorldgenError(f"surface '{surface}': the world's physics materials are {sorted(materials)}")
    chosen = materials[surface]
    params = {"material": (chosen.static_friction, chosen.dynamic_friction, chosen.restitution),
              "asset_cfg": managers.SceneEntityCfg(asset_name), "spread": float(spread)}  # fmt: skip
    return managers.EventTermCfg(func=apply_world_material, mode=mode, params=params)


def import_isaaclab(module: str):
    """An Isaac Lab module, or one WorldgenError saying how to install Isaac Lab 3."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise WorldgenError(
            f"worldgen_sim.isaaclab needs Isaac Lab 3 ({module} did not import: {exc}); "
            "install it in a Python 3.12 environment: pip install isaaclab==3.0.0"
        ) from None

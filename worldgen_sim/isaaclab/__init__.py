"""Isaac Lab 3 helpers: a worldgen world as terrain, resets onto its spawn points, its physics materials.

``import worldgen_sim.isaaclab`` imports neither Isaac Lab nor torch; the
config builders import ``isaaclab`` when called and the event functions import
torch when Isaac Lab calls them. Isaac Lab 3 writes quaternions as
(x, y, z, w); so does everything here.

The randomisation terms (:mod:`.randomize_events`) come from
``worldgen_sim.randomize.isaaclab_terms.make_event_terms``.

Typical use in an environment config::

    from worldgen_sim.isaaclab import world_terrain_cfg, spawn_reset_event_cfg, world_material_event_cfg

    scene.terrain = world_terrain_cfg("out/kitchen")
    events.reset_base = spawn_reset_event_cfg("out/kitchen", height=0.6)
    events.ground_friction = world_material_event_cfg("out/kitchen")
"""

from __future__ import annotations

from worldgen_sim.isaaclab.cfg import spawn_reset_event_cfg, world_material_event_cfg, world_terrain_cfg
from worldgen_sim.isaaclab.events import apply_world_material, reset_to_spawn_points
from worldgen_sim.isaaclab.randomize_events import (
    randomize_lights,
    randomize_visual_appearance,
    reset_poses_from_pool,
    reset_to_active_spawn_points,
)
from worldgen_sim.isaaclab.world_data import WorldMaterial, read_world_materials, spawn_poses

__all__ = [
    "WorldMaterial",
    "apply_world_material",
    "randomize_lights",
    "randomize_visual_appearance",
    "read_world_materials",
    "reset_poses_from_pool",
    "reset_to_active_spawn_points",
    "reset_to_spawn_points",
    "spawn_poses",
    "spawn_reset_event_cfg",
    "world_material_event_cfg",
    "world_terrain_cfg",
]

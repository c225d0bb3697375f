"""A minimal Isaac Lab 3 training setup on a worldgen world: the world as terrain, ANYmal-C resets on its
spawn points, the robot on the world's floor material.

Copy the pieces into your task's ``ManagerBasedRLEnvCfg`` (observations, actions, rewards and
terminations are the task's own). Point ``WORLDGEN_WORLD`` at a world package built by
``worldgen build`` (needs its navigation stage for spawn points). Runs where Isaac Lab 3 is
installed (Python 3.12); ``make test-isaac`` constructs these configs with the real isaaclab.
"""

from __future__ import annotations

import os

import isaaclab.envs.mdp as mdp
from isaaclab.managers import EventTermCfg, SceneEntityCfg
from isaaclab.scene import InteractiveSceneCfg
from isaaclab.utils import configclass
from isaaclab_assets.robots.anymal import ANYMAL_C_CFG

from worldgen_sim.isaaclab import spawn_reset_event_cfg, world_material_event_cfg, world_terrain_cfg

WORLD = os.environ.get("WORLDGEN_WORLD", "out/kitchen")


@configclass
class WorldgenSceneCfg(InteractiveSceneCfg):
    """Every environment shares the one generated world; robots are spread over its spawn points."""

    terrain = world_terrain_cfg(WORLD)
    robot = ANYMAL_C_CFG.replace(prim_path="{ENV_REGEX_NS}/Robot")


@configclass
class WorldgenEventsCfg:
    """Resets on walkable spawn points (0.6 m: ANYmal-C's standing base height), the floor's friction."""

    robot_on_world_material = world_material_event_cfg(WORLD, surface="floor", spread=0.1)
    reset_base = spawn_reset_event_cfg(WORLD, height=0.6)
    reset_joints = EventTermCfg(
        func=mdp.reset_joints_by_scale,
        mode="reset",
        params={"position_range": (0.5, 1.5), "velocity_range": (0.0, 0.0), "asset_cfg": SceneEntityCfg("robot")},
    )

"""Using a worldgen world in Isaac Lab: the world as terrain, resets at its spawn points.

Needs Isaac Lab (not installed by this project); copy the pieces into your
environment config. The USD carries its own physics materials and colliders,
which Isaac Lab's USD terrain importer keeps (it applies no materials itself).
"""

from __future__ import annotations

import torch
from isaaclab.assets import Articulation
from isaaclab.envs import ManagerBasedEnv
from isaaclab.managers import EventTermCfg, SceneEntityCfg
from isaaclab.terrains import TerrainImporterCfg

from worldgen_sim import NavigationMap

WORLD = "/data/worlds/kitchen"

terrain = TerrainImporterCfg(prim_path="/World/ground", terrain_type="usd", usd_path=f"{WORLD}/world.usda")

_NAV = NavigationMap.load(f"{WORLD}/navigation.json")


def reset_at_spawn_points(env: ManagerBasedEnv, env_ids: torch.Tensor, asset_cfg: SceneEntityCfg, height: float):
    """Put each reset robot on a walkable spawn point of the world, `height` metres above the floor."""
    asset: Articulation = env.scene[asset_cfg.name]
    points = _NAV.sample_spawn_points(len(env_ids), seed=int(env.common_step_counter), clearance=0.1)
    root = asset.data.default_root_state[env_ids].clone()
    root[:, :3] = torch.as_tensor(points, device=root.device) + torch.tensor([0.0, 0.0, height], device=root.device)
    asset.write_root_state_to_sim(root, env_ids=env_ids)


reset_robot = EventTermCfg(
    func=reset_at_spawn_points, mode="reset", params={"asset_cfg": SceneEntityCfg("robot"), "height": 0.45}
)

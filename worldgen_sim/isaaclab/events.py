"""Isaac Lab event functions for worldgen worlds (``EventTermCfg(func=..., params=...)``).

They follow Isaac Lab 3's asset API: root poses are (N, 7) x, y, z, qx, qy, qz, qw
(``asset.write_root_pose_to_sim_index``), velocities (N, 6), and per-shape
materials (num_envs, num_shapes, 3) static friction, dynamic friction,
restitution (``asset.root_view.get/set_material_properties``, warp arrays on
PhysX). torch, warp and Isaac Lab's math are imported when a function runs.
"""

from __future__ import annotations

import math

__all__ = ["apply_world_material", "env_id_tensor", "reset_to_spawn_points"]


def reset_to_spawn_points(env, env_ids, spawn_poses, asset_cfg, height: float = 0.0,
                          yaw_range: tuple[float, float] = (-math.pi, math.pi)) -> None:  # fmt: skip
    """Put each reset robot on a random spawn point of the world, turned by a random yaw.

    Every environment shares the one world, so poses are world coordinates and
    environment origins are not added.

    Args:
        env: the Isaac Lab environment.
        env_ids: environments to reset (tensor, slice or None for all).
        spawn_poses: (S, 7) spawn poses x, y, z [m], qx, qy, qz, qw
            (:func:`worldgen_sim.isaaclab.spawn_poses`).
        asset_cfg: ``SceneEntityCfg`` of the robot.
        height: the root is placed this far above the spawn point (the robot's standing height) [m].
        yaw_range: yaw about +Z drawn uniformly from this range [rad].
    """
    import torch
    from isaaclab.utils import math as math_utils

    asset = env.scene[asset_cfg.name]
    ids = env_id_tensor(env, env_ids, asset.device)
    poses = torch.as_tensor(spawn_poses, dtype=torch.float32, device=asset.device)
    pick = torch.randint(0, poses.shape[0], (len(ids),), device=asset.device)
    pose = poses[pick].clone()
    pose[:, 2] += height
    yaw = torch.empty(len(ids), device=asset.device).uniform_(*yaw_range)
    zero = torch.zeros_like(yaw)
    turn = math_utils.quat_from_euler_xyz(zero, zero, yaw)  # (x, y, z, w)
    pose[:, 3:7] = math_utils.quat_mul(turn, pose[:, 3:7])
    asset.write_root_pose_to_sim_index(root_pose=pose, env_ids=ids)
    asset.write_root_velocity_to_sim_index(root_velocity=torch.zeros(len(ids), 6, device=asset.device), env_ids=ids)


def apply_world_material(env, env_ids, material: tuple[float, float, float], asset_cfg,
                         spread: float = 0.0) -> None:  # fmt: skip
    """Give the robot's collision shapes the world's surface material.

    PhysX combines two touching materials by averaging (its default), so a
    robot whose shapes carry the floor's material meets exactly the friction
    and restitution the world authored; ``spread`` randomises friction around
    it per environment (restitution is kept).

    Args:
        env: the Isaac Lab environment.
        env_ids: environments to change (tensor, slice or None for all).
        material: (static friction, dynamic friction, restitution) of the world's surface.
        asset_cfg: ``SceneEntityCfg`` of the robot.
        spread: relative half-width of the uniform friction randomisation (0.1 = +-10 %).
    """
    import torch

    asset = env.scene[asset_cfg.name]
    ids = env_id_tensor(env, env_ids, "cpu")  # PhysX's material API works on CPU tensors
    materials, to_backend = _as_torch(asset.root_view.get_material_properties())
    value = torch.as_tensor(material, dtype=materials.dtype)
    scale = torch.empty(len(ids), 1).uniform_(1.0 - spread, 1.0 + spread) if spread > 0 else torch.ones(len(ids), 1)
    sampled = value.expand(len(ids), 3).clone()
    sampled[:, :2] *= scale
    sampled[:, 1] = torch.minimum(sampled[:, 0], sampled[:, 1])  # dynamic friction never above static
    restitution = materials[ids, :, 2]
    new = sampled[:, None, :].expand(-1, materials.shape[1], -1).clone()
    # Negative restitution on PhysX encodes a compliant contact's stiffness: leave such shapes alone.
    new[..., 2] = torch.where(restitution < 0.0, restitution, new[..., 2])
    materials[ids] = new
    asset.root_view.set_material_properties(to_backend(materials), to_backend(ids.to(torch.int32)))


def env_id_tensor(env, env_ids, device):
    """Isaac Lab's ``env_ids`` argument (None = every environment, a slice, or indices) as a long tensor."""
    import torch

    all_ids = torch.arange(env.scene.num_envs, device=device)
    if env_ids is None:
        return all_ids
    if isinstance(env_ids, slice):
        return all_ids[env_ids]
    return torch.as_tensor(env_ids, device=device).long()


def _as_torch(values):
    """A torch view of a warp array (PhysX's tensor API) or a torch tensor, and the way back."""
    import torch

    if isinstance(values, torch.Tensor):
        return values, lambda tensor: tensor
    import warp as wp

    return wp.to_torch(values), lambda tensor: wp.from_torch(tensor.contiguous())

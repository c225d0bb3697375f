"""Isaac Lab event functions that apply ``worldgen randomize``'s distributions at run time.

``EventTermCfg(func=..., params=...)``-compatible: each takes ``(env, env_ids, **params)``.
:func:`worldgen_sim.randomize.isaaclab_terms.make_event_terms` builds the terms from a
:class:`~worldgen_sim.randomize.randomize_cfg.RandomizeCfg`; the draws go through the same
functions as the offline variants (:mod:`worldgen_sim.randomize.sample`), and poses come from
pools checked against the colliders offline (:mod:`worldgen_sim.randomize.pools`).

* :func:`reset_poses_from_pool`: rigid objects (moved world objects, distractors) to a
  collision-checked pose set, one set per environment.
* :func:`reset_to_active_spawn_points`: the robot onto a spawn point of its environment's
  active set.
* :func:`randomize_lights`: dome and sun intensity, colour temperature, sun direction.
* :func:`randomize_visual_appearance`: tint of the visual meshes' colours, roughness.

Lights and visual meshes belong to the one shared world, so those two change the stage
(through ``pxr``: Isaac Sim syncs USD edits to the renderer) once per call, whichever
environments reset. torch is imported when a function runs; Isaac Lab is not imported at all,
so the pure parts run (and are tested) with usd-core and torch alone.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

from worldgen_sim.isaaclab.events import env_id_tensor

__all__ = ["randomize_lights", "randomize_visual_appearance", "reset_poses_from_pool", "reset_to_active_spawn_points"]

_BASE_COLORS: dict[tuple[int, str], object] = {}
"""(id of the stage's root layer, mesh path) -> the mesh's displayColor before the first tint."""


def reset_poses_from_pool(env, env_ids, pool, asset_names: tuple[str, ...] | list[str],
                          add_env_origins: bool = False) -> None:  # fmt: skip
    """Give each reset environment's assets one pose set drawn from ``pool``.

    Args:
        env: the Isaac Lab environment.
        env_ids: environments to reset (tensor, slice or None for all).
        pool: (K, A, 7) poses x, y, z [m], qx, qy, qz, qw (Isaac Lab 3 order), one set of A per row
            (:func:`~worldgen_sim.randomize.pools.object_pose_pools` stacked,
            :func:`~worldgen_sim.randomize.pools.distractor_pose_pool`).
        asset_names: the A rigid-object entities of the scene, in pool order.
        add_env_origins: add each environment's origin (per-environment copies of the objects);
            False when every environment shares the one world, as the world terrain does.
    """
    import torch

    first = env.scene[asset_names[0]]
    ids = env_id_tensor(env, env_ids, first.device)
    poses = torch.as_tensor(pool, dtype=torch.float32, device=first.device).reshape(-1, len(asset_names), 7)
    pick = torch.randint(0, poses.shape[0], (len(ids),), device=first.device)
    for slot, name in enumerate(asset_names):
        asset = env.scene[name]
        pose = poses[pick, slot].clone()
        if add_env_origins:
            pose[:, :3] += env.scene.env_origins[ids]
        asset.write_root_pose_to_sim_index(root_pose=pose, env_ids=ids)
        asset.write_root_velocity_to_sim_index(root_velocity=torch.zeros(len(ids), 6, device=first.device),
                                               env_ids=ids)  # fmt: skip


def reset_to_active_spawn_points(env, env_ids, spawn_poses, active, asset_cfg, height: float = 0.0,
                                 yaw_range: tuple[float, float] = (-math.pi, math.pi)) -> None:  # fmt: skip
    """Put each reset robot on a random spawn point of its environment's active set, turned by a random yaw.

    Args:
        env: the Isaac Lab environment.
        env_ids: environments to reset (tensor, slice or None for all).
        spawn_poses: (S, 7) spawn poses x, y, z [m], qx, qy, qz, qw.
        active: (num_envs, S) bool, each environment's active spawn points
            (:func:`~worldgen_sim.randomize.pools.spawn_active_masks`; every row has one at least).
        asset_cfg: ``SceneEntityCfg`` of the robot.
        height: the root goes this far above the spawn point [m].
        yaw_range: yaw about +Z drawn uniformly from this range [rad].
    """
    import torch

    asset = env.scene[asset_cfg.name]
    ids = env_id_tensor(env, env_ids, asset.device)
    poses = torch.as_tensor(spawn_poses, dtype=torch.float32, device=asset.device).reshape(-1, 7)
    mask = torch.as_tensor(active, dtype=torch.float32, device=asset.device)[ids]
    pick = torch.multinomial(mask, 1).squeeze(1)  # uniform over each environment's active points
    pose = poses[pick].clone()
    pose[:, 2] += height
    yaw = torch.empty(len(ids), device=asset.device).uniform_(*yaw_range)
    pose[:, 3:7] = quat_mul_xyzw(yaw_quaternion_xyzw(yaw), pose[:, 3:7])
    asset.write_root_pose_to_sim_index(root_pose=pose, env_ids=ids)
    asset.write_root_velocity_to_sim_index(root_velocity=torch.zeros(len(ids), 6, device=asset.device), env_ids=ids)


def randomize_lights(env, env_ids, ranges: dict, dome_path: str = "/World/Lights/Dome",
                     sun_path: str = "/World/Lights/Sun", seed: int | None = None) -> dict[str, float]:  # fmt: skip
    """Draw the world's lighting (as a variant does) and author it on the stage's dome and distant light.

    Args:
        env: the Isaac Lab environment (its ``scene.stage``).
        env_ids: ignored: the lights belong to the shared world.
        ranges: ``dome_intensity``, ``sun_intensity`` [nits], ``color_temperature`` [K],
            ``sun_elevation``, ``sun_azimuth`` [deg] as (low, high) (``RandomizeCfg.lighting``).
        dome_path, sun_path: the lights' prims; defined when missing.
        seed: draw from this seed (None: fresh entropy each call).

    Returns:
        The values drawn.
    """
    import numpy as np

    from worldgen_sim.randomize.sample import draw_lighting
    from worldgen_sim.randomize.write import apply_lighting

    values = draw_lighting(SimpleNamespace(**ranges), np.random.default_rng(seed))
    apply_lighting(env.scene.stage, values, dome_path=dome_path, sun_path=sun_path)
    return values


def randomize_visual_appearance(env, env_ids, tint: tuple[float, float], roughness: tuple[float, float],
                                mesh_paths: tuple[str, ...] | list[str] = ("/World/Visual/Mesh",),
                                surface_path: str = "/World/Visual/Looks/VertexColor/PreviewSurface",
                                seed: int | None = None) -> dict:  # fmt: skip
    """Tint the visual meshes' vertex colours and set the preview surface's roughness (as a variant does).

    Each mesh's colours before the first call are kept and every call tints those, so tints
    never compound.

    Args:
        env: the Isaac Lab environment (its ``scene.stage``).
        env_ids: ignored: the meshes belong to the shared world.
        tint: per-channel multiplier range; roughness: roughness range (``RandomizeCfg.appearance``).
        mesh_paths: the meshes to tint (the fused mesh and the objects' own ``.../Visual`` meshes).
        surface_path: the ``UsdPreviewSurface`` shader whose roughness varies.
        seed: draw from this seed (None: fresh entropy each call).

    Returns:
        The values drawn (``tint``, ``roughness``).
    """
    import numpy as np
    from pxr import Sdf, UsdGeom, Vt

    from worldgen_sim.randomize.sample import draw_appearance

    look = draw_appearance(SimpleNamespace(tint=tint, roughness=roughness), np.random.default_rng(seed))
    stage = env.scene.stage
    for path in mesh_paths:
        prim = stage.GetPrimAtPath(path)
        if not prim.IsValid():
            continue
        primvar = UsdGeom.PrimvarsAPI(prim).GetPrimvar("displayColor")
        key = (id(stage.GetRootLayer()), str(path))
        if key not in _BASE_COLORS:
            _BASE_COLORS[key] = np.asarray(primvar.Get(), np.float32).reshape(-1, 3)
        base = np.asarray(_BASE_COLORS[key])
        primvar.Set(Vt.Vec3fArray.FromNumpy(np.clip(base * np.asarray(look["tint"], np.float32), 0.0, 1.0)))
    surface = stage.GetPrimAtPath(surface_path)
    if surface.IsValid():
        surface.CreateAttribute("inputs:roughness", Sdf.ValueTypeNames.Float).Set(float(look["roughness"]))
    return look


def yaw_quaternion_xyzw(yaw):
    """(N, 4) torch quaternions (x, y, z, w) of rotations by ``yaw`` (N,) [rad] about +Z."""
    import torch

    zero = torch.zeros_like(yaw)
    return torch.stack([zero, zero, torch.sin(0.5 * yaw), torch.cos(0.5 * yaw)], dim=1)


def quat_mul_xyzw(a, b):
    """Hamilton product of (N, 4) torch quaternions stored (x, y, z, w): the rotation ``b`` then ``a``."""
    import torch

    ax, ay, az, aw = a.unbind(1)
    bx, by, bz, bw = b.unbind(1)
    return torch.stack([aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx,
                        aw * bz + ax * by - ay * bx + az * bw,
                        aw * bw - ax * bx - ay * by - az * bz], dim=1)  # fmt: skip

"""The same distributions at run time: Isaac Lab 3 event terms built from a :class:`RandomizeCfg`.

Offline variants (USD layers) and run-time randomisation (Isaac Lab events at reset)
then draw from one set of ranges, through the same sampling functions:

=====================  ===================================================================
term                   what it varies (function; params from :func:`event_term_params`)
=====================  ===================================================================
``physics_material``   friction/restitution of the robot's bodies, over the floor class's
                       ranges (``isaaclab.envs.mdp.randomize_rigid_body_material``)
``<entity>_mass``      rigid objects' masses by ``physics.density_scale``
                       (``isaaclab.envs.mdp.randomize_rigid_body_mass``)
``object_poses``       world objects spawned as rigid objects: a collision-checked pose set
                       per reset, set k = offline variant k's moves (``reset_poses_from_pool``)
``distractor_poses``   distractor rigid objects: overlap-free drop poses on walkable ground
``spawn_points``       the robot onto its environment's active spawn set
                       (``reset_to_active_spawn_points``; env e uses variant e's set)
``lights``             dome/sun intensity, colour temperature, sun direction (``randomize_lights``)
``appearance``         tint of the visual meshes, roughness (``randomize_visual_appearance``)
=====================  ===================================================================

Isaac Lab randomises the materials of an asset's own bodies (PhysX combines the two
materials of a contact, by default their average), so the floor class's ranges are
applied to the robot's bodies: the friction a foot sees varies over the same range
as in the offline variants' floors. Isaac Lab is imported only inside
:func:`make_event_terms`; :func:`event_term_params` is plain data, testable anywhere.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from worldgen_sim.randomize.randomize_cfg import RandomizeCfg
from worldgen_sim.randomize.world_info import WorldInfo

__all__ = ["event_term_params", "make_event_terms"]


def event_term_params(cfg: RandomizeCfg, *, world: WorldInfo | None = None, material_class: str = "floor",
                      num_buckets: int = 64, objects: dict[str, str] | None = None,
                      distractors: dict[str, float] | None = None, num_envs: int = 1, pool_size: int = 256,
                      seed: int = 0) -> dict[str, dict]:  # fmt: skip
    """Parameters of the Isaac Lab event terms that reproduce ``cfg``'s distributions.

    Args:
        cfg: the randomisation config (validated).
        world: the base world (:func:`~worldgen_sim.randomize.world_info.load_world_info`); the pose
            pools, spawn sets and tinted meshes need it, the physics, light and tint ranges do not.
        material_class: whose friction/restitution ranges the robot's bodies get.
        num_buckets: distinct materials Isaac Lab creates per asset (PhysX caps materials).
        objects: scene entity -> world object name, for objects spawned as Isaac Lab rigid objects.
        distractors: scene entity -> its size [m], for distractor rigid objects.
        num_envs: environments (one active spawn set each).
        pool_size: pose sets drawn offline for the pose terms.
        seed: the seed of the pools and spawn sets (pose set k and env k's spawn set are variant k's).

    Returns:
        term name -> keyword parameters of its event function (plain lists, floats and strings).
    """
    ranges = cfg.physics.classes.get(material_class, cfg.physics.default)

    def span(value, fallback):
        return tuple(float(v) for v in (value if value is not None else fallback))

    params: dict[str, dict] = {
        "physics_material": {
            "static_friction_range": span(ranges.static_friction, (0.8, 0.8)),
            "dynamic_friction_range": span(ranges.dynamic_friction, (0.6, 0.6)),
            "restitution_range": span(ranges.restitution, (0.0, 0.0)),
            "num_buckets": int(num_buckets),
        },
        "object_mass": {
            "mass_distribution_params": tuple(float(v) for v in cfg.physics.density_scale),
            "operation": "scale",
        },
    }
    if cfg.lighting.enabled:
        light = dataclasses.asdict(cfg.lighting)
        params["lights"] = {"ranges": {k: tuple(float(x) for x in v) for k, v in light.items() if k != "enabled"}}
    if cfg.appearance.enabled:
        params["appearance"] = {"tint": tuple(float(v) for v in cfg.appearance.tint),
                                "roughness": tuple(float(v) for v in cfg.appearance.roughness),
                                "mesh_paths": _visual_meshes(world)}
    if world is None:
        return params
    from worldgen_sim.randomize.pools import distractor_pose_pool, object_pose_pool, spawn_active_masks

    if objects and cfg.objects.enabled:
        pool = object_pose_pool(world, cfg, names=list(objects.values()), count=pool_size, seed=seed)
        params["object_poses"] = {"pool": pool.tolist(), "asset_names": list(objects)}
    if distractors and cfg.distractors.enabled:
        pool = distractor_pose_pool(world, cfg, sizes=list(distractors.values()), count=pool_size, seed=seed)
        params["distractor_poses"] = {"pool": pool.tolist(), "asset_names": list(distractors)}
    if len(world.spawn_points):
        from worldgen_sim.isaaclab.world_data import spawn_poses

        params["spawn_points"] = {"spawn_poses": np.asarray(spawn_poses(world.root)).tolist(),
                                  "active": spawn_active_masks(world, cfg, num_envs=num_envs, seed=seed).tolist()}
    return params


def _visual_meshes(world: WorldInfo | None) -> list[str]:
    """The fused visual mesh and, in a world with an object layer, each object's own visual mesh."""
    paths = ["/World/Visual/Mesh"]
    if world is not None and (world.root / "objects.usdc").is_file():
        from pxr import Sdf

        from worldgen_sim.randomize.world_info import OBJECTS_PRIM

        layer = Sdf.Layer.OpenAsAnonymous(str(world.root / "objects.usdc"))
        scope = layer.GetPrimAtPath(OBJECTS_PRIM) if layer is not None else None
        paths += [str(child.path) for spec in (scope.nameChildren if scope is not None else [])
                  for child in spec.nameChildren if child.typeName == "Mesh"]
    return paths


def make_event_terms(cfg: RandomizeCfg, *, world: WorldInfo | None = None, robot: str = "robot",
                     objects: dict[str, str] | None = None, distractors: dict[str, float] | None = None,
                     mass_objects: tuple[str, ...] = (), material_class: str = "floor", mode: str = "reset",
                     num_envs: int = 1, pool_size: int = 256, seed: int = 0, height: float = 0.0) -> dict:  # fmt: skip
    """Isaac Lab ``EventTermCfg`` objects for an environment's ``events`` config.

    Args:
        cfg: the randomisation config.
        world: the base world (pose pools, spawn sets, tinted meshes); None for the ranges-only terms.
        robot: scene entity whose bodies get the material ranges and which resets onto spawn points.
        objects: scene entity -> world object name (rigid objects standing in for the world's objects).
        distractors: scene entity -> size [m] (distractor rigid objects).
        mass_objects: scene entities whose masses are scaled by ``physics.density_scale``
            (default: the ``objects`` and ``distractors`` entities).
        material_class: see :func:`event_term_params`.
        mode: Isaac Lab event mode of the per-environment terms (``"reset"``, ``"startup"``, ...).
        num_envs, pool_size, seed: see :func:`event_term_params`.
        height: the robot's root height above a spawn point [m].

    Raises:
        WorldgenError: Isaac Lab is not installed (it needs Python 3.12 and Isaac Sim's packages).
    """
    from worldgen_sim.isaaclab.cfg import import_isaaclab
    from worldgen_sim.isaaclab.randomize_events import (
        randomize_lights,
        randomize_visual_appearance,
        reset_poses_from_pool,
        reset_to_active_spawn_points,
    )

    mdp = import_isaaclab("isaaclab.envs.mdp")
    managers = import_isaaclab("isaaclab.managers")
    EventTermCfg, SceneEntityCfg = managers.EventTermCfg, managers.SceneEntityCfg
    params = event_term_params(cfg, world=world, material_class=material_class, objects=objects,
                               distractors=distractors, num_envs=num_envs, pool_size=pool_size, seed=seed)
    terms = {}
    if cfg.physics.enabled:
        terms["physics_material"] = EventTermCfg(
            func=mdp.randomize_rigid_body_material, mode=mode,
            params={"asset_cfg": SceneEntityCfg(robot, body_names=".*"), **params["physics_material"]},
        )
        for name in mass_objects or (*(objects or {}), *(distractors or {})):
            terms[f"{name}_mass"] = EventTermCfg(
                func=mdp.randomize_rigid_body_mass, mode=mode,
                params={"asset_cfg": SceneEntityCfg(name), **params["object_mass"]},
            )
    for name in ("object_poses", "distractor_poses"):
        if name in params:
            terms[name] = EventTermCfg(func=reset_poses_from_pool, mode=mode, params=params[name])
    if "spawn_points" in params:
        terms["spawn_points"] = EventTermCfg(func=reset_to_active_spawn_points, mode=mode, params={
            **params["spawn_points"], "asset_cfg": SceneEntityCfg(robot), "height": float(height)})
    # Lights and the visual meshes are the one shared world's: changed on reset, for every environment at once.
    if "lights" in params:
        terms["lights"] = EventTermCfg(func=randomize_lights, mode=mode, params=params["lights"])
    if "appearance" in params:
        terms["appearance"] = EventTermCfg(func=randomize_visual_appearance, mode=mode, params=params["appearance"])
    return terms

"""Run-time randomisation data: collision-checked pose pools and spawn sets drawn like the offline variants.

Isaac Lab resets thousands of environments at once on the GPU, where checking a new
object pose against the world's colliders is out of reach. So the checks happen
here, offline, with the same sampler and :class:`~.placement.Placer` the variant
layers use; the event terms (:mod:`worldgen_sim.isaaclab.randomize_events`) pick
from these pools at reset. Poses are Isaac Lab 3's (x, y, z, qx, qy, qz, qw), world
frame [m]. Pure and seeded: same world, config and seed, same pools.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.randomize.placement import Placer
from worldgen_sim.randomize.randomize_cfg import RandomizeCfg
from worldgen_sim.randomize.sample import draw_distractor_spot, draw_spawn_active
from worldgen_sim.randomize.world_info import WorldInfo

__all__ = ["distractor_pose_pool", "object_pose_pool", "spawn_active_masks", "yaw_quaternion"]


def yaw_quaternion(yaw: np.ndarray) -> np.ndarray:
    """(N, 4) quaternions (qx, qy, qz, qw) of rotations by ``yaw`` (N,) [rad] about +Z."""
    yaw = np.asarray(yaw, np.float64).reshape(-1)
    zero = np.zeros_like(yaw)
    return np.stack([zero, zero, np.sin(0.5 * yaw), np.cos(0.5 * yaw)], axis=1)


def object_pose_pool(world: WorldInfo, cfg: RandomizeCfg, *, names: list[str], count: int,
                     seed: int) -> np.ndarray:
    """``count`` collision-checked pose sets of the named objects: set ``k`` is offline variant ``k``'s moves.

    Each set moves ``objects.moves`` of the movable objects jointly (checked against the world and
    each other, exactly as variant ``k`` of ``seed`` does); the others keep their base poses.

    Args:
        world: the base world.
        cfg: the randomisation config (``objects`` section).
        names: the objects (prim names under ``/World/Collision/Objects``) in the pool's order.
        count: number of sets (>= 1).
        seed: the offline run's seed.

    Returns:
        (count, A, 7) float32 poses x, y, z [m], qx, qy, qz, qw; A = len(names).

    Raises:
        WorldgenError: a name that is not an object of the world.
    """
    from worldgen_sim.errors import WorldgenError
    from worldgen_sim.randomize.sample import draw_moves, variant_rng

    by_name = {obj.name: obj for obj in world.objects}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise WorldgenError(f"object '{unknown[0]}' is not an object of {world.root} "
                            f"(it has: {', '.join(sorted(by_name))})")
    slot = {name: index for index, name in enumerate(names)}
    pool = np.zeros((count, len(names), 7), np.float32)
    pool[:, :, :3] = np.array([by_name[name].centre for name in names]).reshape(-1, 3)
    pool[:, :, 6] = 1.0
    if not (cfg.objects.enabled and cfg.objects.moves):
        return pool
    for index in range(count):
        placer = Placer(world, tolerance=cfg.objects.penetration_tolerance)
        moves, _ = draw_moves(world, cfg, placer, variant_rng(seed, index)["objects"])
        for move in moves:
            if move["name"] in slot:
                quaternion = yaw_quaternion(np.radians([move["yaw"]]))[0]
                pool[index, slot[move["name"]]] = np.concatenate([move["centre"], quaternion])
    return pool


def distractor_pose_pool(world: WorldInfo, cfg: RandomizeCfg, *, sizes: list[float], count: int,
                         seed: int) -> np.ndarray:
    """``count`` sets of drop poses for distractors of the given sizes, each set free of overlap.

    Each set places every distractor together (clear of the colliders, of the spawn points and
    of each other) with a random yaw, drawn like a variant's distractors. A distractor that
    finds no spot in a set is parked 100 m under the world (Isaac Lab has no per-env despawn).

    Args:
        world: the base world.
        cfg: the randomisation config (``distractors`` section: drop height, spawn clearance).
        sizes: edge length / diameter of each distractor asset [m].
        count: number of sets (>= 1).
        seed: the pool's seed.

    Returns:
        (count, D, 7) float32 poses x, y, z [m], qx, qy, qz, qw; D = len(sizes).
    """
    pool = np.zeros((count, len(sizes), 7), np.float32)
    pool[:, :, 2] = -100.0
    pool[:, :, 6] = 1.0
    if not len(world.walkable_points):
        return pool
    for index in range(count):
        rng = np.random.default_rng([int(seed), index])
        placer = Placer(world, tolerance=cfg.objects.penetration_tolerance)
        for slot, size in enumerate(sizes):
            centre, _ = draw_distractor_spot(world, cfg.distractors, placer, float(size), rng)
            yaw = rng.uniform(-np.pi, np.pi)
            if centre is not None:
                pool[index, slot] = np.concatenate([centre, yaw_quaternion(np.array([yaw]))[0]])
    return pool


def spawn_active_masks(world: WorldInfo, cfg: RandomizeCfg, *, num_envs: int, seed: int) -> np.ndarray:
    """(num_envs, S) bool: which spawn points each environment uses, drawn as variant ``env`` draws its set.

    Environment ``e`` gets exactly the active set of offline variant ``e`` of ``seed``.
    """
    from worldgen_sim.randomize.sample import variant_rng

    count = len(world.spawn_points)
    masks = np.ones((num_envs, count), bool)
    if not cfg.spawn.enabled or not count:
        return masks
    masks[:] = False
    for env in range(num_envs):
        masks[env, draw_spawn_active(cfg.spawn, count, variant_rng(seed, env)["spawn"])] = True
    return masks

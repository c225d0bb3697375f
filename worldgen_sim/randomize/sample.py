"""Sampling one variant of a world: a pure function of the world, the config and the seed.

Variant ``i`` of seed ``s`` draws from ``SeedSequence([s, i])``, one child
stream per kind of variation, so a variant never depends on which variants
were sampled before it, on how many workers sample them, or on the settings
of the other kinds of variation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from worldgen_sim.randomize.placement import ObjectPose, Placer
from worldgen_sim.randomize.randomize_cfg import MaterialRanges, RandomizeCfg
from worldgen_sim.randomize.world_info import WorldInfo

__all__ = [
    "Variant",
    "draw_appearance",
    "draw_distractor_spot",
    "draw_lighting",
    "draw_moves",
    "draw_object_pose",
    "draw_spawn_active",
    "movable_objects",
    "sample_variant",
    "variant_rng",
]

_STREAMS = ("physics", "density", "lighting", "appearance", "objects", "distractors", "spawn")


@dataclass(eq=False)
class Variant:
    """The sampled values of one variant; JSON-serialisable through :meth:`to_dict`.

    Attributes:
        index: the variant's number.
        seed: the run's seed.
        materials: class -> {static_friction, dynamic_friction, restitution}.
        densities: rigid object name -> density [kg/m^3].
        lighting: dome_intensity, sun_intensity [nits], color_temperature [K],
            sun_elevation, sun_azimuth [deg].
        appearance: tint (3 multipliers), roughness.
        moves: per moved object: name, centre (3,) [m], yaw [deg] (relative to the base pose).
        distractors: per distractor: name, shape, size [m], centre (3,) [m], density [kg/m^3], color (3,).
        spawn_active: indices of the base world's spawn points that are active.
        rejected: candidate poses and spots rejected for overlap or lost support.
    """

    index: int
    seed: int
    materials: dict[str, dict[str, float]] = field(default_factory=dict)
    densities: dict[str, float] = field(default_factory=dict)
    lighting: dict[str, float] = field(default_factory=dict)
    appearance: dict = field(default_factory=dict)
    moves: list[dict] = field(default_factory=list)
    distractors: list[dict] = field(default_factory=list)
    spawn_active: list[int] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """File stem of the variant's layer, e.g. ``variant_0007``."""
        return f"variant_{self.index:04d}"

    def to_dict(self) -> dict:
        return asdict(self)


def variant_rng(seed: int, index: int) -> dict[str, np.random.Generator]:
    """One independent generator per kind of variation for variant ``index`` of ``seed``."""
    children = np.random.SeedSequence([int(seed), int(index)]).spawn(len(_STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(_STREAMS, children)}


def sample_variant(world: WorldInfo, cfg: RandomizeCfg, *, seed: int, index: int) -> Variant:
    """Sample variant ``index`` of ``world`` (pure: same arguments, same variant).

    Args:
        world: the base world (:func:`~worldgen_sim.randomize.world_info.load_world_info`).
        cfg: what varies and how much (validated).
        seed: the run's seed.
        index: the variant's number (>= 0).
    """
    rng = variant_rng(seed, index)
    variant = Variant(index=index, seed=int(seed))
    if cfg.physics.enabled:
        variant.materials = _materials(world, cfg, rng["physics"])
        variant.densities = {
            obj.name: _round(obj.density * rng["density"].uniform(*cfg.physics.density_scale))
            for obj in world.objects if obj.rigid
        }
    if cfg.lighting.enabled:
        variant.lighting = draw_lighting(cfg.lighting, rng["lighting"])
    if cfg.appearance.enabled and world.has_visual:
        variant.appearance = draw_appearance(cfg.appearance, rng["appearance"])
    placer = Placer(world, tolerance=cfg.objects.penetration_tolerance)
    if cfg.objects.enabled and cfg.objects.moves:
        variant.moves, variant.rejected["object_poses"] = draw_moves(world, cfg, placer, rng["objects"])
    if cfg.distractors.enabled:
        variant.distractors, variant.rejected["distractor_spots"] = _distractors(world, cfg, placer,
                                                                                 rng["distractors"])
    if cfg.spawn.enabled and len(world.spawn_points):
        variant.spawn_active = draw_spawn_active(cfg.spawn, len(world.spawn_points), rng["spawn"])
    else:
        variant.spawn_active = list(range(len(world.spawn_points)))
    return variant


def _materials(world: WorldInfo, cfg: RandomizeCfg, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    out = {}
    for cls in sorted(world.materials):
        base = world.materials[cls]
        ranges = _ranges_for(cfg, cls)
        values = {}
        for key in ("static_friction", "dynamic_friction", "restitution"):
            span = getattr(ranges, key)
            # Draw even when the range is None, so a class's draws don't shift when another key is fixed.
            draw = rng.uniform(*(span or (0.0, 1.0)))
            values[key] = _round(draw if span is not None else base[key])
        values["dynamic_friction"] = min(values["dynamic_friction"], values["static_friction"])
        out[cls] = values
    return out


def _ranges_for(cfg: RandomizeCfg, cls: str) -> MaterialRanges:
    return cfg.physics.classes.get(cls, cfg.physics.default)


def draw_moves(world: WorldInfo, cfg: RandomizeCfg, placer: Placer,
               rng: np.random.Generator) -> tuple[list[dict], int]:
    """A variant's object moves (``objects.moves`` of the movable objects, each collision-checked against
    the world and the moves before it, claimed in ``placer``) and the number of rejected tries."""
    objects_cfg = cfg.objects
    movable = movable_objects(world, cfg, placer)
    count = min(objects_cfg.moves, len(movable))
    chosen = sorted(rng.choice(len(movable), size=count, replace=False).tolist()) if count else []
    moves, rejected = [], 0
    for index in chosen:
        obj = movable[index]
        pose, tries = draw_object_pose(obj, objects_cfg, placer, rng)
        rejected += tries - (pose is not None)
        if pose is not None:
            moves.append({"name": obj.name, "centre": [_round(c, 5) for c in pose.centre],
                          "yaw": _round(np.degrees(pose.yaw))})
    return moves, rejected


def draw_lighting(light, rng: np.random.Generator) -> dict[str, float]:
    """Dome and sun intensity [nits], colour temperature [K], sun elevation and azimuth [deg].

    ``light`` is a :class:`LightingRandomCfg` (or anything with its range attributes).

    Offline variants and the Isaac Lab light event draw through this one function.
    """
    return {key: _round(rng.uniform(*getattr(light, key))) for key in
            ("dome_intensity", "sun_intensity", "color_temperature", "sun_elevation", "sun_azimuth")}


def draw_spawn_active(spawn, count: int, rng: np.random.Generator) -> list[int]:
    """Sorted indices of the active spawn points among ``count`` (:class:`SpawnRandomCfg`; at least one)."""
    keep = max(1, int(round(rng.uniform(*spawn.active_fraction) * count)))
    return sorted(int(i) for i in rng.choice(count, size=keep, replace=False))


def draw_appearance(appearance, rng: np.random.Generator) -> dict:
    """Per-channel tint (3 multipliers) and roughness of the visual meshes (:class:`AppearanceRandomCfg`)."""
    low, high = appearance.tint
    tint = rng.uniform(low, high, size=3)
    return {"tint": [_round(t) for t in tint], "roughness": _round(rng.uniform(*appearance.roughness))}


def draw_object_pose(obj, objects_cfg, placer: Placer, rng: np.random.Generator) -> tuple[ObjectPose | None, int]:
    """A collision-checked pose of ``obj`` (yaw and shift on its support), claimed in ``placer``; and the tries.

    Later attempts shrink towards the base pose, so an object in a corner still gets a small move.
    Returns (None, attempts) when no attempt passes.
    """
    for attempt in range(objects_cfg.attempts):
        reach = 1.0 - attempt / objects_cfg.attempts
        yaw = np.radians(rng.uniform(-objects_cfg.max_yaw, objects_cfg.max_yaw) * reach)
        radius = objects_cfg.max_shift * reach * np.sqrt(rng.random())
        heading = rng.uniform(0.0, 2.0 * np.pi)
        centre = obj.centre + radius * np.array([np.cos(heading), np.sin(heading), 0.0])
        pose = ObjectPose(centre, float(yaw))
        if placer.try_move(obj, pose):
            return pose, attempt + 1
    return None, objects_cfg.attempts


def movable_objects(world: WorldInfo, cfg: RandomizeCfg, placer: Placer | None = None) -> list:
    """Objects of the moving classes whose base collider overlaps nothing by more than the tolerance."""
    placer = placer or Placer(world, tolerance=cfg.objects.penetration_tolerance)
    return [obj for obj in world.objects if obj.semantic_class in cfg.objects.classes and placer.movable(obj)]


def _distractors(world, cfg, placer: Placer, rng: np.random.Generator) -> tuple[list[dict], int]:
    dist = cfg.distractors
    wanted = int(rng.integers(dist.count[0], dist.count[1] + 1))
    spots = world.walkable_points
    out: list[dict] = []
    rejected = 0
    if not len(spots):
        return out, rejected
    for number in range(wanted):
        shape = str(dist.shapes[int(rng.integers(len(dist.shapes)))])
        size = float(rng.uniform(*dist.size))
        density = float(rng.uniform(*dist.density))
        color = rng.uniform(0.1, 0.9, size=3)
        centre, tries = draw_distractor_spot(world, dist, placer, size, rng)
        rejected += tries - (centre is not None)
        if centre is not None:
            out.append({"name": f"distractor_{number:03d}", "shape": shape, "size": _round(size, 4),
                        "centre": [_round(c, 5) for c in centre], "density": _round(density),
                        "color": [_round(c) for c in color]})
    return out, rejected


def draw_distractor_spot(world: WorldInfo, dist, placer: Placer, size: float,
                         rng: np.random.Generator) -> tuple[np.ndarray | None, int]:
    """A free spot (3,) [m] to drop a distractor of ``size`` from, over walkable ground, claimed in ``placer``.

    Clear of the spawn points by ``dist.spawn_clearance``, of the colliders and of the distractors
    placed before; (None, 32) when 32 tries find none.
    """
    spots = world.walkable_points
    for attempt in range(32):
        spot = spots[int(rng.integers(len(spots)))]
        centre = spot + np.array([0.0, 0.0, dist.drop_height + 0.5 * size])
        near_spawn = len(world.spawn_points) and (
            np.linalg.norm(world.spawn_points[:, :2] - centre[:2], axis=1).min() < dist.spawn_clearance)
        if not near_spawn and placer.try_drop(centre, 0.5 * size, float(spot[2])):
            return centre, attempt + 1
    return None, 32


def _round(value: float, digits: int = 4) -> float:
    return round(float(value), digits)

"""Configuration of ``worldgen randomize``: what varies between variants of a world, and how much.

A YAML file mirrors :class:`RandomizeCfg`: one section per kind of variation.
Every range is ``[low, high]`` with ``low <= high``; a range with equal ends
fixes the value. Example::

    physics:
      default: {static_friction: [0.5, 1.1], dynamic_friction: [0.4, 1.0], restitution: [0.0, 0.25]}
      classes:
        floor: {static_friction: [0.7, 1.0]}     # the rest of floor's ranges come from default
      density_scale: [0.5, 2.0]
    objects: {moves: 2, max_yaw: 30, max_shift: 0.15}
    distractors: {count: [0, 4], shapes: [box, sphere]}
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from worldgen_sim.errors import WorldgenError
from worldgen_sim.validation import dataclass_from_dict

__all__ = [
    "AppearanceRandomCfg",
    "DistractorRandomCfg",
    "LightingRandomCfg",
    "MaterialRanges",
    "ObjectPoseRandomCfg",
    "PhysicsRandomCfg",
    "RandomizeCfg",
    "SpawnRandomCfg",
    "load_randomize_config",
]

Range = tuple[float, float]
IntRange = tuple[int, int]
DISTRACTOR_SHAPES = ("box", "sphere", "cylinder")


@dataclass
class MaterialRanges:
    """Ranges of one physics material's coefficients; None keeps the base world's value.

    Attributes:
        static_friction: static friction coefficient range (dimensionless, >= 0).
        dynamic_friction: dynamic friction coefficient range (>= 0); a sample above the
            variant's static friction is lowered to it (PhysX expects dynamic <= static).
        restitution: restitution range, within [0, 1].
    """

    static_friction: Range | None = (0.5, 1.1)
    dynamic_friction: Range | None = (0.4, 1.0)
    restitution: Range | None = (0.0, 0.25)


@dataclass
class PhysicsRandomCfg:
    """Physics materials and masses.

    Attributes:
        enabled: vary physics materials and densities.
        default: ranges for every material class not listed in ``classes``.
        classes: per-class ranges (``floor``, ``wall``, ``furniture``, ...); in YAML, ranges left
            out of a class entry come from ``default``.
        density_scale: multiplier range of each dynamic object's density (its mass).
    """

    enabled: bool = True
    default: MaterialRanges = field(default_factory=MaterialRanges)
    classes: dict[str, MaterialRanges] = field(default_factory=dict)
    density_scale: Range = (0.5, 2.0)


@dataclass
class LightingRandomCfg:
    """The light rig: a dome light (sky) and a distant light (sun).

    Attributes:
        enabled: vary the lights (the variant defines the rig when the base world has none).
        dome_intensity: dome light intensity range [nits].
        sun_intensity: distant light intensity range [nits].
        color_temperature: colour temperature range of both lights [K].
        sun_elevation: sun elevation above the horizon [deg], in [0, 90].
        sun_azimuth: sun azimuth from +X towards +Y [deg].
    """

    enabled: bool = True
    dome_intensity: Range = (300.0, 1500.0)
    sun_intensity: Range = (1000.0, 4000.0)
    color_temperature: Range = (3500.0, 7500.0)
    sun_elevation: Range = (25.0, 80.0)
    sun_azimuth: Range = (0.0, 360.0)


@dataclass
class AppearanceRandomCfg:
    """The visual mesh's look.

    Attributes:
        enabled: vary the appearance.
        tint: per-channel albedo multiplier range (1 = unchanged).
        roughness: preview-surface roughness range, within [0, 1].
    """

    enabled: bool = True
    tint: Range = (0.85, 1.15)
    roughness: Range = (0.4, 0.9)


@dataclass
class ObjectPoseRandomCfg:
    """Poses of objects: a yaw about their centre and a small shift on their support.

    Attributes:
        enabled: move objects.
        moves: objects moved per variant (at most the number of movable objects).
        max_yaw: largest yaw change, either way [deg].
        max_shift: largest horizontal shift [m].
        classes: semantic classes that may move.
        attempts: tries per object before it stays where it is (a pose that would
            interpenetrate a collider or lose its support is rejected).
        penetration_tolerance: deepest allowed overlap with another collider [m].
    """

    enabled: bool = True
    moves: int = 2
    max_yaw: float = 30.0
    max_shift: float = 0.15
    classes: list[str] = field(default_factory=lambda: ["object", "furniture"])
    attempts: int = 24
    penetration_tolerance: float = 0.005


@dataclass
class DistractorRandomCfg:
    """Primitive rigid bodies dropped on walkable ground.

    Attributes:
        enabled: add distractors.
        count: number of distractors range (integers).
        size: edge length / diameter range [m].
        shapes: shapes to choose from: box, sphere, cylinder.
        density: density range [kg/m^3].
        drop_height: gap between a distractor's bottom and the ground when placed [m].
        spawn_clearance: least horizontal distance from any spawn point [m].
    """

    enabled: bool = True
    count: IntRange = (0, 4)
    size: Range = (0.05, 0.25)
    shapes: list[str] = field(default_factory=lambda: list(DISTRACTOR_SHAPES))
    density: Range = (200.0, 800.0)
    drop_height: float = 0.02
    spawn_clearance: float = 0.5


@dataclass
class SpawnRandomCfg:
    """Which of the world's spawn points are active.

    Attributes:
        enabled: choose a subset per variant.
        active_fraction: fraction of spawn points kept active (at least one is).
    """

    enabled: bool = True
    active_fraction: Range = (0.5, 1.0)


@dataclass
class RandomizeCfg:
    """Everything ``worldgen randomize`` varies.

    Attributes:
        physics: friction, restitution and density.
        lighting: dome and sun lights.
        appearance: albedo tint and roughness of the visual mesh.
        objects: object poses.
        distractors: primitives dropped on walkable ground.
        spawn: active spawn points.
    """

    physics: PhysicsRandomCfg = field(default_factory=PhysicsRandomCfg)
    lighting: LightingRandomCfg = field(default_factory=LightingRandomCfg)
    appearance: AppearanceRandomCfg = field(default_factory=AppearanceRandomCfg)
    objects: ObjectPoseRandomCfg = field(default_factory=ObjectPoseRandomCfg)
    distractors: DistractorRandomCfg = field(default_factory=DistractorRandomCfg)
    spawn: SpawnRandomCfg = field(default_factory=SpawnRandomCfg)

    def validate(self, *, source: str = "randomize config") -> None:
        """Check every range and rule; raise naming the dotted key.

        Raises:
            WorldgenError: an inverted range, a negative friction, a restitution outside
                [0, 1], an unknown shape, ...
        """
        checks = _Checks(source)
        ranges = {"physics.default": self.physics.default}
        ranges.update({f"physics.classes.{name}": value for name, value in self.physics.classes.items()})
        for prefix, material in ranges.items():
            checks.range(f"{prefix}.static_friction", material.static_friction, low=0.0)
            checks.range(f"{prefix}.dynamic_friction", material.dynamic_friction, low=0.0)
            checks.range(f"{prefix}.restitution", material.restitution, low=0.0, high=1.0)
        checks.range("physics.density_scale", self.physics.density_scale, low=0.0, open_low=True)
        light = self.lighting
        checks.range("lighting.dome_intensity", light.dome_intensity, low=0.0)
        checks.range("lighting.sun_intensity", light.sun_intensity, low=0.0)
        checks.range("lighting.color_temperature", light.color_temperature, low=1000.0, high=40000.0)
        checks.range("lighting.sun_elevation", light.sun_elevation, low=0.0, high=90.0)
        checks.range("lighting.sun_azimuth", light.sun_azimuth, low=-360.0, high=720.0)
        checks.range("appearance.tint", self.appearance.tint, low=0.0, high=4.0)
        checks.range("appearance.roughness", self.appearance.roughness, low=0.0, high=1.0)
        objects = self.objects
        checks.require("objects.moves", objects.moves >= 0, ">= 0", objects.moves)
        checks.require("objects.max_yaw", 0.0 <= objects.max_yaw <= 180.0, "in [0, 180] [deg]", objects.max_yaw)
        checks.require("objects.max_shift", 0.0 <= objects.max_shift <= 5.0, "in [0, 5] [m]", objects.max_shift)
        checks.require("objects.attempts", objects.attempts >= 1, ">= 1", objects.attempts)
        checks.require("objects.penetration_tolerance", 0.0 <= objects.penetration_tolerance <= 0.05,
                       "in [0, 0.05] [m]", objects.penetration_tolerance)
        dist = self.distractors
        checks.range("distractors.count", dist.count, low=0, high=256)
        checks.range("distractors.size", dist.size, low=0.0, high=2.0, open_low=True)
        checks.range("distractors.density", dist.density, low=0.0, open_low=True)
        checks.require("distractors.drop_height", 0.0 <= dist.drop_height <= 1.0, "in [0, 1] [m]", dist.drop_height)
        checks.require("distractors.spawn_clearance", dist.spawn_clearance >= 0.0, ">= 0 [m]", dist.spawn_clearance)
        unknown = sorted(set(dist.shapes) - set(DISTRACTOR_SHAPES))
        checks.require("distractors.shapes", bool(dist.shapes) and not unknown,
                       f"a non-empty list of {', '.join(DISTRACTOR_SHAPES)}", dist.shapes)
        checks.range("spawn.active_fraction", self.spawn.active_fraction, low=0.0, high=1.0, open_low=True)


class _Checks:
    """Range and rule checks that raise one error naming the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def require(self, key: str, ok: bool, expected: str, value: Any) -> None:
        if not ok:
            raise WorldgenError(f"{self.source}: '{key}' must be {expected}, got {value!r}")

    def range(self, key: str, value, *, low: float, high: float = math.inf, open_low: bool = False) -> None:
        if value is None:
            return
        lo, hi = value
        if lo > hi:
            raise WorldgenError(f"{self.source}: '{key}' is an inverted range [{lo}, {hi}]; expected [low, high]")
        below = lo <= low if open_low else lo < low
        if below or hi > high or not (math.isfinite(lo) and math.isfinite(hi)):
            bounds = f"{'(' if open_low else '['}{low}, {high}]"
            raise WorldgenError(f"{self.source}: '{key}' must lie within {bounds}, got [{lo}, {hi}]")


def load_randomize_config(path: str | Path | None = None, *, data: dict | None = None) -> RandomizeCfg:
    """Read a randomisation config from YAML (or a mapping), check it, and return it.

    Args:
        path: the YAML file; None for the defaults (or ``data``).
        data: an already-parsed mapping, used when ``path`` is None.

    Raises:
        WorldgenError: unreadable file, unknown key, wrong type or a value out of range,
            naming the file and the dotted key.
    """
    from worldgen_sim.yaml_files import read_yaml_mapping

    source = str(path) if path is not None else "randomize config"
    if path is not None:
        data = read_yaml_mapping(path, what="randomize config")
    data = data or {}
    cfg = _from_dict(RandomizeCfg, data, source=source, prefix="")
    # A class entry names only the ranges it changes; the others come from physics.default.
    given = (data.get("physics") or {}).get("classes") or {}
    for name, ranges in cfg.physics.classes.items():
        for key in ("static_friction", "dynamic_friction", "restitution"):
            if key not in (given.get(name) or {}):
                setattr(ranges, key, getattr(cfg.physics.default, key))
    cfg.validate(source=source)
    return cfg


def _from_dict(cls: type, data: Any, *, source: str, prefix: str) -> Any:
    """The shared config reader, with this module's ranges, lists and per-class mappings (:func:`_value`)."""
    return dataclass_from_dict(cls, data, source=source, prefix=prefix, convert=partial(_value, source=source))


def _value(value: Any, hint: Any, *, source: str, key: str) -> Any:
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise WorldgenError(f"{source}: '{key}' must not be empty (null)")
    hint = next(o for o in options if o is not type(None))
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _from_dict(hint, value, source=source, prefix=f"{key}.")
    if origin is dict:
        if not isinstance(value, dict):
            raise WorldgenError(f"{source}: '{key}' must be a mapping of name to ranges")
        item = typing.get_args(hint)[1]
        return {str(k): _value(v, item, source=source, key=f"{key}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise WorldgenError(f"{source}: '{key}' must be a list of names, got {value!r}")
        return list(value)
    if origin is tuple:
        kind = typing.get_args(hint)[0]
        ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v, kind) for v in value)
        if not ok:
            what = "integers" if kind is int else "numbers"
            raise WorldgenError(f"{source}: '{key}' must be a range [low, high] of two {what}, got {value!r}")
        return (kind(value[0]), kind(value[1]))
    if hint is bool:
        if not isinstance(value, bool):
            raise WorldgenError(f"{source}: '{key}' must be true or false, got {value!r}")
        return value
    if hint in (int, float):
        if not _is_number(value, hint):
            raise WorldgenError(f"{source}: '{key}' must be {'an integer' if hint is int else 'a number'}, "
                                f"got {value!r}")
        return hint(value)
    raise TypeError(f"unsupported config annotation {hint!r} for {key}")  # a bug in this module


def _is_number(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if kind is int else isinstance(value, (int, float))


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union

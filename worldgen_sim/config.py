"""The composed configuration: one dataclass per stage, loadable from YAML.

A YAML file mirrors :class:`WorldgenCfg`: top-level keys are the stage names,
each holding that stage's fields. Unknown keys and wrongly typed values are
rejected with the file and the dotted key named, and every stage's
``validate()`` (ranges, units, closed choices, cross-field rules; see
:mod:`worldgen_sim.validation`) runs before a config is handed out, so a bad
value fails before any data is read. The effective configuration is written
next to every output by :func:`config_to_dict`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worldgen_sim.align.align_cfg import AlignCfg
from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.errors import WorldgenError
from worldgen_sim.exporters.usd_cfg import UsdCfg
from worldgen_sim.generate.generate_cfg import GenerateCfg
from worldgen_sim.io.input_cfg import InputCfg
from worldgen_sim.navigation.navigation_cfg import NavigationCfg
from worldgen_sim.runtime_cfg import RuntimeCfg
from worldgen_sim.surface.surface_cfg import SurfaceCfg
from worldgen_sim.validation import dataclass_from_dict
from worldgen_sim.verify.verify_cfg import VerifyCfg
from worldgen_sim.viewer.viewer_cfg import ViewerCfg
from worldgen_sim.yaml_files import read_yaml_mapping

__all__ = ["WorldgenCfg", "config_from_dict", "config_to_dict", "load_config"]


@dataclass
class WorldgenCfg:
    """Everything ``worldgen build`` and ``worldgen verify`` can be told.

    Attributes:
        input: input reading.
        align: gravity, floor, scale and clean-up.
        surface: visual mesh.
        collision: colliders and physics materials.
        navigation: walkable surface and spawn points.
        usd: world package writing.
        verify: validators and drop test.
        generate: one picture or RGB-D frame -> a scene (depth, intrinsics, completion, Lyra).
        viewer: the ``preview.png`` picture of the world (off by default).
        runtime: process-wide settings for the build (CPU threads).
    """

    input: InputCfg = field(default_factory=InputCfg)
    align: AlignCfg = field(default_factory=AlignCfg)
    surface: SurfaceCfg = field(default_factory=SurfaceCfg)
    collision: CollisionCfg = field(default_factory=CollisionCfg)
    navigation: NavigationCfg = field(default_factory=NavigationCfg)
    usd: UsdCfg = field(default_factory=UsdCfg)
    verify: VerifyCfg = field(default_factory=VerifyCfg)
    generate: GenerateCfg = field(default_factory=GenerateCfg)
    viewer: ViewerCfg = field(default_factory=ViewerCfg)
    runtime: RuntimeCfg = field(default_factory=RuntimeCfg)

    def validate(self) -> None:
        """Run every stage config's ``validate()``, disabled stages included (a bad value is a
        mistake whether or not this build uses it).

        Raises:
            WorldgenError: the first bad value, naming its dotted key.
        """
        hints = typing.get_type_hints(type(self))
        for item in dataclasses.fields(self):
            section = getattr(self, item.name)
            if not isinstance(section, hints[item.name]):
                raise WorldgenError(
                    f"config '{item.name}' must be a {hints[item.name].__name__}, got {type(section).__name__}"
                )
            section.validate()


def config_to_dict(cfg: Any) -> dict:
    """Plain nested dict of a config dataclass (YAML/JSON-serialisable)."""
    return dataclasses.asdict(cfg)


def config_from_dict(data: dict, *, source: str = "config") -> WorldgenCfg:
    """Build a :class:`WorldgenCfg` from nested dicts, validating keys and types.

    Args:
        data: mapping of stage name to a mapping of field values; missing
            stages and fields keep their defaults.
        source: name used in error messages (a file path).

    Raises:
        WorldgenError: an unknown key, a value of the wrong type or out of range,
            or conflicting values, naming ``source`` and the dotted key.
    """
    cfg = dataclass_from_dict(WorldgenCfg, data, source=source)
    try:
        cfg.validate()
    except WorldgenError as exc:
        raise WorldgenError(f"{source}: {exc}") from None
    return cfg


def load_config(path: str | Path | None = None, *, overrides: dict | None = None) -> WorldgenCfg:
    """Load a YAML config (or the defaults) and apply dotted-key overrides.

    Args:
        path: YAML file, or None for the defaults.
        overrides: ``{"align.scale": 2.0, ...}`` applied after the file
            (the CLI's options land here).

    Raises:
        WorldgenError: unreadable or malformed file, unknown key, wrong type,
            a value out of range or conflicting values.
    """
    data: dict = {}
    source = "config"
    if path is not None:
        source = str(path)
        data = read_yaml_mapping(path, what="config file")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config_from_dict(data, source=source)

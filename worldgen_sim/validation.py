"""One style for checking configuration values: types, closed choices, ranges and units.

Every stage config has a ``validate()`` that builds a :class:`Checker` (which
checks every field against its annotation: bool, int, float, str, ``Literal``
choices, ``Optional``) and then states its ranges and cross-field rules with
:meth:`Checker.range` and :meth:`Checker.require`. The loader
(:func:`worldgen_sim.config.config_from_dict`) and :func:`worldgen_sim.pipeline.build_world`
call it before any data is read, so a bad value fails in milliseconds with one
line naming the dotted key, what was expected (with its unit) and the value.
:func:`dataclass_from_dict` is the one reader of a (YAML) mapping into a config
dataclass, for ``worldgen build``'s config and ``worldgen randomize``'s alike.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

from worldgen_sim.errors import WorldgenError

__all__ = ["Checker", "check_value", "choices_of", "dataclass_from_dict"]


def choices_of(hint: Any) -> tuple[Any, ...] | None:
    """The allowed values of a ``Literal[...]`` annotation (also inside ``Optional``), else None."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    for option in _options(hint):
        if typing.get_origin(option) is Literal:
            return typing.get_args(option)
    return None


def check_value(value: Any, hint: Any, *, key: str) -> Any:
    """``value`` checked against a simple annotation and coerced (an int where a float is wanted).

    Supports bool, int, float, str, ``Literal[...]`` and unions of them with None.

    Raises:
        WorldgenError: ``key`` and what was expected, with the value.
    """
    options = _options(hint)
    if value is None:
        if type(None) in options:
            return None
        raise WorldgenError(f"{key}: must not be empty (null)")
    for option in options:
        if typing.get_origin(option) is Literal:
            if value in typing.get_args(option) and not isinstance(value, bool):
                return value
            continue
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
    raise WorldgenError(f"{key}: expected {_describe(options)}, got {value!r}")


def dataclass_from_dict(
    cls: type, data: Any, *, source: str, prefix: str = "", convert: Callable[..., Any] | None = None
) -> Any:
    """An instance of the config dataclass ``cls`` from a parsed (YAML) mapping.

    Unknown keys and a non-mapping are refused; a field whose annotation is a dataclass is
    read recursively; any other field goes through ``convert(value, hint, key=dotted_key)``,
    or :func:`check_value` when None. Missing keys keep the dataclass defaults.

    Args:
        cls: the dataclass.
        data: its mapping.
        source: named first in every message (the file, or ``"config"``).
        prefix: dotted key of ``data`` followed by a dot (``"physics."``); empty at the top level.
        convert: the reader of non-dataclass fields, for annotations :func:`check_value` does not
            cover (ranges as tuples, lists, mappings); it raises a complete message itself.

    Raises:
        WorldgenError: ``source``, the dotted key and what was expected.
    """
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "top level"
        raise WorldgenError(f"{source}: '{where}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = sorted(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise WorldgenError(f"{source}: unknown key '{prefix}{unknown[0]}'; expected one of: {', '.join(names)}")
    values = {}
    for name, value in data.items():
        hint, key = hints[name], f"{prefix}{name}"
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[name] = dataclass_from_dict(hint, value, source=source, prefix=f"{key}.", convert=convert)
        elif convert is not None:
            values[name] = convert(value, hint, key=key)
        else:
            try:
                values[name] = check_value(value, hint, key=key)
            except WorldgenError as exc:
                raise WorldgenError(f"{source}: {exc}") from None
    return cls(**values)


class Checker:
    """Checks one stage config; every message starts with the dotted key.

    Construction checks each field against its annotation (types and ``Literal``
    choices) and that floats are finite; the config's ``validate()`` then adds
    ranges and cross-field rules.

    Args:
        cfg: the stage config dataclass.
        section: its key in :class:`worldgen_sim.config.WorldgenCfg` (``"surface"``).
    """

    def __init__(self, cfg: Any, section: str) -> None:
        self.cfg = cfg
        self.section = section
        hints = typing.get_type_hints(type(cfg))
        for item in dataclasses.fields(cfg):
            value = check_value(getattr(cfg, item.name), hints[item.name], key=self.key(item.name))
            if isinstance(value, float) and not math.isfinite(value):
                raise WorldgenError(f"{self.key(item.name)}: expected a finite number, got {value!r}")
            setattr(cfg, item.name, value)

    def key(self, name: str) -> str:
        """The dotted key of a field (``surface.voxel_size``)."""
        return f"{self.section}.{name}"

    def fail(self, name: str, expected: str) -> WorldgenError:
        """The error for field ``name``: ``section.name: expected <expected>, got <value>``."""
        return WorldgenError(f"{self.key(name)}: expected {expected}, got {getattr(self.cfg, name)!r}")

    def require(self, ok: bool, name: str, expected: str) -> None:
        """Raise :meth:`fail` unless ``ok``."""
        if not ok:
            raise self.fail(name, expected)

    def range(
        self,
        name: str,
        *,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        unit: str = "",
    ) -> None:
        """Check that a numeric field (skipped when None) lies in the given bounds.

        Args:
            name: the field.
            gt, ge, lt, le: exclusive / inclusive lower and upper bounds.
            unit: shown after the bounds (``"m"``, ``"deg"``, ``"px"``).
        """
        value = getattr(self.cfg, name)
        if value is None:
            return
        parts, ok = [], True
        if gt is not None:
            parts.append(f"> {gt:g}")
            ok &= value > gt
        if ge is not None:
            parts.append(f">= {ge:g}")
            ok &= value >= ge
        if lt is not None:
            parts.append(f"< {lt:g}")
            ok &= value < lt
        if le is not None:
            parts.append(f"<= {le:g}")
            ok &= value <= le
        expected = " and ".join(parts) + (f" [{unit}]" if unit else "")
        self.require(bool(ok), name, expected)


def _options(hint: Any) -> tuple[Any, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def _describe(options: tuple[Any, ...]) -> str:
    words = []
    for option in options:
        if option is type(None):
            words.append("null")
        elif typing.get_origin(option) is Literal:
            words.append("one of " + ", ".join(repr(v) for v in typing.get_args(option)))
        else:
            words.append(getattr(option, "__name__", str(option)))
    return " or ".join(words)

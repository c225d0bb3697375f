"""Physics material library: packaged defaults per semantic class, overridable from YAML.

Layout (see ``materials.yaml`` next to this module)::

    materials:
      floor: {static_friction: 0.8, dynamic_friction: 0.7, restitution: 0.05, density: 2000}
      ...
    replace_defaults: false   # optional; true = this file is the whole library

Every value is checked (friction >= 0, restitution in [0, 1], density > 0) and
the required classes must be present; errors name the file and the key.
"""

from __future__ import annotations

import math
from pathlib import Path

from worldgen_sim.artifacts import PhysicsMaterial
from worldgen_sim.errors import WorldgenError
from worldgen_sim.yaml_files import read_yaml_mapping

REQUIRED_CLASSES = ("floor", "wall", "ceiling", "furniture", "object")
FIELDS = ("static_friction", "dynamic_friction", "restitution", "density")
DEFAULTS_PATH = Path(__file__).with_name("materials.yaml")


def load_material_library(path: str | Path | None = None) -> dict[str, PhysicsMaterial]:
    """The default library, updated from ``path`` when given.

    Args:
        path: a user YAML library, or None for the packaged defaults.

    Returns:
        Materials by semantic class (the material's ``name`` is the class).

    Raises:
        WorldgenError: unreadable or malformed file, unknown field, a value out of
            range, a new class missing a field, or a required class missing.
    """
    defaults = _read_entries(DEFAULTS_PATH)
    entries: dict[str, dict] = {name: dict(values) for name, values in defaults[0].items()}
    source = str(DEFAULTS_PATH)
    if path is not None:
        user, replace = _read_entries(Path(path))
        source = str(path)
        if replace:
            entries = {}
        for name, values in user.items():
            if name in entries:
                entries[name].update(values)
            else:
                missing = [f for f in FIELDS if f not in values]
                if missing:
                    raise WorldgenError(
                        f"{path}: material 'materials.{name}' is a new class and must set all of "
                        f"{', '.join(FIELDS)}; missing: {', '.join(missing)}"
                    )
                entries[name] = dict(values)
    missing = [c for c in REQUIRED_CLASSES if c not in entries]
    if missing:
        raise WorldgenError(
            f"{source}: material library lacks required class(es) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_CLASSES)})"
        )
    return {name: PhysicsMaterial(name=name, **{f: float(values[f]) for f in FIELDS})
            for name, values in entries.items()}


def _read_entries(path: Path) -> tuple[dict[str, dict], bool]:
    """Validated ``{class: {field: value}}`` (fields may be partial) and the replace flag."""
    data = read_yaml_mapping(path, what="material library")
    unknown = sorted(set(data) - {"materials", "replace_defaults"})
    if unknown:
        raise WorldgenError(
            f"{path}: unknown key '{unknown[0]}'; expected 'materials' and optionally 'replace_defaults'"
        )
    replace = data.get("replace_defaults", False)
    if not isinstance(replace, bool):
        raise WorldgenError(f"{path}: 'replace_defaults' must be true or false, got {replace!r}")
    materials = data.get("materials")
    if not isinstance(materials, dict):
        raise WorldgenError(f"{path}: 'materials' must be a mapping of class name to fields")
    out = {}
    for name, values in materials.items():
        key = f"materials.{name}"
        if not isinstance(name, str) or not name.replace("_", "").isalnum() or name[0].isdigit():
            raise WorldgenError(f"{path}: '{key}': class names must be identifiers (letters, digits, _)")
        if not isinstance(values, dict):
            raise WorldgenError(f"{path}: '{key}' must be a mapping of {', '.join(FIELDS)}")
        bad = sorted(set(values) - set(FIELDS))
        if bad:
            raise WorldgenError(f"{path}: unknown field '{key}.{bad[0]}'; expected {', '.join(FIELDS)}")
        for field, value in values.items():
            _check(path, f"{key}.{field}", field, value)
        out[name] = {f: float(v) for f, v in values.items()}
    return out, replace


def _check(path: Path, key: str, field: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WorldgenError(f"{path}: '{key}' must be a finite number, got {value!r}")
    if field in ("static_friction", "dynamic_friction") and value < 0:
        raise WorldgenError(f"{path}: '{key}' must be >= 0 (a friction coefficient), got {value}")
    if field == "restitution" and not 0.0 <= value <= 1.0:
        raise WorldgenError(f"{path}: '{key}' must be in [0, 1], got {value}")
    if field == "density" and value <= 0:
        raise WorldgenError(f"{path}: '{key}' must be > 0 [kg/m^3], got {value}")

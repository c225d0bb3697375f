"""Reading the project's YAML files (configs, material libraries) with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worldgen_sim.errors import WorldgenError


def read_yaml_mapping(path: str | Path, *, what: str) -> dict[str, Any]:
    """Parse a YAML file whose top level must be a mapping (an empty file is an empty mapping).

    Args:
        path: the file.
        what: what the file is, for messages (``"config file"``, ``"material library"``).

    Raises:
        WorldgenError: unreadable file, invalid YAML, or a top level that is not a mapping.
    """
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WorldgenError(f"{path}: cannot read {what} ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise WorldgenError(
            f"{path}: {what} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorldgenError(f"{path}: {what} is not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise WorldgenError(f"{path}: {what} must be a mapping at the top level, got {type(data).__name__}")
    return data

"""Batch manifests: inputs x option sets x variant counts, expanded into named items.

A manifest (YAML)::

    config: base.yaml            # optional: the config every item starts from (relative to the manifest)
    inputs:                      # files, folders (RGB-D) or globs, relative to the manifest
      - scenes/*.ply
      - {path: captures/office, name: office, variants: 50}
    options:                     # named option sets: dotted config keys (as --config/overrides)
      default: {}
      quadruped: {navigation.preset: quadruped}
    variants: 10                 # randomised variants per item (0: none); an input may override it
    seed: 0                      # seed of the variants
    verify: true                 # run 'worldgen verify' on each world
    randomize_config: rand.yaml  # optional randomisation config

Each input x option set becomes one item, ``OUTROOT/<input name>[__<option set>]``
(the suffix only when there are several option sets).
"""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from worldgen_sim.errors import WorldgenError

__all__ = ["BatchItem", "Manifest", "read_manifest"]

_KEYS = {"config", "inputs", "options", "variants", "seed", "verify", "randomize_config"}


@dataclass(eq=False)
class BatchItem:
    """One world to build.

    Attributes:
        name: folder name under OUTROOT.
        input: the input file or folder.
        options: dotted config overrides of its option set.
        option_set: the option set's name.
        variants: randomised variants to write (0: none).
        seed: the variants' seed.
        verify: run the validators and the drop test.
        config: the base config file, or None.
        randomize_config: the randomisation config file, or None.
        gpus: GPUs the item asks the scheduler for (model depth, Lyra).
    """

    name: str
    input: Path
    options: dict[str, Any]
    option_set: str
    variants: int
    seed: int
    verify: bool
    config: Path | None = None
    randomize_config: Path | None = None
    gpus: float = 0.0

    def key(self, code_version: str) -> str:
        """Hash of everything the item's result depends on: inputs, options, config files, code."""
        digest = hashlib.sha256()
        for path in (self.input, self.config, self.randomize_config):
            if path is not None:
                digest.update(_content_digest(path).encode())
        record = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items() if k != "name"}
        digest.update(json.dumps(record, sort_keys=True, default=str).encode())
        digest.update(code_version.encode())
        return digest.hexdigest()[:24]


@dataclass(eq=False)
class Manifest:
    """A parsed manifest: its path and expanded items (in a stable order)."""

    path: Path
    items: list[BatchItem] = field(default_factory=list)


def read_manifest(path: str | Path) -> Manifest:
    """Parse and expand a manifest.

    Raises:
        WorldgenError: unreadable YAML, unknown keys, wrong types, a glob matching nothing,
            an input that does not exist, or two items with one name (naming the manifest key).
    """
    from worldgen_sim.yaml_files import read_yaml_mapping

    path = Path(path)
    data = read_yaml_mapping(path, what="batch manifest")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise WorldgenError(f"{path}: unknown manifest key '{unknown[0]}'; expected one of: {', '.join(sorted(_KEYS))}")
    base = path.parent
    variants = _int(data.get("variants", 0), path, "variants")
    seed = _int(data.get("seed", 0), path, "seed")
    verify = _bool(data.get("verify", True), path, "verify")
    config = _file(base, data.get("config"), path, "config")
    randomize_config = _file(base, data.get("randomize_config"), path, "randomize_config")
    options = data.get("options") or {"default": {}}
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise WorldgenError(f"{path}: 'options' must map option-set names to mappings of config keys")
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise WorldgenError(f"{path}: 'inputs' must be a non-empty list of files, folders or globs")
    items: list[BatchItem] = []
    for position, entry in enumerate(inputs):
        for source, name, count in _expand_input(entry, base, path, position, variants):
            for option_name, overrides in options.items():
                suffix = f"__{option_name}" if len(options) > 1 else ""
                items.append(BatchItem(
                    name=f"{name}{suffix}", input=source, options=dict(overrides), option_set=str(option_name),
                    variants=count, seed=seed, verify=verify, config=config, randomize_config=randomize_config,
                ))
    names = [item.name for item in items]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise WorldgenError(f"{path}: two items are named '{duplicate}'; give inputs distinct 'name's")
    return Manifest(path=path, items=items)


def _expand_input(entry, base: Path, manifest: Path, position: int, variants: int):
    key = f"inputs[{position}]"
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict) or "path" not in entry:
        raise WorldgenError(f"{manifest}: '{key}' must be a path or a mapping with 'path'")
    extra = sorted(set(entry) - {"path", "name", "variants"})
    if extra:
        raise WorldgenError(f"{manifest}: unknown key '{key}.{extra[0]}'; expected path, name, variants")
    pattern = str(base / entry["path"])
    matches = sorted(Path(p) for p in glob.glob(pattern)) if glob.has_magic(pattern) else [Path(pattern)]
    if not matches:
        raise WorldgenError(f"{manifest}: '{key}' ({entry['path']}) matches no file")
    count = _int(entry.get("variants", variants), manifest, f"{key}.variants")
    for source in matches:
        # A missing input is not a manifest error: it fails its own item and the others go on.
        name = entry.get("name") if len(matches) == 1 and entry.get("name") else source.stem
        yield source, str(name), count


def _content_digest(path: Path) -> str:
    path = Path(path)
    if path.is_file():
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        listing = "".join(f"{p.relative_to(path)}:{_content_digest(p)};" for p in files)
        return hashlib.sha256(listing.encode()).hexdigest()
    return "missing"


def _int(value, manifest: Path, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorldgenError(f"{manifest}: '{key}' must be an integer >= 0, got {value!r}")
    return value


def _bool(value, manifest: Path, key: str) -> bool:
    if not isinstance(value, bool):
        raise WorldgenError(f"{manifest}: '{key}' must be true or false, got {value!r}")
    return value


def _file(base: Path, value, manifest: Path, key: str) -> Path | None:
    if value is None:
        return None
    path = base / str(value)
    if not path.is_file():
        raise WorldgenError(f"{manifest}: '{key}' names {path}, which is not a file")
    return path

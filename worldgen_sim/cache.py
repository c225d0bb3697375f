"""The one on-disk cache every stage uses (segmentation and decomposition today).

Opt-in: nothing is cached unless the stage's config names a folder
(``collision.cache_dir``, ``worldgen build --cache-dir``). One key rule: the
sha256 of the inputs (array dtype, shape and bytes), the settings (as sorted
JSON), the versions of the libraries whose output is stored, the entry format
and worldgen_sim's own version, so a code change never serves stale results.
Entries are ``.npz`` files written through a temporary file and renamed, so a
reader never sees half an entry; an entry that cannot be read (truncated,
corrupt, unreadable) is ignored, logged and rewritten, and a cache folder that
cannot be written only costs time. Every lookup is recorded (key and hit), and
the pipeline writes the record into ``world.json``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from worldgen_sim.reports import CacheRecord
from worldgen_sim.staging import write_atomic

__all__ = ["ArrayCache", "cache_key", "library_versions", "user_cache_dir"]

log = logging.getLogger(__name__)


def user_cache_dir() -> Path:
    """The user's cache folder for worldgen_sim: ``$XDG_CACHE_HOME/worldgen_sim`` (``~/.cache/worldgen_sim``
    when unset), where the viewer keeps its reduced layers and ``make test-isaac`` its Python 3.12 environment."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "worldgen_sim"


def library_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed versions of the named distributions (None where not installed)."""
    return {name: _installed_version(name) for name in names}


@functools.cache
def _installed_version(name: str) -> str | None:
    """One distribution's version, looked up once per process: reading package metadata costs tens of
    milliseconds, and a scene with hundreds of objects asks for it once per object key."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def cache_key(
    kind: str,
    *,
    arrays: Iterable[np.ndarray],
    settings: Mapping[str, Any],
    entry_format: int,
    libraries: Iterable[str] = (),
) -> str:
    """sha256 hex of everything that decides a cached result.

    Args:
        kind: what is cached (``"segmentation"``); entries of different kinds never collide.
        arrays: the inputs; each contributes its dtype, shape and bytes.
        settings: every option that changes the result (JSON-serialisable).
        entry_format: the version of the stored layout; bump it when the layout changes.
        libraries: distributions whose output is stored (their versions enter the key).
    """
    from worldgen_sim import __version__

    digest = hashlib.sha256()
    header = {
        "kind": kind,
        "format": entry_format,
        "worldgen_sim": __version__,
        "libraries": library_versions(libraries),
        "settings": dict(settings),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class ArrayCache:
    """A folder of ``<key>.npz`` entries, each a mapping of names to arrays.

    Args:
        root: the cache folder, or None for no cache (every lookup misses, nothing is written).
        kind: a sub-folder per kind of entry (``"segmentation"``, ``"decomposition"``).

    Attributes:
        lookups: ``(key, hit)`` of every :meth:`get`, in order.
    """

    def __init__(self, root: str | Path | None, kind: str) -> None:
        self.folder = Path(root).expanduser() / kind if root is not None else None
        self.kind = kind
        self.lookups: list[tuple[str, bool]] = []
        self._write_failed = False

    @property
    def enabled(self) -> bool:
        """Whether entries are read and written."""
        return self.folder is not None

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None (no cache, no entry, or an unreadable entry)."""
        arrays = self._read(key) if self.folder is not None else None
        if self.folder is not None:
            self.lookups.append((key, arrays is not None))
        return arrays

    def put(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Store ``arrays`` under ``key`` atomically; a folder that cannot be written is logged once."""
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.folder / f"{key}.npz", lambda temporary: np.savez(temporary, **arrays))  # type: ignore[arg-type]
        except OSError as exc:
            if not self._write_failed:
                log.warning("%s cache %s cannot be written (%s); results are not cached", self.kind, self.folder, exc)
            self._write_failed = True

    def record(self) -> CacheRecord:
        """What ``world.json`` says about this cache: folder, hits, misses and each key looked up."""
        hits = sum(hit for _, hit in self.lookups)
        return {
            "folder": str(self.folder) if self.folder is not None else None,
            "hits": hits,
            "misses": len(self.lookups) - hits,
            "lookups": [{"key": key, "hit": hit} for key, hit in self.lookups],
        }

    def _read(self, key: str) -> dict[str, np.ndarray] | None:
        assert self.folder is not None
        path = self.folder / f"{key}.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except FileNotFoundError:
            return None
        except Exception as exc:
            log.warning("%s cache entry %s is unreadable (%s: %s); recomputing it", self.kind, path,
                        type(exc).__name__, exc)
            return None

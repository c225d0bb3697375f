"""Process-wide library settings, changed only for the duration of a call and then put back.

worldgen_sim runs inside host applications (Isaac Sim's extension builds worlds
on a worker thread; Kit owns warp's configuration), so it never leaves a global
setting changed: warp's config and torch's CPU thread count are set in a
``with`` block and restored on exit, and the umask is read, never written.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["process_umask", "torch_threads", "warp_settings"]

log = logging.getLogger(__name__)


@contextmanager
def warp_settings(**settings: Any) -> Iterator[Any]:
    """Set ``warp.config.<name> = value`` for each keyword inside the block; restore on exit.

    Settings read by ``wp.init()`` (``kernel_cache_dir``) only take effect when warp is
    first initialised inside the block; when the host initialised it earlier, warp keeps
    its own and a note is logged.

    Yields:
        The ``warp`` module.
    """
    import warp as wp

    previous = {name: getattr(wp.config, name) for name in settings}
    initialised = bool(getattr(getattr(wp, "context", None), "runtime", None))
    if initialised and settings.get("kernel_cache_dir") not in (None, previous.get("kernel_cache_dir")):
        log.info("warp is already initialised; its kernel cache stays %s", previous["kernel_cache_dir"])
    for name, value in settings.items():
        setattr(wp.config, name, value)
    try:
        yield wp
    finally:
        for name, value in previous.items():
            setattr(wp.config, name, value)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with torch using ``count`` CPU threads (None: unchanged); restored on exit."""
    import torch

    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(max(1, int(count)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def process_umask() -> int:
    """The process umask, read without changing it.

    ``os.umask`` can only be read by setting it, which races with other threads
    creating files (the Isaac Sim extension builds on a worker thread), so Linux's
    ``/proc/self/status`` is read instead; elsewhere it is read (set and restored) once.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _umask_once()


@functools.cache
def _umask_once() -> int:
    # Without /proc the only way to read it is to set it; done once and put straight back.
    umask = os.umask(0o022)
    os.umask(umask)
    return umask

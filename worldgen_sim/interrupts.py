"""Signals: SIGTERM and SIGHUP stop a build the way Ctrl-C does, never in the middle of a swap.

``timeout``, systemd, Docker and Slurm stop a process with SIGTERM, whose default
action kills Python without running any ``finally`` or ``except`` block, so the
staging folder of a build would be left behind. :func:`install_signal_handlers`
(called by the CLI) turns SIGINT, SIGTERM and SIGHUP into :class:`Interrupted`, a
``KeyboardInterrupt``, so the staging clean-up runs. Inside :func:`uninterruptible`
(the two renames that put a world in place) a signal is held back and raised when
the block ends, so the renames are never separated by a signal.

:func:`pause_point` is the fault-injection hook of ``tests/test_faults.py``: with
``WORLDGEN_TEST_PAUSE=<point>`` in the environment a build stops at that point
(a stage name such as ``align`` or a staging step such as ``swap``), touches
``WORLDGEN_TEST_PAUSE_FILE`` and sleeps ``WORLDGEN_TEST_PAUSE_S`` seconds, so a test
can kill it there. Without the variable it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Interrupted", "install_signal_handlers", "pause_point", "uninterruptible"]

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class _Held:
    """How many uninterruptible blocks are open, and the signal that arrived meanwhile."""

    depth = 0
    pending: int | None = None


class Interrupted(KeyboardInterrupt):
    """A build stopped by a signal (SIGINT, SIGTERM or SIGHUP).

    Args:
        signum: the signal's number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        """The signal's name, e.g. ``"SIGTERM"``."""
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell convention for a process ended by this signal: 128 + its number."""
        return 128 + self.signum


def install_signal_handlers() -> None:
    """Raise :class:`Interrupted` on SIGINT, SIGTERM and SIGHUP (main thread only)."""
    for signum in _SIGNALS:
        signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame) -> None:
    if _Held.depth:
        _Held.pending = signum  # raised when the uninterruptible block ends
        return
    raise Interrupted(signum)


@contextmanager
def uninterruptible() -> Iterator[None]:
    """Hold back the signals of :func:`install_signal_handlers` until the block ends."""
    _Held.depth += 1
    try:
        yield
    finally:
        _Held.depth -= 1
        if not _Held.depth and _Held.pending is not None:
            signum, _Held.pending = _Held.pending, None
            raise Interrupted(signum)


def pause_point(name: str) -> None:
    """Test hook: stop here for a while when ``WORLDGEN_TEST_PAUSE`` names this point."""
    if os.environ.get("WORLDGEN_TEST_PAUSE") != name:
        return
    marker = os.environ.get("WORLDGEN_TEST_PAUSE_FILE")
    if marker:
        with open(marker, "w") as fh:
            fh.write(f"{os.getpid()} {name}\n")
    time.sleep(float(os.environ.get("WORLDGEN_TEST_PAUSE_S", "60")))

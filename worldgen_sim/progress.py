"""Progress reporting for long stages; silent when ``quiet``.

Stages receive a :class:`Progress` and call :meth:`Progress.stage` around their
work and :meth:`Progress.step` inside chunked loops. Timings are collected
whether or not anything is printed, so ``world.json`` always carries them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from worldgen_sim.interrupts import pause_point


class Progress:
    """Prints stage starts, chunk progress and durations to a stream.

    Args:
        quiet: print nothing when True (timings are still recorded).
        stream: where to print; standard error by default, so stdout stays clean
            for machine-readable output.
    """

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.timings: dict[str, float] = {}
        self._current: str | None = None
        self._last_print = 0.0

    def log(self, message: str) -> None:
        """Print one line (unless quiet)."""
        if not self.quiet:
            print(message, file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a named stage; records seconds in :attr:`timings`.

        Re-entering the stage that is already running (a stage function that
        names itself inside the pipeline's stage of the same name) is a no-op,
        so its time is counted once.
        """
        if name == self._current:
            yield
            return
        self.log(f"[worldgen] {name} ...")
        pause_point(name)
        previous, self._current = self._current, name
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            self.timings[name] = round(self.timings.get(name, 0.0) + seconds, 4)
            self._current = previous
        self.log(f"[worldgen] {name} done in {seconds:.2f} s")

    def step(self, done: int, total: int, what: str = "") -> None:
        """Report ``done`` of ``total`` units; throttled to about two lines a second."""
        if self.quiet:
            return
        now = time.perf_counter()
        if done < total and now - self._last_print < 0.5:
            return
        self._last_print = now
        label = what or self._current or "working"
        percent = 100.0 * done / max(total, 1)
        print(f"[worldgen]   {label}: {done}/{total} ({percent:.0f}%)", file=self.stream, flush=True)


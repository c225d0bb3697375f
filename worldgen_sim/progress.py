"""Progress of long stages: bars on a terminal, plain lines otherwise, nothing when quiet.

Stages receive a :class:`Progress` and call :meth:`Progress.stage` around their
work and :meth:`Progress.step` inside chunked loops. It reports progress only:
warnings and fallbacks go to module loggers (``logging.getLogger(__name__)``),
which the CLI routes to standard error (:func:`configure_cli_logging`).
Timings are collected whether or not anything is shown; they are the one
timing record of a build (``world.json``'s ``timings_s``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from worldgen_sim.interrupts import pause_point

__all__ = ["Progress", "configure_cli_logging"]


class Progress:
    """Shows stage starts, durations and chunk progress on a stream.

    Args:
        quiet: show nothing when True (timings are still recorded).
        stream: where to show it; standard error by default, so stdout stays clean
            for machine-readable output.
        bars: tqdm progress bars (True), throttled plain lines (False) or, when None,
            bars when ``stream`` is a terminal and tqdm is installed.
    """

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None, bars: bool | None = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.bars = _bars_available(self.stream) if bars is None else bars
        self.timings: dict[str, float] = {}
        self._current: str | None = None
        self._last_print = 0.0
        self._bar: Any = None
        self._bar_label: str | None = None

    def write(self, message: str) -> None:
        """Show one line (unless quiet), above any bar in progress."""
        if self.quiet:
            return
        if self._bar is not None:
            from tqdm import tqdm

            tqdm.write(message, file=self.stream)
        else:
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
        self.write(f"[worldgen] {name} ...")
        pause_point(name)
        previous, self._current = self._current, name
        start = time.perf_counter()
        try:
            yield
        finally:
            self._close_bar()
            seconds = time.perf_counter() - start
            self.record(name, seconds)
            self._current = previous
        self.write(f"[worldgen] {name} done in {seconds:.2f} s")

    def record(self, name: str, seconds: float) -> None:
        """Add ``seconds`` [s] of work timed elsewhere (a worker process) to :attr:`timings` under ``name``.

        The same record as :meth:`stage`, for work that ran outside this process's stages
        (one object's decomposition); nothing is shown.
        """
        self.timings[name] = round(self.timings.get(name, 0.0) + seconds, 4)

    def step(self, done: int, total: int, what: str = "") -> None:
        """Report ``done`` of ``total`` units (a bar, or about two lines a second)."""
        if self.quiet:
            return
        label = what or self._current or "working"
        if self.bars:
            self._update_bar(label, done, total)
            return
        now = time.perf_counter()
        if done < total and now - self._last_print < 0.5:
            return
        self._last_print = now
        percent = 100.0 * done / max(total, 1)
        print(f"[worldgen]   {label}: {done}/{total} ({percent:.0f}%)", file=self.stream, flush=True)

    def _update_bar(self, label: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if self._bar is None or self._bar_label != label or self._bar.total != total:
            self._close_bar()
            self._bar = tqdm(total=total, desc=f"[worldgen]   {label}", file=self.stream, leave=False,
                             dynamic_ncols=True)
            self._bar_label = label
        self._bar.update(done - self._bar.n)
        if done >= total:
            self._close_bar()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar, self._bar_label = None, None


def configure_cli_logging(*, quiet: bool) -> None:
    """Route worldgen_sim's log records to standard error as ``worldgen: <level>: <message>`` lines.

    Called once by the CLI at start-up; a library user configures logging as they like.
    Info (decisions such as the scale used) and warnings (fallbacks) are shown; ``quiet``
    leaves errors only. Lines go through tqdm when it is installed, so they land above a
    running bar instead of through it.
    """
    logger = logging.getLogger("worldgen_sim")
    for handler in list(logger.handlers):
        if isinstance(handler, _CliHandler):
            logger.removeHandler(handler)
    handler = _CliHandler()
    handler.setFormatter(logging.Formatter("worldgen: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.INFO)
    logger.propagate = False


class _CliHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record)
        try:
            from tqdm import tqdm
        except ImportError:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        else:
            tqdm.write(message, file=sys.stderr)


def _bars_available(stream: TextIO) -> bool:
    import importlib.util

    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and importlib.util.find_spec("tqdm") is not None

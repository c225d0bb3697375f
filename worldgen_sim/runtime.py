"""Process-wide library settings, changed only for the duration of a call and then put back.

worldgen_sim runs inside host applications (Isaac Sim's extension builds worlds
on a worker thread; Kit owns warp's configuration), so it never leaves a global
setting changed: warp's config and the CPU thread counts (torch's, and OpenMP's
and BLAS's through threadpoolctl) are set in a ``with`` block and restored on
exit, and the umask is read, never written.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "child_thread_variables",
    "init_warp",
    "process_umask",
    "spawn_without_main",
    "thread_limits",
    "torch_threads",
    "warp_settings",
]

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
    initialised = _warp_initialised(wp)
    if initialised and settings.get("kernel_cache_dir") not in (None, previous.get("kernel_cache_dir")):
        log.info("warp is already initialised; its kernel cache stays %s", previous["kernel_cache_dir"])
    for name, value in settings.items():
        setattr(wp.config, name, value)
    try:
        yield wp
    finally:
        for name, value in previous.items():
            setattr(wp.config, name, value)


_NO_DRIVER_WARNING = "Could not find or load the NVIDIA CUDA driver"
"""What warp's native start-up prints to stderr on a machine without the CUDA driver."""


def init_warp(*, want_cuda: bool = False) -> Any:
    """``wp.init()``, without warp's "CUDA driver not found" line on a CPU machine unless CUDA was asked for.

    warp's native library prints that warning straight to the process's stderr (no setting
    turns it off) whenever it starts on a machine without the driver, so every CPU build
    showed it. When the driver cannot be loaded and the caller does not want CUDA, stderr
    (file descriptor 2) is captured for the call; that line is dropped and anything else
    printed meanwhile (by warp or by another thread) is logged as a warning. When the caller
    wants CUDA (``verify.device: cuda:0``) the warning is what they need to see and stays.
    Already initialised (by the host, or earlier): nothing happens.

    Returns:
        The ``warp`` module.
    """
    import warp as wp

    if _warp_initialised(wp):
        return wp
    if want_cuda or _cuda_driver_loadable():
        wp.init()
        return wp
    with _stderr_captured() as captured:
        wp.init()
    for line in captured():
        if line.strip() and _NO_DRIVER_WARNING not in line:
            log.warning("%s", line)
    log.debug("warp: no CUDA driver on this machine; CPU kernels only")
    return wp


def _warp_initialised(wp: Any) -> bool:
    """Whether ``wp.init()`` has run: newer warp (1.19 here) keeps its runtime in ``warp._src.context``,
    older warp in ``warp.context`` (a check of ``wp.context`` alone never sees 1.19's)."""
    for name in ("warp._src.context", "warp.context"):
        try:
            if getattr(importlib.import_module(name), "runtime", None) is not None:
                return True
        except ImportError:
            continue
    return False


def _cuda_driver_loadable() -> bool:
    """Whether the CUDA driver library loads, as warp's native start-up tries it (Linux, Windows)."""
    import ctypes
    import sys

    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so", "libcuda.so.1"]
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


@contextmanager
def _stderr_captured() -> Iterator[Any]:
    """Send file descriptor 2 to a temporary file inside the block; yields a function returning its lines."""
    import sys
    import tempfile

    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            os.dup2(sink.fileno(), 2)
            yield lambda: lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


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


@contextmanager
def thread_limits(count: int | None) -> Iterator[dict[str, Any]]:
    """Run the block with the numeric libraries' CPU thread pools at ``count`` threads; restored on exit.

    torch's intra-op pool (the CPU rasteriser; warp's CPU z-buffer sizes its worker pool from
    it) is set when torch is installed, and the OpenMP / BLAS pools of the libraries loaded
    (numpy, scipy, open3d) through ``threadpoolctl`` when that is installed; without it they
    keep their sizes and a note is logged. Processes started inside get ``OMP_NUM_THREADS``
    and the BLAS variables set to ``count`` unless the user set them. warp's CPU kernels and
    numba are not thread-pooled here (worldgen_sim uses no numba).

    Args:
        count: threads (>= 1); None changes nothing.

    Yields:
        What was applied: ``{"torch": n, "threadpoolctl": n | "not installed"}``, empty for None.
    """
    if count is None:
        yield {}
        return
    count = max(1, int(count))
    applied: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if importlib.util.find_spec("torch") is not None:
            stack.enter_context(torch_threads(count))
            applied["torch"] = count
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            log.info("threadpoolctl is not installed: OpenMP and BLAS pools keep their own sizes")
            applied["threadpoolctl"] = "not installed"
        else:
            stack.enter_context(threadpool_limits(limits=count))
            applied["threadpoolctl"] = count
        stack.enter_context(child_thread_variables(count))
        yield applied


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def spawn_without_main() -> Iterator[None]:
    """Processes spawned inside the block do not import the caller's ``__main__``.

    multiprocessing's spawn start method re-imports the parent's main script in every child so that
    functions defined there can be unpickled. worldgen's workers run functions of this package only,
    and a user's script without an ``if __name__ == "__main__":`` guard would otherwise be re-run in
    each worker: a ``build_world`` call at its top level started a second build there (refused by the
    output lock), and every CoACD worker "failed to start". Hiding the main module's ``__spec__`` and
    ``__file__`` while the children start makes them skip that import.
    """
    import sys

    main = sys.modules.get("__main__")
    missing = object()
    saved = {name: getattr(main, name, missing) for name in ("__spec__", "__file__")}
    try:
        if main is not None:
            main.__spec__ = None
            if saved["__file__"] is not missing:
                del main.__file__
        yield
    finally:
        if main is not None:
            for name, value in saved.items():
                if value is not missing:
                    setattr(main, name, value)


@contextmanager
def child_thread_variables(count: int) -> Iterator[None]:
    """Thread-pool sizes for processes started inside (they read them at start-up); a size the user
    set is kept. This process's environment is restored afterwards."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, str(count))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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

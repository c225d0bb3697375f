"""The worker processes CoACD runs in: spawned workers with a CPU-time limit per object, crash retries
with other settings, and cover fallbacks (:func:`worldgen_sim.collision.decompose.decompose_objects`
hands them what the cache and the fast paths did not settle).

A worker is a spawned process, so a CoACD crash (SIGSEGV) or a runaway object costs that worker, never
the build; what a worker did is told back over a pipe as plain arrays.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import asdict

import numpy as np

from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.collision.decompose import (
    CRASH_TEST_ENV,
    STALL_TEST_ENV,
    DecomposeResult,
    DecomposeTask,
    cover_result,
    decompose_one,
)
from worldgen_sim.runtime import spawn_without_main

__all__ = ["WorkerPool"]


class WorkerPool:
    """Tasks on spawned worker processes with a per-task time limit, crash retries and cover fallbacks."""

    def __init__(self, tasks: list[DecomposeTask], cfg: CollisionCfg, workers: int, progress):
        import multiprocessing as mp

        self.ctx = mp.get_context("spawn")
        self.tasks, self.cfg, self.progress = tasks, cfg, progress
        self.results: list[DecomposeResult | None] = [None] * len(tasks)
        self.retries = [0] * len(tasks)
        self.pending = deque((i, 0) for i in range(len(tasks)))  # (task index, attempt)
        self.slots: list[dict | None] = [None] * workers
        self.done = 0
        self.failed_starts = 0

    def run(self) -> list[DecomposeResult]:
        try:
            while self.done < len(self.tasks):
                if self.failed_starts >= 3 and not any(s is not None and s["task"] is not None for s in self.slots):
                    self._cover_pending("worker processes failed to start", "workers_failed")
                    break
                self._fill_slots()
                self._wait_and_handle()
        finally:
            self._close()
        return self.results  # type: ignore[return-value]

    def _fill_slots(self) -> None:
        for s, slot in enumerate(self.slots):
            if slot is None and self.pending:
                slot = self.slots[s] = self._start_worker()
            if slot is not None and slot["ready"] and slot["task"] is None and self.pending:
                index, attempt = self.pending.popleft()
                task = self.tasks[index]
                slot["conn"].send((np.asarray(task.vertices, np.float32), np.asarray(task.faces, np.int32),
                                   float(task.ground_height), asdict(self.cfg), attempt,
                                   np.asarray(task.ground_triangles, np.float32)))
                slot["task"], slot["attempt"], slot["sent"] = index, attempt, time.perf_counter()

    def _start_worker(self) -> dict:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child,), daemon=True)
        with spawn_without_main():  # a user's unguarded script is not re-run in the worker
            proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "task": None, "attempt": 0, "sent": 0.0, "ready": False}

    def _wait_and_handle(self) -> None:
        from multiprocessing.connection import wait

        live = [s for s in self.slots if s is not None]
        if not live:
            return
        now = time.perf_counter()
        deadlines = [s["sent"] + self.cfg.object_timeout - now for s in live if s["task"] is not None]
        ready = wait([s["conn"] for s in live], timeout=max(0.0, min(deadlines, default=1.0)) + 0.01)
        for s, slot in enumerate(self.slots):
            if slot is None:
                continue
            if slot["conn"] in ready:
                self._receive(s, slot)
            elif slot["task"] is not None and time.perf_counter() - slot["sent"] > self.cfg.object_timeout:
                self._retire(s, f"timed out after {self.cfg.object_timeout:g} s", "timeout")
            elif not slot["proc"].is_alive():
                self._retire(s, *self._death(slot))

    def _receive(self, s: int, slot: dict) -> None:
        try:
            message = slot["conn"].recv()
        except (EOFError, OSError):
            slot["proc"].join(5)
            self._retire(s, *self._death(slot))
            return
        if message[0] == "ready":
            slot["ready"] = True
        elif message[0] == "ok":
            result = _result_from_message(message[1])
            result.retries = self.retries[slot["task"]]
            self._finish(slot, result)
        else:
            self._finish(slot, self._cover(slot, f"decomposition failed: {message[1]}", "error"))

    def _death(self, slot: dict) -> tuple[str, str]:
        """Why a worker died: its CPU budget ran out (SIGXCPU, ``"timeout"``: not retried, the same work
        would run out again) or it crashed (``"crash"``: retried with other settings)."""
        import signal

        code = slot["proc"].exitcode
        if code is not None and code == -getattr(signal, "SIGXCPU", -1000):
            return f"ran past its CPU budget of {self.cfg.object_cpu_limit:g} s", "timeout"
        return f"worker crashed (exit code {code})", "crash"

    def _retire(self, s: int, reason: str, kind: str) -> None:
        """Stop a worker; its task is retried (a crash with attempts left) or covered."""
        slot = self.slots[s]
        assert slot is not None  # only live slots are retired
        if not slot["ready"]:
            self.failed_starts += 1
        if slot["proc"].is_alive():
            slot["proc"].terminate()
        slot["proc"].join(5)
        slot["conn"].close()
        self.slots[s] = None
        if slot["task"] is None:
            return
        if kind == "crash" and slot["attempt"] < self.cfg.coacd_retries:
            self.retries[slot["task"]] += 1
            self.pending.appendleft((slot["task"], slot["attempt"] + 1))
            return
        self._finish(slot, self._cover(slot, reason, kind))

    def _cover(self, slot: dict, reason: str, kind: str) -> DecomposeResult:
        index = slot["task"]
        if kind == "crash":
            reason = f"{reason} on all {self.retries[index] + 1} attempts"
        result = cover_result(self.tasks[index], self.cfg, reason=reason, kind=kind,
                              seconds=time.perf_counter() - slot["sent"])
        result.retries = self.retries[index]
        return result

    def _finish(self, slot: dict, result: DecomposeResult) -> None:
        self.results[slot["task"]] = result
        slot["task"] = None
        self.done += 1
        if self.progress is not None:
            self.progress.step(self.done, len(self.tasks), "decomposition")

    def _cover_pending(self, reason: str, kind: str) -> None:
        while self.pending:
            index, _ = self.pending.popleft()
            if self.results[index] is None:
                self.results[index] = cover_result(self.tasks[index], self.cfg, reason=reason, kind=kind, seconds=0.0)
                self.done += 1

    def _close(self) -> None:
        for slot in self.slots:
            if slot is None:
                continue
            try:
                slot["conn"].send(None)
            except (OSError, BrokenPipeError):
                pass
            slot["proc"].join(2)
            if slot["proc"].is_alive():
                slot["proc"].terminate()
                slot["proc"].join(2)
            slot["conn"].close()


def _worker_main(conn) -> None:
    """Worker loop: import once, then decompose tasks until told to stop (None)."""
    # One OpenMP thread per worker: the pool is the parallelism; oversubscription only slows it.
    os.environ["OMP_NUM_THREADS"] = "1"
    import coacd  # noqa: F401  (import before signalling ready, so it is not timed)
    import manifold3d  # noqa: F401
    import scipy.spatial  # noqa: F401

    crash_below = int(os.environ.get(CRASH_TEST_ENV, "0") or 0)
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        vertices, faces, ground, cfg, attempt, ground_triangles = message
        if attempt < crash_below:
            import signal

            os.kill(os.getpid(), signal.SIGSEGV)
        _limit_cpu(float(cfg["object_cpu_limit"]))
        _test_stall(os.environ.get(STALL_TEST_ENV, ""))
        try:
            result = decompose_one(vertices, faces, ground_height=ground, cfg=CollisionCfg(**cfg), attempt=attempt,
                                   ground_triangles=ground_triangles)
            conn.send(("ok", _result_to_message(result)))
        except Exception as exc:  # any failure becomes this object's reported fallback
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _test_stall(how: str) -> None:
    """The :data:`STALL_TEST_ENV` hook: sleep (starved) or spin (runaway); nothing when unset."""
    if how == "spin":
        while True:
            pass
    if how:
        time.sleep(float(how))


def _limit_cpu(seconds: float) -> None:
    """Let this worker use at most ``seconds`` more CPU time; past it the kernel ends it with SIGXCPU.

    CPU time, unlike wall-clock time, does not grow when other processes load the machine, so whether an
    object runs out of its budget depends on its work, not on the load: the same input gives the same world.
    (Nothing happens where RLIMIT_CPU is missing; the wall-clock ``object_timeout`` still guards hangs.)
    """
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    try:  # a worker ended by SIGXCPU (or SIGSEGV in CoACD) must not leave a core file in the user's folder
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    except (ValueError, OSError):
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(np.ceil(used + seconds))
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):  # a platform that refuses it: the wall-clock guard remains
        pass


_MESSAGE_FIELDS = ("hulls", "volume", "hull_volume", "method", "fallback", "fallback_kind", "seconds")


def _result_to_message(result: DecomposeResult) -> dict:
    return {k: getattr(result, k) for k in _MESSAGE_FIELDS}


def _result_from_message(message: dict) -> DecomposeResult:
    return DecomposeResult(**message)

"""``worldgen batch``: many worlds from one manifest, resumable, on a process pool or on Ray.

``OUTROOT/batch.json`` is rewritten atomically after every item, so a killed run
(Ctrl-C, SIGTERM, a lost Ray worker) keeps every finished item on record; the
next run plans from the items' own markers (see :mod:`.item`) and does only
what is left. Ray runs items as tasks with resource requests and Ray's own
retries (``max_retries``) instead of a home-made queue.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from worldgen_sim.batch.item import finished_key, run_item
from worldgen_sim.batch.manifest import BatchItem, read_manifest
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.runtime import child_thread_variables, spawn_without_main

__all__ = ["BatchReport", "code_version", "run_batch"]

REPORT_FILE = "batch.json"
ENGINES = ("local", "ray")
_RAY_RETRIES = 2


@dataclass(eq=False)
class BatchReport:
    """What a batch run did.

    Attributes:
        out_root: the batch folder.
        items: per item name: status (done, failed, skipped = finished earlier, planned), key, error, seconds.
        ran: how many items this run executed.
    """

    out_root: Path
    items: dict[str, dict] = field(default_factory=dict)
    ran: int = 0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for entry in self.items.values():
            out[entry["status"]] = out.get(entry["status"], 0) + 1
        return out


def code_version() -> str:
    """worldgen_sim's version plus a hash of its sources: a code change invalidates finished items."""
    import worldgen_sim

    root = Path(worldgen_sim.__file__).parent
    digest = hashlib.sha256(worldgen_sim.__version__.encode())
    for path in sorted(root.rglob("*.py")) + sorted(root.rglob("*.yaml")):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return f"{worldgen_sim.__version__}+{digest.hexdigest()[:12]}"


def run_batch(
    manifest: str | Path,
    out_root: str | Path,
    *,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> BatchReport:
    """Build every item of ``manifest`` that is not already finished under ``out_root``.

    Args:
        manifest: the manifest YAML.
        out_root: the batch folder (created with its parents).
        engine: ``"local"`` (a process pool) or ``"ray"``.
        workers: processes (local) or CPUs of a local Ray instance.
        address: an existing Ray cluster's address (``ray`` only); None starts a local instance.
        dry_run: plan only: report what would run and what is already finished.
        progress: progress reporter; silent when None.

    Raises:
        WorldgenError: a bad manifest or option (an item's own failure is recorded, never raised).
    """
    progress = progress if progress is not None else Progress(quiet=True)
    if engine not in ENGINES:
        raise WorldgenError(f"--engine must be one of {', '.join(ENGINES)}, got '{engine}'")
    if workers < 1:
        raise WorldgenError(f"--workers must be >= 1, got {workers}")
    if address is not None and engine != "ray":
        raise WorldgenError("--address needs --engine ray")
    plan = read_manifest(manifest)
    out_root = Path(out_root)
    version = code_version()
    report = BatchReport(out_root=out_root)
    pending: list[tuple[BatchItem, str]] = []
    for item in plan.items:
        key = item.key(version)
        finished = finished_key(out_root / item.name) == key
        report.items[item.name] = {"status": "skipped" if finished else "planned", "key": key, "error": None,
                                   "input": str(item.input), "option_set": item.option_set}
        if not finished:
            pending.append((item, key))
    if dry_run:
        return report
    out_root.mkdir(parents=True, exist_ok=True)
    _save(report, plan.path, version)
    runner = _run_local if engine == "local" else _run_ray
    tracker = _Tracker(report, plan.path, version, len(pending), progress)
    try:
        runner(pending, out_root, tracker, workers=workers, address=address)
    finally:
        _save(report, plan.path, version)  # on Ctrl-C / SIGTERM too: finished items stay on record
    return report


class _Tracker:
    """Records each finished item in the report (saved at once) and prints done/failed/running/ETA."""

    def __init__(self, report: BatchReport, manifest: Path, version: str, total: int, progress: Progress) -> None:
        self.report, self.manifest, self.version, self.total, self.progress = report, manifest, version, total, progress
        self.start = time.perf_counter()
        self.finished = 0

    def record(self, result: dict, running: int) -> None:
        entry = self.report.items[result["name"]]
        entry.update(status=result["status"], error=result["error"], seconds=result["seconds"],
                     verified=result.get("verified"))
        self.report.ran += 1
        self.finished += 1
        _save(self.report, self.manifest, self.version)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.finished * (self.total - self.finished)
        counts = self.report.counts()
        self.progress.write(f"[worldgen] batch: {counts.get('done', 0)} done, {counts.get('failed', 0)} failed, "
                          f"{running} running, {self.total - self.finished} left, ETA {eta:.0f} s"
                          f"  ({result['name']}: {result['status']})")


def _run_local(pending, out_root: Path, tracker: _Tracker, *, workers: int, address) -> None:
    import multiprocessing

    if not pending:
        return
    processes = min(workers, len(pending))
    # spawn: a fresh interpreter per worker, so no lock or thread state of this process is inherited.
    # Each worker gets its share of the cores for its numeric threads (as Ray gives a 1-CPU task one
    # thread): with every worker running a full-width BLAS/OpenMP/torch pool, two workers on two
    # cores ran slower than one (bench_batch: 0.81x; 1.6x with a share each).
    with child_thread_variables(max(1, (os.cpu_count() or 1) // processes)), spawn_without_main():
        pool = multiprocessing.get_context("spawn").Pool(processes, initializer=_worker_signals)
    try:
        jobs = [(item, str(out_root), key) for item, key in pending]
        for done, result in enumerate(pool.imap_unordered(_run_packed, jobs), 1):
            tracker.record(result, running=min(workers, len(jobs) - done))
        pool.close()
    except BaseException:
        # Ctrl-C / SIGTERM: stop the items in flight now (each cleans its staging folder), keep what finished.
        pool.terminate()
        raise
    finally:
        pool.join()


def _worker_signals() -> None:
    """In a pool worker, SIGTERM (pool.terminate) unwinds like Ctrl-C, so a build removes its staging folder."""
    import signal

    from worldgen_sim.interrupts import install_signal_handlers

    install_signal_handlers()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides


def _run_packed(job) -> dict:
    return run_item(*job)


def _run_ray(pending, out_root: Path, tracker: _Tracker, *, workers: int, address: str | None) -> None:
    try:
        import ray
    except ImportError:
        raise WorldgenError("--engine ray needs the optional package 'ray': pip install 'worldgen-sim[batch]'") \
            from None
    started_here = not ray.is_initialized()
    if started_here:
        if address is not None:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(max_retries=_RAY_RETRIES)(run_item)
        refs = {remote.options(num_cpus=1, num_gpus=item.gpus).remote(item, str(out_root), key): item
                for item, key in pending}
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            try:
                result = ray.get(done[0])
            except Exception as exc:  # the task's worker died more often than Ray retries
                result = {"name": refs[done[0]].name, "status": "failed", "seconds": 0.0,
                          "error": f"Ray task failed after {_RAY_RETRIES} retries: {type(exc).__name__}"}
            tracker.record(result, running=len(waiting))
    finally:
        if started_here:
            ray.shutdown()


def _save(report: BatchReport, manifest: Path, version: str) -> None:
    from worldgen_sim.staging import write_text_atomic

    data = {"format": "worldgen_sim.batch", "version": 1, "manifest": str(manifest), "code_version": version,
            "counts": report.counts(), "items": report.items}
    write_text_atomic(report.out_root / REPORT_FILE, json.dumps(data, indent=1, sort_keys=True) + "\n")


def format_plan(report: BatchReport) -> str:
    """A table of items: name, status, seconds, error."""
    rows = [f"{'item':40s} {'status':8s} {'seconds':>8s}  error"]
    for name, entry in report.items.items():
        seconds = entry.get("seconds")
        rows.append(f"{name[:40]:40s} {entry['status']:8s} {'' if seconds is None else f'{seconds:8.1f}':>8s}  "
                    f"{entry.get('error') or ''}")
    counts = ", ".join(f"{count} {status}" for status, count in sorted(report.counts().items()))
    rows.append(f"{len(report.items)} items: {counts}")
    return "\n".join(rows)

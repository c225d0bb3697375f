"""Batch builds: a manifest of inputs x option sets x variant counts, resumable, local or on Ray.

    from worldgen_sim.batch import run_batch

    report = run_batch("worlds.yaml", "out/batch", engine="local", workers=2)
    print(report.counts())
"""

from __future__ import annotations

from worldgen_sim.batch.batch import BatchReport, code_version, format_plan, run_batch
from worldgen_sim.batch.manifest import BatchItem, Manifest, read_manifest

__all__ = ["BatchItem", "BatchReport", "Manifest", "code_version", "format_plan", "read_manifest", "run_batch"]

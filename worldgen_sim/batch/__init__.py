"""Batch builds: a manifest of inputs x option sets x variant counts, resumable, local or on Ray.

    from worldgen_sim.batch.batch import run_batch

    report = run_batch("worlds.yaml", "out/batch", engine="local", workers=2)
    print(report.counts())

Nothing is re-exported here (one import path per symbol): import from the modules.
"""

__all__ = ["batch", "item", "manifest"]

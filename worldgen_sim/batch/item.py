"""One batch item, start to finish, in whichever process the scheduler chose.

An item is done when ``OUTROOT/<name>/batch_item.json`` holds its key: that file is
written last and atomically, after the world (staged and renamed by
``build_world``), its verify report and its variants. A rerun skips an item whose
marker matches and redoes any other, so a kill at any moment loses nothing finished.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from worldgen_sim.batch.manifest import BatchItem

__all__ = ["ITEM_MARKER", "finished_key", "run_item"]

ITEM_MARKER = "batch_item.json"


def finished_key(out_dir: Path) -> str | None:
    """The key stored in a finished item's marker, or None (not finished, or unreadable)."""
    try:
        return json.loads((out_dir / ITEM_MARKER).read_text()).get("key")
    except (OSError, ValueError, AttributeError):
        return None


def run_item(item: BatchItem, out_root: str, key: str) -> dict:
    """Build, verify and randomise one item; never raises for the item's own failures.

    Returns:
        ``{"name", "status": "done" | "failed", "error": one line or None, "seconds", "verified"}``.
    """
    from worldgen_sim.errors import WorldgenError

    start = time.perf_counter()
    out_dir = Path(out_root) / item.name
    try:
        verified = _build(item, out_dir)
        _write_marker(out_dir, {"key": key, "name": item.name, "input": str(item.input),
                                "option_set": item.option_set, "variants": item.variants, "verified": verified})
        return {"name": item.name, "status": "done", "error": None, "verified": verified,
                "seconds": round(time.perf_counter() - start, 3)}
    except WorldgenError as exc:
        error = str(exc)
    except Exception as exc:  # a bug in one item must not stop the others; keep its type
        error = f"{type(exc).__name__}: {exc}"
    return {"name": item.name, "status": "failed", "error": " ".join(error.split()), "verified": None,
            "seconds": round(time.perf_counter() - start, 3)}


def _build(item: BatchItem, out_dir: Path) -> bool | None:
    from worldgen_sim.config import load_config
    from worldgen_sim.pipeline import build_world

    cfg = load_config(item.config, overrides=item.options)
    build_world(item.input, out_dir, cfg=cfg)
    verified = None
    if item.verify:
        from worldgen_sim.verify.verify import verify_world

        verified = verify_world(out_dir, cfg=cfg.verify).passed
    if item.variants:
        from worldgen_sim.randomize.randomize import randomize_world
        from worldgen_sim.randomize.randomize_cfg import load_randomize_config

        randomize_world(out_dir, variants=item.variants, seed=item.seed,
                        cfg=load_randomize_config(item.randomize_config))
    return verified


def _write_marker(out_dir: Path, record: dict) -> None:
    from worldgen_sim.staging import write_text_atomic

    write_text_atomic(out_dir / ITEM_MARKER, json.dumps(record, indent=1, sort_keys=True) + "\n")

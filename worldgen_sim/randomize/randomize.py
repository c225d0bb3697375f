"""``worldgen randomize``: many reproducible variants of one world, each a small layer over it.

Output, beside the base world's files::

    OUT/variants/variant_0000.usda ...    one layer per variant (sublayers ../world.usda)
    OUT/variants/appearance_palette.usdc  shared by every variant that tints the visual mesh
    OUT/variants.json                     seed, config, base world fingerprint, values per variant
    OUT/world_variants.usda               (on request) /World with a 'randomization' variant set

Each layer is written atomically and carries a resume key (seed, index, config,
base world); a later run with the same key keeps the layer and reads its values
back, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.randomize.randomize_cfg import RandomizeCfg
from worldgen_sim.randomize.sample import movable_objects, sample_variant
from worldgen_sim.randomize.world_info import WorldInfo, load_world_info
from worldgen_sim.randomize.write import (
    PALETTE_FILE,
    read_variant_record,
    write_palette_layer,
    write_variant,
    write_variant_set,
)

__all__ = ["RandomizeResult", "randomize_world", "variant_key"]

VARIANTS_DIR = "variants"
VARIANTS_JSON = "variants.json"
VARIANT_SET_FILE = "world_variants.usda"
FORMAT_VERSION = 1


@dataclass(eq=False)
class RandomizeResult:
    """What :func:`randomize_world` wrote.

    Attributes:
        variants: per variant, its sampled values (index order).
        written: how many layers this run wrote (the rest were kept from an earlier run).
        files: the variant layers, index order.
        summary_path: ``variants.json``.
    """

    variants: list[dict]
    written: int
    files: list[Path]
    summary_path: Path


def variant_key(world: WorldInfo, cfg: RandomizeCfg, *, seed: int, index: int) -> str:
    """The resume key of one variant: everything its layer depends on."""
    text = json.dumps({"format": FORMAT_VERSION, "world": world.fingerprint, "seed": int(seed), "index": int(index),
                       "config": dataclasses.asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def randomize_world(
    root: str | Path,
    *,
    variants: int,
    seed: int = 0,
    cfg: RandomizeCfg | None = None,
    workers: int = 1,
    variant_set: bool = False,
    progress: Progress | None = None,
) -> RandomizeResult:
    """Write ``variants`` variant layers of the world in ``root``.

    Args:
        root: the OUT of ``worldgen build``.
        variants: how many variants (>= 1).
        seed: the run's seed; variant ``i`` depends only on (world, config, seed, i).
        cfg: what varies (validated); defaults when None.
        workers: processes sampling and writing variants (the output does not depend on it).
        variant_set: also write ``world_variants.usda`` with a ``randomization`` variant set.
        progress: progress reporter; silent when None.

    Raises:
        WorldgenError: no world there, a bad option, or more object moves than movable objects.
    """
    cfg = cfg if cfg is not None else RandomizeCfg()
    cfg.validate()
    progress = progress if progress is not None else Progress(quiet=True)
    if variants < 1:
        raise WorldgenError(f"--variants must be >= 1, got {variants}")
    if workers < 1:
        raise WorldgenError(f"--workers must be >= 1, got {workers}")
    root = Path(root)
    with progress.stage("randomize: read the base world"):
        world = load_world_info(root)
    _check_against_world(world, cfg)
    out = root / VARIANTS_DIR
    out.mkdir(exist_ok=True)
    palette = None
    if cfg.appearance.enabled and world.has_visual:
        with progress.stage("randomize: appearance palette"):
            palette = write_palette_layer(out / PALETTE_FILE, root)
    jobs = [(index, variant_key(world, cfg, seed=seed, index=index)) for index in range(variants)]
    with progress.stage("randomize: variants"):
        records = _run(jobs, world=world, cfg=cfg, seed=seed, palette=palette, out=out, workers=workers,
                       progress=progress)
    files = [out / f"variant_{index:04d}.usda" for index in range(variants)]
    if variant_set:
        write_variant_set(root / VARIANT_SET_FILE, [f"{VARIANTS_DIR}/{f.name}" for f in files])
    summary = {
        "format": "worldgen_sim.variants", "version": FORMAT_VERSION, "seed": int(seed), "count": variants,
        "base_world": "world.usda", "base_fingerprint": world.fingerprint,
        "variant_set": VARIANT_SET_FILE if variant_set else None,
        "config": dataclasses.asdict(cfg), "variants": [r["values"] for r in records],
    }
    from worldgen_sim.staging import write_text_atomic

    summary_path = root / VARIANTS_JSON
    write_text_atomic(summary_path, json.dumps(summary, indent=1, sort_keys=True) + "\n")
    written = sum(1 for r in records if r["written"])
    progress.write(f"[worldgen] {variants} variants in {out} ({written} written, {variants - written} kept)")
    return RandomizeResult([r["values"] for r in records], written, files, summary_path)


def _check_against_world(world: WorldInfo, cfg: RandomizeCfg) -> None:
    if cfg.objects.enabled and cfg.objects.moves:
        movable = movable_objects(world, cfg)
        if cfg.objects.moves > len(movable):
            raise WorldgenError(
                f"randomize config: 'objects.moves' is {cfg.objects.moves} but {world.root} has only {len(movable)} "
                f"movable objects (classes {', '.join(cfg.objects.classes)}, colliders clear of the others by "
                f"'objects.penetration_tolerance'); lower it or widen 'objects.classes'"
            )
    unknown = sorted(set(cfg.physics.classes) - set(world.materials))
    if cfg.physics.enabled and unknown:
        raise WorldgenError(f"randomize config: 'physics.classes.{unknown[0]}' is not a material class of "
                            f"{world.root} (it has: {', '.join(sorted(world.materials))})")


def _run(jobs, *, world, cfg, seed, palette, out, workers, progress) -> list[dict]:
    if workers == 1 or len(jobs) < 2 * workers:
        records = []
        for done, job in enumerate(jobs, 1):
            records.append(_one(job, world, cfg, seed, palette, out))
            progress.step(done, len(jobs), "variants")
        return records
    import multiprocessing

    chunks = [jobs[i::workers] for i in range(workers)]
    context = multiprocessing.get_context("fork" if hasattr(__import__("os"), "fork") else "spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(world.root, cfg, seed, palette, out)) as pool:
        parts = pool.map(_worker_chunk, chunks)
    by_index = {record["values"]["index"]: record for part in parts for record in part}
    progress.step(len(jobs), len(jobs), "variants")
    return [by_index[index] for index, _ in jobs]


def _one(job, world, cfg, seed, palette, out) -> dict:
    index, key = job
    path = out / f"variant_{index:04d}.usda"
    if path.is_file():
        record = read_variant_record(path)
        if record is not None and record["key"] == key:
            return {"values": record["values"], "written": False}
    variant = sample_variant(world, cfg, seed=seed, index=index)
    write_variant(variant, path, world=world, key=key, palette=palette)
    return {"values": json.loads(json.dumps(variant.to_dict(), sort_keys=True)), "written": True}


_WORKER: dict = {}


def _init_worker(root, cfg, seed, palette, out) -> None:
    _WORKER.update(world=load_world_info(root), cfg=cfg, seed=seed, palette=palette, out=out)


def _worker_chunk(jobs) -> list[dict]:
    w = _WORKER
    return [_one(job, w["world"], w["cfg"], w["seed"], w["palette"], w["out"]) for job in jobs]


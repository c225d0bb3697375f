"""Scripted randomisation: reproducible variants of a built world, each a small USD layer over it.

Python API (pure and seeded: the same world, config, seed and index give a
byte-identical layer, whatever the order or the number of workers)::

    from worldgen_sim.randomize import load_randomize_config, load_world_info, sample_variant, write_variant

    world = load_world_info("out/kitchen")
    variant = sample_variant(world, load_randomize_config("randomize.yaml"), seed=0, index=7)

or the whole run, as ``worldgen randomize`` does it: :func:`randomize_world`.
"""

from __future__ import annotations

from worldgen_sim.randomize.randomize import RandomizeResult, randomize_world, variant_key
from worldgen_sim.randomize.randomize_cfg import RandomizeCfg, load_randomize_config
from worldgen_sim.randomize.sample import Variant, sample_variant
from worldgen_sim.randomize.world_info import WorldInfo, load_world_info
from worldgen_sim.randomize.write import read_variant_record, write_variant, write_variant_set

__all__ = [
    "RandomizeCfg",
    "RandomizeResult",
    "Variant",
    "WorldInfo",
    "load_randomize_config",
    "load_world_info",
    "randomize_world",
    "read_variant_record",
    "sample_variant",
    "variant_key",
    "write_variant",
    "write_variant_set",
]

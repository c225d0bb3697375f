"""Scripted randomisation: reproducible variants of a built world, each a small USD layer over it.

The whole run, as ``worldgen randomize`` does it: :func:`.randomize.randomize_world`.
The pure, seeded pieces (the same world, config, seed and index give a
byte-identical layer, whatever the order or the number of workers)::

    from worldgen_sim.randomize.randomize_cfg import load_randomize_config
    from worldgen_sim.randomize.sample import sample_variant
    from worldgen_sim.randomize.world_info import load_world_info
    from worldgen_sim.randomize.write import write_variant

    world = load_world_info("out/kitchen")
    variant = sample_variant(world, load_randomize_config("randomize.yaml"), seed=0, index=7)

Nothing is re-exported here (one import path per symbol): import from the modules.
"""

__all__ = ["isaaclab_terms", "placement", "pools", "randomize", "randomize_cfg", "sample", "world_info", "write"]

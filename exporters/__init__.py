"""USD and simulator exporters of worldgen_sim, installed as ``worldgen_sim.exporters``."""

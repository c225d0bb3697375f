"""USD and simulator exporters of worldgen_sim, installed as ``worldgen_sim.exporters``.

Nothing is re-exported here (one import path per symbol): import from the modules.
The list names them; ``from package import *`` loads them all (heavy libraries stay
inside the functions that use them).
"""

__all__ = [
    "stage_spawn",
    "usd_cfg",
    "usd_navigation",
    "usd_objects",
    "usd_physics",
    "usd_splats",
    "usd_stage",
    "usd_visual",
    "usd_world",
]

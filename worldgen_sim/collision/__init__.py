"""The collision stage (:func:`.collision.build_collision`): segmentation, box fits, CoACD
decomposition and physics materials; options in :mod:`.collision_cfg`.

Nothing is re-exported here (one import path per symbol): import from the modules.
The list names them; ``from package import *`` loads them all (heavy libraries stay
inside the functions that use them).
"""

__all__ = [
    "boxes",
    "collision",
    "collision_cfg",
    "decompose",
    "materials",
    "segment",
    "solidify",
]

"""The collision stage (:func:`.collision.build_collision`): ground and structure segmentation,
box fits, CoACD decomposition with retries, voxel covers and physics materials; options in
:mod:`.collision_cfg`.

Nothing is re-exported here (one import path per symbol): import from the modules.
The list names them; ``from package import *`` loads them all (heavy libraries stay
inside the functions that use them).
"""

__all__ = [
    "boxes",
    "collision",
    "collision_cfg",
    "cover",
    "decompose",
    "decompose_pool",
    "ground",
    "hulls",
    "materials",
    "mesh_ops",
    "planes",
    "segment",
    "solidify",
]

"""The alignment stage (:func:`.align.align_scene`): gravity, floor, scale, yaw and clean-up filters;
options in :mod:`.align_cfg`.

Nothing is re-exported here (one import path per symbol): import from the modules.
The list names them; ``from package import *`` loads them all (heavy libraries stay
inside the functions that use them).
"""

__all__ = [
    "align",
    "align_cfg",
    "filters",
    "floor",
    "ground",
    "levels",
    "transforms",
    "up",
]

"""The navigation stage (:func:`.navigation.build_navigation`): heightfield, walkable regions,
spawn points and the :class:`.navmap.NavigationMap` query API; options in :mod:`.navigation_cfg`.

Nothing is re-exported here (one import path per symbol): import from the modules.
The list names them; ``from package import *`` loads them all (heavy libraries stay
inside the functions that use them).
"""

__all__ = [
    "graph",
    "heightfield",
    "navigation",
    "navigation_cfg",
    "navmap",
    "outputs",
]

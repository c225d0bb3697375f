"""Input readers: Gaussian PLY files (:mod:`.gaussian_ply`, headers in :mod:`.ply_header`), camera paths
(:mod:`.cameras`), RGB-D folders (:mod:`.rgbd_folder`); :func:`.load.load_input` picks one; options
in :mod:`.input_cfg`.

Nothing is re-exported here (one import path per symbol): import from the modules.
The list names them; ``from package import *`` loads them all (heavy libraries stay
inside the functions that use them).
"""

__all__ = [
    "cameras",
    "gaussian_ply",
    "input_cfg",
    "load",
    "ply_header",
    "rgbd_folder",
    "trainer_cameras",
]

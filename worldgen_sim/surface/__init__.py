"""The surface stage (:func:`.surface.extract_surface`): depth images of the Gaussians (rasterised or
z-buffered), TSDF fusion and clean-up; options in :mod:`.surface_cfg`.

Nothing is re-exported here (one import path per symbol): import from the modules.
The list names them; ``from package import *`` loads them all (heavy libraries stay
inside the functions that use them).
"""

__all__ = [
    "cleanup",
    "coverage",
    "fusion",
    "fusion_torch",
    "render",
    "render_cpu",
    "render_gsplat",
    "render_project",
    "render_warp",
    "surface",
    "surface_cfg",
    "views",
    "zbuffer",
    "zbuffer_warp",
]

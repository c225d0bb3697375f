"""A cropped object capture: a statue-like blob on a pedestal, with no ground around it.

What a trainer leaves when the capture is cropped to the object: the pedestal's
sides end at its foot (z = 0) and nothing around it was kept. Written as an
INRIA 3DGS PLY (SH degree 3) in a Z-up metric frame. A build must say that
there is no ground (and how to add one), or stand it on a synthetic ground
when asked (``--add-ground``).
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.scenes.geometry import OBJECT, box_part, ellipsoids_part, tilt_rotation
from worldgen_sim.scenes.scene import Defects, Scene, assemble_scene, camera_path, look_at

__all__ = ["PEDESTAL", "make_statue"]

PEDESTAL = ((-0.25, -0.25, 0.0), (0.25, 0.25, 0.9))
"""The pedestal's bounds (lo, hi) [m]; its foot is at z = 0."""


def make_statue(*, seed: int = 0, spacing: float = 0.015, defects: Defects | None = None) -> Scene:
    """Build the cropped statue (about 25 k Gaussians at the default spacing)."""
    defects = defects or Defects(sh_degree=3)
    pedestal = box_part("pedestal", *PEDESTAL, kind=OBJECT, color=(0.7, 0.7, 0.68))
    # Base, torso, head and two arms: a lumpy, non-convex figure standing on the pedestal.
    blobs = [
        ((0.0, 0.0, 0.98), (0.2, 0.18, 0.09), (0.0, 0.0)),
        ((0.0, 0.0, 1.35), (0.17, 0.13, 0.34), (0.0, 0.0)),
        ((0.02, 0.0, 1.8), (0.11, 0.11, 0.13), (0.1, 0.0)),
        ((0.2, 0.0, 1.45), (0.06, 0.06, 0.26), (0.0, 0.5)),
        ((-0.2, 0.03, 1.45), (0.06, 0.06, 0.26), (0.2, -0.5)),
    ]
    figure = ellipsoids_part(
        "figure", [c for c, _, _ in blobs], [tilt_rotation(*a) for *_, a in blobs], [s for _, s, _ in blobs],
        kind=OBJECT, color=(0.75, 0.72, 0.65),
    )
    poses = [
        look_at((2.2 * np.cos(a), 2.2 * np.sin(a), 1.2 + 0.3 * (i % 2)), (0.0, 0.0, 0.9))
        for i, a in enumerate(np.radians(np.arange(8) * 45.0 + 250.0))
    ]
    return assemble_scene(
        "statue", [pedestal, figure], camera_path(poses), spacing=spacing, seed=seed, defects=defects,
        bounds=((-1.0, -1.0, 0.0), (1.0, 1.0, 2.2)), layout="inria", frame="z", input_scale=1.0,
    )

"""Realistic test scenes with ground truth: Gaussians with capture defects over analytic geometry.

One module per scene kind; :mod:`.surfels` is the surfel/defect/input-frame
code shared with the demo room (:mod:`worldgen_sim.samples`); :mod:`.truth`
computes ground-truth grids (walkable cells, observed ground, free space);
:mod:`.metrics` scores a built world package against them.

=============  =====================================================  ==============
name           what                                                   written as
=============  =====================================================  ==============
terrain        10 x 10 m rolling ground (< 6 deg), rocks, trunk, wall  Lyra 2.0 + sky
stairs         17 cm stairs and a 20 deg ramp to a 0.85 m platform     Lyra 1.0
floaters       furnished room with 1 % low-opacity floaters            INRIA SH3
cabinet        room with an unlidded cabinet taller than the cameras   Lyra 2.0
statue         cropped object capture: statue on a pedestal, no ground INRIA SH3
vegetation     4 x 4 m tile of stems, leaves and flowers (~15 k)       Lyra 2.0
plaza          statue on a pedestal on a plaza, background, splotches  INRIA SH3 in an
               (~150 k; ``density=7``: ~1 M)                          SfM frame
=============  =====================================================  ==============

Held-out geometry of the same kinds (the defaults are the scenes above, bit for bit):
``make_scene("terrain", layout_seed=k)`` (other waves, 4-5.5 deg, other rock / trunk / wall
places), ``make_scene("stairs", riser=, platform_height=, ramp_deg=, tread=)`` and
``make_scene("floaters", layout_seed=k)`` (another furniture layout).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worldgen_sim.errors import WorldgenError

__all__ = ["SCENE_NAMES", "make_scene"]

SCENE_NAMES = ("terrain", "stairs", "floaters", "cabinet", "statue", "vegetation", "plaza")
"""Scene kinds :func:`make_scene` builds."""


def make_scene(name: str, *, seed: int = 0, **options):
    """Build a scene by name (see the module docstring); ``options`` go to its ``make_*`` function.

    Raises:
        WorldgenError: an unknown name.
    """
    from worldgen_sim.scenes.plaza import make_plaza
    from worldgen_sim.scenes.room import make_cabinet_room, make_floaters_room
    from worldgen_sim.scenes.stairs import make_stairs
    from worldgen_sim.scenes.statue import make_statue
    from worldgen_sim.scenes.terrain import make_terrain
    from worldgen_sim.scenes.vegetation import make_vegetation

    makers: dict[str, Callable[..., Any]] = {  # their geometry options differ
        "terrain": make_terrain, "stairs": make_stairs, "floaters": make_floaters_room,
        "cabinet": make_cabinet_room, "statue": make_statue, "vegetation": make_vegetation,
        "plaza": make_plaza,
    }
    if name not in makers:
        raise WorldgenError(f"unknown scene '{name}'; expected one of {', '.join(SCENE_NAMES)}")
    return makers[name](seed=seed, **options)

"""Configuration of the alignment stage (gravity, floor, scale, clean-up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worldgen_sim.errors import WorldgenError
from worldgen_sim.validation import Checker

__all__ = ["AlignCfg"]


@dataclass
class AlignCfg:
    """How the input is brought into a Z-up metric world with the floor at z = 0.

    Attributes:
        up: the input frame's up convention: ``"opencv"`` (y down, z forward),
            ``"y"`` (y up), ``"z"`` (z up) or ``"auto"`` (every axis direction and
            the cameras' mean up are tried; the one with a plausible floor wins,
            the layout's convention only breaks ties; see ``align/up.py``).
        scale: world metres per input unit (set this or ``camera_height``, not both).
        camera_height: height of the input camera above the floor [m]; fixes the
            scale of relative-depth inputs.
        yaw: ``"camera"`` (input camera looks along +Y; falls back to ``"walls"``
            without a camera), ``"walls"`` (dominant wall directions on the X/Y
            axes, turning at most 45 deg) or ``"none"``.
        origin: where x = y = 0 goes: ``"floor"`` (centre of the floor's extent)
            or ``"camera"`` (under the input camera).
        floor_max_tilt_deg: floor candidates may tilt at most this much from the
            guessed up direction [deg].
        auto_up_max_tilt_deg: with ``up: auto``, the floor search of each axis
            direction tried reaches this far from it [deg]; 54.7 or more covers
            every direction (a Lyra frame is its first camera's: pitched down
            35 deg, its floor is 35 deg off -y). Ground off the floor plane
            (platforms, ramps) still tilts at most ``floor_max_tilt_deg``.
        floor_tolerance: floor inlier distance as a fraction of the scene's robust
            size (median distance of the points from their median point).
        floor_max_below: a floor candidate with more than this (opacity-weighted)
            fraction of the points clearly below it is not under the scene.
        floor_min_fraction: the floor must hold at least this weighted fraction of the points.
        floor_max_points: points used for the floor search at most (a random subset).
        floor_min_support: with ``up: auto``, a floor must have at least this
            (weighted) fraction of the scene over its ground (the floor's footprint
            and thin level surfaces at other heights: ``align/levels.py``) [0-1].
        floor_min_footprint: with ``up: auto``, that ground must cover at least this
            fraction of the scene's footprint area [0-1]; rejects a statue's plinth
            side or a wall taken for a floor (the figure beside it is no ground).
        add_ground: when no floor is found, stand the scene on a synthetic ground
            sheet of Gaussians at its lowest point (object captures such as a
            cropped statue) instead of failing.
        add_ground_margin: how far the synthetic ground reaches beyond the
            object's footprint, in object sizes (largest of footprint width and height).
        remove_floaters: drop low-opacity and isolated Gaussians.
        min_opacity: Gaussians below this opacity are floaters.
        isolation_radius: neighbourhood radius for the isolation test [m].
        isolation_min_neighbors: fewer other Gaussians than this within the radius is isolated.
        remove_sky: drop the far background / sky shell.
        sky_margin: Gaussians this far beyond the ground's horizontal extent (the floor's and that
            of level ground at other heights, e.g. a platform) are sky [m].
        max_height: Gaussians higher than this above the floor are sky [m].
        below_floor_margin: Gaussians more than this below the floor are sky [m].
        seed: random seed for the robust estimators.
        min_kept_fraction: the build fails when the sky and floater filters keep fewer
            than this fraction of the input Gaussians (in [0, 1]); most of a scene
            vanishing means a wrong scale or up axis, not a clean-up. Lower it for
            inputs that are mostly background; 0 only refuses an empty result.
    """

    up: Literal["auto", "opencv", "y", "z"] = "auto"
    scale: float | None = None
    camera_height: float | None = None
    yaw: Literal["camera", "walls", "none"] = "camera"
    origin: Literal["floor", "camera"] = "floor"
    floor_max_tilt_deg: float = 30.0
    auto_up_max_tilt_deg: float = 55.0
    floor_tolerance: float = 0.01
    floor_max_below: float = 0.05
    floor_min_fraction: float = 0.02
    floor_max_points: int = 1_000_000
    floor_min_support: float = 0.75
    floor_min_footprint: float = 0.8
    add_ground: bool = False
    add_ground_margin: float = 1.0
    remove_floaters: bool = True
    min_opacity: float = 0.05
    isolation_radius: float = 0.15
    isolation_min_neighbors: int = 4
    remove_sky: bool = True
    sky_margin: float = 1.0
    max_height: float = 6.0
    below_floor_margin: float = 0.5
    seed: int = 0
    min_kept_fraction: float = 0.2

    def validate(self) -> None:
        """Check every field (types, choices, ranges, scale sources); raises WorldgenError naming ``align.<field>``."""
        check = Checker(self, "align")
        if self.scale is not None and self.camera_height is not None:
            raise WorldgenError(
                f"align.scale ({self.scale:g}) and align.camera_height ({self.camera_height:g} m) are both set "
                "(--scale and --camera-height); each fixes the scale on its own: set one of them"
            )
        check.range("scale", ge=1e-6, le=1e6, unit="m per input unit")
        check.range("camera_height", gt=0, le=1000, unit="m")
        check.range("floor_max_tilt_deg", gt=0, lt=90, unit="deg")
        check.range("auto_up_max_tilt_deg", gt=0, lt=90, unit="deg")
        check.range("floor_tolerance", gt=0, lt=1, unit="fraction of the scene size")
        check.range("floor_max_below", ge=0, le=1)
        check.range("floor_min_fraction", gt=0, le=1)
        check.range("floor_max_points", ge=100)
        check.range("min_opacity", ge=0, le=1)
        check.range("isolation_radius", gt=0, unit="m")
        check.range("isolation_min_neighbors", ge=0)
        check.range("sky_margin", ge=0, unit="m")
        check.range("max_height", gt=0, unit="m")
        check.range("below_floor_margin", ge=0, unit="m")
        check.range("seed", ge=0)
        check.range("min_kept_fraction", ge=0, le=1)
        check.range("floor_min_support", ge=0, le=1)
        check.range("floor_min_footprint", ge=0, le=1)
        check.range("add_ground_margin", gt=0, unit="object sizes")

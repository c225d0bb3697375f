"""Configuration of the alignment stage (gravity, floor, scale, clean-up)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AlignCfg:
    """How the input is brought into a Z-up metric world with the floor at z = 0.

    Attributes:
        up: the input frame's up convention: ``"opencv"`` (y down, z forward),
            ``"y"`` (y up), ``"z"`` (z up) or ``"auto"`` (every axis direction and
            the cameras' mean up are tried; the one with a plausible floor wins,
            the layout's convention only breaks ties; see ``align/up.py``).
        scale: world metres per input unit; overrides ``camera_height``.
        camera_height: height of the input camera above the floor [m]; fixes the
            scale of relative-depth inputs.
        yaw: ``"camera"`` (input camera looks along +Y; falls back to ``"walls"``
            without a camera), ``"walls"`` (dominant wall directions on the X/Y
            axes, turning at most 45 deg) or ``"none"``.
        origin: where x = y = 0 goes: ``"floor"`` (centre of the floor's extent)
            or ``"camera"`` (under the input camera).
        floor_max_tilt_deg: floor candidates may tilt at most this much from the
            guessed up direction [deg].
        floor_tolerance: floor inlier distance as a fraction of the scene's robust
            size (median distance of the points from their median point).
        floor_max_below: a floor candidate with more than this (opacity-weighted)
            fraction of the points clearly below it is not under the scene.
        floor_min_fraction: the floor must hold at least this weighted fraction of the points.
        floor_max_points: points used for the floor search at most (a random subset).
        floor_min_support: with ``up: auto``, a floor must have at least this
            (weighted) fraction of the scene over its footprint [0-1]; rejects a
            statue's plinth side or a wall taken for a floor.
        floor_min_footprint: with ``up: auto``, a floor's filled footprint must cover at
            least this fraction of the scene's footprint area [0-1].
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
        sky_margin: Gaussians this far beyond the floor's horizontal extent are sky [m].
        max_height: Gaussians higher than this above the floor are sky [m].
        below_floor_margin: Gaussians more than this below the floor are sky [m].
        seed: random seed for the robust estimators.
    """

    up: str = "auto"
    scale: float | None = None
    camera_height: float | None = None
    yaw: str = "camera"
    origin: str = "floor"
    floor_max_tilt_deg: float = 30.0
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

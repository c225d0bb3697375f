"""Configuration of the alignment stage (gravity, floor, scale, clean-up)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AlignCfg:
    """How the input is brought into a Z-up metric world with the floor at z = 0.

    Attributes:
        up: the input frame's up convention: ``"opencv"`` (y down, z forward),
            ``"y"`` (y up), ``"z"`` (z up) or ``"auto"`` (the layout's guess:
            OpenCV for Lyra layouts, otherwise estimated from the geometry).
        scale: world metres per input unit; overrides ``camera_height``.
        camera_height: height of the input camera above the floor [m]; fixes the
            scale of relative-depth inputs.
        yaw: ``"camera"`` (input camera looks along +Y), ``"walls"`` (dominant
            wall directions on the X/Y axes) or ``"none"``.
        floor_max_tilt_deg: floor candidates may tilt at most this much from the
            guessed up direction [deg].
        remove_floaters: drop low-opacity and isolated Gaussians.
        min_opacity: Gaussians below this opacity are floaters.
        isolation_radius: neighbourhood radius for the isolation test [m].
        isolation_min_neighbors: fewer neighbours than this within the radius is isolated.
        remove_sky: drop the far background / sky shell.
        sky_margin: Gaussians this far beyond the floor's horizontal extent are sky [m].
        max_height: Gaussians higher than this above the floor are sky [m].
        seed: random seed for the robust estimators.
    """

    up: str = "auto"
    scale: float | None = None
    camera_height: float | None = None
    yaw: str = "camera"
    floor_max_tilt_deg: float = 30.0
    remove_floaters: bool = True
    min_opacity: float = 0.05
    isolation_radius: float = 0.25
    isolation_min_neighbors: int = 4
    remove_sky: bool = True
    sky_margin: float = 1.0
    max_height: float = 6.0
    seed: int = 0

"""Configuration of input loading (Gaussian PLY files and RGB-D folders)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class InputCfg:
    """How inputs are read.

    Attributes:
        layout: PLY layout, ``"auto"`` (detect from the header), ``"inria"``,
            ``"lyra2"`` or ``"lyra1"``.
        nonfinite: what to do with Gaussians holding NaN/Inf: ``"drop"`` (drop
            and count them) or ``"error"``.
        depth_scale: RGB-D depth PNG units per metre (1000 for millimetres).
        max_depth: RGB-D depth readings beyond this are ignored [m].
    """

    layout: str = "auto"
    nonfinite: str = "drop"
    depth_scale: float = 1000.0
    max_depth: float = 6.0

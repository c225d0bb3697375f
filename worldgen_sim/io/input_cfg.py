"""Configuration of input loading (Gaussian PLY files and RGB-D folders)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worldgen_sim.validation import Checker

__all__ = ["InputCfg"]


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

    layout: Literal["auto", "inria", "lyra2", "lyra1"] = "auto"
    nonfinite: Literal["drop", "error"] = "drop"
    depth_scale: float = 1000.0
    max_depth: float = 6.0

    def validate(self) -> None:
        """Check every field (types, choices, ranges); raises WorldgenError naming ``input.<field>``."""
        check = Checker(self, "input")
        check.range("depth_scale", gt=0, unit="depth units per metre")
        check.range("max_depth", gt=0, unit="m")

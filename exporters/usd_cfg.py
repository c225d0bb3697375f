"""Configuration of the USD world package writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worldgen_sim.validation import Checker

__all__ = ["UsdCfg"]


@dataclass
class UsdCfg:
    """How the world package is written.

    Attributes:
        splats: write the Gaussian splat layer.
        half_precision: write splat attributes as half floats (the ``...h`` twins).
        splat_format: ``"usdc"`` (binary crate, fast and small) or ``"usda"`` (text).
    """

    splats: bool = True
    half_precision: bool = False
    splat_format: Literal["usdc", "usda"] = "usdc"

    def validate(self) -> None:
        """Check every field (types, choices); raises WorldgenError naming ``usd.<field>``."""
        Checker(self, "usd")

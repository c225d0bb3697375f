"""Configuration of the USD world package writer."""

from __future__ import annotations

from dataclasses import dataclass


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
    splat_format: str = "usdc"

"""Isaac Sim extension shell of worldgen_sim; all logic lives in the Kit-free core."""

from .extension import WorldgenSimExtension

__all__ = ["WorldgenSimExtension"]

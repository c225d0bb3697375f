"""Configuration of the viewer's pictures written by builds: ``preview.png``."""

from __future__ import annotations

from dataclasses import dataclass

from worldgen_sim.validation import Checker

__all__ = ["ViewerCfg"]


@dataclass
class ViewerCfg:
    """``preview.png`` (top view + input view) beside ``world.json``.

    Attributes:
        preview: write ``preview.png`` at the end of ``worldgen build`` (``--preview``); off by
            default, so a default build spends no time on it. ``worldgen verify --preview``
            writes it too, with the drop-test probes.
        preview_width: width of each of the two views [px].
        preview_height: height of each view [px].
        max_points: most splat centres drawn (seeded subsample beyond it).
    """

    preview: bool = False
    preview_width: int = 640
    preview_height: int = 480
    max_points: int = 300_000

    def validate(self) -> None:
        """Check every field; raises WorldgenError naming ``viewer.<field>``."""
        check = Checker(self, "viewer")
        check.range("preview_width", ge=16, le=8192, unit="px")
        check.range("preview_height", ge=16, le=8192, unit="px")
        check.range("max_points", ge=0)

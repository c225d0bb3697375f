"""Configuration of process-wide settings for one build: how many CPU threads the numeric libraries use."""

from __future__ import annotations

from dataclasses import dataclass

from worldgen_sim.validation import Checker

__all__ = ["RuntimeCfg"]


@dataclass
class RuntimeCfg:
    """Settings applied once when a build starts and put back when it ends (:func:`worldgen_sim.runtime.thread_limits`).

    Attributes:
        num_threads: CPU threads for torch (the CPU rasteriser, depth models; warp's CPU z-buffer sizes its
            pool from it) and, when ``threadpoolctl`` is installed, for the OpenMP and BLAS pools of numpy,
            scipy and open3d (``--threads``). On a machine shared with other jobs a small count avoids the
            stalls of thread pools spinning for busy cores (the CPU rasteriser took 8.4 s of CPU with 2
            threads vs 1.5 s with 1 on two loaded cores). None: each library's own default.
    """

    num_threads: int | None = None

    def validate(self) -> None:
        """Check every field; raises WorldgenError naming ``runtime.<field>``."""
        check = Checker(self, "runtime")
        check.range("num_threads", ge=1, le=4096)

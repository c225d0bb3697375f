"""Isaac Sim extension of worldgen_sim: a headless API, a Worldgen window, menu items.

Everything decided here lives in Kit-free modules tested on CPU
(:mod:`.api`, :mod:`.form`); :mod:`.extension` and :mod:`.window` only bind
them to Kit, and are imported only where Kit is running.
"""

from __future__ import annotations

from .api import SpawnResult, build, build_and_spawn, spawn
from .form import AGENT_PRESETS, BuildForm, BuildJob, JobState, input_kind

__all__ = ["AGENT_PRESETS", "BuildForm", "BuildJob", "JobState", "SpawnResult", "build", "build_and_spawn",
           "input_kind",
           "spawn"]

try:  # Kit finds the extension class in this module; outside Kit there is no omni.ext
    from .extension import WorldgenSimExtension, extension_state

    __all__ += ["WorldgenSimExtension", "extension_state"]
except ImportError:
    pass

"""The extension's headless API: build a world and spawn it into a stage, no UI involved.

Kit-free: it needs a ``Usd.Stage`` (Kit's, through ``omni.usd``, or any
usd-core stage) and ``worldgen_sim``. Kit commands and the window call this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SpawnResult", "build", "build_and_spawn", "spawn"]


@dataclass
class SpawnResult:
    """A built and spawned world.

    Attributes:
        world_usd: the built ``world.usda``.
        prim_path: where it was referenced into the stage.
        stage: the stage it was spawned into.
        summary: the build's ``world.json`` contents.
    """

    world_usd: Path
    prim_path: str
    stage: object
    summary: dict


def build_and_spawn(input_path: str | Path, out_dir: str | Path, *, stage=None, overrides: dict | None = None,
                    config: str | Path | None = None, progress=None) -> SpawnResult:  # fmt: skip
    """Build a world package from ``input_path`` into ``out_dir`` and reference it into ``stage``.

    Args:
        input_path: a Gaussian PLY, an RGB-D folder or another input ``worldgen build`` accepts.
        out_dir: the world package folder (replaced atomically).
        stage: the ``Usd.Stage`` to spawn into; None takes Kit's open stage (``omni.usd``).
        overrides: dotted config keys, e.g. ``{"align.camera_height": 1.5}``.
        config: a YAML config file.
        progress: a ``worldgen_sim.Progress``; silent when None.

    Raises:
        WorldgenError: bad input or options, or no stage to spawn into.
    """
    stage = _stage_or_kit(stage)  # fail before a long build when there is nowhere to spawn
    built = build(input_path, out_dir, overrides=overrides, config=config, progress=progress)
    return spawn(built, stage=stage)


def build(input_path: str | Path, out_dir: str | Path, *, overrides: dict | None = None,
          config: str | Path | None = None, progress=None):  # fmt: skip
    """Build the world package (no stage involved; safe on a worker thread). Returns the ``BuildResult``."""
    from worldgen_sim.config import load_config
    from worldgen_sim.pipeline import build_world

    cfg = load_config(config, overrides=dict(overrides or {}))
    return build_world(input_path, out_dir, cfg=cfg, progress=progress)


def spawn(built, *, stage=None) -> SpawnResult:
    """Reference a built world (a ``BuildResult``) into ``stage`` (Kit's open stage when None).

    Stage edits belong on Kit's main thread: the window calls this from its frame update.
    """
    from worldgen_sim.exporters.stage_spawn import spawn_world

    stage = _stage_or_kit(stage)
    prim_path = spawn_world(stage, built.world_usd)
    return SpawnResult(world_usd=Path(built.world_usd), prim_path=prim_path, stage=stage, summary=built.summary)


def _stage_or_kit(stage):
    from worldgen_sim.errors import WorldgenError

    if stage is not None:
        return stage
    try:
        import omni.usd
    except ImportError:
        raise WorldgenError("no stage given and omni.usd is not loaded: pass stage=Usd.Stage") from None
    stage = omni.usd.get_context().get_stage()
    if stage is None:
        raise WorldgenError("no stage is open in Kit: open or create one first")
    return stage

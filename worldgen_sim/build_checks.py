"""A world is what it says, or the build fails: the checks :mod:`worldgen_sim.pipeline` runs around the stages.

* :func:`preflight`, before any data is read: the output path (see
  :func:`worldgen_sim.staging.check_target`), the input exists, a PLY's header
  (readable, fits in memory) and a scale source for relative-depth layouts.
* :func:`check_aligned`, after alignment: the world has a plausible size (an
  absurd ``--scale``, ``--camera-height`` or input coordinates give an error
  naming the scale and where it came from, not an empty ``/World``) and kept at
  least ``align.min_kept_fraction`` of the input Gaussians.
* :func:`check_layers`, before the world layer is written: something to put in it.

Stage configs are validated where they are loaded (``worldgen_sim.config``); a
stage that was asked for and fails raises; ``--no-…`` or ``enabled: false`` is how
a stage is left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import AlignedScene
from worldgen_sim.config import WorldgenCfg
from worldgen_sim.errors import WorldgenError
from worldgen_sim.staging import check_target

__all__ = ["MAX_WORLD_SIZE_M", "MIN_WORLD_SIZE_M", "check_aligned", "check_layers", "preflight"]

MIN_WORLD_SIZE_M = 0.05
"""A world whose floor spans less than this [m] is a scale mistake, not a scene."""
MAX_WORLD_SIZE_M = 10_000.0
"""A world larger than this [m] is a scale mistake (and past float32 precision of physics engines)."""


def preflight(input_path: Path, out_dir: str | Path, *, cfg: WorldgenCfg) -> None:
    """Check the output path and the input's header before anything is read or written.

    Raises:
        WorldgenError: see :func:`~worldgen_sim.staging.check_target`; a missing input;
            a PLY header that is malformed, promises more than the file holds or more
            Gaussians than fit in memory; a relative-depth layout without a scale source.
    """
    if not input_path.exists():
        raise WorldgenError(f"input '{input_path}' does not exist; expected a Gaussian .ply file or an RGB-D folder")
    check_target(out_dir, inputs=[input_path])
    if input_path.is_file() and input_path.suffix.lower() == ".ply":
        from worldgen_sim.io.ply_header import RELATIVE_DEPTH_LAYOUTS, check_read_memory, inspect_gaussian_ply

        info = inspect_gaussian_ply(input_path, layout=cfg.input.layout)
        check_read_memory(info)
        if (info.layout in RELATIVE_DEPTH_LAYOUTS and cfg.align.scale is None and cfg.align.camera_height is None
                and not _has_trainer_cameras(input_path)):
            raise WorldgenError(
                f"{input_path}: a '{info.layout}' PLY (Lyra 1.0) holds relative depth, so its size in metres is "
                "unknown; give the input camera's height above the floor with --camera-height H [m] "
                "(align.camera_height) or the metres per input unit with --scale S (align.scale); a 3DGS export "
                "without normals has the same 14 properties: for a metric one give --scale 1"
            )


def _has_trainer_cameras(ply: Path) -> bool:
    """A trainer's camera file beside the PLY: then it is a 3DGS export, not Lyra 1.0, and the file says the scale."""
    from worldgen_sim.io.trainer_cameras import find_trainer_cameras

    try:
        return find_trainer_cameras(ply) is not None
    except WorldgenError:
        return True  # a broken camera file is reported, naming it, when the input is loaded


def check_aligned(aligned: AlignedScene, *, cfg: WorldgenCfg, source: Path) -> None:
    """Refuse an aligned scene of implausible size or one that lost most of its Gaussians.

    Raises:
        WorldgenError: naming the size or the counts, the scale and its source.
    """
    report = aligned.report
    scale_text = (
        f"scale {aligned.scale:.4g} m per input unit from {report.get('scale_source', 'the options')}; "
        "check --scale / --camera-height (align.scale / align.camera_height) and the input's units"
    )
    size = _world_size(aligned)
    if not np.isfinite(size) or not MIN_WORLD_SIZE_M <= size <= MAX_WORLD_SIZE_M:
        raise WorldgenError(
            f"{source}: the aligned world would be {size:.3g} m across, outside the plausible "
            f"{MIN_WORLD_SIZE_M:g}..{MAX_WORLD_SIZE_M:g} m ({scale_text})"
        )
    total = report.get("input_gaussians")
    if not total:
        return  # RGB-D input: nothing is filtered
    kept = int(report.get("kept", 0))
    if kept == 0 or kept < cfg.align.min_kept_fraction * total:
        removed = ", ".join(
            f"{name.removeprefix('removed_').replace('_', ' ')} {count}"
            for name, count in report.items()
            if name.startswith("removed_") and count
        )
        raise WorldgenError(
            f"{source}: alignment kept {kept} of {total} Gaussians ({kept / total:.1%}), under "
            f"align.min_kept_fraction {cfg.align.min_kept_fraction:g} (removed: {removed or 'none'}); "
            f"with {scale_text}; keep them with --no-sky / --no-floaters or lower align.min_kept_fraction"
        )


def _world_size(aligned: AlignedScene) -> float:
    """Largest horizontal extent of the floor found [m] (the floor is what sizes a scene)."""
    extent = aligned.report.get("floor_extent_world")
    if extent is None:
        return float("nan")
    low, high = np.asarray(extent, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        return float(np.max(high - low))


def check_layers(layers: list[str], *, source: Path, skipped: dict[str, str]) -> None:
    """Refuse to write a world with no layers (no splats, no mesh).

    Raises:
        WorldgenError: naming what was left out and why.
    """
    if layers:
        return
    why = "; ".join(f"{stage}: {reason}" for stage, reason in skipped.items()) or "no stage produced output"
    raise WorldgenError(
        f"{source}: the build would produce an empty world (no splats, no mesh; {why}); "
        "turn the surface stage on (drop --no-mesh) or give a Gaussian input"
    )

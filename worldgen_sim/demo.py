"""The bundled demos: one real RGB-D picture (the default) and the synthetic sample room.

``worldgen demo`` builds the first frame of Open3D's Redwood living-room RGB-D
sample, shipped in ``worldgen_sim/data/redwood_frame0`` (MIT, see the README
there): one picture becomes a world, offline, with what the view cannot see
completed. ``worldgen demo --sample-room`` builds the synthetic room handed
over the way Lyra 2.0 would hand it over.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_INPUT_SCALE", "DEMO_SPACING", "demo_frame_folder", "write_demo_input"]

DEMO_FRAME = "redwood_frame0"
"""Folder under ``worldgen_sim/data`` holding the demo's RGB-D frame."""


def demo_frame_folder() -> Path:
    """The bundled one-frame RGB-D folder (colour JPEG, 16-bit depth PNG in mm, intrinsics, pose)."""
    return Path(__file__).resolve().parent / "data" / DEMO_FRAME

DEMO_SPACING = 0.04
"""Gaussian spacing of the demo room [m]: about 80 k Gaussians, a build of well under a minute on 2 cores."""

DEMO_INPUT_SCALE = 0.8
"""Input units per metre: the demo input is deliberately not metric, as a relative-depth generator's is."""


def write_demo_input(folder: Path, *, seed: int = 0) -> tuple[Path, float]:
    """Write the sample room as a Lyra 2.0 PLY (OpenCV camera frame, non-metric) into ``folder``.

    The room gets floaters and a far sky shell so the demo exercises every clean-up filter.

    Args:
        folder: an existing folder to write ``reconstructed_scene.ply`` into.
        seed: scene seed.

    Returns:
        The PLY path and the true camera height above the floor [m], which
        fixes the metric scale as ``--camera-height`` would.
    """
    from worldgen_sim.io.gaussian_ply import write_gaussian_ply
    from worldgen_sim.samples import make_sample_room

    room = make_sample_room(seed=seed, spacing=DEMO_SPACING, num_floaters=1500, num_sky=3000)
    cloud, _ = room.to_input_frame(scale=DEMO_INPUT_SCALE, frame="opencv")
    path = Path(folder) / "reconstructed_scene.ply"
    write_gaussian_ply(path, cloud, layout="lyra2")
    return path, room.camera_height

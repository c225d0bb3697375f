"""The load step: a PLY file or an RGB-D folder -> :class:`~worldgen_sim.artifacts.SceneInput`.

``default_up`` is the frame guess alignment uses when ``align.up`` is ``"auto"``:
``"opencv"`` for the Lyra layouts (their Gaussians live in an OpenCV camera
frame: y down, z forward) and ``"auto"`` for generic INRIA 3DGS files, whose frame
depends on the trainer and the SfM run, so alignment must estimate it from the
geometry.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from worldgen_sim.artifacts import SceneInput
from worldgen_sim.errors import WorldgenError
from worldgen_sim.io.input_cfg import InputCfg

log = logging.getLogger(__name__)

CAMERAS_FILE = "cameras.npz"
_DEFAULT_UP = {"lyra2": "opencv", "lyra1": "opencv", "inria": "auto"}
_HASH_CHUNK = 8 << 20


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 8 MB chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise WorldgenError(f"{path}: cannot read file ({exc.strerror})") from None
    return digest.hexdigest()


def load_input(path: str | Path, *, cfg: InputCfg, progress=None) -> SceneInput:
    """Load a scene input.

    Args:
        path: a Gaussian ``.ply`` file (a sibling ``cameras.npz`` is loaded as the
            camera path when present) or an RGB-D folder.
        cfg: layout and NaN/Inf policy for PLY files, depth settings for folders.
        progress: optional :class:`~worldgen_sim.progress.Progress`.

    Returns:
        The :class:`SceneInput` in the input's own frame and units.

    Raises:
        WorldgenError: a missing path, an unsupported file type, or any problem the
            PLY/camera/RGB-D readers report.
    """
    cfg.validate()
    path = Path(path)
    if path.is_dir():
        from worldgen_sim.io.rgbd_folder import read_rgbd_folder

        return read_rgbd_folder(path, cfg=cfg)
    if not path.exists():
        raise WorldgenError(f"{path}: input does not exist; expected a Gaussian .ply file or an RGB-D folder")
    if path.suffix.lower() != ".ply":
        raise WorldgenError(f"{path}: unsupported input type '{path.suffix}'; expected a .ply file or an RGB-D folder")

    from worldgen_sim.io.cameras import read_camera_npz
    from worldgen_sim.io.gaussian_ply import read_gaussian_ply

    cloud, info = read_gaussian_ply(path, layout=cfg.layout, nonfinite=cfg.nonfinite, progress=progress)
    if progress is not None and info.dropped_invalid:
        log.warning("%s: dropped %d Gaussians holding NaN/Inf values (input.nonfinite = drop)", path,
                    info.dropped_invalid)
    cameras_path = path.with_name(CAMERAS_FILE)
    cameras = read_camera_npz(cameras_path) if cameras_path.is_file() else None
    return SceneInput(
        source=path,
        sha256=file_sha256(path),
        layout=info.layout,
        gaussians=cloud,
        cameras=cameras,
        default_up=_DEFAULT_UP[info.layout],
        dropped_invalid=info.dropped_invalid,
    )

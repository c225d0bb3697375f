"""Camera paths stored next to generated scenes (Lyra 2.0's ``cameras.npz``).

Lyra 2.0 (``lyra_2/_src/inference/vipe_da3_gs_recon.py``) saves ``cameras.npz``
beside ``reconstructed_scene.ply`` with OpenCV world-to-camera matrices
``w2c_render`` (M, 4, 4) and, depending on the run, ``intrinsics_vipe`` (M, 3, 3)
(VIPE poses) or ``intrinsics_render`` (M, 3, 3) (``--no_vipe``), plus other
per-stage arrays (``w2c_vipe``, ``w2c_da3``, ``intrinsics_da3``, ``indices_*``, ``fps``).
It stores no image size.

:func:`read_camera_npz` accepts, in this order of preference:

1. Lyra 2.0: ``w2c_render`` with ``intrinsics_render`` or ``intrinsics_vipe``;
   else ``w2c_vipe`` + ``intrinsics_vipe``, ``w2c_da3`` + ``intrinsics_da3``,
   ``w2c_da3_pred`` + ``intrinsics_da3_pred``.
2. Generic: ``c2w`` / ``cam_to_world`` (camera-to-world) or ``extrinsics`` / ``w2c``
   (world-to-camera), each (M, 4, 4) or (M, 3, 4), with ``intrinsics`` / ``K``:
   (M, 3, 3), one (3, 3) for all, or (M, 4) rows ``fx fy cx cy``.

Image size comes from ``width`` and ``height`` (or ``image_size`` / ``hw`` = (H, W))
when present, else from the principal point (W = 2 cx, H = 2 cy, rounded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import CameraPath
from worldgen_sim.errors import WorldgenError

_LYRA_PAIRS = [
    ("w2c_render", "intrinsics_render"),
    ("w2c_render", "intrinsics_vipe"),
    ("w2c_vipe", "intrinsics_vipe"),
    ("w2c_da3", "intrinsics_da3"),
    ("w2c_da3_pred", "intrinsics_da3_pred"),
]
_C2W_KEYS = ("c2w", "cam_to_world")
_W2C_KEYS = ("extrinsics", "w2c")
_K_KEYS = ("intrinsics", "K")


def read_camera_npz(path: str | Path) -> CameraPath:
    """Read a camera path from an ``.npz`` file (formats in the module docstring).

    Args:
        path: the ``.npz`` file.

    Returns:
        A :class:`CameraPath`: (M, 3, 3) float64 intrinsics, (M, 4, 4) float64
        camera-to-world transforms (OpenCV camera axes), image width/height [px].

    Raises:
        WorldgenError: unreadable file, no recognised pose/intrinsics keys, wrong
            shapes, non-finite or singular matrices, mismatched camera counts.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key]) for key in data.files}
    except (OSError, ValueError) as exc:
        raise WorldgenError(f"{path}: cannot read camera file ({exc})") from None

    pose_key, k_key, is_c2w = _choose_keys(path, arrays)
    poses = _as_4x4(path, pose_key, arrays[pose_key])
    intrinsics = _as_k(path, k_key, arrays[k_key], len(poses))
    if not (np.isfinite(poses).all() and np.isfinite(intrinsics).all()):
        raise WorldgenError(f"{path}: '{pose_key}' or '{k_key}' holds NaN/Inf values")
    if is_c2w:
        cam_to_world = poses
    else:
        if np.any(np.abs(np.linalg.det(poses[:, :3, :3])) < 1e-12):
            raise WorldgenError(f"{path}: '{pose_key}' holds a singular world-to-camera matrix")
        cam_to_world = np.linalg.inv(poses)
    width, height = _image_size(path, arrays, intrinsics)
    return CameraPath(intrinsics=intrinsics, cam_to_world=cam_to_world, width=width, height=height)


def _choose_keys(path: Path, arrays: dict) -> tuple[str, str, bool]:
    for pose_key, k_key in _LYRA_PAIRS:
        if pose_key in arrays and k_key in arrays:
            return pose_key, k_key, False
    k_key = next((k for k in _K_KEYS if k in arrays), None)
    pose_key = next((k for k in _C2W_KEYS if k in arrays), None)
    is_c2w = pose_key is not None
    if pose_key is None:
        pose_key = next((k for k in _W2C_KEYS if k in arrays), None)
    if pose_key is None or k_key is None:
        raise WorldgenError(
            f"{path}: no camera poses and intrinsics found (keys: {', '.join(sorted(arrays)) or 'none'}); expected "
            "Lyra 2.0's w2c_render + intrinsics_vipe/intrinsics_render, or c2w/cam_to_world/extrinsics/w2c "
            "(M, 4, 4) with intrinsics/K (M, 3, 3)"
        )
    return pose_key, k_key, is_c2w


def _as_4x4(path: Path, key: str, poses: np.ndarray) -> np.ndarray:
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim == 2:
        poses = poses[None]
    if poses.ndim != 3 or poses.shape[1:] not in ((4, 4), (3, 4)) or poses.shape[0] == 0:
        raise WorldgenError(f"{path}: '{key}' has shape {poses.shape}; expected (M, 4, 4) or (M, 3, 4) with M >= 1")
    if poses.shape[1] == 3:
        full = np.zeros((poses.shape[0], 4, 4))
        full[:, :3] = poses
        full[:, 3, 3] = 1.0
        poses = full
    return poses


def _as_k(path: Path, key: str, values: np.ndarray, count: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.shape == (3, 3):
        values = np.broadcast_to(values, (count, 3, 3)).copy()
    elif values.ndim == 2 and values.shape[1] == 4:
        fx, fy, cx, cy = values.T
        values = np.zeros((values.shape[0], 3, 3))
        values[:, 0, 0], values[:, 1, 1], values[:, 0, 2], values[:, 1, 2] = fx, fy, cx, cy
        values[:, 2, 2] = 1.0
    if values.ndim != 3 or values.shape[1:] != (3, 3):
        raise WorldgenError(
            f"{path}: '{key}' has shape {values.shape}; expected (M, 3, 3), (3, 3) or (M, 4) fx fy cx cy"
        )
    if values.shape[0] != count:
        raise WorldgenError(f"{path}: '{key}' holds {values.shape[0]} cameras but the poses hold {count}")
    if np.any(values[:, 0, 0] <= 0) or np.any(values[:, 1, 1] <= 0):
        raise WorldgenError(f"{path}: '{key}' has non-positive focal lengths")
    return values


def _image_size(path: Path, arrays: dict, intrinsics: np.ndarray) -> tuple[int, int]:
    if "width" in arrays and "height" in arrays:
        return int(np.asarray(arrays["width"]).reshape(-1)[0]), int(np.asarray(arrays["height"]).reshape(-1)[0])
    for key in ("image_size", "hw"):
        if key in arrays:
            size = np.asarray(arrays[key]).reshape(-1)
            if size.shape[0] < 2:
                raise WorldgenError(f"{path}: '{key}' must hold (height, width)")
            return int(size[1]), int(size[0])
    width = int(round(2.0 * float(intrinsics[0, 0, 2])))
    height = int(round(2.0 * float(intrinsics[0, 1, 2])))
    if width <= 0 or height <= 0:
        raise WorldgenError(f"{path}: cannot infer the image size from the principal point; store width and height")
    return width, height

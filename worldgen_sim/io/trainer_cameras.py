"""Camera files that 3DGS trainers write beside their PLY: up direction, scale and camera height.

**INRIA 3DGS** (``graphdeco-inria/gaussian-splatting``, ``utils/camera_utils.py``
``camera_to_JSON``) writes ``cameras.json`` in the model folder, two levels
above ``point_cloud/iteration_N/point_cloud.ply``: a list of
``{id, img_name, width, height, position, rotation, fx, fy}`` where
``position`` (3,) is the camera centre and ``rotation`` (3, 3) the
camera-to-world rotation (rows), both in the frame of the PLY (the SfM frame),
with COLMAP's OpenCV camera axes (x right, y down, z forward). Focal lengths are
in pixels; the principal point is the image centre.

**nerfstudio** (``nerfstudio-project/nerfstudio``): ``transforms.json`` holds
``frames[].transform_matrix`` (4, 4) camera-to-world in the OpenGL camera
convention (x right, y up, z backwards) with intrinsics ``fl_x fl_y cx cy w h``
at the top level or per frame. splatfacto trains in the dataparser's frame and
``ns-export gaussian-splat`` writes ``model.means`` unchanged, so the PLY lives
in that frame; ``dataparser_transforms.json`` holds the ``transform`` (3, 4) and
``scale`` that took the poses there: ``c2w' = transform @ c2w``, then
``c2w'[:3, 3] *= scale``. Undoing the scale gives the units of the capture's
poses (metres for phone captures with metric poses), so it is reported as
:attr:`TrainerCameras.metres_per_unit`. Without ``dataparser_transforms.json``
the PLY is taken to be in the poses' own frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import CameraPath
from worldgen_sim.errors import WorldgenError

__all__ = ["TrainerCameras", "find_trainer_cameras", "read_inria_cameras", "read_nerfstudio_cameras"]

INRIA_FILE = "cameras.json"
NERFSTUDIO_FILE = "transforms.json"
DATAPARSER_FILE = "dataparser_transforms.json"
_OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])  # flips the camera's y and z axes


@dataclass(eq=False)
class TrainerCameras:
    """Cameras read from a trainer's files, in the PLY's frame.

    Attributes:
        cameras: OpenCV camera-to-world poses and pinhole intrinsics.
        source: the file(s) they came from, for the report.
        metres_per_unit: world metres per PLY unit if the files state it, else None.
    """

    cameras: CameraPath
    source: str
    metres_per_unit: float | None = None


def find_trainer_cameras(ply: Path) -> TrainerCameras | None:
    """The camera file of a trainer beside ``ply`` (INRIA's model folder or the PLY's folder), or None."""
    folders = [ply.parent]
    if ply.parent.parent.name == "point_cloud":  # INRIA: MODEL/point_cloud/iteration_N/point_cloud.ply
        folders.append(ply.parent.parent.parent)
    for folder in folders:
        if (folder / INRIA_FILE).is_file():
            return read_inria_cameras(folder / INRIA_FILE)
        if (folder / NERFSTUDIO_FILE).is_file():
            dataparser = folder / DATAPARSER_FILE
            return read_nerfstudio_cameras(folder / NERFSTUDIO_FILE, dataparser if dataparser.is_file() else None)
    return None


def read_inria_cameras(path: Path) -> TrainerCameras:
    """Read INRIA 3DGS ``cameras.json`` (format in the module docstring).

    Raises:
        WorldgenError: unreadable JSON, not a list of cameras, missing or malformed fields.
    """
    entries = _load_json(path)
    if not isinstance(entries, list) or not entries:
        raise WorldgenError(f"{path}: expected a non-empty list of cameras (INRIA 3DGS cameras.json)")
    poses, intrinsics, sizes = [], [], []
    for index, entry in enumerate(entries):
        where = f"{path}: camera {index}"
        if not isinstance(entry, dict):
            raise WorldgenError(f"{where}: expected an object with position, rotation, fx, fy, width, height")
        rotation = _array(entry, "rotation", (3, 3), where)
        pose = np.eye(4)
        pose[:3, :3] = rotation
        pose[:3, 3] = _array(entry, "position", (3,), where)
        width, height = int(_number(entry, "width", where)), int(_number(entry, "height", where))
        fx, fy = _number(entry, "fx", where), _number(entry, "fy", where)
        intrinsics.append(_pinhole(fx, fy, width / 2, height / 2, where))
        poses.append(pose)
        sizes.append((width, height))
    cameras = CameraPath(np.stack(intrinsics), np.stack(poses), *sizes[0])
    return TrainerCameras(cameras, str(path))


def read_nerfstudio_cameras(path: Path, dataparser: Path | None = None) -> TrainerCameras:
    """Read nerfstudio ``transforms.json`` (+ ``dataparser_transforms.json``) into the PLY's frame.

    Raises:
        WorldgenError: unreadable JSON, no frames, missing intrinsics or malformed matrices.
    """
    data = _load_json(path)
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list) or not frames:
        raise WorldgenError(f"{path}: expected an object with a non-empty 'frames' list (nerfstudio transforms.json)")
    poses, intrinsics = [], []
    for index, frame in enumerate(frames):
        where = f"{path}: frames[{index}]"
        if not isinstance(frame, dict):
            raise WorldgenError(f"{where}: expected an object with transform_matrix")
        pose = _array(frame, "transform_matrix", None, where)
        if pose.shape not in ((4, 4), (3, 4)):
            raise WorldgenError(f"{where}: 'transform_matrix' has shape {pose.shape}; expected (4, 4)")
        full = np.eye(4)
        full[: pose.shape[0]] = pose
        poses.append(full @ _OPENGL_TO_OPENCV)

        def value(key, frame=frame, where=where):
            source = frame if key in frame else data
            return _number(source, key, f"{where} (or the top level)")

        intrinsics.append(_pinhole(value("fl_x"), value("fl_y"), value("cx"), value("cy"), where))
        width, height = int(value("w")), int(value("h"))
    poses = np.stack(poses)
    source, metres_per_unit = str(path), None
    if dataparser is not None:
        transform, scale = _read_dataparser(dataparser)
        poses = np.einsum("ij,mjk->mik", transform, poses)
        poses[:, :3, 3] *= scale
        source, metres_per_unit = f"{path} + {dataparser.name}", 1.0 / scale
    return TrainerCameras(CameraPath(np.stack(intrinsics), poses, width, height), source, metres_per_unit)


def _read_dataparser(path: Path) -> tuple[np.ndarray, float]:
    """(4, 4) transform and the scale of ``dataparser_transforms.json``."""
    data = _load_json(path)
    if not isinstance(data, dict):
        raise WorldgenError(f"{path}: expected an object with 'transform' (3, 4) and 'scale'")
    transform = _array(data, "transform", None, str(path))
    if transform.shape not in ((3, 4), (4, 4)):
        raise WorldgenError(f"{path}: 'transform' has shape {transform.shape}; expected (3, 4)")
    scale = _number(data, "scale", str(path))
    if scale <= 0:
        raise WorldgenError(f"{path}: 'scale' must be positive, got {scale}")
    full = np.eye(4)
    full[:3] = transform[:3]
    return full, scale


def _load_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorldgenError(f"{path}: cannot read camera file ({exc})") from None


def _array(entry: dict, key: str, shape: tuple | None, where: str) -> np.ndarray:
    if key not in entry:
        raise WorldgenError(f"{where}: missing '{key}'")
    try:
        value = np.asarray(entry[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise WorldgenError(f"{where}: '{key}' is not a numeric array") from None
    if shape is not None and value.shape != shape:
        raise WorldgenError(f"{where}: '{key}' has shape {value.shape}; expected {shape}")
    if not np.isfinite(value).all():
        raise WorldgenError(f"{where}: '{key}' holds NaN/Inf values")
    return value


def _number(entry: dict, key: str, where: str) -> float:
    value = entry.get(key) if isinstance(entry, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise WorldgenError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def _pinhole(fx: float, fy: float, cx: float, cy: float, where: str) -> np.ndarray:
    if fx <= 0 or fy <= 0:
        raise WorldgenError(f"{where}: focal lengths must be positive, got fx={fx}, fy={fy}")
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])

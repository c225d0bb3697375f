"""Reading a folder of registered RGB-D frames (colour, depth, intrinsics, poses).

Expected layout (the Open3D / Redwood convention, plus an intrinsics file)::

    frames/
      color/*.jpg|*.png    8-bit RGB (grey or RGBA accepted), W x H px
      depth/*.png          16-bit depth, ``input.depth_scale`` units per metre
                           (1000 = millimetres), 0 = no reading, same W x H
      rgbd.match           optional: lines "depth/<name> color/<name>" pairing the
                           images; without it images pair by file stem, or by
                           sorted order when the two folders hold as many files
      intrinsics.json      {"fx", "fy", "cx", "cy", "width", "height"} [px], or
                           Open3D's PinholeCameraIntrinsic JSON ({"width",
                           "height", "intrinsic_matrix": 9 values, column-major})
        or intrinsics.txt  "fx fy cx cy width height", or a 3 x 3 K matrix
      trajectory.log       one camera-to-world pose per frame, in frame order:
                           a line "i j k" then 4 rows of a 4 x 4 matrix [m]
        or poses.npy       (M, 4, 4) camera-to-world
        or poses.txt       M x 4 rows of 4 numbers, or M rows of 16 numbers

Cameras are pinhole, OpenCV convention (x right, y down, z forward). The poses
define the input frame; the up axis of that frame is guessed from the cameras
(see :func:`guess_up`): the Redwood living-room frames are y-up.

Intrinsics are required: the folder holds no other record of them, and a
guessed focal length silently bends every surface. The Redwood/Open3D sample
frames were taken with the PrimeSense default (fx = fy = 525, cx = 319.5,
cy = 239.5 at 640 x 480): write that into ``intrinsics.json`` to use them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import CameraPath, RGBDFrames, SceneInput
from worldgen_sim.errors import WorldgenError
from worldgen_sim.io.input_cfg import InputCfg

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
INTRINSICS_FILES = ("intrinsics.json", "intrinsics.txt")
POSE_FILES = ("trajectory.log", "poses.npy", "poses.txt")
PLAUSIBLE_MEDIAN_DEPTH = (0.1, 30.0)
"""Median depth reading of a frame set that looks like metres after scaling [m]."""


def is_rgbd_folder(path: str | Path) -> bool:
    """Whether ``path`` is a directory with ``color/`` and ``depth/`` sub-folders."""
    path = Path(path)
    return path.is_dir() and (path / "color").is_dir() and (path / "depth").is_dir()


def read_rgbd_folder(path: str | Path, *, cfg: InputCfg) -> SceneInput:
    """Read registered RGB-D frames from a folder laid out as in this module's docstring.

    Args:
        path: the folder.
        cfg: input options; ``depth_scale`` (depth units per metre) and
            ``max_depth`` (readings beyond are dropped) [m] apply.

    Returns:
        A :class:`SceneInput` with ``layout="rgbd"``, ``frames`` (metric depth,
        poses in the folder's frame), no Gaussians, and ``default_up`` guessed
        from the camera poses.

    Raises:
        WorldgenError: a missing folder, sub-folder, intrinsics or pose file;
            unpaired images; depth that is not 16-bit, of another size than its
            colour image or the intrinsics, or whose units look wrong for
            ``input.depth_scale``; fewer or more poses than frames; a pose that
            is not a rigid transform.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise WorldgenError(f"{folder}: RGB-D input must be a folder holding color/ and depth/")
    for sub in ("color", "depth"):
        if not (folder / sub).is_dir():
            raise WorldgenError(f"{folder}: missing sub-folder '{sub}/' (expected color/*.jpg|png and depth/*.png)")
    pairs = _pair_images(folder)
    intrinsics_path, (fx, fy, cx, cy, width, height) = _read_intrinsics(folder)
    poses_path, poses = _read_poses(folder)
    if poses.shape[0] != len(pairs):
        raise WorldgenError(
            f"{poses_path}: holds {poses.shape[0]} poses for {len(pairs)} frames; expected one camera-to-world "
            "pose per frame, in frame order"
        )

    import open3d as o3d

    colors, depths = [], []
    for depth_path, color_path in pairs:
        color = np.asarray(o3d.io.read_image(str(color_path)))  # type: ignore[arg-type]
        depth = np.asarray(o3d.io.read_image(str(depth_path)))  # type: ignore[arg-type]
        if color.size == 0:
            raise WorldgenError(f"{color_path}: cannot read the colour image")
        if depth.size == 0:
            raise WorldgenError(f"{depth_path}: cannot read the depth image")
        if depth.ndim != 2 or depth.dtype != np.uint16:
            raise WorldgenError(
                f"{depth_path}: depth must be a single-channel 16-bit PNG ({cfg.depth_scale:g} units per metre, "
                f"input.depth_scale), got {depth.dtype} with shape {depth.shape}"
            )
        color = _as_rgb(color, color_path)
        if color.shape[:2] != depth.shape:
            raise WorldgenError(
                f"{depth_path}: depth is {depth.shape[1]}x{depth.shape[0]} px but {color_path.name} is "
                f"{color.shape[1]}x{color.shape[0]} px; colour and depth must be registered at the same size"
            )
        if depth.shape != (height, width):
            raise WorldgenError(
                f"{depth_path}: image is {depth.shape[1]}x{depth.shape[0]} px but {intrinsics_path.name} says "
                f"{width}x{height} px"
            )
        colors.append(color)
        depths.append(depth)
    depth_m = np.stack(depths).astype(np.float32) / np.float32(cfg.depth_scale)
    readings = depth_m[depth_m > 0]
    if readings.size == 0:
        raise WorldgenError(f"{folder / 'depth'}: every depth pixel is 0 (no reading)")
    median = float(np.median(readings))
    low, high = PLAUSIBLE_MEDIAN_DEPTH
    if not low <= median <= high:
        raise WorldgenError(
            f"{folder / 'depth'}: median depth is {median:.4g} m with input.depth_scale = {cfg.depth_scale:g} "
            f"units per metre; expected {low}..{high} m: set input.depth_scale to the PNGs' units per metre"
        )
    depth_m[depth_m > cfg.max_depth] = 0.0
    count = len(pairs)
    intrinsic = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    cameras = CameraPath(np.repeat(intrinsic[None], count, axis=0), poses, int(width), int(height))
    frames = RGBDFrames(colors=np.stack(colors), depths=depth_m, cameras=cameras, names=[c.stem for _, c in pairs])
    return SceneInput(
        source=folder,
        sha256=_index_digest(folder, pairs, intrinsics_path, poses_path),
        layout="rgbd",
        frames=frames,
        default_up=guess_up(poses),
    )


def guess_up(cam_to_world: np.ndarray) -> str:
    """The input frame's up convention from (M, 4, 4) OpenCV camera-to-world poses.

    Hand-held and robot cameras are held roughly level, so the mean camera
    "down" axis (column 1 of the rotation) points against the frame's up axis:
    ``"y"`` when it is mostly -y, ``"z"`` when mostly -z, and ``"opencv"`` (the
    frame is a camera's, y down) otherwise.
    """
    down = np.mean(np.asarray(cam_to_world)[:, :3, 1], axis=0)
    axis = int(np.argmax(np.abs(down)))
    if axis == 1 and down[1] < 0:
        return "y"
    if axis == 2 and down[2] < 0:
        return "z"
    return "opencv"


def _pair_images(folder: Path) -> list[tuple[Path, Path]]:
    """(depth, colour) paths per frame, in frame order."""
    match = folder / "rgbd.match"
    if match.is_file():
        pairs = []
        for number, line in enumerate(match.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise WorldgenError(f"{match}:{number}: expected 'depth/<file> color/<file>', got {line!r}")
            depth, color = folder / parts[0], folder / parts[1]
            for item in (depth, color):
                if not item.is_file():
                    raise WorldgenError(f"{match}:{number}: {item} does not exist")
            pairs.append((depth, color))
        if not pairs:
            raise WorldgenError(f"{match}: lists no frames")
        return pairs
    colors = sorted(p for p in (folder / "color").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    depths = sorted(p for p in (folder / "depth").iterdir() if p.suffix.lower() == ".png")
    if not colors or not depths:
        raise WorldgenError(
            f"{folder}: no frames: color/ holds {len(colors)} .jpg/.png and depth/ holds {len(depths)} .png files"
        )
    by_stem = {p.stem: p for p in colors}
    if all(d.stem in by_stem for d in depths) and len(depths) == len(colors):
        return [(d, by_stem[d.stem]) for d in depths]
    if len(depths) != len(colors):
        raise WorldgenError(
            f"{folder}: color/ holds {len(colors)} images but depth/ holds {len(depths)}, and their names do not "
            "pair up; add an rgbd.match file ('depth/<file> color/<file>' per line)"
        )
    return list(zip(depths, colors))


def _read_intrinsics(folder: Path) -> tuple[Path, tuple[float, float, float, float, int, int]]:
    """(path, (fx, fy, cx, cy, width, height)) from intrinsics.json or intrinsics.txt."""
    path = next((folder / n for n in INTRINSICS_FILES if (folder / n).is_file()), None)
    if path is None:
        raise WorldgenError(
            f"{folder}: missing camera intrinsics: add intrinsics.json with "
            '{"fx": ..., "fy": ..., "cx": ..., "cy": ..., "width": ..., "height": ...} (pixels); '
            "Redwood/Open3D sample frames use fx = fy = 525, cx = 319.5, cy = 239.5, 640 x 480"
        )
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            if "intrinsic_matrix" in data:  # Open3D PinholeCameraIntrinsic, column-major
                k = np.asarray(data["intrinsic_matrix"], np.float64).reshape(3, 3).T
                values = (k[0, 0], k[1, 1], k[0, 2], k[1, 2], data["width"], data["height"])
            else:
                values = tuple(data[key] for key in ("fx", "fy", "cx", "cy", "width", "height"))
        else:
            numbers = np.array(path.read_text().split(), np.float64)
            if numbers.size == 6:
                values = tuple(numbers)
            elif numbers.size == 9:
                k = numbers.reshape(3, 3)
                size = _first_depth_size(folder)
                values = (k[0, 0], k[1, 1], k[0, 2], k[1, 2], size[1], size[0])
            else:
                raise ValueError(f"expected 6 numbers (fx fy cx cy width height) or 9 (K), got {numbers.size}")
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise WorldgenError(
            f"{path}: cannot read intrinsics ({exc}); expected fx, fy, cx, cy [px], width, height [px]"
        ) from None
    fx, fy, cx, cy = (float(v) for v in values[:4])
    width, height = int(values[4]), int(values[5])
    if not (fx > 0 and fy > 0 and width > 0 and height > 0 and np.isfinite([fx, fy, cx, cy]).all()):
        raise WorldgenError(f"{path}: focal lengths and image size must be positive and finite")
    return path, (fx, fy, cx, cy, width, height)


def _first_depth_size(folder: Path) -> tuple[int, int]:
    import open3d as o3d

    first = next(iter(sorted((folder / "depth").glob("*.png"))), None)
    if first is None:
        raise ValueError("no depth image to take the image size from")
    return np.asarray(o3d.io.read_image(str(first))).shape[:2]  # type: ignore[arg-type]


def _read_poses(folder: Path) -> tuple[Path, np.ndarray]:
    """(path, (M, 4, 4) float64 camera-to-world poses) from the first pose file present."""
    path = next((folder / n for n in POSE_FILES if (folder / n).is_file()), None)
    if path is None:
        raise WorldgenError(
            f"{folder}: missing camera poses: expected one of {', '.join(POSE_FILES)} "
            "(camera-to-world 4x4 per frame, in frame order)"
        )
    try:
        if path.name == "trajectory.log":
            rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
            if len(rows) % 5 != 0 or any(len(r) != 4 for i, r in enumerate(rows) if i % 5):
                raise ValueError("expected blocks of 5 lines: 'i j k' then 4 rows of 4 numbers")
            poses = np.array([rows[i] for i in range(len(rows)) if i % 5], np.float64).reshape(-1, 4, 4)
        elif path.suffix == ".npy":
            poses = np.asarray(np.load(path, allow_pickle=False), np.float64).reshape(-1, 4, 4)
        else:
            numbers = np.array(path.read_text().split(), np.float64)
            if numbers.size % 16:
                raise ValueError(f"{numbers.size} numbers is not a whole number of 4x4 matrices")
            poses = numbers.reshape(-1, 4, 4)
    except (ValueError, OSError) as exc:
        raise WorldgenError(f"{path}: cannot read camera poses ({exc})") from None
    if poses.shape[0] == 0:
        raise WorldgenError(f"{path}: holds no poses")
    rotation = poses[:, :3, :3]
    orthonormal = np.abs(rotation @ rotation.transpose(0, 2, 1) - np.eye(3)).max(axis=(1, 2)) < 1e-3
    rigid = np.isfinite(poses).all(axis=(1, 2)) & orthonormal & np.allclose(poses[:, 3], [0, 0, 0, 1])
    rigid &= np.linalg.det(rotation) > 0
    if not np.all(rigid):
        bad = int(np.flatnonzero(~rigid)[0])
        raise WorldgenError(f"{path}: pose {bad} is not a rigid camera-to-world transform (rotation + translation)")
    return path, poses


def _as_rgb(color: np.ndarray, path: Path) -> np.ndarray:
    if color.dtype != np.uint8:
        raise WorldgenError(f"{path}: colour must be 8-bit, got {color.dtype}")
    if color.ndim == 2:
        return np.repeat(color[:, :, None], 3, axis=2)
    if color.ndim == 3 and color.shape[2] in (3, 4):
        return np.ascontiguousarray(color[:, :, :3])
    raise WorldgenError(f"{path}: expected an RGB image, got shape {color.shape}")


def _index_digest(folder: Path, pairs: list[tuple[Path, Path]], *extra: Path) -> str:
    """SHA-256 of the frame index: file names and sizes, plus the intrinsics and pose files' bytes."""
    digest = hashlib.sha256()
    for depth, color in pairs:
        for item in (depth, color):
            digest.update(f"{item.relative_to(folder)}:{item.stat().st_size}\n".encode())
    for item in extra:
        digest.update(item.name.encode())
        digest.update(item.read_bytes())
    return digest.hexdigest()

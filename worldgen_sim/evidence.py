"""What the input observed, kept beside the world so that ``worldgen verify`` can judge against it.

A world built from Gaussians already carries its evidence: the splats layer
holds the aligned input Gaussians. A world without one (RGB-D input, or
``usd.splats: false``) gets ``OUT/evidence.npz``: world-frame points the input
observed and a confidence weight per point.

``evidence.npz`` (written deterministically: fixed zip timestamps)::

    points   (P, 3) float32  observed surface points, world frame [m]
    weights  (P,)   float32  confidence in [0, 1] (Gaussian opacity; 1 for depth pixels)
    source   ()     str      what they came from ("rgbd", "gaussians")
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import AlignedScene, RGBDFrames
from worldgen_sim.errors import WorldgenError

__all__ = [
    "EVIDENCE_FILE",
    "MAX_EVIDENCE_POINTS",
    "backproject_frames",
    "read_evidence",
    "write_evidence",
    "write_world_evidence",
]

EVIDENCE_FILE = "evidence.npz"
MAX_EVIDENCE_POINTS = 1_000_000
"""Points kept in ``evidence.npz`` at most (about 16 MB)."""


def backproject_frames(frames: RGBDFrames, *, max_points: int) -> np.ndarray:
    """(P, 3) float64 points: valid depth pixels on a regular stride, through K^-1 and the poses.

    The stride is the same in u and v and chosen so that about ``max_points`` pixels
    of all frames together are used; P counts only pixels with a depth reading.
    """
    depths = np.asarray(frames.depths, np.float32)
    count, height, width = depths.shape
    stride = max(1, int(np.ceil(np.sqrt(count * height * width / max(max_points, 1)))))
    u = np.arange(0, width, stride) + 0.5
    v = np.arange(0, height, stride) + 0.5
    depth = depths[:, ::stride, ::stride].astype(np.float64)  # (M, h, w)
    pixels = np.stack([*np.meshgrid(u, v, indexing="xy"), np.ones((v.size, u.size))], -1)  # (h, w, 3)
    rays = np.einsum("mij,hwj->mhwi", np.linalg.inv(frames.cameras.intrinsics), pixels)
    poses = np.asarray(frames.cameras.cam_to_world, np.float64)
    world = np.einsum("mij,mhwj->mhwi", poses[:, :3, :3], rays * depth[..., None]) + poses[:, None, None, :3, 3]
    valid = (depth > 0) & np.isfinite(depth)
    return world[valid]


def write_evidence(path: str | Path, points: np.ndarray, weights: np.ndarray, *, source: str) -> None:
    """Write ``evidence.npz`` (layout in the module docstring), byte-identical for identical inputs."""
    arrays = {
        "points": np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3),
        "weights": np.ascontiguousarray(weights, dtype=np.float32).reshape(-1),
        "source": np.array(source),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue())


def write_world_evidence(out_dir: str | Path, aligned: AlignedScene) -> Path | None:
    """Write ``out_dir/evidence.npz`` from the aligned scene's depth frames, else its Gaussians.

    Gaussians beyond :data:`MAX_EVIDENCE_POINTS` are thinned by a fixed stride
    (deterministic). Returns the file written, or None when the scene holds neither.
    """
    path = Path(out_dir) / EVIDENCE_FILE
    if aligned.frames is not None and len(aligned.frames):
        points = backproject_frames(aligned.frames, max_points=MAX_EVIDENCE_POINTS)
        write_evidence(path, points, np.ones(len(points)), source="rgbd")
    elif aligned.gaussians is not None and len(aligned.gaussians):
        stride = max(1, -(-len(aligned.gaussians) // MAX_EVIDENCE_POINTS))
        cloud = aligned.gaussians
        write_evidence(path, cloud.positions[::stride], cloud.opacities[::stride], source="gaussians")
    else:
        return None
    return path


def read_evidence(path: str | Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(P, 3) float64 points [m], (P,) float64 weights and the source of an ``evidence.npz``.

    Raises:
        WorldgenError: unreadable file or missing/mis-shaped arrays.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            points = np.asarray(data["points"], np.float64)
            weights = np.asarray(data["weights"], np.float64)
            source = str(data["source"]) if "source" in data.files else "unknown"
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise WorldgenError(f"{path}: cannot read the evidence file ({exc})") from None
    if points.ndim != 2 or points.shape[1] != 3 or weights.shape != (points.shape[0],):
        raise WorldgenError(f"{path}: 'points' must be (P, 3) and 'weights' (P,), got {points.shape}, {weights.shape}")
    return points, weights, source

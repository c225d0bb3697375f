"""Reading one picture (PNG/JPEG, with its EXIF 35 mm focal length) and an optional depth map for it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError

__all__ = ["IMAGE_SUFFIXES", "MIN_IMAGE_SIZE", "Picture", "read_depth", "read_picture"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MIN_IMAGE_SIZE = 32
"""Pictures narrower or lower than this [px] hold too little to build a world from."""
_EXIF_IFD = 0x8769
_FOCAL_35MM = 0xA405  # FocalLengthIn35mmFilm, in the Exif sub-IFD


@dataclass(eq=False)
class Picture:
    """One colour picture.

    Attributes:
        path: the file.
        rgb: (H, W, 3) uint8, upright (EXIF orientation applied).
        focal_35mm: the EXIF 35 mm-equivalent focal length [mm], or None.
    """

    path: Path
    rgb: np.ndarray
    focal_35mm: float | None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) [px]."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


def read_picture(path: str | Path) -> Picture:
    """Read a PNG or JPEG as upright 8-bit RGB, with its EXIF 35 mm focal length when recorded.

    Raises:
        WorldgenError: not a PNG/JPEG, unreadable, or smaller than ``MIN_IMAGE_SIZE`` px.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise WorldgenError(f"{path}: unsupported picture type '{path.suffix}'; expected .jpg, .jpeg or .png")
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            upright = ImageOps.exif_transpose(image)
            rgb = np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise WorldgenError(f"{path}: cannot read the picture ({exc})") from None
    if min(rgb.shape[:2]) < MIN_IMAGE_SIZE:
        raise WorldgenError(
            f"{path}: picture is {rgb.shape[1]}x{rgb.shape[0]} px; expected at least {MIN_IMAGE_SIZE} px on each side"
        )
    return Picture(path=path, rgb=np.ascontiguousarray(rgb), focal_35mm=_focal_35mm(exif))


def _focal_35mm(exif) -> float | None:
    try:
        value = exif.get_ifd(_EXIF_IFD).get(_FOCAL_35MM) or exif.get(_FOCAL_35MM)
    except (KeyError, AttributeError, ValueError):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) and value > 0 else None


def read_depth(path: str | Path, *, size: tuple[int, int], depth_scale: float) -> np.ndarray:
    """Read a depth map for a picture of ``size`` = (width, height) px.

    A ``.png`` holds 16-bit depth in ``depth_scale`` units per metre (0 = no
    reading); a ``.npy`` holds float metres (0, NaN or Inf = no reading).

    Returns:
        (H, W) float32 metric z-depth [m], 0 where there is no reading.

    Raises:
        WorldgenError: unreadable, not 16-bit / float, another size than the
            picture, or no valid reading at all.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            depth = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise WorldgenError(f"{path}: cannot read the depth array ({exc})") from None
        if depth.ndim == 3 and depth.shape[0] == 1:
            depth = depth[0]
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
            raise WorldgenError(
                f"{path}: depth .npy must be a 2-D float array of metres, got {depth.dtype} {depth.shape}"
            )
        depth = depth.astype(np.float32)
    elif suffix == ".png":
        depth = _read_png16(path) / np.float32(depth_scale)
    else:
        raise WorldgenError(f"{path}: unsupported depth type '{path.suffix}'; expected a 16-bit .png or a .npy")
    if depth.shape != (size[1], size[0]):
        raise WorldgenError(
            f"{path}: depth is {depth.shape[1]}x{depth.shape[0]} px but the picture is {size[0]}x{size[1]} px; "
            "they must be registered at the same size"
        )
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)
    if not np.any(depth > 0):
        raise WorldgenError(f"{path}: every depth pixel is 0 or invalid (no reading)")
    return depth


def _read_png16(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            mode = image.mode
            depth = np.asarray(image)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise WorldgenError(f"{path}: cannot read the depth image ({exc})") from None
    if depth.ndim != 2 or mode not in ("I;16", "I;16B", "I;16L", "I"):
        raise WorldgenError(
            f"{path}: depth must be a single-channel 16-bit PNG, got mode {mode} with shape {depth.shape}"
        )
    return depth.astype(np.float32)

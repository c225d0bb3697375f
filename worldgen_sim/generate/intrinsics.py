"""The picture's pinhole intrinsics, and where they came from.

Priority: ``--focal`` (pixels), ``--fov`` (horizontal degrees), the file's EXIF
35 mm-equivalent focal length, the depth model's own estimate (Depth Pro's
field-of-view head), else ``generate.default_fov_deg``. The principal point is
the image centre. A 35 mm-equivalent focal length is defined over the frame
diagonal (36 x 24 mm film, 43.27 mm), so it converts as
``f_px = f_35 * diagonal_px / 43.27``, whatever the picture's aspect ratio.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FILM_DIAGONAL_MM", "focal_from_fov", "intrinsic_matrix", "resolve_focal"]

FILM_DIAGONAL_MM = math.hypot(36.0, 24.0)
"""Diagonal of a 35 mm film frame [mm]."""


def focal_from_fov(fov_deg: float, width: int) -> float:
    """Focal length [px] of a pinhole with horizontal field of view ``fov_deg`` over ``width`` px."""
    return 0.5 * width / math.tan(math.radians(fov_deg) / 2.0)


def resolve_focal(
    *,
    width: int,
    height: int,
    focal_px: float = 0.0,
    fov_deg: float = 0.0,
    focal_35mm: float | None = None,
    model_fov_deg: float | None = None,
    default_fov_deg: float = 60.0,
) -> tuple[float, str]:
    """(focal length [px], source) from the first source that gives one (see the module docstring).

    Sources: ``"option:focal"``, ``"option:fov"``, ``"exif:focal_35mm"``,
    ``"model:field_of_view"``, ``"default"``.
    """
    if focal_px > 0:
        return float(focal_px), "option:focal"
    if fov_deg > 0:
        return focal_from_fov(fov_deg, width), "option:fov"
    if focal_35mm:
        return float(focal_35mm) * math.hypot(width, height) / FILM_DIAGONAL_MM, "exif:focal_35mm"
    if model_fov_deg is not None and 1.0 < model_fov_deg < 179.0:
        return focal_from_fov(model_fov_deg, width), "model:field_of_view"
    return focal_from_fov(default_fov_deg, width), "default"


def intrinsic_matrix(focal: float, width: int, height: int) -> np.ndarray:
    """(3, 3) float64 K with square pixels and the principal point at the image centre."""
    return np.array([[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0], [0.0, 0.0, 1.0]])

"""Up conventions and the floor search (batched RANSAC under the scene, SVD refinement).

The floor is the dominant large, roughly horizontal plane *under* the scene:
among planes within ``max_tilt_deg`` of the guessed up direction, the one with
the most (opacity-weighted) points within a tolerance, provided almost no
points lie clearly below it. That last condition is what keeps a ceiling, a
table top or a sofa seat from ever winning, however large it is.

All lengths here are in input units: the scale is not known yet, so the
tolerance is a fraction of the scene's robust size (the median distance of the
points from their median point), and far outliers (a sky shell, stray specks
more than :data:`CORE_FACTOR` robust sizes away) are left out of the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldgen_sim.align.transforms import rotation_between

UP_ROTATIONS: dict[str, np.ndarray] = {
    # OpenCV camera (x right, y down, z forward) -> Z-up: (x, y, z) -> (x, z, -y).
    "opencv": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
    # Y-up (x right, z towards the viewer) -> Z-up: (x, y, z) -> (x, -z, y).
    "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "z": np.eye(3),
}
"""(3, 3) rotations taking each named input convention to a Z-up frame."""

AXIS_DIRECTIONS: dict[str, np.ndarray] = {
    name: np.asarray(vector, np.float64)
    for name, vector in {
        "+x": (1, 0, 0),
        "-x": (-1, 0, 0),
        "+y": (0, 1, 0),
        "-y": (0, -1, 0),
        "+z": (0, 0, 1),
        "-z": (0, 0, -1),
    }.items()
}
"""The six candidate up directions of ``--up auto`` without a layout or cameras."""

CORE_FACTOR = 8.0
"""Points farther than this many robust sizes from the median point are not floor candidates."""


@dataclass
class FloorPlane:
    """A floor plane ``normal . x = offset`` in the frame of the points it was found in.

    Attributes:
        normal: (3,) float64 unit normal pointing up (into the scene).
        offset: plane offset along the normal [input units].
        inliers: (N,) bool, points within ``tolerance`` of the plane (far outliers excluded).
        score: opacity-weighted fraction of the core points that are inliers.
        below_fraction: weighted fraction of the core points clearly below the plane.
        tolerance: inlier distance [input units]: the configured fraction of the
            scene size, widened to the floor's measured noise (at most 5 times).
        size: robust scene size the tolerance was derived from [input units].
    """

    normal: np.ndarray
    offset: float
    inliers: np.ndarray
    score: float
    below_fraction: float
    tolerance: float
    size: float


@dataclass
class FloorSearch:
    """What the RANSAC found: the best valid plane, or None with the reason why not.

    Attributes:
        plane: the floor, or None.
        reason: why no floor was accepted (empty when one was).
        height_ratio: median height of the core points over their 95th percentile
            height (lower = more mass near the floor); used to tell a floor from an
            upside-down ceiling when guessing the up axis.
    """

    plane: FloorPlane | None
    reason: str = ""
    height_ratio: float = 1.0


def find_floor(
    points: np.ndarray,
    weights: np.ndarray,
    *,
    max_tilt_deg: float,
    tolerance_fraction: float,
    max_below_fraction: float,
    min_floor_fraction: float,
    rng: np.random.Generator,
    num_hypotheses: int = 4096,
    sample_size: int = 20000,
) -> FloorSearch:
    """Find the floor among planes within ``max_tilt_deg`` of +Z.

    Args:
        points: (N, 3) float points in a frame whose +Z is the guessed up [input units].
        weights: (N,) float >= 0 per-point weights (Gaussian opacities, or ones).
        max_tilt_deg: largest angle between a candidate's normal and +Z [deg].
        tolerance_fraction: inlier distance as a fraction of the robust scene size.
        max_below_fraction: a candidate with more weight than this fraction clearly
            below it (more than 3 tolerances) is not under the scene.
        min_floor_fraction: the floor must hold at least this weighted fraction of the core points.
        rng: random generator (hypothesis sampling).
        num_hypotheses: plane hypotheses drawn (point triplets); evaluated in batches.
        sample_size: points the hypotheses are scored on.
    """
    points = np.asarray(points, np.float64)
    weights = np.asarray(weights, np.float64)
    if points.shape[0] < 50:
        return FloorSearch(None, f"only {points.shape[0]} points (at least 50 needed)")
    centre = np.median(points, axis=0)
    distance = np.linalg.norm(points - centre, axis=1)
    size = float(np.median(distance))
    if not np.isfinite(size) or size <= 0:
        return FloorSearch(None, "the points have no spatial extent")
    core = np.flatnonzero(distance <= CORE_FACTOR * size)
    tolerance = tolerance_fraction * size
    pick = core if core.size <= sample_size else np.sort(rng.choice(core, sample_size, replace=False))
    sample, sample_w = points[pick], weights[pick]
    total_w = float(sample_w.sum())
    if total_w <= 0:
        return FloorSearch(None, "all points have zero opacity")

    normals, offsets = _hypotheses(sample, rng, num_hypotheses, max_tilt_deg, size)
    if normals.shape[0] == 0:
        return FloorSearch(None, f"no roughly horizontal plane within {max_tilt_deg:g} deg of the up axis")
    score, below = _score(sample - centre, sample_w, normals, offsets - normals @ centre, tolerance)
    score, below = score / total_w, below / total_w
    valid = (below <= max_below_fraction) & (score >= min_floor_fraction)
    if not valid.any():
        best = int(np.argmax(score))
        return FloorSearch(
            None,
            f"no plane under the scene: the best roughly horizontal plane holds {score[best]:.1%} of the points "
            f"with {below[best]:.1%} below it "
            f"(need >= {min_floor_fraction:.0%} on it and <= {max_below_fraction:.0%} below)",
        )
    best = int(np.flatnonzero(valid)[np.argmax(score[valid])])
    normal, offset, tolerance = _refine(points[core], weights[core], normals[best], offsets[best], tolerance)

    heights_core = points[core] @ normal - offset
    core_w = weights[core]
    score_core = float(core_w[np.abs(heights_core) <= tolerance].sum() / max(core_w.sum(), 1e-300))
    below_core = float(core_w[heights_core < -3 * tolerance].sum() / max(core_w.sum(), 1e-300))
    inliers = np.zeros(points.shape[0], dtype=bool)
    inliers[core[np.abs(heights_core) <= tolerance]] = True
    top = float(np.percentile(heights_core, 95))
    ratio = float(np.median(heights_core) / top) if top > 0 else 1.0
    plane = FloorPlane(normal, offset, inliers, score_core, below_core, tolerance, size)
    return FloorSearch(plane, "", ratio)


def choose_up_axis(points: np.ndarray, weights: np.ndarray, **search) -> tuple[str, np.ndarray, FloorSearch]:
    """Guess the up axis among the six axis directions from the geometry alone.

    Every axis direction is tried as "up" with :func:`find_floor`. Those that
    yield a floor (almost nothing below it) and at least 70 % of the best floor's
    weight compete on where the mass sits: a room seen upside down also has a
    valid "floor" (its ceiling), but furniture puts more mass near the true
    floor, so the direction with the lowest median height (relative to the
    95th percentile height) wins. Geometry alone cannot tell a bare, symmetric
    room's floor from its ceiling, nor a floor from walls that outweigh it (a
    long bare corridor): give ``--up`` (or cameras) for such scenes.

    Args:
        points: (N, 3) points in the input frame.
        weights: (N,) per-point weights.
        search: keyword arguments of :func:`find_floor`.

    Returns:
        The chosen direction's name (``"+y"``, ...), the (3, 3) rotation taking
        it to +Z, and its floor search. When no direction yields a floor, the
        search of ``"+z"`` (with its reason) is returned.
    """
    found: dict[str, tuple[np.ndarray, FloorSearch]] = {}
    for name, direction in AXIS_DIRECTIONS.items():
        rotation = rotation_between(direction, np.array([0.0, 0.0, 1.0]))
        found[name] = (rotation, find_floor(points @ rotation.T, weights, **search))
    valid = {name: item for name, item in found.items() if item[1].plane is not None}
    if not valid:
        return "+z", found["+z"][0], found["+z"][1]
    scores = {name: item[1].plane.score for name, item in valid.items() if item[1].plane is not None}
    best_score = max(scores.values())
    contenders = [name for name in valid if scores[name] >= 0.7 * best_score]
    name = min(contenders, key=lambda n: valid[n][1].height_ratio)
    return name, valid[name][0], valid[name][1]


def _hypotheses(sample, rng, count, max_tilt_deg, size):
    """Plane hypotheses from random point triplets: (H, 3) unit normals with n_z > 0 and (H,) offsets."""
    triplets = rng.integers(0, sample.shape[0], size=(count, 3))
    a, b, c = sample[triplets[:, 0]], sample[triplets[:, 1]], sample[triplets[:, 2]]
    normals = np.cross(b - a, c - a)
    length = np.linalg.norm(normals, axis=1)
    ok = length > 1e-9 * size * size  # collinear or repeated points give no plane
    normals = normals[ok] / length[ok, None]
    normals *= np.where(normals[:, 2] < 0, -1.0, 1.0)[:, None]
    upright = normals[:, 2] >= np.cos(np.radians(max_tilt_deg))
    normals = normals[upright]
    offsets = np.einsum("ij,ij->i", normals, a[ok][upright])
    return normals, offsets


def _score(centred, weights, normals, offsets, tolerance, batch=256):
    """Weighted inlier and clearly-below sums for every hypothesis (batched matrix products)."""
    centred32, weights32 = centred.astype(np.float32), weights.astype(np.float32)
    score = np.empty(normals.shape[0])
    below = np.empty(normals.shape[0])
    for start in range(0, normals.shape[0], batch):
        stop = start + batch
        signed = centred32 @ normals[start:stop].T.astype(np.float32) - offsets[start:stop].astype(np.float32)
        score[start:stop] = weights32 @ (np.abs(signed) <= tolerance)
        below[start:stop] = weights32 @ (signed < -3.0 * tolerance)
    return score, below


def _refine(points, weights, normal, offset, tolerance, iterations=5):
    """Weighted least-squares plane (SVD of the inliers' covariance), re-selecting inliers each pass.

    The inlier band follows the floor's measured noise (2.5 robust sigmas of the
    residuals within 5 tolerances, kept within [1, 5] tolerances): a band much
    thinner than the noise would select points spread around the current plane
    and so keep any slightly tilted plane as its own fixed point.

    Returns:
        (normal (3,), offset, band): the plane and the final inlier half-width.
    """
    band = tolerance
    for _ in range(iterations):
        residual = points @ normal - offset
        window = np.abs(residual) <= 5.0 * tolerance
        if window.sum() < 3:
            break
        spread = 1.4826 * float(np.median(np.abs(residual[window] - np.median(residual[window]))))
        band = float(np.clip(2.5 * spread, tolerance, 5.0 * tolerance))
        inlier = np.abs(residual) <= band
        if inlier.sum() < 3:
            break
        p, w = points[inlier], weights[inlier] + 1e-12
        centroid = (w[:, None] * p).sum(0) / w.sum()
        d = p - centroid
        covariance = (w[:, None] * d).T @ d
        _eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        new_normal = eigenvectors[:, 0]
        if new_normal @ normal < 0:
            new_normal = -new_normal
        normal, offset = new_normal, float(new_normal @ centroid)
    return normal, offset, band

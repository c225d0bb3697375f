"""Similarity transforms (uniform scale s, rotation R, translation t) of the scene artifacts.

A similarity is held as a (4, 4) float64 matrix ``[[s R, t], [0, 1]]`` mapping
``x -> s R x + t``. Applying one to a Gaussian cloud moves the centres, turns
the orientation quaternions by R, multiplies the scales by s and rotates the
view-dependent spherical-harmonic bands (degree 1..3) by R so that a view from
the transformed camera sees the same colour. Camera poses stay rigid (their
rotation is turned by R, their centre moved by the similarity) and RGB-D
depths are multiplied by s.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import CameraPath, GaussianCloud, RGBDFrames


def similarity_matrix(*, scale: float, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(4, 4) float64 matrix of ``x -> scale * rotation @ x + translation``.

    Args:
        scale: s > 0, output units per input unit.
        rotation: (3, 3) proper rotation matrix.
        translation: (3,) translation in output units.
    """
    matrix = np.eye(4)
    matrix[:3, :3] = float(scale) * np.asarray(rotation, np.float64)
    matrix[:3, 3] = np.asarray(translation, np.float64)
    return matrix


def decompose_similarity(matrix: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Split a (4, 4) similarity into (s, R (3, 3), t (3,))."""
    linear = np.asarray(matrix, np.float64)[:3, :3]
    scale = float(np.cbrt(np.linalg.det(linear)))
    return scale, linear / scale, np.asarray(matrix, np.float64)[:3, 3].copy()


def rotation_between(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3, 3) smallest rotation turning the direction ``source`` (3,) onto ``target`` (3,)."""
    a = np.asarray(source, np.float64) / np.linalg.norm(source)
    b = np.asarray(target, np.float64) / np.linalg.norm(target)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(np.dot(a, b))
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        # Opposite directions: half a turn about any axis perpendicular to a.
        helper = np.eye(3)[int(np.argmin(np.abs(a)))]
        axis = np.cross(a, helper)
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    k = axis / sin
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * kx + (1.0 - cos) * kx @ kx


def rotation_about_z(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` [rad] about +Z (counter-clockwise seen from above)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """(4,) float64 unit quaternion (w, x, y, z) of a (3, 3) rotation (Shepperd's method)."""
    r = np.asarray(rotation, np.float64)
    trace = np.trace(r)
    if trace > 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(max(1.0 + r[i, i] - r[j, j] - r[k, k], 1e-300))
        q = [0.0] * 4
        q[0] = (r[k, j] - r[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (r[j, i] + r[i, j]) / s
        q[1 + k] = (r[k, i] + r[i, k]) / s
    quaternion = np.asarray(q)
    return quaternion / np.linalg.norm(quaternion)


def quaternion_to_matrix(quats: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices of (N, 4) quaternions (w, x, y, z), normalised first."""
    q = np.asarray(quats, np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def premultiply_quaternions(rotation: np.ndarray, quats: np.ndarray) -> np.ndarray:
    """(N, 4) float32 quaternions ``q_R * q``: each local-to-frame orientation turned by ``rotation`` (3, 3)."""
    w1, x1, y1, z1 = matrix_to_quaternion(rotation)
    q = np.asarray(quats, np.float32)
    w2, x2, y2, z2 = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    out = np.empty_like(q)
    out[:, 0] = w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2
    out[:, 1] = w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2
    out[:, 2] = w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2
    out[:, 3] = w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2
    return out


def sh_basis(directions: np.ndarray, degree: int) -> np.ndarray:
    """(Q, (degree + 1)**2) real SH basis at unit directions (Q, 3), in the 3DGS order and signs."""
    x, y, z = directions[:, 0], directions[:, 1], directions[:, 2]
    columns = [np.full_like(x, 0.28209479177387814)]
    if degree >= 1:
        c1 = 0.4886025119029199
        columns += [-c1 * y, c1 * z, -c1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        columns += [
            1.0925484305920792 * x * y,
            -1.0925484305920792 * y * z,
            0.31539156525252005 * (2 * zz - xx - yy),
            -1.0925484305920792 * x * z,
            0.5462742152960396 * (xx - yy),
        ]
    if degree >= 3:
        columns += [
            -0.5900435899266435 * y * (3 * xx - yy),
            2.890611442640554 * x * y * z,
            -0.4570457994644658 * y * (4 * zz - xx - yy),
            0.3731763325901154 * z * (2 * zz - 3 * xx - 3 * yy),
            -0.4570457994644658 * x * (4 * zz - xx - yy),
            1.445305721320277 * z * (xx - yy),
            -0.5900435899266435 * x * (xx - 3 * yy),
        ]
    return np.stack(columns, axis=1)


def rotate_sh(sh: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(N, K, 3) float32 SH coefficients re-expressed after turning the frame by ``rotation`` (3, 3).

    Each band l is an invariant (2l+1)-dimensional space under rotation, so its
    (2l+1, 2l+1) rotation block is found exactly by least squares on a fixed set
    of directions: colour(R d) after equals colour(d) before.
    """
    degree = round(np.sqrt(sh.shape[1])) - 1
    if degree < 1:
        return np.asarray(sh, np.float32).copy()
    # A fixed, well-spread direction set (Fibonacci sphere): no randomness needed.
    count = 64
    i = np.arange(count) + 0.5
    polar, azimuth = np.arccos(1 - 2 * i / count), np.pi * (1 + 5**0.5) * i
    dirs = np.column_stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)])
    before, after = sh_basis(dirs, degree), sh_basis(dirs @ np.asarray(rotation, np.float64), degree)
    out = np.asarray(sh, np.float32).copy()
    for band in range(1, degree + 1):
        cols = slice(band * band, (band + 1) * (band + 1))
        block = np.linalg.lstsq(before[:, cols], after[:, cols], rcond=None)[0]  # (2l+1, 2l+1): B(d) T = B(R^T d)
        out[:, cols] = np.einsum("ij,njc->nic", block.astype(np.float32), out[:, cols])
    return out


def transform_gaussians(cloud: GaussianCloud, matrix: np.ndarray) -> GaussianCloud:
    """The cloud mapped by the similarity ``matrix`` (4, 4): centres, orientations, scales and SH bands."""
    scale, rotation, translation = decompose_similarity(matrix)
    linear = (scale * rotation).astype(np.float32)
    return GaussianCloud(
        positions=(np.asarray(cloud.positions, np.float32) @ linear.T + translation.astype(np.float32)).astype(
            np.float32
        ),
        rotations=premultiply_quaternions(rotation, cloud.rotations),
        scales=(np.asarray(cloud.scales, np.float32) * np.float32(scale)).astype(np.float32),
        opacities=np.asarray(cloud.opacities, np.float32).copy(),
        sh=rotate_sh(cloud.sh, rotation),
    )


def transform_poses(cam_to_world: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(M, 4, 4) rigid camera poses mapped by a similarity: rotation turned by R, centre moved by s R c + t."""
    scale, rotation, translation = decompose_similarity(matrix)
    poses = np.array(cam_to_world, np.float64, copy=True)
    poses[:, :3, :3] = rotation @ poses[:, :3, :3]
    poses[:, :3, 3] = scale * poses[:, :3, 3] @ rotation.T + translation
    return poses


def transform_cameras(path: CameraPath, matrix: np.ndarray) -> CameraPath:
    """The camera path mapped by a similarity (intrinsics unchanged)."""
    return CameraPath(
        intrinsics=np.array(path.intrinsics, np.float64, copy=True),
        cam_to_world=transform_poses(path.cam_to_world, matrix),
        width=path.width,
        height=path.height,
    )


def transform_frames(frames: RGBDFrames, matrix: np.ndarray) -> RGBDFrames:
    """RGB-D frames mapped by a similarity: poses moved, depths multiplied by s (0 = no reading stays 0)."""
    scale = decompose_similarity(matrix)[0]
    return RGBDFrames(
        colors=frames.colors,
        depths=(np.asarray(frames.depths, np.float32) * np.float32(scale)).astype(np.float32),
        cameras=transform_cameras(frames.cameras, matrix),
        names=list(frames.names),
    )


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 3) float64 points mapped by a (4, 4) matrix."""
    m = np.asarray(matrix, np.float64)
    return np.asarray(points, np.float64) @ m[:3, :3].T + m[:3, 3]

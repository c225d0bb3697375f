"""A synthetic furnished room with known geometry: the demo scene and the tests' ground truth.

The room is built in the world frame (Z-up, metres, floor at z = 0, room
centred on the origin) from axis-aligned boxes, and covered with flat
Gaussians ("surfels") on every surface a camera inside the room could see:
floor (minus what furniture stands on), walls, ceiling and the visible faces
of each piece of furniture. :meth:`SampleRoom.to_input_frame` then expresses it
the way a generator would hand it over: in the OpenCV frame of a camera
standing in the room, in unknown units.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worldgen_sim.artifacts import GaussianCloud, TriangleMesh
from worldgen_sim.scenes.surfels import (
    cloud_to_input_frame,
    concat_clouds,
    floater_cloud,
    normal_quaternions,
    sample_parallelogram,
    sky_shell,
    surfel_cloud,
)

SURFACE, FLOATER, SKY = 0, 1, 2
"""Labels of :attr:`SampleRoom.labels`: what each Gaussian was made as."""

@dataclass(eq=False)
class Box:
    """An axis-aligned box.

    Attributes:
        name: identifier, e.g. ``"table_top"``.
        lo: (3,) float64 minimum corner [m].
        hi: (3,) float64 maximum corner [m].
        semantic_class: ``"floor"``, ``"wall"``, ``"ceiling"`` or a furniture class.
        color: (3,) RGB in [0, 1].
    """

    name: str
    lo: np.ndarray
    hi: np.ndarray
    semantic_class: str
    color: tuple[float, float, float]


@dataclass(eq=False)
class SampleRoom:
    """The room, its furniture and the Gaussians covering them (world frame).

    Attributes:
        size: (3,) room extent along x, y, z [m]; the room spans
            [-sx/2, sx/2] x [-sy/2, sy/2] x [0, sz].
        furniture: the furniture boxes (table tops, legs, cabinets).
        gaussians: the Gaussian cloud in the world frame.
        labels: (N,) int8, SURFACE / FLOATER / SKY per Gaussian.
        camera_to_world: (4, 4) float64 OpenCV camera standing in the room, looking
            roughly along +Y and slightly down.
        ceiling: whether the ceiling is covered.
    """

    size: np.ndarray
    furniture: list[Box]
    gaussians: GaussianCloud
    labels: np.ndarray
    camera_to_world: np.ndarray
    ceiling: bool = True
    faces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)

    @property
    def camera_height(self) -> float:
        """Height of the camera above the floor [m]."""
        return float(self.camera_to_world[2, 3])

    def surface_points(self, *, spacing: float, seed: int = 0) -> np.ndarray:
        """(P, 3) float64 points on every visible surface, about ``spacing`` apart [m]."""
        rng = np.random.default_rng(seed)
        points = [_sample_face(origin, u, v, spacing, rng, self.furniture)[0] for origin, u, v in self.faces]
        return np.concatenate(points)

    def inside_furniture(self, points: np.ndarray) -> np.ndarray:
        """(P,) bool: whether each (P, 3) point lies inside a furniture box."""
        points = np.asarray(points, dtype=np.float64)
        inside = np.zeros(points.shape[0], dtype=bool)
        for box in self.furniture:
            inside |= np.all((points >= box.lo) & (points <= box.hi), axis=1)
        return inside

    def ground_truth_mesh(self) -> TriangleMesh:
        """The visible surfaces as two triangles per face (floor not cut around furniture)."""
        vertices, faces = [], []
        for index, (origin, u, v) in enumerate(self.faces):
            vertices += [origin, origin + u, origin + u + v, origin + v]
            base = 4 * index
            faces += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
        return TriangleMesh(np.asarray(vertices, np.float32), np.asarray(faces, np.int32))

    def to_input_frame(self, *, scale: float = 1.0, frame: str = "opencv") -> tuple[GaussianCloud, np.ndarray]:
        """The cloud as a generator would write it, and the true input-to-world transform.

        Args:
            scale: input units per metre (a relative-depth generator's unknown factor).
            frame: ``"opencv"`` (the camera's frame: x right, y down, z forward),
                ``"y"`` (y-up world, x unchanged) or ``"z"`` (the world itself, scaled).

        Returns:
            The transformed cloud and the (4, 4) similarity mapping input to world.
        """
        return cloud_to_input_frame(self.gaussians, camera_to_world=self.camera_to_world, scale=scale, frame=frame)


def make_sample_room(
    *,
    seed: int = 0,
    spacing: float = 0.04,
    size: tuple[float, float, float] = (6.0, 5.0, 2.7),
    furnished: bool = True,
    ceiling: bool = True,
    num_floaters: int = 0,
    num_sky: int = 0,
    sky_radius: float = 60.0,
) -> SampleRoom:
    """Build the sample room.

    Args:
        seed: random seed (same seed, same room and Gaussians).
        spacing: mean distance between neighbouring surface Gaussians [m];
            about 80 k Gaussians at 0.04 m (furnished, with ceiling), 1 M at 0.0114 m.
        size: room extent along x, y, z [m].
        furnished: add a table, a cabinet, a sofa-like block and a low crate.
        ceiling: cover the ceiling with Gaussians.
        num_floaters: low-opacity or isolated Gaussians scattered in the room's air.
        num_sky: Gaussians on a far sphere around the room (a generator's sky shell).
        sky_radius: radius of that sphere [m].
    """
    rng = np.random.default_rng(seed)
    sx, sy, sz = size
    furniture = _furniture(sx, sy) if furnished else []
    faces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    colors: list[tuple[float, float, float]] = []

    def add(origin, u, v, color):
        faces.append((np.asarray(origin, np.float64), np.asarray(u, np.float64), np.asarray(v, np.float64)))
        colors.append(color)

    hx, hy = sx / 2, sy / 2
    # Room shell, normals pointing into the room.
    add((-hx, -hy, 0), (sx, 0, 0), (0, sy, 0), (0.55, 0.45, 0.35))  # floor, +z
    add((-hx, -hy, 0), (0, 0, sz), (sx, 0, 0), (0.85, 0.85, 0.8))  # wall y=-hy, +y
    add((-hx, hy, 0), (sx, 0, 0), (0, 0, sz), (0.8, 0.82, 0.85))  # wall y=+hy, -y
    add((-hx, -hy, 0), (0, sy, 0), (0, 0, sz), (0.82, 0.8, 0.78))  # wall x=-hx, +x
    add((hx, -hy, 0), (0, 0, sz), (0, sy, 0), (0.8, 0.8, 0.82))  # wall x=+hx, -x
    if ceiling:
        add((-hx, -hy, sz), (0, sy, 0), (sx, 0, 0), (0.95, 0.95, 0.95))  # ceiling, -z
    for box in furniture:
        for origin, u, v in _box_faces(box):
            centre = origin + 0.5 * (np.asarray(u) + np.asarray(v))
            if np.isclose(abs(centre[0]), hx) or np.isclose(abs(centre[1]), hy):
                continue  # a face pressed against a wall is never seen
            add(origin, u, v, box.color)

    positions, normals, face_colors = [], [], []
    for (origin, u, v), color in zip(faces, colors):
        points, normal = _sample_face(origin, u, v, spacing, rng, furniture)
        positions.append(points)
        normals.append(np.broadcast_to(normal, (len(points), 3)))
        face_colors.append(np.broadcast_to(color, (len(points), 3)))
    positions = np.concatenate(positions)
    count = positions.shape[0]
    rotations = normal_quaternions(np.concatenate(normals))
    surface = surfel_cloud(positions, rotations, np.concatenate(face_colors), spacing=spacing, rng=rng)
    parts, labels = [surface], [np.full(count, SURFACE, np.int8)]
    if num_floaters:
        lo, hi = (-sx / 2 + 0.3, -sy / 2 + 0.3, 0.3), (sx / 2 - 0.3, sy / 2 - 0.3, sz - 0.3)
        parts.append(floater_cloud(rng, num_floaters, lo, hi, spacing))
        labels.append(np.full(num_floaters, FLOATER, np.int8))
    if num_sky:
        parts.append(sky_shell(rng, num_sky, sky_radius))
        labels.append(np.full(num_sky, SKY, np.int8))
    cloud = concat_clouds(parts)
    return SampleRoom(
        size=np.asarray(size, np.float64),
        furniture=furniture,
        gaussians=cloud,
        labels=np.concatenate(labels),
        camera_to_world=_camera(sx, sy),
        ceiling=ceiling,
        faces=faces,
    )



def _furniture(sx: float, sy: float) -> list[Box]:
    def box(name, lo, hi, cls, color):
        return Box(name, np.asarray(lo, np.float64), np.asarray(hi, np.float64), cls, color)

    table = [box("table_top", (-0.6, 0.4, 0.70), (0.6, 1.2, 0.75), "table", (0.45, 0.3, 0.2))]
    for i, (x, y) in enumerate([(-0.55, 0.45), (0.55, 0.45), (-0.55, 1.15), (0.55, 1.15)]):
        table.append(box(f"table_leg_{i}", (x - 0.025, y - 0.025, 0.0), (x + 0.025, y + 0.025, 0.70), "table",
                         (0.4, 0.28, 0.18)))
    hx, hy = sx / 2, sy / 2
    return table + [
        box("cabinet", (hx - 0.5, hy - 1.6, 0.0), (hx, hy - 0.4, 1.8), "cabinet", (0.3, 0.35, 0.5)),
        box("sofa", (-hx, -0.8, 0.0), (-hx + 0.9, 1.2, 0.45), "sofa", (0.6, 0.2, 0.2)),
        box("crate", (1.0, -1.2, 0.0), (1.5, -0.7, 0.3), "crate", (0.7, 0.6, 0.3)),
    ]


def _box_faces(box: Box):
    """The five faces of a box a camera can see (not its bottom), outward normals."""
    (x0, y0, z0), (x1, y1, z1) = box.lo, box.hi
    dx, dy, dz = x1 - x0, y1 - y0, z1 - z0
    faces = [
        ((x0, y0, z1), (dx, 0, 0), (0, dy, 0)),  # top, +z
        ((x0, y0, z0), (dx, 0, 0), (0, 0, dz)),  # -y
        ((x0, y1, z0), (0, 0, dz), (dx, 0, 0)),  # +y
        ((x0, y0, z0), (0, 0, dz), (0, dy, 0)),  # -x
        ((x1, y0, z0), (0, dy, 0), (0, 0, dz)),  # +x
    ]
    if z0 > 0.0:  # raised (a table top): its underside is visible too
        faces.append(((x0, y0, z0), (0, dy, 0), (dx, 0, 0)))  # -z
    return faces


def _sample_face(origin, u, v, spacing, rng, furniture):
    """Jittered-grid samples on the parallelogram origin + a u + b v; drops points hidden inside furniture."""
    points = sample_parallelogram(origin, u, v, spacing, rng)
    normal = np.cross(u, v)
    normal = np.rint(normal / np.linalg.norm(normal))
    # A point on one face that lies strictly inside another box is hidden (floor under a cabinet).
    probe = points + 1e-4 * normal
    hidden = np.zeros(len(points), dtype=bool)
    for box in furniture:
        hidden |= np.all((probe > box.lo) & (probe < box.hi), axis=1)
    return points[~hidden], normal


def _camera(sx: float, sy: float) -> np.ndarray:
    """An OpenCV camera 1.4 m high near the -Y wall, looking along +Y, pitched 12 deg down, yawed 8 deg."""
    pitch, yaw = np.radians(12.0), np.radians(8.0)
    # Columns: camera x (right), y (down), z (forward) in world coordinates.
    forward = np.array([np.sin(yaw) * np.cos(pitch), np.cos(yaw) * np.cos(pitch), -np.sin(pitch)])
    right = np.array([np.cos(yaw), -np.sin(yaw), 0.0])
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.column_stack([right, down, forward])
    pose[:3, 3] = (0.3, -sy / 2 + 0.8, 1.4)
    return pose

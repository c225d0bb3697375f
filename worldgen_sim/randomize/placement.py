"""Collision-checked placement: object moves and distractor drops that never interpenetrate.

Everything is judged against the base world's colliders (hull planes and points
sampled on the static triangle meshes), vectorised over points.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from worldgen_sim.randomize.world_info import MovableObject, WorldInfo

__all__ = ["ObjectPose", "Placer"]

_SUPPORT_RADIUS = 0.06
"""Horizontal search radius for ground under a footprint corner [m]."""
_MAX_LIFT = 0.03
"""Highest a moved object is raised onto an uneven floor [m]; more means it hit something else."""
_FLOOR_SINK = 0.015
"""Deepest a movable object may overlap the static colliders where it stands in the base world [m]:
the few millimetres by which a captured floor creases up its sides."""
_SUPPORT_BAND = 0.03
"""A footprint corner is supported by ground within this height of the object's bottom [m]."""


@dataclass(eq=False)
class ObjectPose:
    """A rigid pose of an object: yaw about its own vertical axis and its centre.

    Attributes:
        centre: (3,) float64 [m].
        yaw: rotation about +Z [rad].
    """

    centre: np.ndarray
    yaw: float

    def to_world(self, local: np.ndarray) -> np.ndarray:
        """(N, 3) points in the object's frame -> world [m]."""
        return local @ _rz(self.yaw).T + self.centre

    def to_local(self, world: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> the object's frame [m]."""
        return (world - self.centre) @ _rz(self.yaw)


class _Solid:
    """An object's hulls as half-space sets plus points on their surfaces, in the object's frame."""

    def __init__(self, obj: MovableObject) -> None:
        from scipy.spatial import ConvexHull

        self.planes: list[np.ndarray] = []
        points = []
        for vertices in obj.hulls:
            hull = ConvexHull(vertices, qhull_options="QJ")
            self.planes.append(hull.equations)  # (F, 4): n . p + d <= 0 inside, n outward and unit
            corners = vertices[hull.simplices]  # a few points per face so faces, not only corners, are tested
            points.append(np.concatenate([vertices, corners.mean(axis=1), 0.5 * (corners[:, 0] + corners[:, 1])]))
        self.points: np.ndarray = np.concatenate(points)
        self.radius = float(np.linalg.norm(self.points, axis=1).max())
        self.boxes = [(v.min(axis=0), v.max(axis=0)) for v in obj.hulls]

    def penetration(self, local_points: np.ndarray, *, deeper_than: float | None = None) -> np.ndarray:
        """(N,) depth [m] of each point inside the deepest hull (<= 0 when outside every hull).

        With ``deeper_than``, only points deeper than that get their depth (the others -inf): a
        point that deep lies inside the hull's box shrunk by it, a cheap test that skips the
        plane products for the many floor points just under an object's bottom.
        """
        depth = np.full(len(local_points), -np.inf)
        for planes, (lo, hi) in zip(self.planes, self.boxes):  # a small product per hull: faster than stacked
            if deeper_than is None:
                depth = np.maximum(depth, -(local_points @ planes[:, :3].T + planes[:, 3]).max(axis=1))
                continue
            index = np.flatnonzero(_inside(local_points, lo + deeper_than, hi - deeper_than))
            if len(index):
                signed = local_points[index] @ planes[:, :3].T + planes[:, 3]  # (n, F)
                depth[index] = np.maximum(depth[index], -signed.max(axis=1))
        return depth


class Placer:
    """Poses for the base world's objects and free spots for distractors, checked for overlap.

    Args:
        world: the base world.
        tolerance: deepest allowed interpenetration [m].
    """

    def __init__(self, world: WorldInfo, *, tolerance: float) -> None:
        self.world = world
        self.tolerance = tolerance
        self.solids, self.static_grid, _ = _shared_geometry(world)
        self.static = world.static_points
        self.base_poses = {obj.name: ObjectPose(obj.centre.copy(), 0.0) for obj in world.objects}
        self.poses = dict(self.base_poses)
        self.baselines = _SHARED[world][2]
        self.distractors: list[tuple[np.ndarray, float]] = []

    # --- objects ---------------------------------------------------------------------------

    def movable(self, obj: MovableObject) -> bool:
        """The object's collider is clear of every other object by ``tolerance``, and of the static colliders
        by :data:`_FLOOR_SINK`, where it stands in the base world.

        A captured floor creases up the sides of what stands on it, so an object standing on the floor
        overlaps the floor collider by a few millimetres at its edges; a move lifts it out to within
        ``tolerance`` (:meth:`try_move`). An object sunk deeper (a box fit into the floor, say) is left
        where it is: moving it could only be judged against that overlap.
        """
        base = self._baseline(obj)
        if base["static"] > _FLOOR_SINK or base["objects"] > self.tolerance:
            return False
        if "budges" not in base:
            base["budges"] = self._budges(obj)
        return bool(base["budges"])

    def _budges(self, obj: MovableObject) -> bool:
        """Whether any of a few small probe moves (2 cm four ways, 3 degrees either way) passes the checks.

        An object wedged in place (against a wall, or with a collider that reaches under a floor
        the camera never saw) would spend every attempt of every variant being rejected; such an
        object is not movable. Judged once per world, from the world alone, so variants stay
        independent of each other.
        """
        base = self.poses[obj.name]
        probes = [ObjectPose(obj.centre + 0.02 * np.array([np.cos(a), np.sin(a), 0.0]), 0.0)
                  for a in np.arange(4) * np.pi / 2] + [ObjectPose(obj.centre.copy(), y) for y in np.radians([3, -3])]
        try:
            return any(self.try_move(obj, probe) for probe in probes)
        finally:
            self.poses[obj.name] = base

    def try_move(self, obj: MovableObject, pose: ObjectPose) -> bool:
        """Move ``obj`` to ``pose`` if nothing overlaps it by more than ``tolerance`` and it keeps its support.

        A pose that sinks into the floor is raised (``pose.centre`` changes) by up to ``_MAX_LIFT``.

        Support is judged against the base pose (a footprint corner can hang over floor the
        camera never saw): at least as many supported footprint corners as there.
        """
        solid = self.solids[obj.name]
        base = self._baseline(obj)
        if self._support_corners(obj.name, solid, pose) < base["support"]:
            return False
        depth = self._static_depth(solid, pose, deeper_than=self.tolerance)
        if depth > self.tolerance:
            # Captured floors are not flat to the millimetre: a shifted object would sink into a bump. Raise it
            # until its deepest floor point is back at the base pose's depth, and no deeper than the tolerance
            # (a base pose sunk further into the floor's crease drops those millimetres in simulation). A crease
            # point at the object's side is nearest a side face, so one lift may leave it inside: lift again, up
            # to _MAX_LIFT. Lifting does nothing for a wall, which the check then rejects.
            target = min(max(base["static"], 0.0), 0.8 * self.tolerance)
            start = pose.centre[2]
            for _ in range(4):
                pose.centre = pose.centre + np.array([0.0, 0.0, depth - target])
                if pose.centre[2] - start > _MAX_LIFT:
                    return False
                depth = self._static_depth(solid, pose, deeper_than=self.tolerance)
                if depth <= self.tolerance:
                    break
            else:
                return False
        if self._object_depth(obj.name, solid, pose) > self.tolerance:
            return False
        self.poses[obj.name] = pose
        return True

    def _baseline(self, obj: MovableObject) -> dict[str, float]:
        cache = self.baselines
        if obj.name not in cache:
            pose, solid = ObjectPose(obj.centre.copy(), 0.0), self.solids[obj.name]
            cache[obj.name] = {"support": min(self._support_corners(obj.name, solid, pose), 2),
                               "static": self._static_depth(solid, pose),
                               "objects": self._object_depth(obj.name, solid, pose, base_poses=True)}
        return cache[obj.name]

    def _static_in_box(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Static collider points inside the axis-aligned box [lo, hi] (3,) [m]."""
        return self.static_grid.in_box(lo, hi)

    def _static_depth(self, solid: _Solid, pose: ObjectPose, *, deeper_than: float | None = None) -> float:
        """Deepest static collider point inside the object at ``pose`` [m] (<= 0: none inside; -inf when
        none is deeper than ``deeper_than``)."""
        corners = pose.to_world(solid.points)
        near = self._static_in_box(corners.min(axis=0), corners.max(axis=0))
        if not len(near):
            return -np.inf
        return float(solid.penetration(pose.to_local(near), deeper_than=deeper_than).max())

    def _object_depth(self, name: str, solid: _Solid, pose: ObjectPose, *, base_poses: bool = False) -> float:
        """Deepest overlap [m] between the object at ``pose`` and any other object or distractor."""
        mine = pose.to_world(solid.points)
        deepest = -np.inf
        for other, other_solid in self.solids.items():
            other_pose = self.base_poses[other] if base_poses else self.poses[other]
            if other == name or np.linalg.norm(other_pose.centre - pose.centre) > solid.radius + other_solid.radius:
                continue
            theirs = other_pose.to_world(other_solid.points)
            deepest = max(deepest, solid.penetration(pose.to_local(theirs)).max(),
                          other_solid.penetration(other_pose.to_local(mine)).max())
        if not base_poses and not self._clear_of_distractors(mine):
            return np.inf
        return float(deepest)

    def _support_corners(self, name: str, solid: _Solid, pose: ObjectPose) -> int:
        """How many of the footprint's four corners have ground or another object's top at the bottom height."""
        points = pose.to_world(solid.points)
        bottom = points[:, 2].min()
        base = points[points[:, 2] <= bottom + 0.02]
        lo, hi = base[:, :2].min(axis=0), base[:, :2].max(axis=0)
        band = np.array([_SUPPORT_RADIUS, _SUPPORT_RADIUS, _SUPPORT_BAND])
        box_lo, box_hi = np.append(lo, bottom) - band, np.append(hi, bottom) + band
        support = [self._static_in_box(box_lo, box_hi)]
        for other, other_pose in self.poses.items():
            if other != name:
                theirs = other_pose.to_world(self.solids[other].points)
                support.append(theirs[_inside(theirs, box_lo, box_hi)])
        support = np.concatenate(support)
        if not len(support):
            return 0
        corners = np.array([[lo[0], lo[1]], [lo[0], hi[1]], [hi[0], lo[1]], [hi[0], hi[1]]])
        distance = np.linalg.norm(support[None, :, :2] - corners[:, None, :], axis=2)  # (4, P)
        return int((distance <= _SUPPORT_RADIUS).any(axis=1).sum())

    # --- distractors -----------------------------------------------------------------------

    def try_drop(self, centre: np.ndarray, half_extent: float, ground: float) -> bool:
        """Claim a spot for a distractor of bounding radius ``half_extent`` above ``ground``."""
        radius = half_extent * np.sqrt(3.0)
        for other, other_radius in self.distractors:
            if np.linalg.norm(other - centre) < radius + other_radius:
                return False
        near = self._static_in_box(centre - half_extent, centre + half_extent)
        if np.any(near[:, 2] > ground + self.tolerance):
            return False
        probe = centre + half_extent * _CUBE_POINTS
        for name, pose in self.poses.items():
            solid = self.solids[name]
            if np.linalg.norm(pose.centre[:2] - centre[:2]) > solid.radius + radius:
                continue
            if solid.penetration(pose.to_local(probe)).max() > -self.tolerance:
                return False
        self.distractors.append((centre, radius))
        return True

    def _clear_of_distractors(self, points: np.ndarray) -> bool:
        return all(np.linalg.norm(points - c, axis=1).min() >= r for c, r in self.distractors)


_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _shared_geometry(world: WorldInfo):
    """Hull half-spaces and the static points' grid, built once per world and reused by every variant."""
    shared = _SHARED.get(world)
    if shared is None:
        solids = {obj.name: _Solid(obj) for obj in world.objects}
        shared = _SHARED[world] = (solids, _PointGrid(world.static_points), {})  # last: per-object baselines
    return shared


class _PointGrid:
    """Points bucketed by a 3D grid, for box queries that touch only the cells a box overlaps."""

    def __init__(self, points: np.ndarray, cell: float = 0.25) -> None:
        self.cell = cell
        points = np.asarray(points, np.float64).reshape(-1, 3)
        self.lo = points.min(axis=0) if len(points) else np.zeros(3)
        ijk = np.floor((points - self.lo) / cell).astype(np.int64)
        self.shape = (ijk.max(axis=0) + 1) if len(points) else np.ones(3, np.int64)
        key = (ijk[:, 0] * self.shape[1] + ijk[:, 1]) * self.shape[2] + ijk[:, 2]
        order = np.argsort(key, kind="stable")
        self.points = points[order]
        self.starts = np.searchsorted(key[order], np.arange(int(np.prod(self.shape)) + 1))

    def in_box(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Points inside the axis-aligned box [lo, hi] (3,) [m]."""
        if not len(self.points) or np.any(hi < self.lo) or np.any(lo > self.lo + self.shape * self.cell):
            return self.points[:0]
        first = np.clip(np.floor((lo - self.lo) / self.cell).astype(np.int64), 0, self.shape - 1)
        last = np.clip(np.floor((hi - self.lo) / self.cell).astype(np.int64), 0, self.shape - 1)
        pieces = []
        for i in range(first[0], last[0] + 1):  # one contiguous slice (along z) per (x, y) cell
            for j in range(first[1], last[1] + 1):
                row = (i * self.shape[1] + j) * self.shape[2]
                pieces.append(self.points[self.starts[row + first[2]]:self.starts[row + last[2] + 1]])
        near = np.concatenate(pieces)
        return near[_inside(near, lo, hi)]


_CUBE_POINTS = np.array(np.meshgrid([-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0])).reshape(3, -1).T


def _inside(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(N,) bool: (N, 3) points inside the box [lo, hi]; column by column, several times faster than
    ``np.all(..., axis=1)`` over an (N, 3) mask."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    return (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]) & (z >= lo[2]) & (z <= hi[2])


def _rz(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

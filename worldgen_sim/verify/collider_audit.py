"""Which colliders of a world would a physics engine refuse, degrade or silently change?

Read with usd-core only, from the composed ``world.usda``; no engine runs here.
Each collider prim is checked for what PhysX (and so Isaac Sim) does with it:

- a triangle mesh (``approximation = "none"``) on a dynamic rigid body: PhysX
  allows triangle meshes on static colliders only and silently uses one convex
  hull instead;
- degenerate triangles (zero area, repeated corners or indices out of range):
  mesh cooking drops or rejects them;
- a convex hull that cannot be cooked (fewer than 4 points, no volume);
- a convex hull the GPU pipeline rejects (Isaac Sim then collides it on the
  CPU): more than 64 vertices or 64 faces, or "oblong": its largest half-extent
  is 100 or more times the radius of the largest sphere about its centroid that
  fits inside. PhysX names no prim when it rejects an oblong hull, so the prims
  are found here; on the demo room this picks exactly the 2 hulls PhysX warned
  about (ratios 134 and 268; every other hull is below 61). The PhysX drop test
  reports PhysX's own count beside these names.

:func:`missing_colliders` compares the collider paths with what an engine
reports it loaded, so a collider an engine skipped is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError
from worldgen_sim.hull_polygons import polygon_count
from worldgen_sim.usd_geometry import fan_corners, prim_world_matrix, usd_transform_points

__all__ = ["ColliderAudit", "ColliderIssue", "GPU_HULL_MAX_FACES", "GPU_HULL_MAX_VERTICES", "GPU_HULL_MAX_OBLONG",
           "audit_colliders", "missing_colliders", "oblong_ratio"]  # fmt: skip

GPU_HULL_MAX_VERTICES = 64
"""PhysX's GPU convex-hull limit on vertices."""
GPU_HULL_MAX_FACES = 64
"""PhysX's GPU convex-hull limit on (polygon) faces."""
GPU_HULL_MAX_OBLONG = 100.0
"""Largest half-extent over inner radius at which PhysX's GPU cooking gives up ("oblong shape")."""
# Triangles with less area than this are degenerate [m^2] (a 1 mm x 0.02 mm sliver).
_MIN_TRIANGLE_AREA = 1e-8
# Hulls with less volume than this cannot be cooked into a solid [m^3] (1 mm^3).
_MIN_HULL_VOLUME = 1e-9


@dataclass
class ColliderIssue:
    """One problem with one collider.

    Attributes:
        prim: the collider's prim path.
        kind: ``"dynamic triangle mesh"``, ``"degenerate triangles"``, ``"uncookable hull"``,
            ``"gpu hull limits"`` or ``"gpu oblong hull"``.
        detail: the numbers behind it.
        fatal: the engine loses or changes the collider (True), or only slows down (False).
    """

    prim: str
    kind: str
    detail: str
    fatal: bool


@dataclass
class ColliderAudit:
    """What :func:`audit_colliders` found.

    Attributes:
        colliders: every prim with ``UsdPhysics.CollisionAPI``, sorted.
        hulls: how many of them are convex hulls.
        issues: the problems, one per prim and kind.
    """

    colliders: list[str]
    hulls: int
    issues: list[ColliderIssue] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {
            "colliders": len(self.colliders),
            "hulls": self.hulls,
            "issues": [vars(issue) for issue in self.issues],
        }


def audit_colliders(world: str | Path) -> ColliderAudit:
    """Check every collider of ``world`` for what PhysX would refuse or change.

    Args:
        world: a composed world stage (``world.usda``), Z-up, metres.

    Returns:
        The collider paths and the issues found, each naming its prim.

    Raises:
        WorldgenError: the stage cannot be opened.
    """
    from pxr import Usd, UsdGeom, UsdPhysics

    stage = Usd.Stage.Open(str(world))
    if stage is None:
        raise WorldgenError(f"{world}: cannot open as a USD stage")
    colliders, hulls, issues = [], 0, []
    for prim in stage.Traverse():
        if not prim.HasAPI(UsdPhysics.CollisionAPI):
            continue
        path = str(prim.GetPath())
        colliders.append(path)
        if not prim.IsA(UsdGeom.Mesh):
            continue  # analytic shapes (sphere, cube, ...) always load
        approximation = _approximation(prim)
        dynamic = _in_dynamic_body(prim)
        points, counts, indices = _mesh_arrays(UsdGeom.Mesh(prim))
        if approximation == "none":
            if dynamic:
                issues.append(ColliderIssue(path, "dynamic triangle mesh", "approximation 'none' on a rigid body: "
                                            "PhysX replaces it with one convex hull", fatal=True))  # fmt: skip
            bad = _degenerate_triangles(points, counts, indices)
            if bad:
                total = int(np.maximum(counts - 2, 0).sum())
                issues.append(ColliderIssue(path, "degenerate triangles",
                                            f"{bad} of {total} triangles have no area or bad indices", fatal=False))
        elif approximation == "convexHull":
            hulls += 1
            issues += _hull_issues(path, points, counts)
    return ColliderAudit(colliders=sorted(colliders), hulls=hulls, issues=issues)


def missing_colliders(expected: list[str], loaded: list[str]) -> list[str]:
    """Collider paths in ``expected`` with no shape among ``loaded`` (the engine's shape paths).

    An engine may name a shape by the collider prim or by a child of it, so a
    loaded path under an expected one counts.
    """
    loaded_set = set(loaded)
    missing = []
    for path in expected:
        if path in loaded_set:
            continue
        prefix = path + "/"
        if not any(name.startswith(prefix) for name in loaded_set):
            missing.append(path)
    return missing


def _approximation(prim) -> str:
    from pxr import UsdPhysics

    if not prim.HasAPI(UsdPhysics.MeshCollisionAPI):
        return "none"  # UsdPhysics' default for a mesh collider
    return str(UsdPhysics.MeshCollisionAPI(prim).GetApproximationAttr().Get() or "none")


def _in_dynamic_body(prim) -> bool:
    """The prim or an ancestor is an enabled, non-kinematic rigid body."""
    from pxr import UsdPhysics

    while prim and prim.IsValid() and not prim.IsPseudoRoot():
        if prim.HasAPI(UsdPhysics.RigidBodyAPI):
            body = UsdPhysics.RigidBodyAPI(prim)
            enabled = body.GetRigidBodyEnabledAttr().Get() in (None, True)
            return bool(enabled) and not body.GetKinematicEnabledAttr().Get()
        prim = prim.GetParent()
    return False


def _mesh_arrays(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    points = np.asarray(mesh.GetPointsAttr().Get() or [], dtype=np.float64).reshape(-1, 3)
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get() or [], dtype=np.int64)
    indices = np.asarray(mesh.GetFaceVertexIndicesAttr().Get() or [], dtype=np.int64)
    points = usd_transform_points(points, prim_world_matrix(mesh))
    return points, counts, indices


def _degenerate_triangles(points: np.ndarray, counts: np.ndarray, indices: np.ndarray) -> int:
    """Fan triangles with an out-of-range index, a repeated corner or (almost) no area."""
    if len(counts) == 0 or counts.sum() != len(indices):
        return int(np.maximum(counts - 2, 0).sum())
    tri = indices[fan_corners(counts)[1]]
    bad_index = ((tri < 0) | (tri >= len(points))).any(axis=1)
    tri = np.where(bad_index[:, None], 0, tri)
    repeated = (tri[:, 0] == tri[:, 1]) | (tri[:, 1] == tri[:, 2]) | (tri[:, 0] == tri[:, 2])
    a, b, c = (points[tri[:, i]] for i in range(3)) if len(points) else (np.zeros((len(tri), 3)),) * 3
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    return int((bad_index | repeated | (area < _MIN_TRIANGLE_AREA)).sum())


def _hull_issues(path: str, points: np.ndarray, counts: np.ndarray) -> list[ColliderIssue]:
    """A convex-hull collider PhysX cannot cook, or whose hull the GPU pipeline rejects.

    PhysX cooks the convex hull of the points, so the hull is recomputed here
    (scipy's Qhull); its faces are merged coplanar facets, as PhysX's polygons are.
    """
    from scipy.spatial import ConvexHull, QhullError

    unique = np.unique(np.round(points, 6), axis=0)
    unique -= unique.mean(axis=0)  # about its centre: plane offsets compare in metres (hull_polygons)
    if len(unique) < 4:
        return [ColliderIssue(path, "uncookable hull", f"{len(unique)} distinct points; a hull needs 4", fatal=True)]
    try:
        hull = ConvexHull(unique)
    except QhullError:
        return [ColliderIssue(path, "uncookable hull", "all points are coplanar: the hull has no volume", fatal=True)]
    if hull.volume < _MIN_HULL_VOLUME:
        return [ColliderIssue(path, "uncookable hull", f"volume {hull.volume:.2e} m^3", fatal=True)]
    vertices = len(hull.vertices)
    faces = polygon_count(hull.equations)
    found = []
    if vertices > GPU_HULL_MAX_VERTICES or faces > GPU_HULL_MAX_FACES:
        found.append(ColliderIssue(path, "gpu hull limits", f"{vertices} vertices, {faces} faces (GPU limit "
                                   f"{GPU_HULL_MAX_VERTICES}/{GPU_HULL_MAX_FACES}): Isaac Sim collides it on the CPU",
                                   fatal=False))  # fmt: skip
    ratio = oblong_ratio(hull)
    if ratio >= GPU_HULL_MAX_OBLONG:
        found.append(ColliderIssue(path, "gpu oblong hull", f"half-extent / inner radius = {ratio:.0f} (GPU gives up "
                                   f"at {GPU_HULL_MAX_OBLONG:.0f}): Isaac Sim collides it on the CPU", fatal=False))
    return found


def oblong_ratio(hull) -> float:
    """Largest half-extent (along the hull's principal axes) over the inner radius about the volume centroid.

    Args:
        hull: a ``scipy.spatial.ConvexHull`` [m].
    """
    points = hull.points
    inner = points[hull.vertices].mean(axis=0)  # inside a convex hull, so every tetrahedron below is positive
    tets = points[hull.simplices]
    volumes = np.abs(np.einsum("ij,ij->i", tets[:, 0] - inner, np.cross(tets[:, 1] - inner, tets[:, 2] - inner)))
    centroid = ((tets.sum(axis=1) + inner) / 4.0 * volumes[:, None]).sum(axis=0) / volumes.sum()
    radius = float(np.min(-(hull.equations[:, :3] @ centroid + hull.equations[:, 3])))
    corners = points[hull.vertices] - centroid
    _, axes = np.linalg.eigh(np.cov(corners.T))
    half_extent = float(np.abs(corners @ axes).max())
    return half_extent / radius if radius > 0 else float("inf")



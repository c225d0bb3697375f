"""The collider audit names the colliders PhysX would refuse, change or move to the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.verify.collider_audit import audit_colliders, missing_colliders


def _mesh(stage, path, points, counts, indices, approximation):
    from pxr import UsdGeom, UsdPhysics

    mesh = UsdGeom.Mesh.Define(stage, path)
    mesh.CreatePointsAttr([tuple(map(float, p)) for p in points])
    mesh.CreateFaceVertexCountsAttr(list(counts))
    mesh.CreateFaceVertexIndicesAttr(list(indices))
    UsdPhysics.CollisionAPI.Apply(mesh.GetPrim())
    UsdPhysics.MeshCollisionAPI.Apply(mesh.GetPrim()).CreateApproximationAttr(approximation)
    return mesh


def _box(lo, hi):
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    return corners, [4] * 6, [i for quad in quads for i in quad]


@pytest.fixture
def world(tmp_path):
    """One collider of every kind the audit knows, plus good ones."""
    from pxr import Usd, UsdGeom, UsdPhysics

    path = tmp_path / "world.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    # A floor of two triangles plus one degenerate (repeated corner) and one of zero area (collinear).
    floor_points = [(0, 0, 0), (4, 0, 0), (4, 4, 0), (0, 4, 0), (2, 2, 0)]
    _mesh(stage, "/World/Floor", floor_points, [3, 3, 3, 3], [0, 1, 2, 0, 2, 3, 1, 1, 2, 0, 4, 2], "none")
    _mesh(stage, "/World/Wall", *_box((0, 0, 0), (4, 0.1, 2)), "none")
    body = UsdGeom.Xform.Define(stage, "/World/Crate")
    UsdPhysics.RigidBodyAPI.Apply(body.GetPrim())
    _mesh(stage, "/World/Crate/mesh", *_box((1, 1, 0), (1.5, 1.5, 0.5)), "none")  # triangle mesh on a body
    _mesh(stage, "/World/Table/top", *_box((2, 2, 0.7), (3, 3, 0.74)), "convexHull")  # fine: ratio 12.5
    _mesh(stage, "/World/Rug", *_box((0, 3, 0), (1.5, 3.5, 0.005)), "convexHull")  # 0.75 / 0.0025 = 300: oblong
    _mesh(stage, "/World/Flat", [(0, 0, 1), (1, 0, 1), (0, 1, 1), (1, 1, 1)], [4], [0, 1, 3, 2], "convexHull")
    rng = np.random.default_rng(0)
    ball = rng.normal(size=(200, 3))
    ball = 0.3 * ball / np.linalg.norm(ball, axis=1, keepdims=True) + (3, 1, 0.5)
    _mesh(stage, "/World/Ball", ball, [3], [0, 1, 2], "convexHull")  # ~200 hull vertices: over the GPU limit
    stage.Save()
    return path


def test_each_problem_is_reported_by_name(world):
    """Dynamic triangle mesh, degenerate triangles, uncookable, too large and oblong hulls: each named once."""
    audit = audit_colliders(world)
    found = {(issue.kind, issue.prim) for issue in audit.issues}
    assert found == {
        ("degenerate triangles", "/World/Floor"),
        ("dynamic triangle mesh", "/World/Crate/mesh"),
        ("gpu oblong hull", "/World/Rug"),
        ("uncookable hull", "/World/Flat"),
        ("gpu hull limits", "/World/Ball"),
    }
    floor = next(issue for issue in audit.issues if issue.prim == "/World/Floor")
    assert floor.detail.startswith("2 of 4 triangles")
    assert len(audit.colliders) == 7 and audit.hulls == 4
    fatal = {issue.prim for issue in audit.issues if issue.fatal}
    assert fatal == {"/World/Crate/mesh", "/World/Flat"}


def test_missing_colliders_accepts_shapes_below_the_collider():
    """An engine that names a shape by a child prim still counts as having loaded the collider."""
    expected = ["/World/A", "/World/B", "/World/C"]
    assert missing_colliders(expected, ["/World/A", "/World/B/shape0"]) == ["/World/C"]
    assert missing_colliders(expected, ["/World/A", "/World/Bx", "/World/C"]) == ["/World/B"]


def _turned_far_away(points: np.ndarray) -> np.ndarray:
    """Points turned about an oblique axis and moved 20 m away, then rounded to float32 as USD stores them."""
    from scipy.spatial.transform import Rotation

    turned = Rotation.from_rotvec([0.4, -0.7, 0.3]).apply(points) + (20.0, -15.0, 3.0)
    return turned.astype(np.float32).astype(np.float64)


def test_gpu_polygon_count_merges_faces_that_float32_tilted_apart(tmp_path):
    """A 31-sided prism (62 vertices, 33 faces: within the GPU's 64/64) turned and far from the origin:
    float32 rounding tilts the triangles of each cap and side apart by ~1e-7, and rounding plane equations
    counted 65-70 polygons on such hulls (the plaza statue's) that PhysX cooked for its GPU. Sixty points
    on a sphere have no two triangles on one plane: 116 polygons, over the limit."""
    from pxr import Usd, UsdGeom

    from worldgen_sim.collision.hulls import convex_hull, hull_polygon_count
    from worldgen_sim.hull_polygons import polygon_count

    angles = np.linspace(0.0, 2 * np.pi, 31, endpoint=False)
    ring = np.column_stack([0.3 * np.cos(angles), 0.3 * np.sin(angles)])
    caps = [np.column_stack([ring, np.full(31, z)]) for z in (0.0, 0.8)]
    prism = _turned_far_away(np.vstack(caps))
    rng = np.random.default_rng(1)
    sphere = rng.normal(size=(60, 3))
    sphere = _turned_far_away(0.3 * sphere / np.linalg.norm(sphere, axis=1, keepdims=True))
    from scipy.spatial import ConvexHull

    prism_hull = ConvexHull(prism - prism.mean(axis=0))
    assert len(prism_hull.simplices) == 2 * 31 + 2 * 29 and polygon_count(prism_hull.equations) == 33
    # The collision stage keeps all 62 corners (by rounded planes it counted over 64 and cut them to 31).
    vertices, faces = convex_hull(prism, max_vertices=64)
    assert len(vertices) == 62 and hull_polygon_count(vertices, faces) == 33
    path = tmp_path / "world.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    _mesh(stage, "/World/Prism", prism, [3], [0, 1, 2], "convexHull")
    _mesh(stage, "/World/Sphere", sphere, [3], [0, 1, 2], "convexHull")
    stage.Save()
    issues = {issue.prim: issue.detail for issue in audit_colliders(path).issues}
    assert "/World/Prism" not in issues, issues
    assert issues["/World/Sphere"].startswith("60 vertices, 116 faces"), issues

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

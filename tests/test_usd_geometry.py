"""usd_geometry: USD's row-vector matrices and fan triangulation, checked against pxr's own answers."""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.usd_geometry import fan_corners, prim_world_matrix, usd_transform_points

pxr = pytest.importorskip("pxr")


def _nested_xforms():
    """A mesh under a rotated, scaled, moved parent and a moved child: a non-trivial local-to-world."""
    from pxr import Gf, Usd, UsdGeom

    stage = Usd.Stage.CreateInMemory()
    parent = UsdGeom.Xform.Define(stage, "/World")
    parent.AddTranslateOp().Set(Gf.Vec3d(1.0, -2.0, 0.5))
    parent.AddRotateXYZOp().Set(Gf.Vec3f(10.0, 20.0, 70.0))
    parent.AddScaleOp().Set(Gf.Vec3f(2.0, 2.0, 2.0))
    mesh = UsdGeom.Mesh.Define(stage, "/World/Mesh")
    mesh.AddTranslateOp().Set(Gf.Vec3d(0.0, 3.0, 0.0))
    return stage, mesh


def test_points_go_where_usd_puts_them():
    """Each point lands where Gf.Matrix4d.Transform (USD's own row-vector product) puts it."""
    from pxr import Gf, Usd, UsdGeom

    stage, mesh = _nested_xforms()
    points = np.random.default_rng(0).uniform(-1, 1, (50, 3))
    world = UsdGeom.Xformable(mesh).ComputeLocalToWorldTransform(Usd.TimeCode.Default())
    expected = np.array([world.Transform(Gf.Vec3d(*p)) for p in points])

    ours = usd_transform_points(points, prim_world_matrix(mesh))
    assert ours.dtype == np.float64 and ours.shape == (50, 3)
    assert np.allclose(ours, expected, atol=1e-12)
    cached = usd_transform_points(points, prim_world_matrix(mesh, cache=UsdGeom.XformCache()))
    assert np.allclose(cached, expected, atol=1e-12)
    # The column-vector reading (M[:3, :3] @ p + M[:3, 3]) would be wrong here: that is the mix-up guarded.
    matrix = prim_world_matrix(mesh)
    assert not np.allclose(points @ matrix[:3, :3].T + matrix[:3, 3], expected, atol=1e-3)


def test_identity_keeps_points_and_dtype_is_honoured():
    points = np.arange(12, dtype=np.float32).reshape(4, 3)
    same = usd_transform_points(points, np.eye(4), dtype=np.float32)
    assert same.dtype == np.float32 and np.array_equal(same, points)
    assert usd_transform_points(points.ravel(), np.eye(4)).shape == (4, 3)  # flat input is reshaped
    shifted = np.eye(4)
    shifted[3, :3] = [0.5, 0.0, -1.0]
    assert np.allclose(usd_transform_points(points, shifted), points + [0.5, 0.0, -1.0])


def test_fan_corners_of_mixed_polygons():
    """A triangle, a quad, a 2-corner degenerate face and a pentagon: fans 0, k+1, k+2 of each."""
    counts = np.array([3, 4, 2, 5])
    face_of, corners = fan_corners(counts)
    assert face_of.tolist() == [0, 1, 1, 3, 3, 3]
    assert corners.tolist() == [[0, 1, 2], [3, 4, 5], [3, 5, 6], [9, 10, 11], [9, 11, 12], [9, 12, 13]]
    empty_of, empty = fan_corners(np.zeros(0, np.int64))
    assert empty_of.shape == (0,) and empty.shape == (0, 3)

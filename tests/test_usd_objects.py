"""The object layer: each collision object's faces and Gaussians under its own Xform, cut from the fused ones."""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.artifacts import CollisionObject, CollisionWorld, ConvexHull, GaussianCloud, TriangleMesh
from worldgen_sim.exporters.usd_objects import object_membership, write_object_layer


def _scene():
    """A floor grid (200 faces) and a box on it (12 faces) fused into one mesh; the box is the object."""
    xs = np.linspace(-1, 1, 11)
    grid = np.array([(x, y, 0.0) for y in xs for x in xs], np.float32)
    quads = [(r * 11 + c, r * 11 + c + 1, (r + 1) * 11 + c + 1, (r + 1) * 11 + c) for r in range(10) for c in range(10)]
    floor_faces = np.array([f for a, b, c, d in quads for f in ((a, b, c), (a, c, d))], np.int32)
    corners = np.array([(x, y, z) for z in (0.0, 0.4) for y in (0.2, 0.5) for x in (0.2, 0.6)], np.float32)
    box_faces = np.array([(0, 2, 1), (1, 2, 3), (4, 5, 6), (5, 7, 6), (0, 1, 5), (0, 5, 4), (2, 6, 7), (2, 7, 3),
                          (0, 4, 6), (0, 6, 2), (1, 3, 7), (1, 7, 5)], np.int32)
    vertices = np.concatenate([grid, corners, corners[:1]])  # a duplicated vertex, as fusion leaves some
    faces = np.concatenate([floor_faces, box_faces + len(grid)])
    faces[-1, faces[-1] == len(grid)] = len(vertices) - 1  # one box face uses the duplicate
    colors = np.tile(np.array([[0.2, 0.4, 0.6]], np.float32), (len(vertices), 1))
    mesh = TriangleMesh(vertices, faces, colors=colors)
    order = np.random.default_rng(0).permutation(len(box_faces))  # the collision stage's own compaction
    sub = faces[len(floor_faces):][order]
    used, inverse = np.unique(sub, return_inverse=True)
    box = CollisionObject("box_000", "object", TriangleMesh(vertices[used], inverse.reshape(-1, 3).astype(np.int32)),
                          hulls=[ConvexHull(corners, box_faces)])
    return mesh, CollisionWorld([], [box], {}), len(floor_faces), order


def test_membership_finds_the_objects_faces_and_gaussians():
    mesh, collision, floor_count, _ = _scene()
    positions = np.array([[0.4, 0.35, 0.41], [0.4, 0.23, 0.2], [-0.5, -0.5, 0.01], [0.9, 0.9, 0.3]], np.float32)
    cloud = GaussianCloud(positions, np.tile([1, 0, 0, 0], (4, 1)).astype(np.float32),
                          np.full((4, 3), 0.01, np.float32), np.ones(4, np.float32), np.zeros((4, 1, 3), np.float32))
    membership = object_membership(mesh, collision, cloud)
    assert (membership.face_owner[:floor_count] == -1).all() and (membership.face_owner[floor_count:] == 0).all()
    # On the box top, 3 cm inside its wall, on the floor, in free space 30 cm from anything.
    assert membership.splat_owner.tolist() == [0, 0, -1, -1]
    assert membership.centres[0] == pytest.approx([0.4, 0.35, 0.2])


def test_object_layer_moves_with_the_xform_and_cuts_the_fused_mesh(tmp_path):
    from pxr import Usd, UsdGeom

    mesh, collision, floor_count, _ = _scene()
    membership = object_membership(mesh, collision)
    written = write_object_layer(tmp_path / "objects.usda", mesh, membership,
                                 visual_material="/World/Visual/Looks/VertexColor")
    assert written == {"visual": ["/World/Collision/Objects/box_000/Visual"], "splats": []}
    stage = Usd.Stage.Open(str(tmp_path / "objects.usda"))
    holes = np.asarray(stage.GetPrimAtPath("/World/Visual/Mesh").GetAttribute("holeIndices").Get())
    assert holes.tolist() == list(range(floor_count, floor_count + 12))
    visual = UsdGeom.Mesh(stage.GetPrimAtPath(written["visual"][0]))
    local = np.asarray(visual.GetPointsAttr().Get())
    assert local.min(axis=0) == pytest.approx([-0.2, -0.15, -0.2])
    assert local.max(axis=0) == pytest.approx([0.2, 0.15, 0.2])
    assert len(visual.GetFaceVertexCountsAttr().Get()) == 12
    # Move the Xform (the physics layer defines it) as a variant does: the visual mesh's world bounds follow.
    xform = UsdGeom.Xform.Define(stage, "/World/Collision/Objects/box_000")
    xform.AddTranslateOp().Set((1.4, 0.35, 0.2))
    bounds = UsdGeom.BBoxCache(Usd.TimeCode.Default(), ["default"]).ComputeWorldBound(visual.GetPrim())
    box = bounds.ComputeAlignedRange()
    assert np.asarray(box.GetMin()) == pytest.approx([1.2, 0.2, 0.0], abs=1e-6)
    assert np.asarray(box.GetMax()) == pytest.approx([1.6, 0.5, 0.4], abs=1e-6)


def test_object_normals_never_point_against_their_faces(tmp_path):
    """A piece whose fused-mesh vertex normals point against some of its faces (a flap folded onto itself, as
    capture noise leaves; here the box's bottom under normals that all point up) is written with per-corner
    normals that agree with every face (NVIDIA's VG_029 rejected the plaza world for one such piece)."""
    from pxr import Usd, UsdGeom

    mesh, collision, _, _ = _scene()
    mesh.normals = np.tile(np.array([[0.0, 0.0, 1.0]], np.float32), (len(mesh.vertices), 1))
    box_faces = mesh.faces[-12:]
    tri = mesh.vertices[box_faces].astype(np.float64)
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert (face_normals[:, 2] < 0).sum() == 2  # the premise: the bottom's corners point against their faces
    written = write_object_layer(tmp_path / "objects.usda", mesh, object_membership(mesh, collision),
                                 visual_material="/World/Visual/Looks/VertexColor")
    stage = Usd.Stage.Open(str(tmp_path / "objects.usda"))
    visual = UsdGeom.Mesh(stage.GetPrimAtPath(written["visual"][0]))
    assert visual.GetNormalsInterpolation() == UsdGeom.Tokens.faceVarying
    points = np.asarray(visual.GetPointsAttr().Get(), np.float64)
    faces = np.asarray(visual.GetFaceVertexIndicesAttr().Get()).reshape(-1, 3)
    normals = np.asarray(visual.GetNormalsAttr().Get(), np.float64).reshape(-1, 3, 3)
    tri = points[faces]
    face = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert np.all(np.einsum("fcj,fj->fc", normals, face) >= 0)
    # Corners that agreed keep the smooth (vertex) normal: the top's stay +Z.
    assert np.sum(np.all(np.isclose(normals, [0.0, 0.0, 1.0]), axis=2)) >= 12

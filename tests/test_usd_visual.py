"""The visual mesh layer: /World/Visual with normals, colours and a bound preview material."""

from __future__ import annotations

import numpy as np
import pytest
from usd_checks import assert_valid_usd

from worldgen_sim.artifacts import TriangleMesh
from worldgen_sim.errors import WorldgenError
from worldgen_sim.exporters.usd_visual import MATERIAL_PRIM, MESH_PRIM, VISUAL_PRIM, write_visual_layer


def _box_mesh() -> TriangleMesh:
    """A unit cube (8 vertices, 12 triangles, wound outward) with a colour per vertex."""
    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float32)
    faces = np.array([
        [0, 2, 3], [0, 3, 1], [4, 5, 7], [4, 7, 6], [0, 1, 5], [0, 5, 4],
        [2, 6, 7], [2, 7, 3], [0, 4, 6], [0, 6, 2], [1, 3, 7], [1, 7, 5],
    ], np.int32)  # fmt: skip
    colors = np.random.default_rng(0).random((8, 3)).astype(np.float32)
    return TriangleMesh(v + np.float32([2, 3, 0]), np.ascontiguousarray(faces[:, ::-1]), colors=colors)


@pytest.mark.parametrize("suffix", ["usda", "usdc"])
def test_layer_holds_mesh_normals_colours_material(tmp_path, suffix):
    from pxr import Usd, UsdGeom, UsdShade

    mesh = _box_mesh()
    path = tmp_path / f"visual.{suffix}"
    write_visual_layer(path, mesh)
    stage = Usd.Stage.Open(str(path))
    assert stage.GetDefaultPrim().GetPath() == "/World"
    assert stage.GetPrimAtPath(VISUAL_PRIM).IsA(UsdGeom.Xform)
    usd_mesh = UsdGeom.Mesh(stage.GetPrimAtPath(MESH_PRIM))
    assert np.allclose(np.asarray(usd_mesh.GetPointsAttr().Get()), mesh.vertices)
    assert np.array_equal(np.asarray(usd_mesh.GetFaceVertexIndicesAttr().Get()), mesh.faces.ravel())
    assert set(np.asarray(usd_mesh.GetFaceVertexCountsAttr().Get())) == {3}
    normals = np.asarray(usd_mesh.GetNormalsAttr().Get())
    assert usd_mesh.GetNormalsInterpolation() == UsdGeom.Tokens.vertex and normals.shape == (8, 3)
    # Cube corners: normals point away from the centre.
    assert np.all(np.sum(normals * (mesh.vertices - mesh.vertices.mean(axis=0)), axis=1) > 0)
    display = usd_mesh.GetDisplayColorPrimvar()
    assert display.GetInterpolation() == UsdGeom.Tokens.vertex
    assert np.allclose(np.asarray(display.Get()), mesh.colors)
    assert usd_mesh.GetSubdivisionSchemeAttr().Get() == UsdGeom.Tokens.none
    extent = np.asarray(usd_mesh.GetExtentAttr().Get())
    assert np.allclose(extent, [[2, 3, 0], [3, 4, 1]])
    bound, _ = UsdShade.MaterialBindingAPI(usd_mesh.GetPrim()).ComputeBoundMaterial()
    assert bound.GetPath() == MATERIAL_PRIM
    shader = bound.ComputeSurfaceSource()[0]
    assert shader.GetIdAttr().Get() == "UsdPreviewSurface"
    reader = shader.GetInput("diffuseColor").GetConnectedSources()[0][0].source
    assert UsdShade.Shader(reader.GetPrim()).GetIdAttr().Get() == "UsdPrimvarReader_float3"
    assert UsdShade.Shader(reader.GetPrim()).GetInput("varname").Get() == "displayColor"


def test_layer_passes_both_validators(tmp_path):
    path = tmp_path / "visual.usda"
    write_visual_layer(path, _box_mesh())
    result = assert_valid_usd(path, allow_warnings=False)
    assert {"usd-core", "nvidia"} <= set(result.per_validator)


def test_mesh_without_normals_or_colours_gets_them(tmp_path):
    from pxr import Usd, UsdGeom

    mesh = _box_mesh()
    path = tmp_path / "plain.usda"
    write_visual_layer(path, TriangleMesh(mesh.vertices, mesh.faces))
    stage = Usd.Stage.Open(str(path))  # keep the stage alive while its prims are used
    usd_mesh = UsdGeom.Mesh(stage.GetPrimAtPath(MESH_PRIM))
    assert np.allclose(np.linalg.norm(np.asarray(usd_mesh.GetNormalsAttr().Get()), axis=1), 1.0, atol=1e-5)
    assert np.asarray(usd_mesh.GetDisplayColorPrimvar().Get()).shape == (8, 3)
    assert_valid_usd(path)


def test_bad_meshes_are_rejected_and_nothing_written(tmp_path):
    mesh = _box_mesh()
    cases = {
        "empty": TriangleMesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)),
        "index": TriangleMesh(mesh.vertices, mesh.faces + 5),
        "nan": TriangleMesh(np.where(np.arange(8)[:, None] == 3, np.nan, mesh.vertices).astype(np.float32), mesh.faces),
    }
    for name, bad in cases.items():
        path = tmp_path / f"{name}.usda"
        with pytest.raises(WorldgenError, match=str(path.name)):
            write_visual_layer(path, bad)
        assert not path.exists()

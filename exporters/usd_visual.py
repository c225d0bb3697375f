"""The visual mesh layer: ``/World/Visual`` with one coloured, shaded mesh.

Layout written::

    /World                  Xform (default prim)
      /Visual               Xform
        /Mesh               Mesh: points, faceVertexCounts/Indices, normals (vertex),
                            primvars:displayColor (vertex), extent, subdivisionScheme none
        /Looks              Scope
          /VertexColor      Material, UsdPreviewSurface whose diffuseColor reads
                            the displayColor primvar (UsdPrimvarReader_float3)

The material is bound to the mesh with ``MaterialBindingAPI`` so renderers
that ignore ``displayColor`` (RTX, Storm with materials) still show the
splats' colours. Arrays go to ``Vt`` in bulk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import TriangleMesh
from worldgen_sim.errors import WorldgenError
from worldgen_sim.exporters.usd_stage import WORLD_PRIM, create_layer_stage, extent_of, int_array, vec3f_array

VISUAL_PRIM = f"{WORLD_PRIM}/Visual"
MESH_PRIM = f"{VISUAL_PRIM}/Mesh"
LOOKS_PRIM = f"{VISUAL_PRIM}/Looks"
MATERIAL_PRIM = f"{LOOKS_PRIM}/VertexColor"
DEFAULT_COLOR = (0.7, 0.7, 0.7)
"""Display colour of a mesh without vertex colours (linear RGB)."""


def write_visual_layer(path: str | Path, mesh: TriangleMesh) -> None:
    """Author a layer holding ``/World/Visual`` with the mesh and its material.

    Args:
        path: ``.usda``, ``.usdc`` or ``.usd`` file to (over)write.
        mesh: the visual mesh in the world frame; normals are computed when
            missing, colours default to :data:`DEFAULT_COLOR`.

    Raises:
        WorldgenError: an empty or malformed mesh (out-of-range indices, NaN
            vertices), or an unwritable path.
    """
    from pxr import Sdf, UsdGeom, UsdShade

    vertices = np.asarray(mesh.vertices, np.float32)
    faces = np.asarray(mesh.faces, np.int64)
    if faces.shape[0] == 0 or vertices.shape[0] == 0:
        raise WorldgenError(f"{path}: cannot write a visual layer for an empty mesh")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= vertices.shape[0]:
        raise WorldgenError(f"{path}: mesh faces must be (F, 3) indices into {vertices.shape[0]} vertices")
    if not np.isfinite(vertices).all():
        raise WorldgenError(f"{path}: mesh vertices hold NaN/Inf")
    normals = mesh.normals if mesh.normals is not None else vertex_normals(vertices, faces)
    colors = mesh.colors if mesh.colors is not None else np.broadcast_to(DEFAULT_COLOR, vertices.shape)

    try:
        stage = create_layer_stage(path)
    except Exception as exc:
        raise WorldgenError(f"{path}: cannot create USD layer ({exc})") from None
    UsdGeom.Xform.Define(stage, VISUAL_PRIM)
    usd_mesh = UsdGeom.Mesh.Define(stage, MESH_PRIM)
    usd_mesh.CreatePointsAttr(vec3f_array(vertices))
    usd_mesh.CreateFaceVertexCountsAttr(int_array(np.full(faces.shape[0], 3, np.int32)))
    usd_mesh.CreateFaceVertexIndicesAttr(int_array(faces))
    usd_mesh.CreateNormalsAttr(vec3f_array(normals))
    usd_mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    usd_mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    usd_mesh.CreateOrientationAttr(UsdGeom.Tokens.rightHanded)
    usd_mesh.CreateDoubleSidedAttr(True)  # generated scenes are open shells seen from either side
    usd_mesh.CreateExtentAttr(extent_of(vertices))
    display = usd_mesh.CreateDisplayColorPrimvar(UsdGeom.Tokens.vertex)
    display.Set(vec3f_array(np.clip(colors, 0.0, 1.0)))

    UsdGeom.Scope.Define(stage, LOOKS_PRIM)
    material = UsdShade.Material.Define(stage, MATERIAL_PRIM)
    surface = UsdShade.Shader.Define(stage, f"{MATERIAL_PRIM}/PreviewSurface")
    surface.CreateIdAttr("UsdPreviewSurface")
    surface.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(0.8)
    surface.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(0.0)
    reader = UsdShade.Shader.Define(stage, f"{MATERIAL_PRIM}/DisplayColorReader")
    reader.CreateIdAttr("UsdPrimvarReader_float3")
    reader.CreateInput("varname", Sdf.ValueTypeNames.String).Set("displayColor")
    reader.CreateInput("fallback", Sdf.ValueTypeNames.Float3).Set(DEFAULT_COLOR)
    reader_out = reader.CreateOutput("result", Sdf.ValueTypeNames.Float3)
    surface.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).ConnectToSource(reader_out)
    material.CreateSurfaceOutput().ConnectToSource(surface.ConnectableAPI(), "surface")
    UsdShade.MaterialBindingAPI.Apply(usd_mesh.GetPrim()).Bind(material)
    try:
        stage.GetRootLayer().Save()
    except Exception as exc:
        raise WorldgenError(f"{path}: cannot save USD layer ({exc})") from None


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) float32 unit area-weighted vertex normals (+Z where undefined)."""
    v = vertices.astype(np.float64)
    cross = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    normals = np.zeros_like(v)
    for corner in range(3):
        for axis in range(3):
            normals[:, axis] += np.bincount(faces[:, corner], weights=cross[:, axis], minlength=v.shape[0])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(length > 1e-20, normals / np.maximum(length, 1e-20), [0.0, 0.0, 1.0]).astype(np.float32)

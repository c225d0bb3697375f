"""A small world package of known geometry for the viewer tests: every layer the viewer draws.

A 4 m x 4 m grey floor (one of its two triangles labelled completed) and a red 1 m cube standing at
(0.5, 0.5, 0); colliders for both (the cube
as one object's hull), a walkable surface around the cube, two spawn points, one NavMesh include
and one exclude volume, 32 Gaussians on the cube's top, a verify.json with one probe at rest and
one failed, and the input camera 4 m in front of the cube, 1.5 m up, looking at it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CUBE_MIN = np.array([0.0, 0.0, 0.0])
CUBE_MAX = np.array([1.0, 1.0, 1.0])
CUBE_RGB = (0.9, 0.1, 0.1)
FLOOR_RGB = (0.5, 0.5, 0.5)
CAMERA_POSITION = [0.5, -3.5, 1.5]


def cube_mesh(lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """(8, 3) corners and (12, 3) outward-wound triangles of an axis-aligned box."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    faces = np.array([[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]] for q in quads])
    return corners, faces


def floor_mesh(size: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    h = size / 2
    vertices = np.array([[-h + 0.5, -h + 0.5, 0], [h + 0.5, -h + 0.5, 0], [h + 0.5, h + 0.5, 0],
                         [-h + 0.5, h + 0.5, 0]], float)
    return vertices, np.array([[0, 1, 2], [0, 2, 3]])


def write_box_world(out: Path, *, gaussians: int = 32, with_verify: bool = True) -> Path:
    """Write the package into ``out`` (created); returns it."""
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdPhysics, Vt

    from worldgen_sim.artifacts import GaussianCloud
    from worldgen_sim.exporters.usd_splats import write_splat_layer

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    top = np.column_stack([rng.uniform(0.1, 0.9, (gaussians, 2)), np.full(gaussians, 1.0)]).astype(np.float32)
    cloud = GaussianCloud(
        positions=top, rotations=np.tile(np.float32([1, 0, 0, 0]), (gaussians, 1)),
        scales=np.full((gaussians, 3), 0.01, np.float32), opacities=np.full(gaussians, 0.9, np.float32),
        sh=np.zeros((gaussians, 1, 3), np.float32),
    )
    write_splat_layer(out / "splats.usdc", cloud)
    stage = Usd.Stage.CreateNew(str(out / "world.usda"))
    stage.GetRootLayer().subLayerPaths.append("splats.usdc")
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    stage.SetDefaultPrim(UsdGeom.Xform.Define(stage, "/World").GetPrim())

    def mesh(path, vertices, faces, colour=None):
        m = UsdGeom.Mesh.Define(stage, path)
        m.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(np.asarray(vertices, np.float32)))
        m.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), 3, np.int32)))
        m.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(np.asarray(faces, np.int32).ravel()))
        if colour is not None:
            primvar = UsdGeom.PrimvarsAPI(m).CreatePrimvar("displayColor", Sdf.ValueTypeNames.Color3fArray,
                                                           UsdGeom.Tokens.vertex)
            primvar.Set(Vt.Vec3fArray.FromNumpy(np.tile(np.float32(colour), (len(vertices), 1))))
        return m

    floor_v, floor_f = floor_mesh()
    cube_v, cube_f = cube_mesh(CUBE_MIN, CUBE_MAX)
    UsdGeom.Xform.Define(stage, "/World/Visual")
    floor_visual = mesh("/World/Visual/Floor", floor_v, floor_f, FLOOR_RGB)
    # The floor's second triangle was "completed" (generated, not seen), as generate/labels.py marks it.
    UsdGeom.PrimvarsAPI(floor_visual).CreatePrimvar("worldgen:completed", Sdf.ValueTypeNames.IntArray,
                                                    UsdGeom.Tokens.uniform).Set(Vt.IntArray([0, 1]))
    mesh("/World/Visual/Mesh", cube_v, cube_f, CUBE_RGB)
    UsdGeom.Xform.Define(stage, "/World/Collision/Static")
    floor = mesh("/World/Collision/Static/floor_0", floor_v, floor_f).GetPrim()
    UsdPhysics.CollisionAPI.Apply(floor)
    floor.CreateAttribute("semantics:labels:class", Sdf.ValueTypeNames.TokenArray).Set(["floor"])
    xform = UsdGeom.Xform.Define(stage, "/World/Collision/Objects/box_000")
    xform.AddTranslateOp().Set(Gf.Vec3d(0.5, 0.5, 0.5))
    hull = mesh("/World/Collision/Objects/box_000/hull_000", cube_v - 0.5, cube_f).GetPrim()
    UsdPhysics.CollisionAPI.Apply(hull)
    UsdGeom.Xform.Define(stage, "/World/Navigation")
    mesh("/World/Navigation/WalkableSurface", floor_v + [0, 0, 0.001], floor_f)
    spawn = UsdGeom.Points.Define(stage, "/World/Navigation/SpawnPoints")
    spawn.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(np.float32([[-1, -1, 0], [2, -1, 0]])))
    for name, kind, centre, size in (("IncludeVolume", "Include", (0.5, 0.5, 1.0), (4, 4, 2)),
                                     ("Exclude_000", "Exclude", (0.5, 0.5, 1.5), (1, 1, 1))):
        prim = stage.DefinePrim(f"/World/Navigation/{name}", "NavMeshVolume")
        prim.CreateAttribute("nav:volume:type", Sdf.ValueTypeNames.Token).Set(kind)
        # authored by name, as exporters/usd_navigation.py does (usd-core does not know the type)
        prim.CreateAttribute("xformOp:translate", Sdf.ValueTypeNames.Double3).Set(Gf.Vec3d(*centre))
        prim.CreateAttribute("xformOp:scale", Sdf.ValueTypeNames.Float3).Set(Gf.Vec3f(*size))
        prim.CreateAttribute("xformOpOrder", Sdf.ValueTypeNames.TokenArray).Set(["xformOp:translate", "xformOp:scale"])
    stage.GetRootLayer().Save()
    forward = np.array([0.5, 0.5, 0.5]) - CAMERA_POSITION
    forward /= np.linalg.norm(forward)
    summary = {"stages": {"align": {"camera": "test camera", "camera_world": {
        "position": CAMERA_POSITION, "forward": forward.tolist()}}},
        "generate": {"intrinsics": {"fx": 400.0, "fy": 400.0, "width": 640, "height": 480, "source": "test"}}}
    (out / "world.json").write_text(json.dumps(summary))
    if with_verify:
        probes = [{"start": [-1, 1, 1], "end": [-1, 1, 0.05], "passed": True},
                  {"start": [1.8, 1.8, 1], "end": [1.8, 1.8, -0.5], "passed": False}]
        (out / "verify.json").write_text(json.dumps({"drop_test": {"engine": "newton", "probes": probes}}))
    return out

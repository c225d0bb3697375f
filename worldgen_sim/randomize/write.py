"""Writing variants as small USD layers over the base world (Sdf only: nothing is composed).

A variant layer sublayers the base ``world.usda`` (and the shared appearance
palette) and holds only ``over``s and a few new prims::

    /World/Physics/Materials/<class>    physics:staticFriction, dynamicFriction, restitution
    /World/Collision/Objects/<name>     xformOp:translate + xformOp:rotateZ (moved: the collider, the
                                        object's visual mesh and its splats move together), physics:density
    /World/Lights/Dome, /World/Lights/Sun   UsdLux dome and distant light (defined here when the
                                        base world has no rig)
    /World/Visual/Mesh                  primvars:displayColor: the tinted palette (and on each
    /World/Collision/Objects/<name>/Visual  object's own visual mesh, its part of the palette)
    /World/Visual/Looks/VertexColor/PreviewSurface   inputs:roughness
    /World/Distractors/<name>           Cube / Sphere / Cylinder rigid bodies
    /World/Navigation/SpawnPoints       primvars:worldgen:active (1 = active) per spawn point

The sampled values travel in the layer's ``customLayerData["worldgen"]`` too, so
a resumed run reads them back instead of sampling again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from worldgen_sim.randomize.sample import Variant
from worldgen_sim.randomize.world_info import (
    LIGHTS_PRIM,
    MATERIALS_PRIM,
    OBJECTS_PRIM,
    SPAWN_POINTS_PRIM,
    VISUAL_MATERIAL_PRIM,
    VISUAL_MESH_PRIM,
    WorldInfo,
)

__all__ = ["PALETTE_FILE", "apply_lighting", "read_variant_record", "write_palette_layer", "write_variant",
           "write_variant_set"]

PALETTE_FILE = "appearance_palette.usdc"
"""Shared layer (in ``variants/``) that re-expresses the visual mesh's colours as palette + indices."""
_PALETTE_LEVELS = 12
"""Colour levels per channel of the palette (at most 12**3 = 1728 colours; the tint scales the palette)."""
_DISTRACTOR_PRIM = "/World/Distractors"
_SUN_ANGLE = 0.53
"""Angular diameter of the sun [deg]."""


def write_variant(variant: Variant, path: str | Path, *, world: WorldInfo, key: str,
                  base: str = "../world.usda", palette: dict[str, np.ndarray] | None = None) -> None:
    """Write one variant's layer (``.usda``), replacing ``path`` atomically.

    Args:
        variant: the sampled values.
        path: the layer to write.
        world: the base world the variant was sampled from.
        key: the resume key (hash of seed, index, config and base world) stored in the layer.
        base: the base ``world.usda`` relative to ``path``'s folder.
        palette: per tinted mesh, the (K, 3) float32 base colours of the shared palette layer, when it exists.
    """
    from pxr import Sdf

    path = Path(path)
    layer = Sdf.Layer.CreateAnonymous(".usda")
    layer.subLayerPaths.append(base)
    if palette is not None and variant.appearance:
        layer.subLayerPaths.insert(0, f"./{PALETTE_FILE}")
    layer.defaultPrim = "World"
    layer.documentation = f"worldgen_sim variant {variant.index} (seed {variant.seed}) of {base}"
    layer.customLayerData = {"worldgen": {"variant": variant.index, "seed": variant.seed, "key": key,
                                          "values": json.dumps(variant.to_dict(), sort_keys=True)}}
    _stage_metadata(layer)
    _materials(layer, variant)
    _objects(layer, variant, world)
    _lights(layer, variant)
    _appearance(layer, variant, palette)
    _distractors(layer, variant, world)
    _spawn_points(layer, variant, world)
    _save_atomic(layer, path)


def read_variant_record(path: str | Path) -> dict | None:
    """``{"key": ..., "values": {...}}`` stored in a variant layer, or None when unreadable."""
    from pxr import Sdf, Tf

    try:
        layer = Sdf.Layer.OpenAsAnonymous(str(path), metadataOnly=True)
    except Tf.ErrorException:
        return None
    data = (layer.customLayerData or {}).get("worldgen") if layer is not None else None
    if not data or "key" not in data:
        return None
    try:
        return {"key": data["key"], "values": json.loads(data["values"])}
    except (KeyError, TypeError, ValueError):
        return None


def write_palette_layer(path: str | Path, root: Path) -> dict[str, np.ndarray] | None:
    """Write the shared palette layer; return each mesh's (K, 3) palette, or None without a visual mesh.

    USD's preview surface cannot multiply a vertex colour by a constant, so the tint is applied
    to indexed palettes: one palette of at most 1728 colours (the mean colour of each bin) over
    the visual mesh and the objects' own visual meshes (``objects.usdc``); this layer gives each
    mesh the part of it that its vertices use, and their indices, and each variant overrides
    only those palettes.

    Returns:
        mesh prim path -> its (K, 3) float32 base palette, the visual mesh's first.
    """
    from pxr import Sdf, Vt

    meshes = _coloured_meshes(root)
    if VISUAL_MESH_PRIM not in meshes:
        return None
    colors = np.concatenate(list(meshes.values()))
    bins = np.clip((colors * _PALETTE_LEVELS).astype(np.int64), 0, _PALETTE_LEVELS - 1)
    code = (bins[:, 0] * _PALETTE_LEVELS + bins[:, 1]) * _PALETTE_LEVELS + bins[:, 2]
    used, indices = np.unique(code, return_inverse=True)
    counts = np.bincount(indices, minlength=len(used)).astype(np.float64)[:, None]
    palette = np.stack([np.bincount(indices, weights=colors[:, c], minlength=len(used)) for c in range(3)], axis=1)
    palette = (palette / counts).astype(np.float32)

    layer = Sdf.Layer.CreateAnonymous(".usdc")
    layer.defaultPrim = "World"
    _stage_metadata(layer)
    palettes: dict[str, np.ndarray] = {}
    start = 0
    for prim_path, mesh_colors in meshes.items():
        mine = indices[start:start + len(mesh_colors)]
        start += len(mesh_colors)
        entries, local = np.unique(mine, return_inverse=True)  # only the colours this mesh uses
        palettes[prim_path] = palette[entries]
        mesh = _over(layer, prim_path)
        color = _attribute(mesh, "primvars:displayColor", Sdf.ValueTypeNames.Color3fArray,
                           Vt.Vec3fArray.FromNumpy(palettes[prim_path]))
        color.SetInfo("interpolation", "vertex")
        _attribute(mesh, "primvars:displayColor:indices", Sdf.ValueTypeNames.IntArray,
                   Vt.IntArray.FromNumpy(local.reshape(-1).astype(np.int32)))
    _save_atomic(layer, Path(path))
    return palettes


def _coloured_meshes(root: Path) -> dict[str, np.ndarray]:
    """Vertex colours (V, 3) of the visual mesh and of each object's own visual mesh, by prim path."""
    from pxr import Sdf

    out: dict[str, np.ndarray] = {}
    for file, paths in (("visual.usdc", lambda layer: [VISUAL_MESH_PRIM]),
                        ("objects.usdc", _object_visual_paths)):
        if not (root / file).is_file():
            continue
        layer = Sdf.Layer.OpenAsAnonymous(str(root / file))
        for prim_path in paths(layer) if layer is not None else []:
            spec = layer.GetPrimAtPath(prim_path)
            attr = spec.attributes.get("primvars:displayColor") if spec is not None else None
            if attr is not None and attr.default is not None and len(attr.default):
                out[prim_path] = np.asarray(attr.default, np.float32).reshape(-1, 3)
    return out


def _object_visual_paths(layer) -> list[str]:
    scope = layer.GetPrimAtPath(OBJECTS_PRIM)
    return [str(child.path) for spec in (scope.nameChildren if scope is not None else [])
            for child in spec.nameChildren if child.typeName == "Mesh"]


def write_variant_set(path: str | Path, variant_files: list[str]) -> None:
    """A root layer whose ``/World`` has a ``randomization`` variant set, one variant per layer.

    Args:
        path: the root layer to write (e.g. ``OUT/world_variants.usda``).
        variant_files: variant layers relative to ``path``'s folder, in order.
    """
    from pxr import Sdf

    layer = Sdf.Layer.CreateAnonymous(".usda")
    layer.defaultPrim = "World"
    layer.documentation = "worldgen_sim variants of world.usda: select one with the 'randomization' variant set"
    _stage_metadata(layer)
    world = Sdf.PrimSpec(layer, "World", Sdf.SpecifierDef, "Xform")
    variant_set = Sdf.VariantSetSpec(world, "randomization")
    for file in variant_files:
        name = Path(file).stem
        variant = Sdf.VariantSpec(variant_set, name)
        variant.primSpec.referenceList.Prepend(Sdf.Reference(f"./{file}"))
    world.variantSetNameList.Prepend("randomization")
    if variant_files:
        world.variantSelections["randomization"] = Path(variant_files[0]).stem
    _save_atomic(layer, Path(path))


# --- one section each ---------------------------------------------------------------------

def _materials(layer, variant: Variant) -> None:
    from pxr import Sdf

    names = {"static_friction": "physics:staticFriction", "dynamic_friction": "physics:dynamicFriction",
             "restitution": "physics:restitution"}
    for cls, values in variant.materials.items():
        spec = _over(layer, f"{MATERIALS_PRIM}/{cls}")
        for key, attr in names.items():
            _attribute(spec, attr, Sdf.ValueTypeNames.Float, float(values[key]))


def _objects(layer, variant: Variant, world: WorldInfo) -> None:
    from pxr import Gf, Sdf

    for move in variant.moves:
        spec = _over(layer, f"{OBJECTS_PRIM}/{move['name']}")
        _attribute(spec, "xformOp:translate", Sdf.ValueTypeNames.Double3, Gf.Vec3d(*move["centre"]))
        _attribute(spec, "xformOp:rotateZ", Sdf.ValueTypeNames.Float, float(move["yaw"]))
        _attribute(spec, "xformOpOrder", Sdf.ValueTypeNames.TokenArray, ["xformOp:translate", "xformOp:rotateZ"])
    for name, density in variant.densities.items():
        _attribute(_over(layer, f"{OBJECTS_PRIM}/{name}"), "physics:density", Sdf.ValueTypeNames.Float,
                   float(density))


def _lights(layer, variant: Variant) -> None:
    from pxr import Gf, Sdf

    light = variant.lighting
    if not light:
        return
    Sdf.PrimSpec(_over(layer, "/World"), "Lights", Sdf.SpecifierDef, "Xform")
    dome = Sdf.PrimSpec(layer.GetPrimAtPath(LIGHTS_PRIM), "Dome", Sdf.SpecifierDef, "DomeLight")
    sun = Sdf.PrimSpec(layer.GetPrimAtPath(LIGHTS_PRIM), "Sun", Sdf.SpecifierDef, "DistantLight")
    for spec, intensity in ((dome, light["dome_intensity"]), (sun, light["sun_intensity"])):
        _attribute(spec, "inputs:intensity", Sdf.ValueTypeNames.Float, float(intensity))
        _attribute(spec, "inputs:enableColorTemperature", Sdf.ValueTypeNames.Bool, True)
        _attribute(spec, "inputs:colorTemperature", Sdf.ValueTypeNames.Float, float(light["color_temperature"]))
    _attribute(sun, "inputs:angle", Sdf.ValueTypeNames.Float, _SUN_ANGLE)
    w, x, y, z = _sun_orientation(light["sun_elevation"], light["sun_azimuth"])
    _attribute(sun, "xformOp:orient", Sdf.ValueTypeNames.Quatf, Gf.Quatf(w, x, y, z))
    _attribute(sun, "xformOpOrder", Sdf.ValueTypeNames.TokenArray, ["xformOp:orient"])


def apply_lighting(stage, values: dict[str, float], *, dome_path: str = f"{LIGHTS_PRIM}/Dome",
                   sun_path: str = f"{LIGHTS_PRIM}/Sun") -> None:
    """Author drawn lighting on an open ``Usd.Stage`` (run time: Isaac Lab's stage), defining missing lights.

    The same attributes as a variant layer's ``/World/Lights`` (see the module docstring).
    """
    from pxr import Gf, UsdGeom, UsdLux

    dome = UsdLux.DomeLight(stage.GetPrimAtPath(dome_path))
    if not dome:
        dome = UsdLux.DomeLight.Define(stage, dome_path)
    sun = UsdLux.DistantLight(stage.GetPrimAtPath(sun_path))
    if not sun:
        sun = UsdLux.DistantLight.Define(stage, sun_path)
    for light, intensity in ((dome, values["dome_intensity"]), (sun, values["sun_intensity"])):
        light.CreateIntensityAttr().Set(float(intensity))
        light.CreateEnableColorTemperatureAttr().Set(True)
        light.CreateColorTemperatureAttr().Set(float(values["color_temperature"]))
    sun.CreateAngleAttr().Set(_SUN_ANGLE)
    w, x, y, z = _sun_orientation(values["sun_elevation"], values["sun_azimuth"])
    xformable = UsdGeom.Xformable(sun.GetPrim())
    ops = [op for op in xformable.GetOrderedXformOps() if op.GetOpType() == UsdGeom.XformOp.TypeOrient]
    orient = ops[0] if ops else xformable.AddOrientOp()
    orient.Set(Gf.Quatf(w, x, y, z) if orient.GetPrecision() == UsdGeom.XformOp.PrecisionFloat
               else Gf.Quatd(w, x, y, z))


def _sun_orientation(elevation_deg: float, azimuth_deg: float) -> tuple[float, float, float, float]:
    """Quaternion (w, x, y, z) turning a distant light's -Z onto the direction sunlight travels."""
    from worldgen_sim.align.transforms import matrix_to_quaternion, rotation_between

    e, a = np.radians(elevation_deg), np.radians(azimuth_deg)
    towards_sun = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
    rotation = rotation_between(np.array([0.0, 0.0, 1.0]), towards_sun)  # local +Z points at the sun
    w, x, y, z = (float(v) for v in matrix_to_quaternion(rotation))
    return w, x, y, z


def _appearance(layer, variant: Variant, palette: dict[str, np.ndarray] | None) -> None:
    from pxr import Sdf, Vt

    look = variant.appearance
    if not look:
        return
    surface = _over(layer, f"{VISUAL_MATERIAL_PRIM}/PreviewSurface")
    _attribute(surface, "inputs:roughness", Sdf.ValueTypeNames.Float, float(look["roughness"]))
    tint = np.asarray(look["tint"], np.float32)
    for prim_path, colors in (palette or {}).items():
        # 3 decimals: finer than an 8-bit channel step (1/255), and the layer stays small.
        tinted = np.clip(colors * tint, 0.0, 1.0).round(3)
        _attribute(_over(layer, prim_path), "primvars:displayColor", Sdf.ValueTypeNames.Color3fArray,
                   Vt.Vec3fArray.FromNumpy(tinted.astype(np.float32)))


def _distractors(layer, variant: Variant, world: WorldInfo) -> None:
    from pxr import Gf, Sdf

    if not variant.distractors:
        return
    Sdf.PrimSpec(_over(layer, "/World"), "Distractors", Sdf.SpecifierDef, "Xform")
    parent = layer.GetPrimAtPath(_DISTRACTOR_PRIM)
    material = "object" if "object" in world.materials else next(iter(sorted(world.materials)), None)
    for item in variant.distractors:
        kind = {"box": "Cube", "sphere": "Sphere", "cylinder": "Cylinder"}[item["shape"]]
        spec = Sdf.PrimSpec(parent, item["name"], Sdf.SpecifierDef, kind)
        spec.SetInfo("apiSchemas", Sdf.TokenListOp.Create(
            prependedItems=["PhysicsRigidBodyAPI", "PhysicsMassAPI", "PhysicsCollisionAPI", "MaterialBindingAPI"]))
        half = 0.5 * float(item["size"])
        if kind == "Cube":
            _attribute(spec, "size", Sdf.ValueTypeNames.Double, float(item["size"]))
        else:
            _attribute(spec, "radius", Sdf.ValueTypeNames.Double, half)
        if kind == "Cylinder":
            _attribute(spec, "height", Sdf.ValueTypeNames.Double, float(item["size"]))
            _attribute(spec, "axis", Sdf.ValueTypeNames.Token, "Z")
        _attribute(spec, "extent", Sdf.ValueTypeNames.Float3Array, [Gf.Vec3f(-half), Gf.Vec3f(half)])
        _attribute(spec, "xformOp:translate", Sdf.ValueTypeNames.Double3, Gf.Vec3d(*item["centre"]))
        _attribute(spec, "xformOpOrder", Sdf.ValueTypeNames.TokenArray, ["xformOp:translate"])
        _attribute(spec, "physics:density", Sdf.ValueTypeNames.Float, float(item["density"]))
        _attribute(spec, "primvars:displayColor", Sdf.ValueTypeNames.Color3fArray, [Gf.Vec3f(*item["color"])])
        _attribute(spec, "semantics:labels:class", Sdf.ValueTypeNames.TokenArray, ["distractor"])
        if material is not None:
            binding = Sdf.RelationshipSpec(spec, "material:binding:physics", custom=False)
            binding.targetPathList.Prepend(Sdf.Path(f"{MATERIALS_PRIM}/{material}"))
            binding.SetInfo("bindMaterialAs", "weakerThanDescendants")


def _spawn_points(layer, variant: Variant, world: WorldInfo) -> None:
    from pxr import Sdf, Vt

    count = len(world.spawn_points)
    if not count:
        return
    active = np.zeros(count, np.int32)
    active[np.asarray(variant.spawn_active, np.int64)] = 1
    attr = _attribute(_over(layer, SPAWN_POINTS_PRIM), "primvars:worldgen:active", Sdf.ValueTypeNames.IntArray,
                      Vt.IntArray.FromNumpy(active))
    attr.SetInfo("interpolation", "vertex")


# --- Sdf helpers --------------------------------------------------------------------------

def _stage_metadata(layer) -> None:
    layer.pseudoRoot.SetInfo("upAxis", "Z")
    layer.pseudoRoot.SetInfo("metersPerUnit", 1.0)
    layer.pseudoRoot.SetInfo("kilogramsPerUnit", 1.0)


def _over(layer, path: str):
    from pxr import Sdf

    spec = layer.GetPrimAtPath(path)
    if spec is None:
        spec = Sdf.CreatePrimInLayer(layer, path)  # every new ancestor is an `over`
    return spec


def _attribute(spec, name: str, type_name, value):
    from pxr import Sdf

    attr = spec.attributes.get(name) or Sdf.AttributeSpec(spec, name, type_name)
    attr.default = value
    return attr


def _save_atomic(layer, path: Path) -> None:
    """Export the layer through :func:`~worldgen_sim.staging.write_atomic` (a temporary beside ``path``)."""
    from worldgen_sim.staging import write_atomic

    def export(temporary: Path) -> None:
        if not layer.Export(str(temporary)):
            raise OSError(f"USD could not write {temporary}")

    write_atomic(path, export)

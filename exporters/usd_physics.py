"""The physics layer: colliders, physics materials, semantic labels and the physics scene.

Layout written::

    /World                         Xform (default prim)
      /Collision                   Xform
        /Static                    Xform
          /floor_0, /wall_0, ...   Mesh: CollisionAPI + MeshCollisionAPI (approximation "none",
                                   exact, legal for static colliders), purpose guide, labels;
                                   ground at any height (terrain, stairs, platforms) is "floor",
                                   large ground comes in tiles (floor_0, floor_1, ...)
        /Objects                   Xform
          /furniture_000           Xform at the object's centre, labels; with --dynamic-objects
                                   RigidBodyAPI + MassAPI (density of its material) on objects
                                   standing on the ground; overhead_NNN (unsupported, kept at
                                   its height) and clutter_NNN (grouped small pieces) stay static
            /hull_000, ...         Mesh: CollisionAPI + MeshCollisionAPI (convexHull),
                                   PhysxConvexHullCollisionAPI hull vertex limit, purpose guide
      /Physics                     Scope
        /Materials/<class>         Material + PhysicsMaterialAPI (+ PhysxMaterialAPI)
      /PhysicsScene                PhysicsScene, gravity (0, 0, -1) * 9.81 m/s^2

Every collider prim carries its own ``material:binding:physics`` (USD physics
parsers ignore a binding inherited from a parent) and PhysX contact/rest
offsets. Semantic classes use ``UsdSemantics.LabelsAPI`` (instance ``class``,
attribute ``semantics:labels:class``), which Isaac Sim 5+ reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import CollisionWorld
from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.errors import WorldgenError
from worldgen_sim.exporters.usd_objects import object_centre
from worldgen_sim.exporters.usd_stage import WORLD_PRIM, extent_of, int_array, safe_prim_name, vec3f_array

COLLISION_PRIM = f"{WORLD_PRIM}/Collision"
STATIC_PRIM = f"{COLLISION_PRIM}/Static"
OBJECTS_PRIM = f"{COLLISION_PRIM}/Objects"
MATERIALS_PRIM = f"{WORLD_PRIM}/Physics/Materials"
SCENE_PRIM = f"{WORLD_PRIM}/PhysicsScene"
GRAVITY = 9.81
"""Standard gravity [m/s^2]."""


def write_physics_layer(path: str | Path, collision: CollisionWorld, *, cfg: CollisionCfg,
                        physics_scene: bool = True) -> None:
    """Author the physics layer of a world package.

    Args:
        path: ``.usda``/``.usdc``/``.usd`` file to (over)write.
        collision: the collision stage's output.
        cfg: collision settings (offsets, hull vertex limit; dynamic objects come from
            ``collision.dynamic_objects``).
        physics_scene: author ``/World/PhysicsScene`` (turn off when another layer has one).

    Raises:
        WorldgenError: the file cannot be written, or a collider's class has no material.
    """
    # PhysX schemas register only if imported before the first stage is opened; when some
    # other code opened one earlier, they are authored by name below instead.
    try:
        import physx_usd_schemas  # noqa: F401
    except ImportError:
        pass
    from pxr import Tf, UsdGeom, UsdPhysics, UsdShade

    from worldgen_sim.exporters.usd_stage import create_layer_stage

    used = {p.semantic_class for p in collision.static_parts} | {o.semantic_class for o in collision.objects}
    missing = sorted(used - set(collision.materials))
    if missing:
        raise WorldgenError(f"physics layer {path}: no physics material for class(es) {', '.join(missing)}")
    try:
        stage = create_layer_stage(path)
    except Tf.ErrorException as exc:  # an unwritable path or folder
        raise WorldgenError(f"{path}: cannot create the physics layer ({exc})") from None
    physx = _PhysxAuthoring()

    materials = {}
    UsdGeom.Scope.Define(stage, f"{WORLD_PRIM}/Physics")
    UsdGeom.Scope.Define(stage, MATERIALS_PRIM)
    for cls in sorted(used):
        material = collision.materials[cls]
        shade = UsdShade.Material.Define(stage, f"{MATERIALS_PRIM}/{safe_prim_name(cls)}")
        api = UsdPhysics.MaterialAPI.Apply(shade.GetPrim())
        api.CreateStaticFrictionAttr(float(material.static_friction))
        api.CreateDynamicFrictionAttr(float(material.dynamic_friction))
        api.CreateRestitutionAttr(float(material.restitution))
        api.CreateDensityAttr(float(material.density))
        materials[cls] = shade

    UsdGeom.Xform.Define(stage, COLLISION_PRIM)
    UsdGeom.Xform.Define(stage, STATIC_PRIM)
    for part in collision.static_parts:
        mesh = _define_mesh(stage, f"{STATIC_PRIM}/{safe_prim_name(part.name)}",
                            np.asarray(part.mesh.vertices), np.asarray(part.mesh.faces))
        prim = mesh.GetPrim()
        _label(prim, part.semantic_class)
        UsdPhysics.CollisionAPI.Apply(prim)
        UsdPhysics.MeshCollisionAPI.Apply(prim).CreateApproximationAttr(UsdPhysics.Tokens.none)
        physx.collision(prim, cfg.contact_offset, cfg.rest_offset)
        _bind(prim, materials[part.semantic_class])

    UsdGeom.Xform.Define(stage, OBJECTS_PRIM)
    for obj in collision.objects:
        if not obj.hulls:
            continue
        centre = object_centre(obj.hulls)  # the object layer puts its visual mesh and splats in this frame
        xform = UsdGeom.Xform.Define(stage, f"{OBJECTS_PRIM}/{safe_prim_name(obj.name)}")
        # Hull points are relative to the object's centre, so a rigid body's pose is meaningful.
        xform.AddTranslateOp().Set(tuple(float(c) for c in centre))
        _label(xform.GetPrim(), obj.semantic_class)
        material = collision.materials[obj.semantic_class]
        if collision.dynamic_objects and obj.kind == "standing":  # an overhead body would fall
            UsdPhysics.RigidBodyAPI.Apply(xform.GetPrim())
            UsdPhysics.MassAPI.Apply(xform.GetPrim()).CreateDensityAttr(float(material.density))
        for index, hull in enumerate(obj.hulls):
            mesh = _define_mesh(stage, f"{xform.GetPath()}/hull_{index:03d}",
                                np.asarray(hull.vertices, np.float64) - centre, np.asarray(hull.faces))
            prim = mesh.GetPrim()
            UsdPhysics.CollisionAPI.Apply(prim)
            UsdPhysics.MeshCollisionAPI.Apply(prim).CreateApproximationAttr(UsdPhysics.Tokens.convexHull)
            physx.collision(prim, cfg.contact_offset, cfg.rest_offset)
            physx.hull_limit(prim, cfg.max_hull_vertices)
            _bind(prim, materials[obj.semantic_class])

    if physics_scene and not any(p.IsA(UsdPhysics.Scene) for p in stage.Traverse()):
        scene = UsdPhysics.Scene.Define(stage, SCENE_PRIM)
        scene.CreateGravityDirectionAttr().Set((0.0, 0.0, -1.0))
        scene.CreateGravityMagnitudeAttr().Set(GRAVITY)
    try:
        stage.GetRootLayer().Save()
    except Tf.ErrorException as exc:
        raise WorldgenError(f"{path}: cannot write the physics layer ({exc})") from None


def _define_mesh(stage, path: str, vertices: np.ndarray, faces: np.ndarray):
    """A hidden (purpose guide) triangle Mesh with per-face normals and extent."""
    from pxr import UsdGeom

    mesh = UsdGeom.Mesh.Define(stage, path)
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    mesh.CreatePointsAttr(vec3f_array(vertices))
    mesh.CreateFaceVertexCountsAttr(int_array(np.full(faces.shape[0], 3)))
    mesh.CreateFaceVertexIndicesAttr(int_array(faces))
    tri = np.asarray(vertices, np.float64)[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-20)
    mesh.CreateNormalsAttr(vec3f_array(normals))
    mesh.SetNormalsInterpolation(UsdGeom.Tokens.uniform)
    mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    mesh.CreateExtentAttr(extent_of(vertices))
    mesh.CreatePurposeAttr(UsdGeom.Tokens.guide)
    return mesh


def _label(prim, semantic_class: str) -> None:
    """Semantic class label (``semantics:labels:class``) that Isaac Sim 5+ segmentation reads."""
    from pxr import UsdSemantics

    UsdSemantics.LabelsAPI.Apply(prim, "class").CreateLabelsAttr([semantic_class])


def _bind(prim, material) -> None:
    """Physics-purpose material binding on the collider prim itself."""
    from pxr import UsdShade

    UsdShade.MaterialBindingAPI.Apply(prim).Bind(material, UsdShade.Tokens.weakerThanDescendants, "physics")


class _PhysxAuthoring:
    """PhysX collision attributes through ``physx_usd_schemas`` when registered, else by name."""

    def __init__(self) -> None:
        from pxr import Usd

        registry = Usd.SchemaRegistry()
        self.registered = registry.FindAppliedAPIPrimDefinition("PhysxCollisionAPI") is not None
        if self.registered:
            from physx_usd_schemas import PhysxSchema

            self.schema = PhysxSchema

    def collision(self, prim, contact_offset: float, rest_offset: float) -> None:
        if self.registered:
            api = self.schema.PhysxCollisionAPI.Apply(prim)
            api.CreateContactOffsetAttr(float(contact_offset))
            api.CreateRestOffsetAttr(float(rest_offset))
        else:
            self._by_name(prim, "PhysxCollisionAPI", {"physxCollision:contactOffset": float(contact_offset),
                                                      "physxCollision:restOffset": float(rest_offset)})

    def hull_limit(self, prim, vertices: int) -> None:
        if self.registered:
            self.schema.PhysxConvexHullCollisionAPI.Apply(prim).CreateHullVertexLimitAttr(int(vertices))
        else:
            limit = {"physxConvexHullCollision:hullVertexLimit": int(vertices)}
            self._by_name(prim, "PhysxConvexHullCollisionAPI", limit)

    @staticmethod
    def _by_name(prim, schema: str, values: dict) -> None:
        from pxr import Sdf

        prim.AddAppliedSchema(schema)
        for name, value in values.items():
            kind = Sdf.ValueTypeNames.Int if isinstance(value, int) else Sdf.ValueTypeNames.Float
            prim.CreateAttribute(name, kind, custom=False).Set(value)

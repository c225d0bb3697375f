"""Spawn a built world into an open stage (Isaac Sim's, or any usd-core stage).

Kit-free on purpose: the Isaac Sim extension calls this with Kit's stage, and
the tests call it with a plain usd-core stage.
"""

from __future__ import annotations

from pathlib import Path

from worldgen_sim.errors import WorldgenError


def spawn_world(
    stage,
    world_usd: str | Path,
    *,
    prim_path: str | None = None,
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> str:
    """Reference a world package's ``world.usda`` into ``stage`` under a new Xform.

    The world is Z-up in metres; the new prim converts to the stage's own units
    and up axis, so it lands the right size and way up in a centimetre or Y-up
    stage. When the stage already has a physics scene, the world's own
    ``PhysicsScene`` is deactivated so that there is only one.

    Args:
        stage: an open ``Usd.Stage``.
        world_usd: the ``world.usda`` to reference.
        prim_path: where to put it; default ``/<defaultPrim>/worldgen_<n>`` (or ``/worldgen_<n>``).
        translation: offset in the stage's up-axis-corrected frame [m].

    Returns:
        The path of the new prim.

    Raises:
        WorldgenError: ``world_usd`` does not exist or has no default prim.
    """
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdPhysics

    world_usd = Path(world_usd)
    if not world_usd.is_file():
        raise WorldgenError(f"world '{world_usd}' does not exist")
    world_layer = Sdf.Layer.FindOrOpen(str(world_usd))
    if world_layer is None or not world_layer.defaultPrim:
        raise WorldgenError(f"world '{world_usd}' has no default prim; expected a worldgen world.usda")

    had_physics_scene = any(prim.IsA(UsdPhysics.Scene) for prim in stage.Traverse())
    if prim_path is None:
        default = stage.GetDefaultPrim()
        parent = default.GetPath() if default else Sdf.Path.absoluteRootPath
        index = 0
        while stage.GetPrimAtPath(parent.AppendChild(f"worldgen_{index}")):
            index += 1
        prim_path = str(parent.AppendChild(f"worldgen_{index}"))

    xform = UsdGeom.Xform.Define(stage, prim_path)
    xform.GetPrim().GetReferences().AddReference(str(world_usd.absolute()))
    units = 1.0 / UsdGeom.GetStageMetersPerUnit(stage)
    xform.AddTranslateOp().Set(Gf.Vec3d(*translation) * units)
    if UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y:
        xform.AddRotateXOp().Set(-90.0)  # world +Z becomes the stage's +Y
    if abs(units - 1.0) > 1e-9:
        xform.AddScaleOp().Set(Gf.Vec3f(units, units, units))

    if had_physics_scene:
        for prim in Usd.PrimRange(xform.GetPrim()):
            if prim.IsA(UsdPhysics.Scene):
                prim.SetActive(False)
    return prim_path

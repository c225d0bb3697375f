"""The root ``world.usda``: composes one layer per concern and chooses how the world looks.

Layers are sublayered strongest first (navigation, collision, visual, splats)
so each concern stays a file of its own that can be swapped or dropped (the
object layer, with each object's own visual mesh and splats, sits right after
the collision layer whose Xforms it fills). An
``appearance`` variant set on ``/World`` picks what renders: the visual mesh
(default: every renderer and sensor sees it; Isaac Sim before 6.0 cannot draw
splats), the splats (photoreal in Isaac Sim 6.0+) or both.
"""

from __future__ import annotations

from pathlib import Path

from worldgen_sim.exporters.usd_stage import WORLD_PRIM, create_layer_stage

SPLATS_PRIM = f"{WORLD_PRIM}/Splats"
VISUAL_PRIM = f"{WORLD_PRIM}/Visual"
APPEARANCE_VARIANTS = ("mesh", "splats", "both")


def write_world_layer(
    path: str | Path,
    *,
    sublayers: list[str],
    has_splats: bool,
    has_visual: bool,
    appearance: str = "mesh",
    doc: str = "",
    object_visuals: list[str] | tuple[str, ...] = (),
    object_splats: list[str] | tuple[str, ...] = (),
) -> None:
    """Write the root layer.

    Args:
        path: the ``world.usda`` to write.
        sublayers: layer file names relative to ``path``'s folder, strongest first.
        has_splats: the splat layer is among the sublayers (``/World/Splats``).
        has_visual: the visual mesh layer is among the sublayers (``/World/Visual``).
        appearance: default variant of ``appearance``: ``"mesh"``, ``"splats"`` or ``"both"``;
            falls back to what exists when only one of the two is present.
        doc: layer documentation string (provenance).
        object_visuals: prims of the objects' own visual meshes (the object layer), hidden with the mesh.
        object_splats: prims of the objects' own splats, hidden with the splats.
    """
    from pxr import UsdGeom

    stage = create_layer_stage(path)
    root = stage.GetRootLayer()
    root.subLayerPaths = [f"./{name}" for name in sublayers]
    if doc:
        root.documentation = doc
    world = stage.GetPrimAtPath(WORLD_PRIM)
    if has_splats and has_visual:
        variants = world.GetVariantSets().AddVariantSet("appearance")
        for name in APPEARANCE_VARIANTS:
            variants.AddVariant(name)
            variants.SetVariantSelection(name)
            with variants.GetVariantEditContext():
                hidden = {"mesh": [SPLATS_PRIM, *object_splats], "splats": [VISUAL_PRIM, *object_visuals]}.get(name, [])
                for prim_path in hidden:
                    # An `over` inside the variant: the prim itself is defined by its own layer.
                    UsdGeom.Imageable(stage.OverridePrim(prim_path)).CreateVisibilityAttr(UsdGeom.Tokens.invisible)
        variants.SetVariantSelection(appearance if appearance in APPEARANCE_VARIANTS else "mesh")
    root.Save()

"""The root world.usda and spawning a world into another stage."""

from __future__ import annotations

from pathlib import Path

import pytest

pxr = pytest.importorskip("pxr")

from worldgen_sim.errors import WorldgenError
from worldgen_sim.exporters.stage_spawn import spawn_world
from worldgen_sim.exporters.usd_stage import create_layer_stage
from worldgen_sim.exporters.usd_world import write_world_layer

GOLDEN = Path(__file__).parent / "golden"


def _layer(path: Path, child: str, type_name: str = "Xform") -> None:
    stage = create_layer_stage(path)
    stage.DefinePrim(f"/World/{child}", type_name)
    stage.GetRootLayer().Save()


def _world(tmp_path: Path) -> Path:
    _layer(tmp_path / "visual.usda", "Visual")
    _layer(tmp_path / "splats.usda", "Splats")
    physics = create_layer_stage(tmp_path / "collision.usda")
    pxr.UsdPhysics.Scene.Define(physics, "/World/PhysicsScene")
    physics.GetRootLayer().Save()
    write_world_layer(
        tmp_path / "world.usda",
        sublayers=["collision.usda", "visual.usda", "splats.usda"],
        has_splats=True,
        has_visual=True,
        doc="golden",
    )
    return tmp_path / "world.usda"


def test_root_layer_matches_golden(tmp_path):
    text = _world(tmp_path).read_text()
    assert text == (GOLDEN / "world_root.usda").read_text()


def test_appearance_variants_switch_visibility(tmp_path):
    from pxr import Usd, UsdGeom

    stage = Usd.Stage.Open(str(_world(tmp_path)))
    assert UsdGeom.GetStageUpAxis(stage) == "Z" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    variants = stage.GetDefaultPrim().GetVariantSet("appearance")
    seen = {}
    for name in ("mesh", "splats", "both"):
        variants.SetVariantSelection(name)
        seen[name] = tuple(
            UsdGeom.Imageable(stage.GetPrimAtPath(p)).ComputeVisibility() for p in ("/World/Visual", "/World/Splats")
        )
    assert seen == {
        "mesh": ("inherited", "invisible"),
        "splats": ("invisible", "inherited"),
        "both": ("inherited", "inherited"),
    }


def test_appearance_variants_switch_the_objects_own_visuals_and_splats(tmp_path):
    """An object's own visual mesh hides with the fused mesh, its own splats with the splat field."""
    from pxr import Usd, UsdGeom

    _layer(tmp_path / "visual.usda", "Visual")
    _layer(tmp_path / "splats.usda", "Splats")
    objects = create_layer_stage(tmp_path / "objects.usda")
    objects.DefinePrim("/World/Collision/Objects/chair/Visual", "Mesh")
    objects.DefinePrim("/World/Collision/Objects/chair/Splats", "ParticleField3DGaussianSplat")
    objects.GetRootLayer().Save()
    write_world_layer(tmp_path / "world.usda", sublayers=["objects.usda", "visual.usda", "splats.usda"],
                      has_splats=True, has_visual=True, object_visuals=["/World/Collision/Objects/chair/Visual"],
                      object_splats=["/World/Collision/Objects/chair/Splats"])
    stage = Usd.Stage.Open(str(tmp_path / "world.usda"))
    variants = stage.GetDefaultPrim().GetVariantSet("appearance")
    seen = {}
    for name in ("mesh", "splats", "both"):
        variants.SetVariantSelection(name)
        seen[name] = tuple(UsdGeom.Imageable(stage.GetPrimAtPath(f"/World/Collision/Objects/chair/{p}"))
                           .ComputeVisibility() for p in ("Visual", "Splats"))
    assert seen == {"mesh": ("inherited", "invisible"), "splats": ("invisible", "inherited"),
                    "both": ("inherited", "inherited")}


def test_spawn_into_centimetre_y_up_stage(tmp_path):
    from pxr import Gf, Usd, UsdGeom, UsdPhysics

    world = _world(tmp_path)
    stage = Usd.Stage.CreateInMemory()
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)
    stage.SetDefaultPrim(UsdGeom.Xform.Define(stage, "/Root").GetPrim())
    UsdPhysics.Scene.Define(stage, "/Root/physicsScene")

    first = spawn_world(stage, world, translation=(1.0, 0.0, 0.0))
    second = spawn_world(stage, world)
    assert (first, second) == ("/Root/worldgen_0", "/Root/worldgen_1")
    # 1 m along x is 100 stage units; world +Z (up) must map to stage +Y.
    matrix = UsdGeom.Xformable(stage.GetPrimAtPath(first)).ComputeLocalToWorldTransform(Usd.TimeCode.Default())
    assert Gf.IsClose(matrix.Transform(Gf.Vec3d(0, 0, 1)), Gf.Vec3d(100, 100, 0), 1e-6)
    # Only the stage's own physics scene stays active.
    active = [p.GetPath() for p in stage.Traverse() if p.IsA(UsdPhysics.Scene)]
    assert [str(p) for p in active] == ["/Root/physicsScene"]


def test_spawn_rejects_missing_world(tmp_path):
    from pxr import Usd

    with pytest.raises(WorldgenError, match="does not exist"):
        spawn_world(Usd.Stage.CreateInMemory(), tmp_path / "nope.usda")

"""What the Isaac Lab helpers read from a world package, without Isaac Lab or torch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from worldgen_sim.errors import WorldgenError
from worldgen_sim.isaaclab import read_world_materials, spawn_poses


def test_spawn_poses_are_xyz_then_xyzw(tmp_path):
    """navigation.json spawn points become (S, 7) poses: position, identity quaternion with w last."""
    (tmp_path / "navigation.json").write_text(json.dumps({"spawn_points": [[1.0, 2.0, 0.01], [-1.5, 0.25, 0.4]]}))
    poses = spawn_poses(tmp_path)
    assert poses.dtype == np.float32 and poses.shape == (2, 7)
    np.testing.assert_allclose(poses[1], [-1.5, 0.25, 0.4, 0, 0, 0, 1])


@pytest.mark.parametrize("content, match", [(None, "missing"), ({"spawn_points": []}, "empty"),
                                            ({"spawn_points": [[1, 2]]}, "list of")])  # fmt: skip
def test_spawn_poses_errors_name_the_file(tmp_path, content, match):
    if content is not None:
        (tmp_path / "navigation.json").write_text(json.dumps(content))
    with pytest.raises(WorldgenError, match=match) as error:
        spawn_poses(tmp_path)
    assert "navigation.json" in str(error.value)


def test_world_materials_from_the_collision_layer(tmp_path):
    """Materials come from UsdPhysics.MaterialAPI as authored, by prim name."""
    from pxr import Usd, UsdPhysics, UsdShade

    stage = Usd.Stage.CreateNew(str(tmp_path / "world.usda"))
    for name, values in {"floor": (0.8, 0.7, 0.05), "object": (0.5, 0.4, 0.2)}.items():
        material = UsdShade.Material.Define(stage, f"/World/Physics/Materials/{name}")
        api = UsdPhysics.MaterialAPI.Apply(material.GetPrim())
        api.CreateStaticFrictionAttr(values[0])
        api.CreateDynamicFrictionAttr(values[1])
        api.CreateRestitutionAttr(values[2])
    stage.Save()
    materials = read_world_materials(tmp_path)
    assert sorted(materials) == ["floor", "object"]
    floor = materials["floor"]
    assert (floor.static_friction, floor.dynamic_friction, floor.restitution) == pytest.approx((0.8, 0.7, 0.05))
    with pytest.raises(WorldgenError, match="no world.usda"):
        read_world_materials(tmp_path / "elsewhere")

"""Isaac Lab 3 helpers against the real isaaclab package, their tensor code on the CPU with a stand-in env.

The stand-in env offers what Isaac Lab's event manager hands an event function:
``env.scene[name]`` giving an asset with ``device``, ``write_root_pose_to_sim_index``,
``write_root_velocity_to_sim_index`` and ``root_view.get/set_material_properties``
(warp arrays, as PhysX's tensor API returns). The tests call the functions the
configs carry exactly as the event manager does: ``cfg.func(env, env_ids, **cfg.params)``.
"""

from __future__ import annotations

import json
import math

import pytest

from .conftest import need


class _View:
    def __init__(self, num_envs: int, num_shapes: int) -> None:
        import torch
        import warp as wp

        wp.init()  # Isaac Lab has initialised warp before any event runs
        values = torch.tensor([1.0, 1.0, 0.0]).repeat(num_envs, num_shapes, 1)
        values[0, 1, 2] = -500.0  # a compliant contact: negative restitution encodes stiffness
        self.materials = wp.from_torch(values.contiguous())
        self.set_calls = []

    def get_material_properties(self):
        return self.materials

    def set_material_properties(self, values, indices):
        import warp as wp

        self.set_calls.append(wp.to_torch(indices).tolist())
        self.materials = values


class _Robot:
    device = "cpu"

    def __init__(self, num_envs: int) -> None:
        self.root_view = _View(num_envs, num_shapes=3)
        self.poses, self.velocities = {}, {}

    def write_root_pose_to_sim_index(self, *, root_pose, env_ids):
        assert root_pose.shape == (len(env_ids), 7)
        self.poses.update(zip(env_ids.tolist(), root_pose.clone()))

    def write_root_velocity_to_sim_index(self, *, root_velocity, env_ids):
        assert root_velocity.shape == (len(env_ids), 6)
        self.velocities.update(zip(env_ids.tolist(), root_velocity.clone()))


class _Scene:
    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self.robot = _Robot(num_envs)

    def __getitem__(self, name: str):
        assert name == "robot"
        return self.robot


class _Env:
    def __init__(self, num_envs: int) -> None:
        self.scene = _Scene(num_envs)
        self.num_envs = num_envs
        self.device = "cpu"


@pytest.fixture(scope="module")
def isaaclab():
    need("isaaclab", "torch", "warp")
    import isaaclab.managers
    import isaaclab.terrains

    return isaaclab


def test_terrain_cfg_constructs(isaaclab, world_dir):
    """The world as Isaac Lab's USD terrain: TerrainImporterCfg(terrain_type="usd", usd_path=world.usda)."""
    from isaaclab.terrains import TerrainImporterCfg

    from worldgen_sim.isaaclab import world_terrain_cfg

    cfg = world_terrain_cfg(world_dir)
    assert isinstance(cfg, TerrainImporterCfg)
    assert cfg.terrain_type == "usd" and cfg.usd_path == str((world_dir / "world.usda").absolute())
    assert cfg.prim_path == "/World/ground"


def test_reset_onto_spawn_points(isaaclab, world_dir):
    """Reset robots land on navigation.json spawn points, raised by the standing height, yawed, (x, y, z, w)."""
    import torch
    from isaaclab.managers import EventTermCfg, SceneEntityCfg

    from worldgen_sim.isaaclab import spawn_reset_event_cfg

    spawn = torch.tensor(json.loads((world_dir / "navigation.json").read_text())["spawn_points"])
    cfg = spawn_reset_event_cfg(world_dir, height=0.6, yaw_range=(math.pi / 2, math.pi / 2))
    assert isinstance(cfg, EventTermCfg) and cfg.mode == "reset"
    assert isinstance(cfg.params["asset_cfg"], SceneEntityCfg) and cfg.params["asset_cfg"].name == "robot"
    env = _Env(num_envs=64)
    torch.manual_seed(0)
    cfg.func(env, torch.tensor([3, 7, 11, 40]), **cfg.params)
    robot = env.scene.robot
    assert sorted(robot.poses) == [3, 7, 11, 40]
    for pose in robot.poses.values():
        distance = torch.linalg.norm(spawn - (pose[:3] - torch.tensor([0.0, 0.0, 0.6])), dim=1)
        assert distance.min() < 1e-5  # exactly a spawn point, 0.6 m up
        s = math.sqrt(0.5)
        assert torch.allclose(pose[3:], torch.tensor([0.0, 0.0, s, s]), atol=1e-6)  # 90 deg about +Z, w last
    assert all(torch.count_nonzero(v) == 0 for v in robot.velocities.values())
    cfg.func(env, slice(None), **cfg.params)
    assert len(robot.poses) == 64


def test_random_yaw_stays_upright(isaaclab, world_dir):
    """With the default full-circle yaw, quaternions are unit, about +Z only, and vary."""
    import torch

    from worldgen_sim.isaaclab import spawn_reset_event_cfg

    cfg = spawn_reset_event_cfg(world_dir)
    env = _Env(num_envs=32)
    cfg.func(env, None, **cfg.params)
    quats = torch.stack(list(env.scene.robot.poses.values()))[:, 3:]
    assert torch.allclose(torch.linalg.norm(quats, dim=1), torch.ones(32), atol=1e-6)
    assert torch.count_nonzero(quats[:, :2]) == 0 and quats[:, 2].std() > 0.1


def test_world_material_event(isaaclab, world_dir):
    """The robot's shapes get the world's floor material as authored in its collision layer."""
    import torch
    import warp as wp
    from pxr import Usd, UsdPhysics

    from worldgen_sim.isaaclab import world_material_event_cfg

    stage = Usd.Stage.Open(str(world_dir / "world.usda"))
    floor = UsdPhysics.MaterialAPI(stage.GetPrimAtPath("/World/Physics/Materials/floor"))
    authored = [floor.GetStaticFrictionAttr().Get(), floor.GetDynamicFrictionAttr().Get(),
                floor.GetRestitutionAttr().Get()]  # fmt: skip
    cfg = world_material_event_cfg(world_dir)
    assert cfg.mode == "startup"
    env = _Env(num_envs=4)
    cfg.func(env, None, **cfg.params)
    values = wp.to_torch(env.scene.robot.root_view.materials)
    assert torch.allclose(values[1:], torch.tensor(authored, dtype=values.dtype).expand(3, 3, 3), atol=1e-6)
    assert values[0, 1, 2] == -500.0  # the compliant contact's stiffness is kept
    assert env.scene.robot.root_view.set_calls == [[0, 1, 2, 3]]
    spread = world_material_event_cfg(world_dir, spread=0.2)
    spread.func(env, torch.tensor([2]), **spread.params)
    changed = wp.to_torch(env.scene.robot.root_view.materials)[2]
    assert torch.all(changed[:, 1] <= changed[:, 0])  # dynamic never above static
    assert torch.all((changed[:, 0] >= 0.8 * authored[0] - 1e-6) & (changed[:, 0] <= 1.2 * authored[0] + 1e-6))


def test_unknown_surface_names_the_choices(isaaclab, world_dir):
    from worldgen_sim.errors import WorldgenError
    from worldgen_sim.isaaclab import world_material_event_cfg

    with pytest.raises(WorldgenError, match=r"surface 'lava'.*'floor'"):
        world_material_event_cfg(world_dir, surface="lava")


def test_training_config_example_constructs(isaaclab, world_dir, monkeypatch):
    """examples/isaaclab_train_cfg.py builds its scene and event configs with the real isaaclab."""
    import importlib.util
    from pathlib import Path

    monkeypatch.setenv("WORLDGEN_WORLD", str(world_dir))
    path = Path(__file__).resolve().parents[2] / "examples" / "isaaclab_train_cfg.py"
    spec = importlib.util.spec_from_file_location("isaaclab_train_cfg", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(__import__("sys").modules, spec.name, module)  # configclass resolves names through it
    spec.loader.exec_module(module)
    events = module.WorldgenEventsCfg()
    scene = module.WorldgenSceneCfg(num_envs=8, env_spacing=0.0)
    assert scene.terrain.usd_path == str((world_dir / "world.usda").absolute())
    assert events.reset_base.mode == "reset" and events.robot_on_world_material.mode == "startup"


def test_randomisation_terms_construct_and_run(isaaclab, world_dir):
    """make_event_terms builds real EventTermCfgs for every kind of variation; the spawn-set term runs
    exactly as the event manager calls it and lands robots only on their environment's active points."""
    import numpy as np
    import torch
    from isaaclab.managers import EventTermCfg

    from worldgen_sim.randomize.isaaclab_terms import make_event_terms
    from worldgen_sim.randomize.randomize_cfg import RandomizeCfg
    from worldgen_sim.randomize.world_info import load_world_info

    world = load_world_info(world_dir)
    terms = make_event_terms(RandomizeCfg(), world=world, num_envs=16, pool_size=8,
                             objects={f"obj_{o.name}": o.name for o in world.objects[:2]})
    expected = {"physics_material", "spawn_points", "lights", "appearance"}
    expected |= {"object_poses"} | {f"obj_{o.name}_mass" for o in world.objects[:2]} if world.objects else set()
    assert expected <= set(terms) and all(isinstance(t, EventTermCfg) for t in terms.values())
    spawn = terms["spawn_points"]
    env = _Env(num_envs=16)
    spawn.func(env, None, **spawn.params)
    points = np.asarray(spawn.params["spawn_poses"])[:, :3]
    active = np.asarray(spawn.params["active"])
    for env_id, pose in env.scene.robot.poses.items():
        picked = int(np.argmin(np.linalg.norm(points - pose[:3].numpy(), axis=1)))
        assert active[env_id, picked]
    assert torch.allclose(torch.linalg.norm(torch.stack(list(env.scene.robot.poses.values()))[:, 3:], dim=1),
                          torch.ones(16), atol=1e-6)

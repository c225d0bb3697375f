"""What Isaac Lab needs from a world package, read without Isaac Lab or torch.

Spawn poses come from ``navigation.json`` (positions on the walkable surface,
metres, Z-up) and are returned as (x, y, z, qx, qy, qz, qw), Isaac Lab 3's root
pose layout. Physics materials come from the world's collision layer
(``UsdPhysics.MaterialAPI`` on ``/World/Physics/Materials/*``), which is what
the simulator applies: Isaac Lab's USD terrain importer keeps the world's own
materials and adds none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError

__all__ = ["WorldMaterial", "read_world_materials", "spawn_poses", "world_usd"]

WORLD_FILE = "world.usda"
NAVIGATION_FILE = "navigation.json"


@dataclass(frozen=True)
class WorldMaterial:
    """One physics material of a world.

    Attributes:
        name: the material prim's name (its semantic class, e.g. ``"floor"``).
        static_friction: dimensionless, >= 0.
        dynamic_friction: dimensionless, >= 0.
        restitution: in [0, 1].
    """

    name: str
    static_friction: float
    dynamic_friction: float
    restitution: float


def world_usd(world_dir: str | Path) -> Path:
    """The ``world.usda`` of a world package folder (or the file itself when given one)."""
    path = Path(world_dir)
    usd = path if path.suffix in (".usd", ".usda", ".usdc") else path / WORLD_FILE
    if not usd.is_file():
        raise WorldgenError(f"{path}: no {WORLD_FILE}; expected the OUT folder of 'worldgen build'")
    return usd.absolute()


def spawn_poses(world_dir: str | Path) -> np.ndarray:
    """Spawn poses of a world as an (S, 7) float32 array: x, y, z [m] and quaternion (x, y, z, w).

    Positions are the precomputed spawn points of ``navigation.json`` (on the
    walkable surface, away from its border); the orientation is upright with
    zero yaw (the reset event turns each robot about +Z).

    Raises:
        WorldgenError: no ``navigation.json``, or it lists no spawn points.
    """
    path = Path(world_dir) / NAVIGATION_FILE
    if not path.is_file():
        raise WorldgenError(f"{path}: missing; build the world with the navigation stage for spawn points")
    try:
        points = np.asarray(json.loads(path.read_text()).get("spawn_points", []), dtype=np.float32).reshape(-1, 3)
    except (ValueError, json.JSONDecodeError) as exc:
        raise WorldgenError(f"{path}: 'spawn_points' is not a list of [x, y, z] ({exc})") from None
    if len(points) == 0:
        raise WorldgenError(f"{path}: 'spawn_points' is empty; the world has no walkable region for a robot")
    poses = np.zeros((len(points), 7), np.float32)
    poses[:, :3] = points
    poses[:, 6] = 1.0  # identity quaternion, w last
    return poses


def read_world_materials(world_dir: str | Path) -> dict[str, WorldMaterial]:
    """The physics materials authored in the world, by name.

    Raises:
        WorldgenError: the world cannot be opened or has no physics material.
    """
    from pxr import Usd, UsdPhysics

    usd = world_usd(world_dir)
    stage = Usd.Stage.Open(str(usd))
    if stage is None:
        raise WorldgenError(f"{usd}: cannot open as a USD stage")
    materials = {}
    for prim in stage.Traverse():
        if not prim.HasAPI(UsdPhysics.MaterialAPI):
            continue
        api = UsdPhysics.MaterialAPI(prim)
        materials[prim.GetName()] = WorldMaterial(
            name=prim.GetName(),
            static_friction=float(api.GetStaticFrictionAttr().Get() or 0.0),
            dynamic_friction=float(api.GetDynamicFrictionAttr().Get() or 0.0),
            restitution=float(api.GetRestitutionAttr().Get() or 0.0),
        )
    if not materials:
        raise WorldgenError(f"{usd}: no physics material (UsdPhysics.MaterialAPI); build it with the collision stage")
    return materials

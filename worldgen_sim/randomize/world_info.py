"""What randomisation needs to know about a built world, read once from its package.

Read with the Sdf layer API from ``collision.usdc`` and ``navigation.json``
alone, so sampling never composes the splat or visual layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError

__all__ = ["MovableObject", "WorldInfo", "load_world_info"]

MATERIALS_PRIM = "/World/Physics/Materials"
STATIC_PRIM = "/World/Collision/Static"
OBJECTS_PRIM = "/World/Collision/Objects"
VISUAL_MATERIAL_PRIM = "/World/Visual/Looks/VertexColor"
VISUAL_MESH_PRIM = "/World/Visual/Mesh"
SPAWN_POINTS_PRIM = "/World/Navigation/SpawnPoints"
LIGHTS_PRIM = "/World/Lights"
_SURFACE_SPACING = 0.04
"""Spacing of the points sampled on colliders for interpenetration tests [m]."""


@dataclass(eq=False)
class MovableObject:
    """One object of ``/World/Collision/Objects``.

    Attributes:
        name: prim name (``furniture_000``).
        semantic_class: its material class.
        centre: (3,) float64 translation of its Xform [m].
        hulls: convex hulls, each (H, 3) float64 vertices relative to ``centre`` [m].
        rigid: the object is a rigid body (``RigidBodyAPI``; built with ``--dynamic-objects``).
        density: its material's density [kg/m^3].
    """

    name: str
    semantic_class: str
    centre: np.ndarray
    hulls: list[np.ndarray]
    rigid: bool
    density: float

    @property
    def bottom(self) -> float:
        """Lowest hull point's z [m]."""
        return float(self.centre[2] + min(h[:, 2].min() for h in self.hulls))


@dataclass(eq=False)
class WorldInfo:
    """The facts of a base world that variants are sampled from.

    Attributes:
        root: the world package folder.
        materials: material class -> {static_friction, dynamic_friction, restitution, density}.
        objects: the objects, in prim order.
        static_points: (P, 3) float64 points on the static colliders (floor, walls, terrain) [m].
        walkable_points: (W, 3) float64 centres of walkable navigation cells [m].
        spawn_points: (S, 3) float64 spawn points of ``navigation.json`` [m].
        has_lights: the base world defines ``/World/Lights``.
        has_visual: the base world has the visual mesh and its preview material.
        agent_radius: the navigation agent's radius [m].
    """

    root: Path
    materials: dict[str, dict[str, float]]
    objects: list[MovableObject]
    static_points: np.ndarray
    walkable_points: np.ndarray
    spawn_points: np.ndarray
    has_lights: bool = False
    has_visual: bool = False
    agent_radius: float = 0.25
    fingerprint: str = field(default="")


def load_world_info(root: str | Path) -> WorldInfo:
    """Read what randomisation needs from a world package folder.

    Args:
        root: the OUT of ``worldgen build`` (``world.usda``, ``collision.usdc``, ``navigation.json``).

    Raises:
        WorldgenError: no world package there, or a layer that cannot be read (named).
    """
    root = Path(root)
    world = root / "world.usda"
    if not world.is_file():
        raise WorldgenError(f"{root}: no world.usda; expected the output folder of 'worldgen build'")
    collision = root / "collision.usdc"
    if not collision.is_file():
        raise WorldgenError(f"{root}: no collision.usdc; randomisation needs a world built with colliders")
    layer = _open_layer(collision)
    materials = _materials(layer)
    objects = _objects(layer, materials)
    static_points = _static_points(layer)
    walkable, spawn, radius = _navigation(root)
    world_layer = _open_layer(world)
    visual = root / "visual.usdc"
    has_visual = visual.is_file() and _open_layer(visual).GetPrimAtPath(VISUAL_MATERIAL_PRIM) is not None
    return WorldInfo(
        root=root, materials=materials, objects=objects, static_points=static_points,
        walkable_points=walkable, spawn_points=spawn, has_lights=world_layer.GetPrimAtPath(LIGHTS_PRIM) is not None,
        has_visual=has_visual, agent_radius=radius, fingerprint=_fingerprint(root),
    )


def _open_layer(path: Path):
    from pxr import Sdf, Tf

    try:
        layer = Sdf.Layer.OpenAsAnonymous(str(path))
    except Tf.ErrorException as exc:
        raise WorldgenError(f"{path}: cannot read this USD layer ({str(exc).strip().splitlines()[-1]})") from None
    if layer is None:
        raise WorldgenError(f"{path}: cannot read this USD layer")
    return layer


def _attr(spec, name: str, default=None):
    attr = spec.attributes.get(name) if spec is not None else None
    return default if attr is None or attr.default is None else attr.default


def _materials(layer) -> dict[str, dict[str, float]]:
    scope = layer.GetPrimAtPath(MATERIALS_PRIM)
    out: dict[str, dict[str, float]] = {}
    for spec in scope.nameChildren if scope is not None else []:
        out[spec.name] = {
            "static_friction": float(_attr(spec, "physics:staticFriction", 0.5)),
            "dynamic_friction": float(_attr(spec, "physics:dynamicFriction", 0.5)),
            "restitution": float(_attr(spec, "physics:restitution", 0.0)),
            "density": float(_attr(spec, "physics:density", 1000.0)),
        }
    return out


def _objects(layer, materials) -> list[MovableObject]:
    scope = layer.GetPrimAtPath(OBJECTS_PRIM)
    objects = []
    for spec in scope.nameChildren if scope is not None else []:
        hulls = [np.asarray(_attr(child, "points"), np.float64) for child in spec.nameChildren
                 if _attr(child, "points") is not None]
        if not hulls:
            continue
        labels = _attr(spec, "semantics:labels:class", ["object"])
        cls = str(labels[0]) if len(labels) else "object"
        rigid = "PhysicsRigidBodyAPI" in _api_schemas(spec)
        objects.append(MovableObject(
            name=spec.name, semantic_class=cls, centre=np.asarray(_attr(spec, "xformOp:translate", (0, 0, 0)), float),
            hulls=hulls, rigid=rigid, density=materials.get(cls, {}).get("density", 1000.0),
        ))
    return objects


def _api_schemas(spec) -> list[str]:
    listop = spec.GetInfo("apiSchemas")
    return list(listop.GetAddedOrExplicitItems()) if listop is not None else []


def _static_points(layer) -> np.ndarray:
    from worldgen_sim.artifacts import TriangleMesh

    scope = layer.GetPrimAtPath(STATIC_PRIM)
    clouds = []
    for spec in scope.nameChildren if scope is not None else []:
        points = np.asarray(_attr(spec, "points", []), np.float64).reshape(-1, 3)
        indices = np.asarray(_attr(spec, "faceVertexIndices", []), np.int64).reshape(-1, 3)
        if not len(indices):
            continue
        corners = points[indices]
        area = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
        count = int(min(max(area.sum() / _SURFACE_SPACING**2, 16), 400_000))
        clouds.append(TriangleMesh(points.astype(np.float32), indices.astype(np.int32)).sample_surface(count, seed=0))
        clouds += [points, corners.mean(axis=1)]  # corners and face centres too: nothing thin is missed
    return np.concatenate(clouds) if clouds else np.zeros((0, 3))


def _navigation(root: Path) -> tuple[np.ndarray, np.ndarray, float]:
    nav_path = root / "navigation.json"
    if not nav_path.is_file():
        return np.zeros((0, 3)), np.zeros((0, 3)), 0.25
    from worldgen_sim.navigation.navmap import NavigationMap

    nav = NavigationMap.load(nav_path)
    # (levels, H, W) grids: every walkable cell of every level (a platform top as well as the floor).
    levels, rows, cols = np.nonzero(nav.walkable & np.isfinite(nav.heights))
    xy = nav.origin + (np.stack([cols, rows], axis=1) + 0.5) * nav.cell_size
    walkable = np.column_stack([xy, nav.heights[levels, rows, cols]]).astype(np.float64)
    return walkable, nav.spawn_points.astype(np.float64), float(nav.agent.get("agent_radius", 0.25))


def _fingerprint(root: Path) -> str:
    """sha256 of the layers variants are sampled from: a rebuilt base world invalidates old variants."""
    import hashlib

    digest = hashlib.sha256()
    # visual.usdc and objects.usdc: the tinted palettes a variant writes are made of their colours.
    for name in ("world.usda", "collision.usdc", "navigation.json", "objects.usdc", "visual.usdc"):
        path = root / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]

"""A world package read into plain numpy layers for the viewer and the headless renderer.

Everything is in the world frame (Z up, metres). What is shown and how much of it:

* ``splats``: Gaussian centres with their ``displayColor`` (or the observed points of
  ``evidence.npz`` when the world has no splats layer), **subsampled** to at most
  ``max_points`` with a seeded random choice, so a 1M-Gaussian world opens quickly; the
  layer records how many there were.
* ``visual``: the visual mesh with its vertex colours; faces labelled completed
  (``primvars:worldgen:completed``) become the ``completed`` layer.
* ``colliders``: one triangle mesh per collider object (static parts and every object's
  hulls merged per object), each with its own colour.
* ``walkable``, ``spawn_points``, ``nav_volumes``: the navigation layer.
* ``probes``: the drop-test probes of ``verify.json`` (end positions, passed or not).
* ``camera``: the input camera (position, forward, vertical field of view) when recorded.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError
from worldgen_sim.usd_geometry import fan_corners, prim_world_matrix, usd_transform_points
from worldgen_sim.verify.observed import first_array, splat_prims

log = logging.getLogger(__name__)

__all__ = [
    "InputCamera", "MeshLayer", "PointLayer", "WorldLayers", "add_report_layers", "load_world_layers", "object_colours",
]  # fmt: skip

_DEFAULT_VFOV_DEG = 60.0
"""Vertical field of view of the input camera when the world does not record intrinsics [deg]."""


@dataclass(eq=False)
class MeshLayer:
    """A triangle mesh to draw.

    Attributes:
        vertices: (V, 3) float32 [m].
        faces: (F, 3) int32 vertex indices.
        colors: (V, 3) float32 RGB in [0, 1] per vertex.
        name: what it is (a prim name for colliders).
        label: semantic class (``semantics:labels:class``) of a collider, e.g. ``"ceiling"``.
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    name: str = ""
    label: str = ""

    @property
    def is_empty(self) -> bool:
        return self.faces.shape[0] == 0


@dataclass(eq=False)
class PointLayer:
    """Points to draw.

    Attributes:
        points: (N, 3) float32 [m].
        colors: (N, 3) float32 RGB in [0, 1].
        total: how many the world holds (``N`` unless subsampled).
        source: where they came from, for the page.
    """

    points: np.ndarray
    colors: np.ndarray
    total: int = 0
    source: str = ""

    @property
    def subsampled(self) -> bool:
        return self.total > self.points.shape[0]


@dataclass(eq=False)
class InputCamera:
    """The camera the input was seen from, in the world frame.

    Attributes:
        position: (3,) float64 [m].
        forward: (3,) float64 unit viewing direction.
        vfov_deg: vertical field of view [deg] (a default when the world records no intrinsics).
        source: what recorded it.
    """

    position: np.ndarray
    forward: np.ndarray
    vfov_deg: float
    source: str


@dataclass(eq=False)
class WorldLayers:
    """Every layer of a world package that the viewer shows (absent ones are None or empty).

    Attributes:
        out_dir: the world package folder.
        splats: Gaussian centres (subsampled) or observed points.
        visual: the visual mesh (faces labelled completed excluded), or None.
        completed: the completed faces of the visual mesh, or None when the world records none.
        colliders: one mesh per collider object, coloured by :func:`object_colours`.
        walkable: the walkable surface, or None.
        spawn_points: (S, 3) float32 [m].
        nav_volumes: (B, 2, 3) float64 boxes (min, max corner) [m] and (B,) bool include flags.
        probes_start / probes_end: (P, 3) float64 drop-test probe centres [m].
        probes_passed: (P,) bool.
        probe_engine: engine that ran the drop test ("" when no verify.json).
        camera: the input camera, or None when the world does not know it.
        notes: what was left out or reduced, for the page.
    """

    out_dir: Path
    splats: PointLayer | None = None
    visual: MeshLayer | None = None
    completed: MeshLayer | None = None
    colliders: list[MeshLayer] = field(default_factory=list)
    walkable: MeshLayer | None = None
    spawn_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    nav_volumes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2, 3)))
    nav_include: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    probes_start: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    probes_end: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    probes_passed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    probe_engine: str = ""
    camera: InputCamera | None = None
    notes: list[str] = field(default_factory=list)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(3,) min and max corner of everything drawable [m] (a unit box at the origin when empty)."""
        parts = [m.vertices for m in (self.visual, self.completed, self.walkable) if m is not None and not m.is_empty]
        parts += [m.vertices for m in self.colliders]
        if self.splats is not None and len(self.splats.points):
            # Robust to floaters: the splats' 1st-99th percentile box.
            parts.append(np.percentile(self.splats.points, [1, 99], axis=0).astype(np.float32))
        parts.append(self.spawn_points)  # not the probes: a failed one may have been thrown far away
        points = np.concatenate([np.asarray(p, np.float64).reshape(-1, 3) for p in parts])
        if len(points) == 0:
            return np.array([-1.0, -1.0, 0.0]), np.array([1.0, 1.0, 1.0])
        return points.min(axis=0), points.max(axis=0)


def object_colours(count: int) -> np.ndarray:
    """(count, 3) float32 distinct colours (golden-ratio hues), the same for the same index every time."""
    hue = (np.arange(count) * 0.618033988749895) % 1.0
    return _hsv_to_rgb(hue, np.full(count, 0.65), np.full(count, 0.95)).astype(np.float32)


def load_world_layers(out_dir: str | Path, *, max_points: int = 300_000, seed: int = 0) -> WorldLayers:
    """Read the drawable layers of a world package.

    Args:
        out_dir: the package folder (holding ``world.usda``).
        max_points: most splat centres kept (uniform seeded subsample beyond it); 0 keeps none.
        seed: subsample seed (same world + seed -> same points).

    Raises:
        WorldgenError: no ``world.usda``, a stage that does not open, or a malformed
            ``verify.json`` / ``world.json``, naming the file.
    """
    from pxr import Usd

    out_dir = Path(out_dir)
    world = out_dir / "world.usda"
    if not world.is_file():
        raise WorldgenError(f"{out_dir}: no world.usda; expected a world package written by 'worldgen build'")
    stage = Usd.Stage.Open(str(world))
    if stage is None:
        raise WorldgenError(f"{world}: cannot open as a USD stage")
    layers = WorldLayers(out_dir=out_dir)
    add_report_layers(layers)  # first: a malformed report fails before the slow USD reads
    layers.splats = _splat_points(stage, out_dir, max_points=max_points, seed=seed)
    if layers.splats is not None and layers.splats.subsampled:
        layers.notes.append(
            f"{layers.splats.source}: showing {len(layers.splats.points):,} of {layers.splats.total:,} "
            f"(seeded random subsample, 1 in {layers.splats.total / max(len(layers.splats.points), 1):.1f})"
        )
    layers.visual, layers.completed = _visual(stage)
    layers.colliders = _colliders(stage)
    _navigation(stage, layers)
    return layers


def add_report_layers(layers: WorldLayers) -> None:
    """Fill ``layers``' probes (``verify.json``) and input camera (``world.json``) from its folder.

    Raises:
        WorldgenError: a malformed ``verify.json`` or ``world.json``, naming the file.
    """
    _probes(layers.out_dir / "verify.json", layers)
    layers.camera = _input_camera(layers.out_dir / "world.json")


def _splat_points(stage, out_dir: Path, *, max_points: int, seed: int) -> PointLayer | None:
    positions, colours = [], []
    for prim, world in splat_prims(stage):
        colour = first_array(prim, ("primvars:displayColor",))
        if colour is None or colour.size != world.size:
            colour = np.full(world.shape, 0.7)
        positions.append(world)
        colours.append(colour.reshape(-1, 3))
    source = "splat centres"
    if not positions:
        evidence = out_dir / "evidence.npz"
        if not evidence.is_file():
            return None
        from worldgen_sim.evidence import read_evidence

        observed, _, kind = read_evidence(evidence)
        positions, colours, source = [observed], [np.full(observed.shape, 0.65)], f"observed points ({kind})"
    points, colours = np.concatenate(positions), np.concatenate(colours)
    total = len(points)
    if total > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(total, size=max_points, replace=False))
        points, colours = points[keep], colours[keep]
    return PointLayer(points.astype(np.float32), np.clip(colours, 0, 1).astype(np.float32), total=total, source=source)


def _visual(stage) -> tuple[MeshLayer | None, MeshLayer | None]:
    from pxr import Usd, UsdGeom

    root = stage.GetPrimAtPath("/World/Visual")
    if not root.IsValid():
        return None, None
    meshes, completed = [], []
    for prim in Usd.PrimRange(root):
        if not prim.IsA(UsdGeom.Mesh):
            continue
        vertices, faces, face_of = _triangles_of_faces(prim)
        colour = first_array(prim, ("primvars:displayColor",))
        colour = colour.reshape(-1, 3) if colour is not None and colour.size == vertices.size else None
        colours = colour if colour is not None else np.full(vertices.shape, 0.75)
        labels = first_array(prim, ("primvars:worldgen:completed",))
        # Labels are per authored face (uniform); a polygon's triangles share its label.
        is_completed = None
        if labels is not None and len(face_of) and labels.size > face_of.max():
            is_completed = labels.reshape(-1)[face_of] != 0
        if is_completed is not None and is_completed.any():
            completed.append(MeshLayer(vertices, faces[is_completed], colours, "completed"))
            faces = faces[~is_completed]
        meshes.append(MeshLayer(vertices, faces, colours, prim.GetName()))
    return _merge(meshes, "visual"), _merge(completed, "completed")


def _colliders(stage) -> list[MeshLayer]:
    """One mesh per collider object: each child of /World/Collision/Static and /World/Collision/Objects."""
    from pxr import UsdGeom, UsdPhysics

    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    labels: dict[str, str] = {}
    for prim in stage.Traverse():
        if not (prim.HasAPI(UsdPhysics.CollisionAPI) and prim.IsA(UsdGeom.Mesh)):
            continue
        path = prim.GetPath()
        # .../Objects/<object>/hull_000 groups by <object>; a static part is its own object.
        owner = path.GetParentPath() if path.GetParentPath().GetParentPath().name == "Objects" else path
        groups.setdefault(str(owner), []).append(_triangles(prim))
        label = stage.GetPrimAtPath(owner).GetAttribute("semantics:labels:class")
        values = label.Get() if label else None
        labels[str(owner)] = str(values[0]) if values else ""
    names = sorted(groups)
    colours = object_colours(len(names))
    layers = []
    for name, colour in zip(names, colours):
        parts = [MeshLayer(v, f, np.broadcast_to(colour, v.shape)) for v, f in groups[name]]
        merged = _merge(parts, name.rsplit("/", 1)[-1])
        if merged is not None:
            merged.label = labels[name]
            layers.append(merged)
    return layers


def _navigation(stage, layers: WorldLayers) -> None:
    from pxr import UsdGeom

    root = "/World/Navigation"
    surface = stage.GetPrimAtPath(f"{root}/WalkableSurface")
    if surface.IsValid() and surface.IsA(UsdGeom.Mesh):
        vertices, faces = _triangles(surface)
        green = np.broadcast_to(np.array([0.1, 0.8, 0.3], np.float32), vertices.shape)
        layers.walkable = MeshLayer(vertices, faces, green, "walkable")
    spawn = stage.GetPrimAtPath(f"{root}/SpawnPoints")
    if spawn.IsValid():
        points = first_array(spawn, ("points",))
        if points is not None:
            layers.spawn_points = usd_transform_points(points, prim_world_matrix(spawn), dtype=np.float32)
    boxes, include = [], []
    for prim in stage.Traverse():
        if prim.GetTypeName() != "NavMeshVolume":
            continue
        # usd-core does not know Isaac Sim's NavMeshVolume type, so its xformOps are read by name:
        # a unit cube moved to xformOp:translate and sized by xformOp:scale (usd_navigation.py).
        translate, scale = prim.GetAttribute("xformOp:translate"), prim.GetAttribute("xformOp:scale")
        centre = np.asarray(translate.Get() if translate and translate.HasValue() else (0, 0, 0), np.float64)
        size = np.asarray(scale.Get() if scale and scale.HasValue() else (1, 1, 1), np.float64)
        corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
        world = usd_transform_points(centre + corners * size, prim_world_matrix(prim.GetParent()))
        boxes.append([world.min(axis=0), world.max(axis=0)])
        include.append(prim.GetAttribute("nav:volume:type").Get() != "Exclude")
    if boxes:
        layers.nav_volumes, layers.nav_include = np.asarray(boxes, np.float64), np.asarray(include, bool)


def _probes(path: Path, layers: WorldLayers) -> None:
    if not path.is_file():
        return
    try:
        report = json.loads(path.read_text())
        drop = report.get("drop_test")
        if not drop:
            return
        probes = drop["probes"]
        start = np.array([_finite(p["start"]) for p in probes], np.float64).reshape(-1, 3)
        end = np.array([_finite(p["end"]) for p in probes], np.float64).reshape(-1, 3)
        passed = np.array([bool(p["passed"]) for p in probes], bool)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WorldgenError(f"{path}: cannot read the drop-test probes ({type(exc).__name__}: {exc})") from None
    # A probe thrown far away (NaN end) is drawn where it started.
    lost = ~np.isfinite(end).all(axis=1)
    end[lost] = start[lost]
    layers.probes_start, layers.probes_end, layers.probes_passed = start, end, passed
    layers.probe_engine = str(drop.get("engine", ""))


def _input_camera(path: Path) -> InputCamera | None:
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WorldgenError(f"{path}: cannot read world.json ({exc})") from None
    align = (summary.get("stages") or {}).get("align") or {}
    pose = align.get("camera_world")
    if not pose:
        return None
    position = np.asarray(pose["position"], np.float64)
    forward = np.asarray(pose["forward"], np.float64)
    vfov, source = _DEFAULT_VFOV_DEG, f"{align.get('camera')} (field of view not recorded: {_DEFAULT_VFOV_DEG} deg)"
    intrinsics = (summary.get("generate") or {}).get("intrinsics")
    if intrinsics and intrinsics.get("fy") and intrinsics.get("height"):
        vfov = float(np.degrees(2 * np.arctan(0.5 * intrinsics["height"] / intrinsics["fy"])))
        source = f"{align.get('camera')} ({intrinsics.get('source', 'recorded intrinsics')})"
    return InputCamera(position, forward / max(float(np.linalg.norm(forward)), 1e-12), vfov, source)


def _triangles(prim) -> tuple[np.ndarray, np.ndarray]:
    """World-frame (V, 3) float32 vertices and (F, 3) int32 fan-triangulated faces of a Mesh prim."""
    vertices, faces, _ = _triangles_of_faces(prim)
    return vertices, faces


def _triangles_of_faces(prim) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_triangles` and (F,) int64: the authored face each triangle came from."""
    from pxr import UsdGeom

    mesh = UsdGeom.Mesh(prim)
    # Read in the authored types (float32 points, int32 indices): a million-face mesh's float64 and
    # int64 copies cost more than reading it.
    points = np.asarray(mesh.GetPointsAttr().Get() or [], np.float32).reshape(-1, 3)
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get() or [], np.int32)
    indices = np.asarray(mesh.GetFaceVertexIndicesAttr().Get() or [], np.int32)
    if len(points) == 0 or len(counts) == 0 or counts.sum(dtype=np.int64) != len(indices):
        return points, np.zeros((0, 3), np.int32), np.zeros(0, np.int64)
    if (counts == 3).all():
        faces, face_of = indices.reshape(-1, 3), np.arange(len(counts))
    else:  # polygon k-gons as fans 0, j+1, j+2
        face_of, corners = fan_corners(counts)
        faces = indices[corners]
    points = usd_transform_points(points, prim_world_matrix(prim), dtype=np.float32)
    return points, faces.astype(np.int32, copy=False), face_of


def _merge(meshes: list[MeshLayer], name: str) -> MeshLayer | None:
    meshes = [m for m in meshes if not m.is_empty]
    if not meshes:
        return None
    if len(meshes) == 1:  # no copy of a large mesh
        only = meshes[0]
        return MeshLayer(only.vertices.astype(np.float32, copy=False), only.faces.astype(np.int32, copy=False),
                         np.asarray(only.colors, np.float32), name)
    offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return MeshLayer(
        vertices=np.concatenate([m.vertices for m in meshes]).astype(np.float32),
        faces=np.concatenate([m.faces + o for m, o in zip(meshes, offsets)]).astype(np.int32),
        colors=np.concatenate([np.asarray(m.colors, np.float32) for m in meshes]),
        name=name,
    )


def _finite(values) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([np.stack(c, axis=-1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return table[i, np.arange(len(h))]

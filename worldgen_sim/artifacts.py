"""Typed artifacts that flow between the pipeline stages.

Every stage takes one of these and returns one; stages never import each other,
only this module. Arrays are numpy, units are SI (metres, radians unless a field
says degrees), and every world-frame quantity is Z-up with the floor at z = 0.

Camera convention everywhere: OpenCV (x right, y down, z forward); a
``cam_to_world`` matrix maps camera coordinates to the frame the artifact lives
in (input frame before alignment, world frame after).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worldgen_sim.reports import AlignReport, CollisionReport, NavigationReport, SurfaceReport

SH_C0 = 0.28209479177387814
"""Degree-0 real spherical-harmonic basis constant: ``rgb = 0.5 + SH_C0 * dc``."""


@dataclass(eq=False)
class GaussianCloud:
    """N anisotropic 3D Gaussians.

    Attributes:
        positions: (N, 3) float32, centres [m].
        rotations: (N, 4) float32, unit quaternions (w, x, y, z), local-to-frame.
        scales: (N, 3) float32, linear standard deviations along the local axes [m].
        opacities: (N,) float32 in [0, 1].
        sh: (N, K, 3) float32 spherical-harmonic radiance coefficients, K = (degree + 1)**2;
            ``sh[:, 0]`` is the DC term, the rest in the standard real-SH order.
    """

    positions: np.ndarray
    rotations: np.ndarray
    scales: np.ndarray
    opacities: np.ndarray
    sh: np.ndarray

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    @property
    def sh_degree(self) -> int:
        """Spherical-harmonic degree, 0..3, from the coefficient count."""
        return int(round(np.sqrt(self.sh.shape[1]))) - 1

    def colors(self) -> np.ndarray:
        """(N, 3) float32 view-independent RGB in [0, 1] from the DC term."""
        return np.clip(0.5 + SH_C0 * self.sh[:, 0, :], 0.0, 1.0).astype(np.float32)

    def subset(self, keep: np.ndarray) -> GaussianCloud:
        """Gaussians selected by a boolean mask (N,) or an index array."""
        return GaussianCloud(
            positions=self.positions[keep],
            rotations=self.rotations[keep],
            scales=self.scales[keep],
            opacities=self.opacities[keep],
            sh=self.sh[keep],
        )

    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(a.nbytes for a in (self.positions, self.rotations, self.scales, self.opacities, self.sh))


@dataclass(eq=False)
class CameraPath:
    """M pinhole cameras (OpenCV convention).

    Attributes:
        intrinsics: (M, 3, 3) float64 pixel-space K matrices.
        cam_to_world: (M, 4, 4) float64 camera-to-frame rigid transforms [m].
        width: image width [px].
        height: image height [px].
    """

    intrinsics: np.ndarray
    cam_to_world: np.ndarray
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.cam_to_world.shape[0])


@dataclass(eq=False)
class RGBDFrames:
    """M registered colour + depth frames.

    Attributes:
        colors: (M, H, W, 3) uint8 RGB.
        depths: (M, H, W) float32 metric z-depth along the optical axis [m]; 0 = no reading.
        cameras: the M cameras the frames were taken with (same H, W).
        names: M frame names, for error messages and reports.
    """

    colors: np.ndarray
    depths: np.ndarray
    cameras: CameraPath
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.depths.shape[0])


@dataclass(eq=False)
class SceneInput:
    """What the generate/load step hands to alignment, in the input's own frame.

    Attributes:
        source: the input path (a PLY file or an RGB-D folder).
        sha256: hex digest of the input file (of the frame index for folders).
        layout: detected input layout, e.g. ``"inria"``, ``"lyra2"``, ``"lyra1"``, ``"rgbd"``.
        gaussians: the Gaussian cloud, or None for pure RGB-D input.
        frames: RGB-D frames, or None.
        cameras: the camera path that produced the scene (Lyra's ``cameras.npz``), or None.
        default_up: the input frame's up convention guessed from the layout
            (``"opencv"``, ``"y"``, ``"z"``, or ``"auto"``: no guess, estimate from
            the geometry); alignment uses it when asked for ``auto``.
        dropped_invalid: Gaussians dropped on load for NaN/Inf values.
        camera_file: the file the cameras were read from (``cameras.npz``,
            ``cameras.json``, ``transforms.json``), or None.
        metres_per_unit: world metres per input unit when a trainer's camera
            file states it (nerfstudio's ``dataparser_transforms.json`` scale,
            undone), else None.
    """

    source: Path
    sha256: str
    layout: str
    gaussians: GaussianCloud | None = None
    frames: RGBDFrames | None = None
    cameras: CameraPath | None = None
    default_up: str = "z"
    dropped_invalid: int = 0
    camera_file: str | None = None
    metres_per_unit: float | None = None


@dataclass(eq=False)
class AlignedScene:
    """The scene in the world frame: Z-up, metres, floor at z = 0.

    Attributes:
        gaussians: kept Gaussians in the world frame, or None for RGB-D input.
        frames: RGB-D frames with world-frame poses and metric depth, or None.
        cameras: the camera path in the world frame, or None.
        input_to_world: (4, 4) float64 similarity (uniform scale s, rotation R,
            translation t) mapping input coordinates to world metres.
        scale: s, world metres per input unit.
        report: counts kept/removed per filter and the decisions taken
            (up axis, yaw rule, scale source), JSON-serialisable.
    """

    input_to_world: np.ndarray
    scale: float
    gaussians: GaussianCloud | None = None
    frames: RGBDFrames | None = None
    cameras: CameraPath | None = None
    report: AlignReport = field(default_factory=AlignReport)


@dataclass(eq=False)
class TriangleMesh:
    """A triangle mesh in the world frame.

    Attributes:
        vertices: (V, 3) float32 [m].
        faces: (F, 3) int32 vertex indices, counter-clockwise seen from the front.
        normals: (V, 3) float32 unit vertex normals, or None.
        colors: (V, 3) float32 linear RGB in [0, 1], or None.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray | None = None
    colors: np.ndarray | None = None

    @property
    def is_empty(self) -> bool:
        return self.faces.shape[0] == 0

    def sample_surface(self, count: int, *, seed: int = 0) -> np.ndarray:
        """(count, 3) float64 points uniform by area over the triangles [m] (seeded)."""
        rng = np.random.default_rng(seed)
        corners = self.vertices.astype(np.float64)[self.faces]
        edge_u, edge_v = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        area = 0.5 * np.linalg.norm(np.cross(edge_u, edge_v), axis=1)
        face = rng.choice(len(area), size=count, p=area / area.sum())
        a, b = rng.random(count), rng.random(count)
        outside = a + b > 1  # fold the unit square's far half back onto the triangle
        a[outside], b[outside] = 1 - a[outside], 1 - b[outside]
        return corners[face, 0] + a[:, None] * edge_u[face] + b[:, None] * edge_v[face]


@dataclass(eq=False)
class SurfaceResult:
    """Output of the surface stage.

    Attributes:
        mesh: the cleaned visual mesh.
        report: views used, voxel size, pieces/faces removed (:class:`~worldgen_sim.reports.SurfaceReport`).
    """

    mesh: TriangleMesh
    report: SurfaceReport = field(default_factory=SurfaceReport)


@dataclass(eq=False)
class PhysicsMaterial:
    """A physics material; friction coefficients are dimensionless.

    Attributes:
        name: material name, also its USD prim name.
        static_friction: >= 0.
        dynamic_friction: >= 0.
        restitution: in [0, 1].
        density: [kg/m^3], > 0.
    """

    name: str
    static_friction: float
    dynamic_friction: float
    restitution: float
    density: float


@dataclass(eq=False)
class ConvexHull:
    """One convex collider piece: (H, 3) float32 vertices [m], (T, 3) int32 faces."""

    vertices: np.ndarray
    faces: np.ndarray


@dataclass(eq=False)
class StaticPart:
    """A piece of the static structure (ground at any height, risers, walls, ceilings) collided as an
    exact triangle mesh.

    Attributes:
        name: USD-safe prim name.
        semantic_class: e.g. ``"floor"``, ``"wall"``, ``"ceiling"``.
        mesh: its triangles.
    """

    name: str
    semantic_class: str
    mesh: TriangleMesh


@dataclass(eq=False)
class CollisionObject:
    """A movable-looking object collided as convex hulls.

    Attributes:
        name: USD-safe prim name.
        semantic_class: e.g. ``"object"``, ``"furniture"``.
        mesh: the object's visual triangles.
        hulls: its convex pieces (each <= the configured vertex limit).
        volume: volume of the solidified object [m^3].
        hull_volume: summed hull volume [m^3].
        fallback: None when decomposed as planned, else why a voxel cover (or one hull) was used.
        seconds: decomposition time [s] (0 when served from the cache).
        kind: ``"standing"`` (on the ground; a rigid body with ``dynamic_objects``), ``"overhead"``
            (unsupported, kept at its height) or ``"clutter"`` (many small pieces grouped); the
            last two always stay static.
    """

    name: str
    semantic_class: str
    mesh: TriangleMesh
    hulls: list[ConvexHull]
    volume: float = 0.0
    hull_volume: float = 0.0
    fallback: str | None = None
    seconds: float = 0.0
    kind: str = "standing"


@dataclass(eq=False)
class CollisionWorld:
    """Output of the collision stage.

    Attributes:
        static_parts: exact triangle-mesh colliders of the static shell.
        objects: convex-decomposed objects.
        materials: physics materials by semantic class.
        dynamic_objects: objects become rigid bodies when True.
        report: counts, fallbacks, cache hits (:class:`~worldgen_sim.reports.CollisionReport`).
    """

    static_parts: list[StaticPart]
    objects: list[CollisionObject]
    materials: dict[str, PhysicsMaterial]
    dynamic_objects: bool = False
    report: CollisionReport = field(default_factory=CollisionReport)

    def collision_triangles(self) -> tuple[np.ndarray, np.ndarray]:
        """All collider triangles merged: (V, 3) float32 vertices [m], (F, 3) int32 faces."""
        pieces = [p.mesh for p in self.static_parts]
        pieces += [TriangleMesh(h.vertices, h.faces) for o in self.objects for h in o.hulls]
        if not pieces:
            return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
        offsets = np.cumsum([0] + [m.vertices.shape[0] for m in pieces[:-1]])
        vertices = np.concatenate([m.vertices for m in pieces]).astype(np.float32)
        faces = np.concatenate([m.faces + o for m, o in zip(pieces, offsets)]).astype(np.int32)
        return vertices, faces


@dataclass(eq=False)
class NavigationResult:
    """Output of the navigation stage.

    Attributes:
        agent: the agent parameters used (agent_radius, agent_height, max_climb,
            cell_size in m; max_slope in degrees).
        origin: (2,) float64 world x, y of cell (0, 0)'s corner [m].
        cell_size: heightfield cell edge [m].
        heights: (L, H, W) float32 height of each standable surface (headroom >= agent
            height, walkable slope) per level and cell [m], NaN where none; level k of a
            cell is its k-th such surface from below (floor, landing, platform top).
        walkable: (L, H, W) bool, walkable after erosion by the agent radius.
        regions: (L, H, W) int32 connected-region id per level and cell, -1 where not walkable.
        surface: the walkable surface as a mesh.
        include_bounds: (2, 3) float64 min/max corner of the NavMesh include volume [m].
        exclude_bounds: (E, 2, 3) float64 boxes that are not for walking [m].
        spawn_points: (S, 3) float32 walkable points with clearance [m].
        report: region areas, counts (:class:`~worldgen_sim.reports.NavigationReport`).
        links: (4, L, H, W) int8 level of each surface's neighbour at +x, +y, -x, -y
            (step <= max_climb, room for the agent), -1 where none; None: not computed.
    """

    agent: dict
    origin: np.ndarray
    cell_size: float
    heights: np.ndarray
    walkable: np.ndarray
    regions: np.ndarray
    surface: TriangleMesh
    include_bounds: np.ndarray
    exclude_bounds: np.ndarray
    spawn_points: np.ndarray
    report: NavigationReport = field(default_factory=NavigationReport)
    links: np.ndarray | None = None

"""Scores of a built world package against a scene's ground truth (used by tests and bench/).

Everything is judged in the scene's true world frame. A built world lives in
the frame the align stage estimated; ``to_truth`` (:func:`built_to_truth`)
maps it onto the truth using the estimate written in ``world.json`` and the
true input-to-world transform of the PLY, so an alignment error (scale, tilt,
floor height) shows up in every score instead of being hidden.

Metrics (definitions are the contract; see each function):

* walkable IoU over the cells whose walkability the input decides
  (:meth:`~worldgen_sim.scenes.truth.TruthGrid.judged`);
* phantom collision: the fraction of true free space inside the world's
  convex colliders, and the collider surface of triangle-mesh colliders lying
  in free space (a static triangle mesh bounds no volume in PhysX or Newton,
  so its wrongness is stray surface: area farther than a tolerance from every
  true surface);
* probe rest accuracy: probes dropped in Newton over truly walkable ground,
  their rest height against the true surface;
* surface F-score of a mesh against the true surface;
* crash fallbacks of the collision stage (``world.json``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from worldgen_sim.artifacts import TriangleMesh

__all__ = [
    "Colliders",
    "ProbeResult",
    "SurfaceScore",
    "built_to_truth",
    "crash_fallbacks",
    "drop_probes",
    "f_scores",
    "load_colliders",
    "navigation_for",
    "phantom_collision",
    "visual_mesh_score",
    "walkable_iou",
]

_CRASH = re.compile(r"crash|failed|timed out|signal", re.IGNORECASE)
"""Fallback reasons that mean a worker died or gave up, not that the geometry asked for one hull."""
_HULL_APPROXIMATIONS = {"convexHull", "convexDecomposition", "boundingCube", "boundingSphere"}
"""Mesh collision approximations that make a solid; the rest (``none``, ``meshSimplification``,
``sdf``) collide with the triangle surface (``sdf`` bounds volume only for dynamic bodies)."""


def built_to_truth(out_dir: str | Path, true_input_to_world: np.ndarray) -> np.ndarray:
    """(4, 4) similarity mapping the built world's frame onto the scene's true world frame.

    Args:
        out_dir: the world package (its ``world.json`` holds the estimated ``input_to_world``).
        true_input_to_world: (4, 4) what :meth:`Scene.write` returned for the PLY built.
    """
    summary = json.loads((Path(out_dir) / "world.json").read_text())
    estimated = np.asarray(summary["input_to_world"], np.float64)
    return np.asarray(true_input_to_world, np.float64) @ np.linalg.inv(estimated)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def _scale_of(matrix: np.ndarray) -> float:
    return float(np.cbrt(abs(np.linalg.det(matrix[:3, :3]))))


# --- walkable area --------------------------------------------------------------------------------


def walkable_iou(nav, truth, to_truth: np.ndarray, *, z_tolerance: float = 0.1) -> dict:
    """Walkable-area IoU of a navigation map against the truth, over the judged cells.

    A judged truth cell counts as predicted walkable when the map says its centre, on the
    true ground and mapped into the built frame, is walkable with a floor within
    ``z_tolerance`` [m] of it (the right level of a multi-level scene).

    Args:
        nav: :class:`~worldgen_sim.navigation.navmap.NavigationMap` of the built world.
        truth: :class:`~worldgen_sim.scenes.truth.TruthGrid` for the same agent.
        to_truth: built-to-truth similarity (:func:`built_to_truth`).

    Returns:
        ``iou``, ``judged`` cells, ``truth`` / ``predicted`` / ``both`` walkable cells among them,
        ``missed_m2`` (truly walkable, not predicted) and ``extra_m2`` (predicted, not walkable).
    """
    judged = truth.judged()
    xy = truth.centres()[judged]
    points = np.column_stack([xy, truth.heights[judged]])
    to_built = np.linalg.inv(to_truth)
    scale = _scale_of(to_built)
    predicted = nav.is_walkable(_apply(to_built, points), z_tolerance=z_tolerance * scale)
    actual = truth.walkable[judged]
    both, either = int((predicted & actual).sum()), int((predicted | actual).sum())
    area = truth.cell_size**2
    return {
        "iou": both / either if either else 1.0,
        "judged": int(judged.sum()),
        "truth": int(actual.sum()),
        "predicted": int(predicted.sum()),
        "both": both,
        "missed_m2": round(float((actual & ~predicted).sum() * area), 3),
        "extra_m2": round(float((predicted & ~actual).sum() * area), 3),
    }


# --- colliders and phantom collision ---------------------------------------------------------------


@dataclass(eq=False)
class Colliders:
    """The world's colliders in its own frame.

    Attributes:
        hulls: list of (V, 3) float64 vertex arrays of solid colliders [m] (convex hulls and
            bounding shapes; a cube or sphere prim becomes its corner or surface points).
        meshes: triangle-surface colliders (``approximation = none`` and the like).
        unsupported: paths of collider prims neither kind covers (reported, not scored).
    """

    hulls: list[np.ndarray] = field(default_factory=list)
    meshes: list[TriangleMesh] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def load_colliders(world_usd: str | Path) -> Colliders:
    """Every prim with ``UsdPhysics.CollisionAPI`` in the composed world, in world coordinates."""
    from pxr import Usd, UsdGeom, UsdPhysics

    stage = Usd.Stage.Open(str(world_usd))
    cache = UsdGeom.XformCache(Usd.TimeCode.Default())
    out = Colliders()
    for prim in stage.Traverse():
        if not prim.HasAPI(UsdPhysics.CollisionAPI):
            continue
        matrix = np.asarray(cache.GetLocalToWorldTransform(prim), np.float64).T  # USD is row-vector
        if prim.IsA(UsdGeom.Mesh):
            mesh = UsdGeom.Mesh(prim)
            points = _apply(matrix, np.asarray(mesh.GetPointsAttr().Get(), np.float64))
            approx = "none"
            if prim.HasAPI(UsdPhysics.MeshCollisionAPI):
                approx = str(UsdPhysics.MeshCollisionAPI(prim).GetApproximationAttr().Get() or "none")
            if approx in _HULL_APPROXIMATIONS:
                out.hulls.append(points)
            else:
                out.meshes.append(TriangleMesh(points.astype(np.float32), _triangulate(mesh)))
        elif prim.IsA(UsdGeom.Cube):
            half = 0.5 * float(UsdGeom.Cube(prim).GetSizeAttr().Get())
            corners = np.array(np.meshgrid(*[[-half, half]] * 3)).reshape(3, -1).T
            out.hulls.append(_apply(matrix, corners))
        elif prim.IsA(UsdGeom.Sphere):
            radius = float(UsdGeom.Sphere(prim).GetRadiusAttr().Get())
            u = np.random.default_rng(0).normal(size=(256, 3))
            out.hulls.append(_apply(matrix, radius * u / np.linalg.norm(u, axis=1, keepdims=True)))
        else:
            out.unsupported.append(str(prim.GetPath()))
    return out


def navigation_for(colliders: Colliders, *, preset: Literal["wheeled", "quadruped", "humanoid"]):
    """The navigation stage run on a built world's colliders for another agent preset.

    Navigation reads only collider triangles, so this equals a build with ``--agent preset``
    (same colliders) without rebuilding the surface and colliders.

    Returns:
        A :class:`~worldgen_sim.navigation.navmap.NavigationMap` in the built world's frame.
    """
    from scipy.spatial import ConvexHull as QHull

    from worldgen_sim.artifacts import CollisionObject, CollisionWorld, ConvexHull, StaticPart
    from worldgen_sim.navigation.navigation import build_navigation
    from worldgen_sim.navigation.navigation_cfg import NavigationCfg
    from worldgen_sim.navigation.navmap import NavigationMap

    static = [StaticPart(f"mesh_{i}", "floor", m) for i, m in enumerate(colliders.meshes)]
    objects = []
    for i, vertices in enumerate(colliders.hulls):
        try:
            faces = QHull(vertices).simplices.astype(np.int32)
        except Exception:
            continue
        hull = ConvexHull(vertices.astype(np.float32), faces)
        objects.append(CollisionObject(f"hull_{i}", "object", TriangleMesh(hull.vertices, faces), [hull]))
    world = CollisionWorld(static_parts=static, objects=objects, materials={})
    return NavigationMap.from_result(build_navigation(world, cfg=NavigationCfg(preset=preset)))


def _triangulate(mesh) -> np.ndarray:
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get(), np.int64)
    indices = np.asarray(mesh.GetFaceVertexIndicesAttr().Get(), np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    fan = []  # polygon m becomes triangles (0, k, k + 1) for k = 1 .. count - 2
    for k in range(1, int(counts.max(initial=0)) - 1):
        m = np.flatnonzero(counts > k + 1)
        fan.append(np.column_stack([indices[starts[m]], indices[starts[m] + k], indices[starts[m] + k + 1]]))
    return np.concatenate(fan).astype(np.int32) if fan else np.zeros((0, 3), np.int32)


def _inside_hulls(points: np.ndarray, hulls: list[np.ndarray], *, eps: float = 1e-9) -> np.ndarray:
    """(N,) bool: each point lies inside at least one convex hull (vectorised per hull)."""
    from scipy.spatial import ConvexHull, QhullError

    inside = np.zeros(len(points), bool)
    for vertices in hulls:
        lo, hi = vertices.min(axis=0), vertices.max(axis=0)
        rows = np.flatnonzero(~inside & np.all((points >= lo) & (points <= hi), axis=1))
        if rows.size == 0:
            continue
        try:
            equations = ConvexHull(vertices).equations
        except (QhullError, ValueError):  # flat or degenerate: bounds no volume
            continue
        inside[rows] = np.all(points[rows] @ equations[:, :3].T + equations[:, 3] <= eps, axis=1)
    return inside


def phantom_collision(colliders: Colliders, scene, free_points: np.ndarray, to_truth: np.ndarray, *,
                      stray_tolerance: float = 0.05, samples_per_m2: float = 2500.0, seed: int = 0) -> dict:
    """Colliders where the truth has free space.

    Args:
        colliders: :func:`load_colliders` of the built world.
        scene: the :class:`~worldgen_sim.scenes.scene.Scene`.
        free_points: (M, 3) true free-space points [m] (:func:`~worldgen_sim.scenes.truth.free_space_points`).
        to_truth: built-to-truth similarity.
        stray_tolerance: a triangle-mesh collider point farther than this from every true surface,
            outside every solid and inside the scene's bounds is stray [m].
        samples_per_m2: density of the points sampled on triangle-mesh colliders.

    Returns:
        ``fraction``: share of the free points inside a solid collider (the phantom volume share);
        ``stray_area_m2`` and
        ``stray_fraction``: triangle-mesh collider area lying in free space, and its share of all
        triangle-mesh collider area inside the bounds; counts of hulls, meshes, unsupported prims.
    """
    from scipy.spatial import cKDTree

    to_built = np.linalg.inv(to_truth)
    inside = _inside_hulls(_apply(to_built, free_points), colliders.hulls)
    lo, hi = scene.bounds
    result = {
        "fraction": float(inside.mean()) if len(free_points) else 0.0,
        "free_points": int(len(free_points)),
        "hulls": len(colliders.hulls),
        "meshes": len(colliders.meshes),
        "unsupported": len(colliders.unsupported),
        "stray_area_m2": 0.0,
        "stray_fraction": 0.0,
    }
    if colliders.meshes:
        mesh = _merge([TriangleMesh(_apply(to_truth, m.vertices).astype(np.float32), m.faces)
                       for m in colliders.meshes])
        area = _area(mesh)
        count = int(min(2_000_000, max(1000, area * samples_per_m2)))
        points = mesh.sample_surface(count, seed=seed)
        in_bounds = np.all((points >= lo) & (points <= hi), axis=1)
        surface = scene.surface_points(spacing=stray_tolerance / 3.0, seed=seed)
        distance, _ = cKDTree(surface, balanced_tree=False, compact_nodes=False).query(
            points, distance_upper_bound=stray_tolerance)
        stray = in_bounds & ~np.isfinite(distance) & ~scene.inside_solid(points)
        share = float(stray.sum() / max(1, in_bounds.sum()))
        result["stray_area_m2"] = round(float(area * stray.mean()), 4)
        result["stray_fraction"] = share
    return result


def _merge(meshes: list[TriangleMesh]) -> TriangleMesh:
    from worldgen_sim.scenes.geometry import merge_meshes

    return merge_meshes(meshes)


def _area(mesh: TriangleMesh) -> float:
    corners = mesh.vertices.astype(np.float64)[mesh.faces]
    return float(0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]),
                                      axis=1).sum())


# --- probes ------------------------------------------------------------------------------------------


@dataclass(eq=False)
class ProbeResult:
    """Probes dropped over truly walkable ground (all arrays in the true frame).

    Attributes:
        starts, ends: (N, 3) probe centres at release and after the simulation [m].
        errors: (N,) |distance from the end centre to the true surface - radius| [m]
            (inf for a probe that left the ground).
        speeds: (N,) end speeds [m/s].
        passed: (N,) bool, at rest within the tolerance.
        reasons: ``"ok"``, ``"fell through"``, ``"rests too high"``, ``"still moving"``, ``"left the ground"``.
        fraction: share of probes that passed.
    """

    starts: np.ndarray
    ends: np.ndarray
    errors: np.ndarray
    speeds: np.ndarray
    passed: np.ndarray
    reasons: list[str]
    fraction: float


def drop_probes(world_usd: str | Path, scene, truth, to_truth: np.ndarray, *, count: int = 40, seed: int = 0,
                tolerance: float = 0.03, cfg=None) -> ProbeResult:
    """Drop ``count`` probe spheres in Newton over truly walkable, observed ground; score against the truth.

    Probes start ``cfg.drop_height`` above the true ground at seeded walkable cells
    (:meth:`TruthGrid.judged` ones), are simulated by the drop test's Newton simulation
    (:mod:`worldgen_sim.verify.drop_test`) in the built world, and pass when they end at
    rest with the distance from their centre to the true surface within ``tolerance`` of
    their radius (the distance is (z - h) cos(slope), exact on a plane).
    """
    from worldgen_sim.progress import Progress
    from worldgen_sim.verify.drop_test import simulate_drops
    from worldgen_sim.verify.verify_cfg import VerifyCfg

    cfg = cfg or VerifyCfg()
    rng = np.random.default_rng(seed)
    cells = np.flatnonzero((truth.walkable & truth.judged()).ravel())
    chosen = np.sort(rng.choice(cells, size=min(count, cells.size), replace=False))
    xy = truth.centres().reshape(-1, 2)[chosen]
    to_built = np.linalg.inv(to_truth)
    radius = cfg.probe_radius / _scale_of(to_built)  # the probe's radius in true metres
    starts = np.column_stack([xy, scene.ground_height(xy) + radius + cfg.drop_height])
    simulated = simulate_drops(Path(world_usd), _apply(to_built, starts), cfg=cfg, progress=Progress(quiet=True))
    ends_built, speeds = simulated.ends, simulated.speeds
    ends = _apply(to_truth, ends_built)
    height = scene.ground_height(ends[:, :2])
    slope_cos = 1.0 / np.sqrt(1.0 + np.sum(scene.ground_gradient(ends[:, :2]) ** 2, axis=1))
    offset = (ends[:, 2] - height) * slope_cos - radius
    errors = np.where(np.isfinite(offset), np.abs(offset), np.inf)
    moving = ~(speeds <= cfg.rest_speed)
    passed = (errors <= tolerance) & ~moving
    reasons = np.select(
        [passed, ~np.isfinite(offset), offset < -tolerance, offset > tolerance],
        ["ok", "left the ground", "fell through", "rests too high"],
        default="still moving",
    ).tolist()
    return ProbeResult(starts, ends, errors, speeds, passed, reasons, float(passed.mean()) if len(passed) else 0.0)


# --- surface -------------------------------------------------------------------------------------------


@dataclass(eq=False)
class SurfaceScore:
    """Precision, recall and F-score of a surface at distance thresholds.

    Attributes:
        precision: {d: share of mesh points within d of the true surface}.
        recall: {d: share of (observed) true surface points within d of the mesh}.
        fscore: {d: harmonic mean of the two}.
        accuracy_p95: 95th percentile of mesh-point distance to the truth [m].
    """

    precision: dict
    recall: dict
    fscore: dict
    accuracy_p95: float


def f_scores(mesh_points: np.ndarray, truth_points: np.ndarray, *, recall_points: np.ndarray | None = None,
             thresholds=(0.02, 0.05)) -> SurfaceScore:
    """F-score of points sampled on a mesh against points sampled on the true surface.

    Args:
        mesh_points: (M, 3) points uniform by area on the mesh [m].
        truth_points: (T, 3) dense points on the whole true surface [m] (precision is
            judged against these).
        recall_points: (R, 3) the true points a reconstruction could recover (those the input
            saw); defaults to ``truth_points``.
        thresholds: distances d [m].
    """
    from scipy.spatial import cKDTree

    recall_points = truth_points if recall_points is None else recall_points
    to_truth, _ = cKDTree(truth_points).query(mesh_points)
    to_mesh, _ = cKDTree(mesh_points).query(recall_points)
    precision = {d: float(np.mean(to_truth < d)) for d in thresholds}
    recall = {d: float(np.mean(to_mesh < d)) for d in thresholds}
    fscore = {d: 2 * precision[d] * recall[d] / max(precision[d] + recall[d], 1e-12) for d in thresholds}
    return SurfaceScore(precision, recall, fscore, float(np.percentile(to_truth, 95)))


def visual_mesh_score(world_usd: str | Path, scene, to_truth: np.ndarray, *, samples: int = 200_000,
                      truth_spacing: float = 0.01, seed: int = 0) -> SurfaceScore:
    """F-score of the world's visual mesh against the scene's true surface, recall over what the cameras saw.

    Mesh points outside the scene's bounds (a kept sky shell, say) count against precision; with
    the scene's ``scored_xy`` set, only mesh points over that region are judged (the truth is sampled
    there alone: a capture's far ground and background are not scored).
    """
    from worldgen_sim.verify.surfaces import load_visual_triangles

    vertices, triangles, _ = load_visual_triangles(Path(world_usd))
    vertices = _apply(to_truth, vertices)
    triangles = np.asarray(triangles, np.int32)
    # Triangles with a corner over the scored region are sampled; points outside it are then dropped.
    triangles = triangles[scene.in_scored_xy(vertices)[triangles].any(axis=1)]
    mesh = TriangleMesh(vertices.astype(np.float32), triangles)
    truth = scene.surface_points(spacing=truth_spacing, seed=seed)
    observed = scene.surface_points(spacing=truth_spacing, seed=seed, observed=True)
    points = mesh.sample_surface(samples, seed=seed)
    return f_scores(points[scene.in_scored_xy(points)], truth, recall_points=observed)


# --- robustness ---------------------------------------------------------------------------------------


def crash_fallbacks(summary: dict) -> list[dict]:
    """The collision stage's fallbacks (``world.json``) caused by a crashed, failed or timed-out worker."""
    fallbacks = summary.get("stages", {}).get("collision", {}).get("fallbacks", [])
    return [f for f in fallbacks if _CRASH.search(str(f.get("reason", "")))]

"""The collision stage: static structure as exact triangle meshes, objects as convex hulls.

Decomposing a whole scene at once is the known trap (CoACD's default threshold is
relative to the bounding box, ~0.3 m on a room, leaving phantom collision in the
free space; terrain cut into hundreds of hulls leaves holes). So the surface is
first split (:mod:`.segment`) into static structure — ground at any height and of
any shape, stair risers, walls, ceilings — which becomes exact triangle-mesh
colliders (legal for static geometry; large ones tiled), and the objects standing
on it, each covered on its own (:mod:`.decompose`): a few boxes in the object's own
frame when they fit (most furniture, milliseconds), else closed into a solid and
decomposed by CoACD with a metric threshold, with retries and a voxel cover when
CoACD fails. Floaters are dropped and counted.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from worldgen_sim.artifacts import CollisionObject, CollisionWorld, ConvexHull, StaticPart, TriangleMesh
from worldgen_sim.cache import ArrayCache
from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.reports import CollisionReport

__all__ = ["build_collision"]

log = logging.getLogger(__name__)

_GROUND_MARGIN = 0.25
"""Ground triangles this far around an object's footprint go with it [m]: the floor seen under a table
counts only where it joins the floor around the table (:func:`~worldgen_sim.collision.solidify.observed_below`),
and a capture's floor is finely tessellated, so the triangles overlapping the footprint alone end at its edge."""


def build_collision(mesh: TriangleMesh, *, cfg: CollisionCfg, progress: Progress | None = None) -> CollisionWorld:
    """Segment a world-frame mesh and build its colliders and physics materials.

    Args:
        mesh: the visual surface, world frame (Z-up, metres).
        cfg: collision settings.
        progress: progress reporter (silent when None).

    Returns:
        The collision world; ``report`` holds the segmentation (with dropped floaters and
        why), per-object methods, hull counts, volumes, fallbacks counted by kind
        (``fallback_counts``), crash retries and cache lookups; no timings: each object's
        decomposition time goes to ``progress`` as ``collision: decompose <name>`` (``world.json``).

    Raises:
        WorldgenError: a bad option, a malformed mesh or a bad material library.
    """
    from worldgen_sim.collision.decompose import decompose_objects
    from worldgen_sim.collision.materials import load_material_library
    from worldgen_sim.collision.segment import with_ground_fill

    progress = progress if progress is not None else Progress(quiet=True)
    cfg.validate()
    materials = load_material_library(cfg.materials)  # fail on a bad library before any heavy work
    vertices, faces, bad_faces = _clean_input(mesh)
    seg_cache = ArrayCache(cfg.cache_dir, "segmentation")
    decompose_cache = ArrayCache(cfg.cache_dir, "decomposition")
    with progress.stage("collision: segmentation"):
        seg, seg_cached = _segment(vertices, faces, cfg, seg_cache)
    vertices, faces = with_ground_fill(seg, vertices, faces)  # the static regions index the patched mesh
    static_parts = _static_parts(seg, vertices, faces, cfg.static_tile_faces)
    names, tasks = _object_tasks(seg, vertices, faces)
    with progress.stage("collision: decomposition"):
        results = decompose_objects(tasks, cfg=cfg, cache=decompose_cache, progress=progress)
    objects, entries, skipped = _collision_objects(names, seg.object_classes, seg.object_kinds, tasks, results)
    for name, result in zip(names, results):
        if not result.cached:
            progress.record(f"collision: decompose {name}", result.seconds)
    used = {p.semantic_class for p in static_parts} | {o.semantic_class for o in objects}
    missing = sorted(used - set(materials))
    if missing:
        raise WorldgenError(f"{cfg.materials or 'material library'}: no material for class(es) {', '.join(missing)}")
    report = _report(mesh, bad_faces, seg, seg_cached, static_parts, objects, entries, skipped, results, cfg)
    report["caches"] = {"segmentation": seg_cache.record(), "decomposition": decompose_cache.record()}
    for fallback in report["fallbacks"]:
        log.warning("collision: %s: %s", fallback["name"], fallback["reason"])
    return CollisionWorld(static_parts, objects, {k: materials[k] for k in sorted(materials)},
                          dynamic_objects=cfg.dynamic_objects, report=report)


def _segment(vertices, faces, cfg: CollisionCfg, cache: ArrayCache):
    """The segmentation, from the cache when an identical mesh and settings were segmented before."""
    from worldgen_sim.collision.segment import (
        segment_surface,
        segmentation_from_arrays,
        segmentation_key,
        segmentation_to_arrays,
    )

    key = segmentation_key(vertices, faces, cfg) if cache.enabled else ""
    stored = cache.get(key) if cache.enabled else None
    seg = segmentation_from_arrays(stored) if stored is not None else None
    if seg is not None:
        return seg, True
    seg = segment_surface(vertices, faces, cfg=cfg)
    cache.put(key, segmentation_to_arrays(seg))  # nothing written when the cache is off
    return seg, False


def _static_parts(seg, vertices, faces, tile_faces: int) -> list[StaticPart]:
    """One exact triangle mesh per static region (tiled when large), named ``<class>_<n>``, its triangles
    facing the side the region faces (:func:`_facing_region`)."""
    parts: list[StaticPart] = []
    counters: dict[str, int] = {}
    centroids = vertices[faces].mean(axis=1)
    for region in seg.static:
        for tile in _tiles(region.faces, centroids, tile_faces):
            index = counters.get(region.semantic_class, 0)
            counters[region.semantic_class] = index + 1
            part_vertices, part_faces = _submesh(vertices, faces, tile)
            part_faces = _facing_region(region, part_vertices, part_faces)
            parts.append(StaticPart(f"{region.semantic_class}_{index}", region.semantic_class,
                                    TriangleMesh(part_vertices, part_faces)))
    return parts


def _facing_region(region, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) faces, those facing against their region turned over: ground up, walls and ceilings along
    their plane's normal (risers, facing several ways, as they are).

    A noisy capture's surface folds over itself here and there (1.2 cm surfel noise: 1.7 % of a
    room's floor triangles face down, 0.6 % of its ceiling's up). The geometry is the same
    either way, but a triangle's facing says which side is solid: navigation reads a floor's
    down-facing fold under a ceiling's up-facing one as the inside of a floor-to-ceiling solid
    (a pillar, eroded by the agent's radius all round), and a body resting on a fold is pushed
    along its normal.
    """
    if region.kind == "ground":
        facing = np.array([0.0, 0.0, 1.0])
    elif region.kind in ("wall", "ceiling"):
        facing = np.asarray(region.normal, np.float64)
    else:
        return faces
    tri = vertices[faces].astype(np.float64)
    against = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]) @ facing < 0
    if not against.any():
        return faces
    faces = faces.copy()
    faces[against] = faces[against][:, ::-1]
    return faces


def _tiles(face_index: np.ndarray, centroids: np.ndarray, max_faces: int) -> list[np.ndarray]:
    """Face indices split into square xy tiles of about ``max_faces`` faces each (one tile when small)."""
    if face_index.size <= max_faces:
        return [face_index]
    xy = centroids[face_index, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    edge = float(np.sqrt(np.prod(np.maximum(hi - lo, 1e-3)) * max_faces / face_index.size))
    cells = np.floor((xy - lo) / edge).astype(np.int64)
    key = cells[:, 0] * (int(cells[:, 1].max()) + 1) + cells[:, 1]
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(key[order])) + 1
    return [np.sort(t) for t in np.split(face_index[order], starts)]


def _object_tasks(seg, vertices, faces):
    """Names (``<class>_<nnn>``; ``overhead_<nnn>``, ``clutter_<nnn>``) and decomposition tasks of the objects."""
    from worldgen_sim.collision.decompose import DecomposeTask

    names: list[str] = []
    tasks: list[DecomposeTask] = []
    counters: dict[str, int] = {}
    from scipy.spatial import cKDTree

    ground_faces = np.concatenate([r.faces for r in seg.static if r.kind == "ground"] or [np.zeros(0, np.int64)])
    # Only ground the input observed: the ground-fill patches (appended last) close holes nobody saw into,
    # such as the floor under a rock; taken as seen, they would open the rock's footprint into a slab.
    ground_faces = ground_faces[ground_faces < len(faces) - len(seg.fill_faces)]
    ground_tri = vertices[faces[ground_faces]]
    ground_lo, ground_hi = ground_tri.min(axis=1), ground_tri.max(axis=1)
    # Ground triangles near each object, found by their centres (a per-object scan of the whole ground
    # cost seconds on vegetation); the radius covers the object's footprint and the largest triangle.
    centres = cKDTree(0.5 * (ground_lo[:, :2] + ground_hi[:, :2])) if ground_faces.size else None
    reach = float(np.linalg.norm(ground_hi[:, :2] - ground_lo[:, :2], axis=1).max()) if ground_faces.size else 0.0
    for group, cls, kind, ground in zip(seg.objects, seg.object_classes, seg.object_kinds, seg.object_ground):
        prefix = cls if kind == "standing" else kind
        index = counters.get(prefix, 0)
        counters[prefix] = index + 1
        names.append(f"{prefix}_{index:03d}")
        part_vertices, part_faces = _submesh(vertices, faces, group)
        under = np.zeros((0, 3, 3), np.float32)
        if kind != "overhead" and part_vertices.size and centres is not None:  # overhead: closed at its underside
            lo, hi = part_vertices.min(axis=0), part_vertices.max(axis=0)
            near = np.asarray(centres.query_ball_point(0.5 * (lo[:2] + hi[:2]),
                                                       0.5 * float(np.linalg.norm(hi[:2] - lo[:2])) + reach
                                                       + np.sqrt(2.0) * _GROUND_MARGIN), np.int64)
            near = np.sort(near)
            keep = np.all((ground_hi[near, :2] >= lo[:2] - _GROUND_MARGIN)
                          & (ground_lo[near, :2] <= hi[:2] + _GROUND_MARGIN), axis=1)
            keep &= ground_hi[near, 2] < hi[2]
            under = ground_tri[near[keep]].astype(np.float32)
        tasks.append(DecomposeTask(names[-1], part_vertices, part_faces, float(ground),
                                   "clutter" if kind == "clutter" else "object", under))
    return names, tasks


def _collision_objects(names, classes, kinds, tasks, results):
    """Collision objects, their report entries, and the skipped (hull-less) entries."""
    objects: list[CollisionObject] = []
    entries: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for name, cls, kind, task, result in zip(names, classes, kinds, tasks, results):
        entry: dict[str, Any] = {
            "name": name, "class": cls, "kind": kind, "method": result.method, "hulls": len(result.hulls),
            "max_hull_vertices": max((h[0].shape[0] for h in result.hulls), default=0),
            "volume": round(result.volume, 6), "hull_volume": round(result.hull_volume, 6),
            "volume_ratio": round(result.hull_volume / result.volume, 4) if result.volume > 0 else None,
            "fallback": result.fallback, "fallback_kind": result.fallback_kind, "retries": result.retries,
            "cached": result.cached,
        }
        if not result.hulls:
            skipped.append(entry)  # degenerate piece (flat, a line): reported, not collided
            continue
        ratio = entry["volume_ratio"]
        if result.method == "coacd" and ratio is not None and not 0.8 <= ratio <= 1.3:
            entry["warning"] = f"hull volume is {ratio:.2f}x the solid's"
        entries.append(entry)
        objects.append(CollisionObject(
            name=name, semantic_class=cls, mesh=TriangleMesh(task.vertices, task.faces),
            hulls=[ConvexHull(v, f) for v, f in result.hulls],
            volume=result.volume, hull_volume=result.hull_volume,
            fallback=result.fallback, seconds=result.seconds, kind=kind,
        ))
    return objects, entries, skipped


def _report(mesh, bad_faces, seg, seg_cached, static_parts, objects, entries, skipped, results, cfg) -> CollisionReport:
    """The stage report (JSON-serialisable, ``caches`` added by the caller); ``fallback_counts`` has every
    kind, zeros included."""
    from worldgen_sim.collision.decompose import DECOMPOSE_FIELDS, FALLBACK_KINDS

    fallbacks = [{"name": e["name"], "kind": e["fallback_kind"], "reason": e["fallback"]}
                 for e in entries + skipped if e["fallback"]]
    return {
        "segmentation": seg.report,
        "input_faces": int(mesh.faces.shape[0]),
        "invalid_faces_dropped": bad_faces,
        "static_parts": [{"name": p.name, "class": p.semantic_class, "faces": int(p.mesh.faces.shape[0])}
                         for p in static_parts],
        "objects": entries,
        "skipped_objects": skipped,
        "dropped": seg.report.get("dropped", {}).get("counts", {}),
        "fallbacks": fallbacks,
        "fallback_counts": {k: sum(1 for f in fallbacks if f["kind"] == k) for k in FALLBACK_KINDS},
        "crash_retries": int(sum(r.retries for r in results)),
        "hulls": int(sum(len(o.hulls) for o in objects)),
        "methods": {m: sum(1 for e in entries if e["method"] == m) for m in sorted({e["method"] for e in entries})},
        "decompositions": int(sum(1 for r in results if not r.cached)),
        "cache_hits": int(sum(1 for r in results if r.cached)),
        "segmentation_cached": seg_cached,
        "settings": {k: getattr(cfg, k) for k in ("object_timeout", "object_cpu_limit") + DECOMPOSE_FIELDS},
    }


def _clean_input(mesh: TriangleMesh) -> tuple[np.ndarray, np.ndarray, int]:
    """Vertices (float32), faces (int32) without non-finite vertices and the faces touching them."""
    vertices = np.asarray(mesh.vertices)
    faces = np.asarray(mesh.faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise WorldgenError(
            f"collision input mesh must have (V, 3) vertices and (F, 3) faces, got {vertices.shape} and {faces.shape}"
        )
    if faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[0]):
        raise WorldgenError(f"collision input mesh has face indices outside 0..{vertices.shape[0] - 1}")
    finite = np.isfinite(vertices).all(axis=1)
    keep = finite[faces].all(axis=1) if faces.size else np.zeros(0, bool)
    # Non-finite vertices go too (no face uses them now; they would poison every extent).
    faces = (np.cumsum(finite) - 1)[faces[keep]]
    return vertices[finite].astype(np.float32), faces.astype(np.int32), int((~keep).sum())


def _submesh(vertices: np.ndarray, faces: np.ndarray, face_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compacted (V', 3) float32 vertices and (F', 3) int32 faces of the selected faces."""
    sub = faces[face_index]
    used, inverse = np.unique(sub, return_inverse=True)
    return vertices[used].astype(np.float32), inverse.reshape(-1, 3).astype(np.int32)


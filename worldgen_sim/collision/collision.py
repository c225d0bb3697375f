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
import time
from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import CollisionObject, CollisionWorld, ConvexHull, StaticPart, TriangleMesh
from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress

__all__ = ["build_collision"]

log = logging.getLogger(__name__)


def build_collision(mesh: TriangleMesh, *, cfg: CollisionCfg, progress: Progress | None = None) -> CollisionWorld:
    """Segment a world-frame mesh and build its colliders and physics materials.

    Args:
        mesh: the visual surface, world frame (Z-up, metres).
        cfg: collision settings.
        progress: progress reporter (silent when None).

    Returns:
        The collision world; ``report`` holds the segmentation (with dropped floaters and
        why), per-object methods, hull counts, volumes, fallbacks counted by kind
        (``fallback_counts``), crash retries, cache hits and timings.

    Raises:
        WorldgenError: a bad option, a malformed mesh or a bad material library.
    """
    from worldgen_sim.collision.decompose import decompose_objects
    from worldgen_sim.collision.materials import load_material_library

    progress = progress if progress is not None else Progress(quiet=True)
    _check_cfg(cfg)
    materials = load_material_library(cfg.materials)  # fail on a bad library before any heavy work
    vertices, faces, bad_faces = _clean_input(mesh)
    cache = _cache_dir(cfg)
    timings: dict[str, float] = {}
    with progress.stage("collision: segmentation"):
        start = time.perf_counter()
        seg, seg_cached = _segment(vertices, faces, cfg, cache)
        timings["segmentation"] = time.perf_counter() - start
    static_parts = _static_parts(seg, vertices, faces, cfg.static_tile_faces)
    names, tasks = _object_tasks(seg, vertices, faces)
    with progress.stage("collision: decomposition"):
        start = time.perf_counter()
        results = decompose_objects(tasks, cfg=cfg, cache_dir=cache, progress=progress)
        timings["decomposition"] = time.perf_counter() - start
    objects, entries, skipped = _collision_objects(names, seg.object_classes, seg.object_kinds, tasks, results)
    used = {p.semantic_class for p in static_parts} | {o.semantic_class for o in objects}
    missing = sorted(used - set(materials))
    if missing:
        raise WorldgenError(f"{cfg.materials or 'material library'}: no material for class(es) {', '.join(missing)}")
    report = _report(mesh, bad_faces, seg, seg_cached, static_parts, objects, entries, skipped, results, cfg, timings)
    for fallback in report["fallbacks"]:
        log.warning("collision: %s: %s", fallback["name"], fallback["reason"])
    return CollisionWorld(static_parts, objects, {k: materials[k] for k in sorted(materials)},
                          dynamic_objects=cfg.dynamic_objects, report=report)


def _segment(vertices, faces, cfg: CollisionCfg, cache: Path | None):
    """The segmentation, from the cache when an identical mesh and settings were segmented before."""
    from worldgen_sim.collision.segment import (
        load_segmentation,
        save_segmentation,
        segment_surface,
        segmentation_cache_key,
    )

    path = None
    if cache is not None:
        path = cache / "segmentation" / f"{segmentation_cache_key(vertices, faces, cfg)}.npz"
        seg = load_segmentation(path)
        if seg is not None:
            return seg, True
    seg = segment_surface(vertices, faces, cfg=cfg)
    if path is not None:
        try:
            save_segmentation(path, seg)
        except OSError:
            pass  # a read-only cache only costs time on the next build
    return seg, False


def _static_parts(seg, vertices, faces, tile_faces: int) -> list[StaticPart]:
    """One exact triangle mesh per static region (tiled when large), named ``<class>_<n>``."""
    parts, counters = [], {}
    centroids = vertices[faces].mean(axis=1)
    for region in seg.static:
        for tile in _tiles(region.faces, centroids, tile_faces):
            index = counters.get(region.semantic_class, 0)
            counters[region.semantic_class] = index + 1
            part_vertices, part_faces = _submesh(vertices, faces, tile)
            parts.append(StaticPart(f"{region.semantic_class}_{index}", region.semantic_class,
                                    TriangleMesh(part_vertices, part_faces)))
    return parts


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

    names, tasks, counters = [], [], {}
    for group, cls, kind, ground in zip(seg.objects, seg.object_classes, seg.object_kinds, seg.object_ground):
        prefix = cls if kind == "standing" else kind
        index = counters.get(prefix, 0)
        counters[prefix] = index + 1
        names.append(f"{prefix}_{index:03d}")
        part_vertices, part_faces = _submesh(vertices, faces, group)
        tasks.append(DecomposeTask(names[-1], part_vertices, part_faces, float(ground),
                                   "clutter" if kind == "clutter" else "object"))
    return names, tasks


def _collision_objects(names, classes, kinds, tasks, results):
    """Collision objects, their report entries, and the skipped (hull-less) entries."""
    objects, entries, skipped = [], [], []
    for name, cls, kind, task, result in zip(names, classes, kinds, tasks, results):
        entry = {
            "name": name, "class": cls, "kind": kind, "method": result.method, "hulls": len(result.hulls),
            "max_hull_vertices": max((h[0].shape[0] for h in result.hulls), default=0),
            "volume": round(result.volume, 6), "hull_volume": round(result.hull_volume, 6),
            "volume_ratio": round(result.hull_volume / result.volume, 4) if result.volume > 0 else None,
            "fallback": result.fallback, "fallback_kind": result.fallback_kind, "retries": result.retries,
            "seconds": round(result.seconds, 3), "cached": result.cached,
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


def _report(mesh, bad_faces, seg, seg_cached, static_parts, objects, entries, skipped, results, cfg, timings):
    """The stage report (JSON-serialisable); ``fallback_counts`` has every kind, zeros included."""
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
        "settings": {k: getattr(cfg, k) for k in ("object_timeout",) + DECOMPOSE_FIELDS},
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }


def _check_cfg(cfg: CollisionCfg) -> None:
    checks = [
        ("plane_distance", cfg.plane_distance > 0, "> 0 [m]"),
        ("min_plane_area", cfg.min_plane_area > 0, "> 0 [m^2]"),
        ("min_object_size", cfg.min_object_size >= 0, ">= 0 [m]"),
        ("coacd_threshold", cfg.coacd_threshold > 0, "> 0 [m]"),
        ("max_hull_vertices", 4 <= cfg.max_hull_vertices <= 255, "in [4, 255] (PhysX GPU hulls: <= 64)"),
        ("object_timeout", cfg.object_timeout > 0, "> 0 [s]"),
        ("workers", cfg.workers >= 0, ">= 0 (0: one per core)"),
        ("normal_angle", 0 < cfg.normal_angle < 90, "in (0, 90) [deg]"),
        ("wall_height_fraction", 0 < cfg.wall_height_fraction <= 1, "in (0, 1]"),
        ("solid_cell", cfg.solid_cell > 0, "> 0 [m]"),
        ("convex_tolerance", cfg.convex_tolerance >= 0, ">= 0"),
        ("coacd_iterations", cfg.coacd_iterations >= 1, ">= 1"),
        ("box_height_tolerance", cfg.box_height_tolerance >= 0, ">= 0 [m]"),
        ("max_boxes", cfg.max_boxes >= 0, ">= 0 (0: no box fit)"),
        ("box_cover", 0 < cfg.box_cover <= 1, "in (0, 1]"),
        ("coacd_max_hulls", cfg.coacd_max_hulls >= 1, ">= 1"),
        ("coacd_cell", cfg.coacd_cell > 0, "> 0 [m]"),
        ("contact_offset", cfg.contact_offset >= 0, ">= 0 [m]"),
        ("rest_offset", cfg.rest_offset < cfg.contact_offset or cfg.contact_offset == 0, "< contact_offset [m]"),
        ("ground_cell", cfg.ground_cell > 0, "> 0 [m]"),
        ("ground_step", cfg.ground_step >= 0, ">= 0 [m]"),
        ("ground_slope", 0 < cfg.ground_slope < 90, "in (0, 90) [deg]"),
        ("min_ground_area", cfg.min_ground_area > 0, "> 0 [m^2]"),
        ("ground_clearance", cfg.ground_clearance >= 0, ">= 0 [m]"),
        ("support_gap", cfg.support_gap >= 0, ">= 0 [m]"),
        ("floater_size", cfg.floater_size >= 0, ">= 0 [m]"),
        ("floater_thickness", cfg.floater_thickness >= 0, ">= 0 [m]"),
        ("clutter_size", cfg.clutter_size >= 0, ">= 0 [m]"),
        ("clutter_count", cfg.clutter_count >= 0, ">= 0"),
        ("clutter_cell", cfg.clutter_cell > 0, "> 0 [m]"),
        ("clutter_fill", 0 <= cfg.clutter_fill <= 1, "in [0, 1]"),
        ("coacd_min_size", cfg.coacd_min_size >= 0, ">= 0 [m]"),
        ("max_cover_boxes", cfg.max_cover_boxes >= 1, ">= 1"),
        ("coacd_retries", cfg.coacd_retries >= 0, ">= 0"),
        ("static_tile_faces", cfg.static_tile_faces >= 1000, ">= 1000"),
    ]
    for key, ok, expected in checks:
        if not ok:
            raise WorldgenError(f"option 'collision.{key}' must be {expected}, got {getattr(cfg, key)!r}")


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


def _cache_dir(cfg: CollisionCfg) -> Path | None:
    if cfg.cache_dir is not None:
        return Path(cfg.cache_dir).expanduser()
    return Path.home() / ".cache" / "worldgen_sim" / "coacd"

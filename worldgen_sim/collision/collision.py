"""The collision stage: static shell as exact triangle meshes, objects as convex hulls.

Decomposing a whole room at once is the known trap (CoACD's default threshold is
relative to the bounding box, ~0.3 m on a room, leaving phantom collision in
the free space). So: the large planes first (floor, walls, ceiling; exact
triangle-mesh colliders, legal for static geometry), then each remaining
connected piece on its own (:mod:`.decompose`): a few boxes in the object's own
frame when they cover it (:mod:`.boxes`; most furniture, milliseconds), else
closed into a solid and decomposed by CoACD with a metric threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldgen_sim.artifacts import CollisionObject, CollisionWorld, ConvexHull, StaticPart, TriangleMesh
from worldgen_sim.cache import ArrayCache, cache_key
from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.reports import CollisionReport


def build_collision(mesh: TriangleMesh, *, cfg: CollisionCfg, progress: Progress | None = None) -> CollisionWorld:
    """Segment a world-frame mesh and build its colliders and physics materials.

    Args:
        mesh: the visual surface, world frame (Z-up, metres, floor at z = 0).
        cfg: collision settings.
        progress: progress reporter (silent when None).

    Returns:
        The collision world; ``report`` holds the segmentation, per-object hull counts,
        volumes, fallbacks and cache lookups (timings are the pipeline's, in ``world.json``).

    Raises:
        WorldgenError: a bad option, a malformed mesh or a bad material library.
    """
    from worldgen_sim.collision.decompose import DecomposeSettings, DecomposeTask, decompose_objects
    from worldgen_sim.collision.materials import load_material_library
    from worldgen_sim.collision.segment import (
        SEGMENTATION_CACHE_FORMAT,
        segment_surface,
        segmentation_from_arrays,
        segmentation_to_arrays,
    )

    progress = progress if progress is not None else Progress(quiet=True)
    cfg.validate()
    materials = load_material_library(cfg.materials)  # fail on a bad library before any heavy work
    vertices, faces, bad_faces = _clean_input(mesh)

    seg_cache = ArrayCache(cfg.cache_dir, "segmentation")
    decompose_cache = ArrayCache(cfg.cache_dir, "decomposition")
    with progress.stage("collision: segmentation"):
        options: dict[str, Any] = {
            "plane_distance": cfg.plane_distance,
            "min_plane_area": cfg.min_plane_area,
            "min_object_size": cfg.min_object_size,
            "normal_angle": cfg.normal_angle,
            "wall_height_fraction": cfg.wall_height_fraction,
            "seed": cfg.seed,
        }
        seg_key = cache_key("segmentation", arrays=(vertices, faces), settings=options,
                            entry_format=SEGMENTATION_CACHE_FORMAT, libraries=("scipy",))
        stored = seg_cache.get(seg_key)
        seg = segmentation_from_arrays(stored) if stored is not None else None
        segmentation_cached = seg is not None
        if seg is None:
            seg = segment_surface(vertices, faces, **options)
            seg_cache.put(seg_key, segmentation_to_arrays(seg))

    static_parts = []
    counters: dict[str, int] = {}
    for plane in seg.planes:
        index = counters.get(plane.semantic_class, 0)
        counters[plane.semantic_class] = index + 1
        part_vertices, part_faces = _submesh(vertices, faces, plane.faces)
        static_parts.append(StaticPart(f"{plane.semantic_class}_{index}", plane.semantic_class,
                                       TriangleMesh(part_vertices, part_faces)))

    names, tasks = [], []
    for group, cls in zip(seg.objects, seg.object_classes):
        index = counters.get(cls, 0)
        counters[cls] = index + 1
        names.append(f"{cls}_{index:03d}")
        part_vertices, part_faces = _submesh(vertices, faces, group)
        tasks.append(DecomposeTask(names[-1], part_vertices, part_faces, seg.ground_height))

    settings = DecomposeSettings(
        threshold=cfg.coacd_threshold,
        max_hull_vertices=cfg.max_hull_vertices,
        seed=cfg.seed,
        cell_size=cfg.solid_cell,
        convex_tolerance=cfg.convex_tolerance,
        mcts_iterations=cfg.coacd_iterations,
        timeout=cfg.object_timeout,
        box_tolerance=cfg.box_height_tolerance,
        max_boxes=cfg.max_boxes,
        box_cover=cfg.box_cover,
        coacd_max_hulls=cfg.coacd_max_hulls,
        coacd_cell_size=cfg.coacd_cell,
    )
    with progress.stage("collision: decomposition"):
        results = decompose_objects(tasks, settings=settings, workers=cfg.workers,
                                    cache=decompose_cache, progress=progress)

    objects, object_reports, skipped = [], [], []
    for name, cls, task, result in zip(names, seg.object_classes, tasks, results):
        entry: dict[str, Any] = {
            "name": name, "class": cls, "method": result.method, "hulls": len(result.hulls),
            "max_hull_vertices": max((h[0].shape[0] for h in result.hulls), default=0),
            "volume": round(result.volume, 6), "hull_volume": round(result.hull_volume, 6),
            "volume_ratio": round(result.hull_volume / result.volume, 4) if result.volume > 0 else None,
            "fallback": result.fallback, "seconds": round(result.seconds, 3), "cached": result.cached,
        }
        if not result.hulls:
            skipped.append(entry)  # degenerate piece (flat, a line): reported, not collided
            continue
        ratio = entry["volume_ratio"]
        if result.method == "coacd" and ratio is not None and not 0.8 <= ratio <= 1.3:
            entry["warning"] = f"hull volume is {ratio:.2f}x the solid's"
        object_reports.append(entry)
        objects.append(CollisionObject(
            name=name, semantic_class=cls, mesh=TriangleMesh(task.vertices, task.faces),
            hulls=[ConvexHull(v, f) for v, f in result.hulls],
            volume=result.volume, hull_volume=result.hull_volume,
            fallback=result.fallback, seconds=result.seconds,
        ))

    used = {p.semantic_class for p in static_parts} | {o.semantic_class for o in objects}
    missing = sorted(used - set(materials))
    if missing:
        raise WorldgenError(f"{cfg.materials or 'material library'}: no material for class(es) {', '.join(missing)}")
    report: CollisionReport = {
        "segmentation": seg.report,
        "input_faces": int(mesh.faces.shape[0]),
        "invalid_faces_dropped": bad_faces,
        "static_parts": [{"name": p.name, "class": p.semantic_class, "faces": int(p.mesh.faces.shape[0])}
                         for p in static_parts],
        "objects": object_reports,
        "skipped_objects": skipped,
        "fallbacks": [{"name": e["name"], "reason": e["fallback"]} for e in object_reports + skipped if e["fallback"]],
        "hulls": int(sum(len(o.hulls) for o in objects)),
        "methods": {m: sum(1 for e in object_reports if e["method"] == m) for m in
                    sorted({e["method"] for e in object_reports})},
        "decompositions": int(sum(1 for r in results if not r.cached)),
        "cache_hits": int(sum(1 for r in results if r.cached)),
        "segmentation_cached": segmentation_cached,
        "settings": {"coacd_threshold": cfg.coacd_threshold, "max_hull_vertices": cfg.max_hull_vertices,
                     "seed": cfg.seed, "object_timeout": cfg.object_timeout, "solid_cell": cfg.solid_cell,
                     "max_boxes": cfg.max_boxes, "box_height_tolerance": cfg.box_height_tolerance},
        "caches": {"segmentation": seg_cache.record(), "decomposition": decompose_cache.record()},
    }
    return CollisionWorld(static_parts, objects, {k: materials[k] for k in sorted(materials)},
                          dynamic_objects=cfg.dynamic_objects, report=report)


def _clean_input(mesh: TriangleMesh) -> tuple[np.ndarray, np.ndarray, int]:
    """Vertices (float32), faces (int32) without faces touching non-finite or out-of-range vertices."""
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
    return vertices.astype(np.float32), faces[keep].astype(np.int32), int((~keep).sum())


def _submesh(vertices: np.ndarray, faces: np.ndarray, face_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compacted (V', 3) float32 vertices and (F', 3) int32 faces of the selected faces."""
    sub = faces[face_index]
    used, inverse = np.unique(sub, return_inverse=True)
    return vertices[used].astype(np.float32), inverse.reshape(-1, 3).astype(np.int32)

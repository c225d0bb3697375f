"""Per-object convex decomposition: box fits, CoACD in a process pool with retries, voxel covers, a disk cache.

Each object is first fitted with a few boxes in its own frame (:mod:`.boxes`, in this
process: milliseconds; most furniture ends there). Clutter groups (vegetation) are
covered with boxes directly (:mod:`.cover`), as are objects whose voxel cover is a few
boxes or that are porous (foliage: CoACD's time on them is unbounded). The rest run in worker processes
(:mod:`.decompose_pool`: ``spawn`` context, one CoACD thread per worker): the open surface is closed into a
solid (:mod:`.solidify`) in the object's frame, simplified, coarsened until it has at
most ``coacd_max_faces`` faces, and either kept as one hull when it is convex within
tolerance or decomposed by CoACD with a metric threshold, a hull cap and decimated hulls.

The work, not the clock, decides: the face budget bounds CoACD's work, and a worker may
spend at most ``object_cpu_limit`` seconds of CPU time on an object (RLIMIT_CPU; SIGXCPU
past it). CPU time does not grow when the machine is loaded, so the same input gives the
same world on a busy machine. The wall-clock ``object_timeout`` only guards against a
worker that hangs.

CoACD can crash (SIGSEGV) on some solids. A worker that dies is replaced and the
object retried ``coacd_retries`` times with other settings (another seed, a looser
threshold and a solid half a cell coarser per retry). When every
attempt crashed, the object ran past its CPU budget or hung, raised, or has no closed solid, it
gets a voxel cover (boxes within about a cell of its surface) — never one hull over
the whole object. Every fallback and retry is counted by kind (:data:`FALLBACK_KINDS`;
``timeout``: CPU budget or hang).

Results are cached (:mod:`worldgen_sim.cache`, opt-in) under a key made of the
object's triangles, its closing height and kind, the decomposition settings
(:data:`DECOMPOSE_FIELDS`) and the library versions, so a rebuild with unchanged
input does no decomposition work. Time-dependent outcomes (timeouts, crashes) are
not cached.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from worldgen_sim.cache import ArrayCache, cache_key
from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.collision.hulls import box_hulls, convex_hull, mesh_area, mesh_volume

__all__ = [
    "CRASH_TEST_ENV",
    "DECOMPOSE_FIELDS",
    "FALLBACK_KINDS",
    "STALL_TEST_ENV",
    "DecomposeResult",
    "DecomposeTask",
    "cover_result",
    "decompose_objects",
    "decompose_one",
    "decomposition_key",
]

CACHE_FORMAT = 11  # 11: hull polygons counted as PhysX does (hull_polygons), not by rounded planes
"""Layout version of cached decompositions (:mod:`worldgen_sim.cache`)."""
DECOMPOSE_FIELDS = (
    "coacd_threshold", "max_hull_vertices", "seed", "solid_cell", "convex_tolerance", "coacd_iterations",
    "box_height_tolerance", "max_boxes", "box_cover", "coacd_max_hulls", "coacd_cell", "max_cover_boxes",
    "coacd_retries", "clutter_fill", "coacd_min_size", "underside_thickness", "enclosed_fill_area",
    "coacd_max_faces",
)
"""The :class:`CollisionCfg` fields a decomposition depends on (its cache key)."""
FALLBACK_KINDS = ("crash", "timeout", "error", "no_solid", "coacd_empty", "workers_failed")
"""Why an object got a voxel cover instead of its decomposition (report key ``fallback_counts``)."""
CRASH_TEST_ENV = "WORLDGEN_TEST_CRASH_ATTEMPTS"
"""Test hook: a worker given an attempt number below this variable's value kills itself with SIGSEGV
before running CoACD, as CoACD does on some solids."""
STALL_TEST_ENV = "WORLDGEN_TEST_STALL"
"""Test hook: a worker first sleeps this many seconds per object (a worker starved by a loaded machine:
wall-clock time passes, no CPU time), or with ``spin`` burns CPU without end (a runaway decomposition)."""
_UNCACHED_KINDS = {"crash", "timeout", "error", "workers_failed"}
_COARSENINGS = 4
"""Most times a solid's cell grows (by half) to bring it within ``coacd_max_faces``."""
_BOX_ERROR_KEPT = 0.1
"""A box fit whose error (the span volume outside its boxes plus their summed volume beyond what they hold,
as fractions of the span volume) is at most this is kept: a boxy object. Measured 2026-12-05: 0.9-5.7 % on
the reconstruction-like room's furniture, a crate and the terrain's blocks (16.2 % on a table of 7 boxes, whose
hull is excluded below); 44-45 % on a 0.36 m trunk, whose inscribed boxes miss its rim and overlap where their
sides move out to the circle."""
_HULL_PREFERENCE = 0.5
"""Past that, the one hull of the spans replaces the boxes when it adds at most this fraction of the boxes'
error over the span volume (the hull holds every span; its excess is all it gets wrong) ..."""
_HULL_MAX_EXCESS = 0.15
"""... and at most this fraction of the span volume: beyond it the object is not convex (a table on legs), its
hull would be phantom, and boxes follow it better. (The trunk's hull: 0.6-11.2 %; a table's: 1000-1100 %.)"""


@dataclass(frozen=True)
class DecomposeTask:
    """One object to decompose.

    Attributes:
        name: object name (reports).
        vertices: (V, 3) float32 surface vertices [m].
        faces: (F, 3) int32 triangles.
        ground_height: height where the solid's open columns are closed [m].
        kind: ``"object"`` (box fit, then CoACD) or ``"clutter"`` (voxel cover directly).
        ground_triangles: (G, 3, 3) float32 triangles of the ground the input observed under the
            object [m]: tops over it are slabs, not blocks down to the ground (a table).
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    ground_height: float
    kind: str = "object"
    ground_triangles: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3), np.float32))


@dataclass(eq=False)
class DecomposeResult:
    """Hulls of one object.

    Attributes:
        hulls: list of ((H, 3) float32 vertices [m], (T, 3) int32 outward faces).
        volume: solid volume [m^3] (the covered span volume for covers).
        hull_volume: summed hull volume [m^3].
        method: ``"boxes"`` (box fit), ``"coacd"``, ``"convex"`` (already convex), ``"cover"``
            (voxel cover), ``"fallback"`` (one hull: nothing else had volume) or ``"empty"``.
        fallback: why the object's decomposition was replaced, or None.
        fallback_kind: one of :data:`FALLBACK_KINDS`, or None.
        retries: CoACD attempts that crashed before this result.
        seconds: time spent [s] (0 from the cache).
        cached: served from the cache.
    """

    hulls: list[tuple[np.ndarray, np.ndarray]]
    volume: float
    hull_volume: float
    method: str
    fallback: str | None = None
    fallback_kind: str | None = None
    retries: int = 0
    seconds: float = 0.0
    cached: bool = False


def decomposition_key(task: DecomposeTask, cfg: CollisionCfg) -> str:
    """The cache key of one object: its triangles, closing height and kind, the
    :data:`DECOMPOSE_FIELDS` of ``cfg`` and the versions of the libraries whose output is stored."""
    settings = {k: getattr(cfg, k) for k in DECOMPOSE_FIELDS}
    return cache_key(
        "decomposition",
        arrays=(np.asarray(task.vertices, np.float32), np.asarray(task.faces, np.int32),
                np.asarray(task.ground_triangles, np.float32)),
        settings={"ground": round(float(task.ground_height), 6), "kind": task.kind, **settings},
        entry_format=CACHE_FORMAT,
        libraries=("coacd", "manifold3d", "scipy"),
    )


def decompose_objects(tasks: list[DecomposeTask], *, cfg: CollisionCfg, cache: ArrayCache | None = None,
                      progress=None) -> list[DecomposeResult]:
    """Decompose objects, one result per task in order: cache, fast paths here, CoACD in a pool.

    Args:
        tasks: the objects.
        cfg: collision settings (``workers``, ``object_timeout`` and the :data:`DECOMPOSE_FIELDS`).
        cache: where results are looked up and stored; None caches nothing.
        progress: optional :class:`worldgen_sim.progress.Progress`.
    """
    cache = cache if cache is not None else ArrayCache(None, "decomposition")
    keys = [decomposition_key(t, cfg) if cache.enabled else "" for t in tasks]  # hashing costs time
    results: list[DecomposeResult | None] = [_cached_result(cache, k) for k in keys]
    fresh = [i for i, r in enumerate(results) if r is None]
    for i in fresh:
        results[i] = _fast_path(tasks[i], cfg)
    pooled = [i for i in fresh if results[i] is None]
    if pooled:
        count = cfg.workers if cfg.workers > 0 else (os.cpu_count() or 1)
        from worldgen_sim.collision.decompose_pool import WorkerPool

        pool = WorkerPool([tasks[i] for i in pooled], cfg, min(count, len(pooled)), progress)
        for i, result in zip(pooled, pool.run()):
            results[i] = result
    for i in fresh:
        result = results[i]
        if result is not None and result.fallback_kind not in _UNCACHED_KINDS:
            cache.put(keys[i], _result_to_arrays(result))
    return results  # type: ignore[return-value]


def _fast_path(task: DecomposeTask, cfg: CollisionCfg) -> DecomposeResult | None:
    """What needs no worker, in this process: clutter's voxel cover; an object's box fit; else its voxel
    cover when that is a few boxes, the object is porous (foliage: CoACD would take minutes on it) or
    smaller than ``coacd_min_size`` (a cover within a cell is as good, and its cost is bounded).
    None: the object needs CoACD. ``max_boxes = 0`` sends every object to CoACD."""
    if task.kind == "clutter":
        return cover_result(task, cfg, reason=None, kind=None, seconds=0.0)
    if cfg.max_boxes <= 0:
        return None
    try:
        boxes = box_result(task.vertices, task.faces, ground_height=task.ground_height, cfg=cfg,
                           ground_triangles=task.ground_triangles)
        if boxes is not None:
            return boxes
        cover = cover_result(task, cfg, reason=None, kind=None, seconds=0.0)
    except Exception:  # the worker tries again and reports any failure
        return None
    extent = np.ptp(np.asarray(task.vertices, np.float64), axis=0)
    extent[2] = max(extent[2], float(np.max(task.vertices[:, 2])) - task.ground_height)
    porous = cover.volume < cfg.clutter_fill * float(np.prod(np.maximum(extent, 1e-3)))
    small = float(np.linalg.norm(extent)) < cfg.coacd_min_size
    if cover.method != "cover":  # no spans at all: nothing for a solid either (a sheet, a sliver)
        cover.fallback, cover.fallback_kind = f"no closed solid; {cover.fallback}", "no_solid"
        return cover
    return cover if len(cover.hulls) <= cfg.max_boxes or porous or small else None


# ----------------------------------------------------------------------------- one object


def decompose_one(vertices: np.ndarray, faces: np.ndarray, *, ground_height: float, cfg: CollisionCfg,
                  attempt: int = 0, ground_triangles: np.ndarray | None = None) -> DecomposeResult:
    """Close one object into a solid and cover it with convex hulls (runs inside a worker).

    In order: a few boxes in the object's own frame (:mod:`.boxes`), one hull when the
    solid is convex within tolerance, else CoACD on the solid simplified within one cell
    in the object's frame (axis-aligned sides have no staircase for CoACD to chase).
    ``attempt`` > 0 (a retry after a crash) changes CoACD's settings. ``ground_triangles``: the
    ground observed under the object (:class:`DecomposeTask`).
    """
    start = time.perf_counter()
    vertices = np.asarray(vertices, np.float64)
    if not np.isfinite(vertices).all():
        raise ValueError("object has non-finite vertex coordinates")
    ground_triangles = np.zeros((0, 3, 3)) if ground_triangles is None else np.asarray(ground_triangles)
    boxes = box_result(vertices, faces, ground_height=ground_height, cfg=cfg, ground_triangles=ground_triangles)
    if boxes is not None:
        return boxes
    task = DecomposeTask("", vertices, faces, ground_height, ground_triangles=ground_triangles)
    # A retry also coarsens the solid by half a cell per attempt: CoACD's crashes follow the solid, not
    # its settings (a rock of the terrain written Y-up crashed at every seed and threshold on the 2 and
    # 3 cm solids and decomposed in 14 s on the 4 cm one). Thin parts suffer, but less than in the
    # voxel cover that follows the last crash.
    cell = cfg.coacd_cell * (1.0 + 0.5 * attempt)
    solid = _budgeted_solid(vertices, faces, ground_height=ground_height, cell=cell, cfg=cfg,
                            ground_triangles=ground_triangles)
    if solid is None:
        return cover_result(task, cfg, reason="no closed solid (no up-facing surface)", kind="no_solid",
                            seconds=time.perf_counter() - start)
    yaw, solid_v, solid_f, volume = solid
    one = _convex_enough(solid_v, solid_f, yaw, volume, cfg)
    if one is not None:
        return DecomposeResult([one], volume, mesh_volume(*one), "convex", seconds=time.perf_counter() - start)
    hulls = _coacd_hulls(solid_v, solid_f, yaw, cfg, attempt)
    if not hulls:
        return cover_result(task, cfg, reason="CoACD returned no usable hull", kind="coacd_empty",
                            seconds=time.perf_counter() - start)
    hull_volume = float(sum(mesh_volume(*h) for h in hulls))
    return DecomposeResult(hulls, volume, hull_volume, "coacd", seconds=time.perf_counter() - start)


def _budgeted_solid(vertices, faces, *, ground_height, cell, cfg, ground_triangles):
    """The closed solid (:func:`_closed_solid`) with at most ``cfg.coacd_max_faces`` faces: the cell grows by
    half while it has more (at most :data:`_COARSENINGS` times), so CoACD's work (each cut clips and re-hulls
    the part; a reconstruction's staircase multiplies the cuts) is bounded by the input, not by a clock."""
    for _ in range(_COARSENINGS + 1):
        solid = _closed_solid(vertices, faces, ground_height=ground_height, cell=cell,
                              ground_triangles=ground_triangles, underside=cfg.underside_thickness,
                              max_interior=cfg.enclosed_fill_area)
        if solid is None or solid[2].shape[0] <= cfg.coacd_max_faces:
            return solid
        cell *= 1.5
    return solid


def _closed_solid(vertices, faces, *, ground_height, cell, ground_triangles=None, underside=0.05, max_interior=0.0):
    """The object closed into a solid in its own frame and simplified within one cell:
    (yaw, (S, 3) vertices, (T, 3) faces, volume [m^3]), or None when nothing closes."""
    import manifold3d

    from worldgen_sim.collision.boxes import footprint_yaw, local_triangles, rotate_z, side_yaw
    from worldgen_sim.collision.solidify import solidify

    yaw = side_yaw(vertices, faces)
    yaw = footprint_yaw(vertices[:, :2]) if yaw is None else yaw
    # "Last surface crossed" layering: a reconstruction doubles thin parts into nested layers.
    solid = solidify(rotate_z(vertices, -yaw), faces, ground_height=ground_height, cell_size=cell, seam=0.5 * cell,
                     ground_triangles=local_triangles(ground_triangles, yaw), underside=underside,
                     max_interior=max_interior)
    if solid.is_empty:
        return None
    # Simplify within one cell: removes the grid's staircase noise, which otherwise makes
    # CoACD cut many tiny hulls along every edge.
    union = manifold3d.Manifold(manifold3d.Mesh(solid.vertices.astype(np.float32), solid.faces.astype(np.uint32)))
    union = union.simplify(solid.cell_size)
    mesh = union.to_mesh()
    solid_v = np.asarray(mesh.vert_properties, np.float64)[:, :3]
    solid_f = np.asarray(mesh.tri_verts, np.int64).reshape(-1, 3)
    volume = float(union.volume())
    if solid_f.shape[0] == 0 or volume <= 0:
        solid_v, solid_f, volume = solid.vertices, solid.faces, solid.volume
    return yaw, solid_v, solid_f, volume


def _convex_enough(solid_v, solid_f, yaw, volume, cfg):
    """One hull of the solid when it adds less than ``convex_tolerance * coacd_threshold`` mean thickness."""
    from worldgen_sim.collision.boxes import rotate_z

    one = convex_hull(rotate_z(solid_v, yaw), max_vertices=cfg.max_hull_vertices)
    if one is None:
        return None
    gap = (mesh_volume(*one) - volume) / max(mesh_area(*one), 1e-12)
    return one if gap <= cfg.convex_tolerance * cfg.coacd_threshold else None


def _coacd_hulls(solid_v, solid_f, yaw, cfg, attempt):
    """CoACD's hulls in the world frame, re-hulled to PhysX's limits; a retry (``attempt`` > 0) uses
    another seed and a looser threshold (and its caller a coarser solid)."""
    import coacd

    from worldgen_sim.collision.boxes import rotate_z

    coacd.set_log_level("error")
    parts = coacd.run_coacd(
        coacd.Mesh(solid_v, solid_f),
        threshold=cfg.coacd_threshold * (1.0 + 0.5 * attempt),
        real_metric=True,
        max_convex_hull=cfg.coacd_max_hulls,
        decimate=True,
        max_ch_vertex=cfg.max_hull_vertices,
        preprocess_mode="off",  # the solid is already manifold
        mcts_iterations=cfg.coacd_iterations,
        mcts_max_depth=2,
        resolution=1000,
        seed=cfg.seed + attempt,
    )
    hulls = []
    for part_vertices, _ in parts:
        # Re-hull every piece: guarantees outward faces and the vertex limit whatever CoACD returns.
        hull = convex_hull(rotate_z(np.asarray(part_vertices, np.float64), yaw), max_vertices=cfg.max_hull_vertices)
        if hull is not None:
            hulls.append(hull)
    return hulls


def box_result(vertices: np.ndarray, faces: np.ndarray, *, ground_height: float,
               cfg: CollisionCfg, ground_triangles: np.ndarray | None = None) -> DecomposeResult | None:
    """The object as at most ``cfg.max_boxes`` boxes in its own frame, or None when they
    do not cover ``cfg.box_cover`` of its solid (or the box fit is off); ``ground_triangles`` as
    in :class:`DecomposeTask`."""
    from worldgen_sim.collision.boxes import fit_boxes

    if cfg.max_boxes <= 0:
        return None
    start = time.perf_counter()
    vertices = np.asarray(vertices, np.float64)
    if vertices.shape[0] == 0 or not np.isfinite(vertices).all():
        return None
    fit = fit_boxes(vertices, faces, ground_height=ground_height, cell=cfg.solid_cell,
                    height_tolerance=cfg.box_height_tolerance, max_boxes=cfg.max_boxes,
                    ground_triangles=ground_triangles, underside=cfg.underside_thickness,
                    max_interior=cfg.enclosed_fill_area)
    if fit is None or fit.covered < cfg.box_cover:
        return None
    one = _round_hull(fit, cfg)
    if one is not None:
        return DecomposeResult([one], fit.span_volume, mesh_volume(*one), "convex",
                               seconds=time.perf_counter() - start)
    hulls = box_hulls(fit.world_corners(), max_vertices=cfg.max_hull_vertices)
    if not hulls:
        return None
    hull_volume = float(sum(mesh_volume(*h) for h in hulls))
    return DecomposeResult(hulls, fit.span_volume, hull_volume, "boxes", seconds=time.perf_counter() - start)


def _round_hull(fit, cfg: CollisionCfg) -> tuple[np.ndarray, np.ndarray] | None:
    """The one hull of a fit's spans when it follows a round or otherwise non-boxy convex object better
    than the boxes do, else None (keep the boxes).

    Boxes inscribed in a round outline (a 0.36 m trunk) miss its rim all the way up, yet their cover check
    (:func:`worldgen_sim.collision.boxes.fit_boxes`) forgives a rim of ``rim_width``. The comparison here is
    geometric, without tolerance (:data:`_BOX_ERROR_KEPT`, :data:`_HULL_PREFERENCE`, :data:`_HULL_MAX_EXCESS`).
    """
    if fit.hull is None or fit.span_volume <= 0:
        return None
    box_error = (1.0 - fit.inside) + max(fit.box_volume - fit.inside * fit.span_volume, 0.0) / fit.span_volume
    hull_error = max(fit.hull_volume - fit.span_volume, 0.0) / fit.span_volume
    if box_error <= _BOX_ERROR_KEPT or hull_error > min(_HULL_PREFERENCE * box_error, _HULL_MAX_EXCESS):
        return None
    return convex_hull(fit.world_hull(), max_vertices=cfg.max_hull_vertices)


def cover_result(task: DecomposeTask, cfg: CollisionCfg, *, reason: str | None, kind: str | None,
                 seconds: float) -> DecomposeResult:
    """The object's voxel cover (:func:`worldgen_sim.collision.cover.voxel_cover`); one hull only when the
    cover is empty but the surface still encloses volume; ``"empty"`` when not even that."""
    from worldgen_sim.collision.cover import voxel_cover

    start = time.perf_counter()
    # Faces touching a non-finite vertex are left out (the worker may have failed on them).
    vertices = np.asarray(task.vertices, np.float64).reshape(-1, 3)
    faces = np.asarray(task.faces, np.int64).reshape(-1, 3)
    finite = np.asarray(np.isfinite(vertices).all(axis=1))
    faces = (np.cumsum(finite) - 1)[faces[finite[faces].all(axis=1)]]
    vertices = vertices[finite]
    corners, volume, _cell = voxel_cover(vertices, faces, ground_height=task.ground_height,
                                         cell=cfg.coacd_cell, max_boxes=cfg.max_cover_boxes,
                                         ground_triangles=task.ground_triangles, underside=cfg.underside_thickness,
                                         max_interior=cfg.enclosed_fill_area)
    hulls = box_hulls(corners, max_vertices=cfg.max_hull_vertices)
    seconds += time.perf_counter() - start
    if hulls:
        hull_volume = float(sum(mesh_volume(*h) for h in hulls))
        return DecomposeResult(hulls, volume, hull_volume, "cover", reason, kind, seconds=seconds)
    hull = convex_hull(vertices, max_vertices=cfg.max_hull_vertices)
    why = reason or "no solid spans"
    if hull is None:
        return DecomposeResult([], 0.0, 0.0, "empty", f"{why}; no hull (degenerate geometry)", kind, seconds=seconds)
    hull_volume = mesh_volume(*hull)
    return DecomposeResult([hull], hull_volume, hull_volume, "fallback", f"{why}; one hull of the surface", kind,
                           seconds=seconds)


# ----------------------------------------------------------------------------- cache


def _cached_result(cache: ArrayCache, key: str) -> DecomposeResult | None:
    """The result stored under ``key``, or None (no cache, no entry, or arrays that do not hold one)."""
    data = cache.get(key)
    if data is None:
        return None
    try:
        meta = json.loads(str(data["meta"]))
        vcount, fcount = data["vertex_counts"], data["face_counts"]
        vsplit, fsplit = np.cumsum(vcount)[:-1], np.cumsum(fcount)[:-1]
        hull_v = np.split(data["vertices"], vsplit) if vcount.size else []
        hull_f = np.split(data["faces"], fsplit) if fcount.size else []
        hulls = [(v.astype(np.float32), f.astype(np.int32)) for v, f in zip(hull_v, hull_f)]
        return DecomposeResult(hulls, meta["volume"], meta["hull_volume"], meta["method"], meta["fallback"],
                               meta.get("fallback_kind"), meta.get("retries", 0), 0.0, True)
    except (ValueError, KeyError, TypeError):
        return None  # not a decomposition entry: recomputed and overwritten


def _result_to_arrays(result: DecomposeResult) -> dict[str, np.ndarray]:
    """A result as named arrays (no timing: equal inputs store equal entries)."""
    meta = {"volume": result.volume, "hull_volume": result.hull_volume, "method": result.method,
            "fallback": result.fallback, "fallback_kind": result.fallback_kind, "retries": result.retries}
    hulls = result.hulls
    return {
        "meta": np.asarray(json.dumps(meta)),
        "vertex_counts": np.asarray([h[0].shape[0] for h in hulls], np.int64),
        "face_counts": np.asarray([h[1].shape[0] for h in hulls], np.int64),
        "vertices": np.concatenate([h[0] for h in hulls]) if hulls else np.zeros((0, 3), np.float32),
        "faces": np.concatenate([h[1] for h in hulls]) if hulls else np.zeros((0, 3), np.int32),
    }

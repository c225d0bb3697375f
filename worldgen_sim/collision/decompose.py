"""Per-object convex decomposition: solidify, CoACD in a process pool, fallbacks, disk cache.

Each object is first fitted with a few boxes in its own frame (:mod:`.boxes`, in
this process: milliseconds; most furniture ends there). The rest run in worker
processes (``spawn`` context, one CoACD thread per worker): the open surface is
closed into a solid (:mod:`.solidify`) in the object's frame on a coarser grid,
simplified, and either kept as one hull when it is convex within tolerance or
decomposed by CoACD with a metric threshold, a hull cap and decimated hulls. A
worker that exceeds the per-object time limit is terminated; one that crashes or
raises is replaced. Either way the object gets one convex hull of its surface
(extended down to the ground when it stands on it), and the reason is recorded.
Results are cached (:mod:`worldgen_sim.cache`, opt-in) under a key made of the
object's triangles, the ground height, every setting and the library versions,
so a rebuild with unchanged input does no decomposition work.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from worldgen_sim.cache import ArrayCache, cache_key

CACHE_FORMAT = 6
"""Layout version of cached decompositions (:mod:`worldgen_sim.cache`)."""


@dataclass(frozen=True)
class DecomposeSettings:
    """Everything that changes a decomposition's result (all part of the cache key).

    Attributes:
        threshold: CoACD concavity threshold in metres (``real_metric``) [m].
        max_hull_vertices: vertex limit per hull (PhysX GPU: 64).
        seed: CoACD seed.
        cell_size: box fit grid cell [m].
        convex_tolerance: a solid whose convex hull adds less than this fraction of
            ``threshold`` as mean thickness (extra volume / hull area) is kept as one hull.
        mcts_iterations: CoACD's search iterations (fewer: faster, more hulls).
        timeout: per-object time limit [s].
        box_tolerance: box fit: span tops and bottoms within this of a dominant height
            take it [m] (:func:`worldgen_sim.collision.boxes.fit_boxes`).
        max_boxes: box fit: most boxes per object; 0 turns the box fit off.
        box_cover: box fit: accepted when the boxes cover at least this fraction of the
            object's solid, else CoACD runs.
        coacd_max_hulls: CoACD's hull cap per object (merges beyond it).
        coacd_cell_size: solidification grid cell of the solid given to CoACD [m]; coarser
            than ``cell_size``, as CoACD's time grows with the solid's face count
            (a 1.5 m table: 37 s at 2 cm, over 60 s at 1 cm on one core).
    """

    threshold: float = 0.02
    max_hull_vertices: int = 64
    seed: int = 0
    cell_size: float = 0.01
    convex_tolerance: float = 0.25
    mcts_iterations: int = 60
    timeout: float = 60.0
    box_tolerance: float = 0.02
    max_boxes: int = 24
    box_cover: float = 0.9
    coacd_max_hulls: int = 32
    coacd_cell_size: float = 0.02


@dataclass(frozen=True)
class DecomposeTask:
    """One object to decompose.

    Attributes:
        name: object name (reports).
        vertices: (V, 3) float32 surface vertices [m].
        faces: (F, 3) int32 triangles.
        ground_height: floor height where the solid is closed [m].
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    ground_height: float


@dataclass(eq=False)
class DecomposeResult:
    """Hulls of one object.

    Attributes:
        hulls: list of ((H, 3) float32 vertices [m], (T, 3) int32 outward faces).
        volume: solid volume [m^3] (the fallback hull's volume when there is no solid).
        hull_volume: summed hull volume [m^3].
        method: ``"boxes"`` (box fit), ``"coacd"``, ``"convex"`` (already convex), ``"fallback"``
            or ``"empty"``.
        fallback: why one hull was used instead of CoACD's, or None.
        seconds: worker time [s] (0 from the cache).
        cached: served from the cache.
    """

    hulls: list[tuple[np.ndarray, np.ndarray]]
    volume: float
    hull_volume: float
    method: str
    fallback: str | None = None
    seconds: float = 0.0
    cached: bool = False


def decomposition_key(task: DecomposeTask, settings: DecomposeSettings) -> str:
    """The cache key of one object: its triangles, ground height, every setting and the library versions."""
    return cache_key(
        "decomposition",
        arrays=(np.asarray(task.vertices, np.float32), np.asarray(task.faces, np.int32)),
        settings={"ground": round(float(task.ground_height), 6), **asdict(settings)},
        entry_format=CACHE_FORMAT,
        libraries=("coacd", "manifold3d", "scipy"),
    )


def decompose_objects(
    tasks: list[DecomposeTask],
    *,
    settings: DecomposeSettings,
    workers: int = 0,
    cache: ArrayCache | None = None,
    progress=None,
) -> list[DecomposeResult]:
    """Decompose objects in parallel, one result per task in order.

    Args:
        tasks: the objects.
        settings: decomposition settings.
        workers: worker processes; 0 uses one per CPU core.
        cache: where results are looked up and stored; None caches nothing.
        progress: optional :class:`worldgen_sim.progress.Progress`.
    """
    results: list[DecomposeResult | None] = [None] * len(tasks)
    cache = cache if cache is not None else ArrayCache(None, "decomposition")
    keys = [decomposition_key(t, settings) for t in tasks]
    todo = []
    for i, key in enumerate(keys):
        stored = cache.get(key)
        cached = _result_from_arrays(stored) if stored is not None else None
        if cached is not None:
            results[i] = cached
        else:
            todo.append(i)
    # Box fits take milliseconds: try them here, and start CoACD workers only for what is left.
    pooled = []
    for i in todo:
        try:
            result = box_result(tasks[i].vertices, tasks[i].faces, ground_height=tasks[i].ground_height,
                                settings=settings)
        except Exception:
            result = None
        if result is None:
            pooled.append(i)
            continue
        results[i] = result
        cache.put(keys[i], _result_to_arrays(result))
    if pooled:
        count = workers if workers > 0 else (os.cpu_count() or 1)
        computed = _run_pool([tasks[i] for i in pooled], settings, min(count, len(pooled)), progress)
        for i, result in zip(pooled, computed):
            results[i] = result
            cache.put(keys[i], _result_to_arrays(result))
    return results  # type: ignore[return-value]


# ----------------------------------------------------------------------------- pool


def _run_pool(tasks, settings, workers, progress):
    """Run tasks on ``workers`` spawned processes with a per-task time limit."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    results: list[DecomposeResult | None] = [None] * len(tasks)
    pending = deque(range(len(tasks)))
    slots: list[dict | None] = [None] * workers
    done = 0
    failed_starts = 0

    def start_worker():
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "task": None, "sent": 0.0, "ready": False}

    def finish(slot_index, result):
        nonlocal done
        slot = slots[slot_index]
        results[slot["task"]] = result
        slot["task"] = None
        done += 1
        if progress is not None:
            progress.step(done, len(tasks), "decomposition")

    def retire(slot_index, reason):
        nonlocal failed_starts
        slot = slots[slot_index]
        if not slot["ready"]:
            failed_starts += 1
        if slot["proc"].is_alive():
            slot["proc"].terminate()
        slot["proc"].join(5)
        slot["conn"].close()
        if slot["task"] is not None:
            task = tasks[slot["task"]]
            seconds = time.perf_counter() - slot["sent"]
            finish(slot_index, fallback_result(task, settings, reason=reason, seconds=seconds))
        slots[slot_index] = None

    try:
        while done < len(tasks):
            if failed_starts >= 3 and not any(s is not None and s["task"] is not None for s in slots):
                # Workers die before they can take work (a broken install): fall back, don't spin.
                while pending:
                    index = pending.popleft()
                    results[index] = fallback_result(tasks[index], settings, reason="worker processes failed to start",
                                                     seconds=0.0)
                    done += 1
                break
            for s in range(workers):
                if slots[s] is None and pending:
                    slots[s] = start_worker()
                slot = slots[s]
                if slot is not None and slot["ready"] and slot["task"] is None and pending:
                    index = pending.popleft()
                    task = tasks[index]
                    slot["conn"].send((task.name, np.asarray(task.vertices, np.float32),
                                       np.asarray(task.faces, np.int32), float(task.ground_height), asdict(settings)))
                    slot["task"], slot["sent"] = index, time.perf_counter()
            live = [s for s in slots if s is not None]
            if not live:
                continue
            now = time.perf_counter()
            deadlines = [s["sent"] + settings.timeout - now for s in live if s["task"] is not None]
            ready = wait([s["conn"] for s in live], timeout=max(0.0, min(deadlines, default=1.0)) + 0.01)
            for s in range(workers):
                slot = slots[s]
                if slot is None:
                    continue
                if slot["conn"] in ready:
                    try:
                        message = slot["conn"].recv()
                    except (EOFError, OSError):
                        code = slot["proc"].exitcode
                        retire(s, f"worker crashed (exit code {code})")
                        continue
                    if message[0] == "ready":
                        slot["ready"] = True
                    elif message[0] == "ok":
                        finish(s, _result_from_message(message[1]))
                    else:
                        task = tasks[slot["task"]]
                        seconds = time.perf_counter() - slot["sent"]
                        finish(s, fallback_result(task, settings, reason=f"decomposition failed: {message[1]}",
                                                  seconds=seconds))
                elif slot["task"] is not None and time.perf_counter() - slot["sent"] > settings.timeout:
                    retire(s, f"timed out after {settings.timeout:g} s")
                elif not slot["proc"].is_alive():
                    retire(s, f"worker crashed (exit code {slot['proc'].exitcode})")
    finally:
        for s in range(workers):
            slot = slots[s]
            if slot is None:
                continue
            try:
                slot["conn"].send(None)
            except (OSError, BrokenPipeError):
                pass
            slot["proc"].join(2)
            if slot["proc"].is_alive():
                slot["proc"].terminate()
                slot["proc"].join(2)
            slot["conn"].close()
    return results


def _worker_main(conn) -> None:
    """Worker loop: import once, then decompose tasks until told to stop (None)."""
    # One OpenMP thread per worker: the pool is the parallelism; oversubscription only slows it.
    os.environ["OMP_NUM_THREADS"] = "1"
    import coacd  # noqa: F401  (import before signalling ready, so it is not timed)
    import manifold3d  # noqa: F401
    import scipy.spatial  # noqa: F401

    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        _name, vertices, faces, ground, settings = message
        try:
            result = decompose_one(vertices, faces, ground_height=ground, settings=DecomposeSettings(**settings))
            conn.send(("ok", _result_to_message(result)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _result_to_message(result: DecomposeResult) -> dict:
    return {k: getattr(result, k) for k in ("hulls", "volume", "hull_volume", "method", "fallback", "seconds")}


def _result_from_message(message: dict) -> DecomposeResult:
    return DecomposeResult(**message)


# ----------------------------------------------------------------------------- one object


def decompose_one(vertices: np.ndarray, faces: np.ndarray, *, ground_height: float,
                  settings: DecomposeSettings) -> DecomposeResult:
    """Close one object into a solid and cover it with convex hulls (runs inside a worker).

    In order: a few boxes in the object's own frame (:mod:`.boxes`; most furniture,
    milliseconds), one hull when the solid is convex within tolerance, else CoACD on
    the solid simplified within one cell and turned into the object's frame (axis-
    aligned sides have no staircase for CoACD to chase).
    """
    import coacd
    import manifold3d

    from worldgen_sim.collision.boxes import footprint_yaw, rotate_z, side_yaw
    from worldgen_sim.collision.solidify import solidify

    start = time.perf_counter()
    vertices = np.asarray(vertices, np.float64)
    if not np.isfinite(vertices).all():
        raise ValueError("object has non-finite vertex coordinates")
    boxes = box_result(vertices, faces, ground_height=ground_height, settings=settings)
    if boxes is not None:
        return boxes
    yaw = side_yaw(vertices, faces)
    yaw = footprint_yaw(vertices[:, :2]) if yaw is None else yaw
    local = rotate_z(vertices, -yaw)
    # "Last surface crossed" layering: a reconstruction doubles thin parts into nested layers.
    solid = solidify(local, faces, ground_height=ground_height, cell_size=settings.coacd_cell_size,
                     seam=0.5 * settings.coacd_cell_size)
    if solid.is_empty:
        result = fallback_result(DecomposeTask("", vertices, faces, ground_height), settings,
                                 reason="no closed solid (no up-facing surface)", seconds=0.0)
        result.seconds = time.perf_counter() - start
        return result
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

    one = convex_hull(rotate_z(solid_v, yaw), max_vertices=settings.max_hull_vertices)
    if one is not None:
        one_volume = mesh_volume(*one)
        gap = (one_volume - volume) / max(mesh_area(*one), 1e-12)
        if gap <= settings.convex_tolerance * settings.threshold:
            return DecomposeResult([one], volume, one_volume, "convex", None, time.perf_counter() - start)

    coacd.set_log_level("error")
    parts = coacd.run_coacd(
        coacd.Mesh(solid_v, solid_f),
        threshold=settings.threshold,
        real_metric=True,
        max_convex_hull=settings.coacd_max_hulls,
        decimate=True,
        max_ch_vertex=settings.max_hull_vertices,
        preprocess_mode="off",  # the solid is already manifold
        mcts_iterations=settings.mcts_iterations,
        mcts_max_depth=2,
        resolution=1000,
        seed=settings.seed,
    )
    hulls = []
    for part_vertices, _ in parts:
        # Re-hull every piece: guarantees outward faces and the vertex limit whatever CoACD returns.
        hull = convex_hull(rotate_z(np.asarray(part_vertices, np.float64), yaw),
                           max_vertices=settings.max_hull_vertices)
        if hull is not None:
            hulls.append(hull)
    if not hulls:
        result = fallback_result(DecomposeTask("", vertices, faces, ground_height), settings,
                                 reason="CoACD returned no usable hull", seconds=0.0)
        result.volume = volume
        result.seconds = time.perf_counter() - start
        return result
    hull_volume = float(sum(mesh_volume(*h) for h in hulls))
    return DecomposeResult(hulls, volume, hull_volume, "coacd", None, time.perf_counter() - start)


def box_result(vertices: np.ndarray, faces: np.ndarray, *, ground_height: float,
               settings: DecomposeSettings) -> DecomposeResult | None:
    """The object as at most ``settings.max_boxes`` boxes in its own frame, or None when they
    do not cover ``settings.box_cover`` of its solid (or the box fit is off)."""
    from worldgen_sim.collision.boxes import fit_boxes

    if settings.max_boxes <= 0:
        return None
    start = time.perf_counter()
    vertices = np.asarray(vertices, np.float64)
    if vertices.shape[0] == 0 or not np.isfinite(vertices).all():
        return None
    fit = fit_boxes(vertices, faces, ground_height=ground_height, cell=settings.cell_size,
                    height_tolerance=settings.box_tolerance, max_boxes=settings.max_boxes)
    if fit is None or fit.covered < settings.box_cover:
        return None
    hulls = [convex_hull(corners, max_vertices=settings.max_hull_vertices) for corners in fit.world_corners()]
    hulls = [h for h in hulls if h is not None]
    if not hulls:
        return None
    hull_volume = float(sum(mesh_volume(*h) for h in hulls))
    return DecomposeResult(hulls, fit.span_volume, hull_volume, "boxes", None, time.perf_counter() - start)


def fallback_result(task: DecomposeTask, settings: DecomposeSettings, *, reason: str, seconds: float,
                    standing_gap: float = 0.1) -> DecomposeResult:
    """One convex hull: of the object's surface and its shadow on the ground (conservative)
    when the object reaches within ``standing_gap`` [m] of the ground, else of the surface
    alone (a fragment under the ceiling must not become a pillar to the floor).
    """
    vertices = np.asarray(task.vertices, np.float64)
    vertices = vertices[np.isfinite(vertices).all(axis=1)]
    if vertices.shape[0] and vertices[:, 2].min() <= task.ground_height + standing_gap:
        shadow = vertices.copy()
        shadow[:, 2] = task.ground_height
        points = np.concatenate([vertices, shadow])
    else:
        points = vertices
    hull = convex_hull(points, max_vertices=settings.max_hull_vertices)
    if hull is None:
        return DecomposeResult([], 0.0, 0.0, "empty", f"{reason}; no hull (degenerate geometry)", seconds)
    volume = mesh_volume(*hull)
    return DecomposeResult([hull], volume, volume, "fallback", reason, seconds)


# ----------------------------------------------------------------------------- hull helpers


def convex_hull(points: np.ndarray, *, max_vertices: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Convex hull with at most ``max_vertices`` vertices and polygons, outward faces; None if degenerate.

    PhysX GPU hulls allow 64 vertices *and* 64 polygons (coplanar triangles count as one), so
    both are held to ``max_vertices``: while either is over, a farthest-point subset of the
    hull's vertices (shrinking by a fifth each round) is re-hulled.

    Args:
        points: (P, 3) float [m].
        max_vertices: vertex and polygon limit.

    Returns:
        (H, 3) float32 vertices and (T, 3) int32 triangle faces, or None (fewer than 4
        points, or all on a plane or line).
    """
    from scipy.spatial import ConvexHull, QhullError

    points = np.asarray(points, np.float64)
    points = points[np.isfinite(points).all(axis=1)]
    if points.shape[0] < 4:
        return None
    try:
        hull = ConvexHull(points)
        corners = points[hull.vertices]
        target = max_vertices
        for _ in range(12):
            if corners.shape[0] > target:
                corners = corners[_farthest_points(corners, target)]
            hull = ConvexHull(corners)
            polygons = np.unique(np.round(hull.equations, 6), axis=0).shape[0]
            if hull.vertices.size <= max_vertices and polygons <= max_vertices:
                break
            target = max(4, min(target, hull.vertices.size) * 4 // 5)
        corners = corners[hull.vertices]
        hull = ConvexHull(corners)
    except (QhullError, ValueError):
        return None
    if hull.volume <= 1e-12:
        return None
    vertices = corners
    faces = hull.simplices.copy()
    # Orient outward: qhull's facet equations give the outward normal of each simplex.
    tri = vertices[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    flip = np.einsum("ij,ij->i", normal, hull.equations[:, :3]) < 0
    faces[flip] = faces[flip][:, ::-1]
    return vertices.astype(np.float32), faces.astype(np.int32)


def hull_polygon_count(vertices: np.ndarray, faces: np.ndarray) -> int:
    """Number of distinct face planes of a convex hull (coplanar triangles count once)."""
    tri = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-20)
    planes = np.column_stack([normal, np.einsum("ij,ij->i", normal, tri[:, 0])])
    return int(np.unique(np.round(planes, 5), axis=0).shape[0])


def _farthest_points(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` points picked greedily farthest from those already picked."""
    centre = points.mean(axis=0)
    chosen = [int(np.argmax(np.linalg.norm(points - centre, axis=1)))]
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    for _ in range(count - 1):
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(points - points[nxt], axis=1))
    return np.asarray(chosen)


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume of a closed, outward-oriented triangle mesh [m^3]."""
    tri = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def mesh_area(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Surface area [m^2]."""
    tri = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
    return float(0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())


# ----------------------------------------------------------------------------- cache


def _result_from_arrays(data: dict[str, np.ndarray]) -> DecomposeResult | None:
    try:
        meta = json.loads(str(data["meta"]))
        vcount, fcount = data["vertex_counts"], data["face_counts"]
        vsplit, fsplit = np.cumsum(vcount)[:-1], np.cumsum(fcount)[:-1]
        hull_v = np.split(data["vertices"], vsplit) if vcount.size else []
        hull_f = np.split(data["faces"], fsplit) if fcount.size else []
        hulls = [(v.astype(np.float32), f.astype(np.int32)) for v, f in zip(hull_v, hull_f)]
        return DecomposeResult(hulls, meta["volume"], meta["hull_volume"], meta["method"], meta["fallback"], 0.0, True)
    except (ValueError, KeyError, TypeError):
        return None  # not a decomposition entry: recomputed and overwritten


def _result_to_arrays(result: DecomposeResult) -> dict[str, np.ndarray]:
    meta = {"volume": result.volume, "hull_volume": result.hull_volume, "method": result.method,
            "fallback": result.fallback}
    hulls = result.hulls
    return {
        "meta": np.asarray(json.dumps(meta)),
        "vertex_counts": np.asarray([h[0].shape[0] for h in hulls], np.int64),
        "face_counts": np.asarray([h[1].shape[0] for h in hulls], np.int64),
        "vertices": np.concatenate([h[0] for h in hulls]) if hulls else np.zeros((0, 3), np.float32),
        "faces": np.concatenate([h[1] for h in hulls]) if hulls else np.zeros((0, 3), np.int32),
    }

"""Split a world-frame surface into static structure and the objects standing on it.

Structure is everything that carries weight and stays put, found without assuming a
floor plane or a box room:

1. the ground (:mod:`.ground`): up-facing surface chained through small height
   changes: floors at any height, rolling terrain, stair treads, ramps, platform tops;
   every face within ``plane_distance`` of it (noise, the foot of a wall) joins it;
2. risers: faces standing between two ground levels (stair risers, a platform's
   front, a ramp's sides);
3. walls and ceilings (:mod:`.planes`): large vertical planes spanning most of the
   height, and down-facing planes at the top.

What is left is split into connected pieces on a voxel grid. Each piece is judged
against the ground under it: standing on it it is an object; held off the ground by
a wall or ceiling it is an overhead object at its own height (never a column down to
the floor); hanging unsupported in mid-air and small or thin it is a floater and
dropped (counted, with the reason); unsupported and large it stays as an overhead
obstacle at its true height. When a scene has many small pieces (vegetation), they
are grouped per ``clutter_cell`` into clutter objects, covered with boxes later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.collision.mesh_ops import connected_pieces, face_geometry, sample_triangles, voxel_keys

__all__ = [
    "SEGMENT_FIELDS",
    "Segmentation",
    "StaticRegion",
    "segment_surface",
    "segmentation_from_arrays",
    "segmentation_key",
    "segmentation_to_arrays",
    "with_ground_fill",
]

SEGMENT_FIELDS = (
    "plane_distance", "min_plane_area", "min_object_size", "normal_angle", "wall_height_fraction", "seed",
    "ground_cell", "ground_step", "ground_slope", "min_ground_area", "ground_clearance", "ground_fill_area",
    "support_gap",
    "floater_size",
    "floater_thickness", "clutter_size", "clutter_count", "clutter_cell",
)
"""The :class:`CollisionCfg` fields a segmentation depends on (its cache key)."""

_CONNECT_DISTANCE = 0.02
"""Pieces closer than about this are one object [m]."""
_FURNITURE_SIZE = 0.5
"""Supported objects with a larger bounding-box diagonal are ``"furniture"`` [m]."""


@dataclass(eq=False)
class StaticRegion:
    """One part of the static structure.

    Attributes:
        kind: ``"ground"``, ``"riser"``, ``"wall"`` or ``"ceiling"``.
        semantic_class: material class: ``"floor"`` (ground), ``"wall"`` (risers, walls) or ``"ceiling"``.
        faces: (K,) int64 sorted indices of its faces in the input mesh.
        area: summed face area [m^2].
        normal: (3,) float64 unit normal of its best-fit plane.
        offset: d in ``normal . x = d`` of that plane [m].
        flatness: RMS distance of its face centroids to that plane [m] (0 for a plane; terrain more).
    """

    kind: str
    semantic_class: str
    faces: np.ndarray
    area: float
    normal: np.ndarray
    offset: float
    flatness: float


@dataclass(eq=False)
class Segmentation:
    """Result of :func:`segment_surface`.

    Attributes:
        static: the static structure.
        objects: (K_i,) int64 face-index arrays, one per object, largest first.
        object_classes: material class per object: ``"furniture"`` (standing, larger than 0.5 m) or ``"object"``.
        object_kinds: ``"standing"``, ``"overhead"`` (unsupported, kept at its height) or ``"clutter"``
            (a group of small pieces) per object.
        object_ground: height where each object's open columns are closed [m] (the ground
            under a standing object, an overhead object's own underside).
        dropped_faces: faces of dropped pieces (too small, floaters).
        ground_height: median ground height [m] (0 when no ground was found).
        report: counts and decisions, JSON-serialisable.
        fill_vertices: (P, 3) float64 vertices of the patch closing holes in the ground [m].
        fill_faces: (Q, 3) int64 patch triangles, indexing ``fill_vertices``; a static region's
            face index ``F + q`` (F: the input mesh's faces) is patch triangle ``q``
            (:func:`with_ground_fill` builds that mesh).
    """

    static: list[StaticRegion]
    objects: list[np.ndarray]
    object_classes: list[str]
    object_kinds: list[str]
    object_ground: list[float]
    dropped_faces: np.ndarray
    ground_height: float = 0.0
    report: dict = field(default_factory=dict)
    fill_vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    fill_faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))


def with_ground_fill(seg: Segmentation, vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The segmented mesh with the ground-fill patch appended (the mesh ``seg.static`` indexes), same dtypes."""
    if seg.fill_faces.size == 0:
        return vertices, faces
    return (np.concatenate([vertices, seg.fill_vertices.astype(vertices.dtype)]),
            np.concatenate([faces, (seg.fill_faces + len(vertices)).astype(faces.dtype)]))


@dataclass(eq=False)
class _Pieces:
    """Connected pieces of the faces left after the structure (internal)."""

    faces: list[np.ndarray]
    lo: np.ndarray  # (K, 3)
    hi: np.ndarray  # (K, 3)
    gap: np.ndarray  # (K,) lowest point above the ground under it [m], NaN: no ground near
    ground: np.ndarray  # (K,) ground height under the lowest point [m], NaN: none


def segment_surface(vertices: np.ndarray, faces: np.ndarray, *, cfg: CollisionCfg) -> Segmentation:
    """Segment a mesh into static structure and objects.

    Args:
        vertices: (V, 3) float world-frame positions [m] (Z-up).
        faces: (F, 3) int triangles.
        cfg: collision settings (the :data:`SEGMENT_FIELDS`).
    """
    from worldgen_sim.collision.ground import fill_ground_holes, find_ground

    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    normals, areas, centroids = face_geometry(vertices, faces)
    valid = areas > 1e-12
    tri = vertices[faces]
    ground = find_ground(vertices, faces, normals, areas, cell=cfg.ground_cell, max_step=cfg.ground_step,
                         max_slope=cfg.ground_slope, min_area=cfg.min_ground_area, layer_gap=cfg.plane_distance,
                         clearance=cfg.ground_clearance)
    on_ground = _ground_faces(ground, vertices, faces, centroids, valid, cfg.plane_distance)
    risers = _riser_faces(ground, vertices, faces, valid & ~on_ground, cfg.plane_distance)
    ground_level = float(np.nanmedian(ground.heights)) if ground.found else 0.0
    static = [_region(kind, cls, idx, tri, normals, areas)
              for kind, cls, idx in (("ground", "floor", np.flatnonzero(on_ground)),
                                     ("riser", "wall", np.flatnonzero(risers))) if idx.size]
    fill_vertices, fill_faces, fill_report = fill_ground_holes(ground, tri[valid], on_ground=on_ground[valid],
                                                               max_area=cfg.ground_fill_area)
    if fill_faces.size:
        fill_tri = fill_vertices[fill_faces]
        fill_normals, fill_areas, _ = face_geometry(fill_vertices, fill_faces)
        fill_region = _region("ground", "floor", np.arange(len(fill_faces)), fill_tri, fill_normals, fill_areas)
        fill_region.faces = fill_region.faces + len(faces)
        static.append(fill_region)
    shell, rest, non_shell = _walls_and_ceilings(vertices, faces, normals, areas, centroids,
                                                 valid & ~on_ground & ~risers, ground_level, cfg)
    static += [_region(p.semantic_class, p.semantic_class, p.faces, tri, normals, areas) for p in shell]
    structure = np.concatenate([r.faces for r in static if r.kind != "ground"] or [np.zeros(0, np.int64)])
    pieces = _pieces(vertices, faces, rest, ground, cfg)
    objects, kinds, object_ground, dropped, drop_report = _classify(pieces, vertices, faces, structure, cfg)
    objects, kinds, object_ground, clutter = _group_clutter(objects, kinds, object_ground, vertices, faces, cfg)
    classes = [_material_class(vertices, faces, o, k) for o, k in zip(objects, kinds)]
    order = np.argsort([float(areas[o].sum()) for o in objects], kind="stable")[::-1]  # largest first
    report = {
        "ground": ground.report | {"faces": int(on_ground.sum()), "area": round(ground.area, 3)} | fill_report,
        "risers": int(risers.sum()),
        "static": [{"kind": r.kind, "class": r.semantic_class, "faces": int(r.faces.size), "area": round(r.area, 3),
                    "normal": [round(float(c), 4) for c in r.normal], "offset": round(r.offset, 4),
                    "flatness": round(r.flatness, 4)} for r in static],
        "non_shell_planes": non_shell,
        "objects": len(objects),
        "clutter_groups": clutter,
        "dropped": drop_report,
        "dropped_faces": int(sum(d.size for d in dropped) + (~valid).sum()),
        "ground_height": round(ground_level, 4),
    }
    return Segmentation(static, [objects[i] for i in order], [classes[i] for i in order], [kinds[i] for i in order],
                        [object_ground[i] for i in order],
                        np.concatenate(dropped + [np.flatnonzero(~valid)]), ground_level, report,
                        fill_vertices, fill_faces)


def _ground_faces(ground, vertices, faces, centroids, valid, tolerance):
    """(F,) bool: faces whose corners and centroid all lie within ``tolerance`` of the ground."""
    if not ground.found:
        return np.zeros(faces.shape[0], bool)
    vertex_near = ground.nearest_offset(vertices) <= tolerance
    near = vertex_near[faces].all(axis=1)
    candidates = np.flatnonzero(near & valid)
    near[:] = False
    near[candidates] = ground.nearest_offset(centroids[candidates]) <= tolerance
    return near


def _riser_faces(ground, vertices, faces, free, tolerance):
    """(F,) bool: ``free`` faces standing between two ground levels of their neighbourhood (stair risers)."""
    if not ground.found or not free.any():
        return np.zeros(faces.shape[0], bool)
    lo, hi = ground.range_near(vertices)
    z = vertices[:, 2]
    between = (z >= lo - tolerance) & (z <= hi + tolerance) & (hi - lo > 2 * tolerance)
    return free & between[faces].all(axis=1)


def _walls_and_ceilings(vertices, faces, normals, areas, centroids, free, ground_level, cfg):
    """Wall and ceiling planes among ``free`` faces, the faces left over, and the count of non-shell planes."""
    from worldgen_sim.collision.planes import join_near_planes, shell_planes

    planes, non_shell = shell_planes(vertices, faces, normals, areas, centroids, free,
                                     distance=cfg.plane_distance, min_area=cfg.min_plane_area,
                                     normal_angle=cfg.normal_angle, wall_height_fraction=cfg.wall_height_fraction,
                                     ground_level=ground_level, seed=cfg.seed)
    taken = np.zeros(faces.shape[0], bool)
    for plane in planes:
        taken[plane.faces] = True
    rest = join_near_planes(planes, vertices[faces], areas, np.flatnonzero(free & ~taken), cfg.plane_distance)
    return planes, rest, non_shell


def _region(kind, cls, index, tri, normals, areas) -> StaticRegion:
    """A static region with its best-fit plane (facing the way its faces face, for the report) and flatness."""
    from worldgen_sim.collision.planes import fit_plane

    index = np.sort(np.asarray(index, np.int64))
    weights = areas[index]
    facing = (normals[index] * weights[:, None]).sum(axis=0)
    if index.size <= 10_000:  # corners: exact for a few large triangles
        normal, offset = fit_plane(tri[index].reshape(-1, 3), np.repeat(weights, 3), facing)
    else:
        normal, offset = fit_plane(tri[index].mean(axis=1), weights, facing)
    residual = tri[index].mean(axis=1) @ normal - offset
    flatness = float(np.sqrt(np.average(residual ** 2, weights=weights + 1e-12)))
    return StaticRegion(kind, cls, index, float(weights.sum()), normal, float(offset), flatness)


def _pieces(vertices, faces, rest, ground, cfg) -> _Pieces:
    """Connected pieces of the ``rest`` faces, with their extent and how far they float above the ground."""
    tri = vertices[faces[rest]]
    labels = connected_pieces(tri, _CONNECT_DISTANCE)
    if rest.size == 0:
        empty = np.zeros((0, 3))
        return _Pieces([], empty, empty, np.zeros(0), np.zeros(0))
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.flatnonzero(np.diff(labels[order])) + 1])
    corners = tri[order].reshape(-1, 3)  # 3 corners per face, grouped by piece
    corner_starts = 3 * starts
    lo = np.minimum.reduceat(corners, corner_starts, axis=0)
    hi = np.maximum.reduceat(corners, corner_starts, axis=0)
    if ground.found:
        below = ground.ground_below(corners, cfg.plane_distance)
        gap = np.fmin.reduceat(corners[:, 2] - below, corner_starts)
        # The ground under each piece's lowest corner.
        lowest = _argmin_per_group(corners[:, 2], corner_starts)
        under = below[lowest]
    else:
        gap = np.full(starts.size, np.nan)
        under = np.full(starts.size, np.nan)
    return _Pieces([np.sort(g) for g in np.split(rest[order], starts[1:])], lo, hi, gap, under)


def _argmin_per_group(values, starts):
    """Index of the smallest value in each contiguous group beginning at ``starts``."""
    group = np.repeat(np.arange(starts.size), np.diff(np.append(starts, values.size)))
    order = np.lexsort((values, group))
    first = np.ones(order.size, bool)
    first[1:] = group[order][1:] != group[order][:-1]
    return order[first]


def _classify(pieces: _Pieces, vertices, faces, structure, cfg):
    """Objects (faces, class, closing height) and dropped pieces with a report of why."""
    size = np.linalg.norm(pieces.hi - pieces.lo, axis=1)
    thickness = (pieces.hi - pieces.lo).min(axis=1) if size.size else np.zeros(0)
    small = size < cfg.min_object_size
    # NaN gap: no ground anywhere near (no ground at all, or outside it): judged standing.
    floating = np.nan_to_num(pieces.gap, nan=0.0) > cfg.support_gap
    candidates = np.flatnonzero(floating & ~small)
    attached = _touching(pieces, candidates, vertices, faces, structure)
    floating[candidates[attached]] = False
    # Held by a wall or ceiling (a ceiling bump, a wall shelf): kept, but at its own height, never
    # closed down to the floor (a 3 cm ceiling bump became a floor-to-ceiling pillar).
    hanging = np.zeros(len(pieces.faces), bool)
    hanging[candidates[attached]] = True
    floater = floating & ~small & ((size < cfg.floater_size) | (thickness < cfg.floater_thickness))
    objects, kinds, ground, dropped = [], [], [], []
    records = []
    for k in range(len(pieces.faces)):
        reason = "small" if small[k] else ("floater_thin" if floater[k] and thickness[k] < cfg.floater_thickness
                                           else "floater_small" if floater[k] else None)
        if reason is not None:
            dropped.append(pieces.faces[k])
            records.append((reason, k))
            continue
        objects.append(pieces.faces[k])
        if floating[k] or hanging[k]:
            kinds.append("overhead")
            ground.append(float(pieces.lo[k, 2]))  # closed at its own underside: never a column to the floor
        else:
            kinds.append("standing")
            under = pieces.ground[k]
            ground.append(float(min(pieces.lo[k, 2], under)) if np.isfinite(under) else float(pieces.lo[k, 2]))
    counts: dict[str, int] = {}
    for reason, _ in records:
        counts[reason] = counts.get(reason, 0) + 1
    floaters = [{"reason": r, "centre": [round(float(c), 3) for c in 0.5 * (pieces.lo[k] + pieces.hi[k])],
                 "size": round(float(size[k]), 3), "height_above_ground": round(float(pieces.gap[k]), 3)}
                for r, k in records if r != "small"][:50]
    return objects, kinds, ground, dropped, {"counts": counts, "floaters": floaters}


def _touching(pieces: _Pieces, candidates, vertices, faces, structure) -> np.ndarray:
    """(C,) bool: candidate pieces within one voxel of a wall, ceiling or riser face."""
    if candidates.size == 0 or structure.size == 0:
        return np.zeros(candidates.size, bool)
    voxel = _CONNECT_DISTANCE
    wall_points, _ = sample_triangles(vertices[faces[structure]], 0.5 * voxel)
    origin = vertices.min(axis=0) - 2 * voxel
    dims = np.floor((vertices.max(axis=0) - origin) / voxel).astype(np.int64) + 3
    walls = np.unique(voxel_keys(wall_points, voxel, origin, dims))
    out = np.zeros(candidates.size, bool)
    steps = np.array([(a * dims[1] + b) * dims[2] + c for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)])
    for i, k in enumerate(candidates):
        points, _ = sample_triangles(vertices[faces[pieces.faces[k]]], 0.5 * voxel)
        keys = np.unique(voxel_keys(points, voxel, origin, dims))
        near = (keys[:, None] + steps[None, :]).ravel()
        pos = np.minimum(np.searchsorted(walls, near), walls.size - 1)
        out[i] = bool((walls[pos] == near).any())
    return out


def _material_class(vertices, faces, index, kind) -> str:
    """``"furniture"`` for standing objects larger than :data:`_FURNITURE_SIZE`, else ``"object"``."""
    corners = vertices[faces[index]].reshape(-1, 3)
    size = float(np.linalg.norm(corners.max(axis=0) - corners.min(axis=0)))
    return "furniture" if kind == "standing" and size >= _FURNITURE_SIZE else "object"


def _group_clutter(objects, kinds, ground, vertices, faces, cfg):
    """Many small pieces (vegetation) become one clutter object per ``clutter_cell`` column of space."""
    if not objects:
        return objects, kinds, ground, 0
    lo = np.array([vertices[faces[o]].reshape(-1, 3).min(axis=0) for o in objects])
    hi = np.array([vertices[faces[o]].reshape(-1, 3).max(axis=0) for o in objects])
    small = (np.linalg.norm(hi - lo, axis=1) < cfg.clutter_size) & (np.asarray(kinds) != "overhead")
    if small.sum() <= cfg.clutter_count:
        return objects, kinds, ground, 0
    centre = 0.5 * (lo + hi)
    cell = np.floor(centre[:, :2] / cfg.clutter_cell).astype(np.int64)
    keep = [i for i in range(len(objects)) if not small[i]]
    members = np.flatnonzero(small)
    _, group = np.unique(cell[members], axis=0, return_inverse=True)
    group = group.reshape(-1)
    out_objects = [objects[i] for i in keep]
    out_kinds = [kinds[i] for i in keep]
    out_ground = [ground[i] for i in keep]
    for g in range(int(group.max()) + 1):
        chosen = members[group == g]
        out_objects.append(np.sort(np.concatenate([objects[i] for i in chosen])))
        out_kinds.append("clutter")
        out_ground.append(float(min(ground[i] for i in chosen)))
    return out_objects, out_kinds, out_ground, int(group.max()) + 1


SEGMENTATION_CACHE_FORMAT = 5
"""Layout version of cached segmentations (:mod:`worldgen_sim.cache`)."""


def segmentation_key(vertices: np.ndarray, faces: np.ndarray, cfg: CollisionCfg) -> str:
    """The cache key of a segmentation: the mesh (float32 vertices, int32 faces), the
    :data:`SEGMENT_FIELDS` of ``cfg`` and the scipy version."""
    from worldgen_sim.cache import cache_key

    return cache_key(
        "segmentation",
        arrays=(np.asarray(vertices, np.float32), np.asarray(faces, np.int32)),
        settings={k: getattr(cfg, k) for k in SEGMENT_FIELDS},
        entry_format=SEGMENTATION_CACHE_FORMAT,
        libraries=("scipy",),
    )


def segmentation_to_arrays(seg: Segmentation) -> dict[str, np.ndarray]:
    """A segmentation as named arrays, for :class:`worldgen_sim.cache.ArrayCache`."""
    import json

    meta = {"static": [[r.kind, r.semantic_class, r.area, r.offset, r.flatness] for r in seg.static],
            "object_classes": seg.object_classes, "object_kinds": seg.object_kinds, "object_ground": seg.object_ground,
            "ground_height": seg.ground_height, "report": seg.report}
    return {
        "meta": np.asarray(json.dumps(meta)),
        "static_normals": np.asarray([r.normal for r in seg.static], np.float64).reshape(-1, 3),
        "static_faces": np.concatenate([r.faces for r in seg.static] or [np.zeros(0, np.int64)]),
        "static_counts": np.asarray([r.faces.size for r in seg.static], np.int64),
        "object_faces": np.concatenate(seg.objects or [np.zeros(0, np.int64)]),
        "object_counts": np.asarray([o.size for o in seg.objects], np.int64),
        "dropped_faces": np.asarray(seg.dropped_faces, np.int64),
        "fill_vertices": np.asarray(seg.fill_vertices, np.float64).reshape(-1, 3),
        "fill_faces": np.asarray(seg.fill_faces, np.int64).reshape(-1, 3),
    }


def segmentation_from_arrays(data: dict[str, np.ndarray]) -> Segmentation | None:
    """The segmentation :func:`segmentation_to_arrays` stored, or None when the arrays do not hold one."""
    import json

    try:
        meta = json.loads(str(data["meta"]))
        static_faces = np.split(data["static_faces"], np.cumsum(data["static_counts"])[:-1])
        object_faces = np.split(data["object_faces"], np.cumsum(data["object_counts"])[:-1])
        normals = data["static_normals"]
        dropped = data["dropped_faces"]
        object_count = data["object_counts"].size
        static = [StaticRegion(kind, cls, static_faces[i], area, normals[i], offset, flatness)
                  for i, (kind, cls, area, offset, flatness) in enumerate(meta["static"])]
        objects = object_faces if object_count else []
        return Segmentation(static, objects, meta["object_classes"], meta["object_kinds"], meta["object_ground"],
                            dropped, meta["ground_height"], meta["report"], data["fill_vertices"], data["fill_faces"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None

"""Split a world-frame surface into the static shell (floor, walls, ceiling) and objects.

The shell is found as large planes: sequential RANSAC over faces (hypotheses are
the planes of area-weighted sampled faces, scored in batches against every face,
the winner refined by an area-weighted least-squares fit). A face is an inlier
of a plane when its three vertices lie within ``plane_distance`` of it and its
normal agrees with the plane's. Each plane is then classified from the world's
conventions (Z-up, floor at z = 0): the floor is the large up-facing plane near
z = 0, the ceiling the large down-facing plane at the top, walls the large
vertical planes that span most of the room's height; any other plane (a sofa
seat, a cabinet front) goes back to the objects.

What is left is split into connected pieces on a sparse voxel grid rather than
by shared vertices, because reconstructed and generated meshes are full of
T-junctions and hairline gaps (a table leg touching the underside of its top
shares no vertex with it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SHELL_CLASSES = ("floor", "wall", "ceiling")


@dataclass(eq=False)
class Plane:
    """One plane of the static shell.

    Attributes:
        normal: (3,) float64 unit normal, pointing the way its faces face.
        offset: d in ``normal . x = d`` [m].
        semantic_class: ``"floor"``, ``"wall"`` or ``"ceiling"``.
        faces: (K,) int64 indices of its inlier faces in the input mesh.
        area: summed inlier face area [m^2].
    """

    normal: np.ndarray
    offset: float
    semantic_class: str
    faces: np.ndarray
    area: float


@dataclass(eq=False)
class Segmentation:
    """Result of :func:`segment_surface`.

    Attributes:
        planes: the static shell's planes.
        objects: (K_i,) int64 face-index arrays, one per object, largest first.
        object_classes: semantic class per object.
        dropped_faces: faces of pieces smaller than ``min_object_size``.
        ground_height: floor height used to close objects [m] (0 when no floor was found).
        report: counts and decisions, JSON-serialisable.
    """

    planes: list[Plane]
    objects: list[np.ndarray]
    object_classes: list[str]
    dropped_faces: np.ndarray
    ground_height: float = 0.0
    report: dict = field(default_factory=dict)


def face_geometry(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit normals (F, 3), areas (F,) [m^2] and centroids (F, 3) [m] of triangles (float64)."""
    tri = vertices[faces].astype(np.float64)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    normals = cross / np.maximum(norm, 1e-20)[:, None]
    return normals, 0.5 * norm, tri.mean(axis=1)


def segment_surface(
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    plane_distance: float,
    min_plane_area: float,
    min_object_size: float,
    normal_angle: float = 25.0,
    wall_height_fraction: float = 0.75,
    floor_tolerance: float = 0.25,
    connect_distance: float = 0.02,
    furniture_size: float = 0.5,
    max_planes: int = 24,
    seed: int = 0,
) -> Segmentation:
    """Segment a mesh into shell planes and objects.

    Args:
        vertices: (V, 3) float32 world-frame positions [m] (Z-up, floor at z = 0).
        faces: (F, 3) int32 triangles.
        plane_distance: inlier distance of a face's vertices to a plane [m].
        min_plane_area: planes with less inlier area are not shell [m^2].
        min_object_size: pieces with a smaller bounding-box diagonal are dropped [m].
        normal_angle: largest angle between a face normal and its plane's normal [deg].
        wall_height_fraction: a vertical plane is a wall when its inliers span at least
            this fraction of the room height (floor to ceiling, or to the highest vertex).
        floor_tolerance: the floor plane must lie within this of z = 0 [m].
        connect_distance: pieces closer than about this are one object [m].
        furniture_size: objects standing on the floor with a larger bounding-box
            diagonal are ``"furniture"``, the rest ``"object"`` [m].
        max_planes: most planes extracted.
        seed: RANSAC seed.
    """
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64)
    normals, areas, centroids = face_geometry(vertices, faces)
    valid = areas > 1e-12
    cos_normal = np.cos(np.radians(normal_angle))
    rng = np.random.default_rng(seed)

    free = valid.copy()
    candidates: list[tuple[np.ndarray, float, np.ndarray, float]] = []
    tri = vertices[faces]
    for _ in range(max_planes):
        found = _best_plane(vertices, faces, tri, normals, areas, centroids, free, plane_distance, cos_normal, rng)
        if found is None or found[3] < min_plane_area:
            break
        candidates.append(found)
        free[found[2]] = False

    top = float(vertices[:, 2].max()) if len(vertices) else 0.0
    # Classify floor and ceiling first: walls are judged against the room height they give.
    floor_z = None
    ceiling_z = None
    classes: list[str | None] = []
    for normal, offset, _inliers, _area in candidates:
        if normal[2] > cos_normal and abs(offset / normal[2]) <= floor_tolerance:
            classes.append("floor")
            floor_z = offset if floor_z is None else min(floor_z, offset)
        else:
            classes.append(None)
    for i, (normal, offset, _inliers, _area) in enumerate(candidates):
        if classes[i] is None and normal[2] < -cos_normal:
            height = -offset
            # A ceiling has no geometry above it (beyond noise): compare with the top of the mesh.
            if height >= top - 2.0 * plane_distance - 0.05 and height > (floor_z or 0.0) + 1.0:
                classes[i] = "ceiling"
                ceiling_z = height if ceiling_z is None else max(ceiling_z, height)
    ground = 0.0 if floor_z is None else float(floor_z)
    room_height = (ceiling_z if ceiling_z is not None else top) - ground
    for i, (normal, _offset, inliers, _area) in enumerate(candidates):
        if classes[i] is None and abs(normal[2]) < np.sin(np.radians(normal_angle)):
            z = tri[inliers][..., 2]
            if z.max() - z.min() >= wall_height_fraction * room_height:
                classes[i] = "wall"

    planes = []
    shell = np.zeros(len(faces), bool)
    for (normal, offset, inliers, area), cls in zip(candidates, classes):
        if cls is not None:
            planes.append(Plane(normal, float(offset), cls, inliers, float(area)))
            shell[inliers] = True

    # Leftover faces lying within plane_distance of the shell (noisy slivers the normal test
    # refused, corner strips between floor and wall, posters, rugs) join the nearest shell plane.
    rest = np.flatnonzero(valid & ~shell)
    if planes and rest.size:
        plane_normals = np.stack([p.normal for p in planes])
        plane_offsets = np.array([p.offset for p in planes])
        near = np.zeros(rest.size, bool)
        nearest = np.zeros(rest.size, np.int64)
        for chunk in np.array_split(np.arange(rest.size), max(1, rest.size // 200_000 + 1)):
            dist = np.abs(tri[rest[chunk]] @ plane_normals.T - plane_offsets)  # (C, 3, K)
            near[chunk] = (dist < plane_distance).any(axis=2).all(axis=1)
            nearest[chunk] = np.argmin(dist.mean(axis=1), axis=1)
        for k, plane in enumerate(planes):
            joined = rest[near & (nearest == k)]
            plane.faces = np.concatenate([plane.faces, joined])
            plane.area += float(areas[joined].sum())
        rest = rest[~near]
    for plane in planes:
        plane.faces = np.sort(plane.faces)

    labels = _connected_pieces(tri[rest], connect_distance)
    objects, object_classes, dropped = [], [], [np.flatnonzero(~valid)]
    if rest.size:
        order = np.argsort(labels, kind="stable")
        starts = np.concatenate([[0], np.flatnonzero(np.diff(labels[order])) + 1])
        sorted_points = tri[rest[order]]
        lo = np.minimum.reduceat(sorted_points.min(axis=1), starts, axis=0)
        hi = np.maximum.reduceat(sorted_points.max(axis=1), starts, axis=0)
        diagonal = np.linalg.norm(hi - lo, axis=1)
        groups = np.split(rest[order], starts[1:])
        for g in np.flatnonzero(diagonal < min_object_size):
            dropped.append(groups[g])
        for g in np.flatnonzero(diagonal >= min_object_size):
            on_floor = lo[g, 2] <= ground + max(plane_distance, 0.05)
            objects.append(np.sort(groups[g]))
            object_classes.append("furniture" if on_floor and diagonal[g] >= furniture_size else "object")
    # Largest first, so names are stable and the slow pieces start early in the pool.
    sizes = [float(areas[o].sum()) for o in objects]
    order = np.argsort(sizes, kind="stable")[::-1]
    objects = [objects[i] for i in order]
    object_classes = [object_classes[i] for i in order]
    report = {
        "planes": [
            {"class": p.semantic_class, "normal": [round(float(c), 4) for c in p.normal],
             "offset": round(p.offset, 4), "area": round(p.area, 3), "faces": int(p.faces.size)}
            for p in planes
        ],
        "non_shell_planes": int(sum(c is None for c in classes)),
        "objects": len(objects),
        "dropped_pieces": len(dropped) - 1,
        "dropped_faces": int(sum(d.size for d in dropped)),
        "ground_height": round(ground, 4),
        "room_height": round(float(room_height), 4),
    }
    return Segmentation(planes, objects, object_classes, np.concatenate(dropped), ground, report)


def _best_plane(vertices, faces, tri, normals, areas, centroids, free, distance, cos_normal, rng,
                hypotheses=64, refinements=2, score_faces=12000):
    """The plane with the most inlier area among faces still ``free``, or None.

    Returns (normal (3,), offset, inlier face indices, inlier area).
    """
    pool = np.flatnonzero(free)
    if pool.size == 0:
        return None
    weights = areas[pool] / areas[pool].sum()
    picks = pool[rng.choice(pool.size, size=min(hypotheses, pool.size), replace=False, p=weights)]
    hyp_normals = normals[picks]
    hyp_offsets = np.einsum("ij,ij->i", hyp_normals, tri[picks, 0])
    # Score hypotheses in batches against (a sample of) the free faces: vertex distances and
    # normal agreement. Scoring on a sample keeps this O(hypotheses x sample) per plane.
    score_pool = pool if pool.size <= score_faces else np.sort(rng.choice(pool, size=score_faces, replace=False))
    sample_points = tri[score_pool].reshape(-1, 3)
    # (S, K): the largest vertex distance of each sampled face to each hypothesis plane.
    dist = np.abs(sample_points @ hyp_normals.T - hyp_offsets).reshape(score_pool.size, 3, -1).max(axis=1)
    inlier = (dist < distance) & (normals[score_pool] @ hyp_normals.T > cos_normal)
    scores = areas[score_pool] @ inlier
    best = int(np.argmax(scores))
    if scores[best] <= 0:
        return None
    normal, offset = hyp_normals[best], hyp_offsets[best]
    for _ in range(refinements):
        inliers = _plane_inliers(vertices, faces, normals, pool, normal, offset, distance, cos_normal)
        if inliers.size < 3:
            break
        normal, offset = _fit_plane(centroids[inliers], areas[inliers], normal)
    # The final inlier set accepts noisier normals (still rejecting faces across the plane,
    # such as the foot of a cabinet's side on the floor).
    inliers = _plane_inliers(vertices, faces, normals, pool, normal, offset, distance, min(cos_normal, 0.5))
    return normal, float(offset), inliers, float(areas[inliers].sum())


def _plane_inliers(vertices, faces, normals, pool, normal, offset, distance, cos_normal):
    """Faces of ``pool`` facing along ``normal`` with all three vertices within ``distance`` of the plane."""
    facing = pool[normals[pool] @ normal > cos_normal]
    close = np.abs(vertices @ normal - offset) < distance
    return facing[close[faces[facing]].all(axis=1)]


def _fit_plane(points, weights, previous_normal):
    """Weighted least-squares plane through points; normal kept on previous_normal's side."""
    weights = weights + 1e-12
    centre = (points * weights[:, None]).sum(axis=0) / weights.sum()
    centred = points - centre
    _, vectors = np.linalg.eigh((centred * weights[:, None]).T @ centred)
    normal = vectors[:, 0]  # smallest eigenvalue
    if normal @ previous_normal < 0:
        normal = -normal
    return normal, float(normal @ centre)


def sample_triangles(tri: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points on triangles, no two neighbours farther apart than about ``spacing``.

    Args:
        tri: (F, 3, 3) float64 triangle corners [m].
        spacing: sample spacing [m].

    Returns:
        (P, 3) float64 points and (P,) int64 index of the triangle each lies on.
    """
    if tri.shape[0] == 0:
        return np.zeros((0, 3)), np.zeros(0, np.int64)
    edges = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(axis=1)
    steps = np.maximum(1, np.ceil(edges / spacing)).astype(np.int64)
    points, owners = [], []
    # One barycentric pattern per subdivision count; a loop over distinct counts, not faces.
    for n in np.unique(steps):
        idx = np.flatnonzero(steps == n)
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = i + j <= n
        a, b = i[keep] / n, j[keep] / n
        bary = np.stack([1 - a - b, a, b], axis=1)  # (S, 3)
        for chunk in np.array_split(idx, max(1, idx.size * len(bary) // 2_000_000 + 1)):
            pts = np.einsum("sk,fkj->fsj", bary, tri[chunk]).reshape(-1, 3)
            points.append(pts)
            owners.append(np.repeat(chunk, len(bary)))
    return np.concatenate(points), np.concatenate(owners)


def _connected_pieces(tri: np.ndarray, voxel: float) -> np.ndarray:
    """(F,) int64 component label per triangle; triangles in touching voxels are connected."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    count = tri.shape[0]
    if count == 0:
        return np.zeros(0, np.int64)
    points, owners = sample_triangles(tri, 0.5 * voxel)
    cells = np.floor((points - points.min(axis=0)) / voxel).astype(np.int64) + 1
    dims = cells.max(axis=0) + 2
    keys = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
    unique, inverse = np.unique(keys, return_inverse=True)
    voxels = unique.size
    # Graph nodes: voxels, then faces. Faces link to their voxels; voxels to their 26 neighbours.
    rows = [inverse, ]
    cols = [voxels + owners]
    uc = np.stack([unique // (dims[1] * dims[2]), (unique // dims[2]) % dims[1], unique % dims[2]], axis=1)
    offsets = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) > (0, 0, 0)])
    for off in offsets:
        nk = ((uc[:, 0] + off[0]) * dims[1] + uc[:, 1] + off[1]) * dims[2] + uc[:, 2] + off[2]
        pos = np.searchsorted(unique, nk)
        pos = np.minimum(pos, voxels - 1)
        hit = unique[pos] == nk
        rows.append(np.flatnonzero(hit))
        cols.append(pos[hit])
    rows = np.concatenate(rows)
    cols = np.concatenate(cols)
    graph = coo_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(voxels + count, voxels + count))
    _, labels = connected_components(graph, directed=False)
    return labels[voxels:].astype(np.int64)


SEGMENTATION_CACHE_FORMAT = 2
"""Layout version of cached segmentations (:mod:`worldgen_sim.cache`)."""


def segmentation_to_arrays(seg: Segmentation) -> dict[str, np.ndarray]:
    """A segmentation as named arrays, for :class:`worldgen_sim.cache.ArrayCache`."""
    import json

    meta = {"plane_classes": [p.semantic_class for p in seg.planes], "plane_offsets": [p.offset for p in seg.planes],
            "plane_areas": [p.area for p in seg.planes], "object_classes": seg.object_classes,
            "ground_height": seg.ground_height, "report": seg.report}
    return {
        "meta": np.asarray(json.dumps(meta)),
        "plane_normals": np.asarray([p.normal for p in seg.planes], np.float64).reshape(-1, 3),
        "plane_faces": np.concatenate([p.faces for p in seg.planes] or [np.zeros(0, np.int64)]),
        "plane_counts": np.asarray([p.faces.size for p in seg.planes], np.int64),
        "object_faces": np.concatenate(seg.objects or [np.zeros(0, np.int64)]),
        "object_counts": np.asarray([o.size for o in seg.objects], np.int64),
        "dropped_faces": np.asarray(seg.dropped_faces, np.int64),
    }


def segmentation_from_arrays(data: dict[str, np.ndarray]) -> Segmentation | None:
    """The segmentation :func:`segmentation_to_arrays` stored, or None when the arrays do not hold one."""
    import json

    try:
        meta = json.loads(str(data["meta"]))
        plane_faces = np.split(data["plane_faces"], np.cumsum(data["plane_counts"])[:-1])
        object_faces = np.split(data["object_faces"], np.cumsum(data["object_counts"])[:-1])
        normals = data["plane_normals"]
        dropped = data["dropped_faces"]
        plane_count, object_count = data["plane_counts"].size, data["object_counts"].size
        planes = [Plane(normals[i], meta["plane_offsets"][i], meta["plane_classes"][i], plane_faces[i],
                        meta["plane_areas"][i]) for i in range(plane_count)]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    objects = object_faces if object_count else []
    return Segmentation(planes, objects, meta["object_classes"], dropped, meta["ground_height"], meta["report"])

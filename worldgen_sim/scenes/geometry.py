"""Analytic solids for the test scenes: exact inside tests, surface samples and a mesh for ray casting.

Every :class:`Part` is one or more solids of one kind (boxes, a heightfield
slab, ellipsoids, cylinders, a convex polyhedron) with:

* ``inside(points)``: exact, vectorised point-in-solid (the ground truth of
  phantom collision);
* ``sample(spacing, rng)``: points on the whole surface about ``spacing`` apart
  with outward unit normals (hidden faces are removed later by ray casting
  from the scene's cameras, never here);
* ``mesh``: a tessellation for ray casting only (the truth is the analytic
  surface; tessellations are inscribed within a few millimetres).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from worldgen_sim.artifacts import TriangleMesh
from worldgen_sim.scenes.surfels import sample_parallelogram

__all__ = [
    "GROUND",
    "OBJECT",
    "STRUCTURE",
    "Part",
    "box_part",
    "convex_part",
    "cylinders_part",
    "ellipsoids_part",
    "heightfield_part",
    "merge_meshes",
    "tilt_rotation",
]

GROUND, STRUCTURE, OBJECT = "ground", "structure", "object"
"""Part kinds: what carries weight (floors, terrain, steps, platforms, ramps), walls and
ceilings, and what stands on the ground (furniture, rocks, trunks, statues, plants)."""

_NEAREST = 12
"""Candidate solids per point in many-solid parts: the nearest centres within reach."""


class _NearbySolids:
    """Candidate (point, solid) pairs: solids whose centre lies within their reach of the point.

    A point inside a solid is within that solid's reach (its bounding-sphere radius) of its
    centre; the :data:`_NEAREST` nearest centres are taken, which holds every candidate as long
    as no point lies within reach of more solids than that (true of the scenes' small clutter).
    """

    def __init__(self, centres: np.ndarray, reach: np.ndarray) -> None:
        from scipy.spatial import cKDTree

        self.tree = cKDTree(centres)
        self.reach = np.asarray(reach, np.float64)
        self.k = min(_NEAREST, len(centres))

    def pairs(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row indices into ``points`` and solid indices, one entry per candidate pair."""
        distance, index = self.tree.query(points, k=self.k, distance_upper_bound=float(self.reach.max()))
        distance, index = distance.reshape(len(points), -1), index.reshape(len(points), -1)
        found = np.isfinite(distance)
        found[found] = distance[found] <= self.reach[index[found]]
        rows = np.nonzero(found)[0]
        return rows, index[found]


@dataclass(eq=False)
class Part:
    """One piece of true geometry.

    Attributes:
        name: identifier, e.g. ``"rock"``.
        kind: :data:`GROUND`, :data:`STRUCTURE` or :data:`OBJECT`.
        mesh: tessellated surface for ray casting [m], outward (counter-clockwise) faces.
        inside: (N, 3) points [m] -> (N,) bool, exact.
        sample: (spacing [m], rng) -> ((P, 3) float64 surface points [m], (P, 3) unit outward normals).
        color: (3,) RGB in [0, 1].
        spacing: surfel spacing for this part [m]; None takes the scene's (thin clutter needs finer).
    """

    name: str
    kind: str
    mesh: TriangleMesh
    inside: Callable[[np.ndarray], np.ndarray]
    sample: Callable[[float, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    color: tuple[float, float, float]
    spacing: float | None = None


def merge_meshes(meshes: list[TriangleMesh]) -> TriangleMesh:
    """One mesh holding every mesh's triangles (vertices not welded)."""
    vertices, faces, offset = [], [], 0
    for mesh in meshes:
        vertices.append(np.asarray(mesh.vertices, np.float32))
        faces.append(np.asarray(mesh.faces, np.int64) + offset)
        offset += len(mesh.vertices)
    return TriangleMesh(np.concatenate(vertices), np.concatenate(faces).astype(np.int32))


def _chunked(test: Callable[[np.ndarray], np.ndarray], chunk: int = 100_000) -> Callable[[np.ndarray], np.ndarray]:
    """An inside test applied in chunks of points (bounds the memory of point/solid pairs)."""

    def inside(points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, np.float64).reshape(-1, 3)
        out = np.zeros(len(points), bool)
        for start in range(0, len(points), chunk):
            out[start : start + chunk] = test(points[start : start + chunk])
        return out

    return inside


# --- boxes --------------------------------------------------------------------------------------


def _box_faces(lo, hi):
    """The six faces of an axis-aligned box as (origin, u, v) with u x v the outward normal."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    dx, dy, dz = x1 - x0, y1 - y0, z1 - z0
    return [
        ((x0, y0, z1), (dx, 0, 0), (0, dy, 0)),  # +z
        ((x0, y0, z0), (0, dy, 0), (dx, 0, 0)),  # -z
        ((x0, y0, z0), (dx, 0, 0), (0, 0, dz)),  # -y
        ((x0, y1, z0), (0, 0, dz), (dx, 0, 0)),  # +y
        ((x0, y0, z0), (0, 0, dz), (0, dy, 0)),  # -x
        ((x1, y0, z0), (0, dy, 0), (0, 0, dz)),  # +x
    ]


def _quads_mesh(quads) -> TriangleMesh:
    vertices, faces = [], []
    for index, (origin, u, v) in enumerate(quads):
        origin, u, v = (np.asarray(x, np.float64) for x in (origin, u, v))
        vertices += [origin, origin + u, origin + u + v, origin + v]
        base = 4 * index
        faces += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    return TriangleMesh(np.asarray(vertices, np.float32), np.asarray(faces, np.int32))


def box_part(name: str, lo, hi, *, kind: str, color) -> Part:
    """An axis-aligned box from corner ``lo`` to ``hi`` [m]."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    quads = _box_faces(lo, hi)

    def sample(spacing, rng):
        points, normals = [], []
        for origin, u, v in quads:
            p = sample_parallelogram(origin, u, v, spacing, rng)
            n = np.cross(u, v)
            points.append(p)
            normals.append(np.broadcast_to(n / np.linalg.norm(n), p.shape))
        return np.concatenate(points), np.concatenate(normals)

    def inside(points):
        points = np.asarray(points, np.float64).reshape(-1, 3)
        return np.all((points > lo) & (points < hi), axis=1)

    return Part(name, kind, _quads_mesh(quads), inside, sample, tuple(color))


# --- heightfield slab ---------------------------------------------------------------------------


def heightfield_part(
    name: str, height, gradient, lo_xy, hi_xy, *, kind: str, color, bottom: float, mesh_step: float = 0.1
) -> Part:
    """The solid between ``bottom`` and ``height(x, y)`` over the rectangle ``lo_xy``..``hi_xy``.

    Only the top surface is sampled and meshed (a terrain tile's sides and bottom are
    never seen). ``height``: (N, 2) -> (N,) [m]; ``gradient``: (N, 2) -> (N, 2) dh/dx, dh/dy.
    """
    lo_xy, hi_xy = np.asarray(lo_xy, np.float64), np.asarray(hi_xy, np.float64)
    nx, ny = (np.maximum(1, np.round((hi_xy - lo_xy) / mesh_step)).astype(int) + 1).tolist()
    gx, gy = np.meshgrid(np.linspace(lo_xy[0], hi_xy[0], nx), np.linspace(lo_xy[1], hi_xy[1], ny), indexing="xy")
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    vertices = np.column_stack([xy, height(xy)])
    idx = np.arange(nx * ny).reshape(ny, nx)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:].ravel(), idx[1:, :-1].ravel()
    faces = np.concatenate([np.column_stack([a, b, c]), np.column_stack([a, c, d])])
    mesh = TriangleMesh(vertices.astype(np.float32), faces.astype(np.int32))

    def sample(spacing, rng):
        extent = hi_xy - lo_xy
        flat = sample_parallelogram((*lo_xy, 0.0), (extent[0], 0, 0), (0, extent[1], 0), spacing, rng)
        xy = flat[:, :2]
        grad = gradient(xy)
        normals = np.column_stack([-grad, np.ones(len(xy))])
        return np.column_stack([xy, height(xy)]), normals / np.linalg.norm(normals, axis=1, keepdims=True)

    def inside(points):
        points = np.asarray(points, np.float64).reshape(-1, 3)
        over = np.all((points[:, :2] > lo_xy) & (points[:, :2] < hi_xy), axis=1)
        out = np.zeros(len(points), bool)
        out[over] = (points[over, 2] > bottom) & (points[over, 2] < height(points[over, :2]))
        return out

    return Part(name, kind, mesh, inside, sample, tuple(color))


# --- ellipsoids ---------------------------------------------------------------------------------


def _unit_sphere_mesh(rings: int = 12, segments: int = 24) -> TriangleMesh:
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    body = np.column_stack([(np.sin(t) * np.cos(p)).ravel(), (np.sin(t) * np.sin(p)).ravel(), np.cos(t).ravel()])
    vertices = np.concatenate([[[0, 0, 1]], body, [[0, 0, -1]]])
    top, bottom = 0, len(vertices) - 1
    ring = lambda r, s: 1 + r * segments + (s % segments)  # noqa: E731
    faces = []
    for s in range(segments):
        faces.append([top, ring(0, s), ring(0, s + 1)])
        faces.append([bottom, ring(rings - 2, s + 1), ring(rings - 2, s)])
        for r in range(rings - 2):
            faces.append([ring(r, s), ring(r + 1, s), ring(r + 1, s + 1)])
            faces.append([ring(r, s), ring(r + 1, s + 1), ring(r, s + 1)])
    return TriangleMesh(vertices.astype(np.float32), np.asarray(faces, np.int32))


def _fibonacci_sphere(count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 3) nearly uniform unit vectors, randomly turned."""
    i = np.arange(count) + 0.5
    z = 1 - 2 * i / count
    r = np.sqrt(np.clip(1 - z * z, 0, 1))
    phi = np.pi * (1 + 5**0.5) * i + rng.uniform(0, 2 * np.pi)
    return np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


def ellipsoids_part(name: str, centres, rotations, semi_axes, *, kind: str, color) -> Part:
    """Ellipsoids: (K, 3) centres [m], (K, 3, 3) rotations (local -> world), (K, 3) semi-axes [m]."""
    centres = np.asarray(centres, np.float64).reshape(-1, 3)
    rotations = np.asarray(rotations, np.float64).reshape(-1, 3, 3)
    semi = np.asarray(semi_axes, np.float64).reshape(-1, 3)
    unit = _unit_sphere_mesh()
    meshes = [
        TriangleMesh(((unit.vertices * s) @ r.T + c).astype(np.float32), unit.faces)
        for c, r, s in zip(centres, rotations, semi)
    ]

    def sample(spacing, rng):
        points, normals = [], []
        for c, r, s in zip(centres, rotations, semi):
            # Knud Thomsen's approximation of the ellipsoid's area sets the count.
            p16 = 1.6075
            area = 4 * np.pi * (((s[0] * s[1]) ** p16 + (s[0] * s[2]) ** p16 + (s[1] * s[2]) ** p16) / 3) ** (1 / p16)
            u = _fibonacci_sphere(max(8, int(area / spacing**2)), rng)
            points.append((u * s) @ r.T + c)
            n = (u / s) @ r.T
            normals.append(n / np.linalg.norm(n, axis=1, keepdims=True))
        return np.concatenate(points), np.concatenate(normals)

    near = _NearbySolids(centres, semi.max(axis=1))

    def test(points):
        out = np.zeros(len(points), bool)
        rows, k = near.pairs(points)
        local = np.einsum("nij,ni->nj", rotations[k], points[rows] - centres[k]) / semi[k]
        out[rows[np.einsum("ij,ij->i", local, local) < 1.0]] = True
        return out

    return Part(name, kind, merge_meshes(meshes), _chunked(test), sample, tuple(color))


# --- cylinders ----------------------------------------------------------------------------------


def _frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``axis`` and to each other."""
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(axis, e1)


def cylinders_part(name: str, starts, ends, radii, *, kind: str, color, segments: int = 16) -> Part:
    """Capped cylinders from (K, 3) ``starts`` to ``ends`` with (K,) ``radii`` [m]."""
    starts, ends = np.asarray(starts, np.float64).reshape(-1, 3), np.asarray(ends, np.float64).reshape(-1, 3)
    radii = np.asarray(radii, np.float64).reshape(-1)
    axes = ends - starts
    lengths = np.linalg.norm(axes, axis=1)
    units = axes / lengths[:, None]
    frames = [_frame(a) for a in units]
    angles = 2 * np.pi * np.arange(segments) / segments
    meshes = []
    for s, e, r, (e1, e2) in zip(starts, ends, radii, frames):
        ring = r * (np.cos(angles)[:, None] * e1 + np.sin(angles)[:, None] * e2)
        vertices = np.concatenate([s + ring, e + ring, [s, e]])
        faces = []
        for i in range(segments):
            j = (i + 1) % segments
            faces += [[i, j, segments + j], [i, segments + j, segments + i]]
            faces += [[2 * segments, j, i], [2 * segments + 1, segments + i, segments + j]]
        meshes.append(TriangleMesh(vertices.astype(np.float32), np.asarray(faces, np.int32)))

    def sample(spacing, rng):
        points, normals = [], []
        for s, length, axis, r, (e1, e2) in zip(starts, lengths, units, radii, frames):
            around = max(3, int(round(2 * np.pi * r / spacing)))
            along = max(1, int(round(length / spacing)))
            a = (np.arange(around)[:, None] + rng.uniform(-0.3, 0.3, (around, along))) * 2 * np.pi / around
            t = (np.arange(along)[None, :] + 0.5 + rng.uniform(-0.3, 0.3, (around, along))) * length / along
            radial = np.cos(a.ravel())[:, None] * e1 + np.sin(a.ravel())[:, None] * e2
            points.append(s + t.ravel()[:, None] * axis + r * radial)
            normals.append(radial)
            cap = max(1, int(np.pi * r * r / spacing**2))
            rho = r * np.sqrt(rng.uniform(0, 1, (2, cap)))
            phi = rng.uniform(0, 2 * np.pi, (2, cap))
            for end, sign, k in ((s, -1.0, 0), (s + length * axis, 1.0, 1)):
                disc = (rho[k] * np.cos(phi[k]))[:, None] * e1 + (rho[k] * np.sin(phi[k]))[:, None] * e2
                points.append(end + disc)
                normals.append(np.broadcast_to(sign * axis, disc.shape))
        return np.concatenate(points), np.concatenate(normals)

    near = _NearbySolids(0.5 * (starts + ends), 0.5 * lengths + radii)

    def test(points):
        out = np.zeros(len(points), bool)
        rows, k = near.pairs(points)
        rel = points[rows] - starts[k]
        t = np.einsum("ij,ij->i", rel, units[k])
        radial = rel - t[:, None] * units[k]
        inside = (t > 0) & (t < lengths[k]) & (np.einsum("ij,ij->i", radial, radial) < radii[k] ** 2)
        out[rows[inside]] = True
        return out

    return Part(name, kind, merge_meshes(meshes), _chunked(test), sample, tuple(color))


# --- convex polyhedron --------------------------------------------------------------------------


def convex_part(name: str, vertices, *, kind: str, color) -> Part:
    """The convex hull of (V, 3) ``vertices`` [m] (e.g. a ramp's wedge)."""
    from scipy.spatial import ConvexHull

    vertices = np.asarray(vertices, np.float64)
    hull = ConvexHull(vertices)
    faces = hull.simplices.copy()
    normals = hull.equations[:, :3]
    # Orient every triangle counter-clockwise seen from outside.
    corners = vertices[faces]
    wrong = np.einsum("ij,ij->i", np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), normals) < 0
    faces[wrong] = faces[wrong][:, ::-1]
    mesh = TriangleMesh(vertices.astype(np.float32), faces.astype(np.int32))
    equations = hull.equations

    def sample(spacing, rng):
        corners = vertices[faces]
        edge_u, edge_v = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        n = np.cross(edge_u, edge_v)
        area = 0.5 * np.linalg.norm(n, axis=1)
        counts = np.maximum(1, np.round(area / spacing**2)).astype(int)
        face = np.repeat(np.arange(len(faces)), counts)
        a, b = rng.random(face.size), rng.random(face.size)
        fold = a + b > 1
        a[fold], b[fold] = 1 - a[fold], 1 - b[fold]
        points = corners[face, 0] + a[:, None] * edge_u[face] + b[:, None] * edge_v[face]
        return points, (n / np.linalg.norm(n, axis=1, keepdims=True))[face]

    def inside(points):
        points = np.asarray(points, np.float64).reshape(-1, 3)
        return np.all(points @ equations[:, :3].T + equations[:, 3] < 0, axis=1)

    return Part(name, kind, mesh, inside, sample, tuple(color))


def tilt_rotation(ax: float, ay: float) -> np.ndarray:
    """(3, 3) rotation tilting a part by ``ax`` about x, then ``ay`` about y (a statue's limbs) [rad]."""
    cx, sx, cy, sy = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay)
    return np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])

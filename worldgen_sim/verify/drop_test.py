"""Physics drop test: do probes dropped onto the visual surface come to rest on it?

Probe spheres are placed over flat, upward-facing parts of the visual mesh
(half over the ground, half over object tops), dropped in Newton on warp's CPU
device with the world's colliders loaded from ``world.usda``, and a probe
passes when it ends at rest with its bottom within ``rest_tolerance`` of the
visual surface below it. A missing or misplaced collider shows up as probes
that fall through or rest at the wrong height.

Warp compiles Newton's kernels on first use (about 100 s on 2 CPU cores) and
caches them in ``~/.cache/warp`` (or ``$WARP_CACHE_PATH``, or
``VerifyCfg.kernel_cache_dir``); later runs load them in well under a second.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError, missing_dependency
from worldgen_sim.progress import Progress
from worldgen_sim.runtime import warp_settings
from worldgen_sim.verify.verify_cfg import VerifyCfg

log = logging.getLogger(__name__)

GROUND = "ground"
OBJECT = "object"

# A ray hit counts as an upward-facing side when its triangle's unit normal has z above this
# (60 degrees of tilt). Deliberately loose: single triangles of a reconstructed mesh tilt with
# millimetre noise; flatness is judged over the probe's neighbourhood instead (place_probes),
# where a height range of flat_tolerance over 3 probe radii bounds the mean normal's z far above 0.9.
_UPWARD_NZ = 0.5
# Hits closer than this along one vertical ray are the same surface (shared triangle edges) [m].
_SAME_SURFACE = 1e-4
_GRAVITY = 9.81  # [m/s^2]
# Cap on height-map cells; the cell grows on very large worlds to stay under it.
_MAX_CELLS = 4_000_000
# Triangle/cell pairs tested per chunk when rasterising (bounds memory to a few hundred MB).
_PAIRS_PER_CHUNK = 4_000_000


@dataclass(eq=False)
class DropTestResult:
    """Outcome of one drop test.

    Attributes:
        engine: physics engine that ran it (``"newton"``).
        starts: (N, 3) float64 probe centres at release [m].
        ends: (N, 3) float64 probe centres after ``sim_seconds`` [m].
        surface_heights: (N,) float64 visual surface height under each end position [m]
            (NaN where the probe left the surveyed area).
        errors: (N,) float64 |probe bottom - surface height| at the end [m] (inf when unknown).
        speeds: (N,) float64 linear speed at the end [m/s].
        kinds: (N,) ``"ground"`` or ``"object"``: what the probe was dropped over.
        passed: (N,) bool, at rest within ``rest_tolerance`` of the surface.
        reasons: N of ``"ok"``, ``"thrown out"`` (faster than gravity allows: it started inside a
            collider), ``"fell through"`` (ended below the surface), ``"rests too high"``,
            ``"still moving"`` or ``"left the area"`` (no surveyed surface under its end).
        pass_fraction: fraction of probes that passed.
        min_pass_fraction: fraction required.
        ok: ``pass_fraction >= min_pass_fraction``.
        seconds: wall time of the simulation, kernel loading included [s].
        notes: anything the reader should know (e.g. no object tops found).
    """

    engine: str
    starts: np.ndarray
    ends: np.ndarray
    surface_heights: np.ndarray
    errors: np.ndarray
    speeds: np.ndarray
    kinds: list[str]
    passed: np.ndarray
    reasons: list[str]
    pass_fraction: float
    min_pass_fraction: float
    ok: bool
    seconds: float
    notes: list[str]

    def to_dict(self) -> dict:
        """JSON-serialisable form (non-finite numbers become None)."""

        def clean(values: np.ndarray) -> list:
            return [None if not np.isfinite(v) else round(float(v), 5) for v in np.asarray(values).reshape(-1)]

        probes = [
            {
                "kind": self.kinds[i],
                "start": clean(self.starts[i]),
                "end": clean(self.ends[i]),
                "surface_height": clean(self.surface_heights[i : i + 1])[0],
                "error": clean(self.errors[i : i + 1])[0],
                "speed": clean(self.speeds[i : i + 1])[0],
                "passed": bool(self.passed[i]),
                "reason": self.reasons[i],
            }
            for i in range(len(self.kinds))
        ]
        return {
            "engine": self.engine,
            "ok": self.ok,
            "pass_fraction": round(self.pass_fraction, 4),
            "min_pass_fraction": self.min_pass_fraction,
            "num_probes": len(self.kinds),
            "num_passed": int(self.passed.sum()),
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "probes": probes,
        }


@dataclass(eq=False)
class SurfaceMap:
    """Top-down map of the surfaces a probe can be dropped onto.

    Attributes:
        origin: (2,) float64 xy of the centre of cell (0, 0) [m].
        cell: cell size [m].
        heights: (H, W) float64 height of the highest upward-facing surface with free space
            above it in each cell [m]; NaN where there is none. Row index is y, column x.
    """

    origin: np.ndarray
    cell: float
    heights: np.ndarray

    def lookup(self, xy: np.ndarray) -> np.ndarray:
        """Heights at (N, 2) xy positions [m]; NaN outside the map or where it has no surface."""
        ij = np.floor((np.asarray(xy, dtype=np.float64) - self.origin) / self.cell + 0.5).astype(np.int64)
        rows, cols = self.heights.shape
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < cols) & (ij[:, 1] >= 0) & (ij[:, 1] < rows)
        out = np.full(len(ij), np.nan)
        out[inside] = self.heights[ij[inside, 1], ij[inside, 0]]
        return out


def run_drop_test(world_path: str | Path, *, cfg: VerifyCfg, progress: Progress | None = None) -> DropTestResult:
    """Drop probe spheres onto the world's visual surface in Newton and check where they rest.

    Args:
        world_path: the composed ``world.usda`` (visual mesh under ``/World/Visual``,
            colliders anywhere, Z-up, metres).
        cfg: probe count, radius, drop height, simulated time, tolerances, seed, device.
        progress: progress reporter; silent when None.

    Returns:
        Per-probe starts, ends, surface heights, errors and pass flags, and the summary.

    Raises:
        WorldgenError: no visual mesh, no flat upward-facing surface to drop onto,
            an unsupported engine, or Newton/warp not installed.
    """
    progress = progress or Progress(quiet=True)
    cfg.validate()
    world_path = Path(world_path)
    with progress.stage("drop test: probe placement"):
        vertices, triangles, normals = load_visual_triangles(world_path)
        surface = surface_map(vertices, triangles, normals, cfg=cfg)
        starts, kinds, notes = place_probes(surface, cfg=cfg)
    with progress.stage("drop test: newton simulation"):
        t0 = time.perf_counter()
        ends, speeds, world_shapes = _simulate_newton(world_path, starts, cfg=cfg, progress=progress)
        seconds = time.perf_counter() - t0
    notes.append(f"newton loaded {world_shapes} collision shapes from {world_path.name}")
    surface_heights = surface.lookup(ends[:, :2])
    errors = np.abs(ends[:, 2] - cfg.probe_radius - surface_heights)
    errors[~np.isfinite(errors)] = np.inf
    passed = (errors <= cfg.rest_tolerance) & (speeds <= cfg.rest_speed)
    offset = ends[:, 2] - cfg.probe_radius - surface_heights  # bottom above (+) or below (-) the surface
    # Gravity alone cannot make a probe faster than g * sim_seconds; anything well beyond that
    # was shot out by a depenetration impulse: the probe started inside a collider.
    thrown = speeds > 1.5 * _GRAVITY * cfg.sim_seconds
    reasons = np.select(
        [
            passed,
            thrown,
            ~np.isfinite(ends[:, 2]) | (ends[:, 2] < surface_heights - cfg.rest_tolerance),
            ~np.isfinite(offset),
            offset < -cfg.rest_tolerance,
            offset > cfg.rest_tolerance,
        ],
        ["ok", "thrown out", "fell through", "left the area", "fell through", "rests too high"],
        default="still moving",
    ).tolist()
    pass_fraction = float(passed.mean())
    return DropTestResult(
        engine=cfg.engine,
        starts=starts,
        ends=ends,
        surface_heights=surface_heights,
        errors=errors,
        speeds=speeds,
        kinds=kinds,
        passed=passed,
        reasons=reasons,
        pass_fraction=pass_fraction,
        min_pass_fraction=cfg.min_pass_fraction,
        ok=pass_fraction >= cfg.min_pass_fraction,
        seconds=seconds,
        notes=notes,
    )


def load_visual_triangles(world_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangles of every visual mesh in the world frame.

    Visual meshes are the ``Mesh`` prims under ``/World/Visual``; when there is
    no such scope, every mesh that is neither a collider nor ``purpose = guide``.

    Returns:
        vertices: (V, 3) float64 [m]; triangles: (T, 3) int64 vertex indices;
        normals: (T, 3) float64 unit triangle normals, oriented by the authored
        normals where present, else by winding.

    Raises:
        WorldgenError: the stage cannot be opened or holds no visual mesh.
    """
    from pxr import Usd, UsdGeom, UsdPhysics

    stage = Usd.Stage.Open(str(world_path))
    if stage is None:
        raise WorldgenError(f"{world_path}: cannot open as a USD stage")
    visual_root = stage.GetPrimAtPath("/World/Visual")
    if visual_root.IsValid():
        prims = [p for p in Usd.PrimRange(visual_root) if p.IsA(UsdGeom.Mesh)]
    else:
        prims = [
            p
            for p in stage.Traverse()
            if p.IsA(UsdGeom.Mesh)
            and not p.HasAPI(UsdPhysics.CollisionAPI)
            and UsdGeom.Imageable(p).ComputePurpose() != UsdGeom.Tokens.guide
        ]
    all_vertices, all_triangles, all_normals, offset = [], [], [], 0
    for prim in prims:
        vertices, triangles, normals = _mesh_triangles(UsdGeom.Mesh(prim))
        if len(triangles) == 0:
            continue
        all_vertices.append(vertices)
        all_triangles.append(triangles + offset)
        all_normals.append(normals)
        offset += len(vertices)
    if not all_triangles:
        raise WorldgenError(
            f"{world_path}: no visual mesh with triangles under /World/Visual; the drop test needs the "
            "visual surface to place probes and to measure where they come to rest"
        )
    return np.concatenate(all_vertices), np.concatenate(all_triangles), np.concatenate(all_normals)


def _mesh_triangles(mesh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from pxr import Usd, UsdGeom

    points = np.asarray(mesh.GetPointsAttr().Get() or [], dtype=np.float64).reshape(-1, 3)
    counts = np.asarray(mesh.GetFaceVertexCountsAttr().Get() or [], dtype=np.int64)
    indices = np.asarray(mesh.GetFaceVertexIndicesAttr().Get() or [], dtype=np.int64)
    if len(points) == 0 or len(counts) == 0 or counts.sum() != len(indices):
        return points, np.zeros((0, 3), np.int64), np.zeros((0, 3))
    # Fan-triangulate every polygon at once: triangle k of a face uses corners 0, k+1, k+2.
    face_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    tris_per_face = np.maximum(counts - 2, 0)
    face_of_tri = np.repeat(np.arange(len(counts)), tris_per_face)
    first_tri = np.concatenate([[0], np.cumsum(tris_per_face)[:-1]])
    k = np.arange(len(face_of_tri)) - first_tri[face_of_tri]
    corners = face_start[face_of_tri][:, None] + np.stack([np.zeros_like(k), k + 1, k + 2], axis=1)
    triangles = indices[corners]

    matrix = np.asarray(mesh.ComputeLocalToWorldTransform(Usd.TimeCode.Default()), dtype=np.float64)
    vertices = points @ matrix[:3, :3] + matrix[3, :3]  # USD matrices act on row vectors
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    if mesh.GetOrientationAttr().Get() == UsdGeom.Tokens.leftHanded:
        normals = -normals
    authored = _authored_triangle_normals(mesh, triangles, corners, face_of_tri, len(points), len(indices))
    if authored is not None:
        # Normals transform with the inverse transpose; for row vectors that is n @ inv(M3)^T.
        authored = authored @ np.linalg.inv(matrix[:3, :3]).T
        flip = np.einsum("ij,ij->i", normals, authored) < 0
        normals[flip] = -normals[flip]
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    return vertices, triangles, normals


def _authored_triangle_normals(mesh, triangles, corners, face_of_tri, num_points, num_corners):
    """(T, 3) summed authored normals per triangle, or None when none usable are authored."""
    from pxr import UsdGeom

    primvar = UsdGeom.PrimvarsAPI(mesh).GetPrimvar("normals")
    if primvar and primvar.HasAuthoredValue():
        values, interpolation = primvar.ComputeFlattened(), primvar.GetInterpolation()
    else:
        values, interpolation = mesh.GetNormalsAttr().Get(), mesh.GetNormalsInterpolation()
    if not values:
        return None
    values = np.asarray(values, dtype=np.float64).reshape(-1, 3)
    if interpolation in (UsdGeom.Tokens.vertex, UsdGeom.Tokens.varying) and len(values) == num_points:
        return values[triangles].sum(axis=1)
    if interpolation == UsdGeom.Tokens.faceVarying and len(values) == num_corners:
        return values[corners].sum(axis=1)
    if interpolation == UsdGeom.Tokens.uniform and len(values) > face_of_tri.max(initial=-1):
        return values[face_of_tri]
    return None


def surface_map(vertices: np.ndarray, triangles: np.ndarray, normals: np.ndarray, *, cfg: VerifyCfg) -> SurfaceMap:
    """Rasterise the mesh top-down into the map of surfaces probes can be dropped onto.

    Casts one vertical ray per cell (exact ray-triangle tests, vectorised over
    triangle/cell pairs). A hit is a drop surface when it faces up and nothing
    else lies above it within the probe's fall (``drop_height + 2 * probe_radius``),
    so ceilings and table undersides are skipped and floors under tables kept.

    Args:
        vertices: (V, 3) float64 [m]; triangles: (T, 3) int64; normals: (T, 3) unit.
        cfg: probe radius (sets the cell, half the radius) and drop height.
    """
    tri = vertices[triangles]  # (T, 3 corners, 3)
    lo, hi = tri[:, :, :2].min(axis=(0, 1)), tri[:, :, :2].max(axis=(0, 1))
    cell = cfg.probe_radius / 2.0
    extent = np.maximum(hi - lo, cell)
    cell = max(cell, float(np.sqrt(extent[0] * extent[1] / _MAX_CELLS)))
    cols, rows = (np.ceil(extent / cell).astype(np.int64) + 1).tolist()
    origin = lo

    # Cell index range covered by each triangle's xy bounding box.
    tmin = np.ceil((tri[:, :, :2].min(axis=1) - origin) / cell).astype(np.int64)
    tmax = np.floor((tri[:, :, :2].max(axis=1) - origin) / cell).astype(np.int64)
    tmin = np.maximum(tmin, 0)
    tmax = np.minimum(tmax, [cols - 1, rows - 1])
    span = np.maximum(tmax - tmin + 1, 0)
    pairs_per_tri = span[:, 0] * span[:, 1]

    cell_ids, hit_z, hit_nz = [], [], []
    bounds = np.searchsorted(
        np.cumsum(pairs_per_tri), np.arange(1, 1 + pairs_per_tri.sum() // _PAIRS_PER_CHUNK) * _PAIRS_PER_CHUNK
    )
    for chunk in np.split(np.arange(len(tri)), np.unique(bounds)):
        if len(chunk) == 0:
            continue
        counts = pairs_per_tri[chunk]
        t = np.repeat(chunk, counts)
        if len(t) == 0:
            continue
        local = np.arange(len(t)) - np.repeat(np.cumsum(counts) - counts, counts)
        ix = tmin[t, 0] + local % span[t, 0]
        iy = tmin[t, 1] + local // span[t, 0]
        px, py = origin[0] + ix * cell, origin[1] + iy * cell
        a, b, c = tri[t, 0], tri[t, 1], tri[t, 2]
        e1x, e1y, e2x, e2y = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1], c[:, 0] - a[:, 0], c[:, 1] - a[:, 1]
        dx, dy = px - a[:, 0], py - a[:, 1]
        det = e1x * e2y - e2x * e1y
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (dx * e2y - e2x * dy) / det
            v = (e1x * dy - dx * e1y) / det
        eps = 1e-9
        inside = (np.abs(det) > 1e-14) & (u >= -eps) & (v >= -eps) & (u + v <= 1 + eps)
        z = a[:, 2] + u * (b[:, 2] - a[:, 2]) + v * (c[:, 2] - a[:, 2])
        cell_ids.append((iy * cols + ix)[inside])
        hit_z.append(z[inside])
        hit_nz.append(normals[t[inside], 2])
    heights = np.full(rows * cols, np.nan)
    if cell_ids:
        cell_id, z, nz = np.concatenate(cell_ids), np.concatenate(hit_z), np.concatenate(hit_nz)
        order = np.lexsort((z, cell_id))
        cell_id, z, nz = cell_id[order], z[order], nz[order]
        # Collapse repeated hits on one surface (rays through shared edges), keeping the upper copy.
        same_as_next = (cell_id[:-1] == cell_id[1:]) & (z[1:] - z[:-1] < _SAME_SURFACE)
        keep = np.concatenate([~same_as_next, [True]])
        cell_id, z, nz = cell_id[keep], z[keep], nz[keep]
        next_in_cell = np.concatenate([cell_id[1:] == cell_id[:-1], [False]])
        gap_above = np.where(next_in_cell, np.concatenate([z[1:], [np.inf]]) - z, np.inf)
        clearance = cfg.drop_height + 2.0 * cfg.probe_radius
        usable = (nz > _UPWARD_NZ) & (gap_above > clearance)
        best = np.full(rows * cols, -np.inf)
        np.maximum.at(best, cell_id[usable], z[usable])
        heights = np.where(np.isfinite(best), best, np.nan)
    return SurfaceMap(origin=origin, cell=cell, heights=heights.reshape(rows, cols))


def place_probes(surface: SurfaceMap, *, cfg: VerifyCfg) -> tuple[np.ndarray, list[str], list[str]]:
    """Choose probe release points over flat ground and flat object tops.

    A cell is a drop site when every cell within ``flat_radius_factor * probe_radius``
    has a drop surface and their heights differ by at most ``flat_tolerance``, so a
    probe neither rolls off an edge nor lands on a slope. Half the probes go over
    object tops (surfaces higher than ``ground_max_height``) when there are any.
    Probes are spread at least two radii apart.

    Returns:
        starts: (N, 3) float64 release centres (surface + radius + drop_height) [m];
        kinds: N of ``"ground"`` / ``"object"``; notes: placement remarks.

    Raises:
        WorldgenError: there is no flat drop site at all.
    """
    from scipy import ndimage

    heights = surface.heights
    radius_cells = int(np.ceil(cfg.flat_radius_factor * cfg.probe_radius / surface.cell))
    yy, xx = np.mgrid[-radius_cells : radius_cells + 1, -radius_cells : radius_cells + 1]
    footprint = xx**2 + yy**2 <= radius_cells**2
    valid = np.isfinite(heights)
    all_valid = ndimage.minimum_filter(valid.astype(np.uint8), footprint=footprint, mode="constant", cval=0) == 1
    high = ndimage.maximum_filter(np.where(valid, heights, -np.inf), footprint=footprint, mode="nearest")
    low = ndimage.minimum_filter(np.where(valid, heights, np.inf), footprint=footprint, mode="nearest")
    flat = all_valid & (high - low <= cfg.flat_tolerance)
    rows, cols = np.nonzero(flat)
    xy = surface.origin + np.stack([cols, rows], axis=1) * surface.cell
    z = heights[rows, cols]
    is_object = z > cfg.ground_max_height
    notes: list[str] = []
    if len(z) == 0:
        raise WorldgenError(
            "drop test: the visual mesh has no flat, upward-facing area wide enough for a probe of radius "
            f"{cfg.probe_radius} m (verify.probe_radius, verify.flat_tolerance)"
        )
    rng = np.random.default_rng(cfg.seed)
    num_object = cfg.num_probes // 2 if is_object.any() else 0
    if not is_object.any():
        notes.append("no flat object tops found: all probes dropped over the ground")
    if (~is_object).sum() == 0:
        notes.append("no flat ground found: all probes dropped over object tops")
        num_object = cfg.num_probes
    # Probes never collide with each other (see _simulate_newton); the spacing only spreads them out.
    separation = 2.0 * cfg.probe_radius
    chosen: list[int] = []
    groups = (("object tops", num_object, is_object), ("ground", cfg.num_probes - num_object, ~is_object))
    for label, want, in_group in groups:
        # The ground takes over what object tops could not hold, so the total stays num_probes.
        want = want if label == "object tops" else cfg.num_probes - len(chosen)
        picked = _spread_sample(xy, np.flatnonzero(in_group), want, separation, chosen, rng)
        if len(picked) < want:
            notes.append(f"only {len(picked)} of {want} probes fit over the {label}")
        chosen += picked
    index = np.asarray(chosen, dtype=np.int64)
    starts = np.column_stack([xy[index], z[index] + cfg.probe_radius + cfg.drop_height])
    kinds = [OBJECT if is_object[i] else GROUND for i in index]
    return starts, kinds, notes


def _spread_sample(xy, pool, want, separation, already, rng) -> list[int]:
    """Up to ``want`` indices from ``pool`` (random order) at least ``separation`` from each other and ``already``."""
    picked: list[int] = []
    if want <= 0 or len(pool) == 0:
        return picked
    taken = xy[already] if already else np.zeros((0, 2))
    # Bounded number of tries: the first few thousand random candidates are plenty for tens of probes.
    for candidate in rng.permutation(pool)[: max(5000, 50 * want)]:
        if len(taken) and np.min(np.sum((taken - xy[candidate]) ** 2, axis=1)) < separation**2:
            continue
        picked.append(int(candidate))
        taken = np.vstack([taken, xy[candidate]])
        if len(picked) == want:
            break
    return picked


def _simulate_newton(world_path: Path, starts: np.ndarray, *, cfg: VerifyCfg, progress: Progress):
    """Load the colliders, add free probe spheres, simulate.

    Returns:
        (N, 3) end centres [m], (N,) end speeds [m/s], and how many shapes Newton loaded from the world.
    """
    try:
        import warp as wp
    except ImportError:
        raise missing_dependency("warp", extra="verify", purpose="the physics drop test") from None
    settings = {"log_level": wp.LOG_WARNING}  # keep warp's per-module load lines out of the report
    if cfg.kernel_cache_dir:
        settings["kernel_cache_dir"] = str(cfg.kernel_cache_dir)
    with warp_settings(**settings):  # warp's config is the host's (Kit's): restored afterwards
        return _simulate_with_warp(wp, world_path, starts, cfg=cfg, progress=progress)


def _simulate_with_warp(wp, world_path: Path, starts: np.ndarray, *, cfg: VerifyCfg, progress: Progress):
    try:
        import newton
    except ImportError:
        raise missing_dependency("newton", extra="verify", purpose="the physics drop test") from None
    wp.init()
    log.info(
        "newton on '%s': kernels compile on first use (~100 s on 2 cores), cached in %s",
        cfg.device, wp.config.kernel_cache_dir,
    )
    builder = newton.ModelBuilder()
    try:
        builder.add_usd(str(world_path), load_visual_shapes=False, load_static_visual_shapes=False)
    except Exception as exc:  # Newton's USD importer raises plain exceptions on malformed physics data
        raise WorldgenError(f"{world_path}: Newton could not load the physics of this world ({exc})") from exc
    world_shapes = builder.shape_count
    probe_cfg = newton.ModelBuilder.ShapeConfig()
    # Negative group: probes hit every collider but never each other.
    probe_cfg.collision_group = -1
    # Some rolling resistance (as a rubber ball has) so that a probe nudged sideways by a
    # contact on a triangle edge settles instead of rolling on for the rest of the run.
    probe_cfg.mu_rolling = cfg.probe_rolling_friction
    probe_bodies = []
    for i, start in enumerate(starts):
        body = builder.add_body(
            xform=wp.transform(p=wp.vec3(*start.tolist()), q=wp.quat_identity()), label=f"verify_probe_{i}"
        )
        builder.add_shape_sphere(body, radius=cfg.probe_radius, cfg=probe_cfg)
        probe_bodies.append(body)
    model = builder.finalize(device=cfg.device)
    solver = newton.solvers.SolverXPBD(model, iterations=cfg.solver_iterations)
    pipeline = newton.CollisionPipeline(model)
    contacts = pipeline.contacts()
    state, next_state, control = model.state(), model.state(), model.control()
    steps = int(np.ceil(cfg.sim_seconds / cfg.sim_dt))
    for step in range(steps):
        state.clear_forces()
        pipeline.collide(state, contacts)
        solver.step(state, next_state, control, contacts, cfg.sim_dt)
        state, next_state = next_state, state
        progress.step(step + 1, steps, "drop test steps")
    body_q = state.body_q.numpy()[probe_bodies]
    body_qd = state.body_qd.numpy()[probe_bodies]
    ends = body_q[:, :3].astype(np.float64)
    speeds = np.linalg.norm(body_qd[:, :3].astype(np.float64), axis=1)
    # A probe that fell out of the world can overflow to inf/NaN; it simply fails.
    ends[~np.isfinite(ends)] = np.nan
    speeds[~np.isfinite(speeds)] = np.inf
    return ends, speeds, world_shapes

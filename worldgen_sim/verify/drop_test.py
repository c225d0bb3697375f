"""Physics drop test: do probes dropped onto the observed surface come to rest on it?

Probe spheres are placed over flat parts of the surface the *input observed*
(:mod:`worldgen_sim.verify.observed`: the world's splats or ``evidence.npz``;
half over the observed ground, half over object tops), dropped with the world's
colliders loaded from ``world.usda`` (:func:`simulate_drops`: Newton on warp's CPU
device, or PhysX through :mod:`worldgen_sim.verify.physx_engine`, ovphysx in its own
environment), and a probe passes when it ends at rest with its bottom within
``rest_tolerance`` of the observed surface below it. A missing, holed or
misplaced collider shows up as probes that fall through or rest at the wrong
height. A world without evidence falls back to the visual mesh for both
placement and scoring, and says so: it then only checks itself.

Warp compiles Newton's kernels on first use (about 100 s on 2 CPU cores) and
caches them in ``~/.cache/warp`` (or ``$WARP_CACHE_PATH``, or
``VerifyCfg.kernel_cache_dir``); later runs load them in well under a second.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError, missing_dependency
from worldgen_sim.progress import Progress
from worldgen_sim.runtime import init_warp, warp_settings
from worldgen_sim.verify.observed import ObservedGround
from worldgen_sim.verify.physx_engine import DropSimulation
from worldgen_sim.verify.physx_engine import simulate_drops as _simulate_physx
from worldgen_sim.verify.surfaces import SurfaceMap, load_visual_triangles, surface_map
from worldgen_sim.verify.verify_cfg import VerifyCfg

__all__ = ["GROUND", "OBJECT", "DropTestResult", "place_probes", "run_drop_test", "simulate_drops"]

log = logging.getLogger(__name__)

GROUND = "ground"
OBJECT = "object"

_GRAVITY = 9.81  # [m/s^2]


@dataclass(eq=False)
class DropTestResult:
    """Outcome of one drop test.

    Attributes:
        engine: physics engine that ran it (``"newton"`` or ``"physx"``).
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
        seconds: wall time of the simulation, kernel loading included [s]; not in :meth:`to_dict`
            (``verify.json`` holds no timings, so it is reproducible).
        notes: anything the reader should know (e.g. no object tops found).
        simulation: the engine's raw output: which colliders it loaded, its own warnings.
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
    simulation: DropSimulation | None = None

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
            "notes": list(self.notes),
            "engine_messages": list(self.simulation.messages) if self.simulation else [],
            "probes": probes,
        }


def run_drop_test(
    world_path: str | Path,
    *,
    cfg: VerifyCfg,
    observed: ObservedGround | None = None,
    progress: Progress | None = None,
    engine: str = "newton",
) -> DropTestResult:
    """Drop probe spheres onto the observed surface in a physics engine and check where they rest.

    Args:
        world_path: the composed ``world.usda`` (colliders anywhere, Z-up, metres).
        cfg: probe count, radius, drop height, simulated time, tolerances, seed, engine.
        observed: the input's evidence as a map; None places and scores probes on the
            visual mesh under ``/World/Visual`` instead (the world then checks itself).
        progress: progress reporter; silent when None.
        engine: ``"newton"`` or ``"physx"``; probe placement does not depend on it, so
            every engine drops the same probes.

    Returns:
        Per-probe starts, ends, surface heights, errors and pass flags, and the summary.

    Raises:
        WorldgenError: bad options, no flat surface to drop onto, no visual mesh (without
            evidence), an unsupported engine, or the engine not installed.
    """
    progress = progress or Progress(quiet=True)
    cfg.validate()
    if engine not in _SIMULATORS:
        raise WorldgenError(
            f"verify.engine: '{engine}' is not a drop-test engine; expected one of {sorted(_SIMULATORS)}"
        )
    world_path = Path(world_path)
    with progress.stage("drop test: probe placement"):
        if observed is not None:
            surface, ground = observed.surface, observed.ground
            notes = [f"probes placed over and scored against the observed surface ({observed.source})"]
        else:
            vertices, triangles, normals = load_visual_triangles(world_path)
            surface, ground = surface_map(vertices, triangles, normals, cfg=cfg), None
            notes = ["no evidence (splats or evidence.npz): probes placed over and scored against the visual mesh"]
        starts, kinds, placement_notes = place_probes(surface, cfg=cfg, ground=ground)
        notes += placement_notes
    t0 = time.perf_counter()
    sim = simulate_drops(world_path, starts, cfg=cfg, progress=progress, engine=engine)
    seconds = time.perf_counter() - t0
    if sim.loaded is not None:
        notes.append(f"{engine} loaded {len(sim.loaded)} collision shapes from {world_path.name}")
    return _score(surface, starts, sim, kinds, cfg=cfg, seconds=seconds, notes=notes, engine=engine)


def simulate_drops(
    world_path: Path, starts: np.ndarray, *, cfg: VerifyCfg, progress: Progress, engine: str = "newton"
) -> DropSimulation:
    """The physics seam: drop free probe spheres among the world's colliders and report where they end.

    Args:
        world_path: the composed ``world.usda``.
        starts: (N, 3) float64 release centres [m].
        cfg: probe radius, simulated time and step, solver settings, device.
        progress: progress reporter.
        engine: ``"newton"`` or ``"physx"``.

    Returns:
        The engine's :class:`~worldgen_sim.verify.physx_engine.DropSimulation`: (N, 3) end centres [m]
        (NaN where a probe left the simulation), (N,) end speeds [m/s] (inf likewise), the colliders
        it loaded and its own warnings.

    Raises:
        WorldgenError: an unsupported engine, or the engine not installed.
    """
    if engine not in _SIMULATORS:
        raise WorldgenError(
            f"verify.engine: '{engine}' is not a drop-test engine; expected one of {sorted(_SIMULATORS)}"
        )
    with progress.stage(f"drop test: {engine} simulation"):
        return _SIMULATORS[engine](world_path, starts, cfg=cfg, progress=progress)


def _score(surface, starts, sim: DropSimulation, kinds, *, cfg, seconds, notes, engine: str) -> DropTestResult:
    """Judge each probe's end against the surface map below it."""
    ends, speeds = sim.ends, sim.speeds
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
        engine=engine,
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
        simulation=sim,
    )


def place_probes(
    surface: SurfaceMap, *, cfg: VerifyCfg, ground: np.ndarray | None = None
) -> tuple[np.ndarray, list[str], list[str]]:
    """Choose probe release points over flat ground and flat object tops.

    A cell is a drop site when every cell within ``flat_radius_factor * probe_radius``
    has a drop surface and their heights differ by at most ``flat_tolerance``, so a
    probe neither rolls off an edge nor lands on a slope. Half the probes go over
    object tops when there are any: cells outside ``ground`` ((H, W) bool, the
    observed ground), or without it surfaces higher than ``ground_max_height``.
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
    is_object = ~ground[rows, cols] if ground is not None else z > cfg.ground_max_height
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
        End centres and speeds, the world's colliders and those Newton made shapes for.
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
    # Before newton's import (which may start warp): on a CPU run no "CUDA driver not found" line.
    init_warp(want_cuda=cfg.device.startswith("cuda"))
    try:
        import newton
    except ImportError:
        raise missing_dependency("newton", extra="verify", purpose="the physics drop test") from None
    log.info(
        "newton on '%s': kernels compile on first use (~100 s on 2 cores), cached in %s",
        cfg.device, wp.config.kernel_cache_dir,
    )
    builder = newton.ModelBuilder()
    try:
        builder.add_usd(str(world_path), load_visual_shapes=False, load_static_visual_shapes=False)
    except Exception as exc:  # Newton's USD importer raises plain exceptions on malformed physics data
        raise WorldgenError(f"{world_path}: Newton could not load the physics of this world ({exc})") from exc
    finally:
        # Newton's importer leaves its stage in a reference cycle (newton 1.x `_UsdVisuals` closures),
        # which keeps the world's layers in USD's registry until the next collection: a world
        # rebuilt in place would then be read stale or refused ("A layer already exists").
        gc.collect()
    colliders = _collider_paths(world_path)
    loaded = sorted({str(label) for label in builder.shape_label} & set(colliders))
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
    stillness = _Stillness(cfg)
    for step in range(steps):
        state.clear_forces()
        pipeline.collide(state, contacts)
        solver.step(state, next_state, control, contacts, cfg.sim_dt)
        state, next_state = next_state, state
        if stillness.due(step + 1) and stillness.settled(state.body_qd.numpy()[probe_bodies, :3]):
            log.info("drop test: every probe at rest after %.2f of %.2f s simulated", (step + 1) * cfg.sim_dt,
                     cfg.sim_seconds)  # fmt: skip
            progress.step(steps, steps, "drop test steps")
            break
        progress.step(step + 1, steps, "drop test steps")
    body_q = state.body_q.numpy()[probe_bodies]
    body_qd = state.body_qd.numpy()[probe_bodies]
    ends = body_q[:, :3].astype(np.float64)
    speeds = np.linalg.norm(body_qd[:, :3].astype(np.float64), axis=1)
    # A probe that fell out of the world can overflow to inf/NaN; it simply fails.
    ends[~np.isfinite(ends)] = np.nan
    speeds[~np.isfinite(speeds)] = np.inf
    return DropSimulation(ends=ends, speeds=speeds, colliders=colliders, loaded=loaded)


class _Stillness:
    """Ends a drop test early once every probe has stayed still (``verify.stop_at_rest``).

    Checked every 50 ms of simulated time, and only after the slowest possible fall
    (``drop_height`` from rest) plus 0.1 s: before that a probe may hang at the top of
    its release. Still means slower than a quarter of ``rest_speed`` at three checks in
    a row (150 ms), so a probe at the top of a bounce (still for an instant) or one
    starting to roll off an edge is not taken for one at rest. Deterministic: the
    same world and probes stop at the same step.
    """

    def __init__(self, cfg: VerifyCfg) -> None:
        self.enabled = cfg.stop_at_rest
        self.every = max(1, round(0.05 / cfg.sim_dt))
        self.earliest = int(np.ceil((np.sqrt(2 * cfg.drop_height / 9.81) + 0.1) / cfg.sim_dt))
        self.limit = 0.25 * cfg.rest_speed
        self.quiet = 0

    def due(self, step: int) -> bool:
        return self.enabled and step >= self.earliest and step % self.every == 0

    def settled(self, velocities: np.ndarray) -> bool:
        """(N, 3) linear velocities [m/s] -> whether the probes have been still for three checks."""
        speeds = np.linalg.norm(velocities.astype(np.float64), axis=1)
        still = bool(np.all(np.isfinite(speeds)) and np.all(speeds < self.limit))
        self.quiet = self.quiet + 1 if still else 0
        return self.quiet >= 3


def _collider_paths(world_path: Path) -> list[str]:
    from pxr import Usd, UsdPhysics

    stage = Usd.Stage.Open(str(world_path))
    return sorted(str(p.GetPath()) for p in stage.Traverse() if p.HasAPI(UsdPhysics.CollisionAPI))


# The physics behind the drop test: (world_path, starts, *, cfg, progress) -> DropSimulation.
_SIMULATORS: dict[str, Callable[..., DropSimulation]] = {"newton": _simulate_newton, "physx": _simulate_physx}

"""Configuration of ``worldgen verify`` (validators and the drop test)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from worldgen_sim.validation import Checker

__all__ = ["VerifyCfg"]


@dataclass
class VerifyCfg:
    """What verification runs and what it accepts.

    Attributes:
        validators: run usd-core's UsdValidation and NVIDIA's validator.
        thorough_validation: also run NVIDIA's slow warning-only rules (mesh manifoldness,
            ~90% of validation time on a furnished room).
        drop_test: run the physics drop test.
        engine: which physics engines drop the probes: ``"newton"`` (Newton on warp's CPU device),
            ``"physx"`` (PhysX through ovphysx on the CPU, in its own environment), ``"both"``, or
            ``"auto"`` (every engine installed). Every engine drops the same probes.
        num_probes: probe bodies dropped over walkable ground and object tops.
        probe_radius: probe sphere radius [m].
        drop_height: probes start this far above the surface below them [m].
        sim_seconds: simulated time [s] (at most: see ``stop_at_rest``).
        stop_at_rest: end the Newton drop test early once every probe has been still
            (under a quarter of ``rest_speed``) for 150 ms of simulated time.
        rest_tolerance: a probe at rest within this distance of the visual surface passes [m].
        min_pass_fraction: the drop test passes when at least this fraction of probes pass.
        seed: probe placement seed.
        sim_dt: physics time step [s].
        solver_iterations: XPBD iterations per step.
        probe_rolling_friction: probes' rolling friction coefficient [m], so they settle.
        rest_speed: a probe slower than this at the end is at rest [m/s].
        flat_tolerance: probes are dropped only where the surface within
            ``flat_radius_factor * probe_radius`` varies by at most this [m].
        flat_radius_factor: radius of that flat neighbourhood, in probe radii.
        ground_max_height: drop surfaces up to this height are ground, higher ones
            object tops [m] (the floor is at z = 0).
        evidence_min_opacity: evidence Gaussians below this opacity are not observations [0-1].
        evidence_layer_gap: observed points of one cell further apart vertically than this
            belong to different surfaces [m].
        evidence_min_points: a surface layer of a cell needs at least this many observed points.
        evidence_overhead_gap: an observed layer with another this far or further below it
            is overhead (a ceiling), not a drop surface [m].
        ground_max_slope_deg: observed surfaces steeper than this are not ground [deg].
        ground_max_step: neighbouring ground cells differ in height by at most this [m]
            (a stair riser); it also joins stairs and landings into one ground.
        ground_min_area: connected gentle areas smaller than this are object tops, not ground [m^2],
            unless they lie at the floor's level (within ``ground_max_height`` of z = 0).
        collider_tolerance: observed ground counts as covered when a collider surface lies
            within this height of it [m].
        min_collider_coverage: verification fails when less of the observed ground than this
            fraction has a collider within ``collider_tolerance`` [0-1].
        min_walkable_coverage: a warning when less of the observed ground than this fraction
            is walkable in ``navigation.json`` [0-1].
        device: warp device for the simulation (``"cpu"``, or ``"cuda:0"`` when present).
        kernel_cache_dir: where warp caches compiled kernels; None keeps warp's default
            (``$WARP_CACHE_PATH`` or ``~/.cache/warp``).
        physx_python: Python interpreter of the environment with ovphysx (the ``physx`` extra); None
            looks for ``$WORLDGEN_PHYSX_PYTHON``, this interpreter, then ``make isaac-venv``'s environment.
        physx_timeout: the PhysX run is abandoned after this long [s].
        engines_agree_tolerance: with two engines, the median difference of their probes' rest
            heights (probes that passed in both) must stay within this [m].
    """

    validators: bool = True
    thorough_validation: bool = False
    drop_test: bool = True
    engine: Literal["auto", "newton", "physx", "both"] = "auto"
    num_probes: int = 40
    probe_radius: float = 0.05
    drop_height: float = 0.5
    sim_seconds: float = 1.5
    stop_at_rest: bool = True
    rest_tolerance: float = 0.03
    min_pass_fraction: float = 0.95
    seed: int = 0
    sim_dt: float = 0.002
    solver_iterations: int = 5
    probe_rolling_friction: float = 0.02
    rest_speed: float = 0.05
    flat_tolerance: float = 0.02
    flat_radius_factor: float = 3.0
    ground_max_height: float = 0.1
    evidence_min_opacity: float = 0.5
    evidence_layer_gap: float = 0.05
    evidence_min_points: int = 1
    evidence_overhead_gap: float = 1.8
    ground_max_slope_deg: float = 30.0
    ground_max_step: float = 0.2
    ground_min_area: float = 1.0
    collider_tolerance: float = 0.03
    min_collider_coverage: float = 0.95
    min_walkable_coverage: float = 0.5
    device: str = "cpu"
    kernel_cache_dir: str | None = None
    physx_python: str | None = None
    physx_timeout: float = 600.0
    engines_agree_tolerance: float = 0.01

    def validate(self) -> None:
        """Check every field (types, choices, ranges); raises WorldgenError naming ``verify.<field>``."""
        check = Checker(self, "verify")
        check.range("num_probes", ge=1)
        check.range("probe_radius", gt=0, unit="m")
        check.range("drop_height", gt=0, unit="m")
        check.range("sim_seconds", gt=0, le=60, unit="s")
        check.range("rest_tolerance", gt=0, unit="m")
        check.range("min_pass_fraction", ge=0, le=1)
        check.range("seed", ge=0)
        check.range("sim_dt", gt=0, le=0.1, unit="s")
        check.require(
            self.sim_dt < self.sim_seconds, "sim_dt", f"less than verify.sim_seconds ({self.sim_seconds:g} s)"
        )
        check.range("solver_iterations", ge=1)
        check.range("probe_rolling_friction", ge=0, unit="m")
        check.range("rest_speed", gt=0, unit="m/s")
        check.range("flat_tolerance", ge=0, unit="m")
        check.range("flat_radius_factor", ge=0, unit="probe radii")
        check.range("ground_max_height", ge=0, unit="m")
        check.require(re.fullmatch(r"cpu|cuda(:\d+)?", self.device) is not None, "device", "'cpu' or 'cuda:N'")
        check.range("physx_timeout", gt=0, unit="s")
        check.range("engines_agree_tolerance", gt=0, unit="m")

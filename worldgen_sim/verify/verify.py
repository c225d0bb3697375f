"""``worldgen verify OUT``: validate a world package and test its colliders against the input's evidence.

:func:`verify_world` runs usd-core's and NVIDIA's validators on ``OUT/world.usda``,
checks that it has colliders, maps the ground the input observed (the splats
layer, else ``OUT/evidence.npz``; :mod:`~worldgen_sim.verify.observed`), measures
how much of it has a collider and is walkable (:mod:`~worldgen_sim.verify.coverage`),
runs the drop test over it, writes ``OUT/verify.json`` and returns a
:class:`VerifyReport`; :func:`format_report` renders it as the table the CLI
prints. The CLI exits non-zero when ``report.passed`` is False.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.staging import write_text_atomic
from worldgen_sim.verify import engine_checks
from worldgen_sim.verify.collider_audit import ColliderAudit, audit_colliders
from worldgen_sim.verify.coverage import ground_coverage
from worldgen_sim.verify.drop_test import DropTestResult, run_drop_test
from worldgen_sim.verify.observed import ObservedGround, load_observed_points, observed_ground
from worldgen_sim.verify.validators import ValidationResult, check_layers_readable, validate_stage_file
from worldgen_sim.verify.verify_cfg import VerifyCfg

PASS, FAIL, WARN, SKIP = "pass", "FAIL", "warn", "skip"
WORLD_FILE = "world.usda"
REPORT_FILE = "verify.json"


@dataclass
class Check:
    """One line of the verification table.

    Attributes:
        name: what was checked.
        status: ``"pass"``, ``"FAIL"``, ``"warn"`` or ``"skip"``.
        detail: one-line explanation with the numbers.
    """

    name: str
    status: str
    detail: str


@dataclass(eq=False)
class VerifyReport:
    """Everything ``worldgen verify`` found about one world package.

    Attributes:
        out_dir: the world package folder.
        world: its ``world.usda``.
        passed: no check failed.
        checks: the table rows, in order.
        validation: validator findings on ``world.usda`` (None when not run).
        drop_test: the first engine's drop test (None when not run).
        drop_tests: every engine's drop test, by engine (same probes in each).
        collider_audit: what PhysX would refuse or change among the colliders (None when none).
        coverage: collider and walkable coverage of the observed ground (None without evidence or colliders).
        timings: seconds per part [s], the run's :attr:`Progress.timings <worldgen_sim.progress.Progress.timings>`;
            not written to ``verify.json``, which is byte-identical when the same world is verified again.
    """

    out_dir: str
    world: str
    passed: bool
    checks: list[Check] = field(default_factory=list)
    validation: ValidationResult | None = None
    drop_test: DropTestResult | None = None
    drop_tests: dict[str, DropTestResult] = field(default_factory=dict)
    collider_audit: ColliderAudit | None = None
    coverage: dict | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable form, as written to ``verify.json``."""
        return {
            "out_dir": self.out_dir,
            "world": self.world,
            "passed": self.passed,
            "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks],
            "validation": self.validation.to_dict() if self.validation else None,
            "coverage": self.coverage,
            "drop_test": self.drop_test.to_dict() if self.drop_test else None,
            "drop_tests": {engine: result.to_dict() for engine, result in self.drop_tests.items()},
            "collider_audit": self.collider_audit.to_dict() if self.collider_audit else None,
        }


def verify_world(
    out_dir: str | Path, *, cfg: VerifyCfg | None = None, progress: Progress | None = None
) -> VerifyReport:
    """Validate the world package in ``out_dir`` and drop-test its colliders.

    Args:
        out_dir: a folder written by ``worldgen build`` (holding ``world.usda``).
        cfg: which checks run and their thresholds; defaults when None.
        progress: progress reporter; silent when None.

    Returns:
        The report (also written to ``out_dir/verify.json``); ``report.passed`` is
        False when a validator reports an error, the world has no collider, or
        fewer than ``cfg.min_pass_fraction`` of the probes come to rest on the surface.

    Raises:
        WorldgenError: ``out_dir`` or ``out_dir/world.usda`` is missing, or
            ``world.usda`` or one of its layers is missing, empty or corrupt (named).
    """
    cfg = cfg or VerifyCfg()
    progress = progress or Progress(quiet=True)
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise WorldgenError(f"{out_dir}: world package folder does not exist (expected the OUT of 'worldgen build')")
    world = out_dir / WORLD_FILE
    if not world.is_file():
        raise WorldgenError(f"{out_dir}: no {WORLD_FILE} in this folder; is it the OUT of 'worldgen build'?")
    check_layers_readable(world)
    report = VerifyReport(out_dir=str(out_dir), world=str(world), passed=False)

    if cfg.validators:
        with progress.stage("verify: USD validators"):
            report.validation = validate_stage_file(world, thorough=cfg.thorough_validation)
        for name, found in report.validation.per_validator.items():
            status = FAIL if found.errors else (WARN if found.warnings else PASS)
            report.checks.append(
                Check(f"validator {name}", status, f"{len(found.errors)} errors, {len(found.warnings)} warnings")
            )
    else:
        report.checks.append(Check("validators", SKIP, "verify.validators is off"))

    colliders, scene = _physics_inventory(world)
    if colliders == 0:
        report.checks.append(
            Check("colliders", FAIL, "no prim has UsdPhysics.CollisionAPI: nothing in this world can be stood on")
        )
    else:
        report.checks.append(Check("colliders", PASS, f"{colliders} collider prims"))
        report.collider_audit = audit_colliders(world)
        report.checks += [Check(*row) for row in engine_checks.audit_rows(report.collider_audit)]
    if scene:
        report.checks.append(Check("physics scene", PASS, scene))
    else:
        report.checks.append(
            Check("physics scene", WARN, "no UsdPhysics.Scene: simulators fall back to their default gravity")
        )

    with progress.stage("verify: observed ground"):
        observed = _observed(world, cfg, report)
        if observed is not None and colliders:
            report.coverage = ground_coverage(observed, world, cfg=cfg)
            report.checks += _coverage_checks(report.coverage, cfg)

    if not cfg.drop_test:
        report.checks.append(Check("drop test", SKIP, "verify.drop_test is off"))
    elif colliders == 0:
        report.checks.append(Check("drop test", SKIP, "skipped: no colliders to land on"))
    else:
        _run_drop_tests(report, world, cfg, progress, observed)

    report.passed = all(check.status != FAIL for check in report.checks)
    report.timings = dict(progress.timings)
    _write_json_atomically(out_dir / REPORT_FILE, report.to_dict())
    return report


def _run_drop_tests(
    report: VerifyReport, world: Path, cfg: VerifyCfg, progress: Progress, observed: ObservedGround | None
) -> None:
    """The drop test in every engine asked for, whether each loaded every collider, and whether they agree."""
    engines = engine_checks.resolve_engines(cfg)
    for engine in engines:
        suffix = f" ({engine})" if len(engines) > 1 else ""  # one engine keeps the plain check names
        result = run_drop_test(world, cfg=cfg, observed=observed, progress=progress, engine=engine)
        report.drop_tests[engine] = result
        summary = f"{engine}: {_drop_summary(result, cfg)}"
        report.checks.append(Check(f"drop test{suffix}", PASS if result.ok else FAIL, summary))
        rows = engine_checks.loaded_rows(result, report.collider_audit, suffix=suffix)
        report.checks += [Check(*row) for row in rows]
    report.drop_test = next(iter(report.drop_tests.values()))
    if len(report.drop_tests) == 2:
        first, second = report.drop_tests.values()
        status, detail = engine_checks.agreement_detail(first, second, tolerance=cfg.engines_agree_tolerance)
        report.checks.append(Check(f"engines agree ({first.engine} vs {second.engine})", status, detail))


def _observed(world: Path, cfg: VerifyCfg, report: VerifyReport) -> ObservedGround | None:
    """The input's evidence as a map, with a check row saying where it came from (or that there is none)."""
    loaded = load_observed_points(world)
    if loaded is None:
        report.checks.append(
            Check(
                "evidence",
                WARN,
                "no splats layer or evidence.npz: probes are placed on and scored against the visual mesh, "
                "so the drop test only checks the world against itself",
            )
        )
        return None
    points, weights, source = loaded
    try:
        observed = observed_ground(points, weights, cfg=cfg, source=source)
    except WorldgenError as exc:
        report.checks.append(Check("evidence", WARN, f"{exc}; falling back to the visual mesh"))
        return None
    report.checks.append(
        Check(
            "evidence",
            PASS,
            f"{observed.num_points} opaque observed points ({source}); {observed.ground_area:.1f} m2 of observed "
            f"ground on {observed.surface.cell * 100:.1f} cm cells",
        )
    )
    return observed


def _coverage_checks(coverage: dict, cfg: VerifyCfg) -> list[Check]:
    """Rows for the collider and walkable coverage of the observed ground."""
    if coverage["collider_fraction"] is None:
        return [Check("ground coverage", WARN, "; ".join(coverage["notes"]))]
    fraction = coverage["collider_fraction"]
    rows = [
        Check(
            "collider coverage",
            PASS if fraction >= cfg.min_collider_coverage else FAIL,
            f"{fraction:.1%} of {coverage['observed_ground_m2']:.1f} m2 observed ground has a collider within "
            f"{cfg.collider_tolerance * 100:.0f} cm (need {cfg.min_collider_coverage:.0%})",
        )
    ]
    walkable = coverage["walkable_fraction"]
    if walkable is None:
        rows.append(Check("walkable coverage", SKIP, "; ".join(coverage["notes"]) or "not measured"))
    else:
        away = coverage["walkable_away_from_edges"]
        inner = f"; {away:.1%} of it an agent radius away from its edges" if away is not None else ""
        rows.append(
            Check(
                "walkable coverage",
                PASS if walkable >= cfg.min_walkable_coverage else WARN,
                f"{walkable:.1%} of the observed ground is walkable in navigation.json{inner} "
                f"(warn below {cfg.min_walkable_coverage:.0%})",
            )
        )
    return rows


def _physics_inventory(world: Path) -> tuple[int, str]:
    """Number of collider prims and the first physics scene's path ('' if none)."""
    from pxr import Usd, UsdPhysics

    stage = Usd.Stage.Open(str(world))
    if stage is None:
        raise WorldgenError(f"{world}: cannot open as a USD stage")
    colliders, scene = 0, ""
    for prim in stage.Traverse():
        if prim.HasAPI(UsdPhysics.CollisionAPI):
            colliders += 1
        elif not scene and prim.IsA(UsdPhysics.Scene):
            scene = str(prim.GetPath())
    return colliders, scene


def _drop_summary(result: DropTestResult, cfg: VerifyCfg) -> str:
    passed, total = int(result.passed.sum()), len(result.kinds)
    by_kind = []
    for kind in ("ground", "object"):
        of_kind = [i for i, k in enumerate(result.kinds) if k == kind]
        if of_kind:
            by_kind.append(f"{kind} {int(result.passed[of_kind].sum())}/{len(of_kind)}")
    failures: dict[str, int] = {}
    for reason in result.reasons:
        if reason != "ok":
            failures[reason] = failures.get(reason, 0) + 1
    why = "; " + ", ".join(f"{n} {reason}" for reason, n in failures.items()) if failures else ""
    return (
        f"{passed}/{total} probes at rest within {cfg.rest_tolerance * 100:.0f} cm of the surface "
        f"({result.pass_fraction:.0%}, need {result.min_pass_fraction:.0%}; {', '.join(by_kind)}){why}"
    )


def _write_json_atomically(path: Path, data: dict) -> None:
    """Write the report through :func:`write_text_atomic`, so readers never see half a file."""
    try:
        write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        raise WorldgenError(f"{path}: cannot write the verification report ({exc.strerror})") from None


def format_report(report: VerifyReport, *, max_probe_rows: int = 60) -> str:
    """The verification table ``worldgen verify`` prints.

    Args:
        report: what :func:`verify_world` returned.
        max_probe_rows: list at most this many probes (failed ones first).
    """
    lines = [f"worldgen verify {report.out_dir}: {'PASSED' if report.passed else 'FAILED'}", ""]
    width = max(len(c.name) for c in report.checks) if report.checks else 10
    lines.append(f"  {'check'.ljust(width)}  result  detail")
    for check in report.checks:
        lines.append(f"  {check.name.ljust(width)}  {check.status.ljust(6)}  {check.detail}")
    if report.validation and report.validation.errors:
        lines += ["", f"Validation errors ({len(report.validation.errors)}):"]
        lines += [f"  {line}" for line in report.validation.errors]
    if report.validation and report.validation.warnings:
        lines += ["", f"Validation warnings ({len(report.validation.warnings)}):"]
        lines += [f"  {line}" for line in report.validation.warnings]
    for drop in report.drop_tests.values() or ([report.drop_test] if report.drop_test else []):
        surface = "observed" if drop.notes and "observed surface" in drop.notes[0] else "visual"
        lines += ["", f"Drop test probes in {drop.engine} (heights in m; error = |probe bottom - {surface} surface|):"]
        lines.append(
            f"  {'#':>3}  {'over':6}  {'start x, y, z':>22}  {'end x, y, z':>24}  "
            f"{'surface':>8}  {'error':>8}  {'speed':>6}  result"
        )
        order = sorted(range(len(drop.kinds)), key=lambda i: (bool(drop.passed[i]), i))
        for i in order[:max_probe_rows]:
            start = ", ".join(f"{v:6.2f}" for v in drop.starts[i])
            end = ", ".join(_number(v, 7) for v in drop.ends[i])
            lines.append(
                f"  {i:>3}  {drop.kinds[i]:6}  {start:>22}  {end:>24}  {_number(drop.surface_heights[i], 8)}  "
                f"{_number(drop.errors[i], 8, 3)}  {_number(drop.speeds[i], 6)}  {drop.reasons[i]}"
            )
        if len(order) > max_probe_rows:
            lines.append(f"  ... {len(order) - max_probe_rows} more in verify.json")
        lines += [f"  note: {note}" for note in drop.notes]
    if not report.passed:
        lines += ["", _diagnosis(report)]
    lines.append(f"Report written to {Path(report.out_dir) / REPORT_FILE}")
    return "\n".join(lines)


def _number(value: float, width: int, decimals: int = 2) -> str:
    import math

    return f"{value:{width}.{decimals}f}" if math.isfinite(value) else "-".rjust(width)


def _diagnosis(report: VerifyReport) -> str:
    """One line saying what most likely went wrong."""
    failed = [c.name for c in report.checks if c.status == FAIL]
    hints = []
    drop = report.drop_test
    if drop is not None and not drop.ok:
        fell = [k for k, r in zip(drop.kinds, drop.reasons) if r == "fell through"]
        high = sum(r == "rests too high" for r in drop.reasons)
        if fell:
            where = " and ".join(sorted(set(fell)))
            hints.append(f"{len(fell)} probes fell through the {where}: a collider is missing or has holes there")
        thrown = sum(r == "thrown out" for r in drop.reasons)
        if thrown:
            hints.append(
                f"{thrown} probes were thrown out at high speed: they started inside a collider, "
                "so a collider fills free space above the visual surface"
            )
        if high:
            hints.append(f"{high} probes rest above the observed surface: colliders stick out of what the input saw")
    if any(name.startswith("validator") for name in failed):
        hints.append("fix the validation errors listed above")
    if "collider coverage" in failed:
        hints.append("part of the ground the input observed has no collider at its height (holes or offsets)")
    if "colliders" in failed:
        hints.append("the world has no colliders: rebuild it with the collision stage enabled")
    return "Failed: " + ", ".join(failed) + (". " + "; ".join(hints) + "." if hints else ".")

"""``worldgen verify OUT``: validate a world package and drop-test its colliders.

:func:`verify_world` runs usd-core's and NVIDIA's validators on ``OUT/world.usda``,
checks that it has colliders, runs the Newton drop test, writes
``OUT/verify.json`` and returns a :class:`VerifyReport`; :func:`format_report`
renders it as the table the CLI prints. The CLI exits non-zero when
``report.passed`` is False.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.staging import write_text_atomic
from worldgen_sim.verify.drop_test import DropTestResult, run_drop_test
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
        drop_test: the drop test (None when not run).
        timings: seconds per part [s].
    """

    out_dir: str
    world: str
    passed: bool
    checks: list[Check] = field(default_factory=list)
    validation: ValidationResult | None = None
    drop_test: DropTestResult | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable form, as written to ``verify.json``."""
        return {
            "out_dir": self.out_dir,
            "world": self.world,
            "passed": self.passed,
            "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks],
            "validation": self.validation.to_dict() if self.validation else None,
            "drop_test": self.drop_test.to_dict() if self.drop_test else None,
            "timings": {name: round(seconds, 3) for name, seconds in self.timings.items()},
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
        start = time.perf_counter()
        with progress.stage("verify: USD validators"):
            report.validation = validate_stage_file(world, thorough=cfg.thorough_validation)
        report.timings["validators"] = time.perf_counter() - start
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
    if scene:
        report.checks.append(Check("physics scene", PASS, scene))
    else:
        report.checks.append(
            Check("physics scene", WARN, "no UsdPhysics.Scene: simulators fall back to their default gravity")
        )

    if not cfg.drop_test:
        report.checks.append(Check("drop test", SKIP, "verify.drop_test is off"))
    elif colliders == 0:
        report.checks.append(Check("drop test", SKIP, "skipped: no colliders to land on"))
    else:
        start = time.perf_counter()
        report.drop_test = run_drop_test(world, cfg=cfg, progress=progress)
        report.timings["drop_test"] = time.perf_counter() - start
        report.checks.append(
            Check("drop test", PASS if report.drop_test.ok else FAIL, _drop_summary(report.drop_test, cfg))
        )

    report.passed = all(check.status != FAIL for check in report.checks)
    _write_json_atomically(out_dir / REPORT_FILE, report.to_dict())
    return report


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
    drop = report.drop_test
    if drop is not None:
        lines += ["", "Drop test probes (heights in m; error = |probe bottom - visual surface|):"]
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
            hints.append(f"{high} probes rest above the visual surface: colliders stick out of the visual mesh")
    if any(name.startswith("validator") for name in failed):
        hints.append("fix the validation errors listed above")
    if "colliders" in failed:
        hints.append("the world has no colliders: rebuild it with the collision stage enabled")
    return "Failed: " + ", ".join(failed) + (". " + "; ".join(hints) + "." if hints else ".")

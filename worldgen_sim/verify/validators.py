"""USD validation: usd-core's UsdValidation, NVIDIA's rules, and the world conventions.

:func:`validate_stage_file` opens one USD file (a layer or the composed
``world.usda``) and runs every validator on it, collecting errors and warnings
per validator. Both validator packages are plain pip packages that need no Kit:
``usd-core`` (``pxr.UsdValidation``) and ``usd-validation-nvidia`` (importable as
``omni.asset_validator``), brought by ``pip install 'worldgen-sim[verify]'``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from worldgen_sim.errors import WorldgenError, missing_dependency

USD_CORE = "usd-core"
NVIDIA = "nvidia"
CONVENTIONS = "worldgen"

# NVIDIA rules that the engine leaves off by default but that encode this
# project's conventions (Z-up, metres) and check the splat schema we write.
_NVIDIA_EXTRA_RULES = ("UpAxisZChecker", "UnitsInMetersChecker", "GaussianSplatSchemaChecker")
# NVIDIA rules whose failures are advice, reported as warnings. UsdAsciiPerformanceChecker fails
# every .usda layer holding an array longer than 64 elements (any real mesh): a load-time
# cost, not a defect of the world; the world package names its layers .usda by design.
_NVIDIA_ADVISORY_RULES = frozenset({"UsdAsciiPerformanceChecker"})
# Left out unless ``thorough``: ManifoldChecker took 34 of 38 s on the demo world (37 meshes,
# ~0.5 M faces) and only ever warns; reconstructed surfaces are open shells, non-manifold by nature.
_NVIDIA_SLOW_RULES = ("ManifoldChecker",)


@dataclass
class ValidatorReport:
    """What one validator found.

    Attributes:
        name: ``"usd-core"``, ``"nvidia"`` or ``"worldgen"``.
        errors: one line per error: ``"<rule>: <message> (at <site>)"``.
        warnings: one line per warning, same format.
        seconds: wall time the validator took [s]; not in ``to_dict`` (``verify.json`` holds no timings).
    """

    name: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ValidationResult:
    """Errors and warnings of every validator run on one file.

    Attributes:
        path: the validated file.
        errors: all errors, each prefixed with ``[validator]``.
        warnings: all warnings, each prefixed with ``[validator]``.
        per_validator: each validator's own report, by name.
    """

    path: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    per_validator: dict[str, ValidatorReport] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no validator reported an error."""
        return not self.errors

    def to_dict(self) -> dict:
        """JSON-serialisable summary."""
        return {
            "path": self.path,
            "ok": self.ok,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "per_validator": {
                name: {"errors": r.errors, "warnings": r.warnings}
                for name, r in self.per_validator.items()
            },
        }


def check_layers_readable(world: str | Path) -> None:
    """Open ``world`` and each of its sublayers on its own, so a damaged file is named.

    USD's own error for a garbage, truncated or empty ``.usdc`` names neither the
    layer in terms a user can act on nor fits on one line; this does both.

    Raises:
        WorldgenError: a layer is missing, empty or cannot be read, naming its path.
    """
    world = Path(world)
    root = _open_layer(world)
    for sublayer in root.subLayerPaths:
        path = world.parent / sublayer
        if not path.is_file():
            raise WorldgenError(f"{path}: layer named by {world.name} is missing; rebuild the world")
        _open_layer(path)


def _open_layer(path: Path):
    from pxr import Sdf, Tf

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise WorldgenError(f"{path}: cannot read USD layer ({exc.strerror})") from None
    if size == 0:
        raise WorldgenError(f"{path}: USD layer is empty (0 bytes); rebuild the world")
    try:
        layer = Sdf.Layer.FindOrOpen(str(path))
    except Tf.ErrorException as exc:
        raise WorldgenError(
            f"{path}: USD layer is corrupt or truncated ({_usd_reason(exc)}, {size} bytes); rebuild the world"
        ) from None
    if layer is None:
        raise WorldgenError(f"{path}: cannot open as a USD layer ({size} bytes); rebuild the world")
    return layer


def _usd_reason(exc: Exception) -> str:
    """The first message of a Tf.ErrorException ("Error in '...' at line N in file F : 'message'")."""
    import re

    for line in str(exc).splitlines():
        found = re.search(r" : '(.*)'\s*$", line)
        if found:
            return found.group(1)
    return " ".join(str(exc).split())[:200] or "unreadable"


def validate_stage_file(
    path: str | Path, *, usd_core: bool = True, nvidia: bool = True, conventions: bool = True, thorough: bool = False
) -> ValidationResult:
    """Run the USD validators on one file.

    Args:
        path: a ``.usda``/``.usdc``/``.usd`` file; sublayers and references compose.
        usd_core: run every validator registered with usd-core's ``UsdValidation``.
        nvidia: run NVIDIA's ``usd-validation-nvidia`` rules (default set plus
            Z-up, metres and the Gaussian-splat schema checks).
        conventions: check what the world package promises beyond those:
            ``kilogramsPerUnit = 1`` authored.
        thorough: also run NVIDIA's slow, warning-only rules (mesh manifoldness).

    Returns:
        The errors and warnings, per validator and flattened.

    Raises:
        WorldgenError: the file is missing or not a USD stage, or a validator
            package is not installed (naming the extra that brings it).
    """
    import time

    from pxr import Tf, Usd

    path = Path(path)
    if not path.is_file():
        raise WorldgenError(f"{path}: USD file to validate does not exist")
    try:
        stage = Usd.Stage.Open(str(path))
    except Tf.ErrorException as exc:
        raise WorldgenError(f"{path}: cannot open as a USD stage ({str(exc).strip()})") from None
    if stage is None:
        raise WorldgenError(f"{path}: cannot open as a USD stage")

    result = ValidationResult(path=str(path))
    runners = []
    if usd_core:
        runners.append((USD_CORE, lambda: _run_usd_core(stage)))
    if nvidia:
        runners.append((NVIDIA, lambda: _run_nvidia(stage, thorough=thorough)))
    if conventions:
        runners.append((CONVENTIONS, lambda: _run_conventions(stage)))
    for name, run in runners:
        start = time.perf_counter()
        errors, warnings = run()
        # Sorted so reports are stable (the NVIDIA engine promises no issue order) and
        # deduplicated (on a composed world it reported the same issue up to three times).
        errors, warnings = sorted(set(errors)), sorted(set(warnings))
        report = ValidatorReport(name, errors, warnings, time.perf_counter() - start)
        result.per_validator[name] = report
        result.errors += [f"[{name}] {line}" for line in errors]
        result.warnings += [f"[{name}] {line}" for line in warnings]
    return result


def _run_usd_core(stage) -> tuple[list[str], list[str]]:
    from pxr import UsdValidation

    if not hasattr(UsdValidation, "ValidationRegistry"):
        raise WorldgenError(
            "USD validation needs usd-core >= 24.11 (pxr.UsdValidation); "
            "install it with: pip install 'worldgen-sim[verify]'"
        )
    validators = UsdValidation.ValidationRegistry().GetOrLoadAllValidators()
    found = UsdValidation.ValidationContext(validators).Validate(stage)
    errors: list[str] = []
    warnings: list[str] = []
    for issue in found:
        kind = issue.GetType()
        if kind == UsdValidation.ValidationErrorType.Error:
            target = errors
        elif kind == UsdValidation.ValidationErrorType.Warn:
            target = warnings
        else:
            continue
        validator = issue.GetValidator()
        rule = validator.GetMetadata().name if validator is not None else str(issue.GetName())
        sites = [_usd_site(site) for site in issue.GetSites()]
        where = f" (at {', '.join(s for s in sites if s)})" if any(sites) else ""
        target.append(f"{rule}: {issue.GetMessage()}{where}")
    return errors, warnings


def _usd_site(site) -> str:
    if site.IsProperty():
        return str(site.GetProperty().GetPath())
    if site.IsPrim():
        path = str(site.GetPrim().GetPath())
        return "" if path == "/" else path  # stage-level issues sit on the pseudo-root
    layer = site.GetLayer()
    return layer.identifier if layer else ""


def _run_nvidia(stage, *, thorough: bool) -> tuple[list[str], list[str]]:
    try:
        # Imported by name at run time: worldgen_sim never imports Kit's omni.* modules,
        # and this one is not Kit: it is the plain pip package usd-validation-nvidia.
        asset_validator = importlib.import_module("omni.asset_validator")
    except ImportError:
        raise missing_dependency(
            "usd-validation-nvidia (omni.asset_validator)", extra="verify", purpose="NVIDIA's USD validation"
        ) from None
    engine = asset_validator.ValidationEngine()
    for rule_name in _NVIDIA_EXTRA_RULES:
        rule = getattr(asset_validator, rule_name, None)
        if rule is not None:  # older releases lack some rules; their absence is not an error
            engine.enable_rule(rule)
    for rule_name in () if thorough else _NVIDIA_SLOW_RULES:
        rule = getattr(asset_validator, rule_name, None)
        if rule is not None:
            engine.disable_rule(rule)
    results = engine.validate(stage)
    severity = asset_validator.IssueSeverity
    errors: list[str] = []
    warnings: list[str] = []
    for issue in results.issues():
        rule = issue.rule.__name__ if issue.rule is not None else "NVIDIA"
        if issue.severity in (severity.ERROR, severity.FAILURE) and rule not in _NVIDIA_ADVISORY_RULES:
            target = errors
        elif issue.severity in (severity.ERROR, severity.FAILURE, severity.WARNING):
            target = warnings
        else:
            continue
        where = _nvidia_site(issue.at)
        target.append(f"{rule}: {str(issue.message).strip()}{f' (at {where})' if where else ''}")
    return errors, warnings


def _nvidia_site(at) -> str:
    if at is None:
        return ""
    # Every identifier kind has as_str() today; fall back to its repr for any that does not.
    as_str = getattr(at, "as_str", None)
    return as_str() if callable(as_str) else str(at)


def _run_conventions(stage) -> tuple[list[str], list[str]]:
    from pxr import UsdPhysics

    errors: list[str] = []
    if not stage.HasAuthoredMetadata("kilogramsPerUnit"):
        errors.append("KilogramsPerUnit: stage does not author kilogramsPerUnit (expected 1)")
    elif UsdPhysics.GetStageKilogramsPerUnit(stage) != 1.0:
        errors.append(
            f"KilogramsPerUnit: stage has kilogramsPerUnit = {UsdPhysics.GetStageKilogramsPerUnit(stage)}, expected 1"
        )
    return errors, []

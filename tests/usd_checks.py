"""Shared test helper: assert that a USD file passes every validator.

Usage in any test: ``from usd_checks import assert_valid_usd`` (pytest puts
``tests/`` on ``sys.path``), then ``assert_valid_usd(tmp_path / "world.usda")``.
"""

from __future__ import annotations

from pathlib import Path

from worldgen_sim.verify.validators import ValidationResult, validate_stage_file


def assert_valid_usd(path: str | Path, *, allow_warnings: bool = True) -> ValidationResult:
    """Fail the test, listing every error, unless ``path`` validates cleanly.

    Runs usd-core's UsdValidation, NVIDIA's usd-validation-nvidia rules and the
    world conventions (Z-up, metres, kilograms, default prim).

    Args:
        path: the USD file (a layer or a composed world).
        allow_warnings: when False, warnings fail the test too.

    Returns:
        The validation result, for further assertions.
    """
    result = validate_stage_file(path)
    problems = result.errors + ([] if allow_warnings else result.warnings)
    assert not problems, f"{path}: {len(problems)} USD validation problem(s):\n  " + "\n  ".join(problems)
    return result

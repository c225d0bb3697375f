"""Which engines run the drop test, and the checks that compare what they did.

Kept apart from :mod:`worldgen_sim.verify.verify` (which orders the checks) so
the engine rules read in one place: every engine must load every collider,
PhysX's own cooking warnings are passed on by prim, and two engines' probes
must come to rest at the same heights.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from worldgen_sim.errors import WorldgenError
from worldgen_sim.verify.collider_audit import ColliderAudit, missing_colliders
from worldgen_sim.verify.drop_test import DropTestResult
from worldgen_sim.verify.physx_engine import physx_python
from worldgen_sim.verify.verify_cfg import VerifyCfg

__all__ = ["agreement_detail", "audit_rows", "installed_engines", "loaded_rows", "resolve_engines"]

def installed_engines(cfg: VerifyCfg) -> list[str]:
    """Engines that can run here: Newton when newton and warp import; PhysX when this Python has ovphysx or
    one is configured (``verify.physx_python``, ``$WORLDGEN_PHYSX_PYTHON``). A cached ``make isaac-venv``
    environment is used by an explicit ``--engine physx``/``both`` only, so the default stays the same
    on every machine."""
    engines = []
    if importlib.util.find_spec("newton") is not None and importlib.util.find_spec("warp") is not None:
        engines.append("newton")
    if physx_python(cfg, discover=False) is not None:
        engines.append("physx")
    return engines


def resolve_engines(cfg: VerifyCfg) -> list[str]:
    """The engines ``cfg.engine`` asks for: ``auto`` is every installed one.

    Raises:
        WorldgenError: ``auto`` and no engine is installed (naming both extras).
    """
    if cfg.engine == "both":
        return ["newton", "physx"]
    if cfg.engine in ("newton", "physx"):
        return [cfg.engine]
    engines = installed_engines(cfg)
    if not engines:
        raise WorldgenError(
            "verify.engine 'auto': no physics engine is installed for the drop test; install the 'verify' extra "
            "(Newton) or the 'physx' extra (ovphysx, in its own environment), or pass --no-drop-test"
        )
    return engines


def audit_rows(audit: ColliderAudit) -> list[tuple[str, str, str]]:
    """(check name, status, detail) rows for the engine-independent collider audit."""
    rows = []
    kinds = ("dynamic triangle mesh", "uncookable hull", "degenerate triangles", "gpu hull limits", "gpu oblong hull")
    for kind in kinds:
        found = [issue for issue in audit.issues if issue.kind == kind]
        if not found:
            continue
        status = "FAIL" if any(issue.fatal for issue in found) else "warn"
        names = ", ".join(issue.prim for issue in found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
        rows.append((f"colliders: {kind}", status, f"{len(found)}: {names} ({found[0].detail})"))
    if not rows:
        rows.append(("collider audit", "pass", f"{len(audit.colliders)} colliders ({audit.hulls} convex hulls): "
                     "none dynamic triangle meshes, degenerate or over the GPU hull limits"))  # fmt: skip
    return rows


def loaded_rows(result: DropTestResult, audit: ColliderAudit | None = None, *,
                suffix: str = "") -> list[tuple[str, str, str]]:  # fmt: skip
    """Did the engine make a shape for every collider? And which hulls did PhysX say the GPU rejects?

    ``suffix`` tells the rows of several engines apart (``" (physx)"``).
    """
    sim, engine = result.simulation, result.engine
    rows = []
    if sim is None or sim.loaded is None:
        rows.append((f"colliders loaded{suffix}", "warn", f"{engine} does not report which colliders it loaded"))
    else:
        missing = missing_colliders(sim.colliders, sim.loaded)
        if missing:
            shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
            rows.append((f"colliders loaded{suffix}", "FAIL", f"{len(missing)} of {len(sim.colliders)} "
                         f"colliders have no {engine} shape: {shown}"))  # fmt: skip
        else:
            rows.append((f"colliders loaded{suffix}", "pass", f"{engine} made shapes for all {len(sim.colliders)}"))
    if sim is not None and engine == "physx":
        # PhysX logs two lines per rejected hull (the cooker's and the cooking task's); count the cooker's.
        rejected = sum(m.get("count", 1) for m in sim.messages if "oblong" in m["text"].lower())
        named = [issue.prim for issue in audit.issues if issue.kind == "gpu oblong hull"] if audit else []
        if rejected or named:
            agree = "" if rejected == len(named) else " (the counts differ: the audit's estimate is off here)"
            rows.append(("gpu hulls (physx)", "warn", f"PhysX's GPU cooking rejected {rejected} hulls as oblong "
                         f"(Isaac Sim collides them on the CPU); the audit names {len(named)}{agree}: "
                         f"{', '.join(named[:6]) or '-'}"))  # fmt: skip
    return rows


def agreement_detail(first: DropTestResult, second: DropTestResult, *, tolerance: float) -> tuple[str, str]:
    """(status, detail): median |rest height difference| of probes that passed in both engines."""
    both = first.passed & second.passed
    if not both.any():
        return "FAIL", f"no probe passed in both {first.engine} and {second.engine}"
    diff = np.abs(first.ends[both, 2] - second.ends[both, 2])
    median, worst = float(np.median(diff)), float(diff.max())
    status = "pass" if median <= tolerance else "FAIL"
    return status, (f"rest heights of {int(both.sum())} probes: median difference {median * 100:.2f} cm, "
                    f"max {worst * 100:.2f} cm (need median <= {tolerance * 100:.1f} cm)")  # fmt: skip

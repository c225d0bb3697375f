"""Which optional packages a configuration needs, checked before any data is read.

Heavy libraries are imported inside the functions that use them (so ``import
worldgen_sim`` stays light), which would otherwise surface a missing one as a
``ModuleNotFoundError`` traceback minutes into a build. :func:`check_dependencies`
imports everything the enabled stages will need up front and names the extra
that brings a missing one (``pip install 'worldgen-sim[surface]'``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from worldgen_sim.config import WorldgenCfg
from worldgen_sim.errors import WorldgenError

__all__ = ["Requirement", "check_dependencies", "require", "requirements"]


@dataclass(frozen=True)
class Requirement:
    """One importable module a stage needs.

    Attributes:
        modules: import names; any one of them satisfies the requirement (alternatives).
        package: the pip distribution that provides it, for the message.
        extra: the worldgen-sim extra that installs it (``""``: the core install).
        purpose: what needs it, for the message.
    """

    modules: tuple[str, ...]
    package: str
    extra: str
    purpose: str


def requirements(cfg: WorldgenCfg, *, input_path: Path | None = None, verify: bool = False) -> list[Requirement]:
    """The modules a build with ``cfg`` (and, when ``verify``, its verification) will import.

    Args:
        cfg: the configuration; disabled stages, and stages a disabled stage makes
            unreachable, need nothing.
        input_path: the build's input; an RGB-D folder needs open3d to read its images.
        verify: include what ``worldgen verify`` needs under ``cfg.verify``.
    """
    needs = [Requirement(("pxr",), "usd-core", "", "writing USD")]
    if input_path is not None and input_path.is_dir():
        needs.append(Requirement(("open3d",), "open3d", "surface", "reading RGB-D folders"))
    if input_path is not None and input_path.suffix.lower() in (".jpg", ".jpeg", ".png"):
        needs.append(Requirement(("PIL",), "pillow", "depth", "reading pictures"))
        if cfg.generate.backend == "depth" and cfg.generate.depth not in ("auto", "given"):
            needs.append(Requirement(("transformers",), "transformers", "depth", "the depth model"))
    if cfg.surface.enabled:
        needs += _surface(cfg)
        if cfg.collision.enabled:
            needs += [
                Requirement(("scipy",), "scipy", "collision", "the collision stage"),
                Requirement(("manifold3d",), "manifold3d", "collision", "the collision stage (solids)"),
                Requirement(("coacd",), "coacd", "collision", "the collision stage (convex decomposition)"),
            ]
            if cfg.navigation.enabled:
                needs.append(Requirement(("scipy",), "scipy", "navigation", "the navigation stage"))
    if verify and cfg.verify.validators:
        needs.append(
            Requirement(("omni.asset_validator",), "usd-validation-nvidia", "verify", "NVIDIA's USD validation")
        )
    if verify and cfg.verify.drop_test:
        needs += [
            Requirement(("warp",), "warp-lang", "verify", "the physics drop test"),
            Requirement(("newton",), "newton", "verify", "the physics drop test"),
            Requirement(("scipy",), "scipy", "verify", "the physics drop test"),
        ]
    # Last, so a build that also needs it for a stage names that stage's extra first.
    needs.append(Requirement(("scipy",), "scipy", "", "the alignment stage (floor support of each up candidate)"))
    return needs


def check_dependencies(cfg: WorldgenCfg, *, input_path: Path | None = None, verify: bool = False) -> None:
    """Import every module :func:`requirements` lists.

    Raises:
        WorldgenError: one line naming the first module that does not import, what needs it and
            the ``pip install`` that brings it.
    """
    seen: set[tuple[str, ...]] = set()
    for need in requirements(cfg, input_path=input_path, verify=verify):
        if need.modules in seen:
            continue
        seen.add(need.modules)
        require(need)


def require(need: Requirement) -> None:
    """Import one requirement (any of its modules).

    Raises:
        WorldgenError: one line naming the module, what needs it and the ``pip install`` that brings it.
    """
    errors = [error for error in map(_import_error, need.modules) if error is not None]
    if len(errors) < len(need.modules):
        return
    target = f"worldgen-sim[{need.extra}]" if need.extra else need.package
    names = " or ".join(need.modules)
    raise WorldgenError(
        f"{need.purpose} needs the optional package {need.package} ({names}), which cannot be imported "
        f"({errors[0]}); install it with: pip install '{target}'"
    )


def _surface(cfg: WorldgenCfg) -> list[Requirement]:
    purpose = "the surface stage (surface.enabled)"
    needs = [
        Requirement(("torch",), "torch", "surface", purpose),
        Requirement(("scipy",), "scipy", "surface", purpose),
        Requirement(("fast_simplification",), "fast-simplification", "surface", purpose),
    ]
    fusion = {"open3d": ("open3d",), "torch": ("mcubes",), "auto": ("open3d", "mcubes")}[cfg.surface.fusion]
    purpose = f"TSDF fusion (surface.fusion = {cfg.surface.fusion})"
    needs.append(Requirement(fusion, "open3d or PyMCubes", "surface", purpose))
    if cfg.surface.renderer == "gsplat":
        needs.append(Requirement(("gsplat",), "gsplat", "gpu", "surface.renderer = 'gsplat'"))
    return needs


def _import_error(module: str) -> str | None:
    """None when ``module`` imports, else the error in a few words."""
    try:
        importlib.import_module(module)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None

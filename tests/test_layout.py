"""Package layout: an explicit __all__ in every package naming exactly its modules; exporters/ ships as
worldgen_sim.exporters."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = [
    "worldgen_sim.io",
    "worldgen_sim.align",
    "worldgen_sim.surface",
    "worldgen_sim.collision",
    "worldgen_sim.navigation",
    "worldgen_sim.verify",
    "worldgen_sim.generate",
    "worldgen_sim.viewer",
    "worldgen_sim.exporters",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_lists_its_modules(name):
    package = importlib.import_module(name)
    modules = sorted(m.name for m in pkgutil.iter_modules(package.__path__))
    assert sorted(package.__all__) == modules


def test_new_modules_have_all():
    for name in ("cache", "extras", "progress", "reports", "runtime", "validation", "config", "pipeline",
                 "usd_geometry", "runtime_cfg"):
        module = importlib.import_module(f"worldgen_sim.{name}")
        assert all(hasattr(module, symbol) for symbol in module.__all__), name

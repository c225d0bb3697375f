"""worldgen_sim: generated Gaussian-splat worlds and RGB-D frames in, simulation-ready USD worlds out.

The public API, importable from here (loaded on first use, so ``import
worldgen_sim`` pulls in nothing heavy)::

    from worldgen_sim import build_world, load_config

    cfg = load_config("my.yaml", overrides={"align.camera_height": 1.5})
    result = build_world("reconstructed_scene.ply", "out/world", cfg=cfg)

Never imports Kit (omni, carb, isaacsim): the Isaac Sim extension in
``isaac_ext/`` is a thin shell over this package.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "build_world": "worldgen_sim.pipeline",
    "BuildResult": "worldgen_sim.pipeline",
    "WorldgenCfg": "worldgen_sim.config",
    "load_config": "worldgen_sim.config",
    "WorldgenError": "worldgen_sim.errors",
    "Progress": "worldgen_sim.progress",
    "verify_world": "worldgen_sim.verify.verify",
    "NavigationMap": "worldgen_sim.navigation.navmap",
}

__all__ = [
    "BuildResult",
    "NavigationMap",
    "Progress",
    "WorldgenCfg",
    "WorldgenError",
    "build_world",
    "load_config",
    "verify_world",
]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'worldgen_sim' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)

"""Scenes shared by several test modules, built once per session.

Each is a synthetic sample room (:mod:`worldgen_sim.samples`: Gaussians on the
walls, floor, ceiling and furniture of a room with known geometry, plus floaters
and a sky shell where asked), so tests measure against ground truth.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Test modules import helpers from each other (``from test_render import _camera``).
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def sample_ply(tmp_path_factory) -> Path:
    """``worldgen sample --spacing 0.08 --scale 0.5 --floaters 200 --sky 300`` (Lyra 2.0 layout, OpenCV
    frame, 2 input units per metre): the small relative-scale input the CLI tests build from."""
    from worldgen_sim.cli import main

    path = tmp_path_factory.mktemp("input") / "scene.ply"
    args = ["sample", str(path), "--spacing", "0.08", "--scale", "0.5", "--floaters", "200", "--sky", "300"]
    assert main(args) == 0
    return path


@pytest.fixture(scope="session")
def demo_input(tmp_path_factory) -> tuple[Path, float]:
    """The demo room as ``worldgen demo`` writes it: (PLY path, true camera height [m])."""
    from worldgen_sim.demo import write_demo_input

    return write_demo_input(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def coarse_room():
    """The furnished sample room with Gaussians 25 cm apart (geometry tests that need its boxes, not its splats)."""
    from worldgen_sim.samples import make_sample_room

    return make_sample_room(spacing=0.25)


@pytest.fixture(scope="session")
def furnished_room():
    """The furnished sample room with Gaussians 4 cm apart (surface and fusion tests)."""
    from worldgen_sim.samples import make_sample_room

    return make_sample_room(spacing=0.04)

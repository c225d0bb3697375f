"""The observed ground of a one-picture capture (``worldgen verify`` on the Redwood demo, issue 8).

One RGB-D picture sees well under a square metre of floor between the furniture,
and samples its far part sparsely: rows of grid cells stay empty between observed
ones. Built here from points as such a capture gives them, with known truth: a
0.8 m^2 floor patch at z = 0 whose far half is observed only on every other
2.5 cm row, and a table top of the same size 0.7 m up.
"""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.verify.observed import observed_ground
from worldgen_sim.verify.verify_cfg import VerifyCfg


def _patch(rng, x, y, z, spacing, *, every_other_row_beyond=None):
    """Points on a horizontal rectangle x = (x0, x1), y = (y0, y1) at height z with 3 mm noise."""
    xs = np.arange(x[0], x[1], spacing)
    ys = np.arange(y[0], y[1], spacing)
    grid = np.stack(np.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    if every_other_row_beyond is not None:  # far rows: one 2.5 cm row observed, the next not
        far = grid[:, 1] > every_other_row_beyond
        grid = grid[~far | (np.floor(grid[:, 1] / 0.025).astype(int) % 2 == 0)]
    return np.column_stack([grid, np.full(len(grid), z) + rng.normal(0, 0.003, len(grid))])


@pytest.fixture(scope="module")
def capture():
    rng = np.random.default_rng(0)
    floor = _patch(rng, (0.0, 1.0), (0.0, 0.8), 0.0, 0.006, every_other_row_beyond=0.4)
    table = _patch(rng, (2.0, 3.0), (0.0, 0.8), 0.7, 0.006)
    points = np.concatenate([floor, table])
    return points, np.full(len(points), 0.95)


def test_a_small_floor_seen_in_stripes_is_ground_and_a_table_top_is_not(capture):
    points, weights = capture
    cfg = VerifyCfg()
    assert cfg.ground_min_area > 0.8  # both patches are under the size that makes any gentle area ground
    observed = observed_ground(points, weights, cfg=cfg, source="test")
    cell = observed.surface.cell
    ground = observed.ground_points()
    assert len(ground), "no observed ground at all (before: the floor was under ground_min_area)"
    on_floor = ground[:, 0] < 1.5
    assert on_floor.all(), "the table top (0.7 m up, 0.8 m^2) is not ground"
    assert np.abs(ground[:, 2]).max() < 0.01
    # The striped far half is filled: the ground covers the floor patch, less a cell at its border.
    assert observed.ground_area == pytest.approx(0.8, rel=0.12), (observed.ground_area, cell)
    far = ground[:, 1] > 0.45
    assert far.sum() * cell**2 == pytest.approx(0.35, rel=0.15)


def test_floor_level_ground_needs_a_probes_landing_disc(capture):
    """A speck of floor-level points smaller than a probe's flat landing disc stays no ground."""
    rng = np.random.default_rng(1)
    points, weights = capture
    speck = _patch(rng, (5.0, 5.15), (5.0, 5.15), 0.0, 0.006)
    observed = observed_ground(np.concatenate([points, speck]), np.full(len(points) + len(speck), 0.95),
                               cfg=VerifyCfg(), source="test")
    assert not (observed.ground_points()[:, 0] > 4.0).any()

"""Ground of a cracked capture (issue 8): holes closed, scraps beyond a crack kept as ground, objects kept apart.

A reconstructed terrain mesh has cracks and holes where the capture saw the ground at
grazing angles, and patches of ground cut off by them. Judged against the analytic
ground: the ground colliders (ground faces and the fill patch) must cover the true
ground everywhere within 3 cm, the cut-off patch must be ground (not a standing object
that navigation erodes around), and a table top or a hole larger than the fill limit
must stay what it is.
"""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.collision.segment import segment_surface, with_ground_fill
from worldgen_sim.navigation.heightfield import grid_for, rasterize

_HALF = 2.0
_SPACING = 0.025


def _height(xy: np.ndarray) -> np.ndarray:
    """Rolling ground, slopes under 6 deg [m]."""
    return 0.06 * np.sin(1.3 * xy[:, 0] + 0.4) + 0.05 * np.cos(1.1 * xy[:, 1])


def _grid_mesh(lo, hi, spacing, height, rng, noise):
    """Triangulated heightfield over [lo, hi]^2 with Gaussian height noise."""
    g = np.arange(lo, hi + 1e-9, spacing)
    x, y = np.meshgrid(g, g)
    xy = np.column_stack([x.ravel(), y.ravel()])
    vertices = np.column_stack([xy, height(xy) + rng.normal(0, noise, len(xy))])
    n = g.size
    i, j = np.meshgrid(np.arange(n - 1), np.arange(n - 1))
    a = (j * n + i).ravel()
    faces = np.concatenate([np.column_stack([a, a + 1, a + n + 1]), np.column_stack([a, a + n + 1, a + n])])
    return vertices, faces


def _cracked_terrain():
    """A noisy terrain with holes, a crack reaching the edge, a patch cut off by a ring crack, and a table top."""
    rng = np.random.default_rng(0)
    vertices, faces = _grid_mesh(-_HALF, _HALF, _SPACING, _height, rng, 0.004)
    centroid = vertices[faces].mean(axis=1)[:, :2]
    cut = np.zeros(len(faces), bool)
    for cx, cy, r in rng.uniform([-1.6, -1.6, 0.03], [1.6, 1.6, 0.12], (25, 3)):  # holes
        cut |= np.hypot(centroid[:, 0] - cx, centroid[:, 1] - cy) < r
    cut |= (np.abs(centroid[:, 1] + 1.0) < 0.04) & (centroid[:, 0] > 0.8)  # a crack out to the edge
    ring = np.abs(centroid - [-1.0, 1.0]).max(axis=1)
    cut |= (ring > 0.3) & (ring < 0.4)  # ring crack: the 0.6 m square inside is cut off
    scrap = ring <= 0.3
    faces = faces[~cut]
    scrap = scrap[~cut]
    # A table top 0.7 m up (up-facing faces only, as a capture sees it).
    top_v, top_f = _grid_mesh(0.0, 0.5, 0.05, lambda xy: np.full(len(xy), 0.7), rng, 0.0)
    top_v[:, :2] += [0.6, 0.6]
    vertices_all = np.concatenate([vertices, top_v])
    faces_all = np.concatenate([faces, top_f + len(vertices)])
    table = np.zeros(len(faces_all), bool)
    table[len(faces):] = True
    return vertices_all, faces_all, np.concatenate([scrap, np.zeros(len(top_f), bool)]), table


def _ground_coverage(vertices, faces, seg) -> float:
    """Fraction of 5 cm cells inside the tile whose ground colliders lie within 3 cm of the true ground."""
    v, f = with_ground_fill(seg, vertices, faces)
    ground = np.concatenate([r.faces for r in seg.static if r.kind == "ground"])
    origin, shape = grid_for(v, cell_size=0.05)
    spans = rasterize(v, f[ground], cell_size=0.05, max_slope_deg=40.0, origin=origin, shape=shape)
    row, col = np.divmod(spans.cell, shape[1])
    xy = origin + (np.column_stack([col, row]) + 0.5) * 0.05
    close = np.abs(spans.top - _height(xy)) <= 0.03
    inner = np.arange(-_HALF + 0.1, _HALF - 0.1, 0.05) + 0.025
    cx, cy = np.meshgrid(inner, inner)
    cells = (np.floor((cy.ravel() - origin[1]) / 0.05) * shape[1] + np.floor((cx.ravel() - origin[0]) / 0.05))
    return float(np.isin(cells.astype(np.int64), spans.cell[close]).mean())


@pytest.fixture(scope="module")
def terrain():
    return _cracked_terrain()


def test_cracked_ground_is_closed_and_scraps_stay_ground(terrain):
    vertices, faces, scrap, table = terrain
    seg = segment_surface(vertices, faces, cfg=CollisionCfg())
    coverage = _ground_coverage(vertices, faces, seg)
    assert coverage >= 0.99, coverage
    assert seg.report["ground"]["holes_filled"] >= 20
    in_objects = np.zeros(len(faces), bool)
    for o in seg.objects:
        in_objects[o] = True
    assert not in_objects[scrap].any(), "the patch cut off by a crack became an object"
    on_ground = np.zeros(len(faces), bool)
    for region in seg.static:
        on_ground[region.faces[region.faces < len(faces)]] |= region.kind == "ground"
    assert not on_ground[table].any(), "the table top (0.7 m up, no legs seen) joined the ground"
    # The patch lies on the ground it closes: its corners within 3 cm of the true height.
    assert np.abs(seg.fill_vertices[:, 2] - _height(seg.fill_vertices[:, :2])).max() < 0.03


def test_without_fill_the_holes_stay(terrain):
    """The same mesh with the fill turned off leaves holes: the first test measures the fill, not the mesh."""
    vertices, faces, _, _ = terrain
    seg = segment_surface(vertices, faces, cfg=CollisionCfg(ground_fill_area=0.0))
    assert seg.fill_faces.size == 0
    assert _ground_coverage(vertices, faces, seg) < 0.97


def test_a_hole_larger_than_the_limit_is_not_closed():
    rng = np.random.default_rng(1)
    vertices, faces = _grid_mesh(-_HALF, _HALF, _SPACING, _height, rng, 0.002)
    centroid = vertices[faces].mean(axis=1)[:, :2]
    faces = faces[np.hypot(*centroid.T) > 0.6]  # 1.1 m^2: a pit, not a crack
    seg = segment_surface(vertices, faces, cfg=CollisionCfg(ground_fill_area=0.5))
    if seg.fill_vertices.size:
        assert np.hypot(*seg.fill_vertices[:, :2].T).min() > 0.5

"""A noisy capture's surface folds over itself: the folds must not punch pinholes into the walkable floor.

With 1.2 cm surfel noise, 1.7 % of the floaters room's floor triangles face down and 0.6 % of its
ceiling's face up (folds: the geometry is the floor's and the ceiling's, the facing is not).
Navigation reads a column whose floor top faces down and whose ceiling bottom faces up as the
inside of one solid, a floor-to-ceiling pillar, and erodes the agent's radius around it: 19
pinholes of 1-4 cells took 53 % of the walkable area the build missed (IoU 0.897).

Here a closed room's floor and ceiling are turned over in a few spots (the collision stage turns
its static triangles to face their region's side), and flaps are folded over a bare floor (for
navigation, a cell topped by no upward surface but level with the ground around it is a noisy
cell of that ground). The geometry is the clean floor's, so the walkable floor must be the clean
floor's: the floor less the agent radius at its edges (the grid loses up to about a cell along
each eroded edge).
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import TriangleMesh
from worldgen_sim.collision.collision import build_collision
from worldgen_sim.collision.collision_cfg import CollisionCfg
from worldgen_sim.navigation.navigation import build_navigation
from worldgen_sim.navigation.navigation_cfg import AGENT_PRESETS, NavigationCfg
from worldgen_sim.navigation.navmap import NavigationMap

_HALF = 2.0
_HEIGHT = 2.5
_STEP = 0.05
_FOLDS = np.array([[-1.0, -0.6], [0.3, 0.9], [1.1, -1.2], [-0.4, 0.2]])
"""x, y of the folded spots [m], each 0.1 m square (2 x 2 navigation cells)."""


def _grid(u: np.ndarray, v: np.ndarray, point) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``point(u, v)`` on a (len(v), len(u)) lattice and two triangles per square, facing +u x +v."""
    uu, vv = np.meshgrid(u, v)
    vertices = point(uu.ravel(), vv.ravel())
    n = u.size
    i, j = np.meshgrid(np.arange(n - 1), np.arange(v.size - 1))
    a = (j * n + i).ravel()
    return vertices, np.concatenate([np.column_stack([a, a + 1, a + n + 1]), np.column_stack([a, a + n + 1, a + n])])


def _room(*, folded: bool) -> TriangleMesh:
    """A 4 m x 4 m x 2.5 m room seen from inside: floor up, ceiling down, walls inwards (5 cm triangles)."""
    g = np.linspace(-_HALF, _HALF, round(2 * _HALF / _STEP) + 1)
    h = np.linspace(0.0, _HEIGHT, round(_HEIGHT / _STEP) + 1)
    zeros = np.zeros_like
    parts = [
        _grid(g, g, lambda x, y: np.column_stack([x, y, zeros(x)])),  # floor, +z
        _grid(g[::-1], g, lambda x, y: np.column_stack([x, y, zeros(x) + _HEIGHT])),  # ceiling, -z
        _grid(g, h, lambda y, z: np.column_stack([zeros(y) - _HALF, y, z])),  # x = -2, facing +x
        _grid(g[::-1], h, lambda y, z: np.column_stack([zeros(y) + _HALF, y, z])),  # x = +2, facing -x
        _grid(g[::-1], h, lambda x, z: np.column_stack([x, zeros(x) - _HALF, z])),  # y = -2, facing +y
        _grid(g, h, lambda x, z: np.column_stack([x, zeros(x) + _HALF, z])),  # y = +2, facing -y
    ]
    vertices, faces, offset = [], [], 0
    for v, f in parts:
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
    vertices, faces = np.concatenate(vertices), np.concatenate(faces)
    if folded:  # floor and ceiling triangles over the spots turned over
        centroid = vertices[faces].mean(axis=1)
        level = (np.abs(centroid[:, 2]) < 1e-6) | (np.abs(centroid[:, 2] - _HEIGHT) < 1e-6)
        near = (np.abs(centroid[:, None, :2] - _FOLDS[None]) < _STEP).all(axis=2).any(axis=1)
        faces[level & near] = faces[level & near][:, ::-1]
    return TriangleMesh(vertices.astype(np.float32), faces.astype(np.int32))


def _walkable(mesh: TriangleMesh, tmp_path) -> NavigationMap:
    cfg = CollisionCfg()
    cfg.cache_dir = str(tmp_path / "cache")
    world = build_collision(mesh, cfg=cfg)
    return NavigationMap.from_result(build_navigation(world, cfg=NavigationCfg()))


def test_folds_in_floor_and_ceiling_leave_no_pinholes(tmp_path):
    mesh = _room(folded=True)
    tri = mesh.vertices[mesh.faces].astype(np.float64)
    nz = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2]
    assert np.sum((tri[:, :, 2].max(axis=1) < 1e-6) & (nz < 0)) >= 4 * len(_FOLDS)  # the folds are there
    nav = _walkable(mesh, tmp_path)
    radius = AGENT_PRESETS[NavigationCfg().preset]["agent_radius"]
    on_folds = np.column_stack([_FOLDS, np.zeros(len(_FOLDS))])
    assert nav.is_walkable(on_folds).all(), nav.is_walkable(on_folds)
    walkable = float(nav.walkable.sum()) * nav.cell_size**2
    side = 2 * (_HALF - radius)
    truth = side * side
    assert 0.92 * truth <= walkable <= truth + 1e-6, (walkable, truth)


def test_folds_on_a_floor_are_no_holes_for_navigation():
    """Navigation alone: flaps folded over a floor 1.5 cm up, facing down (a cell whose top is no
    upward surface), are noise the agent climbs over, not a hole eroded by its radius."""
    from worldgen_sim.artifacts import CollisionWorld, StaticPart

    g = np.linspace(-_HALF, _HALF, round(2 * _HALF / 0.02) + 1)
    vertices, faces = _grid(g, g, lambda x, y: np.column_stack([x, y, np.zeros_like(x)]))
    flap = np.array([[0.0, 0.0], [0.0, 0.03], [0.03, 0.0]])  # clockwise seen from above: faces down
    flaps = np.concatenate([np.column_stack([flap + spot, np.full(3, 0.015)]) for spot in _FOLDS])
    faces = np.concatenate([faces, len(vertices) + np.arange(len(flaps)).reshape(-1, 3)])
    vertices = np.concatenate([vertices, flaps])
    part = StaticPart("floor_0", "floor", TriangleMesh(vertices.astype(np.float32), faces.astype(np.int32)))
    cfg = NavigationCfg()
    nav = NavigationMap.from_result(build_navigation(CollisionWorld([part], [], {}), cfg=cfg))
    on_folds = np.column_stack([_FOLDS + 0.01, np.full(len(_FOLDS), 0.015)])
    assert nav.is_walkable(on_folds).all(), nav.is_walkable(on_folds)
    radius = AGENT_PRESETS[cfg.preset]["agent_radius"]
    truth = (2 * (_HALF - radius)) ** 2
    walkable = float(nav.walkable.sum()) * nav.cell_size**2
    assert 0.92 * truth <= walkable <= truth + 1e-6, (walkable, truth)

"""Navigation on real ground, from collider meshes: levels, stairs, ramps, overhead obstacles, floaters.

Scenes are closed boxes and wedges (static triangle meshes) plus convex hulls
(objects), the geometry the collision stage hands over; navigation never looks
at their semantic class. Numbers against Gaussian input are in
``test_navigation_gaussians.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_navigation import Solid

from worldgen_sim.artifacts import CollisionObject, CollisionWorld, ConvexHull, StaticPart, TriangleMesh
from worldgen_sim.navigation.navigation import build_navigation
from worldgen_sim.navigation.navigation_cfg import NavigationCfg
from worldgen_sim.navigation.navmap import NavigationMap, write_navigation_json

PLATFORM_Z = 0.85
RISER = 0.17
TREAD = 0.28


def world(solids, hulls=(), sheets=()) -> CollisionWorld:
    """Static parts from solids and one-sided sheets, objects from hull solids; classes deliberately unhelpful."""
    parts = [StaticPart(f"part_{i}", "object", TriangleMesh(*s.mesh())) for i, s in enumerate(solids)]
    parts += [StaticPart(f"sheet_{i}", "wall", TriangleMesh(*sheet)) for i, sheet in enumerate(sheets)]
    objects = [CollisionObject(f"blob_{i}", "floor", TriangleMesh(*s.mesh()), [ConvexHull(*s.mesh())])
               for i, s in enumerate(hulls)]
    return CollisionWorld(static_parts=parts, objects=objects, materials={})


def floor(x1, y1) -> Solid:
    return Solid((-0.1, -0.1, -0.1), (x1 + 0.1, y1 + 0.1, 0.0))


def stairs_platform_ramp(connector: str) -> list[Solid]:
    """8 x 6 m floor; a 0.85 m platform (x 5..7.5, y 0.5..5.5) reached by 17 cm stairs and/or a 20 deg ramp."""
    solids = [floor(8.0, 6.0), Solid((5.0, 0.5, 0.0), (7.5, 5.5, PLATFORM_Z))]
    if connector in ("stairs", "both"):
        steps = int(round(PLATFORM_Z / RISER))
        x0 = 5.0 - steps * TREAD
        solids += [Solid((x0 + k * TREAD, 0.8, 0.0), (5.0, 2.2, (k + 1) * RISER)) for k in range(steps - 1)]
    if connector in ("ramp", "both"):
        run_len = PLATFORM_Z / np.tan(np.radians(20.0))
        solids.append(Solid((5.0 - run_len, 3.6, 0.0), (5.0, 5.0, PLATFORM_Z), wedge=True))
    return solids


@pytest.mark.parametrize("connector", ["stairs", "ramp"])
@pytest.mark.parametrize("preset, connected", [("humanoid", True), ("quadruped", True), ("wheeled", False)])
def test_stairs_and_ramp_connect_the_platform_for_legged_agents_only(connector, preset, connected):
    result = build_navigation(world(stairs_platform_ramp(connector)), cfg=NavigationCfg(preset=preset))
    nav = NavigationMap.from_result(result)
    ground, platform = (1.0, 3.0, 0.0), (6.3, 3.0, PLATFORM_Z)
    assert nav.is_walkable(np.array([ground, platform])).all()  # both levels stand, connected or not
    path = nav.shortest_path(ground, platform)
    assert (path is not None) is connected
    if not connected:
        assert nav.region_of(np.array([ground]))[0] != nav.region_of(np.array([platform]))[0]
        return
    assert path[0, 2] == pytest.approx(0.0, abs=1e-3) and path[-1, 2] == pytest.approx(PLATFORM_Z, abs=1e-3)
    # Every stretch of the path stays on linked walkable cells (no jump onto the platform's edge) ...
    assert nav.segment_clear(path[:-1], path[1:]).all()
    # ... and reaches the platform over the connector: in the last metre before the platform's west edge
    # it is on the stairs (y 0.8..2.2) or the ramp (y 3.6..5.0), never beside them.
    dense = np.concatenate([a + np.linspace(0, 1, 50)[:, None] * (b - a) for a, b in zip(path[:-1], path[1:])])
    approach = dense[(dense[:, 0] > 4.0) & (dense[:, 0] < 5.0)]
    lanes = {"stairs": (0.8, 2.2), "ramp": (3.6, 5.0)}[connector]
    assert approach.size and ((approach[:, 1] > lanes[0]) & (approach[:, 1] < lanes[1])).all()


@pytest.mark.parametrize("preset", ["humanoid", "quadruped"])
def test_stairs_with_nosings_seen_at_an_angle_connect(preset):
    """Captured stairs lean over each riser (a 1.5 cm nosing 2 cm thick); turned 30 deg to the grid, cells
    along every riser hold the lower tread under the nosing (no headroom) and the nosing's top 15 cm higher.
    A link must take the nosing's top: linking only the node nearest in height cut every riser (2026-12-05,
    held-out stairs of bench_realistic: the way up from the stairs' foot went 8.6 m round by the ramp
    instead of 3.4 m up the stairs, for 15, 18.3 and 19 cm risers alike)."""
    solids = stairs_platform_ramp("stairs")
    steps = int(round(PLATFORM_Z / RISER))
    x0 = 5.0 - steps * TREAD
    solids += [Solid((x0 + k * TREAD - 0.015, 0.8, (k + 1) * RISER - 0.02), (x0 + k * TREAD, 2.2, (k + 1) * RISER))
               for k in range(steps - 1)]
    solids.append(Solid((5.0 - 0.015, 0.5, PLATFORM_Z - 0.02), (5.0, 5.5, PLATFORM_Z)))
    turn = np.array([[np.cos(np.radians(30)), -np.sin(np.radians(30)), 0.0],
                     [np.sin(np.radians(30)), np.cos(np.radians(30)), 0.0], [0.0, 0.0, 1.0]])
    parts = []
    for i, solid in enumerate(solids):
        vertices, faces = solid.mesh()
        parts.append(StaticPart(f"part_{i}", "object", TriangleMesh((vertices @ turn.T).astype(np.float32), faces)))
    nav = NavigationMap.from_result(build_navigation(CollisionWorld(static_parts=parts, objects=[], materials={}),
                                                     cfg=NavigationCfg(preset=preset)))
    foot, platform = np.array([2.6, 1.5, 0.0]) @ turn.T, np.array([6.0, 1.5, PLATFORM_Z]) @ turn.T
    path = nav.shortest_path(foot, platform)
    assert path is not None
    assert path[-1, 2] == pytest.approx(PLATFORM_Z, abs=0.03)
    assert np.linalg.norm(np.diff(path[:, :2], axis=0), axis=1).sum() < 1.2 * np.linalg.norm(platform - foot)


def test_platform_level_spawn_points_include_volume_and_json_with_several_levels(tmp_path):
    result = build_navigation(world(stairs_platform_ramp("both")),
                              cfg=NavigationCfg(preset="humanoid", num_spawn_points=64, seed=1))
    spawn = result.spawn_points
    on_platform = np.abs(spawn[:, 2] - PLATFORM_Z) < 1e-3
    assert on_platform.any() and (np.abs(spawn[:, 2]) < 1e-3).any()  # region 0 spans both levels
    nav = NavigationMap.from_result(result)
    assert nav.is_walkable(spawn).all() and (nav.region_of(spawn) == 0).all()
    lo, hi = result.include_bounds
    assert lo[2] < 0.0 and hi[2] >= PLATFORM_Z + result.agent["agent_height"] - 1e-6
    # Region 0 holds the platform: no exclude volume may cover it.
    for box in result.exclude_bounds:
        assert not ((box[0, :2] <= [6.3, 3.0]).all() and (box[1, :2] >= [6.3, 3.0]).all()
                    and box[0, 2] <= PLATFORM_Z <= box[1, 2])
    path = tmp_path / "navigation.json"
    write_navigation_json(path, result)
    loaded = NavigationMap.load(path)
    assert loaded.levels == result.heights.shape[0]
    np.testing.assert_array_equal(loaded.sample_spawn_points(16, seed=2), nav.sample_spawn_points(16, seed=2))
    a = loaded.shortest_path((1.0, 3.0, 0.0), (6.3, 3.0, PLATFORM_Z))
    np.testing.assert_allclose(a, nav.shortest_path((1.0, 3.0, 0.0), (6.3, 3.0, PLATFORM_Z)))
    meta = json.loads(path.read_text())
    assert "timings" not in meta["report"] and meta["grid"]["levels"] == loaded.levels
    first = (path.read_bytes(), (tmp_path / "navigation.npz").read_bytes())
    write_navigation_json(path, build_navigation(world(stairs_platform_ramp("both")),
                                                 cfg=NavigationCfg(preset="humanoid", num_spawn_points=64, seed=1)))
    assert (path.read_bytes(), (tmp_path / "navigation.npz").read_bytes()) == first  # byte-identical rebuild


def deck_scene() -> list[Solid]:
    """A 1 m high deck (x 3..6, y 1..4) on four posts over open floor, a 20 deg ramp onto it from the west."""
    solids = [floor(9.0, 5.0), Solid((3.0, 1.0, 0.9), (6.0, 4.0, 1.0))]
    solids += [Solid((x, y, 0.0), (x + 0.1, y + 0.1, 0.9)) for x in (3.0, 5.9) for y in (1.0, 3.9)]
    run_len = 1.0 / np.tan(np.radians(20.0))
    solids.append(Solid((3.0 - run_len, 4.0, 0.0), (3.0, 5.0, 1.0), wedge=True))  # beside the deck, rising east
    solids.append(Solid((3.0, 4.0, 0.9), (4.0, 5.0, 1.0)))  # landing joining ramp top to the deck
    return solids


def test_floor_under_a_deck_and_the_deck_top_are_two_levels_of_one_region():
    result = build_navigation(world(deck_scene()), cfg=NavigationCfg(preset="quadruped", min_region_area=0.0))
    nav = NavigationMap.from_result(result)
    under, on_top = np.array([[4.5, 2.5, 0.0]]), np.array([[4.5, 2.5, 1.0]])
    assert nav.is_walkable(under)[0] and nav.is_walkable(on_top)[0]  # same column, both levels stand
    assert nav.level_of(under)[0] != nav.level_of(on_top)[0]
    assert nav.region_of(under)[0] == nav.region_of(on_top)[0] == 0  # joined by the ramp
    assert not nav.is_walkable(np.array([[4.5, 2.5, 0.5]]))[0]  # mid-air between the levels
    np.testing.assert_allclose(nav.nearest_walkable(np.array([[4.5, 2.5, 0.9]]))[0], [4.5, 2.5, 1.0], atol=1e-5)
    path = nav.shortest_path(under[0], on_top[0])
    assert path is not None and nav.segment_clear(path[:-1], path[1:]).all()
    length = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    assert length > 4.0  # it walks out from under the deck, up the ramp and back, not straight up
    # A humanoid (1.8 m) has no headroom under the deck (0.9 m): only the top level is walkable there.
    tall = NavigationMap.from_result(build_navigation(world(deck_scene()), cfg=NavigationCfg(preset="humanoid")))
    assert not tall.is_walkable(under)[0] and tall.is_walkable(on_top)[0]


def blob(centre, size) -> Solid:
    c, s = np.asarray(centre, float), np.asarray(size, float) / 2
    return Solid(tuple(c - s), tuple(c + s))


def test_overhead_blob_blocks_only_agents_taller_than_the_gap():
    room = [floor(5.0, 4.0)]
    hulls = [blob((2.5, 2.0, 1.3), (0.6, 0.6, 0.2))]  # bottom at 1.2 m
    under = np.array([[2.5, 2.0, 0.0]])
    quad = NavigationMap.from_result(build_navigation(world(room, hulls), cfg=NavigationCfg(preset="quadruped")))
    human = NavigationMap.from_result(build_navigation(world(room, hulls), cfg=NavigationCfg(preset="humanoid")))
    assert quad.is_walkable(under)[0]  # 0.7 m agent under a 1.2 m gap
    assert not human.is_walkable(under)[0]  # 1.8 m agent does not fit
    # The humanoid's hole is the blob's footprint grown by its radius, not more.
    ring = 2.5 + 0.3 + 0.25 + 0.1
    assert human.is_walkable(np.array([[ring, 2.0, 0.0], [2.5, 2.0 + ring - 2.5, 0.0]])).all()
    assert quad.shortest_path((0.6, 2.0, 0.0), (4.4, 2.0, 0.0)) is not None


def sheet(x0, y0, x1, y1, z):
    """A one-sided upward-facing rectangle (two triangles): a floater fragment with no underside."""
    v = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], np.float32)
    return v, np.array([[0, 1, 2], [0, 2, 3]], np.int32)


@pytest.mark.parametrize("kind", ["sheet", "hull"])
def test_mid_air_floaters_never_exclude_the_floor_beneath(kind):
    room = [floor(6.0, 5.0)]
    spots = [(1.5, 1.5, 0.9), (3.0, 2.5, 1.6), (4.5, 3.5, 2.2), (2.0, 3.8, 0.7)]
    if kind == "sheet":
        scene = world(room, sheets=[sheet(x - 0.3, y - 0.3, x + 0.3, y + 0.3, z) for x, y, z in spots])
    else:
        scene = world(room, hulls=[blob((x, y, z + 0.05), (0.6, 0.6, 0.1)) for x, y, z in spots])
    result = build_navigation(scene, cfg=NavigationCfg(preset="wheeled", min_region_area=0.0))  # 0.5 m tall
    nav = NavigationMap.from_result(result)
    clean = build_navigation(world(room), cfg=NavigationCfg(preset="wheeled", min_region_area=0.0))
    ground = lambda r: (r.walkable & (np.abs(r.heights) < 1e-3)).any(axis=0)  # noqa: E731
    assert np.array_equal(ground(result), ground(clean))  # not one floor cell lost
    assert nav.is_walkable(np.array([[x, y, 0.0] for x, y, _ in spots])).all()
    for box in result.exclude_bounds:  # an island on a floater top is excluded at its height, never from the floor
        assert box[0, 2] > 0.5


def test_small_blob_touching_nothing_is_dropped_as_a_floater_and_reported():
    room = [floor(5.0, 4.0)]
    speck = blob((2.5, 2.0, 0.3), (0.15, 0.15, 0.1))  # a 15 cm speck at 0.25..0.35 m: lower than the agent
    rock = blob((1.0, 1.0, 0.3), (0.6, 0.6, 0.2))  # as low, but 0.36 m^2: an obstacle, not noise
    result = build_navigation(world(room, [speck, rock]), cfg=NavigationCfg(preset="wheeled"))
    nav = NavigationMap.from_result(result)
    assert result.report["floaters_dropped"] == 1
    assert result.report["floater_heights_m"][0] == pytest.approx([0.25, 0.35], abs=0.01)
    assert nav.is_walkable(np.array([[2.5, 2.0, 0.0]]))[0]
    assert not nav.is_walkable(np.array([[1.0, 1.0, 0.0]]))[0]  # under the large blob: 0.2 m of headroom
    kept = build_navigation(world(room, [speck, rock]), cfg=NavigationCfg(preset="wheeled", floater_max_area=0.0))
    assert kept.report["floaters_dropped"] == 0
    assert not NavigationMap.from_result(kept).is_walkable(np.array([[2.5, 2.0, 0.0]]))[0]


def test_unreachable_platform_gets_an_exclude_volume_at_its_own_height():
    result = build_navigation(world(stairs_platform_ramp("both")), cfg=NavigationCfg(preset="wheeled"))
    over = [box for box in result.exclude_bounds
            if (box[0, :2] <= [6.3, 3.0]).all() and (box[1, :2] >= [6.3, 3.0]).all()]
    assert len(over) == 1  # the wheeled agent cannot climb up: Isaac Sim's baker must not put navmesh there
    lo, hi = over[0][:, 2]
    # It starts above the floor the agent drives on (at the first step, which it cannot climb either) and
    # covers the platform top with the agent's height above it.
    assert result.agent["max_climb"] < lo < PLATFORM_Z
    assert hi >= PLATFORM_Z + result.agent["agent_height"] - 1e-6

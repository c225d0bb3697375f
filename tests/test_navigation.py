"""Navigation stage on analytic scenes built from closed boxes and wedges.

Each scene is a list of solids; the collision world is their triangles and the
ground truth is computed analytically from the same solids on a 1 cm grid:
per point, the lowest solid column (overlapping z-intervals merged) gives the
floor and its headroom; a point is standable when the floor's slope is under
max_slope and the headroom >= agent_height; edges where floors jump by more
than max_climb are walls/ledges; a cell is walkable when its centre is at least
agent_radius from every non-standable point and every such edge.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from worldgen_sim.artifacts import CollisionWorld, StaticPart, TriangleMesh
from worldgen_sim.errors import WorldgenError
from worldgen_sim.navigation.navigation import build_navigation
from worldgen_sim.navigation.navigation_cfg import AGENT_PRESETS, NavigationCfg, resolved_agent
from worldgen_sim.navigation.navmap import NavigationMap, write_navigation_json

FINE = 0.01  # truth grid [m]


@dataclass
class Solid:
    """An axis-aligned box, or a wedge rising along +x from `bottom` at x0 to `top` at x1."""

    lo: tuple
    hi: tuple
    wedge: bool = False

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.asarray(self.lo, float), np.asarray(self.hi, float)
        corners = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], float)
        v = lo + corners * (hi - lo)
        if not self.wedge:
            f = [[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 4], [1, 5, 4],
                 [2, 6, 3], [3, 6, 7], [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5]]
            return v.astype(np.float32), np.asarray(f, np.int32)
        # Prism: bottom rectangle 0..3, top edge at x1: 5 (y0), 7 (y1).
        v = v[[0, 1, 2, 3, 5, 7]]  # 0:(x0,y0,b) 1:(x1,y0,b) 2:(x0,y1,b) 3:(x1,y1,b) 4:(x1,y0,t) 5:(x1,y1,t)
        f = [[0, 2, 1], [1, 2, 3], [0, 1, 4], [2, 5, 3], [1, 3, 4], [3, 5, 4], [0, 4, 2], [2, 4, 5]]
        return v.astype(np.float32), np.asarray(f, np.int32)

    def top_at(self, x, y):
        lo, hi = self.lo, self.hi
        if self.wedge:
            return lo[2] + (hi[2] - lo[2]) * (x - lo[0]) / (hi[0] - lo[0])
        return np.full(np.broadcast(x, y).shape, hi[2])

    def slope_deg(self) -> float:
        if not self.wedge:
            return 0.0
        return float(np.degrees(np.arctan2(self.hi[2] - self.lo[2], self.hi[0] - self.lo[0])))


def collision_world(solids: list[Solid]) -> CollisionWorld:
    parts = [StaticPart(f"solid_{i}", "object", TriangleMesh(*s.mesh())) for i, s in enumerate(solids)]
    return CollisionWorld(static_parts=parts, objects=[], materials={})


def truth(solids: list[Solid], result, agent: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Analytic walkable cells on the result's grid, plus the fine-grid obstacle mask and its origin."""
    sub = int(round(result.cell_size / FINE))
    h, w = result.walkable.shape[-2:]
    xs = result.origin[0] + (np.arange(w * sub) + 0.5) * FINE
    ys = result.origin[1] + (np.arange(h * sub) + 0.5) * FINE
    x, y = np.meshgrid(xs, ys)
    intervals = []
    for s in solids:
        inside = (x >= s.lo[0]) & (x < s.hi[0]) & (y >= s.lo[1]) & (y < s.hi[1])
        top = np.where(inside, s.top_at(x, y), np.nan)
        intervals.append((np.where(inside, s.lo[2], np.inf), top, s.slope_deg()))
    order = np.argsort(np.stack([b for b, _, _ in intervals]), axis=0)
    bottoms = np.take_along_axis(np.stack([b for b, _, _ in intervals]), order, 0)
    tops = np.take_along_axis(np.stack([t for _, t, _ in intervals]), order, 0)
    slope_per_solid = np.array([s for *_, s in intervals])[:, None, None]
    slopes = np.take_along_axis(np.broadcast_to(slope_per_solid, tops.shape), order, 0)
    floor = np.full(x.shape, np.nan)
    slope = np.zeros(x.shape)
    ceiling = np.full(x.shape, np.inf)
    open_ = np.ones(x.shape, bool)  # still merging the lowest solid column
    for k in range(len(solids)):
        b, t, sl = bottoms[k], tops[k], slopes[k]
        present = np.isfinite(b) & open_
        starts = present & np.isnan(floor)
        joins = present & ~starts & (b <= floor + 1e-6)
        gap = present & ~starts & ~joins
        floor = np.where(starts, t, floor)
        slope = np.where(starts, sl, slope)
        higher = joins & (t > floor)
        floor = np.where(higher, t, floor)
        slope = np.where(higher, sl, slope)
        ceiling = np.where(gap, b, ceiling)
        open_ &= ~gap
    standable = np.isfinite(floor) & (slope < agent["max_slope"]) & (ceiling - floor >= agent["agent_height"])
    blocked = ~standable
    z = np.where(standable, floor, np.nan)
    for axis in (0, 1):
        jump = np.abs(np.diff(z, axis=axis)) > agent["max_climb"] + 1e-6
        pad = [(0, 0), (0, 0)]
        pad[axis] = (0, 1)
        blocked |= np.pad(jump, pad)
        pad[axis] = (1, 0)
        blocked |= np.pad(jump, pad)
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(~blocked) * FINE - 0.5 * FINE
    centre = dist[sub // 2 :: sub, sub // 2 :: sub][:h, :w]
    result.truth_floor = floor[sub // 2 :: sub, sub // 2 :: sub][:h, :w]  # for on_floor()
    return centre >= agent["agent_radius"] - 1e-6, blocked, np.asarray(result.origin)


def on_floor(result) -> np.ndarray:
    """(H, W) walkable on the level the analytic truth calls the floor (the lowest solid column's top).

    Raised surfaces the truth does not model (table tops over free floor) are other levels.
    """
    floor = result.truth_floor
    tol = max(result.agent["max_climb"], result.cell_size)
    near = np.abs(result.heights - np.nan_to_num(floor, nan=np.inf)) <= tol
    return (result.walkable & near).any(axis=0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / max(float((a | b).sum()), 1.0)


def run(solids, preset, **overrides):
    cfg = NavigationCfg(preset=preset, min_region_area=0.0, **overrides)
    result = build_navigation(collision_world(solids), cfg=cfg)
    expected, blocked, _ = truth(solids, result, result.agent)
    return result, expected, blocked


def room(width, depth, *, wall_height=1.0) -> list[Solid]:
    t = 0.1
    return [
        Solid((-t, -t, -0.1), (width + t, depth + t, 0.0)),
        Solid((-t, -t, 0), (0, depth + t, wall_height)),
        Solid((width, -t, 0), (width + t, depth + t, wall_height)),
        Solid((0, -t, 0), (width, 0, wall_height)),
        Solid((0, depth, 0), (width, depth + t, wall_height)),
    ]


def table(x0, y0, x1, y1, top_z, *, thickness=0.04, leg=0.06) -> list[Solid]:
    legs = [Solid((lx, ly, 0), (lx + leg, ly + leg, top_z - thickness))
            for lx in (x0, x1 - leg) for ly in (y0, y1 - leg)]
    return legs + [Solid((x0, y0, top_z - thickness), (x1, y1, top_z))]


def point_region(result, xy) -> int:
    nav = NavigationMap.from_result(result)
    return int(nav.region_of(np.array([xy]))[0])


# --- configuration ----------------------------------------------------------------------------


def test_presets_fill_missing_fields_and_explicit_values_win():
    agent = resolved_agent(NavigationCfg(preset="quadruped", agent_radius=0.4))
    assert agent["agent_radius"] == 0.4
    assert agent["agent_height"] == AGENT_PRESETS["quadruped"]["agent_height"]
    assert set(agent) == {"agent_radius", "agent_height", "max_slope", "max_climb", "cell_size"}
    for name in AGENT_PRESETS:
        assert resolved_agent(NavigationCfg(preset=name))["max_climb"] < AGENT_PRESETS[name]["agent_height"]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"preset": "tank"}, "navigation.preset"),
        ({"agent_radius": 0.0}, "navigation.agent_radius"),
        ({"agent_height": -1.0}, "navigation.agent_height"),
        ({"max_slope": 95.0}, "navigation.max_slope"),
        ({"max_climb": 0.6}, "navigation.max_climb"),  # >= wheeled agent_height 0.5
        ({"cell_size": 0.5}, "navigation.cell_size"),  # > agent_radius
        ({"preset": None}, "navigation.agent_radius"),  # nothing to fill from
    ],
)
def test_inconsistent_parameters_raise_naming_the_field(overrides, field):
    with pytest.raises(WorldgenError, match=field.replace(".", r"\.")):
        resolved_agent(NavigationCfg(**overrides))


# --- walkable area against analytic truth ---------------------------------------------------


def test_room_with_box_and_high_table_wheeled_fits_under():
    solids = room(5.0, 4.0) + [Solid((0.8, 0.8, 0), (1.6, 1.4, 0.8))] + table(2.5, 1.5, 3.7, 2.5, 0.75)
    result, expected, _ = run(solids, "wheeled")
    assert iou(on_floor(result), expected) >= 0.90
    assert point_region(result, (3.1, 2.0)) == 0  # under the table, between the legs: walkable, main region
    assert point_region(result, (1.2, 1.1)) != 0  # on the box: at most an island on its top, not the floor
    assert result.report["regions"][0]["z_max"] < 0.01  # the main region is the floor


def _rectangle_distance(xy: np.ndarray, solids: list[Solid]) -> np.ndarray:
    """(N,) horizontal distance from points to the nearest solid's footprint (0 inside) [m]."""
    lo = np.array([s.lo[:2] for s in solids])
    hi = np.array([s.hi[:2] for s in solids])
    gap = np.maximum(np.maximum(lo[None] - xy[:, None], xy[:, None] - hi[None]), 0.0)
    return np.linalg.norm(gap, axis=2).min(axis=1)


def test_erosion_is_the_radius_from_faces_between_cell_edges():
    """Walls, a 5 cm post and a crate whose faces lie inside cells (the room is shifted by 3.3 / 1.7 cm):
    the walkable border is the agent radius from the faces themselves, not from the cell edges they
    lie between (up to a cell, 5 cm, further), and never nearer than the radius."""
    dx, dy = 0.033, 0.017
    post_and_crate = [Solid((1.5, 1.2, 0), (1.55, 1.25, 0.7)), Solid((2.6, 0.9, 0), (3.1, 1.4, 0.3))]
    solids = [Solid((s.lo[0] + dx, s.lo[1] + dy, s.lo[2]), (s.hi[0] + dx, s.hi[1] + dy, s.hi[2]))
              for s in room(4.0, 3.0) + post_and_crate]
    result = build_navigation(collision_world(solids), cfg=NavigationCfg(preset="wheeled", min_region_area=0.0))
    radius = result.agent["agent_radius"]
    h, w = result.walkable.shape[-2:]
    xy = np.stack(np.meshgrid(result.origin[0] + (np.arange(w) + 0.5) * result.cell_size,
                              result.origin[1] + (np.arange(h) + 0.5) * result.cell_size), axis=-1).reshape(-1, 2)
    floor = (np.abs(np.nan_to_num(result.heights, nan=9.0)) < 0.01) & result.walkable
    walkable = floor.any(axis=0).ravel()
    clearance = _rectangle_distance(xy, solids[1:])  # the floor slab is no obstacle
    in_room = (xy[:, 0] > dx) & (xy[:, 0] < 4.0 + dx) & (xy[:, 1] > dy) & (xy[:, 1] < 3.0 + dy)
    # Never nearer than the radius (the face positions are kept to 1/16 cell, 3 mm).
    assert clearance[walkable].min() >= radius - 0.003
    # Everything more than 1.5 cm beyond the radius is walkable (cell-edge erosion loses up to 5 cm).
    lost = in_room & (clearance >= radius + 0.015) & ~walkable
    assert not lost.any(), np.round(clearance[lost] - radius, 3)[:10]


def test_low_table_blocks_a_tall_agent():
    solids = room(5.0, 4.0) + table(1.5, 1.2, 3.5, 2.8, 0.75)
    result, expected, _ = run(solids, "humanoid")
    assert iou(on_floor(result), expected) >= 0.90
    assert point_region(result, (2.5, 2.0, 0.0)) < 0  # under the table: no headroom for 1.8 m
    assert point_region(result, (2.5, 2.0, 0.75)) > 0  # its top is an island level of its own
    assert point_region(result, (0.6, 0.6)) == 0


def corridor(length, width=1.6, wall_height=1.0) -> list[Solid]:
    t = 0.1
    return [
        Solid((-t, -t, -0.1), (length + t, width + t, 0.0)),
        Solid((-t, -t, 0), (length + t, 0, wall_height + 1.0)),
        Solid((-t, width, 0), (length + t, width + t, wall_height + 1.0)),
        Solid((-t, 0, 0), (0, width, wall_height + 1.0)),
        Solid((length, 0, 0), (length + t, width, wall_height + 1.0)),
    ]


def stairs(x0, steps, rise, depth, width, length) -> list[Solid]:
    solids = [Solid((x0 + k * depth, 0, 0), (x0 + (k + 1) * depth, width, (k + 1) * rise)) for k in range(steps)]
    solids.append(Solid((x0 + steps * depth, 0, 0), (length, width, steps * rise)))
    return solids


@pytest.mark.parametrize("rise, depth, connected", [(0.10, 0.3, True), (0.25, 1.0, False)])
def test_stairs_within_and_beyond_max_climb(rise, depth, connected):
    length, width = 7.0, 1.6
    solids = corridor(length, width) + stairs(1.5, 3, rise, depth, width, length)
    result, expected, _ = run(solids, "quadruped")  # max_climb 0.15
    assert iou(on_floor(result), expected) >= 0.90
    bottom, top = point_region(result, (0.8, 0.8)), point_region(result, (length - 0.8, 0.8))
    assert bottom >= 0 and top >= 0
    assert (bottom == top) is connected
    path = NavigationMap.from_result(result).shortest_path((0.8, 0.8, 0.0), (length - 0.8, 0.8, 3 * rise))
    assert (path is not None) is connected
    if connected:
        assert path[-1, 2] == pytest.approx(3 * rise, abs=0.01)
        assert np.abs(np.diff(path[:, 2])).max() <= 3 * rise  # smoothing keeps it on the stairs


@pytest.mark.parametrize("slope_deg, connected", [(10.0, True), (25.0, False)])
def test_ramps_below_and_above_max_slope(slope_deg, connected):
    length, width, rise = 6.0, 1.6, 0.3
    run_len = rise / np.tan(np.radians(slope_deg))
    x0 = 1.5
    solids = corridor(length, width) + [
        Solid((x0, 0, 0), (x0 + run_len, width, rise), wedge=True),
        Solid((x0 + run_len, 0, 0), (length, width, rise)),
    ]
    result, expected, _ = run(solids, "wheeled")  # max_slope 15
    assert iou(on_floor(result), expected) >= 0.90
    same = point_region(result, (0.8, 0.8)) == point_region(result, (length - 0.8, 0.8))
    assert same is connected
    mid_ramp = point_region(result, (x0 + run_len / 2, 0.8))
    assert (mid_ramp >= 0) is connected


@pytest.mark.parametrize("door, connected", [(0.4, False), (0.8, True)])
def test_doorway_narrower_and_wider_than_the_robot(door, connected):
    width, depth = 5.0, 3.0
    y0 = 1.2
    solids = room(width, depth) + [
        Solid((2.45, 0, 0), (2.55, y0, 1.0)),
        Solid((2.45, y0 + door, 0), (2.55, depth, 1.0)),
    ]
    result, expected, blocked = run(solids, "wheeled")  # radius 0.25 -> needs 0.5 m
    assert iou(on_floor(result), expected) >= 0.90
    left, right = point_region(result, (1.0, 1.5)), point_region(result, (4.0, 1.5))
    assert (left == right) is connected
    path = NavigationMap.from_result(result).shortest_path((1.0, 1.5), (4.0, 1.5))
    assert (path is not None) is connected
    if connected:
        assert_path_clear(path, blocked, result)


def assert_path_clear(path, blocked_fine, result):
    """Every point along the path (1 cm steps) is off the analytic obstacles (no crossing)."""
    seg = []
    for a, b in zip(path[:-1], path[1:]):
        n = int(np.ceil(np.linalg.norm(b[:2] - a[:2]) / 0.005)) + 1
        seg.append(a[:2] + np.linspace(0, 1, n)[:, None] * (b[:2] - a[:2]))
    pts = np.concatenate(seg)
    col = np.floor((pts[:, 0] - result.origin[0]) / FINE).astype(int)
    row = np.floor((pts[:, 1] - result.origin[1]) / FINE).astype(int)
    assert not blocked_fine[row, col].any()
    assert NavigationMap.from_result(result).is_walkable(pts).all()


# --- spawn points and paths ------------------------------------------------------------------


@pytest.fixture(scope="module")
def furnished():
    solids = (
        room(6.0, 5.0)
        + [Solid((0.5, 3.8, 0), (2.5, 4.6, 0.9)), Solid((4.6, 0.4, 0), (5.6, 1.4, 0.45))]
        + table(2.5, 1.6, 4.0, 2.6, 0.75)
        + [Solid((3.0, 3.3, 0), (3.1, 5.0, 1.0))]  # partial partition
    )
    cfg = NavigationCfg(preset="wheeled", num_spawn_points=24, spawn_clearance=0.1, seed=3)
    result = build_navigation(collision_world(solids), cfg=cfg)
    _, blocked, _ = truth(solids, result, result.agent)
    return solids, cfg, result, blocked


def test_spawn_points_are_walkable_with_clearance_and_seeded(furnished):
    solids, cfg, result, _ = furnished
    nav = NavigationMap.from_result(result)
    spawn = result.spawn_points
    assert spawn.shape == (24, 3)
    assert nav.is_walkable(spawn).all()
    assert (nav.region_of(spawn) == 0).all()
    # Clearance: every point of the disc of radius spawn_clearance around a spawn point is walkable.
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring = spawn[:, None, :2] + 0.999 * cfg.spawn_clearance * np.stack([np.cos(angles), np.sin(angles)], 1)
    assert nav.is_walkable(ring.reshape(-1, 2)).all()
    again = build_navigation(collision_world(solids), cfg=cfg)
    np.testing.assert_array_equal(again.spawn_points, spawn)
    other = nav.sample_spawn_points(24, seed=4, clearance=0.1)
    assert not np.array_equal(other, spawn)
    np.testing.assert_array_equal(nav.sample_spawn_points(24, seed=3, clearance=0.1), spawn)


def test_paths_between_spawn_points_exist_and_never_cross_obstacles(furnished):
    _, _, result, blocked = furnished
    nav = NavigationMap.from_result(result)
    spawn = result.spawn_points
    for a, b in zip(spawn[:6], spawn[6:12]):
        path = nav.shortest_path(a, b)
        assert path is not None
        np.testing.assert_allclose(path[0], a, atol=1e-5)
        np.testing.assert_allclose(path[-1], b, atol=1e-5)
        assert_path_clear(path, blocked, result)
        straight = np.linalg.norm(b[:2] - a[:2])
        length = np.linalg.norm(np.diff(path[:, :2], axis=0), axis=1).sum()
        assert straight - 1e-5 <= length <= 1.5 * straight + 1.0


def test_nearest_walkable_and_queries(furnished):
    _, _, result, _ = furnished
    nav = NavigationMap.from_result(result)
    inside_box = np.array([[5.1, 0.9, 0.0], [-3.0, -3.0, 0.0]])
    assert not nav.is_walkable(inside_box).any()
    snapped = nav.nearest_walkable(inside_box)
    assert nav.is_walkable(snapped).all()
    # The snapped point is close to the queried one (the box is 1 m wide, agent radius 0.25 m).
    assert np.linalg.norm(snapped[0, :2] - inside_box[0, :2]) < 0.85
    assert not nav.is_walkable(np.array([[1.0, 1.0, 0.5]])).any()  # floor is at 0, not 0.5
    assert nav.shortest_path((5.1, 0.9), (1.0, 1.0), max_snap=0.1) is None  # start too far from walkable
    same = nav.shortest_path(result.spawn_points[0], result.spawn_points[0])
    assert same.shape == (2, 3) and np.allclose(same, result.spawn_points[0])


def test_navigation_json_round_trip_without_usd(furnished, tmp_path):
    _, _, result, _ = furnished
    path = tmp_path / "navigation.json"
    write_navigation_json(path, result)
    meta = json.loads(path.read_text())
    assert meta["agent"] == pytest.approx(result.agent)
    assert set(meta["agent"]) >= {"agent_radius", "agent_height", "max_slope", "max_climb", "cell_size"}
    assert meta["include_volume"]["type"] == "Include"
    assert len(meta["spawn_points"]) == 24
    assert (tmp_path / "navigation.npz").exists()
    script = (
        "import sys, numpy as np\n"
        "from worldgen_sim.navigation.navmap import NavigationMap\n"
        f"nav = NavigationMap.load({str(path)!r})\n"
        "assert nav.is_walkable(nav.spawn_points).all()\n"
        "p = nav.shortest_path(nav.spawn_points[0], nav.spawn_points[1])\n"
        "assert p is not None\n"
        "assert 'pxr' not in sys.modules, 'queries must not load USD'\n"
        "print(len(p))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = NavigationMap.load(path)
    np.testing.assert_array_equal(loaded.walkable, result.walkable)
    np.testing.assert_array_equal(loaded.regions, result.regions)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(WorldgenError, match="bad.json"):
        NavigationMap.load(tmp_path / "bad.json")


def test_exclude_volumes_cover_raised_furniture_tops(furnished):
    _, _, result, _ = furnished
    boxes = result.exclude_bounds
    assert boxes.shape[1:] == (2, 3) and len(boxes) >= 2
    # The cabinet top (0.5..2.5 x 3.8..4.6, z 0.9) and the table top are covered; no box reaches the floor.
    centres = boxes.mean(axis=1)
    assert (np.abs(centres[:, :2] - [1.5, 4.2]).max(axis=1) < 0.1).any()
    assert (np.abs(centres[:, :2] - [3.25, 2.1]).max(axis=1) < 0.1).any()
    assert (boxes[:, 0, 2] > result.agent["max_climb"]).all()
    inc = result.include_bounds
    assert (inc[0, :2] <= 0.3).all() and inc[1, 0] >= 5.7 and inc[1, 1] >= 4.7


# --- bad input ---------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    cfg = NavigationCfg(preset="wheeled")
    with pytest.raises(WorldgenError, match="no triangles"):
        build_navigation(CollisionWorld(static_parts=[], objects=[], materials={}), cfg=cfg)
    with pytest.raises(WorldgenError, match="agent_radius"):
        build_navigation(collision_world(room(1.0, 1.0)), cfg=NavigationCfg(preset="wheeled", agent_radius=0.6))
    steep_only = [Solid((0, 0, 0), (1.0, 2.0, 1.0), wedge=True)]  # 45 deg everywhere
    with pytest.raises(WorldgenError, match="no walkable surface"):
        build_navigation(collision_world(steep_only), cfg=cfg)
    # 0.3 m headroom < 0.5 m under a 45 deg roof nobody stands on
    crawlspace = room(3.0, 3.0) + [Solid((-0.1, -0.1, 0.3), (3.1, 3.1, 3.5), wedge=True)]
    with pytest.raises(WorldgenError, match="agent_height"):
        build_navigation(collision_world(crawlspace), cfg=cfg)
    with pytest.raises(WorldgenError, match="max_climb"):
        build_navigation(collision_world(room(2.0, 2.0)), cfg=NavigationCfg(preset="wheeled", max_climb=0.9))


# --- USD layer -------------------------------------------------------------------------------


def test_usd_navigation_layer_is_valid(furnished, tmp_path):
    pytest.importorskip("pxr")
    from pxr import Usd, UsdGeom, UsdValidation

    from worldgen_sim.exporters.usd_navigation import write_navigation_layer

    _, _, result, _ = furnished
    path = tmp_path / "navigation.usdc"
    write_navigation_layer(path, result)
    stage = Usd.Stage.Open(str(path))
    surface = stage.GetPrimAtPath("/World/Navigation/WalkableSurface")
    assert surface.GetTypeName() == "Mesh"
    assert UsdGeom.Imageable(surface).GetPurposeAttr().Get() == "guide"
    assert len(UsdGeom.Mesh(surface).GetFaceVertexCountsAttr().Get()) == result.surface.faces.shape[0]
    inc = stage.GetPrimAtPath("/World/Navigation/IncludeVolume")
    assert inc.GetTypeName() == "NavMeshVolume"
    assert "NavMeshAreaAPI" in inc.GetPrimTypeInfo().GetAppliedAPISchemas()  # by name: not in usd-core's registry
    assert inc.GetAttribute("nav:volume:type").Get() == "Include"
    assert inc.GetAttribute("nav:area").Get() == "Walkable"
    assert list(inc.GetAttribute("extent").Get()) == [(-0.5, -0.5, -0.5), (0.5, 0.5, 0.5)]
    lo, hi = result.include_bounds
    np.testing.assert_allclose(inc.GetAttribute("xformOp:scale").Get(), hi - lo, rtol=1e-6)
    np.testing.assert_allclose(inc.GetAttribute("xformOp:translate").Get(), (lo + hi) / 2, rtol=1e-9)
    volumes = [p for p in stage.Traverse() if p.GetTypeName() == "NavMeshVolume"]
    excl = [p for p in volumes if p.GetAttribute("nav:volume:type").Get() == "Exclude"]
    assert len(excl) == len(result.exclude_bounds)
    nav = stage.GetPrimAtPath("/World/Navigation")
    assert nav.GetCustomDataByKey("worldgen:agent")["agent_radius"] == pytest.approx(result.agent["agent_radius"])
    assert any(k.endswith("agentRadius") for k in nav.GetCustomDataByKey("isaacSimSettings"))
    assert nav.GetCustomDataByKey("worldgen:levels") == result.heights.shape[0]
    spawn = UsdGeom.Points(stage.GetPrimAtPath("/World/Navigation/SpawnPoints"))
    np.testing.assert_allclose(np.asarray(spawn.GetPointsAttr().Get()), result.spawn_points)

    registry = UsdValidation.ValidationRegistry()
    errors = UsdValidation.ValidationContext(registry.GetOrLoadAllValidators()).Validate(stage)
    assert [e.GetMessage() for e in errors if e.GetType() == UsdValidation.ValidationErrorType.Error] == []
    validator = pytest.importorskip("omni.asset_validator")
    issues = validator.ValidationEngine().validate(str(path)).issues()
    severe = (validator.IssueSeverity.ERROR, validator.IssueSeverity.FAILURE)
    failures = [i.message for i in issues if i.severity in severe]
    assert failures == []


def test_usd_layer_without_exclude_volumes_or_spawn_points_is_valid(tmp_path):
    validator = pytest.importorskip("omni.asset_validator")
    from worldgen_sim.exporters.usd_navigation import write_navigation_layer

    result = build_navigation(collision_world(room(3.0, 3.0)[:1]), cfg=NavigationCfg(num_spawn_points=0))
    assert result.exclude_bounds.shape == (0, 2, 3) and result.spawn_points.shape == (0, 3)
    path = tmp_path / "navigation.usdc"
    write_navigation_layer(path, result)
    issues = validator.ValidationEngine().validate(str(path)).issues()
    severe = (validator.IssueSeverity.ERROR, validator.IssueSeverity.FAILURE)
    assert [i.message for i in issues if i.severity in severe] == []

"""``align.up: auto``: choose the up direction whose floor is plausible, and say why.

Every candidate direction is tried as "up" and judged by the floor found under
it (:func:`~worldgen_sim.align.floor.find_floor`):

- the six axis directions (``+x`` ... ``-z``) and, when the input has cameras,
  their mean up (``cameras``: -y of each OpenCV camera). The floor search of
  each reaches ``align.auto_up_max_tilt_deg`` (55 deg) from it, so the six
  cones cover every direction: a Lyra frame is the first camera's, and a camera
  pitched 35 deg down sees its floor 35 deg off -y. Two directions that find
  the same floor are one candidate (the nearer keeps it);
- a candidate is **plausible** when its floor exists (a dominant, roughly
  horizontal plane with almost nothing below it) and the scene stands on
  ground (:mod:`worldgen_sim.align.levels`): the ground is the floor's filled
  footprint plus thin, level surfaces at other heights (a platform, treads, a
  ramp), it covers at least ``min_footprint`` of the scene's footprint and at
  least ``min_support`` of the points' weight lies over it (a statue's plinth
  side seen as a floor leaves the figure, a thick blob, beside it), and, when
  cameras are known, the cameras stand above it;
- among plausible candidates holding at least 70 % of the best floor's weight,
  the camera direction wins, then directions within 30 deg of it, then those
  with (within 0.2 percentage points) the least weight below their floor
  (rocks, trunks and walls stand up from the ground: seen upside down, they
  hang below it), then the one with its mass lowest above the floor (furniture
  stands on floors, not on ceilings). The layout's convention (Lyra's OpenCV frame: up = -y) only breaks
  near-ties: a 14-property PLY may be Lyra 1.0 *or* an INRIA degree-0 file
  without normals, so the layout never decides on its own.

:func:`choose_up` returns the decision with one line per candidate for
``world.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worldgen_sim.align.floor import FloorSearch, find_floor
from worldgen_sim.align.levels import ground_support
from worldgen_sim.align.transforms import rotation_between

__all__ = ["AXIS_DIRECTIONS", "CONVENTION_UP", "UpChoice", "camera_up", "choose_up"]

AXIS_DIRECTIONS: dict[str, np.ndarray] = {
    name: np.asarray(vector, np.float64)
    for name, vector in {
        "+x": (1, 0, 0),
        "-x": (-1, 0, 0),
        "+y": (0, 1, 0),
        "-y": (0, -1, 0),
        "+z": (0, 0, 1),
        "-z": (0, 0, -1),
    }.items()
}
"""The six axis directions ``--up auto`` always tries."""

CONVENTION_UP = {"opencv": "-y", "y": "+y", "z": "+z"}
"""The axis direction that is up in each named input convention."""

_Z = np.array([0.0, 0.0, 1.0])
_CONTENDER_FRACTION = 0.7  # of the best plausible floor's weight
_RATIO_TIE = 0.01  # mass-height ratios closer than this are a tie the layout may break
_CAMERA_AGREE_DEG = 30.0
_BELOW_TIE = 0.002  # weight fractions below the floor closer than this are a tie
_CAMERA_MAX_DEG = 60.0  # a floor whose up is further than this from the cameras' mean up is implausible
_SAME_FLOOR_DEG = 5.0  # floors found from two directions with normals this close are one floor


@dataclass
class UpChoice:
    """The chosen up direction.

    Attributes:
        name: ``"+x"`` ... ``"-z"`` or ``"cameras"``; None when no candidate is plausible.
        direction: (3,) unit up vector in the input frame.
        rotation: (3, 3) rotation taking ``direction`` to +Z.
        search: the floor search in that rotated frame (no plane when ``name`` is None).
        reason: one sentence saying why this direction (or why none).
        candidates: per candidate: name, direction, floor weight fraction, weight
            below, support, mass-height ratio, cameras above, verdict (JSON-ready).
    """

    name: str | None
    direction: np.ndarray
    rotation: np.ndarray
    search: FloorSearch
    reason: str
    candidates: list[dict] = field(default_factory=list)


def camera_up(cam_to_world: np.ndarray) -> np.ndarray | None:
    """Mean up direction (-y of OpenCV cameras) of (M, 4, 4) camera-to-world poses, or None if they cancel."""
    up = -np.asarray(cam_to_world, np.float64)[:, :3, 1].mean(0)
    norm = float(np.linalg.norm(up))
    return up / norm if norm > 1e-6 else None


def choose_up(
    points: np.ndarray,
    weights: np.ndarray,
    *,
    camera_centres: np.ndarray | None,
    camera_direction: np.ndarray | None,
    layout_up: str | None,
    min_support: float,
    min_footprint: float,
    level_max_slope_deg: float,
    search: dict,
) -> UpChoice:
    """Try every candidate direction and keep the most plausible floor (rules in the module docstring).

    Args:
        points: (N, 3) float64 input-frame points [input units].
        weights: (N,) float64 weights (opacities or ones).
        camera_centres: (M, 3) input-frame camera centres, or None.
        camera_direction: the cameras' mean up (unit, input frame), or None.
        layout_up: the layout's axis-direction guess (e.g. ``"-y"``), or None.
        min_support: a floor must have at least this weight fraction of the scene over its ground.
        min_footprint: the ground (floor and level surfaces at other heights) must cover at least
            this fraction of the scene's footprint area.
        level_max_slope_deg: ground off the floor plane tilts at most this much [deg].
        search: keyword arguments of :func:`find_floor` (its ``max_tilt_deg``: how far a floor may
            tilt from the direction tried).
    """
    candidates = dict(AXIS_DIRECTIONS)
    if camera_direction is not None:
        candidates = {"cameras": np.asarray(camera_direction, np.float64), **candidates}
    rows, found = [], {}
    for name, direction in candidates.items():
        rotation = rotation_between(direction, _Z)
        result = find_floor(points @ rotation.T, weights, **search)
        row = _judge(name, direction, rotation, result, points, weights, camera_centres, camera_direction,
                     (min_support, min_footprint, level_max_slope_deg))
        rows.append(row)
        found[name] = (direction, rotation, result)
    _merge_same_floors(rows)
    plausible = [row for row in rows if row["verdict"] == "plausible"]
    if not plausible:
        direction, rotation, _ = found.get(layout_up or "+z", found["+z"])
        reason = "no candidate direction has a plausible floor"
        return UpChoice(None, direction, rotation, FloorSearch(None, reason), reason, rows)
    best = max(row["floor_fraction"] for row in plausible)
    contenders = [row for row in plausible if row["floor_fraction"] >= _CONTENDER_FRACTION * best]
    winner, why = _rank(contenders, camera_direction, layout_up)
    for row in rows:
        if row["verdict"] == "plausible":
            row["verdict"] = "chosen" if row is winner else ("contender" if row in contenders else "smaller floor")
    direction, rotation, result = found[winner["name"]]
    return UpChoice(winner["name"], direction, rotation, result, why, rows)


def _merge_same_floors(rows: list[dict]) -> None:
    """Two directions whose searches found the same floor (a floor tilted between two axes) are one
    candidate: the cameras' up keeps it, else the direction nearer the floor's normal; the other says so."""

    def priority(row):
        return row["name"] != "cameras", row["floor_tilt_deg"], row["name"]

    found = [row for row in rows if "floor_normal" in row and row["verdict"] == "plausible"]
    for row in found:
        for other in found:
            if other is row or other["verdict"] != "plausible":
                continue
            same = np.dot(row["floor_normal"], other["floor_normal"]) >= np.cos(np.radians(_SAME_FLOOR_DEG))
            if same and priority(other) < priority(row):
                row["verdict"] = f"same floor as {other['name']}"
                break


def _judge(name, direction, rotation, result, points, weights, camera_centres, camera_direction, limits) -> dict:
    """One candidate's numbers and verdict."""
    row = {"name": name, "direction": [round(float(v), 4) for v in direction]}
    plane = result.plane
    if plane is None:
        row["verdict"] = f"no floor ({result.reason})"
        return row
    min_support, min_footprint, max_slope = limits
    levelled = points @ rotation.T
    ground = ground_support(levelled, weights, plane, max_slope_deg=max_slope)
    normal = rotation.T @ plane.normal  # the floor's up in the input frame
    row.update(
        floor_normal=[round(float(v), 4) for v in normal],
        floor_tilt_deg=round(float(np.degrees(np.arccos(np.clip(plane.normal[2], -1.0, 1.0)))), 2),
        floor_fraction=round(float(plane.score), 4),
        below_fraction=round(float(plane.below_fraction), 4),
        support=round(ground.support, 4),
        footprint=round(ground.ground_footprint, 4),
        floor_footprint=round(ground.floor_footprint, 4),
        raised_levels=round(ground.raised_levels, 4),
        mass_height_ratio=round(float(result.height_ratio), 4),
    )
    verdict = "plausible"
    if ground.support < min_support:
        verdict = f"its ground supports only {ground.support:.0%} of the scene (need {min_support:.0%})"
    elif ground.ground_footprint < min_footprint:
        verdict = (
            f"its ground covers only {ground.ground_footprint:.0%} of the scene's footprint "
            f"(floor {ground.floor_footprint:.0%}, level ground at other heights {ground.raised_levels:.0%}; "
            f"need {min_footprint:.0%})"
        )
    if camera_centres is not None and len(camera_centres):
        heights = (np.asarray(camera_centres, np.float64) @ rotation.T) @ plane.normal - plane.offset
        above = float(np.mean(heights > plane.tolerance))
        row["cameras_above"] = round(above, 4)
        if above < 0.5:
            verdict = f"only {above:.0%} of the cameras above this floor"
    if camera_direction is not None:
        angle = float(np.degrees(np.arccos(np.clip(np.dot(normal, camera_direction), -1.0, 1.0))))
        row["camera_angle_deg"] = round(angle, 2)
        if angle > _CAMERA_MAX_DEG:
            verdict = f"{angle:.0f} deg from the cameras' up (at most {_CAMERA_MAX_DEG:.0f})"
    if row["mass_height_ratio"] < 0 and verdict == "plausible":
        verdict = "most of the scene lies below this floor's level"
    row["verdict"] = verdict
    return row


def _rank(contenders: list[dict], camera_direction, layout_up) -> tuple[dict, str]:
    """The winning contender and a sentence saying why."""

    def agrees(row) -> bool:
        if camera_direction is None:
            return False
        cosine = float(np.dot(row["floor_normal"], camera_direction) / np.linalg.norm(row["floor_normal"]))
        return cosine >= np.cos(np.radians(_CAMERA_AGREE_DEG))

    least_below = min(row["below_fraction"] for row in contenders)
    lowest = min(row["mass_height_ratio"] for row in contenders if row["below_fraction"] <= least_below + _BELOW_TIE)

    def key(row):
        camera_rank = 0 if row["name"] == "cameras" else (1 if agrees(row) else 2)
        below_rank = 0 if row["below_fraction"] <= least_below + _BELOW_TIE else 1
        # The layout's convention only breaks a near-tie on where the mass sits.
        layout_rank = 0 if (row["name"] == layout_up and row["mass_height_ratio"] <= lowest + _RATIO_TIE) else 1
        return camera_rank, below_rank, layout_rank, row["mass_height_ratio"], row["name"]

    winner = min(contenders, key=key)
    others = [row["name"] for row in contenders if row is not winner]
    facts = (
        f"floor holds {winner['floor_fraction']:.0%} of the weight with {winner['below_fraction']:.1%} below it "
        f"and, with level ground at other heights, supports {winner['support']:.0%} of the scene"
    )
    if winner["raised_levels"] >= 0.01:
        facts += f"; {winner['raised_levels']:.0%} of the footprint is level ground off the floor"
    if winner["floor_tilt_deg"] >= 5.0:
        facts += f"; the floor tilts {winner['floor_tilt_deg']:.0f} deg from {winner['name']}"
    if "cameras_above" in winner:
        facts += f"; {winner['cameras_above']:.0%} of the cameras above it"
    if winner["name"] == "cameras":
        rule = "the cameras' mean up has a plausible floor"
    elif agrees(winner):
        rule = "closest to the cameras' up among plausible floors"
    elif not others:
        rule = "the only direction with a plausible floor"
    elif any(key(row)[1] for row in contenders) and all(key(row)[1] for row in contenders if row is not winner):
        rule = "least weight below its floor (what stands on the ground hangs below it when upside down)"
    elif any(row["mass_height_ratio"] < winner["mass_height_ratio"] for row in contenders if key(row)[1] == 0):
        rule = f"near-tie on mass height broken by the layout's convention ({layout_up})"
    else:
        rule = "lowest mass above its floor among comparable floors"
    tail = f" (over {', '.join(others)})" if others else ""
    return winner, f"{rule}{tail}: {facts}"

"""Configuration of the navigation stage (walkable surface, navmesh hints, spawn points)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worldgen_sim.errors import WorldgenError
from worldgen_sim.validation import Checker

__all__ = ["AGENT_FIELDS", "AGENT_PRESETS", "NavigationCfg", "resolved_agent"]

AGENT_PRESETS: dict[str, dict[str, float]] = {
    # Small differential-drive / wheeled robot (TurtleBot 4 / Jackal class: 0.2-0.25 m
    # footprint radius, 0.35-0.5 m tall). Caster and small wheels: 3 cm thresholds,
    # 15 deg ramps (ADA wheelchair ramps are <= 4.8 deg; 15 deg leaves margin for stiffer drives).
    "wheeled": {"agent_radius": 0.25, "agent_height": 0.5, "max_slope": 15.0, "max_climb": 0.03},
    # Quadruped (Spot / ANYmal / Go2 class: ~0.6-1.1 m long body -> 0.3-0.4 m radius when
    # turning in place, ~0.6-0.7 m standing height). Vendors quote 30 deg slopes and
    # 15-30 cm steps (Spot 30, ANYmal 25); 20 cm climbs building stairs (risers 17-18 cm).
    "quadruped": {"agent_radius": 0.35, "agent_height": 0.7, "max_slope": 30.0, "max_climb": 0.2},
    # Humanoid (human-sized: shoulder half-width ~0.25 m, 1.8 m tall). Building codes cap stair
    # risers at ~0.18-0.2 m; 35 deg is a steep but walkable slope (Recast/Habitat use 45).
    "humanoid": {"agent_radius": 0.25, "agent_height": 1.8, "max_slope": 35.0, "max_climb": 0.2},
}
"""Agent presets (metres, degrees); fields left as None in :class:`NavigationCfg` come from here."""

AGENT_FIELDS = ("agent_radius", "agent_height", "max_slope", "max_climb")


@dataclass
class NavigationCfg:
    """The agent and the heightfield it walks on.

    Attributes:
        enabled: build the navigation layer (``--no-navigation`` turns it off).
        preset: ``"wheeled"``, ``"quadruped"``, ``"humanoid"`` or None; a preset
            fills agent parameters left as None (see :data:`AGENT_PRESETS`).
        agent_radius: agent footprint radius [m].
        agent_height: headroom the agent needs [m].
        max_slope: steepest walkable slope [deg].
        max_climb: highest step the agent climbs [m].
        cell_size: heightfield cell edge [m].
        num_spawn_points: spawn points to sample.
        spawn_clearance: extra free radius around each spawn point, beyond the agent radius [m].
        seed: spawn sampling seed.
        min_region_area: walkable islands smaller than this are dropped [m^2].
        max_exclude_volumes: most NavMesh Exclude volumes written (largest first).
        floater_max_area: a solid hanging in mid-air that touches nothing, covers at most this
            and spans at most ``floater_max_height`` is capture noise, not an obstacle [m^2]
            (0 keeps every collider as an obstacle); the stage report lists what was dropped.
        floater_max_height: see ``floater_max_area`` [m].
    """

    enabled: bool = True
    preset: Literal["wheeled", "quadruped", "humanoid"] | None = "wheeled"
    agent_radius: float | None = None
    agent_height: float | None = None
    max_slope: float | None = None
    max_climb: float | None = None
    cell_size: float = 0.05
    num_spawn_points: int = 32
    spawn_clearance: float = 0.1
    seed: int = 0
    min_region_area: float = 0.1
    max_exclude_volumes: int = 64
    floater_max_area: float = 0.1
    floater_max_height: float = 0.3

    def validate(self) -> None:
        """Check every field and the agent the preset and explicit fields make together; raises
        WorldgenError naming ``navigation.<field>``."""
        check = Checker(self, "navigation")
        check.range("agent_radius", gt=0, unit="m")
        check.range("agent_height", gt=0, unit="m")
        check.range("max_slope", gt=0, lt=90, unit="deg")
        check.range("max_climb", ge=0, unit="m")
        # Finer cells cost memory quadratically; 5 mm is far below any robot's footprint.
        check.range("cell_size", ge=0.005, unit="m")
        check.range("num_spawn_points", ge=0)
        check.range("spawn_clearance", ge=0, unit="m")
        check.range("seed", ge=0)
        check.range("min_region_area", ge=0, unit="m^2")
        check.range("max_exclude_volumes", ge=0)
        check.range("floater_max_area", ge=0, unit="m^2")
        check.range("floater_max_height", ge=0, unit="m")
        agent = _agent_fields(self)

        def bad(name: str, expected: str) -> WorldgenError:
            value = agent.get(name, getattr(self, name))
            return WorldgenError(f"navigation.{name}: expected {expected}, got {value!r}")

        if agent["max_climb"] >= agent["agent_height"]:
            raise bad("max_climb", f"less than navigation.agent_height ({agent['agent_height']:g} m) [m]")
        if self.cell_size > agent["agent_radius"]:
            raise bad("cell_size", f"at most navigation.agent_radius ({agent['agent_radius']:g} m) [m]")


def resolved_agent(cfg: NavigationCfg) -> dict[str, float]:
    """The agent parameters to use: explicit fields, else the preset's (checked by :meth:`NavigationCfg.validate`).

    Args:
        cfg: the navigation configuration.

    Returns:
        ``{"agent_radius", "agent_height", "max_climb", "cell_size"}`` in metres and
        ``"max_slope"`` in degrees.

    Raises:
        WorldgenError: a field missing with no preset to fill it, or inconsistent values,
            naming the ``navigation.<field>`` at fault.
    """
    cfg.validate()
    return {**_agent_fields(cfg), "cell_size": float(cfg.cell_size)}


def _agent_fields(cfg: NavigationCfg) -> dict[str, float]:
    """The four agent fields, explicit values first, the preset's for those left as None."""
    preset = AGENT_PRESETS[cfg.preset] if cfg.preset is not None else {}
    agent: dict[str, float] = {}
    for name in AGENT_FIELDS:
        value = getattr(cfg, name)
        if value is None:
            if name not in preset:
                raise WorldgenError(f"navigation.{name}: not set and no navigation.preset to take it from")
            value = preset[name]
        agent[name] = float(value)
    return agent

"""Configuration of the navigation stage (walkable surface, navmesh hints, spawn points)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class NavigationCfg:
    """The agent and the heightfield it walks on.

    Attributes:
        enabled: build the navigation layer (``--no-navigation`` turns it off).
        preset: ``"wheeled"``, ``"quadruped"``, ``"humanoid"`` or None; a preset
            fills agent parameters left as None.
        agent_radius: agent footprint radius [m].
        agent_height: headroom the agent needs [m].
        max_slope: steepest walkable slope [deg].
        max_climb: highest step the agent climbs [m].
        cell_size: heightfield cell edge [m].
        num_spawn_points: spawn points to sample.
        spawn_clearance: extra free radius around each spawn point [m].
        seed: spawn sampling seed.
    """

    enabled: bool = True
    preset: str | None = "wheeled"
    agent_radius: float | None = None
    agent_height: float | None = None
    max_slope: float | None = None
    max_climb: float | None = None
    cell_size: float = 0.05
    num_spawn_points: int = 32
    spawn_clearance: float = 0.1
    seed: int = 0

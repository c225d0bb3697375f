"""Configuration of ``worldgen verify`` (validators and the drop test)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class VerifyCfg:
    """What verification runs and what it accepts.

    Attributes:
        validators: run usd-core's UsdValidation and NVIDIA's validator.
        drop_test: run the physics drop test.
        engine: ``"newton"`` (Newton on warp's CPU device) or ``"ovphysx"``.
        num_probes: probe bodies dropped over walkable ground and object tops.
        probe_radius: probe sphere radius [m].
        drop_height: probes start this far above the surface below them [m].
        sim_seconds: simulated time [s].
        rest_tolerance: a probe at rest within this distance of the visual surface passes [m].
        min_pass_fraction: the drop test passes when at least this fraction of probes pass.
        seed: probe placement seed.
    """

    validators: bool = True
    drop_test: bool = True
    engine: str = "newton"
    num_probes: int = 40
    probe_radius: float = 0.05
    drop_height: float = 0.5
    sim_seconds: float = 1.5
    rest_tolerance: float = 0.03
    min_pass_fraction: float = 0.95
    seed: int = 0

"""worldgen verify's PhysX engine in the Isaac environment, on the world Kit built."""

from __future__ import annotations

from .conftest import need


def test_physx_drop_test_on_demo_world(world_dir):
    """run_drop_test(engine="physx") runs ovphysx in a subprocess: >= 95 % of 40 probes rest within 3 cm."""
    need("ovphysx")
    from worldgen_sim.verify.drop_test import run_drop_test
    from worldgen_sim.verify.verify_cfg import VerifyCfg

    result = run_drop_test(world_dir / "world.usda", cfg=VerifyCfg(), engine="physx")
    print(result.pass_fraction, result.reasons, result.seconds)
    assert result.engine == "physx" and len(result.kinds) == 40
    assert result.pass_fraction >= 0.95, list(zip(result.kinds, result.reasons))
    assert sorted(result.simulation.loaded) == sorted(result.simulation.colliders)

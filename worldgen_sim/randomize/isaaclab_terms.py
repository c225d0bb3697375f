"""The same distributions at run time: Isaac Lab 3 event terms built from a :class:`RandomizeCfg`.

Offline variants (USD layers) and run-time randomisation (Isaac Lab events at
reset) then draw from one set of ranges. Isaac Lab is imported only inside
:func:`make_event_terms`; :func:`event_term_params` is plain data, testable anywhere.

Isaac Lab randomises the materials of an asset's own bodies (PhysX combines the two
materials of a contact, by default their average), so the floor class's ranges are
applied to the robot's bodies: the friction a foot sees varies over the same range
as in the offline variants' floors.
"""

from __future__ import annotations

from worldgen_sim.randomize.randomize_cfg import RandomizeCfg

__all__ = ["event_term_params", "make_event_terms"]


def event_term_params(cfg: RandomizeCfg, *, material_class: str = "floor", num_buckets: int = 64) -> dict[str, dict]:
    """Parameters of the Isaac Lab event terms that reproduce ``cfg``'s physics ranges.

    Args:
        cfg: the randomisation config (validated).
        material_class: whose friction/restitution ranges the robot's bodies get.
        num_buckets: distinct materials Isaac Lab creates per asset (PhysX caps materials).

    Returns:
        ``{"physics_material": {...}, "object_mass": {...}}``: keyword parameters of
        ``isaaclab.envs.mdp.randomize_rigid_body_material`` and ``randomize_rigid_body_mass``.
    """
    ranges = cfg.physics.classes.get(material_class, cfg.physics.default)

    def span(value, fallback):
        return tuple(float(v) for v in (value if value is not None else fallback))

    return {
        "physics_material": {
            "static_friction_range": span(ranges.static_friction, (0.8, 0.8)),
            "dynamic_friction_range": span(ranges.dynamic_friction, (0.6, 0.6)),
            "restitution_range": span(ranges.restitution, (0.0, 0.0)),
            "num_buckets": int(num_buckets),
        },
        "object_mass": {
            "mass_distribution_params": tuple(float(v) for v in cfg.physics.density_scale),
            "operation": "scale",
        },
    }


def make_event_terms(cfg: RandomizeCfg, *, robot: str = "robot", objects: tuple[str, ...] = (),
                     material_class: str = "floor", mode: str = "reset") -> dict:
    """Isaac Lab ``EventTermCfg`` objects for an environment's ``events`` config.

    Args:
        cfg: the randomisation config.
        robot: scene entity whose bodies get the material ranges.
        objects: scene entities (rigid objects) whose masses are scaled by ``physics.density_scale``.
        material_class: see :func:`event_term_params`.
        mode: Isaac Lab event mode (``"startup"``, ``"reset"``, ...).

    Raises:
        WorldgenError: Isaac Lab is not installed (it needs Python 3.12 and Isaac Sim's packages).
    """
    from worldgen_sim.isaaclab.cfg import import_isaaclab

    mdp = import_isaaclab("isaaclab.envs.mdp")
    managers = import_isaaclab("isaaclab.managers")
    EventTermCfg, SceneEntityCfg = managers.EventTermCfg, managers.SceneEntityCfg
    params = event_term_params(cfg, material_class=material_class)
    terms = {}
    if cfg.physics.enabled:
        terms["physics_material"] = EventTermCfg(
            func=mdp.randomize_rigid_body_material, mode=mode,
            params={"asset_cfg": SceneEntityCfg(robot, body_names=".*"), **params["physics_material"]},
        )
        for name in objects:
            terms[f"{name}_mass"] = EventTermCfg(
                func=mdp.randomize_rigid_body_mass, mode=mode,
                params={"asset_cfg": SceneEntityCfg(name), **params["object_mass"]},
            )
    return terms

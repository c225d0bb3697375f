"""Drop probes onto a world in PhysX (ovphysx, on the CPU) and report where they rest.

Run as a script by :mod:`worldgen_sim.verify.physx_engine` with the Python of an
environment that has ovphysx (it pins ``packaging<24``, so it usually lives in
its own environment)::

    python physx_worker.py REQUEST.json RESULT.json

It imports only numpy, usd-core (``pxr``), ``physx_usd_schemas``, ``ovphysx``
and ``ovstage`` — never ``worldgen_sim`` — so any checkout's copy of this file
runs in a shared environment. The request names the world, the probe starts and
the simulation settings; the result holds the probes' end positions and speeds,
the collider prims PhysX created shapes for, and PhysX's own warnings (hull
cooking problems such as GPU-incompatible "oblong" hulls), each with the prim
it names.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["PROBES", "compose_drop_stage", "main", "simulate"]

PROBES = "/VerifyProbes"
_PRIM_PATH = re.compile(r"(/[A-Za-z_][\w]*(?:/[A-Za-z_][\w]*)+)")


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[1]).read_text())
    with tempfile.TemporaryDirectory(prefix="worldgen-physx-") as scratch:
        drop_stage = Path(scratch) / "drop.usda"
        colliders = compose_drop_stage(request, drop_stage)
        log = _Collected()
        start = time.perf_counter()
        ends, speeds, loaded = simulate(request, drop_stage, log)
        seconds = time.perf_counter() - start
        messages = log.messages()
    result = {
        "ends": ends.tolist(),
        "speeds": speeds.tolist(),
        "colliders": colliders,
        "loaded": loaded,
        "messages": messages,
        "seconds": seconds,
    }
    Path(argv[2]).write_text(json.dumps(result))
    return 0


def compose_drop_stage(request: dict, path: Path) -> list[str]:
    """Write a stage that sublayers the world and adds the probes and CPU scene settings.

    Returns:
        The world's collider prim paths (what PhysX must load).
    """
    from physx_usd_schemas import PhysxSchema  # registers the schemas before any stage is opened
    from pxr import Gf, Sdf, Usd, UsdGeom, UsdPhysics

    world = Usd.Stage.Open(request["world"])
    layer = Sdf.Layer.CreateNew(str(path))
    layer.subLayerPaths.append(request["world"])
    stage = Usd.Stage.Open(layer)
    # A sublayer's stage metadata is ignored: copy units and up axis to the root layer.
    UsdGeom.SetStageUpAxis(stage, UsdGeom.GetStageUpAxis(world))
    UsdGeom.SetStageMetersPerUnit(stage, UsdGeom.GetStageMetersPerUnit(world))
    UsdPhysics.SetStageKilogramsPerUnit(stage, UsdPhysics.GetStageKilogramsPerUnit(world))
    colliders = sorted(str(p.GetPath()) for p in stage.Traverse() if p.HasAPI(UsdPhysics.CollisionAPI))

    scenes = [p for p in stage.Traverse() if p.IsA(UsdPhysics.Scene)]
    scene = scenes[0] if scenes else UsdPhysics.Scene.Define(stage, "/PhysicsScene").GetPrim()
    if not scenes:
        UsdPhysics.Scene(scene).CreateGravityDirectionAttr(Gf.Vec3f(0, 0, -1))
        UsdPhysics.Scene(scene).CreateGravityMagnitudeAttr(9.81)
    physx_scene = PhysxSchema.PhysxSceneAPI.Apply(scene)
    physx_scene.CreateEnableGPUDynamicsAttr(False)  # CPU simulation
    physx_scene.CreateBroadphaseTypeAttr("MBP")
    physx_scene.CreateTimeStepsPerSecondAttr(int(round(1.0 / request["sim_dt"])))

    UsdGeom.Scope.Define(stage, PROBES)
    group = UsdPhysics.CollisionGroup.Define(stage, f"{PROBES}/probes")
    group.CreateFilteredGroupsRel().AddTarget(group.GetPath())  # probes never hit each other
    includes = group.GetCollidersCollectionAPI().CreateIncludesRel()
    radius = float(request["probe_radius"])
    for i, start in enumerate(request["starts"]):
        sphere = UsdGeom.Sphere.Define(stage, f"{PROBES}/probe_{i}")
        sphere.CreateRadiusAttr(radius)
        sphere.AddTranslateOp().Set(Gf.Vec3d(*start))
        prim = sphere.GetPrim()
        UsdPhysics.RigidBodyAPI.Apply(prim)
        UsdPhysics.CollisionAPI.Apply(prim)
        UsdPhysics.MassAPI.Apply(prim).CreateDensityAttr(float(request["probe_density"]))
        body = PhysxSchema.PhysxRigidBodyAPI.Apply(prim)
        # Rolling resistance stand-in (PhysX spheres have none): a probe nudged by a triangle edge settles.
        body.CreateAngularDampingAttr(float(request["angular_damping"]))
        includes.AddTarget(prim.GetPath())
    layer.Save()
    return colliders


def simulate(request: dict, drop_stage: Path, log: logging.Handler) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Step PhysX on the CPU and read the probes' end positions and speeds.

    Returns:
        (N, 3) end centres [m] (NaN for a probe PhysX lost), (N,) speeds [m/s],
        and the collider paths PhysX created shapes for.
    """
    import warnings

    import ovphysx
    import ovstage
    from ovphysx import PhysX
    from ovphysx.types import ObjectScope, SimObjectType

    # ovphysx warns that a CUDA-built warp could open the driver; on the CPU it never does here.
    warnings.filterwarnings("ignore", message="ovphysx is in CPU-only mode")
    PhysX.set_cpu_mode(True)
    physx = PhysX()
    # PhysX's warnings (hull cooking, GPU fallbacks) go to a Python logger we collect, not to stdout.
    ovphysx.enable_default_log_output(False)
    ovphysx.enable_python_logging("worldgen.physx", min_severity=ovphysx.LogLevel.WARNING)
    logging.getLogger("worldgen.physx").addHandler(log)
    logging.getLogger("worldgen.physx").propagate = False
    stage = ovstage.Stage("worldgen-verify")
    try:
        ovstage.population.register_usd_schemas(_schema_paths(ovphysx))
        ovstage.population.open_usd(stage, str(drop_stage), ordinal=1, domains=ovstage.PopulationDomain.ALL)
        stage.advance_write_floor(ordinal=1).wait()
        physx.wait_task(physx.attach_ovstage(stage, read_ordinal=1))
        steps = int(np.ceil(request["sim_seconds"] / request["sim_dt"]))
        for _ in range(steps):
            physx.step_sync(request["sim_dt"])
        positions = _read(physx, SimObjectType.RIGID_BODY, "position", ObjectScope.ALL)
        velocities = _read(physx, SimObjectType.RIGID_BODY, "linearVelocity", ObjectScope.ALL)
        loaded = [path for path in _shape_paths(physx) if not path.startswith(PROBES + "/")]
    finally:
        gc.collect()  # PhysX refuses to go while result views are alive
        try:
            physx.detach_ovstage()
        except Exception:
            pass
        stage.destroy()
        physx.destroy()
    count = len(request["starts"])
    ends = np.full((count, 3), np.nan)
    speeds = np.full(count, np.inf)
    for i in range(count):
        path = f"{PROBES}/probe_{i}"
        if path in positions:
            ends[i] = positions[path][:3]
        if path in velocities:
            speeds[i] = float(np.linalg.norm(velocities[path][:3]))
    ends[~np.isfinite(ends)] = np.nan
    speeds[~np.isfinite(speeds)] = np.inf
    return ends, speeds, loaded


def _schema_paths(ovphysx) -> list[str]:
    from ovphysx.samples.python_samples.schema_support import physx_schema_paths

    return [*physx_schema_paths(), ovphysx.newton_schema_root()]


def _read(physx, object_type, field: str, scope) -> dict[str, np.ndarray]:
    """One field of every object of a type, by prim path (rows are mapped through each group's prims)."""
    out: dict[str, np.ndarray] = {}
    with physx.read_sync(object_type, [field], scope=scope) as result:
        for group in result.groups:
            paths = _group_paths(result, group)
            values = np.asarray(group.tensors[0].numpy(), dtype=np.float64).reshape(len(paths), -1)
            out.update(zip(paths, values))
    return out


def _group_paths(result, group) -> list[str]:
    return [str(p) for p in result.dictionary.get_path_strings(group.prim_list)]


def _shape_paths(physx) -> list[str]:
    """Prims PhysX created collision shapes for (a SHAPE query lists them; its one column is read by token)."""
    from ovphysx.types import ObjectScope, SimObjectType

    with physx.query(SimObjectType.SHAPE, scope=ObjectScope.ALL).wait() as query:
        tokens = list(query.metadata.attributes)
    physx.wait_all()
    paths: list[str] = []
    with physx.read_tokens_sync(SimObjectType.SHAPE, tokens[:1], scope=ObjectScope.ALL) as result:
        for group in result.groups:
            paths += _group_paths(result, group)
    return sorted(set(paths))


class _Collected(logging.Handler):
    """Keeps PhysX's log records; :meth:`messages` gives each distinct one once, with its count."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().strip()
        self.counts[text] = self.counts.get(text, 0) + 1

    def messages(self) -> list[dict]:
        out = []
        for text, count in self.counts.items():
            match = _PRIM_PATH.search(text.split(", FILE ")[0])  # not the source path PhysX appends
            out.append({"prim": match.group(1) if match else None, "text": text[:400], "count": count})
        return out


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Shared USD authoring helpers: layer stages with world metadata, numpy -> Vt in bulk.

Every layer of a world package is a stage of its own with the same metadata
(Z-up, metres, kilograms, default prim ``/World``) so it opens correctly on its
own as well as composed under ``world.usda``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORLD_PRIM = "/World"


def create_layer_stage(path: str | Path):
    """Create a new stage at ``path`` holding ``/World`` (an Xform) as its default prim.

    Args:
        path: the layer file to create (``.usda`` or ``.usdc``); overwritten if present.

    Returns:
        The open ``Usd.Stage``; call ``stage.GetRootLayer().Save()`` when done.
    """
    from pxr import Sdf, Usd, UsdGeom, UsdPhysics

    path = Path(path)
    layer = Sdf.Layer.FindOrOpen(str(path)) if path.exists() else None
    if layer is not None:
        layer.Clear()
        stage = Usd.Stage.Open(layer)
    else:
        stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    UsdPhysics.SetStageKilogramsPerUnit(stage, 1.0)
    world = UsdGeom.Xform.Define(stage, WORLD_PRIM)
    stage.SetDefaultPrim(world.GetPrim())
    return stage


def vec3f_array(values: np.ndarray):
    """``Vt.Vec3fArray`` from an (N, 3) array, copied in bulk."""
    from pxr import Vt

    return Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(values, dtype=np.float32).reshape(-1, 3))


def vec3h_array(values: np.ndarray):
    """``Vt.Vec3hArray`` from an (N, 3) array, copied in bulk."""
    from pxr import Vt

    return Vt.Vec3hArray.FromNumpy(np.ascontiguousarray(values, dtype=np.float16).reshape(-1, 3))


def float_array(values: np.ndarray):
    """``Vt.FloatArray`` from an (N,) array, copied in bulk."""
    from pxr import Vt

    return Vt.FloatArray.FromNumpy(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))


def half_array(values: np.ndarray):
    """``Vt.HalfArray`` from an (N,) array, copied in bulk."""
    from pxr import Vt

    return Vt.HalfArray.FromNumpy(np.ascontiguousarray(values, dtype=np.float16).reshape(-1))


def int_array(values: np.ndarray):
    """``Vt.IntArray`` from an integer array of any shape (flattened), copied in bulk."""
    from pxr import Vt

    return Vt.IntArray.FromNumpy(np.ascontiguousarray(values, dtype=np.int32).reshape(-1))


def extent_of(points: np.ndarray):
    """``Vt.Vec3fArray`` [min, max] of (N, 3) points; a zero box at the origin when empty."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    if points.shape[0] == 0:
        return vec3f_array(np.zeros((2, 3), np.float32))
    finite = points[np.isfinite(points).all(axis=1)]
    return vec3f_array(np.stack([finite.min(axis=0), finite.max(axis=0)]))


def safe_prim_name(name: str) -> str:
    """A valid USD prim name from arbitrary text (letters, digits, underscores; no leading digit)."""
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "prim"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned

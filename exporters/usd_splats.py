"""The Gaussian splat layer: ``/World/Splats`` as a ``UsdVol.ParticleField3DGaussianSplat``.

All arrays go from numpy to ``Vt`` in bulk (``FromNumpy``); there is no per-splat
Python code, so millions of splats are written in about the time the crate
writer needs to compress them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import SH_C0, GaussianCloud
from worldgen_sim.errors import WorldgenError
from worldgen_sim.exporters.usd_stage import (
    WORLD_PRIM,
    create_layer_stage,
    float_array,
    half_array,
    vec3f_array,
    vec3h_array,
)

SPLATS_PRIM = f"{WORLD_PRIM}/Splats"
EXTENT_SIGMAS = 3.0
"""The extent covers every centre +- this many standard deviations of its largest axis."""


def splat_extent(cloud: GaussianCloud) -> np.ndarray:
    """(2, 3) float32 [min, max] corners enclosing every splat's 3-sigma sphere [m].

    Each splat contributes its centre +- ``EXTENT_SIGMAS`` times its largest scale:
    a sphere that bounds its 3-sigma ellipsoid whatever its orientation, so the
    box is conservative and cheap (no rotation of the ellipsoid needed).
    """
    if len(cloud) == 0:
        return np.zeros((2, 3), np.float32)
    radius = EXTENT_SIGMAS * cloud.scales.max(axis=1, keepdims=True)
    low = (cloud.positions - radius).min(axis=0)
    high = (cloud.positions + radius).max(axis=0)
    return np.stack([low, high]).astype(np.float32)


def write_splat_layer(path: str | Path, cloud: GaussianCloud, *, half_precision: bool = False) -> None:
    """Author a splat layer holding ``/World/Splats``.

    The stage gets the world metadata of every layer (Z-up, metres, default prim
    ``/World``). Attributes written (``h`` twins instead with ``half_precision``):
    ``positions`` (N) point3f [m], ``orientations`` (N) quatf (unit, real part first
    in USD's ``Gf.Quatf``), ``scales`` (N) float3 linear standard deviations [m],
    ``opacities`` (N) float in [0, 1], ``radiance:sphericalHarmonicsDegree`` int,
    ``radiance:sphericalHarmonicsCoefficients`` (N * K) float3 with K = (degree + 1)**2
    coefficients grouped by splat (interpolation ``vertex``, elementSize K), ``extent``
    (see :func:`splat_extent`) and ``primvars:displayColor`` (N) colour3f from the DC
    term, for renderers without splat support.

    Args:
        path: ``.usda``, ``.usdc`` or ``.usd`` file to (over)write.
        cloud: the Gaussians in the world frame.
        half_precision: write the 16-bit twins (``positionsh``, ``orientationsh``,
            ``scalesh``, ``opacitiesh``, ``radiance:sphericalHarmonicsCoefficientsh``):
            half the size, about 3 significant digits (positions lose precision far
            from the origin).

    Raises:
        WorldgenError: an empty cloud or an unwritable path.
    """
    if len(cloud) == 0:
        raise WorldgenError(f"{path}: cannot write a splat layer with zero Gaussians")
    k = cloud.sh.shape[1]
    degree = cloud.sh_degree
    if (degree + 1) ** 2 != k or not 0 <= degree <= 3:
        raise WorldgenError(f"{path}: GaussianCloud.sh has {k} coefficients per splat; expected 1, 4, 9 or 16")
    try:
        stage = create_layer_stage(path)
    except Exception as exc:
        raise WorldgenError(f"{path}: cannot create USD layer ({exc})") from None
    define_splats(stage, SPLATS_PRIM, cloud, half_precision=half_precision)
    try:
        stage.GetRootLayer().Save()
    except Exception as exc:
        raise WorldgenError(f"{path}: cannot save USD layer ({exc})") from None


def define_splats(stage, prim_path: str, cloud: GaussianCloud, *, half_precision: bool = False):
    """Define a ``ParticleField3DGaussianSplat`` at ``prim_path`` of an open stage holding ``cloud``.

    The attributes are those :func:`write_splat_layer` documents, in the prim's own frame
    (the object layer writes each object's splats relative to the object's Xform).

    Returns:
        The ``UsdVol.ParticleField3DGaussianSplat``.
    """
    from pxr import Sdf, UsdGeom, UsdVol, Vt

    k, degree = cloud.sh.shape[1], cloud.sh_degree
    splats = UsdVol.ParticleField3DGaussianSplat.Define(stage, prim_path)

    # Vt.Quat*Array.FromNumpy expects (i, j, k, real); the cloud stores (w, x, y, z).
    quats_xyzw = np.roll(np.asarray(cloud.rotations), -1, axis=1)
    coefficients = np.asarray(cloud.sh).reshape(-1, 3)
    if half_precision:
        splats.CreatePositionshAttr(vec3h_array(cloud.positions))
        splats.CreateOrientationshAttr(Vt.QuathArray.FromNumpy(np.ascontiguousarray(quats_xyzw, np.float16)))
        splats.CreateScaleshAttr(vec3h_array(cloud.scales))
        splats.CreateOpacitieshAttr(half_array(cloud.opacities))
        sh_attr = splats.CreateRadianceSphericalHarmonicsCoefficientshAttr(vec3h_array(coefficients))
    else:
        splats.CreatePositionsAttr(vec3f_array(cloud.positions))
        splats.CreateOrientationsAttr(Vt.QuatfArray.FromNumpy(np.ascontiguousarray(quats_xyzw, np.float32)))
        splats.CreateScalesAttr(vec3f_array(cloud.scales))
        splats.CreateOpacitiesAttr(float_array(cloud.opacities))
        sh_attr = splats.CreateRadianceSphericalHarmonicsCoefficientsAttr(vec3f_array(coefficients))
    del quats_xyzw  # temporaries go before the next ones are made: keeps the peak near arrays + layer
    splats.CreateRadianceSphericalHarmonicsDegreeAttr(int(degree))
    sh_primvar = UsdGeom.Primvar(sh_attr)
    sh_primvar.SetInterpolation(UsdGeom.Tokens.vertex)
    sh_primvar.SetElementSize(k)
    splats.CreateExtentAttr(vec3f_array(splat_extent(cloud)))
    colors = np.clip(0.5 + SH_C0 * np.asarray(cloud.sh[:, 0, :], np.float32), 0.0, 1.0)
    UsdGeom.PrimvarsAPI(splats.GetPrim()).CreatePrimvar(
        "displayColor", Sdf.ValueTypeNames.Color3fArray, UsdGeom.Tokens.vertex
    ).Set(vec3f_array(colors))
    del colors
    return splats

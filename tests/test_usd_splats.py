"""The splat layer: schema attributes, value round trips and validators."""

from __future__ import annotations

import numpy as np
import pytest

from worldgen_sim.artifacts import SH_C0, GaussianCloud
from worldgen_sim.errors import WorldgenError
from worldgen_sim.exporters.usd_splats import SPLATS_PRIM, splat_extent, write_splat_layer
from worldgen_sim.io.gaussian_ply import read_gaussian_ply, write_gaussian_ply

pxr = pytest.importorskip("pxr")


def make_cloud(n: int, degree: int, seed: int = 0) -> GaussianCloud:
    rng = np.random.default_rng(seed)
    quats = rng.normal(size=(n, 4)).astype(np.float32)
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    return GaussianCloud(
        positions=rng.uniform(-3, 3, size=(n, 3)).astype(np.float32),
        rotations=quats,
        scales=np.exp(rng.normal(-3.0, 0.5, size=(n, 3))).astype(np.float32),
        opacities=rng.uniform(0.0, 1.0, n).astype(np.float32),
        sh=rng.normal(0, 0.5, size=(n, (degree + 1) ** 2, 3)).astype(np.float32),
    )


def open_splats(path):
    from pxr import Usd, UsdVol

    stage = Usd.Stage.Open(str(path))
    prim = stage.GetPrimAtPath(SPLATS_PRIM)
    assert prim.GetTypeName() == "ParticleField3DGaussianSplat"
    return stage, UsdVol.ParticleField3DGaussianSplat(prim)


def quats_wxyz(values) -> np.ndarray:
    """(N, 4) (w, x, y, z) from a Vt.Quat*Array (whose numpy view is (i, j, k, real))."""
    return np.roll(np.array(values, dtype=np.float64), 1, axis=1)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
@pytest.mark.parametrize("suffix", [".usdc", ".usda"])
def test_values_round_trip(tmp_path, degree, suffix):
    from pxr import UsdGeom

    cloud = make_cloud(64, degree, seed=degree)
    path = tmp_path / f"splats{suffix}"
    write_splat_layer(path, cloud)
    stage, splats = open_splats(path)
    assert UsdGeom.GetStageUpAxis(stage) == "Z" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert stage.GetDefaultPrim().GetPath() == "/World"
    np.testing.assert_array_equal(np.array(splats.GetPositionsAttr().Get()), cloud.positions)
    np.testing.assert_array_equal(quats_wxyz(splats.GetOrientationsAttr().Get()), cloud.rotations)
    np.testing.assert_array_equal(np.array(splats.GetScalesAttr().Get()), cloud.scales)
    np.testing.assert_array_equal(np.array(splats.GetOpacitiesAttr().Get()), cloud.opacities)
    assert splats.GetRadianceSphericalHarmonicsDegreeAttr().Get() == degree
    coefficients = np.array(splats.GetRadianceSphericalHarmonicsCoefficientsAttr().Get())
    np.testing.assert_array_equal(coefficients.reshape(64, -1, 3), cloud.sh)
    primvar = UsdGeom.Primvar(splats.GetRadianceSphericalHarmonicsCoefficientsAttr())
    assert primvar.GetInterpolation() == "vertex" and primvar.GetElementSize() == (degree + 1) ** 2
    extent = np.array(splats.GetExtentAttr().Get())
    np.testing.assert_allclose(extent, splat_extent(cloud))
    colors = np.array(UsdGeom.PrimvarsAPI(splats.GetPrim()).GetPrimvar("displayColor").Get())
    np.testing.assert_allclose(colors, np.clip(0.5 + SH_C0 * cloud.sh[:, 0], 0, 1), atol=1e-6)
    assert not splats.GetPositionshAttr().HasAuthoredValue()


def test_quaternion_component_order(tmp_path):
    from pxr import Gf

    cloud = make_cloud(2, 0)
    half_turn_z = np.array([np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)], np.float32)  # (w, x, y, z)
    cloud.rotations[:] = half_turn_z
    path = tmp_path / "q.usdc"
    write_splat_layer(path, cloud)
    _, splats = open_splats(path)
    quat = splats.GetOrientationsAttr().Get()[0]
    assert quat.GetReal() == pytest.approx(np.cos(np.pi / 4))
    assert tuple(quat.GetImaginary()) == pytest.approx((0.0, 0.0, np.sin(np.pi / 4)))
    rotated = Gf.Rotation(quat).TransformDir(Gf.Vec3d(1, 0, 0))  # +90 deg about z maps x onto y
    assert tuple(rotated) == pytest.approx((0.0, 1.0, 0.0), abs=1e-6)


def test_extent_encloses_three_sigma():
    cloud = make_cloud(200, 0)
    low, high = splat_extent(cloud)
    radius = 3 * cloud.scales.max(axis=1, keepdims=True)
    assert np.all(cloud.positions - radius >= low - 1e-6) and np.all(cloud.positions + radius <= high + 1e-6)
    assert np.any(np.isclose(cloud.positions - radius, low).any(axis=0))


def test_half_precision_twins(tmp_path):
    cloud = make_cloud(100, 2)
    path = tmp_path / "half.usdc"
    write_splat_layer(path, cloud, half_precision=True)
    _, splats = open_splats(path)
    for full in (splats.GetPositionsAttr(), splats.GetOrientationsAttr(), splats.GetScalesAttr(),
                 splats.GetOpacitiesAttr(), splats.GetRadianceSphericalHarmonicsCoefficientsAttr()):  # fmt: skip
        assert not full.HasAuthoredValue(), full.GetName()
    np.testing.assert_allclose(np.array(splats.GetPositionshAttr().Get()), cloud.positions, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(quats_wxyz(splats.GetOrientationshAttr().Get()), cloud.rotations, atol=1e-3)
    np.testing.assert_allclose(np.array(splats.GetScaleshAttr().Get()), cloud.scales, rtol=1e-3)
    np.testing.assert_allclose(np.array(splats.GetOpacitieshAttr().Get()), cloud.opacities, atol=1e-3)
    coefficients = np.array(splats.GetRadianceSphericalHarmonicsCoefficientshAttr().Get()).reshape(100, 9, 3)
    np.testing.assert_allclose(coefficients, cloud.sh, atol=2e-3)
    assert path.stat().st_size < 0.7 * _size_of_full(tmp_path, cloud)


def _size_of_full(tmp_path, cloud) -> int:
    path = tmp_path / "full.usdc"
    write_splat_layer(path, cloud)
    return path.stat().st_size


def test_ply_to_usd_end_to_end(tmp_path):
    cloud = make_cloud(300, 3)
    ply = tmp_path / "in.ply"
    write_gaussian_ply(ply, cloud)
    read, _ = read_gaussian_ply(ply)
    write_splat_layer(tmp_path / "out.usdc", read)
    _, splats = open_splats(tmp_path / "out.usdc")
    np.testing.assert_allclose(np.array(splats.GetScalesAttr().Get()), cloud.scales, rtol=1e-6)
    coefficients = np.array(splats.GetRadianceSphericalHarmonicsCoefficientsAttr().Get()).reshape(300, 16, 3)
    np.testing.assert_allclose(coefficients, cloud.sh, rtol=1e-6)


def test_errors(tmp_path):
    empty = make_cloud(0, 0)
    with pytest.raises(WorldgenError, match="zero Gaussians"):
        write_splat_layer(tmp_path / "e.usdc", empty)
    odd = make_cloud(3, 0)
    odd.sh = np.zeros((3, 5, 3), np.float32)
    with pytest.raises(WorldgenError, match="5 coefficients per splat"):
        write_splat_layer(tmp_path / "o.usdc", odd)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(WorldgenError, match="cannot (create|save) USD layer"):
        write_splat_layer(tmp_path / "a_file" / "x.usdc", make_cloud(3, 0))


@pytest.mark.parametrize("half", [False, True])
def test_usd_core_validation_passes(tmp_path, half):
    from pxr import Usd, UsdValidation

    path = tmp_path / "v.usdc"
    write_splat_layer(path, make_cloud(500, 3), half_precision=half)
    registry = UsdValidation.ValidationRegistry()
    context = UsdValidation.ValidationContext(registry.GetOrLoadAllValidators())
    errors = context.Validate(Usd.Stage.Open(str(path)))
    assert [e.GetMessage() for e in errors if e.GetType() != UsdValidation.ValidationErrorType.Info] == []
    # The same validators do flag a stage without metadata, so the check has teeth.
    bare = Usd.Stage.CreateInMemory()
    bare.DefinePrim("/Splats", "ParticleField3DGaussianSplat")
    assert any(e.GetName() == "MissingDefaultPrim" for e in context.Validate(bare))


def _nvidia_issues(path):
    av = pytest.importorskip("omni.asset_validator")
    engine = av.ValidationEngine()
    engine.enable_rule(av.GaussianSplatSchemaChecker)  # VG.035, not enabled by default
    issues = engine.validate(str(path)).issues()
    failing = {av.IssueSeverity.ERROR, av.IssueSeverity.FAILURE}
    return [f"{i.rule.__name__}: {i.message}" for i in issues if i.severity in failing]


@pytest.mark.parametrize("degree", [0, 3])
def test_nvidia_validator_passes(tmp_path, degree):
    path = tmp_path / "n.usdc"
    write_splat_layer(path, make_cloud(200, degree))
    assert _nvidia_issues(path) == []


def test_nvidia_validator_catches_bad_splats(tmp_path):
    from pxr import Usd, Vt

    path = tmp_path / "bad.usdc"
    write_splat_layer(path, make_cloud(20, 1))
    stage = Usd.Stage.Open(str(path))
    stage.GetPrimAtPath(SPLATS_PRIM).GetAttribute("opacities").Set(Vt.FloatArray([2.0] * 20))
    stage.Save()
    assert any("GaussianSplatSchemaChecker" in issue for issue in _nvidia_issues(path))

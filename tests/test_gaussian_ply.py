"""Gaussian PLY reading/writing, input loading and camera files."""

from __future__ import annotations

import hashlib
import sys
import tracemalloc
import types

import numpy as np
import pytest

from worldgen_sim.artifacts import GaussianCloud
from worldgen_sim.errors import WorldgenError
from worldgen_sim.io.cameras import read_camera_npz
from worldgen_sim.io.gaussian_ply import format_info, read_gaussian_ply, write_gaussian_ply
from worldgen_sim.io.input_cfg import InputCfg
from worldgen_sim.io.load import load_input
from worldgen_sim.io.ply_header import inspect_gaussian_ply

FIELDS = ("positions", "rotations", "scales", "opacities", "sh")


def make_cloud(n: int, degree: int, seed: int = 0) -> GaussianCloud:
    rng = np.random.default_rng(seed)
    quats = rng.normal(size=(n, 4)).astype(np.float32)
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    return GaussianCloud(
        positions=rng.normal(size=(n, 3)).astype(np.float32),
        rotations=quats,
        scales=np.exp(rng.normal(-3.0, 1.0, size=(n, 3))).astype(np.float32),
        opacities=rng.uniform(0.01, 0.99, n).astype(np.float32),
        sh=rng.normal(size=(n, (degree + 1) ** 2, 3)).astype(np.float32),
    )


def assert_clouds_close(a: GaussianCloud, b: GaussianCloud, tol: float = 2e-6) -> None:
    assert len(a) == len(b)
    for name in FIELDS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=tol, atol=tol, err_msg=name)


def write_raw_ply(path, names, rows, *, fmt="binary_little_endian", ptype="float", extra_header=(), tail=b""):
    """A PLY with the given vertex property names and (n, len(names)) values, written by hand."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, len(names))
    header = ["ply", f"format {fmt} 1.0", *extra_header, f"element vertex {len(rows)}"]
    header += [f"property {ptype} {n}" for n in names] + ["end_header"]
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode())
        if fmt == "ascii":
            np.savetxt(fh, rows, fmt="%.9g")
        else:
            code = ("<" if fmt == "binary_little_endian" else ">") + ("f4" if ptype == "float" else "f8")
            fh.write(rows.astype(code).tobytes())
        fh.write(tail)


LYRA1 = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
         "rot_0", "rot_1", "rot_2", "rot_3"]  # fmt: skip
LYRA2 = LYRA1[:3] + ["nx", "ny", "nz"] + LYRA1[3:]


@pytest.mark.parametrize("fmt", ["binary_little_endian", "binary_big_endian", "ascii"])
@pytest.mark.parametrize(
    "layout,degree", [("inria", 0), ("inria", 1), ("inria", 2), ("inria", 3), ("lyra2", 0), ("lyra1", 0)]
)
def test_round_trip_all_layouts_degrees_formats(tmp_path, layout, degree, fmt):
    cloud = make_cloud(500, degree, seed=degree)
    path = tmp_path / "scene.ply"
    write_gaussian_ply(path, cloud, layout=layout, format=fmt)
    read, info = read_gaussian_ply(path, layout="inria" if layout == "inria" else "auto", chunk_rows=128)
    assert info.layout == layout and info.sh_degree == degree and info.format == fmt
    assert info.dropped_invalid == 0
    assert_clouds_close(read, cloud)
    assert all(getattr(read, name).dtype == np.float32 for name in FIELDS)


def test_double_properties_and_auto_layouts(tmp_path):
    cloud = make_cloud(300, 3)
    path = tmp_path / "d.ply"
    write_gaussian_ply(path, cloud, property_type="double")
    read, info = read_gaussian_ply(path)
    assert info.property_types == ["double"] * len(info.properties)
    assert info.layout == "inria" and info.sh_degree == 3 and len(info.properties) == 62
    assert_clouds_close(read, cloud)
    # A degree-0 file with normals is Lyra 2.0's layout unless the caller says inria.
    write_gaussian_ply(path, make_cloud(10, 0), layout="inria")
    assert inspect_gaussian_ply(path).layout == "lyra2"
    assert inspect_gaussian_ply(path, layout="inria").layout == "inria"
    assert len(inspect_gaussian_ply(path).properties) == 17


def test_f_rest_is_channel_major(tmp_path):
    names = LYRA2 + [f"f_rest_{i}" for i in range(45)]
    row = np.zeros(len(names))
    for i in range(45):
        row[names.index(f"f_rest_{i}")] = i
    row[names.index("rot_0")] = 1.0
    path = tmp_path / "sh.ply"
    write_raw_ply(path, names, row[None])
    cloud, _ = read_gaussian_ply(path)
    # f_rest_i = i: channel c, coefficient j (1-based in sh) is stored at c * 15 + (j - 1).
    expected = np.array([[c * 15 + j for c in range(3)] for j in range(15)], np.float32)
    np.testing.assert_array_equal(cloud.sh[0, 1:], expected)


def test_activations_order_and_extra_properties(tmp_path):
    # Shuffled property order, an extra uchar and float property, and an element after the vertices.
    names = ["rot_3", "scale_1", "x", "opacity", "f_dc_2", "y", "rot_0", "scale_0", "z", "rot_1", "f_dc_0",
             "scale_2", "rot_2", "f_dc_1", "confidence"]  # fmt: skip
    values = {"x": 1.0, "y": 2.0, "z": 3.0, "opacity": 0.0, "scale_0": 0.0, "scale_1": np.log(2.0),
              "scale_2": -1.0, "rot_0": 2.0, "rot_1": 0.0, "rot_2": 0.0, "rot_3": 0.0,
              "f_dc_0": 0.1, "f_dc_1": 0.2, "f_dc_2": 0.3, "confidence": 7.0}  # fmt: skip
    path = tmp_path / "order.ply"
    write_raw_ply(path, names, [[values[n] for n in names]], extra_header=["comment made by a test"],
                  tail=b"")  # fmt: skip
    cloud, info = read_gaussian_ply(path)
    assert info.layout == "lyra1"
    np.testing.assert_allclose(cloud.positions[0], [1, 2, 3])
    np.testing.assert_allclose(cloud.opacities[0], 0.5)
    np.testing.assert_allclose(cloud.scales[0], [1.0, 2.0, np.exp(-1.0)], rtol=1e-6)
    np.testing.assert_allclose(cloud.rotations[0], [1, 0, 0, 0])
    np.testing.assert_allclose(cloud.sh[0, 0], [0.1, 0.2, 0.3], rtol=1e-6)


@pytest.mark.parametrize("extra_uchar", [False, True])
def test_reversed_order_and_mixed_types_match_canonical(tmp_path, extra_uchar):
    cloud = make_cloud(300, 2)
    canonical = tmp_path / "canonical.ply"
    write_gaussian_ply(canonical, cloud)
    info = inspect_gaussian_ply(canonical)
    rows = np.fromfile(canonical, dtype=[(p, "<f4") for p in info.properties], offset=info.header_bytes)
    names = info.properties[::-1]  # f_rest (and every other block) no longer adjacent in file order
    fields = [(p, "<f4") for p in names] + ([("label", "u1")] if extra_uchar else [])
    shuffled = np.zeros(len(rows), dtype=fields)
    for name in names:
        shuffled[name] = rows[name]
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(rows)}"]
    header += [f"property float {p}" for p in names] + (["property uchar label"] if extra_uchar else [])
    path = tmp_path / "shuffled.ply"
    with open(path, "wb") as fh:
        fh.write(("\n".join(header + ["end_header"]) + "\n").encode())
        fh.write(shuffled.tobytes())
    expected, _ = read_gaussian_ply(canonical)
    read, _ = read_gaussian_ply(path, chunk_rows=70)
    assert_clouds_close(read, expected, tol=0)


def test_header_with_other_elements(tmp_path):
    # A (fixed-size) element before the vertices and a face element with a list property after them.
    names = LYRA1
    row = np.zeros(len(names))
    row[names.index("rot_0")] = 1.0
    row[names.index("x")] = 5.0
    path = tmp_path / "elements.ply"
    header = ["ply", "format binary_little_endian 1.0", "element camera 2", "property float fx",
              "element vertex 1"] + [f"property float {n}" for n in names]  # fmt: skip
    header += ["element face 0", "property list uchar int vertex_indices", "end_header"]
    with open(path, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode())
        fh.write(np.array([100.0, 200.0], "<f4").tobytes())
        fh.write(row.astype("<f4").tobytes())
    cloud, info = read_gaussian_ply(path)
    assert info.data_offset == info.header_bytes + 8
    assert cloud.positions[0, 0] == 5.0


def test_chunking_does_not_change_results(tmp_path):
    cloud = make_cloud(1000, 2)
    cloud.positions[[3, 500, 999]] = np.nan
    path = tmp_path / "c.ply"
    write_gaussian_ply(path, cloud)
    whole, info_whole = read_gaussian_ply(path)
    chunked, info_chunked = read_gaussian_ply(path, chunk_rows=97)
    assert info_whole.dropped_invalid == info_chunked.dropped_invalid == 3
    assert_clouds_close(whole, chunked, tol=0)
    assert_clouds_close(whole, cloud.subset(np.isfinite(cloud.positions).all(axis=1)))


@pytest.mark.parametrize("where", ["positions", "sh", "opacities", "zero_quat"])
def test_nonfinite_drop_and_error(tmp_path, where):
    cloud = make_cloud(50, 1)
    bad = [4, 17]
    if where == "positions":
        cloud.positions[bad[0], 1], cloud.positions[bad[1], 0] = np.nan, np.inf
    elif where == "sh":
        cloud.sh[bad, 2, 1] = -np.inf
    elif where == "opacities":
        cloud.opacities[bad] = np.nan
    else:
        cloud.rotations[bad] = 0.0
    path = tmp_path / "nan.ply"
    write_gaussian_ply(path, cloud)
    read, info = read_gaussian_ply(path, nonfinite="drop")
    keep = np.ones(50, bool)
    keep[bad] = False
    assert info.dropped_invalid == 2
    assert_clouds_close(read, cloud.subset(keep))
    with pytest.raises(WorldgenError, match=r"nan\.ply: 2 of 50 Gaussians hold NaN/Inf"):
        read_gaussian_ply(path, nonfinite="error")


def test_inf_log_scale_is_dropped(tmp_path):
    row = np.zeros((2, len(LYRA1)))
    row[:, LYRA1.index("rot_0")] = 1.0
    row[0, LYRA1.index("scale_1")] = 200.0  # exp(200) overflows float32
    path = tmp_path / "s.ply"
    write_raw_ply(path, LYRA1, row)
    cloud, info = read_gaussian_ply(path)
    assert info.dropped_invalid == 1 and len(cloud) == 1
    with pytest.raises(WorldgenError, match="1 of 2"):
        read_gaussian_ply(path, nonfinite="error")


def test_all_rows_invalid(tmp_path):
    row = np.full((3, len(LYRA1)), np.nan)
    path = tmp_path / "all_nan.ply"
    write_raw_ply(path, LYRA1, row)
    with pytest.raises(WorldgenError, match="all 3 Gaussians hold NaN/Inf"):
        read_gaussian_ply(path)


def test_bad_inputs(tmp_path):
    cloud = make_cloud(20, 0)
    good = tmp_path / "good.ply"
    write_gaussian_ply(good, cloud, layout="lyra1")

    not_ply = tmp_path / "not.ply"
    not_ply.write_bytes(b"\x89PNG\r\n" + b"\0" * 100)
    with pytest.raises(WorldgenError, match=r"not\.ply: not a PLY file"):
        read_gaussian_ply(not_ply)

    truncated = tmp_path / "trunc.ply"
    truncated.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(WorldgenError, match=r"trunc\.ply: truncated PLY: the header promises 20 Gaussians"):
        read_gaussian_ply(truncated)

    no_end = tmp_path / "noend.ply"
    no_end.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 3\n")
    with pytest.raises(WorldgenError, match="no 'end_header'"):
        inspect_gaussian_ply(no_end)

    wrong_element = tmp_path / "wrong.ply"
    wrong_element.write_bytes(good.read_bytes().replace(b"element vertex", b"element points"))
    with pytest.raises(WorldgenError, match=r"wrong\.ply: PLY header has no 'element vertex' \(elements: points\)"):
        read_gaussian_ply(wrong_element)

    malformed = tmp_path / "malformed.ply"
    malformed.write_bytes(good.read_bytes().replace(b"element vertex 20", b"element vertex many"))
    with pytest.raises(WorldgenError, match="expected 'element NAME COUNT'"):
        read_gaussian_ply(malformed)

    missing = tmp_path / "missing.ply"
    write_raw_ply(missing, [n for n in LYRA1 if n not in ("opacity", "rot_3")], np.zeros((2, 12)))
    with pytest.raises(WorldgenError, match=r"missing\.ply: .*missing vertex properties opacity, rot_3"):
        read_gaussian_ply(missing)

    zero = tmp_path / "zero.ply"
    write_raw_ply(zero, LYRA1, np.zeros((0, 14)))
    with pytest.raises(WorldgenError, match=r"zero\.ply: PLY declares zero Gaussians"):
        read_gaussian_ply(zero)

    listprop = tmp_path / "list.ply"
    listprop.write_bytes(
        good.read_bytes().replace(b"property float x\n", b"property float x\nproperty list uchar float extra\n")
    )
    with pytest.raises(WorldgenError, match=r"list\.ply: vertex element has list properties \(extra\)"):
        read_gaussian_ply(listprop)

    rest = tmp_path / "rest.ply"
    write_raw_ply(rest, LYRA2 + [f"f_rest_{i}" for i in range(10)], np.zeros((1, 27)))
    with pytest.raises(WorldgenError, match="10 f_rest_\\* properties"):
        read_gaussian_ply(rest)

    deg3 = tmp_path / "deg3.ply"
    write_gaussian_ply(deg3, make_cloud(5, 3))
    with pytest.raises(WorldgenError, match="input.layout is 'lyra2'"):
        read_gaussian_ply(deg3, layout="lyra2")
    with pytest.raises(WorldgenError, match="input.layout: unknown PLY layout 'colmap'"):
        read_gaussian_ply(deg3, layout="colmap")
    with pytest.raises(WorldgenError, match="input.nonfinite"):
        read_gaussian_ply(deg3, nonfinite="keep")
    with pytest.raises(WorldgenError, match="cannot read file"):
        read_gaussian_ply(tmp_path / "absent.ply")


def test_ascii_short_and_malformed(tmp_path):
    cloud = make_cloud(10, 0)
    path = tmp_path / "a.ply"
    write_gaussian_ply(path, cloud, layout="lyra1", format="ascii")
    lines = path.read_text().splitlines()
    short = tmp_path / "short.ply"
    short.write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(
        WorldgenError, match=r"short\.ply: truncated ASCII PLY: the header promises 10 Gaussians, the file has 7"
    ):
        read_gaussian_ply(short)
    bad = tmp_path / "bad.ply"
    bad.write_text("\n".join(lines[:-1] + ["1 2 3"]) + "\n")
    with pytest.raises(WorldgenError, match=r"bad\.ply: (malformed ASCII PLY|ASCII PLY rows have)"):
        read_gaussian_ply(bad)


def test_peak_memory_below_twice_outputs(tmp_path):
    cloud = make_cloud(200_000, 3)
    path = tmp_path / "big.ply"
    write_gaussian_ply(path, cloud)
    del cloud
    tracemalloc.start()
    read, _ = read_gaussian_ply(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2.0 * read.nbytes(), (peak, read.nbytes())


def test_format_info(tmp_path):
    cloud = make_cloud(100, 1)
    cloud.positions[0] = np.nan
    path = tmp_path / "i.ply"
    write_gaussian_ply(path, cloud)
    read, info = read_gaussian_ply(path)
    text = format_info(info, read)
    assert "layout:      inria" in text
    assert "100 declared, 99 valid, 1 dropped" in text
    assert "sh degree:   1" in text
    assert f"max {read.opacities.max():.4g}" in text
    assert "bounds:" in text and "scale (max):" in text


# ---- load_input and camera files ---------------------------------------------------------------


def lyra_cameras(m: int = 5, seed: int = 1):
    """Lyra 2.0-style world-to-camera matrices and intrinsics, plus the camera-to-world truth."""
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (m, 1, 1))
    angles = rng.uniform(-np.pi, np.pi, m)
    c2w[:, 0, 0], c2w[:, 0, 2], c2w[:, 2, 0], c2w[:, 2, 2] = (
        np.cos(angles),
        np.sin(angles),
        -np.sin(angles),
        np.cos(angles),
    )
    c2w[:, :3, 3] = rng.normal(size=(m, 3))
    k = np.tile(np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]), (m, 1, 1))
    return np.linalg.inv(c2w).astype(np.float32), k.astype(np.float32), c2w


def test_load_input_ply_with_lyra_cameras(tmp_path):
    cloud = make_cloud(200, 0)
    ply = tmp_path / "reconstructed_scene.ply"
    write_gaussian_ply(ply, cloud, layout="lyra2")
    w2c, k, c2w = lyra_cameras()
    np.savez(tmp_path / "cameras.npz", w2c_render=w2c, intrinsics_vipe=k, w2c_vipe=w2c, fps=np.array([16.0]))
    scene = load_input(ply, cfg=InputCfg())
    assert scene.layout == "lyra2" and scene.default_up == "opencv"
    assert scene.sha256 == hashlib.sha256(ply.read_bytes()).hexdigest()
    assert_clouds_close(scene.gaussians, cloud)
    assert scene.cameras is not None and len(scene.cameras) == 5
    np.testing.assert_allclose(scene.cameras.cam_to_world, c2w, atol=1e-5)
    assert (scene.cameras.width, scene.cameras.height) == (640, 480)
    assert scene.cameras.intrinsics.dtype == np.float64


def test_load_input_inria_and_policies(tmp_path):
    cloud = make_cloud(50, 3)
    cloud.sh[7, 3, 0] = np.nan
    ply = tmp_path / "point_cloud.ply"
    write_gaussian_ply(ply, cloud)
    scene = load_input(ply, cfg=InputCfg())
    assert scene.layout == "inria" and scene.default_up == "auto" and scene.cameras is None
    assert scene.dropped_invalid == 1 and len(scene.gaussians) == 49
    with pytest.raises(WorldgenError, match="1 of 50"):
        load_input(ply, cfg=InputCfg(nonfinite="error"))
    lyra1 = tmp_path / "lyra1.ply"
    write_gaussian_ply(lyra1, make_cloud(5, 0), layout="lyra1")
    assert load_input(lyra1, cfg=InputCfg()).default_up == "opencv"
    with pytest.raises(WorldgenError, match="input does not exist"):
        load_input(tmp_path / "nope.ply", cfg=InputCfg())
    (tmp_path / "scene.splat").write_bytes(b"x")
    with pytest.raises(WorldgenError, match="unsupported input type '.splat'"):
        load_input(tmp_path / "scene.splat", cfg=InputCfg())


def test_load_input_dispatches_folders(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("worldgen_sim.io.rgbd_folder")
    fake.read_rgbd_folder = lambda path, *, cfg: calls.append((path, cfg)) or "scene"
    monkeypatch.setitem(sys.modules, "worldgen_sim.io.rgbd_folder", fake)
    cfg = InputCfg()
    assert load_input(tmp_path, cfg=cfg) == "scene"
    assert calls == [(tmp_path, cfg)]


def test_read_camera_npz_generic_formats(tmp_path):
    _, k, c2w = lyra_cameras(3)
    path = tmp_path / "c.npz"
    np.savez(path, c2w=c2w, intrinsics=k[0], width=np.array(800), height=np.array(600))
    cams = read_camera_npz(path)
    np.testing.assert_allclose(cams.cam_to_world, c2w)
    assert cams.intrinsics.shape == (3, 3, 3) and (cams.width, cams.height) == (800, 600)
    np.savez(
        path, extrinsics=np.linalg.inv(c2w)[:, :3], K=np.tile([500.0, 500, 100, 50], (3, 1)), hw=np.array([90, 210])
    )
    cams = read_camera_npz(path)
    np.testing.assert_allclose(cams.cam_to_world, c2w, atol=1e-9)
    np.testing.assert_allclose(cams.intrinsics[1], [[500, 0, 100], [0, 500, 50], [0, 0, 1]])
    assert (cams.width, cams.height) == (210, 90)


def test_read_camera_npz_errors(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, poses=np.eye(4)[None])
    with pytest.raises(WorldgenError, match=r"c\.npz: no camera poses and intrinsics found \(keys: poses\)"):
        read_camera_npz(path)
    np.savez(path, c2w=np.eye(4)[None].repeat(2, 0), intrinsics=np.eye(3)[None].repeat(3, 0))
    with pytest.raises(WorldgenError, match="'intrinsics' holds 3 cameras but the poses hold 2"):
        read_camera_npz(path)
    np.savez(path, c2w=np.ones((2, 5, 5)), intrinsics=np.eye(3))
    with pytest.raises(WorldgenError, match=r"'c2w' has shape \(2, 5, 5\)"):
        read_camera_npz(path)
    np.savez(path, w2c=np.zeros((1, 4, 4)), intrinsics=np.eye(3))
    with pytest.raises(WorldgenError, match="singular"):
        read_camera_npz(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(WorldgenError, match=r"junk\.npz: cannot read camera file"):
        read_camera_npz(tmp_path / "junk.npz")
    ply = tmp_path / "scene.ply"
    write_gaussian_ply(ply, make_cloud(5, 0))
    np.savez(
        tmp_path / "cameras.npz", w2c_render=np.full((2, 4, 4), np.nan), intrinsics_render=np.eye(3)[None].repeat(2, 0)
    )
    with pytest.raises(WorldgenError, match=r"cameras\.npz: 'w2c_render' or 'intrinsics_render' holds NaN/Inf"):
        load_input(ply, cfg=InputCfg())

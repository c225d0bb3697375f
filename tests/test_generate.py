"""The generate step's parts on pictures and views with known geometry: reading, intrinsics,
lifting to Gaussians, completion of what one view cannot see, and the labels it carries."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_scenes import render_room

from worldgen_sim.errors import WorldgenError
from worldgen_sim.generate.completion import complete_view, completion_gaussians
from worldgen_sim.generate.generate_cfg import GenerateCfg
from worldgen_sim.generate.image import read_depth, read_picture
from worldgen_sim.generate.intrinsics import FILM_DIAGONAL_MM, resolve_focal
from worldgen_sim.generate.labels import merge_completion, over_completed_floor
from worldgen_sim.generate.lifting import lift_gaussians, matrix_to_quaternion

PIL = pytest.importorskip("PIL.Image")
COMPLETE = {"cell": 0.05, "outdoor_radius": 10.0, "object_depth": 0.4, "max_object_height": 2.2, "max_depth": 20.0}


def _world(view, vertices):
    return np.asarray(vertices, np.float64) @ view.cam_to_world[:3, :3].T + view.cam_to_world[:3, 3]


def _quat_to_matrix(q):
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)  # fmt: skip


# ---------------------------------------------------------------- reading and intrinsics


def test_jpeg_exif_35mm_focal_sets_intrinsics(tmp_path):
    """A phone JPEG's FocalLengthIn35mmFilm (26 mm) gives f = 26 * diagonal / 43.27 mm, recorded as EXIF."""
    image = PIL.fromarray((np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8))
    exif = PIL.Exif()
    exif[0x8769] = {0xA405: 26}
    image.save(tmp_path / "phone.jpg", exif=exif)
    picture = read_picture(tmp_path / "phone.jpg")
    assert picture.size == (160, 120) and picture.focal_35mm == 26
    focal, source = resolve_focal(width=160, height=120, focal_35mm=picture.focal_35mm)
    assert source == "exif:focal_35mm"
    assert focal == pytest.approx(26 * 200.0 / FILM_DIAGONAL_MM)
    # Options win over EXIF; without anything the documented default field of view applies.
    assert resolve_focal(width=160, height=120, focal_px=300, focal_35mm=26) == (300, "option:focal")
    f_fov, src = resolve_focal(width=160, height=120, fov_deg=90, focal_35mm=26)
    assert src == "option:fov" and f_fov == pytest.approx(80.0)
    f_model, src = resolve_focal(width=160, height=120, model_fov_deg=90.0)
    assert src == "model:field_of_view" and f_model == pytest.approx(80.0)
    f_default, src = resolve_focal(width=160, height=120, default_fov_deg=60)
    assert src == "default" and f_default == pytest.approx(80 / math.tan(math.radians(30)))


def test_bad_pictures_and_depth_are_one_clear_error(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(WorldgenError, match="broken.jpg: cannot read the picture"):
        read_picture(tmp_path / "broken.jpg")
    PIL.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(WorldgenError, match="tiny.png: picture is 8x8 px"):
        read_picture(tmp_path / "tiny.png")
    PIL.fromarray(np.full((60, 80), 1500, np.uint16)).save(tmp_path / "small_depth.png")
    with pytest.raises(WorldgenError, match="depth is 80x60 px but the picture is 160x120"):
        read_depth(tmp_path / "small_depth.png", size=(160, 120), depth_scale=1000)
    np.save(tmp_path / "zeros.npy", np.zeros((120, 160), np.float32))
    with pytest.raises(WorldgenError, match="every depth pixel is 0"):
        read_depth(tmp_path / "zeros.npy", size=(160, 120), depth_scale=1000)
    PIL.fromarray(np.zeros((120, 160, 3), np.uint8)).save(tmp_path / "rgb_depth.png")
    with pytest.raises(WorldgenError, match="single-channel 16-bit PNG"):
        read_depth(tmp_path / "rgb_depth.png", size=(160, 120), depth_scale=1000)


def test_depth_png_and_npy_read_as_metres(tmp_path):
    depth = np.full((120, 160), 2.5, np.float32)
    depth[:10] = 0
    PIL.fromarray((depth * 1000).astype(np.uint16)).save(tmp_path / "d.png")
    np.save(tmp_path / "d.npy", depth)
    for name in ("d.png", "d.npy"):
        read = read_depth(tmp_path / name, size=(160, 120), depth_scale=1000)
        assert read.dtype == np.float32 and np.allclose(read, depth)


def test_generate_cfg_validate_names_the_field():
    with pytest.raises(WorldgenError, match="generate.backend"):
        GenerateCfg(backend="magic").validate()
    with pytest.raises(WorldgenError, match="generate.stride"):
        GenerateCfg(stride=0).validate()
    with pytest.raises(WorldgenError, match="generate.lyra_num_frames"):
        GenerateCfg(lyra_num_frames=100).validate()
    GenerateCfg().validate()


# ---------------------------------------------------------------- lifting


def test_quaternions_round_trip_random_rotations():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(500, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    back = matrix_to_quaternion(_quat_to_matrix(q))
    assert np.allclose(np.abs(np.sum(back * q, axis=1)), 1.0, atol=1e-5)


def test_lifted_gaussians_lie_on_the_surfaces_flat_along_their_normals():
    """Centres on the true surfaces; interior floor Gaussians are flat discs whose normal is the floor's."""
    view = render_room()
    cloud, report = lift_gaussians(view.rgb, view.depth, view.intrinsic, stride=2, edge_threshold=0.04, max_depth=20)
    assert report["gaussians"] == len(cloud) > 3000
    world = _world(view, cloud.positions)
    rotation = _quat_to_matrix(cloud.rotations.astype(np.float64))
    normal_world = rotation[:, :, 2] @ view.cam_to_world[:3, :3].T
    on_floor = np.abs(world[:, 2]) < 1e-3
    assert on_floor.sum() > 1000
    assert np.percentile(np.abs(normal_world[on_floor, 2]), 10) > 0.99  # floor normal = +-Z
    assert np.all(cloud.scales[:, 2] <= 0.1001 * cloud.scales[:, 1])  # flattened along the normal
    z = cloud.positions[:, 2]
    assert np.all(cloud.scales[:, 1] == pytest.approx(0.5 * 2 * z / view.intrinsic[0, 0], rel=1e-5))


def test_no_gaussian_is_stretched_across_a_depth_edge():
    """Gaussians on the box (its silhouette is a depth edge to the wall behind) end on the box:
    their 2-sigma extent along both in-plane axes stays within the box plus one pixel footprint,
    although Gaussians on its top, seen at a grazing angle, are stretched."""
    view = render_room(width=320, height_px=240, focal=240.0)
    cloud, report = lift_gaussians(view.rgb, view.depth, view.intrinsic, stride=2, edge_threshold=0.04, max_depth=20)
    assert report["on_depth_edges"] > 0
    world = _world(view, cloud.positions)
    lo, hi = np.array(view.box[0]), np.array(view.box[1])
    # (The box's bottom edge is a crease with the floor, not an occlusion edge: left out.)
    on_box = np.all((world > lo - 1e-3) & (world < hi + 1e-3), axis=1) & (world[:, 2] > 0.05)
    rotation = _quat_to_matrix(cloud.rotations.astype(np.float64))[on_box]
    axes = np.einsum("ij,njk->nik", view.cam_to_world[:3, :3], rotation)  # world-frame local axes (columns)
    footprint = 2 * cloud.positions[on_box, 2] / view.intrinsic[0, 0]
    stretch = cloud.scales[on_box, 0] / (0.5 * footprint)
    assert stretch.max() > 1.5  # the top is stretched along the view ...
    for axis in (0, 1):
        for sign in (-1, 1):
            end = world[on_box] + sign * 2 * cloud.scales[on_box, axis, None] * axes[:, :, axis]
            slack = footprint[:, None] + 1e-3
            assert np.all((end > lo - slack) & (end < hi + slack)), "a box Gaussian reaches past the box"


def test_sky_and_invalid_depth_are_masked():
    view = render_room(back=None, left=None, sky_beyond=8.0)
    depth = view.depth.copy()
    depth[:5] = np.nan
    cloud, report = lift_gaussians(view.rgb, depth, view.intrinsic, stride=2, edge_threshold=0.04, max_depth=6.0)
    assert report["masked_sky"] > 0 and report["masked_invalid"] > 0
    assert np.all(np.isfinite(cloud.positions)) and cloud.positions[:, 2].max() <= 6.0


# ---------------------------------------------------------------- completion


@pytest.fixture(scope="module")
def room():
    view = render_room(noise=0.0017)
    return view, complete_view(view.rgb, view.depth, view.intrinsic, **COMPLETE)


def test_completion_finds_the_floor_and_walls(room):
    view, completion = room
    assert completion.report["floor_found"] and completion.report["walls_found"] == 2
    assert completion.report["camera_height"] == pytest.approx(1.2, abs=0.03)
    assert completion.kinds.shape[0] == completion.mesh.faces.shape[0]
    assert set(np.unique(completion.kinds)) == {1, 2, 3}


def test_floor_continues_under_and_behind_the_box_to_the_walls(room):
    view, completion = room
    world = _world(view, completion.mesh.vertices)
    floor_faces = completion.mesh.faces[completion.kinds == 1]
    assert np.abs(world[floor_faces][..., 2]).max() < 0.03  # on the true floor
    from worldgen_sim.artifacts import TriangleMesh

    mesh = TriangleMesh(world.astype(np.float32), completion.mesh.faces)
    (x0, y0, _), (x1, y1, _) = view.box
    # Floor the camera cannot see: under the box and between its back and the back wall.
    hidden = np.array([[0.5 * (x0 + x1), y1 + 0.3, 0.0], [0.5 * (x0 + x1), 0.5 * (y0 + y1), 0.0],
                       [x0 + 0.05, view.back - 0.1, 0.0]])  # fmt: skip
    assert over_completed_floor(hidden, mesh, completion.kinds, max_dz=0.05).all()
    # Nothing beyond the walls.
    assert world[floor_faces][..., 1].max() < view.back + 0.1
    assert world[floor_faces][..., 0].min() > view.left - 0.1


def test_walls_reach_down_to_the_floor_behind_the_box(room):
    view, completion = room
    world = _world(view, completion.mesh.vertices)
    wall_faces = completion.mesh.faces[completion.kinds == 2]
    corners = world[wall_faces].reshape(-1, 3)
    (x0, _, _), (x1, _, _) = view.box
    behind = (np.abs(corners[:, 1] - view.back) < 0.15) & (corners[:, 0] > x0) & (corners[:, 0] < x1)
    assert behind.any() and corners[behind, 2].min() < 0.02


def test_objects_are_closed_to_the_floor_behind(room):
    view, completion = room
    world = _world(view, completion.mesh.vertices)
    corners = world[completion.mesh.faces[completion.kinds == 3]].reshape(-1, 3)
    (x0, y0, _), (x1, y1, top) = view.box
    assert corners[:, 2].min() == pytest.approx(0.0, abs=0.03)  # down to the floor
    assert corners[:, 2].max() == pytest.approx(top, abs=0.08)
    assert corners[:, 1].max() > y0 + 0.35  # closed behind the seen front
    assert corners[:, 1].max() < y1 + 0.5 and corners[:, 0].min() > x0 - 0.1 and corners[:, 0].max() < x1 + 0.1


def test_outdoors_the_floor_continues_to_the_radius():
    view = render_room(back=None, left=None, sky_beyond=6.0)
    completion = complete_view(view.rgb, view.depth, view.intrinsic, **dict(COMPLETE, outdoor_radius=9.0))
    assert completion.report["walls_found"] == 0 and completion.report["outdoor"]
    world = _world(view, completion.mesh.vertices)
    floor = world[completion.mesh.faces[completion.kinds == 1]].reshape(-1, 3)
    reach = np.linalg.norm(floor[:, :2] - view.cam_to_world[:2, 3], axis=1).max()
    assert 8.5 < reach < 9.5


def test_completion_gaussians_and_labels_follow_the_faces(room):
    view, completion = room
    cloud = completion_gaussians(completion)
    assert len(cloud) == completion.mesh.faces.shape[0]
    from worldgen_sim.artifacts import TriangleMesh

    seen = TriangleMesh(np.zeros((3, 3), np.float32), np.array([[0, 1, 2]], np.int32), colors=np.zeros((3, 3)))
    merged, labels = merge_completion(seen, completion.mesh, completion.kinds)
    assert labels[0] == 0 and np.array_equal(labels[1:], completion.kinds)
    assert merged.faces.shape[0] == 1 + completion.mesh.faces.shape[0]

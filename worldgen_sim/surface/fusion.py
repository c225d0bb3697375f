"""TSDF fusion of depth images into a triangle mesh (open3d's tensor ``VoxelBlockGrid``).

open3d 0.20's legacy ``ScalableTSDFVolume`` returns empty meshes, so fusion uses
the tensor API, which runs on the CPU: a sparse hash map of 8^3-voxel blocks
holding a truncated signed distance, an integration weight and a colour per
voxel. Each frame first activates the blocks its depth touches, then updates
them; marching cubes over blocks with enough weight gives the mesh.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import CameraPath, TriangleMesh
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress

BLOCK_RESOLUTION = 8
"""Voxels per block edge; 8 keeps the per-block overhead small at 1-2 cm voxels."""


def fuse_depth_frames(
    depths: np.ndarray,
    colors: np.ndarray | None,
    cameras: CameraPath,
    *,
    voxel_size: float,
    truncation_voxels: float,
    max_depth: float,
    min_weight: float = 1.0,
    progress: Progress | None = None,
) -> TriangleMesh:
    """Fuse M registered depth images into a TSDF and extract its zero level set.

    Args:
        depths: (M, H, W) float32 z-depth along each optical axis [m]; 0, NaN or
            beyond ``max_depth`` = no reading.
        colors: (M, H, W, 3) uint8 RGB or float RGB in [0, 1], or None for grey.
        cameras: the M cameras (OpenCV convention, ``cam_to_world`` into the
            frame the mesh is wanted in), same H and W as the images.
        voxel_size: TSDF voxel edge [m].
        truncation_voxels: truncation distance in voxels.
        max_depth: readings beyond this are ignored [m].
        min_weight: voxels integrated fewer times than this are not meshed.
        progress: reports one step per frame.

    Returns:
        The mesh with per-vertex colours (linear RGB in [0, 1]); faces wound
        counter-clockwise seen from the observed (free-space) side.

    Raises:
        WorldgenError: shapes that do not agree, or nothing observed.
    """
    import open3d as o3d
    import open3d.core as o3c

    depths = np.asarray(depths)
    check_fusion_inputs(depths, colors, cameras)
    count, height, width = depths.shape

    device = o3c.Device("CPU:0")
    grid = o3d.t.geometry.VoxelBlockGrid(
        attr_names=("tsdf", "weight", "color"),
        attr_dtypes=(o3c.float32, o3c.float32, o3c.float32),
        attr_channels=((1), (1), (3)),  # type: ignore[arg-type]
        voxel_size=float(voxel_size),
        block_resolution=BLOCK_RESOLUTION,
        block_count=_initial_block_count(depths, cameras, voxel_size),
        device=device,
    )
    observed = 0
    for index in range(count):
        depth = np.nan_to_num(np.asarray(depths[index], np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        depth[(depth < 0) | (depth > max_depth)] = 0.0
        if not np.any(depth > 0):
            continue
        observed += 1
        if colors is None:
            color = np.full((height, width, 3), 0.7, np.float32)
        else:
            color = np.asarray(colors[index])
            color = color.astype(np.float32) / 255.0 if color.dtype == np.uint8 else color.astype(np.float32)
        intrinsic = o3c.Tensor(np.asarray(cameras.intrinsics[index], np.float64))
        lookup = o3c.Tensor(pixel_lookup_intrinsics(cameras.intrinsics[index]))
        extrinsic = o3c.Tensor(np.linalg.inv(np.asarray(cameras.cam_to_world[index], np.float64)))
        depth_image = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(depth)))
        color_image = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(color)))
        blocks = grid.compute_unique_block_coordinates(
            depth_image, intrinsic, extrinsic, 1.0, float(max_depth), float(truncation_voxels)
        )
        grid.integrate(
            blocks, depth_image, color_image, lookup, lookup, extrinsic, 1.0, float(max_depth),
            float(truncation_voxels),
        )  # fmt: skip
        if progress is not None:
            progress.step(index + 1, count, "TSDF fusion")
    if observed == 0:
        raise WorldgenError("no depth image holds a valid reading within max_depth; nothing to fuse")
    # open3d keeps voxels whose weight is strictly above the threshold; weights count observations.
    mesh = grid.extract_triangle_mesh(weight_threshold=float(min_weight) - 0.5)
    if mesh.vertex.positions.shape[0] == 0 or mesh.triangle.indices.shape[0] == 0:
        return TriangleMesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32))
    vertices = mesh.vertex.positions.numpy().astype(np.float32)
    # open3d's marching cubes already winds faces counter-clockwise seen from the observed side.
    faces = mesh.triangle.indices.numpy().astype(np.int32)
    vertex_colors = None
    if "colors" in mesh.vertex:
        vertex_colors = np.clip(mesh.vertex.colors.numpy().astype(np.float32), 0.0, 1.0)
    return canonical_order(TriangleMesh(vertices=vertices, faces=faces, colors=vertex_colors))


def pixel_lookup_intrinsics(intrinsics: np.ndarray) -> np.ndarray:
    """(3, 3) float64 intrinsics that make open3d's integration read the *nearest* pixel.

    Depth images here (rendered, z-buffered, or RGB-D in the OpenCV convention) hold
    pixel (u, v)'s reading at the integer coordinate (u, v). open3d integrates a voxel
    by truncating its projection to a pixel index, i.e. the pixel up to one whole pixel
    up-left of it; on ground seen at a slant that reads a farther surface and sinks
    the fused mesh by about half a pixel's footprint (1.2 cm on the rolling terrain
    scene from ray-cast exact depth, 0.0 cm with this shift). Shifting the principal
    point by half a pixel turns the truncation into rounding.
    """
    shifted = np.array(intrinsics, np.float64)
    shifted[0, 2] += 0.5
    shifted[1, 2] += 0.5
    return shifted


def check_fusion_inputs(depths: np.ndarray, colors: np.ndarray | None, cameras: CameraPath) -> None:
    """Raise unless (M, H, W) depths, optional (M, H, W, 3) colours and M cameras of H x W agree."""
    if depths.ndim != 3:
        raise WorldgenError(f"depth images must be (M, H, W), got shape {depths.shape}")
    count, height, width = depths.shape
    if len(cameras) != count:
        raise WorldgenError(f"{count} depth images but {len(cameras)} camera poses")
    if (cameras.height, cameras.width) != (height, width):
        raise WorldgenError(
            f"depth images are {width}x{height} px but the cameras are {cameras.width}x{cameras.height} px"
        )
    if colors is not None and np.asarray(colors).shape[:3] != depths.shape:
        raise WorldgenError(f"colour images {np.asarray(colors).shape} do not match depth images {depths.shape}")


def canonical_order(mesh: TriangleMesh) -> TriangleMesh:
    """The same mesh with vertices sorted by position and faces by their vertex indices.

    open3d's voxel hash map hands blocks out in an order that varies from run to run, so
    marching cubes emits the same surface in a different order each time; everything
    downstream (decimation, the collision cache key) needs one order for one surface.
    """
    order = np.lexsort(mesh.vertices.T[::-1])
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    faces = rank[mesh.faces].astype(np.int32)
    # Rotate each face so its smallest index comes first (keeps the winding), then sort faces.
    first = np.argmin(faces, axis=1)
    faces = np.take_along_axis(faces, (first[:, None] + np.arange(3)) % 3, axis=1)
    faces = faces[np.lexsort(faces.T[::-1])]
    colors = mesh.colors[order] if mesh.colors is not None else None
    return TriangleMesh(vertices=mesh.vertices[order], faces=faces, colors=colors)


def _initial_block_count(depths: np.ndarray, cameras: CameraPath, voxel_size: float) -> int:
    """A hash-map size that the grid rarely needs to grow: from the observed surface area.

    A pixel at depth z covers about (z / f)^2 m^2; the blocks touched are roughly
    the observed area over one block face, times a margin for the truncation band
    and overlapping views. The map grows by itself when this is short.
    """
    focal = float(np.mean(cameras.intrinsics[:, 0, 0])) if len(cameras) else 500.0
    sample = np.asarray(depths[:, ::8, ::8], np.float32)
    valid = np.isfinite(sample) & (sample > 0)
    area = float(np.sum((sample[valid] / focal) ** 2)) * 64.0
    block_edge = BLOCK_RESOLUTION * voxel_size
    estimate = int(4.0 * area / block_edge**2)
    return int(np.clip(estimate, 10_000, 4_000_000))

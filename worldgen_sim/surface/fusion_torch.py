"""TSDF fusion of depth images into a triangle mesh with torch, on any torch device.

The same algorithm as open3d's ``VoxelBlockGrid`` (:mod:`worldgen_sim.surface.fusion`),
so the two meshes agree, but it runs wherever torch runs -- a CUDA GPU included --
and needs no open3d:

1. the 8^3-voxel blocks that each valid pixel's ray passes through within the
   truncation distance of its depth (4 samples, as open3d's
   ``compute_unique_block_coordinates``) are that view's active blocks;
2. a dense grid over the bounding box of all active blocks holds the truncated signed
   distance (in truncation units, +1 = free space), the integration weight and
   the colour of each voxel;
3. each view updates only the voxels of its own active blocks (vectorised over
   them): signed distance = measured depth - voxel z-depth, kept where it is
   above -truncation, clamped to +1, running averages of distance and colour;
4. marching cubes (PyMCubes, on the CPU) over the grid; triangles of cubes with a
   corner integrated fewer than ``min_weight`` times are dropped (open3d meshes
   only blocks of observed voxels the same way).

Memory is 20 bytes a voxel of the grid's bounding box: about 0.25 GB for a
6 x 5 x 2.7 m room at 2 cm voxels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from worldgen_sim.artifacts import CameraPath, TriangleMesh
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress
from worldgen_sim.surface.fusion import BLOCK_RESOLUTION, canonical_order, check_fusion_inputs

MAX_GRID_VOXELS = 400_000_000
"""The largest dense grid (8 GB) fused; larger scenes need a coarser ``surface.voxel_size``."""


def fuse_depth_frames_torch(
    depths: np.ndarray,
    colors: np.ndarray | None,
    cameras: CameraPath,
    *,
    voxel_size: float,
    truncation_voxels: float,
    max_depth: float,
    min_weight: float = 1.0,
    device: str = "cpu",
    progress: Progress | None = None,
) -> TriangleMesh:
    """Fuse M registered depth images into a TSDF on a torch device and extract its zero level set.

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
        device: torch device the grid lives on (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        progress: reports one step per frame.

    Returns:
        The mesh with per-vertex colours (linear RGB in [0, 1]); faces wound
        counter-clockwise seen from the observed (free-space) side; vertices and
        faces in :func:`worldgen_sim.surface.fusion.canonical_order`.

    Raises:
        WorldgenError: shapes that do not agree, nothing observed, or a grid
            larger than :data:`MAX_GRID_VOXELS`.
    """
    depths = np.asarray(depths)
    check_fusion_inputs(depths, colors, cameras)
    truncation = float(truncation_voxels) * float(voxel_size)
    frames = _observed_frames(depths, cameras, truncation=truncation, max_depth=float(max_depth), device=device)
    grid = _Grid.spanning(frames, voxel_size=float(voxel_size), max_depth=float(max_depth), device=device)
    for step, frame in enumerate(frames):
        _integrate(grid, frame, cameras, colors, truncation=truncation)
        if progress is not None:
            progress.step(step + 1, len(frames), "TSDF fusion (torch)")
    return _extract_mesh(grid.tsdf, grid.weight, grid.color, grid.dims, grid.origin, voxel_size=float(voxel_size),
                         min_weight=min_weight)


def _observed_frames(depths: np.ndarray, cameras: CameraPath, *, truncation: float, max_depth: float, device: str):
    """Pass 1: (frame index, (H, W) depth tensor, touched world points) of every frame with a valid
    reading; the points lie along each valid pixel's ray within the truncation band."""
    import torch

    dev = torch.device(device)
    frames = []
    for index in range(depths.shape[0]):
        depth = np.nan_to_num(np.asarray(depths[index], np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        depth[(depth < 0) | (depth > max_depth)] = 0.0
        if not np.any(depth > 0):
            continue
        depth_t = torch.from_numpy(np.ascontiguousarray(depth)).to(dev)
        points = _touch_points(
            depth_t, np.asarray(cameras.intrinsics[index], np.float64),
            np.asarray(cameras.cam_to_world[index], np.float64), truncation=truncation, max_depth=max_depth,
        )  # fmt: skip
        frames.append((index, depth_t, points))
    if not frames:
        raise WorldgenError("no depth image holds a valid reading within max_depth; nothing to fuse")
    return frames


@dataclass(eq=False)
class _Grid:
    """A dense TSDF grid of 8^3-voxel blocks spanning every touched point.

    ``tsdf`` (N,) truncated signed distance in truncation units, ``weight`` (N,) observation
    counts and ``color`` (N, 3) running mean RGB, flattened C-order over ``dims`` voxels;
    ``origin`` is the world position of voxel (0, 0, 0) [m].
    """

    voxel_size: float
    block_lo: np.ndarray
    block_dims: list[int]
    dims: list[int]
    origin: np.ndarray
    tsdf: Any
    weight: Any
    color: Any
    strides: Any
    local: Any
    local_flat: Any
    block_strides: Any

    @classmethod
    def spanning(cls, frames: list, *, voxel_size: float, max_depth: float, device: str) -> _Grid:
        import torch

        dev = torch.device(device)
        block_edge = BLOCK_RESOLUTION * voxel_size
        lower = torch.stack([f[2].min(dim=0).values for f in frames]).min(dim=0).values.double().cpu().numpy()
        upper = torch.stack([f[2].max(dim=0).values for f in frames]).max(dim=0).values.double().cpu().numpy()
        block_lo = np.floor(lower / block_edge).astype(np.int64)
        block_dims = [int(n) for n in np.floor(upper / block_edge).astype(np.int64) - block_lo + 1]
        r = BLOCK_RESOLUTION
        dims = [int(n) * r for n in block_dims]
        total = dims[0] * dims[1] * dims[2]
        if total > MAX_GRID_VOXELS:
            raise WorldgenError(
                f"the TSDF grid would hold {total / 1e6:.0f}M voxels (limit {MAX_GRID_VOXELS / 1e6:.0f}M); "
                f"raise surface.voxel_size = {voxel_size} m or lower surface.max_depth = {max_depth} m"
            )
        local = torch.stack(torch.meshgrid(*(torch.arange(r, device=dev),) * 3, indexing="ij"), dim=-1).reshape(-1, 3)
        strides = torch.tensor([dims[1] * dims[2], dims[2], 1], dtype=torch.int64, device=dev)
        return cls(
            voxel_size=voxel_size, block_lo=block_lo, block_dims=block_dims, dims=dims,
            origin=block_lo * r * voxel_size,
            tsdf=torch.ones(total, dtype=torch.float32, device=dev),
            weight=torch.zeros(total, dtype=torch.float32, device=dev),
            color=torch.zeros((total, 3), dtype=torch.float32, device=dev),
            strides=strides, local=local, local_flat=(local * strides).sum(dim=1),
            block_strides=torch.tensor([int(block_dims[1] * block_dims[2]), int(block_dims[2]), 1],
                                       dtype=torch.int64, device=dev),
        )  # fmt: skip


def _integrate(grid: _Grid, frame: tuple, cameras: CameraPath, colors, *, truncation: float) -> None:
    """Fold one frame into the grid: the voxels of the blocks its truncation band touches take a
    running mean of the clamped signed distance and of the colour."""
    import torch

    index, depth_t, points = frame
    dev, r, voxel_size = depth_t.device, BLOCK_RESOLUTION, grid.voxel_size
    height, width = depth_t.shape
    block_dims, block_strides = grid.block_dims, grid.block_strides
    # Active blocks: those the truncation band of a valid pixel's ray passes through, as a dense bitmap.
    touched = torch.floor(points / (r * voxel_size)).long() - torch.from_numpy(grid.block_lo).to(dev)
    bitmap = torch.zeros(block_dims[0] * block_dims[1] * block_dims[2], dtype=torch.bool, device=dev)
    bitmap[(touched * block_strides).sum(dim=1)] = True
    active = torch.nonzero(bitmap).squeeze(1)
    blocks = torch.stack(
        [active // block_strides[0], (active // block_strides[1]) % block_dims[1], active % block_dims[2]], dim=1
    )
    # Camera-frame voxel positions = block origin in the camera + the voxel's offset in its block (float32).
    world_to_cam = np.linalg.inv(np.asarray(cameras.cam_to_world[index], np.float64))
    rotation = world_to_cam[:3, :3]
    block_cam = (blocks.double() * (r * voxel_size)) @ torch.from_numpy(rotation.T).to(dev) + torch.from_numpy(
        rotation @ grid.origin + world_to_cam[:3, 3]
    ).to(dev)
    local_cam = (grid.local.double() * voxel_size) @ torch.from_numpy(rotation.T).to(dev)
    cam = (block_cam.float()[:, None, :] + local_cam.float()[None]).reshape(-1, 3)
    flat = (blocks * r * grid.strides).sum(dim=1)[:, None] + grid.local_flat[None]
    k = np.asarray(cameras.intrinsics[index], np.float64)
    z = cam[:, 2]
    safe_z = torch.where(z > 1e-6, z, torch.ones_like(z))
    # The nearest pixel (pixel centres at integer coordinates), as open3d's fusion reads it once
    # given pixel_lookup_intrinsics (it truncates the projection).
    u = torch.floor(cam[:, 0] / safe_z * float(k[0, 0]) + float(k[0, 2]) + 0.5)
    v = torch.floor(cam[:, 1] / safe_z * float(k[1, 1]) + float(k[1, 2]) + 0.5)
    inside = (z > 1e-6) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    pixel = torch.where(inside, v * width + u, torch.zeros_like(u)).long()
    measured = depth_t.reshape(-1)[pixel]
    sdf = measured - z
    sel = torch.nonzero(inside & (measured > 0) & (sdf >= -truncation)).squeeze(1)
    pixel, sdf, target = pixel[sel], sdf[sel], flat.reshape(-1)[sel]
    old_weight = grid.weight[target]
    new_weight = old_weight + 1.0
    grid.tsdf[target] = (grid.tsdf[target] * old_weight + torch.clamp(sdf / truncation, max=1.0)) / new_weight
    image = _color_image(colors, index, height, width, dev)
    grid.color[target] = (grid.color[target] * old_weight[:, None] + image[pixel]) / new_weight[:, None]
    grid.weight[target] = new_weight


def _touch_points(depth, k: np.ndarray, cam_to_world: np.ndarray, *, truncation: float, max_depth: float):
    """(4 P, 3) float32 world points whose blocks a view activates: open3d's ``DepthTouch`` rule.

    Along each valid pixel's ray (pixel centres at integer coordinates), 4 evenly spaced
    z-depths from ``depth - truncation`` to ``depth + truncation`` (clipped to
    ``[0, max_depth]``).
    """
    import torch

    v, u = torch.nonzero(depth > 0, as_tuple=True)
    d = depth[v, u]
    t_min = torch.clamp(d - truncation, min=0.0)
    t_max = torch.clamp(d + truncation, max=float(max_depth))
    t = t_min[:, None] + (t_max - t_min)[:, None] * torch.linspace(0.0, 1.0, 4, device=depth.device)[None]
    ray = torch.stack(
        [
            (u.float() - float(k[0, 2])) / float(k[0, 0]),
            (v.float() - float(k[1, 2])) / float(k[1, 1]),
            torch.ones_like(d),
        ],
        dim=1,
    )
    cam = (ray[:, None, :] * t[:, :, None]).reshape(-1, 3)
    rotation = torch.from_numpy(cam_to_world[:3, :3].astype(np.float32)).to(depth.device)
    return cam @ rotation.T + torch.from_numpy(cam_to_world[:3, 3].astype(np.float32)).to(depth.device)


def _color_image(colors, index: int, height: int, width: int, device):
    """(H * W, 3) float32 RGB in [0, 1] of view ``index`` on ``device`` (grey without colours)."""
    import torch

    if colors is None:
        return torch.full((height * width, 3), 0.7, dtype=torch.float32, device=device)
    image = np.asarray(colors[index])
    image = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(image.reshape(-1, 3))).to(device)


def _extract_mesh(
    tsdf, weight, color, dims, grid_origin: np.ndarray, *, voxel_size: float, min_weight: float
) -> TriangleMesh:
    """Marching cubes of the fused grid; only cubes whose 8 corners are all observed make triangles."""
    import mcubes
    import torch

    empty = TriangleMesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32))
    # Weights count observations; open3d keeps voxels with weight > min_weight - 0.5, so does this.
    observed = weight > float(min_weight) - 0.5
    if not bool(observed.any()):
        return empty
    volume = torch.where(observed, tsdf, torch.ones_like(tsdf)).reshape(dims).cpu().numpy()
    observed_np = observed.reshape(dims).cpu().numpy()
    vertices, faces = mcubes.marching_cubes(volume, 0.0)
    if faces.shape[0] == 0:
        return empty
    faces = faces.astype(np.int64)
    # Each triangle lies in one cube; its centroid's floor is that cube's lowest corner.
    cube = np.floor(vertices[faces].mean(axis=1)).astype(np.int64)
    cube = np.clip(cube, 0, np.asarray(dims) - 2)
    complete = np.ones(faces.shape[0], bool)
    for corner in np.ndindex(2, 2, 2):
        c = cube + np.asarray(corner)
        complete &= observed_np[c[:, 0], c[:, 1], c[:, 2]]
    faces = faces[complete]
    if faces.shape[0] == 0:
        return empty
    used, faces = np.unique(faces, return_inverse=True)
    faces = faces.reshape(-1, 3)
    vertices = vertices[used]
    # PyMCubes winds faces counter-clockwise seen from the negative (occupied) side; the mesh faces free space.
    faces = faces[:, [0, 2, 1]].astype(np.int32)
    vertex_colors = _edge_colors(vertices, color.reshape(*dims, 3).cpu().numpy(), observed_np)
    world = (vertices * voxel_size + np.asarray(grid_origin, np.float64)).astype(np.float32)
    return canonical_order(TriangleMesh(vertices=world, faces=faces, colors=vertex_colors))


def _edge_colors(vertices: np.ndarray, color: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(V, 3) float32 colours of marching-cubes vertices: linear between the two voxels of each vertex's edge."""
    lo = np.floor(vertices).astype(np.int64)
    lo = np.clip(lo, 0, np.asarray(observed.shape) - 1)
    frac = vertices - lo
    axis = np.argmax(frac, axis=1)  # the edge's direction (0 for a vertex on a grid point)
    t = frac[np.arange(vertices.shape[0]), axis][:, None]
    hi = lo.copy()
    hi[np.arange(vertices.shape[0]), axis] = np.minimum(
        lo[np.arange(vertices.shape[0]), axis] + 1, np.asarray(observed.shape)[axis] - 1
    )
    a = color[lo[:, 0], lo[:, 1], lo[:, 2]]
    b = color[hi[:, 0], hi[:, 1], hi[:, 2]]
    return np.clip((1.0 - t) * a + t * b, 0.0, 1.0).astype(np.float32)

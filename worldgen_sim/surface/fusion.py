"""TSDF fusion of depth images into a triangle mesh (open3d's tensor ``VoxelBlockGrid``).

open3d 0.20's legacy ``ScalableTSDFVolume`` returns empty meshes, so fusion uses
the tensor API, which runs on the CPU: a sparse hash map of 8^3-voxel blocks
holding a truncated signed distance, an integration weight and a colour per
voxel. Each frame first activates the blocks its depth touches, then updates
them; marching cubes over blocks with enough weight gives the mesh.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.artifacts import CameraPath, GaussianCloud, TriangleMesh
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
        extrinsic = o3c.Tensor(np.linalg.inv(np.asarray(cameras.cam_to_world[index], np.float64)))
        depth_image = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(depth)))
        color_image = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(color)))
        blocks = grid.compute_unique_block_coordinates(
            depth_image, intrinsic, extrinsic, 1.0, float(max_depth), float(truncation_voxels)
        )
        grid.integrate(
            blocks, depth_image, color_image, intrinsic, intrinsic, extrinsic, 1.0, float(max_depth),
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


def zbuffer_depth_maps(
    gaussians: GaussianCloud,
    cameras: CameraPath,
    *,
    min_opacity: float,
    near: float,
    far: float,
    radius_sigmas: float = 1.5,
    max_radius_px: int = 8,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Depth and colour images by z-buffering Gaussian centres as small discs (no alpha blending).

    A fast stand-in for rasterisation when only the first surface matters:
    each Gaussian with opacity >= ``min_opacity`` covers a disc of
    ``radius_sigmas`` times its largest scale, projected to pixels (capped at
    ``max_radius_px``). Each disc pixel takes the depth where its ray meets the
    Gaussian's plane (through its centre, normal to its shortest axis; within
    one radius of the centre depth), so overlapping discs of one surface agree
    instead of the nearest disc edge winning, and the Gaussian's DC colour;
    each pixel keeps the nearest. On dense surfel clouds this gives the same
    first surface as a rasteriser's median depth, at a fraction of its cost on a CPU.

    Args:
        gaussians: the cloud in the cameras' frame.
        cameras: M pinhole cameras (OpenCV).
        min_opacity: fainter Gaussians (haze, floaters) are not drawn.
        near: nearer centres are skipped [m].
        far: farther centres are skipped [m].
        radius_sigmas: disc radius in standard deviations of the largest axis.
        max_radius_px: the largest disc radius drawn [px].
        progress: reports one step per view.

    Returns:
        (M, H, W) float32 depth [m] (0 where nothing is drawn) and
        (M, H, W, 3) float32 RGB in [0, 1].
    """
    import torch

    discs = _prepare_discs(gaussians, min_opacity=min_opacity, radius_sigmas=radius_sigmas)
    offsets = _disc_offsets(max_radius_px)
    height, width = int(cameras.height), int(cameras.width)
    depths = np.zeros((len(cameras), height, width), np.float32)
    images = np.zeros((len(cameras), height, width, 3), np.float32)
    for view in range(len(cameras)):
        world_to_cam = torch.from_numpy(np.linalg.inv(cameras.cam_to_world[view]).astype(np.float32))
        k = [float(v) for v in (cameras.intrinsics[view][0, 0], cameras.intrinsics[view][1, 1],
                                cameras.intrinsics[view][0, 2], cameras.intrinsics[view][1, 2])]
        projected = _project_discs(discs, world_to_cam, k, near=near, far=far, max_radius_px=max_radius_px)
        fragments = _disc_fragments(projected, offsets, k, width=width, height=height)
        if fragments is not None:
            pixels, pixel_z, owners = fragments
            depth, image = _nearest_fragments(pixels, pixel_z, owners, discs["colors"], width=width, height=height)
            depths[view], images[view] = depth, image
        if progress is not None:
            progress.step(view + 1, len(cameras), "z-buffer depth")
    return depths, images


def _prepare_discs(gaussians: GaussianCloud, *, min_opacity: float, radius_sigmas: float) -> dict:
    """Torch tensors of the opaque Gaussians: (G, 3) positions, (G,) disc radii [m], (G, 3) colours, (G, 3) normals."""
    import torch

    keep = gaussians.opacities >= min_opacity
    return {
        "positions": torch.from_numpy(np.ascontiguousarray(gaussians.positions[keep], np.float32)),
        "radius": torch.from_numpy(radius_sigmas * gaussians.scales[keep].max(axis=1).astype(np.float32)),
        "colors": torch.from_numpy(gaussians.colors()[keep]),
        "normals": torch.from_numpy(_shortest_axes(gaussians.rotations[keep], gaussians.scales[keep])),
    }


def _disc_offsets(max_radius_px: int) -> list:
    """Per radius r = 0..max_radius_px, the (P, 2) int64 (dy, dx) pixel offsets of a disc of radius r."""
    import torch

    offsets = []
    for r in range(max_radius_px + 1):
        dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
        disc = dy**2 + dx**2 <= r * r + r
        offsets.append(torch.from_numpy(np.stack([dy[disc], dx[disc]], axis=1)))
    return offsets


def _project_discs(discs: dict, world_to_cam, k: list[float], *, near: float, far: float, max_radius_px: int) -> dict:
    """The discs in front of one camera: their index into ``discs``, centre pixel, radius in pixels,
    centre depth, reach [m], camera-frame normal and plane offset (n . p)."""
    import torch

    fx, fy, cx, cy = k
    cam = discs["positions"] @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    index = torch.nonzero((cam[:, 2] > near) & (cam[:, 2] < far)).squeeze(1)
    cam = cam[index]
    z = cam[:, 2]
    normal_cam = discs["normals"][index] @ world_to_cam[:3, :3].T
    reach = discs["radius"][index]
    return {
        "index": index,
        "u": torch.round(fx * cam[:, 0] / z + cx).long(),
        "v": torch.round(fy * cam[:, 1] / z + cy).long(),
        "radius_px": torch.clamp(torch.ceil(reach * fx / z - 0.5), 0, max_radius_px).long(),
        "z": z,
        "reach": reach,
        "normal": normal_cam,
        "plane_offset": torch.sum(normal_cam * cam, dim=1),
    }


def _disc_fragments(projected: dict, offsets: list, k: list[float], *, width: int, height: int) -> tuple | None:
    """Every pixel each disc covers: (pixel index, depth [m], owning Gaussian's index into ``discs``),
    or None when no disc lands in the image.

    A pixel's depth is where its ray meets the owner's plane (clamped to the owner's reach
    around its centre depth), so overlapping discs of one surface agree.
    """
    import torch

    fx, fy, cx, cy = k
    u, v, radius_px = projected["u"], projected["v"], projected["radius_px"]
    # Frustum culling before the discs are expanded: most centres in front of a 90 deg view are outside it.
    in_frustum = (u >= -radius_px) & (u < width + radius_px) & (v >= -radius_px) & (v < height + radius_px)
    pixels, pixel_z, owners = [], [], []
    for r, offset in enumerate(offsets):
        sel = torch.nonzero((radius_px == r) & in_frustum).squeeze(1)
        if sel.numel() == 0:
            continue
        pv = (v[sel, None] + offset[None, :, 0]).reshape(-1)
        pu = (u[sel, None] + offset[None, :, 1]).reshape(-1)
        owner = sel[:, None].expand(-1, offset.shape[0]).reshape(-1)
        inside = (pu >= 0) & (pu < width) & (pv >= 0) & (pv < height)
        pv, pu, owner = pv[inside], pu[inside], owner[inside]
        # Ray through the pixel, z = 1: depth where it meets the owner's plane, n . (t d) = n . p.
        n = projected["normal"][owner]
        dot = n[:, 0] * ((pu - cx) / fx) + n[:, 1] * ((pv - cy) / fy) + n[:, 2]
        centre_z, reach = projected["z"][owner], projected["reach"][owner]
        plane_z = projected["plane_offset"][owner] / torch.where(dot.abs() > 1e-6, dot, torch.full_like(dot, 1e-6))
        plane_z = torch.where(torch.isfinite(plane_z), plane_z, centre_z)
        pixels.append(pv * width + pu)
        pixel_z.append(torch.minimum(torch.maximum(plane_z, centre_z - reach), centre_z + reach))
        owners.append(projected["index"][owner])
    if not pixels:
        return None
    return torch.cat(pixels), torch.cat(pixel_z), torch.cat(owners)


def _nearest_fragments(pixels, pixel_z, owners, colors, *, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) depth (0 where empty) and (H, W, 3) colour of the nearest fragment per pixel.

    Fragments at exactly the nearest depth are common (neighbouring discs of one plane), and
    a scattered assignment among them picks one in no fixed order; the lowest Gaussian index
    wins instead, so the same input always gives the same colours.
    """
    import torch

    zbuffer = torch.full((height * width,), float("inf")).scatter_reduce(0, pixels, pixel_z, "amin")
    nearest = pixel_z <= zbuffer[pixels]
    first = torch.full((height * width,), torch.iinfo(torch.int64).max, dtype=torch.int64)
    first = first.scatter_reduce(0, pixels[nearest], owners[nearest], "amin")
    covered = torch.isfinite(zbuffer)
    image = torch.zeros((height * width, 3))
    image[covered] = colors[first[covered]]
    zbuffer[~covered] = 0.0
    return zbuffer.reshape(height, width).numpy(), image.reshape(height, width, 3).numpy()


def _shortest_axes(rotations: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(N, 3) float32 unit direction of each Gaussian's shortest axis (its surface normal, unsigned)."""
    q = rotations.astype(np.float64)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    w, x, y, z = q.T
    columns = np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], axis=1),
            np.stack([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], axis=1),
            np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], axis=1),
        ],
        axis=1,
    )
    shortest = np.argmin(scales, axis=1)
    return columns[np.arange(q.shape[0]), shortest].astype(np.float32)

"""gsplat (CUDA) backend of :func:`worldgen_sim.surface.render.render_gaussians`.

One ``gsplat.rasterization`` call per batch of cameras renders, as colour
channels, RGB (from the SH, evaluated here per camera like gsplat does) and the
camera-facing shortest-axis normals, plus alpha. Depths need what gsplat's 3DGS
rasteriser does not give: a median depth, and per-pixel planar depth for surfels
(gsplat's "ED" composites centre depths, which bias slanted surfaces toward the
camera by about a pixel of depth gradient). Both depths therefore come from the
torch reference compositor (:mod:`worldgen_sim.surface.render_cpu`) run on the
same GPU, so they equal the CPU path's up to float rounding.
"""

from __future__ import annotations

import numpy as np

from worldgen_sim.errors import WorldgenError


def render_views_gsplat(cloud, cameras, *, near, far, progress=None, batch_views=8, device="cuda"):
    """Render every camera with gsplat on ``cuda:0``.

    Args:
        cloud: the :class:`GaussianCloud`.
        cameras: the :class:`CameraPath` (OpenCV cameras, shared width/height).
        near, far: z-clipping planes [m].
        progress: reports views done.
        batch_views: cameras rendered per gsplat call.
        device: the CUDA device.

    Returns:
        dict of float32 numpy arrays as in :func:`worldgen_sim.surface.render_cpu.render_views`.
    """
    import torch

    try:
        import gsplat
    except ImportError as error:  # render.py checks first; this keeps the module honest on its own
        raise WorldgenError(f"surface.renderer = 'gsplat' needs the gsplat package ({error})") from error

    from worldgen_sim.surface.render_cpu import empty_outputs, rasterize_batch
    from worldgen_sim.surface.render_project import eval_sh, oriented_normals, prepare_cloud, project_view

    device = torch.device(device)
    width, height = int(cameras.width), int(cameras.height)
    count = len(cameras)
    out = empty_outputs(count, height, width)
    cam_to_world = np.asarray(cameras.cam_to_world, np.float64)
    world_to_camera = np.linalg.inv(cam_to_world)
    with torch.no_grad():
        prep = prepare_cloud(cloud, device=device)
        for start in range(0, count, batch_views):
            views = range(start, min(count, start + batch_views))
            viewmats = torch.as_tensor(world_to_camera[views.start : views.stop], dtype=torch.float32, device=device)
            intrinsics = torch.as_tensor(
                np.asarray(cameras.intrinsics[views.start : views.stop], np.float64), dtype=torch.float32, device=device
            )
            centers = torch.as_tensor(cam_to_world[views.start : views.stop, :3, 3], dtype=torch.float32, device=device)
            # Per-camera "colours": SH radiance (3) and the camera-facing normal (3).
            channels = torch.stack(
                [
                    torch.cat([eval_sh(prep.sh, prep.means - center),
                               oriented_normals(prep.normals, prep.means, center)], 1)
                    for center in centers
                ]
            )
            renders, alphas, _ = gsplat.rasterization(
                prep.means, prep.quats, prep.scales, prep.opacities, channels, viewmats, intrinsics, width, height,
                near_plane=near, far_plane=far, eps2d=0.3, sh_degree=None, packed=False, tile_size=16,
                render_mode="RGB", rasterize_mode="classic",
            )
            alpha = alphas[..., 0]
            normals = renders[..., 3:6]
            length = normals.norm(dim=-1, keepdim=True)
            normals = torch.where(length > 1e-6, normals / length.clamp_min(1e-6), 0.0)
            batch = slice(views.start, views.stop)
            out["color"][batch] = renders[..., 0:3].cpu().numpy()
            out["normals"][batch] = normals.cpu().numpy()
            out["alpha"][batch] = alpha.cpu().numpy()

            projected = [
                project_view(prep, world_to_camera[i], np.asarray(cameras.intrinsics[i], np.float64),
                             width=width, height=height, near=near, far=far, tile_size=16)
                for i in views
            ]
            if any(p.attributes.shape[0] for p in projected):
                features, torch_alpha, median = rasterize_batch(
                    projected, width=width, height=height, tile_size=16, chunk=64, max_elements=1 << 26,
                    compositor="torch",
                )
                covered = torch_alpha > 1e-6
                depth = torch.where(covered, features[..., 3] / torch_alpha.clamp_min(1e-6), 0.0)
                out["depth_expected"][batch] = depth.cpu().numpy()
                out["depth_median"][batch] = median.cpu().numpy()
            if progress is not None:
                progress.step(views.stop, count, "render")
    return out

"""Render a Gaussian cloud from pinhole cameras: colour, depths, alpha and normals.

One interface over two backends:

- ``"cpu"``: the torch reference rasteriser in :mod:`worldgen_sim.surface.render_project` (projection)
  and :mod:`worldgen_sim.surface.render_cpu`
  (tile-binned, depth-sorted, front-to-back compositing, vectorised over tiles,
  Gaussians and pixels);
- ``"gsplat"``: gsplat's CUDA rasteriser (:mod:`worldgen_sim.surface.render_gsplat`)
  when a CUDA GPU and gsplat are present.

``"auto"`` takes gsplat when :func:`cuda_available` says it can, else the CPU path.
Both follow gsplat's 3DGS math, so they agree up to float rounding; depths on the
gsplat path come from the torch compositor on the GPU (see render_gsplat).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from worldgen_sim.artifacts import CameraPath, GaussianCloud
from worldgen_sim.errors import WorldgenError
from worldgen_sim.progress import Progress

log = logging.getLogger(__name__)

BACKENDS = ("auto", "cpu", "gsplat")


@dataclass(eq=False)
class RenderOutput:
    """Renders of M views, H x W pixels each (OpenCV pinhole cameras).

    Attributes:
        color: (M, H, W, 3) float32 RGB composited over black (premultiplied by alpha).
        depth_expected: (M, H, W) float32 alpha-normalised expected z-depth
            ``sum(w_i z_i) / sum(w_i)`` [m]; 0 where alpha is ~0. For flat Gaussians
            (shortest scale <= 0.3 x the middle one) ``z_i`` is the z-depth where the
            pixel's ray meets the Gaussian's plane, else its centre's z-depth.
        depth_median: (M, H, W) float32 ``z_i`` of the Gaussian at which accumulated
            transmittance crosses 0.5 [m]; 0 where it never does.
        alpha: (M, H, W) float32 accumulated opacity in [0, 1].
        normals: (M, H, W, 3) float32 world-frame unit normals (each Gaussian's shortest
            axis, turned toward the camera, composited like colour); 0 where empty.
        backend: the backend that rendered, ``"cpu"`` or ``"gsplat"``.
    """

    color: np.ndarray
    depth_expected: np.ndarray
    depth_median: np.ndarray
    alpha: np.ndarray
    normals: np.ndarray
    backend: str = "cpu"

    def __len__(self) -> int:
        return int(self.alpha.shape[0])


def cuda_available() -> tuple[bool, str]:
    """Whether the gsplat backend can run here: a CUDA GPU through torch, and gsplat.

    Returns:
        (True, "") when it can, else (False, the reason, naming what is missing).
    """
    try:
        import torch
    except ImportError:
        return False, "torch is not installed (pip install 'worldgen-sim[surface]')"
    if not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else "no CUDA device visible"
        return False, f"torch.cuda.is_available() is False ({build}, torch {torch.__version__})"
    try:
        import gsplat  # noqa: F401
    except ImportError as error:
        return False, f"gsplat is not importable ({error}); install it with: pip install 'worldgen-sim[gpu]'"
    return True, ""


def render_gaussians(
    cloud: GaussianCloud,
    cameras: CameraPath,
    *,
    backend: str = "auto",
    near: float = 0.05,
    far: float = 100.0,
    progress: Progress | None = None,
    tile_size: int = 4,
    batch_views: int = 4,
    num_threads: int | None = None,
    compositor: str = "auto",
) -> RenderOutput:
    """Render colour, expected and median depth, alpha and normals for every camera.

    Args:
        cloud: N Gaussians in the cameras' frame (positions [m], (w, x, y, z) quaternions,
            linear scales [m], opacities in [0, 1], SH coefficients).
        cameras: M OpenCV pinhole cameras; all share ``width`` x ``height`` [px].
        backend: ``"auto"`` (gsplat on a CUDA GPU, else CPU), ``"cpu"`` or ``"gsplat"``
            (the ``surface.renderer`` option).
        near: Gaussians with centre z-depth at or below this are not drawn [m].
        far: Gaussians with centre z-depth at or beyond this are not drawn [m].
        progress: reports views done.
        tile_size: CPU tile edge [px]; changes speed, not results.
        batch_views: CPU views binned and composited together.
        num_threads: torch CPU threads for the CPU path (None: torch's default); restored after.
        compositor: CPU compositing: ``"torch"`` (vectorised rounds), ``"warp"`` (a compiled
            per-pixel loop, several times faster) or ``"auto"`` (warp when importable).

    Returns:
        A :class:`RenderOutput` with M images of each quantity.

    Raises:
        WorldgenError: an unknown backend, gsplat asked for where it cannot run, or
            malformed cloud/camera arrays.
    """
    if backend not in BACKENDS:
        raise WorldgenError(f"surface.renderer must be one of {', '.join(BACKENDS)}; got {backend!r}")
    _check_inputs(cloud, cameras, near=near, far=far)
    if backend == "gsplat":
        ok, reason = cuda_available()
        if not ok:
            raise WorldgenError(
                f"surface.renderer = 'gsplat' needs a CUDA GPU and the gsplat package, but {reason}; "
                "set surface.renderer to 'cpu' or 'auto'"
            )
    elif backend == "auto":
        backend = "gsplat" if cuda_available()[0] else "cpu"

    count, height, width = len(cameras), int(cameras.height), int(cameras.width)
    if len(cloud) == 0 or count == 0:
        return RenderOutput(
            color=np.zeros((count, height, width, 3), np.float32),
            depth_expected=np.zeros((count, height, width), np.float32),
            depth_median=np.zeros((count, height, width), np.float32),
            alpha=np.zeros((count, height, width), np.float32),
            normals=np.zeros((count, height, width, 3), np.float32),
            backend=backend,
        )
    if backend == "gsplat":
        from worldgen_sim.surface.render_gsplat import render_views_gsplat

        arrays = render_views_gsplat(cloud, cameras, near=near, far=far, progress=progress)
    else:
        if compositor not in ("auto", "torch", "warp"):
            raise WorldgenError(f"render compositor must be 'auto', 'torch' or 'warp'; got {compositor!r}")
        options = {"near": near, "far": far, "progress": progress, "tile_size": tile_size,
                   "batch_views": batch_views, "num_threads": num_threads}
        if compositor != "auto":
            arrays = _render_cpu(cloud, cameras, compositor=compositor, **options)
        elif not _warp_importable():
            arrays = _render_cpu(cloud, cameras, compositor="torch", **options)
        else:
            try:
                arrays = _render_cpu(cloud, cameras, compositor="warp", **options)
            except Exception as error:
                log.warning("warp compositor failed (%s); using the torch compositor", error)
                arrays = _render_cpu(cloud, cameras, compositor="torch", **options)
    return RenderOutput(**arrays, backend=backend)


def _warp_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("warp") is not None


def _render_cpu(cloud, cameras, *, near, far, progress, tile_size, batch_views, num_threads, compositor):
    import torch

    from worldgen_sim.runtime import torch_threads
    from worldgen_sim.surface.render_cpu import render_views
    from worldgen_sim.surface.render_project import prepare_cloud

    with torch_threads(num_threads), torch.no_grad():
        prep = prepare_cloud(cloud, device="cpu")
        return render_views(prep, cameras, near=near, far=far, tile_size=tile_size, batch_views=batch_views,
                            compositor=compositor, progress=progress)


def _check_inputs(cloud: GaussianCloud, cameras: CameraPath, *, near: float, far: float) -> None:
    count = len(cloud)
    expected = {"positions": (count, 3), "rotations": (count, 4), "scales": (count, 3), "opacities": (count,)}
    for name, shape in expected.items():
        if tuple(np.shape(getattr(cloud, name))) != shape:
            raise WorldgenError(f"GaussianCloud.{name} must have shape {shape}; got {np.shape(getattr(cloud, name))}")
    sh_shape = np.shape(cloud.sh)
    if len(sh_shape) != 3 or sh_shape[0] != count or sh_shape[1] not in (1, 4, 9, 16) or sh_shape[2] != 3:
        raise WorldgenError(f"GaussianCloud.sh must have shape ({count}, K, 3) with K in 1, 4, 9, 16; got {sh_shape}")
    views = len(cameras)
    if np.shape(cameras.intrinsics) != (views, 3, 3) or np.shape(cameras.cam_to_world) != (views, 4, 4):
        raise WorldgenError(
            f"CameraPath.intrinsics must be ({views}, 3, 3) and cam_to_world ({views}, 4, 4); got "
            f"{np.shape(cameras.intrinsics)} and {np.shape(cameras.cam_to_world)}"
        )
    if int(cameras.width) <= 0 or int(cameras.height) <= 0:
        raise WorldgenError(f"CameraPath width and height must be positive; got {cameras.width} x {cameras.height}")
    if not 0.0 < near < far:
        raise WorldgenError(f"render near/far planes must satisfy 0 < near < far; got near={near}, far={far}")

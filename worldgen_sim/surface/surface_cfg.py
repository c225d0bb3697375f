"""Configuration of the surface stage (visual mesh extraction)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worldgen_sim.validation import Checker

__all__ = ["SurfaceCfg"]


@dataclass
class SurfaceCfg:
    """How the visual mesh is made.

    Attributes:
        enabled: build the visual mesh (``--no-mesh`` turns it off).
        renderer: ``"auto"`` (gsplat on a CUDA GPU, else CPU), ``"cpu"`` or ``"gsplat"``.
        voxel_size: TSDF voxel edge [m].
        truncation_voxels: TSDF truncation distance in voxels.
        image_width: width of the depth renders used for fusion [px].
        image_height: height of the depth renders used for fusion [px].
        fov_deg: horizontal field of view of automatically placed views [deg].
        num_views: number of automatically placed views when no camera path is given.
        coverage_views: at most this many views added to the planned ones (input cameras or
            automatic) that see the opaque Gaussians no planned view sees, or sees only at a
            grazing angle (ground near a tile's edge, the top of an object taller than the
            cameras, a shelf top above the eye heights; :mod:`worldgen_sim.surface.coverage`);
            0 adds none.
        use_input_cameras: render from the input's camera path when it has one.
        max_depth: depth beyond this is ignored in fusion [m].
        min_alpha: pixels whose accumulated opacity is below this are not fused.
        min_component_fraction: connected pieces with fewer faces than this
            fraction of the largest are dropped.
        floor_band: a small piece within this height of the floor (z = 0) that faces
            up is floor seen past what stands in front of it and is kept [m]; 0 drops it.
        hole_size: fill boundary loops with at most this many edges.
        max_triangles: decimate the mesh to at most this many triangles.
        min_weight: TSDF voxels fused from fewer observations than this are not meshed.
        depth_source: how depth images of Gaussians are made: ``"render"`` (rasterise
            with ``renderer``), ``"zbuffer"`` (z-buffer the opaque Gaussians as small
            discs, each pixel the weighted mean of its front surface; see
            :mod:`worldgen_sim.surface.zbuffer`; ~10x faster on a CPU) or ``"auto"``
            (render when ``renderer`` is set explicitly or gsplat can run on a CUDA GPU,
            else zbuffer).
        fusion: which TSDF fusion runs: ``"open3d"`` (open3d's VoxelBlockGrid, CPU),
            ``"torch"`` (:mod:`worldgen_sim.surface.fusion_torch`, on the CUDA GPU when
            torch sees one, else the CPU) or ``"auto"`` (torch on a CUDA GPU or when
            open3d is not installed, else open3d).
    """

    enabled: bool = True
    renderer: Literal["auto", "cpu", "gsplat"] = "auto"
    voxel_size: float = 0.02
    truncation_voxels: float = 4.0
    image_width: int = 320
    image_height: int = 240
    fov_deg: float = 90.0
    num_views: int = 48
    coverage_views: int = 8
    use_input_cameras: bool = True
    max_depth: float = 8.0
    min_alpha: float = 0.5
    min_component_fraction: float = 0.01
    floor_band: float = 0.05
    hole_size: int = 64
    max_triangles: int = 400_000
    min_weight: float = 1.0
    depth_source: Literal["auto", "render", "zbuffer"] = "auto"
    fusion: Literal["auto", "open3d", "torch"] = "auto"

    def validate(self) -> None:
        """Check every field (types, choices, ranges); raises WorldgenError naming ``surface.<field>``."""
        check = Checker(self, "surface")
        check.range("voxel_size", gt=0, le=1, unit="m")
        check.range("truncation_voxels", ge=1, le=64, unit="voxels")
        check.range("image_width", ge=16, le=8192, unit="px")
        check.range("image_height", ge=16, le=8192, unit="px")
        check.range("fov_deg", gt=0, lt=170, unit="deg")
        check.range("num_views", ge=1)
        check.range("coverage_views", ge=0)
        check.range("max_depth", gt=0, unit="m")
        check.range("min_alpha", gt=0, le=1)
        check.range("min_component_fraction", ge=0, le=1)
        check.range("floor_band", ge=0, le=1, unit="m")
        check.range("hole_size", ge=0, unit="edges")
        check.range("max_triangles", ge=4)
        check.range("min_weight", ge=0)
        check.require(
            self.max_depth > self.voxel_size * self.truncation_voxels,
            "max_depth",
            f"more than the truncation band (surface.voxel_size x surface.truncation_voxels = "
            f"{self.voxel_size * self.truncation_voxels:g} m)",
        )

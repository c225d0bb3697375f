"""Configuration of the collision stage (segmentation, decomposition, materials)."""

from __future__ import annotations

from dataclasses import dataclass

from worldgen_sim.errors import WorldgenError
from worldgen_sim.validation import Checker

__all__ = ["CollisionCfg"]


@dataclass
class CollisionCfg:
    """How colliders and physics materials are made.

    Attributes:
        enabled: build colliders (``--no-collision`` turns it off).
        plane_distance: RANSAC inlier distance for the static shell's planes [m].
        min_plane_area: smaller planes are not part of the static shell [m^2].
        min_object_size: connected pieces whose bounding-box diagonal is smaller are dropped [m].
        coacd_threshold: CoACD concavity threshold, metric (``real_metric``) [m].
        max_hull_vertices: vertex limit per convex hull (PhysX GPU: 64).
        object_timeout: per-object decomposition time limit; on expiry one convex hull is used [s].
        workers: decomposition processes (0: one per core).
        seed: CoACD seed.
        dynamic_objects: objects become rigid bodies that a robot can push.
        materials: path to a YAML material library overriding the defaults, or None.
        cache_dir: cache folder for segmentations and decompositions (:mod:`worldgen_sim.cache`);
            None (the default) caches nothing.
        contact_offset: PhysX contact offset on every collider [m].
        rest_offset: PhysX rest offset on every collider [m].
        normal_angle: largest angle between a face's normal and its shell plane's [deg].
        wall_height_fraction: a large vertical plane is a wall when it spans at least this
            fraction of the floor-to-ceiling height (a tall cabinet front is not a wall).
        solid_cell: grid cell of the box fit that closes open object shells into solids [m].
        convex_tolerance: an object whose convex hull adds less than this fraction of
            ``coacd_threshold`` as mean thickness is kept as one hull (no CoACD run).
        coacd_iterations: CoACD's MCTS iterations per cut (fewer: faster, more hulls).
        box_height_tolerance: box fit (tried before CoACD): solid tops and bottoms within
            this of an object's dominant heights are snapped to them [m].
        max_boxes: box fit: most boxes per object; 0 turns the box fit off (CoACD always).
        box_cover: box fit: accepted when the boxes cover at least this fraction of the
            object's solid (else CoACD runs).
        coacd_max_hulls: CoACD's hull cap per object.
        coacd_cell: grid cell of the solids given to CoACD (coarser than ``solid_cell``:
            CoACD's time grows with the solid's face count) [m].
    """

    enabled: bool = True
    plane_distance: float = 0.03
    min_plane_area: float = 1.0
    min_object_size: float = 0.1
    coacd_threshold: float = 0.02
    max_hull_vertices: int = 64
    object_timeout: float = 60.0
    workers: int = 0
    seed: int = 0
    dynamic_objects: bool = False
    materials: str | None = None
    cache_dir: str | None = None
    contact_offset: float = 0.02
    rest_offset: float = 0.0
    normal_angle: float = 25.0
    wall_height_fraction: float = 0.75
    solid_cell: float = 0.01
    convex_tolerance: float = 0.25
    coacd_iterations: int = 60
    box_height_tolerance: float = 0.02
    max_boxes: int = 24
    box_cover: float = 0.9
    coacd_max_hulls: int = 32
    coacd_cell: float = 0.02

    def validate(self) -> None:
        """Check every field (types, ranges, offsets, the material library); raises WorldgenError
        naming ``collision.<field>``."""
        check = Checker(self, "collision")
        check.range("plane_distance", gt=0, unit="m")
        check.range("min_plane_area", gt=0, unit="m^2")
        check.range("min_object_size", ge=0, unit="m")
        check.range("coacd_threshold", gt=0, unit="m")
        check.range("max_hull_vertices", ge=4, le=255, unit="vertices; PhysX GPU hulls: <= 64")
        check.range("object_timeout", gt=0, unit="s")
        check.range("workers", ge=0, unit="0: one per core")
        check.range("seed", ge=0)
        check.range("normal_angle", gt=0, lt=90, unit="deg")
        check.range("wall_height_fraction", gt=0, le=1)
        check.range("solid_cell", gt=0, unit="m")
        check.range("convex_tolerance", ge=0)
        check.range("coacd_iterations", ge=1)
        check.range("box_height_tolerance", ge=0, unit="m")
        check.range("max_boxes", ge=0, unit="0: no box fit")
        check.range("box_cover", gt=0, le=1)
        check.range("coacd_max_hulls", ge=1)
        check.range("coacd_cell", gt=0, unit="m")
        check.range("contact_offset", ge=0, unit="m")
        check.require(
            self.rest_offset < self.contact_offset or self.contact_offset == 0,
            "rest_offset",
            f"less than collision.contact_offset ({self.contact_offset:g} m) [m]",
        )
        if self.materials is not None:
            from worldgen_sim.collision.materials import load_material_library

            try:
                load_material_library(self.materials)
            except WorldgenError as exc:
                raise WorldgenError(f"collision.materials: {exc}") from None

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
        object_timeout: wall-clock guard against a decomposition worker that hangs (blocked, using no CPU);
            on expiry the object gets its voxel cover, counted as a ``timeout`` fallback. A last resort:
            the work is bounded by ``coacd_max_faces`` and ``object_cpu_limit`` [s].
        object_cpu_limit: CPU time a decomposition worker may spend on one object; past it the object gets
            its voxel cover (a ``timeout`` fallback). CPU time does not grow with the machine's load, so the
            same input gives the same world on a busy machine [s].
        coacd_max_faces: most faces of a solid given to CoACD; a solid with more is rebuilt on a coarser
            cell (CoACD's time grows with the faces it clips at every cut).
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
        ground_cell: grid cell of the ground search [m].
        ground_step: largest height change between neighbouring pieces of ground (a stair
            riser; a crate top higher than this above the floor is an object) [m].
        ground_slope: steepest surface that can be ground (terrain, ramps) [deg].
        min_ground_area: connected ground needs at least this area [m^2].
        ground_clearance: up-facing surface less than this above other surface seen below it
            (foliage over soil, a shelf over a floor) is not ground [m].
        ground_fill_area: holes in the ground up to this area, enclosed by ground (cracks a
            capture leaves in observed ground, the unseen floor under a low object), are closed
            by a patch at the height of the ground around them; 0 leaves every hole [m^2].
        support_gap: an object whose lowest point is more than this above the ground
            under it, and that touches no wall or ceiling, is unsupported [m].
        floater_size: unsupported pieces with a smaller bounding-box diagonal are dropped
            as floaters; larger ones stay as overhead obstacles at their height [m].
        floater_thickness: unsupported pieces thinner than this are dropped as floaters [m].
        clutter_size: pieces with a smaller bounding-box diagonal count as clutter [m].
        clutter_count: with more clutter pieces than this (vegetation), clutter is grouped
            per ``clutter_cell`` and covered with boxes instead of decomposed piece by piece.
        clutter_cell: grouping cell of clutter [m].
        clutter_fill: an object whose solid fills less than this fraction of its bounding box
            (foliage) is covered with boxes rather than decomposed by CoACD.
        coacd_min_size: objects with a smaller bounding-box diagonal are covered with boxes
            rather than decomposed by CoACD (bounded cost per piece) [m].
        max_cover_boxes: most boxes of a voxel cover (its cell doubles until they fit).
        coacd_retries: a crashed CoACD worker is retried this many times with other
            settings (seed, threshold, a solid half a ``coacd_cell`` coarser each time) before
            the voxel cover is used.
        static_tile_faces: static meshes with more faces are split into spatial tiles of
            about this many faces (faster cooking, culling).
        underside_thickness: an object top with the ground observed under it (the floor seen
            beneath a table) is closed this far below its top instead of down to the ground;
            its legs are closed from their sides [m].
        enclosed_fill_area: an object's interior enclosed by its sides, with no surface seen inside (a
            trunk taller than every camera, seen only from around it), is solid when its area is at most
            this; larger enclosures (an unlidded cabinet, a bin) stay free inside [m^2].
    """

    enabled: bool = True
    plane_distance: float = 0.03
    min_plane_area: float = 1.0
    min_object_size: float = 0.1
    coacd_threshold: float = 0.02
    max_hull_vertices: int = 64
    object_timeout: float = 600.0
    # 120 s: the plaza's 1.8 m statue with thin arms takes CoACD 47 s of CPU on this 2-core machine
    # (32 hulls); at 60 s a machine a third slower would have given it a voxel cover.
    object_cpu_limit: float = 120.0
    coacd_max_faces: int = 2000
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
    ground_cell: float = 0.05
    ground_step: float = 0.22
    ground_slope: float = 40.0
    min_ground_area: float = 1.0
    ground_clearance: float = 1.0
    ground_fill_area: float = 0.5
    support_gap: float = 0.1
    floater_size: float = 0.5
    floater_thickness: float = 0.05
    clutter_size: float = 0.3
    clutter_count: int = 48
    clutter_cell: float = 0.5
    clutter_fill: float = 0.25
    coacd_min_size: float = 0.5
    max_cover_boxes: int = 128
    coacd_retries: int = 2
    static_tile_faces: int = 200_000
    underside_thickness: float = 0.05
    enclosed_fill_area: float = 0.25

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
        check.range("object_cpu_limit", ge=1, unit="s of CPU time")
        check.range("coacd_max_faces", ge=100, unit="faces")
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
        self._validate_ground_and_objects(check)
        if self.materials is not None:
            from worldgen_sim.collision.materials import load_material_library

            try:
                load_material_library(self.materials)
            except WorldgenError as exc:
                raise WorldgenError(f"collision.materials: {exc}") from None

    def _validate_ground_and_objects(self, check: Checker) -> None:
        """Ranges of the ground search, floater, clutter, cover and retry fields."""
        check.range("ground_cell", gt=0, unit="m")
        check.range("ground_step", ge=0, unit="m")
        check.range("ground_slope", gt=0, lt=90, unit="deg")
        check.range("min_ground_area", gt=0, unit="m^2")
        check.range("ground_clearance", ge=0, unit="m")
        check.range("ground_fill_area", ge=0, unit="m^2")
        check.range("support_gap", ge=0, unit="m")
        check.range("floater_size", ge=0, unit="m")
        check.range("floater_thickness", ge=0, unit="m")
        check.range("clutter_size", ge=0, unit="m")
        check.range("clutter_count", ge=0)
        check.range("clutter_cell", gt=0, unit="m")
        check.range("clutter_fill", ge=0, le=1)
        check.range("coacd_min_size", ge=0, unit="m")
        check.range("max_cover_boxes", ge=1, unit="boxes")
        check.range("coacd_retries", ge=0)
        check.range("static_tile_faces", ge=1000, unit="faces")
        check.range("underside_thickness", gt=0, unit="m")
        check.range("enclosed_fill_area", ge=0, unit="m^2; 0: never")

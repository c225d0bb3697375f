"""The report each stage returns, as a TypedDict: what ``world.json`` holds under ``stages``.

One type per stage, JSON-serialisable, deterministic (same input and config:
same report). Durations are not part of any stage report: the pipeline's
:class:`~worldgen_sim.progress.Progress` times every stage and sub-stage
(``"surface: fusion"``) and writes them once, as ``world.json``'s ``timings_s``.
All are ``total=False``: a key may be absent (a stage that skipped a step), but no
key outside the declared ones can be written (mypy checks the literals).
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "AlignReport",
    "CacheRecord",
    "CleanupReport",
    "CollisionReport",
    "CoverageReport",
    "GenerateReport",
    "NavigationReport",
    "SurfaceReport",
]


class CacheRecord(TypedDict):
    """One cache's lookups in a build (:meth:`worldgen_sim.cache.ArrayCache.record`)."""

    folder: str | None
    hits: int
    misses: int
    lookups: list[dict[str, Any]]


class CleanupReport(TypedDict, total=False):
    """What mesh clean-up removed and added (:func:`worldgen_sim.surface.cleanup.clean_mesh`)."""

    input_faces: int
    components_removed: int
    faces_in_removed_components: int
    floor_pieces_kept: int
    holes_filled: int
    faces_removed_by_decimation: int
    output_faces: int
    output_vertices: int


class CoverageReport(TypedDict):
    """The surface stage's coverage views (:mod:`worldgen_sim.surface.coverage`).

    Keys: ``views_added``, ``candidates`` (positions rendered and scored), ``tested`` (opaque Gaussians
    within reach tested for being seen, an even subset), ``unseen_before`` and ``unseen_after``
    (fractions of those seen by no planned view, and by no view once the coverage views are added).
    """

    views_added: int
    candidates: int
    tested: int
    unseen_before: float
    unseen_after: float


class SurfaceReport(TypedDict, total=False):
    """The surface stage (:func:`worldgen_sim.surface.surface.extract_surface`).

    Keys: ``source`` (``"input_cameras"``, ``"auto"`` or ``"rgbd"``), ``views_rendered``,
    ``views_used``, ``mean_view_coverage`` (fraction of pixels holding a surface),
    ``depth_source`` (``"zbuffer"``, ``"cpu"``, ``"gsplat"``), ``voxel_size`` [m],
    ``fusion`` (``"open3d"`` or ``"torch:<device>"``), ``coverage`` (Gaussians only) and ``cleanup``.
    ``views_rendered`` and ``views_used`` count the planned views; ``coverage.views_added`` are fused too.
    """

    source: str
    views_rendered: int
    views_used: int
    mean_view_coverage: float
    depth_source: str
    voxel_size: float
    fusion: str
    coverage: CoverageReport
    cleanup: CleanupReport


class GenerateReport(TypedDict, total=False):
    """The generate step (``world.json``'s ``generate`` section): one picture or RGB-D frame lifted and
    completed (:mod:`worldgen_sim.generate.generate`), or a Lyra run (:func:`worldgen_sim.generate.lyra.run_lyra`).

    Picture / frame: ``depth`` (``"given"`` or the model), ``depth_metric``, ``depth_path`` or the model's
    ``depth_model_type``, ``depth_device`` and ``model_field_of_view_deg`` [deg], ``intrinsics`` (fx, fy,
    cx, cy [px], width, height, source), ``exif_focal_35mm`` [mm], ``lifting`` and ``completion`` counts,
    ``completed_kinds``; the pipeline adds ``colliders_on_completed``, ``spawn_points_removed_on_completed``
    and ``completed``. Lyra: ``backend``, ``checkout``, ``weights``, ``work_dir``, ``ply``, ``licence``,
    ``camera_height`` [m].
    """

    depth: str
    depth_metric: bool
    depth_path: str
    depth_model_type: str
    depth_device: str
    model_field_of_view_deg: float | None
    intrinsics: dict[str, Any]
    exif_focal_35mm: float | None
    lifting: dict[str, Any]
    completion: dict[str, Any]
    completed_kinds: dict[str, str]
    colliders_on_completed: dict[str, Any]
    spawn_points_removed_on_completed: int
    completed: dict[str, Any]
    backend: str
    checkout: str
    weights: str
    work_dir: str
    ply: str
    licence: str
    camera_height: float | None


class AlignReport(TypedDict, total=False):
    """The alignment stage (:func:`worldgen_sim.align.align.align_scene`): the decisions taken
    (up axis, yaw rule, scale source, floor fit) and ``removed_*``/``kept`` Gaussian counts."""

    up: str
    up_used: str
    up_source: str
    floor_points: int
    floor_points_source: str
    floor_normal_input: list[float]
    floor_offset_input: float
    floor_inliers: int
    floor_fraction: float
    floor_below_fraction: float
    floor_tilt_deg: float
    floor_extent_world: list[list[float]]
    ground_extent_world: list[list[float]]
    scale: float
    scale_source: str
    yaw_rule: str
    yaw_deg: float
    origin: str
    camera: str | None
    camera_height_world: float | None
    camera_world: dict[str, list[float]] | None
    input_to_world: list[list[float]]
    input_gaussians: int
    removed_invalid: int
    removed_sky: int
    removed_low_opacity: int
    removed_isolated: int
    filters: dict[str, bool]
    kept: int
    up_candidates: list[dict[str, Any]]
    camera_file: str | None
    add_ground: dict[str, Any] | None


class CollisionReport(TypedDict, total=False):
    """The collision stage (:func:`worldgen_sim.collision.collision.build_collision`): segmentation
    (ground, structure, dropped floaters), static parts, per-object kinds, methods and hull counts,
    fallbacks (each with its ``kind``), ``fallback_counts`` (one count per kind of
    :data:`worldgen_sim.collision.decompose.FALLBACK_KINDS`, zeros included), CoACD
    ``crash_retries``, ``dropped`` (floater counts by reason) and ``caches`` (one
    :class:`CacheRecord` per cache, with every key looked up and whether it hit)."""

    segmentation: dict[str, Any]
    input_faces: int
    invalid_faces_dropped: int
    static_parts: list[dict[str, Any]]
    objects: list[dict[str, Any]]
    skipped_objects: list[dict[str, Any]]
    dropped: dict[str, int]
    fallbacks: list[dict[str, Any]]
    fallback_counts: dict[str, int]
    crash_retries: int
    hulls: int
    methods: dict[str, int]
    decompositions: int
    cache_hits: int
    segmentation_cached: bool
    settings: dict[str, Any]
    caches: dict[str, CacheRecord]


class NavigationReport(TypedDict, total=False):
    """The navigation stage (:func:`worldgen_sim.navigation.navigation.build_navigation`): the grid,
    triangle/sample/span counts, walkable area before and after erosion [m^2], regions (id, area,
    cells, z range), islands dropped, spawn points, NavMesh exclude volumes, and the mid-air
    floaters dropped (``floaters_dropped``, ``floater_area_m2``, ``floater_heights_m``)."""

    grid: dict[str, Any]
    triangles: int
    samples: int
    spans: int
    walkable_before_erosion_m2: float
    walkable_m2: float
    regions: list[dict[str, Any]]
    regions_dropped_small: int
    spawn_points: int
    spawn_note: str | None
    exclude_volumes: int
    surface_triangles: int
    floaters_dropped: int
    floater_area_m2: float
    floater_heights_m: list[list[float]]

"""Named views of a world (input, top, orbit) and headless pictures of it: screenshots and ``preview.png``.

The same camera presets start the web viewer, so a screenshot shows what the page opens on.
Pictures are drawn by :mod:`worldgen_sim.viewer.raster` (numpy only: no GPU, display or
browser), deterministic for the same world.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError
from worldgen_sim.viewer.raster import Camera, Canvas, write_png
from worldgen_sim.viewer.world_layers import WorldLayers, load_world_layers

log = logging.getLogger(__name__)

__all__ = [
    "LAYER_NAMES", "PREVIEW_FILE", "VIEWS", "LayerStyle", "box_edges", "render_view", "view_camera", "write_preview",
    "write_screenshot",
]  # fmt: skip

VIEWS = ("input", "top", "orbit")
PREVIEW_FILE = "preview.png"
LAYER_NAMES = ("splats", "visual", "completed", "colliders", "walkable", "spawn", "navmesh", "probes")
"""Layer toggles, in drawing order; the page and :func:`render_view` use the same names."""
_ORBIT_AZIMUTH_DEG = -60.0
_ORBIT_ELEVATION_DEG = 35.0


class LayerStyle:
    """Colours and sizes shared by the page and the pictures (RGB in [0, 1], sizes in m)."""

    WALKABLE = (0.1, 0.8, 0.3)
    WALKABLE_ALPHA = 0.45
    COMPLETED = (1.0, 0.55, 0.1)
    SPAWN = (0.15, 0.35, 1.0)
    SPAWN_RADIUS = 0.06
    INCLUDE = (0.1, 0.6, 0.2)
    EXCLUDE = (0.85, 0.1, 0.1)
    PROBE_PASSED = (0.1, 0.75, 0.2)
    PROBE_FAILED = (0.9, 0.1, 0.1)
    PROBE_RADIUS = 0.05
    SPLAT_RADIUS = 0.01
    BACKGROUND = (1.0, 1.0, 1.0)


def view_camera(layers: WorldLayers, view: str, *, width: int = 640, height: int = 480) -> Camera:
    """The camera of a named view, framed on the world's bounds.

    Args:
        layers: the world.
        view: ``"input"`` (the input camera; ``"orbit"`` when the world does not record it),
            ``"top"`` (straight down, +Y up in the image) or ``"orbit"`` (a three-quarter view
            from the -Y side, 35 deg above the horizon).
        width, height: image size [px].

    Raises:
        WorldgenError: an unknown view name.
    """
    if view not in VIEWS:
        raise WorldgenError(f"unknown camera '{view}'; expected one of: {', '.join(VIEWS)}")
    lo, hi = layers.bounds()
    centre = 0.5 * (lo + hi)
    vfov = 60.0
    aspect = width / height
    if view == "input" and layers.camera is not None:
        eye = layers.camera.position
        # Look at the point of the bounds' centre along the view ray: keeps the orbit pivot inside the world.
        reach = max(float(np.dot(centre - eye, layers.camera.forward)), 0.5)
        up = (0.0, 0.0, 1.0) if abs(layers.camera.forward[2]) < 0.99 else (0.0, 1.0, 0.0)
        return Camera(tuple(eye), tuple(eye + reach * layers.camera.forward), up, layers.camera.vfov_deg,
                      width, height, near=0.05)
    half_v = np.tan(np.radians(vfov) / 2)
    if view == "top":
        half = 0.5 * (hi - lo)
        distance = 1.08 * max(half[1] / half_v, half[0] / (half_v * aspect)) + half[2]
        distance = max(distance, 0.5)
        # A hair off vertical: orbit controls (and three.js lookAt) have no up when looking along it.
        eye = centre + np.array([0.0, -1e-3 * distance, distance])
        return Camera(tuple(eye), tuple(centre), (0.0, 0.0, 1.0), vfov, width, height,
                      near=max(0.01, 1e-3 * distance))
    radius = max(0.5 * float(np.linalg.norm(hi - lo)), 0.25)
    distance = 1.05 * radius / np.sin(np.arctan(half_v * min(aspect, 1.0)))
    azimuth, elevation = np.radians(_ORBIT_AZIMUTH_DEG), np.radians(_ORBIT_ELEVATION_DEG)
    direction = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    eye = centre + distance * direction
    return Camera(tuple(eye), tuple(centre), (0.0, 0.0, 1.0), vfov, width, height, near=max(0.01, 1e-3 * distance))


def render_view(layers: WorldLayers, camera: Camera, *, show: tuple[str, ...] | None = None,
                dollhouse: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 picture of the world's layers seen by ``camera``.

    Args:
        layers: the world.
        camera: the view.
        show: layer names to draw (see :data:`LAYER_NAMES`); None draws the defaults: the
            visual mesh (the splats when there is none), completed regions, walkable surface,
            spawn points and probes. Colliders and NavMesh volumes are drawn only when named.
        dollhouse: leave out ceiling colliders (a view from above or outside a room).

    The visual mesh is drawn one-sided: a scanned surface faces the cameras that saw it, so a
    room's walls and ceiling vanish from outside and the top and orbit views look in.
    """
    if show is None:
        show = ("visual", "completed", "walkable", "spawn", "probes")
        if layers.visual is None:
            show = ("splats", *show)
    unknown = sorted(set(show) - set(LAYER_NAMES))
    if unknown:
        raise WorldgenError(f"unknown layer '{unknown[0]}'; expected some of: {', '.join(LAYER_NAMES)}")
    canvas = Canvas(camera, background=LayerStyle.BACKGROUND)
    style = LayerStyle
    if "visual" in show and layers.visual is not None:
        canvas.triangles(layers.visual.vertices, layers.visual.faces, layers.visual.colors, cull_back=True)
    if "completed" in show and layers.completed is not None:
        canvas.triangles(layers.completed.vertices, layers.completed.faces, style.COMPLETED)
    if "colliders" in show:
        for collider in layers.colliders:
            if dollhouse and collider.label == "ceiling":
                continue
            canvas.triangles(collider.vertices, collider.faces, collider.colors)
    if "splats" in show and layers.splats is not None:
        canvas.points(layers.splats.points, layers.splats.colors, radius_m=style.SPLAT_RADIUS)
    if "spawn" in show:
        # Lifted by their radius: a marker centred on the floor would be half hidden in it.
        canvas.points(layers.spawn_points + [0, 0, style.SPAWN_RADIUS], style.SPAWN, radius_m=style.SPAWN_RADIUS)
    if "probes" in show and len(layers.probes_end):
        colours = np.where(layers.probes_passed[:, None], style.PROBE_PASSED, style.PROBE_FAILED)
        canvas.points(layers.probes_end, colours, radius_m=style.PROBE_RADIUS)
        failed = ~layers.probes_passed  # where a failed probe went: from its release to where it ended
        canvas.lines(np.stack([layers.probes_start[failed], layers.probes_end[failed]], axis=1), style.PROBE_FAILED)
    if "navmesh" in show:
        for include in (True, False):
            boxes = layers.nav_volumes[layers.nav_include == include]
            canvas.lines(box_edges(boxes), style.INCLUDE if include else style.EXCLUDE)
    if "walkable" in show and layers.walkable is not None:  # last: a translucent overlay on what is drawn
        canvas.triangles(layers.walkable.vertices, layers.walkable.faces, style.WALKABLE,
                         alpha=style.WALKABLE_ALPHA, shade=False)
    return canvas.image()


def box_edges(boxes: np.ndarray) -> np.ndarray:
    """(12 B, 2, 3) edges of (B, 2, 3) axis-aligned boxes (min, max corners) [m]."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 2, 3)
    bits = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)])
    corners = np.where(bits[None].astype(bool), boxes[:, 1:2], boxes[:, 0:1])  # (B, 8, 3)
    pairs = np.array([(i, j) for i in range(8) for j in range(i + 1, 8) if bin(i ^ j).count("1") == 1])
    return corners[:, pairs].reshape(-1, 2, 3)


def write_screenshot(out_dir: str | Path, path: str | Path, *, view: str = "input", width: int = 1280,
                     height: int = 800, max_points: int = 300_000, show: tuple[str, ...] | None = None) -> Path:
    """Render one view of a world package to a PNG (headless); returns its path.

    Raises:
        WorldgenError: not a world package, an unknown view, or an unwritable ``path``.
    """
    layers = load_world_layers(out_dir, max_points=max_points)
    if view == "input" and layers.camera is None:
        log.warning("%s records no input camera; the screenshot uses the orbit view", out_dir)
    camera = view_camera(layers, view, width=width, height=height)
    image = render_view(layers, camera, show=show, dollhouse=view != "input" or layers.camera is None)
    return _write_atomically(Path(path), image)


def write_preview(out_dir: str | Path, *, width: int = 640, height: int = 480, max_points: int = 300_000) -> Path:
    """Write ``preview.png`` beside ``world.json``: the top view and the input view side by side.

    The input view falls back to the orbit view when the world records no input camera.
    Same world -> same bytes.
    """
    out_dir = Path(out_dir)
    layers = load_world_layers(out_dir, max_points=max_points)
    second = "input" if layers.camera is not None else "orbit"
    images = [render_view(layers, view_camera(layers, v, width=width, height=height), dollhouse=v != "input")
              for v in ("top", second)]
    gap = np.full((height, 4, 3), 255, np.uint8)
    return _write_atomically(out_dir / PREVIEW_FILE, np.concatenate([images[0], gap, images[1]], axis=1))


def _write_atomically(path: Path, image: np.ndarray) -> Path:
    if not path.parent.is_dir():
        raise WorldgenError(f"cannot write '{path}': folder '{path.parent}' does not exist")
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write_png(temporary, image)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise WorldgenError(f"cannot write '{path}' ({exc})") from None
    return path

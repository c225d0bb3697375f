"""``worldgen view OUT``: a local web page (viser) showing every layer of a world package.

Layers (each with a toggle): splats as points, the visual mesh, completed regions, colliders
coloured per object, the walkable surface, spawn points, NavMesh volumes (green include, red
exclude boxes), the drop-test probes of ``verify.json`` (green at rest, red failed) and the input
camera. The camera starts at the input camera when the world records it (else the orbit view);
buttons jump to the input, top and orbit views.

What the browser receives is bounded so a large world opens in seconds and stays responsive:
at most ``max_points`` splat centres (seeded random subsample, half precision) and at most
``max_faces`` visual-mesh faces (vertex clustering; colliders share half of it), prepared once
per world content and cached (:mod:`worldgen_sim.viewer.sent_layers`); the page lists what it
received and what was reduced. The page is served before the world is read, and lit without
shadow maps or an environment map (software WebGL spends most of its time on those; see
:func:`_light`). viser is imported here only (the ``view`` extra).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from worldgen_sim.errors import WorldgenError
from worldgen_sim.viewer.glb import mesh_glb
from worldgen_sim.viewer.raster import Camera
from worldgen_sim.viewer.sent_layers import sent_layers
from worldgen_sim.viewer.views import LayerStyle, box_edges, view_camera
from worldgen_sim.viewer.world_layers import MeshLayer, WorldLayers

log = logging.getLogger(__name__)

__all__ = [
    "COARSE_FACES", "DEFAULT_LAYERS", "DRAWN_POINTS", "ViewerServer", "draw_points", "import_viser", "serve_world",
    "set_camera", "show_layer", "wait_forever",
]  # fmt: skip

DEFAULT_LAYERS = {
    "splats": True, "visual": True, "completed": True, "colliders": False, "walkable": True, "spawn": True,
    "navmesh": False, "probes": True, "camera": False,
}  # fmt: skip
"""Which layers the page shows when it opens; the others are sent when first switched on (colliders and
NavMesh volumes would hide the world; the input camera's frustum would frame the view that starts at it)."""


DRAWN_POINTS = 100_000
"""Splat centres drawn at first. Software WebGL draws points by the vertex: on the bench world it
orbited at 13 frames/s with 100 k points and at 5 with 300 k (bench_viewer, SwiftShader)."""
COARSE_FACES = 50_000
"""Faces of the visual mesh's first, coarse level. On the 1M-Gaussian bench world the page showed
the room 0.8 s sooner with 40 k faces than with 267 k (software WebGL, bench_viewer)."""


def import_viser():
    """The viser module, or a WorldgenError naming the extra that brings it (worldgen_sim.extras)."""
    from worldgen_sim.extras import Requirement, require

    require(Requirement(("viser",), "viser", "view", "worldgen view (the web page)"))
    import viser

    return viser


@dataclass(eq=False)
class ViewerServer:
    """A running viewer.

    Attributes:
        server: the ``viser.ViserServer``.
        layers: the world as loaded (splats already subsampled).
        handles: scene handles by layer name (a layer may have several nodes).
        url: the page's address.
        sent: what was sent, for the page and benchmarks (points, faces, notes).
        start_camera: the view the page opens on.
        summary: the page's summary (markdown): what it shows, what it received, what was reduced.
        drawn_points: most splat centres drawn (every k-th of those loaded; the page's slider sets it).
        pending: layers not sent yet (hidden at first), with what sends them (:func:`show_layer`).
        refine: sends the full visual mesh while the page has the coarse one (None: nothing to refine).
        lock: held while layers are sent or replaced (page callbacks run on viser's threads).
    """

    server: Any
    layers: WorldLayers
    handles: dict[str, list[Any]] = field(default_factory=dict)
    url: str = ""
    sent: dict[str, Any] = field(default_factory=dict)
    start_camera: Camera | None = None
    summary: str = ""
    drawn_points: int = 0
    pending: dict[str, list[Callable[[], Any]]] = field(default_factory=dict)
    refine: Callable[[], None] | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def stop(self) -> None:
        self.server.stop()


def serve_world(
    out_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    max_points: int = 300_000,
    max_faces: int = 400_000,
    view: str = "input",
    cache_dir: str | Path | None = None,
    announce: Callable[[str], None] | None = None,
    coarse_faces: int = COARSE_FACES,
    drawn_points: int = DRAWN_POINTS,
) -> ViewerServer:
    """Serve the page at once, then load the world into it; returns when every layer was sent.

    The page is served before the world is read, so a browser opened on the address loads
    viser's page and sets up WebGL while the world is still being read; layers appear as
    they arrive.

    Args:
        out_dir: the world package folder.
        host, port: where to listen (``port`` 0 takes a free one).
        max_points: most splat centres sent (seeded subsample beyond it).
        max_faces: most visual-mesh faces sent (decimated beyond it).
        view: the camera the page opens on: ``"input"``, ``"top"`` or ``"orbit"``.
        cache_dir: where the reduced layers are cached by content (:mod:`sent_layers`);
            None reads and reduces the world every time.
        announce: called with the page's address as soon as it is served (before the world loads).
        coarse_faces: a visual mesh of more than twice this many faces is sent reduced to it first
            and in full once the page has drawn that.
        drawn_points: most splat centres drawn at first (every k-th of the ``max_points`` loaded);
            a slider on the page draws more.

    Raises:
        WorldgenError: viser missing, not a world package, or a bad option.
    """
    if max_points < 0 or max_faces < 1:
        raise WorldgenError(f"--max-points must be >= 0 and --max-faces >= 1, got {max_points} and {max_faces}")
    if drawn_points < 1 or coarse_faces < 0:
        raise WorldgenError(f"drawn_points must be >= 1 and coarse_faces >= 0, got {drawn_points} and {coarse_faces}")
    if not (Path(out_dir) / "world.usda").is_file():
        raise WorldgenError(f"{out_dir}: no world.usda; expected a world package written by 'worldgen build'")
    viser = import_viser()
    started = time.perf_counter()
    server = viser.ViserServer(host=host, port=port, verbose=False)
    try:
        server.scene.set_up_direction("+z")
        _light(server.scene)
        status = server.gui.add_markdown(f"**{Path(out_dir).name}**: loading the world ...")
        url = f"http://{host}:{server.get_port()}"
        if announce is not None:
            announce(url)
        layers, coarse, cache = sent_layers(out_dir, max_points=max_points, max_faces=max_faces,
                                            coarse_faces=coarse_faces, cache_dir=cache_dir)
        viewer = ViewerServer(server=server, layers=layers, url=url, drawn_points=drawn_points)
        viewer.sent = {"points": 0, "faces": 0, "notes": list(layers.notes), "cache": cache, "started": started}
        # The camera before the layers (messages arrive in order): the page draws the world from it at once.
        start = view if (view != "input" or layers.camera is not None) else "orbit"
        viewer.start_camera = view_camera(layers, start, width=16, height=9)
        _initial_camera(server, viewer.start_camera)
        for client in server.get_clients().values():  # pages opened while the world loaded
            set_camera(client.camera, viewer.start_camera)
        _add_layers(viewer, coarse)
        viewer.summary = status.content = _summary_markdown(viewer)
        _add_gui(viewer)
        server.on_client_connect(lambda client: _refine_when_drawn(viewer, client))
    except BaseException:
        server.stop()
        raise
    viewer.sent["ready_s"] = time.perf_counter() - started
    return viewer


def _light(scene) -> None:
    """Cheap lighting: no shadow maps and no environment map.

    viser's defaults (a shadow-casting directional light with 3 cascades and an HDR environment
    map) cost software WebGL most of its time: on the 1M-Gaussian bench world, without shadows the
    frame rate while orbiting went from 6.9 to 25 frames/s, and without the environment map the
    page showed the room 3.6 s after loading instead of 12.9 s. A hemisphere light lights the faces
    the directional lights miss.
    """
    scene.configure_default_lights(cast_shadow=False)
    scene.configure_environment_map(hdri=None)
    scene.add_light_hemisphere("/hemisphere_light", sky_color=(255, 255, 255), ground_color=(120, 120, 120),
                               intensity=1.5)


def set_camera(target: Any, camera: Camera) -> None:
    """Point a viser camera (a client's ``camera`` or the server's ``initial_camera``) like ``camera``."""
    up = tuple(float(v) for v in camera.up)
    if hasattr(target, "up_direction"):  # a client's CameraHandle
        target.up_direction = up
    else:
        target.up = up
    target.position = tuple(float(v) for v in camera.position)
    target.look_at = tuple(float(v) for v in camera.look_at)
    target.fov = float(np.radians(camera.vfov_deg))


def _initial_camera(server, camera: Camera) -> None:
    set_camera(server.initial_camera, camera)
    server.initial_camera.near = float(camera.near)


def _add_layers(viewer: ViewerServer, coarse: MeshLayer | None) -> None:
    """Send the layers shown at first; the hidden ones are sent when first switched on (``viewer.pending``).

    With a ``coarse`` visual mesh, that is sent first and the full one once a page has drawn it
    (:func:`_refine_when_drawn`).
    """
    scene, layers, style = viewer.server.scene, viewer.layers, LayerStyle
    builders: dict[str, list[Callable[[], Any]]] = {}

    def later(name: str, build: Callable[[], Any]) -> None:
        builders.setdefault(name, []).append(build)

    def visual(mesh: MeshLayer) -> Any:  # one-sided like the pictures: from outside a room its walls vanish
        viewer.sent["faces"] += mesh.faces.shape[0]
        return scene.add_glb("/visual", mesh_glb(mesh.vertices, mesh.faces, mesh.colors), cast_shadow=False,
                             receive_shadow=False)

    if layers.visual is not None:
        full = layers.visual
        first = full if coarse is None else coarse
        if coarse is not None:
            viewer.sent["coarse_faces"] = coarse.faces.shape[0]
            viewer.refine = lambda: _replace(viewer, "visual", visual(full), first.faces.shape[0])
        later("visual", lambda: visual(first))
    if layers.completed is not None:
        mesh = layers.completed
        later("completed", lambda: _counted(viewer, mesh.faces.shape[0], scene.add_mesh_simple(
            "/completed", mesh.vertices, mesh.faces, color=_rgb(style.COMPLETED), side="double", opacity=0.8,
            cast_shadow=False, receive_shadow=False)))
    if layers.splats is not None and len(layers.splats.points):
        later("splats", lambda: _splat_cloud(viewer))
    for collider in layers.colliders:

        def collider_node(c: MeshLayer = collider) -> Any:
            return _counted(viewer, c.faces.shape[0], scene.add_mesh_simple(
                f"/colliders/{c.name}", c.vertices, c.faces, color=_rgb(c.colors[0]), side="double",
                flat_shading=True, cast_shadow=False, receive_shadow=False))

        later("colliders", collider_node)
    if layers.walkable is not None:
        walkable = layers.walkable
        lifted = walkable.vertices + np.array([0, 0, 0.005], np.float32)  # just above the floor it marks
        later("walkable", lambda: scene.add_mesh_simple("/walkable", lifted, walkable.faces,
                                                        color=_rgb(style.WALKABLE), opacity=style.WALKABLE_ALPHA,
                                                        side="double", material="toon3"))
    if len(layers.spawn_points):
        later("spawn", lambda: scene.add_point_cloud("/spawn_points", layers.spawn_points, _u8(style.SPAWN),
                                                     point_size=2 * style.SPAWN_RADIUS, point_shape="circle"))
    for include in (True, False):
        boxes = layers.nav_volumes[layers.nav_include == include]
        if len(boxes):
            edges = box_edges(boxes).astype(np.float32)
            colours = np.broadcast_to(_u8(style.INCLUDE if include else style.EXCLUDE), (*edges.shape[:2], 3))
            path = f"/navmesh/{'include' if include else 'exclude'}"

            def volumes(path: str = path, edges: np.ndarray = edges, colours: np.ndarray = colours) -> Any:
                return scene.add_line_segments(path, edges, colours, thickness=2.0, thickness_units="screen")

            later("navmesh", volumes)
    if len(layers.probes_end):
        colours = np.where(layers.probes_passed[:, None], _u8(style.PROBE_PASSED), _u8(style.PROBE_FAILED))
        later("probes", lambda: scene.add_point_cloud("/probes", layers.probes_end.astype(np.float32),
                                                      colours.astype(np.uint8), point_size=2 * style.PROBE_RADIUS,
                                                      point_shape="circle"))
        failed = ~layers.probes_passed
        if failed.any():  # where a failed probe went: from its release to where it ended
            paths = np.stack([layers.probes_start[failed], layers.probes_end[failed]], axis=1).astype(np.float32)
            later("probes", lambda: scene.add_line_segments("/probe_paths", paths, np.broadcast_to(
                _u8(style.PROBE_FAILED), (*paths.shape[:2], 3)), thickness=2.0, thickness_units="screen"))
    if layers.camera is not None:
        later("camera", lambda: _frustum(scene, layers))
    for name, builds in builders.items():
        # Splat centres drawn over the visual mesh speckle it: shown first only when there is no mesh.
        if DEFAULT_LAYERS[name] and not (name == "splats" and layers.visual is not None):
            viewer.handles[name] = [build() for build in builds]
        else:
            viewer.pending[name] = builds


def _splat_cloud(viewer: ViewerServer) -> Any:
    """The splat centres as points: every k-th of those loaded, at most ``viewer.drawn_points``."""
    splats = viewer.layers.splats
    assert splats is not None
    stride = max(1, -(-len(splats.points) // max(viewer.drawn_points, 1)))
    points, colours = splats.points[::stride], _u8(splats.colors[::stride])
    viewer.sent["points"] += len(points)
    return viewer.server.scene.add_point_cloud("/splats", points, colours, point_size=2 * LayerStyle.SPLAT_RADIUS,
                                               point_shape="circle")


def draw_points(viewer: ViewerServer, count: int) -> None:
    """Draw ``count`` of the loaded splat centres (the page's slider calls this); a shown layer is re-sent."""
    with viewer.lock:
        viewer.drawn_points = count
        if "splats" in viewer.handles:
            visible = viewer.handles["splats"][0].visible
            handle = _splat_cloud(viewer)
            handle.visible = visible
            viewer.handles["splats"] = [handle]


def show_layer(viewer: ViewerServer, name: str, visible: bool) -> None:
    """Show or hide a layer; a layer not sent yet is sent now (the page's toggles call this)."""
    with viewer.lock:
        builds = viewer.pending.pop(name, None) if visible else None
        if builds is not None:
            viewer.handles[name] = [build() for build in builds]
        for handle in viewer.handles.get(name, []):
            handle.visible = visible


def _counted(viewer: ViewerServer, faces: int, handle, *, points: int = 0):
    viewer.sent["faces"] += faces
    viewer.sent["points"] += points
    return handle


def _replace(viewer: ViewerServer, name: str, handle, faces_before: int) -> None:
    """``handle`` (just added under the same scene path) replaces the layer's node; keeps its visibility."""
    with viewer.lock:
        visible = all(h.visible for h in viewer.handles.get(name, [handle]))
        handle.visible = visible
        viewer.handles[name] = [handle]
        viewer.sent["faces"] -= faces_before


def _refine_when_drawn(viewer: ViewerServer, client) -> None:
    """Send the full visual mesh once ``client`` has drawn the coarse one (a 16 x 16 render it returns:
    messages reach the page in order, so the coarse mesh was in it), or at once if it cannot answer."""
    if viewer.refine is None:
        return
    try:
        client.get_render(16, 16, timeout=60.0)
    except Exception as exc:  # a page closed or too slow to answer: refine anyway
        log.info("page did not return a render (%s); sending the full mesh now", exc)
    with viewer.lock:  # one page refines; ``refine`` is None only once the full mesh was sent
        if viewer.refine is not None:
            viewer.refine()
            viewer.sent["refined_s"] = time.perf_counter() - viewer.sent["started"]
            viewer.refine = None


def _frustum(scene, layers: WorldLayers):
    camera = view_camera(layers, "input", width=4, height=3)
    view = camera.world_to_camera()
    rotation = view[:3, :3].T  # camera -> world, OpenCV axes (viser frustums look along +z, y down)
    return scene.add_camera_frustum("/input_camera", fov=float(np.radians(camera.vfov_deg)), aspect=4 / 3,
                                    scale=0.25, color=(30, 30, 30), wxyz=_quaternion_wxyz(rotation),
                                    position=tuple(float(v) for v in camera.position))


def _add_gui(viewer: ViewerServer) -> None:
    gui, layers = viewer.server.gui, viewer.layers
    for name in [n for n in DEFAULT_LAYERS if n in viewer.handles or n in viewer.pending]:
        checkbox = gui.add_checkbox(name, initial_value=name in viewer.handles)

        def toggle(event, name=name) -> None:
            show_layer(viewer, name, event.target.value)

        checkbox.on_update(toggle)
    if layers.splats is not None and len(layers.splats.points) > viewer.drawn_points:
        loaded = len(layers.splats.points)
        step = max(1, 10 ** int(np.log10(loaded)) // 10)  # 10 000 for a few 100 000
        slider = gui.add_slider("splat points", min=min(step, viewer.drawn_points), max=loaded, step=step,
                                initial_value=viewer.drawn_points)
        slider.on_update(lambda event: draw_points(viewer, int(event.target.value)))
    for view in ("input", "top", "orbit"):
        if view == "input" and layers.camera is None:
            continue
        button = gui.add_button(f"{view} view")

        def jump(event, view=view) -> None:
            camera = view_camera(layers, view, width=16, height=9)
            if event.client is not None:
                set_camera(event.client.camera, camera)

        button.on_click(jump)


def _summary_markdown(viewer: ViewerServer) -> str:
    layers = viewer.layers
    lines = [f"**{layers.out_dir.name}**", ""]
    if layers.splats is not None:
        loaded, total = len(layers.splats.points), layers.splats.total
        drawn = len(layers.splats.points[:: max(1, -(-loaded // max(viewer.drawn_points, 1)))])
        lines.append(f"- {layers.splats.source}: {drawn:,} of {total:,} shown as points" +
                     (f" ({loaded:,} loaded: the 'splat points' slider draws more, software WebGL slows down)"
                      if drawn < loaded else ""))
    lines.append(f"- colliders: {len(layers.colliders)} objects, one colour each")
    if len(layers.probes_end):
        lines.append(f"- drop test ({layers.probe_engine}): {int(layers.probes_passed.sum())}/"
                     f"{len(layers.probes_passed)} probes at rest (green), failed red")
    else:
        lines.append("- no verify.json: run `worldgen verify` for the drop-test probes")
    if layers.camera is not None:
        lines.append(f"- starts at the input camera: {layers.camera.source}")
    sent = viewer.sent
    lines.append(f"- sent to this page at first: {sent['points']:,} points, {sent['faces']:,} faces")
    if viewer.refine is not None and layers.visual is not None:
        lines.append(f"- visual mesh in two steps: {sent['coarse_faces']:,} faces first, all "
                     f"{layers.visual.faces.shape[0]:,} once the page has drawn them")
    if viewer.pending:
        lines.append(f"- sent when first switched on: {', '.join(viewer.pending)}")
    if sent["notes"]:
        lines += ["", "**Reduced for this page** (the world keeps everything):", ""]
        lines += [f"- {note}" for note in sent["notes"]]
    return "\n".join(lines)


def wait_forever(viewer: ViewerServer) -> None:
    """Serve until Ctrl-C."""
    try:
        while True:
            time.sleep(1.0)
    finally:
        viewer.stop()


def _u8(rgb) -> np.ndarray:
    return np.clip(np.rint(np.asarray(rgb, np.float32) * 255), 0, 255).astype(np.uint8)


def _rgb(rgb) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in _u8(rgb).reshape(3))
    return r, g, b


def _quaternion_wxyz(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """(w, x, y, z) of a 3x3 rotation matrix (Shepperd's method, the largest-diagonal branch)."""
    m = np.asarray(rotation, np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = (0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s)
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q_ = [0.0, 0.0, 0.0, 0.0]
        q_[0] = (m[k, j] - m[j, k]) / s
        q_[1 + i] = 0.25 * s
        q_[1 + j] = (m[j, i] + m[i, j]) / s
        q_[1 + k] = (m[k, i] + m[i, k]) / s
        q = tuple(q_)
    return tuple(float(v) for v in q)  # type: ignore[return-value]

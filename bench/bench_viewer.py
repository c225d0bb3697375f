"""Benchmark `worldgen view` on a 1M-Gaussian world: how long until the page shows it, where that
time goes, and the frame rate while the camera moves.

The world: the sample room at 1.14 cm Gaussian spacing (about 1 M splats) and its ground-truth
mesh subdivided to about 1.5 M faces, written as a world package (splats.usdc + visual.usdc).
The browser is headless Chromium (Debian's chromium) with software WebGL (SwiftShader: no GPU
here), already running, as a user's browser is. "Shows the world" means a screenshot has over
10 % of the canvas left of the control panel drawn (the room covers ~20 %).

"Opens" is measured two ways:

* **from `worldgen view` start**: the command is started as a process (Python start-up and
  imports included); the page is opened as soon as the command prints its address (it does so
  before reading the world) until the world shows. Once with an empty viewer cache (the first
  view of this world: USD read, subsample, mesh reduction) and once with the cache written by the
  first (every later view).
* **from page load, server already up**: `serve_world` has sent everything; from `page.goto`
  until the world shows. The same page with almost nothing sent (1000 faces, no points) is the
  environment's floor (viser's page and software WebGL's start-up); the world's own cost is the
  difference.

The frame rate is requestAnimationFrame callbacks per second over 3 s while the camera is moved
from Python every 50 ms (each move re-renders), with the default layers (the mesh) and with the
splat points shown instead. The server side is broken down by timing its parts directly, and the
page's by timestamps of its load, websocket and first drawn frame. Also compared: sending
everything (every Gaussian, every face), and the headless rasteriser's preview.png.

Usage: python bench/bench_viewer.py [--spacing 0.0114] [--faces 1000000] [--out /tmp/bench_viewer/world]
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]  # fmt: skip
FPS_SCRIPT = """() => new Promise(resolve => {
  let frames = 0; const start = performance.now();
  function tick() { frames++; if (performance.now() - start < 3000) requestAnimationFrame(tick);
                    else resolve(frames / ((performance.now() - start) / 1000)); }
  requestAnimationFrame(tick); })"""
DRAWN = 0.10
"""Fraction of the canvas left of the panel that must be drawn for the world to count as shown."""


def write_world(out: Path, *, spacing: float, faces: int) -> tuple[int, int]:
    """A world package of the sample room: (Gaussians, visual faces) written."""
    import trimesh

    from worldgen_sim.artifacts import TriangleMesh
    from worldgen_sim.exporters.usd_splats import write_splat_layer
    from worldgen_sim.exporters.usd_visual import write_visual_layer
    from worldgen_sim.exporters.usd_world import write_world_layer
    from worldgen_sim.samples import make_sample_room

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    room = make_sample_room(spacing=spacing)
    write_splat_layer(out / "splats.usdc", room.gaussians)
    truth = room.ground_truth_mesh()
    vertices, triangles = np.asarray(truth.vertices, np.float64), np.asarray(truth.faces, np.int64)
    while len(triangles) < faces:  # each midpoint subdivision makes four faces of one
        vertices, triangles = trimesh.remesh.subdivide(vertices, triangles)
    colours = np.clip(0.5 + 0.5 * np.sin(vertices * 3.0), 0, 1).astype(np.float32)
    write_visual_layer(out / "visual.usdc", TriangleMesh(vertices.astype(np.float32), triangles.astype(np.int32),
                                                         colors=colours))
    write_world_layer(out / "world.usda", sublayers=["visual.usdc", "splats.usdc"], has_splats=True,
                      has_visual=True, doc="bench_viewer")
    return len(room.gaussians), len(triangles)


class Browser:
    """Headless Chromium with one page, recording when the page loaded and what the websocket brought."""

    def __init__(self, playwright, chromium: str) -> None:
        self.browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        self.page = self.browser.new_page(viewport={"width": 640, "height": 400})
        self.marks: dict[str, float] = {}
        self.ws_bytes = 0
        self.dpr: list[str] = []  # viser lowers the pixel ratio when frames are slow: frame rates depend on it
        self.page.on("console", lambda m: self.dpr.append(m.text.split("Setting ")[1]) if "Setting DPR" in m.text
                     else None)
        self.page.on("load", lambda: self.marks.setdefault("page loaded", time.perf_counter()))
        self.page.on("websocket", self._on_websocket)

    def _on_websocket(self, socket) -> None:
        self.marks.setdefault("websocket open", time.perf_counter())

        def received(payload) -> None:
            self.ws_bytes += len(payload)
            self.marks["last message"] = time.perf_counter()

        socket.on("framereceived", received)

    def open_until_drawn(self, url: str, *, limit_s: float = 300.0) -> tuple[float, float]:
        """goto ``url``; (time when the world showed [perf_counter s], fraction drawn)."""
        from PIL import Image

        self.page.goto(url)
        deadline = time.perf_counter() + limit_s
        while True:
            image = np.asarray(Image.open(io.BytesIO(self.page.screenshot(timeout=300_000))).convert("RGB"))
            drawn = float(((image.astype(int).sum(axis=2) < 700)[:, :380]).mean())  # left of the panel
            if drawn > DRAWN or time.perf_counter() > deadline:
                return time.perf_counter(), drawn
            time.sleep(0.1)

    def close(self) -> None:
        self.browser.close()


def orbit_fps(viewer, page) -> float:
    """requestAnimationFrame callbacks per second while the camera circles the world."""
    from worldgen_sim.viewer.views import view_camera

    stop = threading.Event()
    camera = view_camera(viewer.layers, "orbit")
    centre, eye = np.asarray(camera.look_at), np.asarray(camera.position)

    def orbit() -> None:
        angle = 0.0
        while not stop.is_set():
            angle += 0.05
            rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
            for client in viewer.server.get_clients().values():
                client.camera.position = tuple(centre + rotation @ (eye - centre))
            time.sleep(0.05)

    mover = threading.Thread(target=orbit, daemon=True)
    mover.start()
    try:
        return float(page.evaluate(FPS_SCRIPT))
    finally:
        stop.set()
        mover.join()


def from_command_start(world: Path, cache: Path, chromium: str) -> dict:
    """`worldgen view` as a process: seconds from its start to the address, to the world sent, to the world shown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = Browser(playwright, chromium)
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "worldgen_sim.cli", "view", str(world), "--port", "0",
                                    "--camera", "orbit", "--cache-dir", str(cache)],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert process.stdout is not None
            url = ""
            for line in process.stdout:
                if line.startswith("worldgen view: serving"):
                    url = line.split(" at ")[1].split()[0]
                    break
            result: dict[str, Any] = {"address_s": time.perf_counter() - started}
            lines: list[str] = []
            reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
            reader.start()
            shown, drawn = browser.open_until_drawn(url)
            result |= {"open_s": shown - started, "drawn": drawn}
            sent = next((line for line in lines if "world sent after" in line), "")
            result["sent_s"] = float(sent.split("after ")[1].split(" s")[0]) if sent else float("nan")
            result["how"] = sent.split("(")[1].split(")")[0] if sent else "?"
        finally:
            process.terminate()
            process.wait(timeout=60)
            browser.close()
    return result


def from_page_load(world: Path, chromium: str, *, max_points: int, max_faces: int, cache: Path | None,
                   coarse_faces: int = 50_000, splats_fps: bool = False) -> dict:
    """Server up and everything sent, then the page loaded: its timeline and frame rate."""
    from playwright.sync_api import sync_playwright

    from worldgen_sim.viewer.server import draw_points, serve_world, show_layer

    started = time.perf_counter()
    viewer = serve_world(world, port=0, max_points=max_points, max_faces=max_faces, view="orbit", cache_dir=cache,
                         coarse_faces=coarse_faces)
    result: dict[str, Any] = {"served_s": time.perf_counter() - started}
    try:
        with sync_playwright() as playwright:
            browser = Browser(playwright, chromium)
            loading = time.perf_counter()
            shown, drawn = browser.open_until_drawn(viewer.url)
            result |= {"open_s": shown - loading, "drawn": drawn, "ws_mb": browser.ws_bytes / 1e6}
            time.sleep(0.5)  # a screenshot of the world just drawn, for a look (bench output folder)
            browser.page.screenshot(path=str(world.parent / f"page_{max_points}_{max_faces}.png"))
            result |= {name: mark - loading for name, mark in browser.marks.items()}
            while viewer.refine is not None and time.perf_counter() - loading < 300:
                time.sleep(0.05)
            if "refined_s" in viewer.sent:  # the full visual mesh sent after the page drew the coarse one
                result["refined_s"] = viewer.sent["started"] + viewer.sent["refined_s"] - loading
                result["coarse_faces"] = viewer.sent["coarse_faces"]
            time.sleep(2.0)  # the page takes in what came last (steady state, as for sending everything at once)
            result["fps"] = orbit_fps(viewer, browser.page)
            result["points"], result["faces"] = viewer.sent["points"], viewer.sent["faces"]
            if splats_fps and "splats" in viewer.pending:
                show_layer(viewer, "visual", False)
                show_layer(viewer, "splats", True)
                time.sleep(2.0)  # the toggles reach the page and the points are uploaded
                result["splats_fps"] = orbit_fps(viewer, browser.page)
                assert viewer.layers.splats is not None
                loaded = len(viewer.layers.splats.points)
                draw_points(viewer, loaded)  # the page's slider at its end
                time.sleep(2.0)
                result["all_splats_fps"] = orbit_fps(viewer, browser.page)
                result["splat_points"] = f"{viewer.drawn_points // 1000}k of {loaded // 1000}k loaded"
                draw_points(viewer, 100_000)
            result["dpr"] = "; ".join(browser.dpr) or "unchanged"
            browser.close()
    finally:
        viewer.stop()
    return result


def server_parts(world: Path, cache: Path) -> dict:
    """Seconds of each server-side part of a first view, timed directly."""
    from worldgen_sim.viewer.glb import mesh_glb
    from worldgen_sim.viewer.sent_layers import reduce_layers, sent_layers, world_key
    from worldgen_sim.viewer.world_layers import load_world_layers

    parts = {}
    started = time.perf_counter()
    import viser  # noqa: F401

    parts["import viser"] = time.perf_counter() - started
    started = time.perf_counter()
    layers = load_world_layers(world, max_points=300_000)
    parts["read USD + subsample splats"] = time.perf_counter() - started
    started = time.perf_counter()
    layers = reduce_layers(layers, 400_000)
    parts["reduce meshes"] = time.perf_counter() - started
    started = time.perf_counter()
    assert layers.visual is not None
    mesh_glb(layers.visual.vertices, layers.visual.faces, layers.visual.colors)
    parts["GLB of the visual mesh"] = time.perf_counter() - started
    started = time.perf_counter()
    world_key(world, max_points=300_000, max_faces=400_000)
    parts["content hash (cache key)"] = time.perf_counter() - started
    budgets = {"max_points": 300_000, "max_faces": 400_000, "coarse_faces": 50_000}
    sent_layers(world, **budgets, cache_dir=cache)  # writes the cache
    started = time.perf_counter()
    _, _, use = sent_layers(world, **budgets, cache_dir=cache)
    assert use.hit
    parts["cache hit (hash + read)"] = time.perf_counter() - started
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing", type=float, default=0.0114)
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_viewer/world"))
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("bench_viewer needs Debian's chromium (apt-get install chromium)")
    probe = time.perf_counter()
    np.multiply(np.ones(1_000_000, np.float32), 2.0)
    print(f"machine probe: 1M-element float32 multiply {1000 * (time.perf_counter() - probe):.2f} ms")
    gaussians, faces = write_world(args.out, spacing=args.spacing, faces=args.faces)
    print(f"world: {gaussians:,} Gaussians, {faces:,} visual faces ({args.out})", flush=True)

    from worldgen_sim.viewer.views import write_preview

    started = time.perf_counter()
    write_preview(args.out)
    print(f"preview.png (numpy rasteriser, 2 x 640x480, 300k points): {time.perf_counter() - started:.2f} s",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_viewer_cache_") as folder:
        parts = server_parts(args.out, Path(folder) / "parts")
        print("server side, first view (default budgets):", flush=True)
        for name, seconds in parts.items():
            print(f"  {name:>28}: {seconds:.2f} s")
        cache = Path(folder) / "command"
        cold = from_command_start(args.out, cache, chromium)
        warm = from_command_start(args.out, cache, chromium)
        for name, r in (("first view (cache empty)", cold), ("later view (cache hit)", warm)):
            print(f"from `worldgen view` start, {name}: address printed after {r['address_s']:.2f} s, world sent "
                  f"after {r['sent_s']:.2f} s of serving ({r['how']}), world shown after {r['open_s']:.2f} s "
                  f"({r['drawn']:.0%} drawn)", flush=True)
        floor = from_page_load(args.out, chromium, max_points=0, max_faces=1_000, cache=None)
        page = from_page_load(args.out, chromium, max_points=300_000, max_faces=400_000, cache=cache, splats_fps=True)
        full = from_page_load(args.out, chromium, max_points=gaussians, max_faces=faces, cache=None,
                              coarse_faces=faces)
    for name, r in (("nearly nothing (floor)", floor), ("default budgets", page), ("everything at once", full)):
        timeline = ", ".join(f"{k} {r[k]:.2f} s" for k in ("page loaded", "websocket open", "last message") if k in r)
        refined = (f"; the full mesh sent after {r['refined_s']:.2f} s ({r['coarse_faces']:,} faces first)"
                   if "refined_s" in r else "")
        print(f"from page load, server up, {name}: {r['points']:,} points + {r['faces']:,} faces sent "
              f"({r['ws_mb']:.1f} MB before the world showed); {timeline}; world shown after {r['open_s']:.2f} s "
              f"({r['drawn']:.0%} drawn){refined}; {r['fps']:.1f} frames/s while orbiting" +
              (f" ({r['splats_fps']:.1f} with 100k splat points shown instead of the mesh, "
               f"{r['all_splats_fps']:.1f} with all {r['splat_points']})" if "splats_fps" in r else "") +
              f"; viser's adaptive pixel ratio: {r['dpr']}", flush=True)
    print(f"world's own cost above the floor: default {page['open_s'] - floor['open_s']:+.2f} s, "
          f"everything {full['open_s'] - floor['open_s']:+.2f} s; everything / default: open time "
          f"x{full['open_s'] / page['open_s']:.2f}, frame rate x{full['fps'] / max(page['fps'], 1e-9):.2f}")


if __name__ == "__main__":
    main()

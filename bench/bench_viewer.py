"""Benchmark `worldgen view` on a 1M-Gaussian world: time to open the page and its frame rate,
sending the subsampled / decimated world (the default) against sending everything.

The world: the sample room at 1.14 cm Gaussian spacing (about 1 M splats) and its ground-truth
mesh subdivided to about 1 M faces, written as a world package (splats.usdc + visual.usdc).
Each mode serves it with ``serve_world`` and opens it in headless Chromium (Debian's chromium,
software WebGL: no GPU here); "open" is from the start of loading until a screenshot shows the
room (over 10 % of the canvas left of the control panel drawn). The frame rate is
requestAnimationFrame callbacks per second over 3 s while the camera is moved from Python every
50 ms (each move re-renders).
Also prints the headless rasteriser's time for preview.png on the same world.

Usage: python bench/bench_viewer.py [--spacing 0.0114] [--faces 1000000] [--out /tmp/bench_viewer]
"""

from __future__ import annotations

import argparse
import io
import shutil
import threading
import time
from pathlib import Path

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


def open_page(world: Path, *, max_points: int, max_faces: int, chromium: str) -> dict:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from worldgen_sim.viewer.server import serve_world
    from worldgen_sim.viewer.views import view_camera

    started = time.perf_counter()
    viewer = serve_world(world, port=0, max_points=max_points, max_faces=max_faces, view="orbit")
    served = time.perf_counter() - started
    result = {"served_s": served, "points": viewer.sent["points"], "faces": viewer.sent["faces"]}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 640, "height": 400})
        page.goto(viewer.url)
        while True:
            image = np.asarray(Image.open(io.BytesIO(page.screenshot(timeout=300_000))).convert("RGB"))
            drawn = float(((image.astype(int).sum(axis=2) < 700)[:, :380]).mean())  # left of the panel
            if drawn > 0.10 or time.perf_counter() - started > 600:
                break
            time.sleep(0.1)
        result["open_s"] = time.perf_counter() - started
        result["drawn"] = drawn
        stop = threading.Event()
        camera = view_camera(viewer.layers, "orbit")
        centre, eye = np.asarray(camera.look_at), np.asarray(camera.position)

        def orbit() -> None:
            angle = 0.0
            while not stop.is_set():
                angle += 0.05
                offset = eye - centre
                rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
                for client in viewer.server.get_clients().values():
                    client.camera.position = tuple(centre + rotation @ offset)
                time.sleep(0.05)

        mover = threading.Thread(target=orbit, daemon=True)
        mover.start()
        result["fps"] = float(page.evaluate(FPS_SCRIPT))
        stop.set()
        mover.join()
        browser.close()
    viewer.stop()
    return result


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

    # The same page with almost nothing sent: what opening costs whatever the world (software WebGL
    # compiles its shaders on the CPU here), so the two modes below can be read against it.
    floor = open_page(args.out, max_points=0, max_faces=1_000, chromium=chromium)
    print(f"nearly nothing: {floor}", flush=True)
    reduced = open_page(args.out, max_points=300_000, max_faces=400_000, chromium=chromium)
    print(f"subsampled: {reduced}", flush=True)
    full = open_page(args.out, max_points=gaussians, max_faces=faces, chromium=chromium)
    print(f"everything: {full}", flush=True)
    for name, r in (("nearly nothing", floor), ("subsampled (default)", reduced), ("everything", full)):
        print(f"{name:>22}: sent {r['points']:,} points + {r['faces']:,} faces; served after {r['served_s']:.2f} s, "
              f"page shows the room after {r['open_s']:.2f} s ({r['drawn']:.0%} drawn); {r['fps']:.1f} frames/s "
              "while orbiting")
    print(f"ratio everything / subsampled: open time x{full['open_s'] / reduced['open_s']:.2f}, "
          f"frame rate x{full['fps'] / max(reduced['fps'], 1e-9):.2f}; open time above the nearly-empty page: "
          f"subsampled {reduced['open_s'] - floor['open_s']:+.2f} s, "
          f"everything {full['open_s'] - floor['open_s']:+.2f} s")


if __name__ == "__main__":
    main()

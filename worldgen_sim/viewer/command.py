"""The ``worldgen view`` command (its options and what it runs); cli.py only registers it.

Imports nothing heavy at module level: viser is imported when the page is served.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_view_command", "run_view", "write_preview_after_verify"]


def add_view_command(commands) -> None:
    """Register ``worldgen view`` on the CLI's subparsers."""
    view = commands.add_parser("view", help="look at a world package in the browser (viser), or render a picture")
    view.add_argument("out", type=Path, help="world package folder (holding world.usda)")
    view.add_argument("--screenshot", type=Path, help="render this PNG headless (no browser, no GPU) and exit")
    view.add_argument("--camera", choices=["input", "top", "orbit"], default="input",
                      help="view to start from / render (input: the input camera when the world records it)")
    view.add_argument("--size", default="1280x800", help="screenshot size WIDTHxHEIGHT [px] (default 1280x800)")
    view.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine)")
    view.add_argument("--port", type=int, default=8080, help="port to serve on (0: any free port)")
    view.add_argument("--max-points", type=int, default=300_000,
                      help="most splat centres sent or drawn (a seeded subsample beyond it; the page says so)")
    view.add_argument("--max-faces", type=int, default=400_000, help="most visual-mesh faces sent (decimated beyond)")
    view.add_argument("--cache-dir", type=Path, default=None,
                      help="cache root: the page's reduced layers go to DIR/viewer, keyed by the world's content "
                           "(default $XDG_CACHE_HOME/worldgen_sim, i.e. ~/.cache/worldgen_sim)")
    view.add_argument("--no-cache", action="store_true", help="read and reduce the world every time, write no cache")
    view.add_argument("--quiet", action="store_true", help="print only the address")
    view.set_defaults(handler=run_view)


def run_view(args: argparse.Namespace) -> int:
    """Render ``--screenshot`` or serve the page until Ctrl-C; returns the exit code."""
    from worldgen_sim.errors import WorldgenError

    if args.max_points < 0:
        raise WorldgenError(f"--max-points must be >= 0, got {args.max_points}")
    if args.screenshot is not None:
        from worldgen_sim.viewer.views import write_screenshot

        try:
            width, height = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise WorldgenError(f"--size '{args.size}' must be WIDTHxHEIGHT, e.g. 1280x800") from None
        if not (16 <= width <= 8192 and 16 <= height <= 8192):
            raise WorldgenError(f"--size '{args.size}': width and height must lie in 16..8192 px")
        path = write_screenshot(args.out, args.screenshot, view=args.camera, width=width, height=height,
                                max_points=args.max_points)
        if not args.quiet:
            print(f"wrote {path} ({args.camera} view, {width}x{height})")
        return 0
    from worldgen_sim.cache import user_cache_dir
    from worldgen_sim.viewer.server import serve_world, wait_forever

    def announce(url: str) -> None:  # the page is served before the world is read: it can be opened now
        print(f"worldgen view: serving {args.out} at {url} (Ctrl-C stops)", flush=True)

    cache_dir = None if args.no_cache else (args.cache_dir or user_cache_dir())
    viewer = serve_world(args.out, host=args.host, port=args.port, max_points=args.max_points,
                         max_faces=args.max_faces, view=args.camera, cache_dir=cache_dir, announce=announce)
    if not args.quiet:
        cache = viewer.sent["cache"]
        how = "from the viewer cache" if cache.hit else "read from the world" + (" and cached" if cache.path else "")
        later = [" the full visual mesh once the page has drawn that"] if viewer.refine is not None else []
        later += [f" {', '.join(viewer.pending)} when switched on"] if viewer.pending else []
        print(f"  world sent after {viewer.sent['ready_s']:.2f} s ({how}): {viewer.sent['points']:,} points, "
              f"{viewer.sent['faces']:,} faces" + (f"; then{' and'.join(later)}" if later else ""))
        for note in viewer.sent["notes"]:
            print(f"  {note}")
    wait_forever(viewer)
    return 0


def write_preview_after_verify(out_dir: Path, cfg, *, quiet: bool) -> None:
    """``worldgen verify --preview`` (or ``viewer.preview`` in its config): preview.png with the probes."""
    from worldgen_sim.viewer.views import write_preview

    path = write_preview(out_dir, width=cfg.preview_width, height=cfg.preview_height, max_points=cfg.max_points)
    if not quiet:
        print(f"wrote {path}")

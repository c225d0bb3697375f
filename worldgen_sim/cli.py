"""The ``worldgen`` command line: build, info, demo, verify, view, randomize, batch, sample.

User mistakes (bad files, options, config keys) print one ``worldgen: error:``
line and exit 2; a failed verification exits 1; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from worldgen_sim.errors import WorldgenError

EXIT_FAILED = 1
EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``worldgen`` console script; returns the exit code."""
    from worldgen_sim.interrupts import Interrupted, install_signal_handlers

    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(f"worldgen: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from worldgen_sim.progress import configure_cli_logging

    configure_cli_logging(quiet=getattr(args, "quiet", False))
    install_signal_handlers()
    try:
        _recover(args)
        return args.handler(args)
    except WorldgenError as exc:
        print(f"worldgen: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        name, code = (exc.name, exc.exit_code) if isinstance(exc, Interrupted) else ("SIGINT", 130)
        print(f"worldgen: interrupted by {name}; no partial output was left behind", file=sys.stderr)
        return code


class _UsageError(Exception):
    """An argparse error, reported as one ``worldgen: error:`` line (no usage dump)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors name the command and point at its ``--help``."""

    def error(self, message: str):  # argparse's hook; it must not return
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def _recover(args: argparse.Namespace) -> None:
    """Restore a world folder that a killed build left missing (see ``staging.recover_output``)."""
    if args.command not in ("build", "demo", "verify"):
        return
    from worldgen_sim.staging import recover_output

    note = recover_output(args.out)
    if note:
        print(f"worldgen: note: {note}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="worldgen",
        description="Turn Gaussian-splat scenes and RGB-D frames into simulation-ready USD worlds.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    build = commands.add_parser("build", help="build a world package from a PLY, an RGB-D folder or a picture")
    build.add_argument(
        "input", type=Path, help="Gaussian .ply (INRIA 3DGS, Lyra 2.0, Lyra 1.0), RGB-D folder, or a .jpg/.png picture"
    )
    build.add_argument("-o", "--out", type=Path, required=True, help="output world folder (replaced atomically)")
    _add_build_options(build)
    build.set_defaults(handler=_cmd_build)

    info = commands.add_parser("info", help="print a Gaussian PLY's layout, count, SH degree, bounds and statistics")
    info.add_argument("file", type=Path)
    info.set_defaults(handler=_cmd_info)

    demo = commands.add_parser("demo", help="build (and verify) the bundled RGB-D picture offline")
    demo.add_argument("-o", "--out", type=Path, default=Path("demo_world"), help="output folder (default: demo_world)")
    demo.add_argument("--no-verify", action="store_true", help="skip validators and the drop test")
    demo.add_argument("--sample-room", action="store_true", help="build the synthetic sample room (Lyra 2.0 PLY)")
    _add_build_options(demo)
    demo.set_defaults(handler=_cmd_demo)

    verify = commands.add_parser("verify", help="validate a world package and drop-test it in a physics engine")
    verify.add_argument("out", type=Path, help="world package folder (holding world.usda)")
    verify.add_argument("--config", type=Path, help="YAML config (its 'verify' section is used)")
    verify.add_argument("--no-drop-test", action="store_true", help="run the USD validators only")
    verify.add_argument("--engine", choices=["newton", "physx", "both"],
                        help="drop-test engine(s) (verify.engine; default: every engine installed)")  # fmt: skip
    verify.add_argument("--quiet", action="store_true", help="print only the result table")
    verify.add_argument("--preview", action="store_true", help="also write preview.png (with the probes)")
    verify.set_defaults(handler=_cmd_verify)

    from worldgen_sim.viewer.command import add_view_command

    add_view_command(commands)

    randomize = commands.add_parser("randomize", help="write reproducible variants of a built world as USD layers")
    randomize.add_argument("out", type=Path, help="world package folder (the OUT of 'worldgen build')")
    randomize.add_argument("--variants", type=int, required=True, help="number of variants")
    randomize.add_argument("--seed", type=int, default=0,
                           help="seed; variant i depends only on (world, config, seed, i)")
    randomize.add_argument("--config", type=Path, help="randomize YAML (ranges of what varies)")
    randomize.add_argument("--workers", type=int, default=1, help="processes (the output does not depend on it)")
    randomize.add_argument("--variant-set", action="store_true",
                           help="also write world_variants.usda with a 'randomization' variant set on /World")
    randomize.add_argument("--quiet", action="store_true", help="no progress output")
    randomize.set_defaults(handler=_cmd_randomize)

    batch = commands.add_parser("batch", help="build many worlds from a manifest (resumable; local pool or Ray)")
    batch.add_argument("manifest", type=Path, help="batch manifest YAML (inputs x option sets x variants)")
    batch.add_argument("-o", "--out", type=Path, required=True, help="batch folder: one world per item + batch.json")
    batch.add_argument("--engine", choices=["local", "ray"], default="local", help="process pool or Ray tasks")
    batch.add_argument("--workers", type=int, default=1, help="parallel items (local) or CPUs of a local Ray")
    batch.add_argument("--address", help="address of a running Ray cluster (with --engine ray)")
    batch.add_argument("--dry-run", action="store_true", help="print the plan: what would run, what is finished")
    batch.add_argument("--quiet", action="store_true", help="no progress output")
    batch.set_defaults(handler=_cmd_batch)

    sample = commands.add_parser("sample", help="write a synthetic scene (default: the sample room) as a Gaussian PLY")
    sample.add_argument("out", type=Path, help="the .ply to write")
    sample.add_argument(
        "--scene",
        choices=["room", "terrain", "stairs", "floaters", "cabinet", "statue", "vegetation", "plaza"],
        default="room",
        help="which scene (see worldgen_sim.scenes); each has its own default layout, frame and scale",
    )
    sample.add_argument("--layout", choices=["inria", "lyra2", "lyra1"], help="PLY layout (room: lyra2)")
    sample.add_argument("--spacing", type=float, help="Gaussian spacing [m] (room: 0.04; 0.0114 gives ~1 M)")
    sample.add_argument("--scale", type=float, help="input units per metre (relative-depth inputs; room: 1.0)")
    sample.add_argument("--floaters", type=int, default=0, help="number of floater Gaussians to add")
    sample.add_argument("--sky", type=int, default=0, help="number of far sky-shell Gaussians to add")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(handler=_cmd_sample)
    return parser


def _add_build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML config; options below override it")
    parser.add_argument("--up", choices=["auto", "opencv", "y", "z"], help="input frame's up convention")
    parser.add_argument("--scale", type=float, help="world metres per input unit")
    parser.add_argument("--camera-height", type=float, help="input camera height above the floor [m]; fixes scale")
    parser.add_argument(
        "--add-ground", action="store_true", help="stand an object capture without ground on a synthetic ground plane"
    )
    parser.add_argument("--no-floaters", action="store_true", help="keep floaters (low-opacity, isolated)")
    parser.add_argument("--no-sky", action="store_true", help="keep the far background / sky shell")
    parser.add_argument("--no-mesh", action="store_true", help="no visual mesh (and so no colliders or navigation)")
    parser.add_argument("--no-collision", action="store_true", help="no colliders (and so no navigation)")
    parser.add_argument("--no-navigation", action="store_true", help="no navigation layer")
    parser.add_argument("--dynamic-objects", action="store_true", help="objects become pushable rigid bodies")
    parser.add_argument("--agent", choices=["wheeled", "quadruped", "humanoid"], help="navigation agent preset")
    parser.add_argument(
        "--half", action="store_true", help="write splats in half precision (NVIDIA's VG.035 rule wants float)"
    )
    parser.add_argument("--renderer", choices=["auto", "cpu", "gsplat"], help="Gaussian renderer for the surface stage")
    parser.add_argument(
        "--cache-dir", type=Path, help="reuse segmentations and decompositions cached here (collision.cache_dir)"
    )
    parser.add_argument("--preview", action="store_true", help="also write preview.png (top + input view)")
    parser.add_argument("--threads", type=int, help="CPU threads of torch / OpenMP / BLAS (runtime.num_threads)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    picture = parser.add_argument_group("pictures (one .jpg/.png, or a one-frame RGB-D folder)")
    picture.add_argument(
        "--depth", type=Path, help="depth of the picture: 16-bit PNG (input.depth_scale per m) or .npy [m]"
    )
    picture.add_argument("--depth-model", help="transformers depth model id or folder (generate.depth)")
    picture.add_argument("--fov", type=float, help="the picture's horizontal field of view [deg]")
    picture.add_argument("--focal", type=float, help="the picture's focal length [px]")
    picture.add_argument("--backend", choices=["depth", "lyra2", "lyra1"], help="depth lifting, or your Lyra checkout")
    picture.add_argument("--lyra-checkout", type=Path, help="folder of your nv-tlabs/lyra checkout")
    picture.add_argument("--lyra-weights", type=Path, help="local Lyra weights folder (else huggingface_hub)")
    picture.add_argument("--lyra-python", help="Python interpreter of the Lyra environment")


def _overrides(args: argparse.Namespace) -> dict:
    """Dotted config keys set by command-line options (only those given)."""
    options = {
        "align.up": args.up,
        "align.scale": args.scale,
        "align.camera_height": args.camera_height,
        "navigation.preset": args.agent,
        "surface.renderer": args.renderer,
        "generate.depth_path": str(args.depth) if args.depth is not None else None,
        "generate.depth": args.depth_model,
        "generate.fov_deg": args.fov,
        "generate.focal_px": args.focal,
        "generate.backend": args.backend,
        "generate.lyra_checkout": str(args.lyra_checkout) if args.lyra_checkout is not None else None,
        "generate.lyra_weights": str(args.lyra_weights) if args.lyra_weights is not None else None,
        "generate.lyra_python": args.lyra_python,
        "collision.cache_dir": str(args.cache_dir) if args.cache_dir is not None else None,
        "runtime.num_threads": args.threads,
    }
    switches = {
        "align.add_ground": (args.add_ground, True),
        "align.remove_floaters": (args.no_floaters, False),
        "align.remove_sky": (args.no_sky, False),
        "surface.enabled": (args.no_mesh, False),
        "collision.enabled": (args.no_collision, False),
        "navigation.enabled": (args.no_navigation, False),
        "collision.dynamic_objects": (args.dynamic_objects, True),
        "usd.half_precision": (args.half, True),
        "viewer.preview": (args.preview, True),
    }
    overrides = {key: value for key, value in options.items() if value is not None}
    overrides.update({key: value for key, (given, value) in switches.items() if given})
    return overrides


def _cmd_build(args: argparse.Namespace) -> int:
    from worldgen_sim.config import load_config
    from worldgen_sim.pipeline import build_world
    from worldgen_sim.progress import Progress

    cfg = load_config(args.config, overrides=_overrides(args))
    result = build_world(args.input, args.out, cfg=cfg, progress=Progress(quiet=args.quiet))
    _print_summary(result.summary, quiet=args.quiet)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import tempfile

    from worldgen_sim.config import load_config
    from worldgen_sim.demo import demo_frame_folder, write_demo_input
    from worldgen_sim.pipeline import build_world
    from worldgen_sim.progress import Progress

    progress = Progress(quiet=args.quiet)
    overrides = _overrides(args)
    with tempfile.TemporaryDirectory(prefix="worldgen-demo-") as scratch:
        if args.sample_room:
            input_path, camera_height = write_demo_input(Path(scratch))
        else:
            input_path, camera_height = demo_frame_folder(), None
        cfg = load_config(args.config, overrides=overrides)
        if camera_height is not None and cfg.align.scale is None and cfg.align.camera_height is None:
            cfg.align.camera_height = camera_height  # the sample room's true camera height fixes its scale
        if not args.no_verify:
            from worldgen_sim.extras import check_dependencies

            check_dependencies(cfg, verify=True)  # before the build, not after it
        if args.sample_room:
            progress.write(f"[worldgen] demo: sample room written as {input_path.name} (Lyra 2.0 layout, OpenCV frame)")
        else:
            progress.write(f"[worldgen] demo: one RGB-D picture, {input_path.name} (Open3D's Redwood sample, MIT)")
        result = build_world(input_path, args.out, cfg=cfg, progress=progress)
    _print_summary(result.summary, quiet=args.quiet)
    if args.no_verify:
        return 0
    return _verify(result.out_dir, cfg.verify, quiet=args.quiet, viewer=cfg.viewer)


def _cmd_info(args: argparse.Namespace) -> int:
    from worldgen_sim.io.gaussian_ply import format_info, read_gaussian_ply

    cloud, info = read_gaussian_ply(args.file)
    print(format_info(info, cloud))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from worldgen_sim.config import load_config

    overrides = {"verify.drop_test": False} if args.no_drop_test else {}
    if args.engine:
        overrides["verify.engine"] = args.engine
    if args.preview:
        overrides["viewer.preview"] = True
    cfg = load_config(args.config, overrides=overrides)
    return _verify(args.out, cfg.verify, quiet=args.quiet, viewer=cfg.viewer)


def _verify(out_dir: Path, cfg, *, quiet: bool, viewer=None) -> int:
    from worldgen_sim.progress import Progress
    from worldgen_sim.verify.verify import format_report, verify_world

    report = verify_world(out_dir, cfg=cfg, progress=Progress(quiet=quiet))
    print(format_report(report))
    if viewer is not None and viewer.preview:
        from worldgen_sim.viewer.command import write_preview_after_verify

        write_preview_after_verify(out_dir, viewer, quiet=quiet)
    return 0 if report.passed else EXIT_FAILED


def _cmd_randomize(args: argparse.Namespace) -> int:
    from worldgen_sim.progress import Progress
    from worldgen_sim.randomize.randomize import randomize_world
    from worldgen_sim.randomize.randomize_cfg import load_randomize_config

    cfg = load_randomize_config(args.config)
    result = randomize_world(args.out, variants=args.variants, seed=args.seed, cfg=cfg, workers=args.workers,
                             variant_set=args.variant_set, progress=Progress(quiet=args.quiet))
    if not args.quiet:
        print(f"variants: {len(result.files)} in {result.files[0].parent} ({result.written} written); "
              f"values in {result.summary_path}")
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from worldgen_sim.batch.batch import format_plan, run_batch
    from worldgen_sim.progress import Progress

    # SIGTERM stops a batch like Ctrl-C (main's handlers): finished items stay on record.
    report = run_batch(args.manifest, args.out, engine=args.engine, workers=args.workers, address=args.address,
                       dry_run=args.dry_run, progress=Progress(quiet=args.quiet))
    if not args.quiet or args.dry_run:
        print(format_plan(report))
    return EXIT_FAILED if report.counts().get("failed") else 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from worldgen_sim.io.gaussian_ply import write_gaussian_ply
    from worldgen_sim.samples import make_sample_room

    if args.out.suffix.lower() != ".ply":
        raise WorldgenError(f"sample output '{args.out}' must end in .ply")
    if (args.spacing is not None and args.spacing <= 0) or (args.scale is not None and args.scale <= 0):
        raise WorldgenError("--spacing and --scale must be positive")
    if args.scene != "room":
        return _write_scene(args)
    room = make_sample_room(
        seed=args.seed, spacing=args.spacing or 0.04, num_floaters=args.floaters, num_sky=args.sky
    )
    cloud, _ = room.to_input_frame(scale=args.scale or 1.0, frame="opencv")
    write_gaussian_ply(args.out, cloud, layout=args.layout or "lyra2")
    print(f"wrote {args.out}: {len(cloud)} Gaussians, OpenCV camera frame, camera height {room.camera_height} m")
    return 0


def _write_scene(args: argparse.Namespace) -> int:
    from worldgen_sim.scenes import make_scene

    options = {"spacing": args.spacing} if args.spacing is not None else {}
    scene = make_scene(args.scene, seed=args.seed, **options)
    scene.write(args.out, layout=args.layout, scale=args.scale)
    scale = args.scale or scene.input_scale
    print(
        f"wrote {args.out}: {len(scene.gaussians)} Gaussians, scene '{scene.name}', {args.layout or scene.layout} "
        f"layout, '{scene.frame}' frame, {scale} units per metre, camera height {scene.camera_height:.3f} m"
    )
    return 0


def _print_summary(summary: dict, *, quiet: bool) -> None:
    if quiet:
        return
    counts = summary["counts"]
    removed = ", ".join(f"{k} {v}" for k, v in counts.get("removed", {}).items()) or "none"
    if summary["input"]["frames"]:
        print(f"RGB-D frames: {summary['input']['frames']}")
    if counts["gaussians_in"]:
        print(f"gaussians: {counts['gaussians_in']} in, {counts['gaussians_kept']} kept (removed: {removed})")
    align = summary.get("stages", {}).get("align", {})
    if "up_used" in align:
        print(f"up: {align['up_used']} ({align['up_source']})")
    if align.get("add_ground"):
        print(f"added ground: {align['add_ground']['gaussians']} synthetic Gaussians under the object")
    print(f"scale: {summary['scale']:.4f} m per input unit; layers: {', '.join(summary['layers'])}")
    for stage, reason in summary["skipped"].items():
        print(f"skipped {stage}: {reason}")
    print(f"total {summary['timings_s']['total']:.1f} s")


if __name__ == "__main__":
    sys.exit(main())


"""Monocular depth inference time per image: the Depth Anything V2 Small architecture, random weights.

Builds the model from its published configuration (DINOv2-S backbone, 24.8 M
parameters; random weights time the same as trained ones), saves it with its
image processor, and times, in the same run, per 640 x 480 image:

- the image processor (resize to 518 px, normalise) -- the reference;
- the forward pass (``--device cpu`` or ``cuda``; CUDA is synchronised);
- ``worldgen_sim.generate``'s whole depth step (load excluded: processor,
  forward, post-processing to the picture's size) and the lifting of its output
  to Gaussians plus completion, for scale.

Usage::

    python bench/bench_depth.py [--device cuda] [--runs 5] [--width 640 --height 480]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def small_config():
    from transformers import DepthAnythingConfig

    return DepthAnythingConfig(
        backbone_config={
            "model_type": "dinov2", "image_size": 518, "patch_size": 14, "hidden_size": 384,
            "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536,
            "out_indices": [3, 6, 9, 12], "reshape_hidden_states": False,
        },
        reassemble_hidden_size=384, reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=[48, 96, 192, 384],
        fusion_hidden_size=64, head_hidden_size=32, depth_estimation_type="metric", max_depth=20,
    )  # fmt: skip


def timed(function, runs: int, *, sync=None) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()

    import torch
    from transformers import DepthAnythingForDepthEstimation, DPTImageProcessor

    from worldgen_sim.generate.completion import complete_view
    from worldgen_sim.generate.depth_models import load_depth_model
    from worldgen_sim.generate.intrinsics import focal_from_fov, intrinsic_matrix
    from worldgen_sim.generate.lifting import lift_gaussians

    torch.manual_seed(0)
    rgb = (np.random.default_rng(0).random((args.height, args.width, 3)) * 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        model = DepthAnythingForDepthEstimation(small_config())
        params = sum(p.numel() for p in model.parameters())
        model.save_pretrained(folder)
        DPTImageProcessor(size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14,
                          do_pad=False).save_pretrained(folder)  # fmt: skip
        depth_model = load_depth_model(folder, device=args.device)
    sync = torch.cuda.synchronize if args.device == "cuda" else None
    pixel_values = depth_model._preprocess(rgb).to(args.device)

    def forward():
        with torch.no_grad():
            depth_model.model(pixel_values=pixel_values)

    forward()  # warm-up (CUDA context, kernels, allocator)
    rows = [("image processor (reference)", timed(lambda: depth_model._preprocess(rgb), args.runs))]
    rows.append(("forward pass", timed(forward, args.runs, sync=sync)))
    rows.append(("depth step (processor+forward+post)", timed(lambda: depth_model.predict(rgb), args.runs, sync=sync)))
    raw, _ = depth_model.predict(rgb)
    # Random weights predict a near-constant depth; lift a plausible one instead so the downstream time is real.
    depth = np.linspace(1.0, 5.0, args.height, dtype=np.float32)[:, None].repeat(args.width, 1)
    k = intrinsic_matrix(focal_from_fov(60, args.width), args.width, args.height)
    rows.append(("lift to Gaussians", timed(lambda: lift_gaussians(rgb, depth, k, stride=2, edge_threshold=0.04,
                                                                     max_depth=20), args.runs)))  # fmt: skip
    rows.append(("completion", timed(lambda: complete_view(rgb, depth, k, cell=0.05, outdoor_radius=10,
                                                            object_depth=0.4, max_object_height=2.2, max_depth=20),
                                     args.runs)))  # fmt: skip

    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"\nDepth Anything V2 Small architecture ({params / 1e6:.1f} M parameters, random weights), "
        f"{args.width}x{args.height} image -> {tuple(pixel_values.shape[-2:])} input, {device}, {args.runs} runs"
    )
    reference = statistics.median(rows[0][1])
    print(f"{'step':<38} {'median s':>9} {'min s':>8} {'x reference':>12}")
    for name, times in rows:
        median = statistics.median(times)
        print(f"{name:<38} {median:9.4f} {min(times):8.4f} {median / reference:12.1f}")


if __name__ == "__main__":
    main()

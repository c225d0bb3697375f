"""Running the user's own NVIDIA Lyra checkout on a picture (``--backend lyra2|lyra1``).

Lyra 2.0 (``<checkout>/Lyra-2``, its README's commands, run with ``PYTHONPATH=.``)::

    python -m lyra_2._src.inference.lyra2_custom_traj_inference --input_image_path IMG
        --trajectory_path traj.npz --experiment lyra2 --checkpoint_dir WEIGHTS/checkpoints/model
        --captions_path captions.json --num_frames N --output_path WORK/video
    python -m lyra_2._src.inference.vipe_da3_gs_recon --input_video_path WORK/video/<stem>.mp4
        --output_dir WORK/gs

``traj.npz`` holds ``w2c`` (N, 4, 4) OpenCV world-to-camera matrices (a slow
look-around: yaw sweep and a step back, so the generator outpaints the room),
``intrinsics`` (N, 3, 3) and the image size. The reconstruction's
``reconstructed_scene.ply`` + ``cameras.npz`` are then loaded as any Lyra 2.0
output. Its depth is scaled to MoGe, which is not metric: ``--camera-height`` is required.

Lyra 1.0 (``<checkout>/Lyra-1``): ``torchrun ... gen3c_single_image_sdg.py`` into
the checkout's ``assets/demo/static/diffusion_output_generated`` (where its
``lyra_static_demo_generated`` dataset reads), then ``accelerate launch sample.py``
with a copy of ``configs/demo/lyra_static.yaml`` pointing at that dataset and
our output folder; the newest ``gaussians_orig/gaussians_*.ply`` is loaded.

Weights: ``generate.lyra_weights`` (a local folder) or ``huggingface_hub``
(``nvidia/Lyra-2.0``, ``nvidia/Lyra``; the cache first, ``HF_HUB_OFFLINE=1``
uses only the cache). The licences are printed and the GPU checked before anything starts.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError
from worldgen_sim.generate.generate_cfg import GenerateCfg
from worldgen_sim.reports import GenerateReport

__all__ = ["LYRA_BACKENDS", "lyra2_trajectory", "run_lyra"]

log = logging.getLogger(__name__)

LYRA_BACKENDS = {
    "lyra2": {
        "repo": "nvidia/Lyra-2.0",
        "code": "Lyra-2",
        "package": "lyra_2",
        "licence": "weights: NVIDIA internal scientific research licence (non-commercial); code: Apache-2.0; "
        "base model Wan 2.1 (Apache-2.0)",
    },
    "lyra1": {
        "repo": "nvidia/Lyra",
        "code": "Lyra-1",
        "package": "cosmos_predict1",
        "licence": "weights: NVIDIA Open Model License; code: Apache-2.0; "
        "Cosmos base models: NVIDIA Open Model License",
    },
}
LYRA2_RESOLUTION = (720, 1280)
"""Image size (H, W) [px] of Lyra 2.0's trajectory intrinsics."""


def run_lyra(
    input_path, *, cfg: GenerateCfg, camera_height: float | None, progress=None
) -> tuple[Path, GenerateReport]:
    """Generate a Gaussian scene from a picture with the user's Lyra checkout.

    Returns:
        The PLY to load (its sibling ``cameras.npz`` is read when present) and a report.

    Raises:
        WorldgenError: not a picture, a missing checkout or weights, no camera
            height for Lyra 2.0, too small a GPU, or a failed Lyra command.
    """
    spec = LYRA_BACKENDS[cfg.backend]
    picture = Path(input_path)
    if picture.suffix.lower() not in (".jpg", ".jpeg", ".png") or not picture.is_file():
        raise WorldgenError(f"--backend {cfg.backend}: input '{picture}' must be a .jpg/.png picture")
    code = _code_folder(cfg, spec)
    if cfg.backend == "lyra2" and camera_height is None:
        raise WorldgenError(
            "--backend lyra2: Lyra 2.0's depth is scaled to MoGe, which is not metric; give --camera-height H "
            "(the picture's camera height above the floor in metres)"
        )
    notice = log.warning  # licences are stated whatever the progress settings
    _check_gpu(cfg)
    weights = _weights(cfg, spec, notice)
    notice(f"[worldgen] running {spec['repo']} from {code}; licences: {spec['licence']}")
    work = Path(tempfile.mkdtemp(prefix=f"worldgen-{cfg.backend}-"))
    if cfg.backend == "lyra2":
        ply = _run_lyra2(picture, code=code, weights=weights, work=work, cfg=cfg)
    else:
        ply = _run_lyra1(picture, code=code, weights=weights, work=work, cfg=cfg)
    report: GenerateReport = {"backend": cfg.backend, "checkout": str(code), "weights": str(weights),
                              "work_dir": str(work), "ply": str(ply), "licence": spec["licence"],
                              "camera_height": camera_height}  # fmt: skip
    return ply, report


def lyra2_trajectory(num_frames: int, *, width: int, height: int, fov_deg: float = 60.0) -> dict:
    """A look-around camera path: yaw sweeps +-35 deg and the camera steps back 0.5 units (OpenCV w2c)."""
    t = np.linspace(0.0, 1.0, num_frames)
    yaw = np.radians(35.0) * np.sin(2 * np.pi * t)
    back = 0.5 * np.sin(np.pi * t) ** 2
    c2w = np.tile(np.eye(4), (num_frames, 1, 1))
    c2w[:, 0, 0], c2w[:, 0, 2], c2w[:, 2, 0], c2w[:, 2, 2] = np.cos(yaw), np.sin(yaw), -np.sin(yaw), np.cos(yaw)
    c2w[:, 2, 3] = -back
    focal = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
    k = np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]])
    return {"w2c": np.linalg.inv(c2w), "intrinsics": np.tile(k, (num_frames, 1, 1)),
            "image_height": np.int64(height), "image_width": np.int64(width)}  # fmt: skip


def _code_folder(cfg: GenerateCfg, spec: dict) -> Path:
    if not cfg.lyra_checkout:
        raise WorldgenError(f"--backend {cfg.backend} needs --lyra-checkout DIR (a clone of github.com/nv-tlabs/lyra)")
    root = Path(cfg.lyra_checkout).expanduser()
    for folder in (root / spec["code"], root):
        if (folder / spec["package"]).is_dir():
            return folder.resolve()
    raise WorldgenError(
        f"--lyra-checkout {root}: not a Lyra checkout (no {spec['code']}/{spec['package']}/ or {spec['package']}/ "
        "inside); clone github.com/nv-tlabs/lyra and follow its INSTALL.md"
    )


def _check_gpu(cfg: GenerateCfg) -> None:
    """Refuse to start without an NVIDIA GPU of ``generate.lyra_min_gpu_gb`` (0 skips the check)."""
    if cfg.lyra_min_gpu_gb <= 0:
        return
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise WorldgenError(f"--backend {cfg.backend} needs an NVIDIA GPU (nvidia-smi not found)")
    try:
        out = subprocess.run([smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits"], check=True,
                             capture_output=True, text=True, timeout=30).stdout  # fmt: skip
        largest = max(float(v) for v in out.split()) / 1024.0
    except (subprocess.SubprocessError, ValueError, OSError) as exc:
        raise WorldgenError(f"--backend {cfg.backend}: cannot query the GPU with nvidia-smi ({exc})") from None
    if largest < cfg.lyra_min_gpu_gb:
        raise WorldgenError(
            f"--backend {cfg.backend}: the largest GPU has {largest:.0f} GiB; Lyra needs about "
            f"{cfg.lyra_min_gpu_gb:g} GiB (generate.lyra_min_gpu_gb)"
        )


def _weights(cfg: GenerateCfg, spec: dict, notice) -> Path:
    if cfg.lyra_weights:
        folder = Path(cfg.lyra_weights).expanduser()
        if not folder.is_dir():
            raise WorldgenError(f"--lyra-weights {folder}: not a folder")
        return folder.resolve()
    from worldgen_sim.generate.depth_models import hub_snapshot

    return hub_snapshot(
        spec["repo"], what=f"Lyra weights {spec['repo']}",
        offline_fix="download them once or give --lyra-weights DIR",
        announce=lambda: notice(f"[worldgen] downloading {spec['repo']} (tens of GB); licences: {spec['licence']}"),
    )  # fmt: skip


def _run(command: list[str], *, cwd: Path, what: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(cwd), PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True")
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    except OSError as exc:
        raise WorldgenError(f"{what}: cannot start '{command[0]}' ({exc}); set --lyra-python") from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise WorldgenError(f"{what} failed with exit status {done.returncode}: {tail}")


def _run_lyra2(picture: Path, *, code: Path, weights: Path, work: Path, cfg: GenerateCfg) -> Path:
    height, width = LYRA2_RESOLUTION
    np.savez(work / "trajectory.npz", **lyra2_trajectory(cfg.lyra_num_frames, width=width, height=height))
    (work / "captions.json").write_text(json.dumps({"0": "A photorealistic continuation of the scene in the image."}))
    python = cfg.lyra_python
    _run([python, "-m", "lyra_2._src.inference.lyra2_custom_traj_inference",
          "--input_image_path", str(picture.resolve()), "--trajectory_path", str(work / "trajectory.npz"),
          "--experiment", "lyra2", "--checkpoint_dir", str(weights / "checkpoints" / "model"),
          "--captions_path", str(work / "captions.json"), "--num_frames", str(cfg.lyra_num_frames),
          "--output_path", str(work / "video")], cwd=code, what="Lyra 2.0 video generation")  # fmt: skip
    video = work / "video" / f"{picture.stem}.mp4"
    if not video.is_file():
        found = sorted((work / "video").rglob("*.mp4"))
        if not found:
            raise WorldgenError(f"Lyra 2.0 video generation wrote no .mp4 under {work / 'video'}")
        video = found[0]
    _run([python, "-m", "lyra_2._src.inference.vipe_da3_gs_recon", "--input_video_path", str(video),
          "--output_dir", str(work / "gs")], cwd=code, what="Lyra 2.0 Gaussian reconstruction")  # fmt: skip
    ply = work / "gs" / "reconstructed_scene.ply"
    if not ply.is_file():
        raise WorldgenError(f"Lyra 2.0 reconstruction wrote no {ply}")
    return ply


def _run_lyra1(picture: Path, *, code: Path, weights: Path, work: Path, cfg: GenerateCfg) -> Path:
    latents = code / "assets" / "demo" / "static" / "diffusion_output_generated"
    _run([cfg.lyra_python, "-m", "torch.distributed.run", "--nproc_per_node=1",
          "cosmos_predict1/diffusion/inference/gen3c_single_image_sdg.py", "--checkpoint_dir", str(weights),
          "--num_gpus", "1", "--input_image_path", str(picture.resolve()), "--video_save_folder", str(latents),
          "--foreground_masking", "--multi_trajectory", "--total_movement_distance_factor", "1.0"],
         cwd=code, what="Lyra 1.0 multi-view latent generation")  # fmt: skip
    import yaml

    config = yaml.safe_load((code / "configs" / "demo" / "lyra_static.yaml").read_text())
    config.update(dataset_name="lyra_static_demo_generated", out_dir_inference=str(work / "recon"),
                  ckpt_path=str(weights / "lyra_static.pt"))  # fmt: skip
    (work / "lyra_static.yaml").write_text(yaml.safe_dump(config))
    _run([cfg.lyra_python, "-m", "accelerate.commands.launch", "sample.py", "--config", str(work / "lyra_static.yaml")],
         cwd=code, what="Lyra 1.0 3DGS decoding")  # fmt: skip
    plys = sorted((work / "recon").rglob("gaussians_orig/gaussians_*.ply"), key=lambda p: p.stat().st_mtime)
    if not plys:
        raise WorldgenError(f"Lyra 1.0 wrote no gaussians_orig/gaussians_*.ply under {work / 'recon'}")
    return plys[-1]

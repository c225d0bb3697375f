"""Monocular depth from Hugging Face ``transformers`` models (``generate.depth`` = a model id or folder).

A model is loaded with ``AutoModelForDepthEstimation`` and its image processor;
hub ids resolve through ``huggingface_hub`` (its cache first; with
``HF_HUB_OFFLINE=1`` only the cache). Before a known model's first download its
licence and size are printed. Metric models (Depth Anything V2 Metric
Indoor/Outdoor, Depth Pro, ZoeDepth, GLPN) give metres; relative ones (Depth
Anything V2, DPT) give affine-invariant inverse depth, turned into depth up to
an unknown scale (``--camera-height`` or ``--scale`` fixes it; the unknown
shift is ignored, which bends far surfaces slightly).

Depth Pro predicts a canonical inverse depth and its field of view; metric
depth is ``f_px / (W * inverse)`` with the focal length the intrinsics
resolution settles on (the model's own field of view when nothing better is
known). Its transformers image processor needs torchvision; without it the
preprocessing recorded in ``preprocessor_config.json`` (resize, rescale,
normalise) runs in torch here.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from worldgen_sim.errors import WorldgenError

__all__ = ["KNOWN_MODELS", "DepthModel", "hub_snapshot", "load_depth_model", "resolve_model_folder"]

log = logging.getLogger(__name__)

KNOWN_MODELS: dict[str, tuple[str, str]] = {
    "depth-anything/Depth-Anything-V2-Small-hf": ("Apache-2.0", "99 MB, 24.8 M parameters, relative"),
    "depth-anything/Depth-Anything-V2-Base-hf": ("CC-BY-NC-4.0 (non-commercial)", "390 MB, 97.5 M params, relative"),
    "depth-anything/Depth-Anything-V2-Large-hf": ("CC-BY-NC-4.0 (non-commercial)", "1.3 GB, 335 M params, relative"),
    "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf": ("Apache-2.0", "99 MB, 24.8 M parameters, metric"),
    "depth-anything/Depth-Anything-V2-Metric-Indoor-Base-hf": ("CC-BY-NC-4.0 (non-commercial)", "390 MB, metric"),
    "depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf": ("CC-BY-NC-4.0 (non-commercial)", "1.3 GB, metric"),
    "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf": ("Apache-2.0", "99 MB, 24.8 M parameters, metric"),
    "depth-anything/Depth-Anything-V2-Metric-Outdoor-Base-hf": ("CC-BY-NC-4.0 (non-commercial)", "390 MB, metric"),
    "depth-anything/Depth-Anything-V2-Metric-Outdoor-Large-hf": ("CC-BY-NC-4.0 (non-commercial)", "1.3 GB, metric"),
    "apple/DepthPro-hf": ("Apple research-only licence (no commercial use)", "1.9 GB, 952 M parameters, metric + FOV"),
}
"""Licence and size of the depth models the documentation names, printed before a first download."""

_METRIC_TYPES = {"zoedepth", "glpn", "depth_pro"}
_DISPARITY_TYPES = {"dpt"}


@dataclass(eq=False)
class DepthModel:
    """A loaded depth model.

    Attributes:
        name: the id or folder it was loaded from.
        folder: its local folder.
        model_type: the transformers ``model_type`` (``depth_anything``, ``depth_pro``, ...).
        metric: whether it predicts metres (else depth up to scale).
        device: the torch device it runs on.
    """

    name: str
    folder: Path
    model_type: str
    metric: bool
    device: str
    model: Any = field(repr=False, default=None)
    processor: Any = field(repr=False, default=None)

    def predict(self, rgb: np.ndarray) -> tuple[np.ndarray, float | None]:
        """Run the model on (H, W, 3) uint8 RGB.

        Returns:
            ((H, W) float32 raw output at the picture's size, horizontal field of
            view [deg] when the model predicts one, else None). The raw output is
            metres for metric models, Depth Pro's canonical inverse depth, or a
            relative inverse depth; :meth:`to_depth` turns it into depth.
        """
        import torch

        height, width = rgb.shape[:2]
        pixel_values = self._preprocess(rgb).to(self.device)
        with torch.no_grad():
            outputs = self.model(pixel_values=pixel_values)
        fov = getattr(outputs, "field_of_view", None)
        fov_deg = float(fov.reshape(-1)[0]) if fov is not None else None
        if self.processor is not None and self.model_type != "depth_pro":
            # The model's own post-processing (resize to the picture); Depth Pro's is done in to_depth,
            # so that a focal length better than its own estimate can set the metric scale.
            result = self.processor.post_process_depth_estimation(outputs, target_sizes=[(height, width)])[0]
            return result["predicted_depth"].float().cpu().numpy().reshape(height, width), fov_deg
        raw = outputs.predicted_depth
        raw = raw if raw.ndim == 4 else raw[:, None]
        raw = torch.nn.functional.interpolate(raw.float(), size=(height, width), mode="bilinear", align_corners=False)
        return raw[0, 0].cpu().numpy().astype(np.float32), fov_deg

    def to_depth(self, raw: np.ndarray, *, focal_px: float, width: int) -> np.ndarray:
        """(H, W) float32 depth from :meth:`predict`'s raw output: metres, or relative units (median 1)."""
        if self.model_type == "depth_pro":
            return (focal_px / (width * np.clip(raw, 1e-4, 1e4))).astype(np.float32)
        if self.metric:
            return np.maximum(raw, 0.0).astype(np.float32)
        disparity = np.where(np.isfinite(raw), raw, 0.0)
        positive = disparity > max(1e-6, 1e-3 * float(np.max(disparity, initial=0.0)))
        if not np.any(positive):
            return np.zeros_like(raw, dtype=np.float32)
        depth = np.where(positive, 1.0 / np.where(positive, disparity, 1.0), 0.0)
        return (depth / np.median(depth[positive])).astype(np.float32)

    def _preprocess(self, rgb: np.ndarray):
        import torch

        if self.processor is not None:
            from PIL import Image

            return self.processor(images=Image.fromarray(rgb), return_tensors="pt")["pixel_values"]
        # The processor recorded in preprocessor_config.json, in torch (Depth Pro's needs torchvision).
        config = json.loads((self.folder / "preprocessor_config.json").read_text())
        size = config.get("size") or {}
        height, width = int(size.get("height", 384)), int(size.get("width", 384))
        image = torch.from_numpy(np.array(rgb, copy=True)).permute(2, 0, 1)[None].float()
        image = image * float(config.get("rescale_factor", 1 / 255))
        if config.get("do_normalize", True):
            mean = torch.tensor(config.get("image_mean", [0.5, 0.5, 0.5])).view(1, 3, 1, 1)
            std = torch.tensor(config.get("image_std", [0.5, 0.5, 0.5])).view(1, 3, 1, 1)
            image = (image - mean) / std
        return torch.nn.functional.interpolate(image, size=(height, width), mode="bilinear", align_corners=False)


def resolve_model_folder(name: str, *, notice=None) -> Path:
    """A local folder holding the model ``name`` (a folder, or a hub id resolved with huggingface_hub).

    The hub cache is tried first; a download happens only when the model is not
    cached and ``HF_HUB_OFFLINE`` is not set, after the model's licence and size
    are stated (``notice``; default: a warning on this module's logger, which the CLI prints).

    Raises:
        WorldgenError: a missing folder, or a hub id that is not cached when offline
            or cannot be downloaded.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.is_absolute() or name.startswith(".") or name.count("/") != 1:
        raise WorldgenError(
            f"generate.depth: '{name}' is neither a local model folder nor a Hugging Face model id (owner/name)"
        )
    licence, size = KNOWN_MODELS.get(name, ("see the model card", "size unknown"))
    message = f"[worldgen] downloading depth model {name}: licence {licence}; {size}"
    return hub_snapshot(
        name, what=f"generate.depth: model '{name}'",
        offline_fix="download it once online, give a local model folder, or pass --depth DEPTH.png",
        announce=lambda: (notice or log.warning)(message),
    )  # fmt: skip


def hub_snapshot(repo: str, *, what: str, offline_fix: str, announce: Callable[[], object]) -> Path:
    """The local folder of Hugging Face repo ``repo``: from the hub cache, else downloaded after ``announce()``.

    Args:
        repo: the hub id (owner/name).
        what: how messages name it (``"generate.depth: model 'x/y'"``).
        offline_fix: what to do instead when it is not cached and ``HF_HUB_OFFLINE`` is set.
        announce: called once before a download (licence and size, said before any byte is fetched).

    Raises:
        WorldgenError: not cached while offline, or a failed download.
    """
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:
        pass  # not cached (or a damaged cache entry): try the download below
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise WorldgenError(f"{what} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; {offline_fix}")
    announce()
    try:
        return Path(snapshot_download(repo))
    except Exception as exc:
        raise WorldgenError(f"{what}: cannot download ({type(exc).__name__}: {exc})") from None


def load_depth_model(name: str, *, device: str = "auto", notice=None) -> DepthModel:
    """Load a transformers depth-estimation model and its image processor.

    Raises:
        WorldgenError: not found, not a depth-estimation model, or unloadable.
    """
    folder = resolve_model_folder(name, notice=notice)
    try:
        import transformers
        from transformers import AutoConfig, AutoModelForDepthEstimation
        from transformers.models.auto.modeling_auto import MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES
    except ImportError as exc:
        raise WorldgenError(
            f"generate.depth = '{name}' needs transformers ({exc}); pip install 'worldgen-sim[depth]'"
        ) from None
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError, KeyError) as exc:
        raise WorldgenError(f"generate.depth: '{name}' has no readable transformers config ({exc})") from None
    model_type = getattr(config, "model_type", "")
    if model_type not in MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES:
        raise WorldgenError(
            f"generate.depth: '{name}' is a '{model_type}' model, not a depth-estimation model; expected e.g. "
            "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf or apple/DepthPro-hf"
        )
    torch_device = _device(device)
    try:
        model = AutoModelForDepthEstimation.from_pretrained(folder).to(torch_device).eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise WorldgenError(f"generate.depth: cannot load '{name}' ({exc})") from None
    return DepthModel(
        name=name, folder=folder, model_type=model_type, metric=_is_metric(config), device=torch_device,
        model=model, processor=_processor(folder, name),
    )  # fmt: skip


def _processor(folder: Path, name: str):
    if not (folder / "preprocessor_config.json").is_file():
        raise WorldgenError(f"generate.depth: '{name}' has no preprocessor_config.json (its image processor)")
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(folder)
    except (ImportError, ValueError) as exc:  # Depth Pro's needs torchvision: preprocess in torch instead
        log.info("image processor of %s unavailable (%s); preprocessing in torch", name, exc)
        return None


def _is_metric(config) -> bool:
    if config.model_type in _METRIC_TYPES:
        return True
    if config.model_type in _DISPARITY_TYPES:
        return False
    return getattr(config, "depth_estimation_type", "relative") == "metric"


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise WorldgenError("generate.device = 'cuda' but torch sees no CUDA GPU")
    return device

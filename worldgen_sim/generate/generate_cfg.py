"""Configuration of the generate step: one photo or one RGB-D frame -> a scene the pipeline can align."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worldgen_sim.validation import Checker

__all__ = ["GenerateCfg"]


@dataclass
class GenerateCfg:
    """How a single picture becomes a scene.

    Attributes:
        backend: ``"depth"`` (lift a depth map of the picture into pixel-aligned
            Gaussians, complete what the view cannot see), ``"lyra2"`` or
            ``"lyra1"`` (run the user's own NVIDIA Lyra checkout on a GPU).
        depth: where the picture's depth comes from: ``"auto"`` (``"given"`` when
            ``depth_path`` is set or the input is an RGB-D frame, else an error
            that says how to get depth), ``"given"``, or a Hugging Face
            ``transformers`` depth model id or local folder (e.g.
            ``depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf``).
        depth_path: a depth image for the picture (``--depth``): a 16-bit PNG in
            ``input.depth_scale`` units per metre, or a ``.npy`` of float metres;
            empty for none.
        fov_deg: horizontal field of view of the picture [deg] (``--fov``); 0 = not given.
        focal_px: focal length of the picture [px] (``--focal``); 0 = not given;
            wins over ``fov_deg``.
        default_fov_deg: horizontal field of view used when neither the options,
            the file's EXIF 35 mm focal length nor the depth model give one [deg]
            (60 deg: between a phone's main camera, ~69 deg, and a webcam's, ~55 deg).
        device: where a depth model runs: ``"auto"`` (CUDA when torch sees it), ``"cpu"``, ``"cuda"``.
        max_depth: depth beyond this is sky or background and is not lifted [m].
        stride: one Gaussian per ``stride`` x ``stride`` pixels.
        edge_threshold: a pixel lies on a depth edge where the second difference of
            inverse depth over ``stride`` px (zero on any plane) exceeds this
            fraction of its own inverse depth: no Gaussian is shaped across it.
        complete: add what one view cannot see (floor under and behind objects,
            walls down to the floor, objects closed to the floor behind).
        completion_cell: grid cell of completed geometry [m].
        outdoor_radius: without walls, the floor continues to this distance from the camera [m].
        object_depth: objects seen from the front are closed this far behind their visible surface [m].
        max_object_height: points higher than this above the floor are not closed as objects [m].
        spawn_on_completed: allow spawn points on completed geometry (off: spawn
            points stay on surfaces the picture saw).
        lyra_checkout: folder of the user's nv-tlabs/lyra checkout (``--lyra-checkout``).
        lyra_weights: a local folder of Lyra weights, or empty to resolve the hub
            repository (``nvidia/Lyra-2.0`` or ``nvidia/Lyra``) with huggingface_hub.
        lyra_python: the Python interpreter of the Lyra checkout's environment.
        lyra_num_frames: frames Lyra 2.0 generates (1 + 80 k).
        lyra_min_gpu_gb: refuse to start Lyra 2.0 on a GPU with less memory than this [GiB].
    """

    backend: Literal["depth", "lyra2", "lyra1"] = "depth"
    depth: str = "auto"
    depth_path: str = ""
    fov_deg: float = 0.0
    focal_px: float = 0.0
    default_fov_deg: float = 60.0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_depth: float = 20.0
    stride: int = 2
    edge_threshold: float = 0.04
    complete: bool = True
    completion_cell: float = 0.05
    outdoor_radius: float = 10.0
    object_depth: float = 0.4
    max_object_height: float = 2.2
    spawn_on_completed: bool = False
    lyra_checkout: str = ""
    lyra_weights: str = ""
    lyra_python: str = "python"
    lyra_num_frames: int = 241
    lyra_min_gpu_gb: float = 75.0

    def validate(self) -> None:
        """Check every field (types, choices, ranges); raises WorldgenError naming ``generate.<field>``."""
        check = Checker(self, "generate")
        check.require(bool(self.depth.strip()), "depth", "'auto', 'given', or a transformers depth model id or folder")
        check.range("fov_deg", ge=0, lt=180, unit="deg (0 = not given)")
        check.range("focal_px", ge=0, unit="px (0 = not given)")
        check.range("default_fov_deg", gt=0, lt=180, unit="deg")
        check.range("max_depth", gt=0, unit="m")
        check.range("stride", ge=1, le=16, unit="px")
        check.range("edge_threshold", gt=0, lt=1)
        check.range("completion_cell", ge=0.005, le=1, unit="m")
        check.range("outdoor_radius", gt=0, unit="m")
        check.range("object_depth", ge=0, unit="m")
        check.range("max_object_height", gt=0, unit="m")
        check.require(self.lyra_num_frames > 1 and (self.lyra_num_frames - 1) % 80 == 0, "lyra_num_frames",
                      "1 + 80 k frames (81, 161, 241, ...)")  # fmt: skip
        check.range("lyra_min_gpu_gb", ge=0, unit="GiB (0 = no check)")

"""One picture or one RGB-D frame -> a scene: depth, intrinsics, lifting, completion, Lyra backends."""

__all__ = [
    "completion", "depth_models", "generate", "generate_cfg", "image", "intrinsics", "labels", "lifting", "lyra",
    "planes",
]  # fmt: skip

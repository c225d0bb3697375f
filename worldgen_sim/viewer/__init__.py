"""The world viewer: a local web page (viser) and headless pictures of a world package."""

__all__ = ["command", "glb", "raster", "sent_layers", "server", "viewer_cfg", "views", "world_layers"]

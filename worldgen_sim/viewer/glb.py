"""A triangle mesh with vertex colours as a binary glTF (GLB) for the page, in numpy alone.

viser draws vertex-coloured meshes from GLB bytes (``add_glb``). trimesh's exporter needs
``import trimesh``, which took 1.7 s of the 2.3 s a warm ``worldgen view`` spent before serving
(bench_viewer); this writes the few chunks the page needs directly: positions (float32), colours
(normalised uint8, a quarter of float32's bytes) and 32-bit indices, one unlit-free PBR material
(rough, not metallic), no normals (three.js then shades each face flat, which shows the mesh's
facets honestly). Coordinates are written as given (the page turns +Z up itself).
"""

from __future__ import annotations

import json
import struct

import numpy as np

__all__ = ["mesh_glb"]

_FLOAT, _UNSIGNED_BYTE, _UNSIGNED_INT = 5126, 5121, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


def mesh_glb(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray, *, double_sided: bool = False) -> bytes:
    """GLB bytes of one mesh.

    Args:
        vertices: (V, 3) positions [m].
        faces: (F, 3) vertex indices (counter-clockwise seen from the front).
        colours: (V, 3) RGB, float in [0, 1] or uint8.
        double_sided: draw back faces too (otherwise they are culled, as in the pictures).

    Raises:
        ValueError: shapes that do not match or an index out of range.
    """
    vertices = np.ascontiguousarray(vertices, np.float32).reshape(-1, 3)
    faces = np.ascontiguousarray(faces, np.uint32).reshape(-1, 3)
    colours = np.asarray(colours)
    if colours.dtype != np.uint8:
        colours = np.clip(np.rint(colours.astype(np.float32) * 255), 0, 255).astype(np.uint8)
    colours = np.ascontiguousarray(colours).reshape(-1, 3)
    if colours.shape[0] != vertices.shape[0]:
        raise ValueError(f"{colours.shape[0]} colours for {vertices.shape[0]} vertices")
    if faces.size and int(faces.max()) >= vertices.shape[0]:
        raise ValueError(f"face index {int(faces.max())} beyond {vertices.shape[0]} vertices")
    # Each view 4-byte aligned (glTF requires it for float and uint32 accessors).
    blobs = [vertices.tobytes(), _pad(np.pad(colours, ((0, 0), (0, 1))).tobytes()), faces.tobytes()]
    offsets = np.cumsum([0] + [len(b) for b in blobs[:-1]]).tolist()
    lo = vertices.min(axis=0).tolist() if len(vertices) else [0.0, 0.0, 0.0]
    hi = vertices.max(axis=0).tolist() if len(vertices) else [0.0, 0.0, 0.0]
    document = {
        "asset": {"version": "2.0", "generator": "worldgen_sim.viewer.glb"},
        "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "COLOR_0": 1}, "indices": 2, "material": 0}]}],
        "materials": [{"pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0.0,
                                                "roughnessFactor": 1.0}, "doubleSided": double_sided}],
        "buffers": [{"byteLength": sum(len(b) for b in blobs)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": offsets[0], "byteLength": len(blobs[0]), "target": _ARRAY_BUFFER},
            {"buffer": 0, "byteOffset": offsets[1], "byteLength": len(blobs[1]), "byteStride": 4,
             "target": _ARRAY_BUFFER},
            {"buffer": 0, "byteOffset": offsets[2], "byteLength": len(blobs[2]), "target": _ELEMENT_ARRAY_BUFFER},
        ],
        "accessors": [
            {"bufferView": 0, "componentType": _FLOAT, "count": len(vertices), "type": "VEC3", "min": lo, "max": hi},
            {"bufferView": 1, "componentType": _UNSIGNED_BYTE, "normalized": True, "count": len(vertices),
             "type": "VEC3"},
            {"bufferView": 2, "componentType": _UNSIGNED_INT, "count": faces.size, "type": "SCALAR"},
        ],
    }  # fmt: skip
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)  # the JSON chunk is padded with spaces, the binary one with zeros
    binary = _pad(b"".join(blobs))
    total = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join([struct.pack("<4sII", b"glTF", 2, total), struct.pack("<I4s", len(text), b"JSON"), text,
                     struct.pack("<I4s", len(binary), b"BIN\x00"), binary])


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)

"""Gaussian-splat PLY headers: layout detection, :class:`PlyInfo` and the memory a read needs.

:func:`inspect_gaussian_ply` parses a header without reading vertex data, so a build
can refuse a file (unknown layout, truncated, too large for the memory available)
before any data is read; :mod:`worldgen_sim.io.gaussian_ply` reads and writes the
data and describes the layouts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worldgen_sim.errors import WorldgenError

__all__ = [
    "LAYOUTS",
    "PLY_FORMATS",
    "PLY_TYPES",
    "RELATIVE_DEPTH_LAYOUTS",
    "SH_REST_COUNTS",
    "PlyInfo",
    "available_memory_bytes",
    "check_read_memory",
    "inspect_gaussian_ply",
    "read_memory_bytes",
]

LAYOUTS = ("inria", "lyra2", "lyra1")
RELATIVE_DEPTH_LAYOUTS = ("lyra1",)
"""Layouts whose positions have no metric scale: a build needs ``align.scale`` or ``align.camera_height``."""
SH_REST_COUNTS = {0: 0, 1: 9, 2: 24, 3: 45}
"""Number of ``f_rest_*`` properties per SH degree."""

PLY_TYPES = {
    # PLY scalar type names (both spellings) -> numpy type codes.
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip
PLY_FORMATS = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": "="}
"""PLY formats -> numpy byte-order character."""
_BASE_PROPS = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
               "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]  # fmt: skip
_NORMAL_PROPS = ["nx", "ny", "nz"]
_MAX_HEADER_BYTES = 1 << 20


@dataclass
class PlyInfo:
    """What a Gaussian PLY header says.

    Attributes:
        path: the file.
        format: ``"binary_little_endian"``, ``"binary_big_endian"`` or ``"ascii"``.
        count: number of vertex rows the header declares.
        layout: ``"inria"``, ``"lyra2"`` or ``"lyra1"`` (see :mod:`worldgen_sim.io.gaussian_ply`).
        sh_degree: spherical-harmonic degree, 0..3.
        properties: vertex property names in file order.
        property_types: their PLY scalar types (``"float"``, ``"double"``, ...).
        header_bytes: bytes up to and including the ``end_header`` line.
        data_offset: byte offset of the first vertex row (after any elements before it).
        row_bytes: bytes per binary vertex row (0 for ASCII).
        header_lines: lines in the header (for ASCII reading).
        lines_before_vertex: ASCII lines of elements preceding ``vertex``.
        dropped_invalid: rows dropped for NaN/Inf values or a zero quaternion
            (filled in by :func:`read_gaussian_ply`).
    """

    path: Path
    format: str
    count: int
    layout: str
    sh_degree: int
    properties: list[str] = field(default_factory=list)
    property_types: list[str] = field(default_factory=list)
    header_bytes: int = 0
    data_offset: int = 0
    row_bytes: int = 0
    header_lines: int = 0
    lines_before_vertex: int = 0
    dropped_invalid: int = 0


def inspect_gaussian_ply(path: str | Path, *, layout: str = "auto") -> PlyInfo:
    """Parse a Gaussian PLY header without reading the vertex data.

    Args:
        path: the PLY file.
        layout: ``"auto"`` to detect, or one of ``"inria"``, ``"lyra2"``, ``"lyra1"``
            to require that layout.

    Raises:
        WorldgenError: unreadable file, not a PLY, malformed header, no ``vertex``
            element, list properties, zero rows, missing properties, a file shorter
            than its header promises.
    """
    path = Path(path)
    if layout != "auto" and layout not in LAYOUTS:
        raise WorldgenError(f"input.layout: unknown PLY layout '{layout}'; expected auto, {', '.join(LAYOUTS)}")
    lines, header_bytes, file_size = _read_header(path)
    fmt, elements = _parse_header(path, lines)
    vertex_index = _vertex_element(path, fmt, elements)
    vertex = elements[vertex_index]
    detected, degree = _detect_layout(path, vertex["props"], layout)
    data_offset, row_bytes, lines_before = _vertex_data_location(path, fmt, elements, vertex_index,
                                                                 header_bytes=header_bytes, file_size=file_size)
    return PlyInfo(
        path=path,
        format=fmt,
        count=vertex["count"],
        layout=detected,
        sh_degree=degree,
        properties=list(vertex["props"]),
        property_types=list(vertex["types"]),
        header_bytes=header_bytes,
        data_offset=data_offset,
        row_bytes=row_bytes,
        header_lines=len(lines) + 2,
        lines_before_vertex=lines_before,
    )


def _read_header(path: Path) -> tuple[list[str], int, int]:
    """The header lines between the magic line and ``end_header``, the header's size and the file's [bytes]."""
    try:
        with open(path, "rb") as fh:
            magic = fh.readline(8)
            if magic.rstrip(b"\r\n") != b"ply":
                raise WorldgenError(f"{path}: not a PLY file (it does not start with the 'ply' magic line)")
            lines = []
            while True:
                raw = fh.readline(4096)
                if not raw:
                    raise WorldgenError(f"{path}: PLY header has no 'end_header' line (truncated or not a PLY)")
                if fh.tell() > _MAX_HEADER_BYTES:
                    raise WorldgenError(f"{path}: PLY header longer than {_MAX_HEADER_BYTES} bytes; not a Gaussian PLY")
                line = raw.decode("ascii", errors="replace").strip()
                if line == "end_header":
                    break
                lines.append(line)
            header_bytes = fh.tell()
        file_size = os.path.getsize(path)
    except OSError as exc:
        raise WorldgenError(f"{path}: cannot read file ({exc.strerror})") from None

    return lines, header_bytes, file_size


def _parse_header(path: Path, lines: list[str]) -> tuple[str, list[dict]]:
    """The format and the elements (name, count, scalar property names and types, list properties)."""
    fmt = None
    elements: list[dict] = []
    for line in lines:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            if len(words) < 2 or words[1] not in PLY_FORMATS:
                raise WorldgenError(
                    f"{path}: unsupported PLY format line '{line}'; expected one of {', '.join(PLY_FORMATS)}"
                )
            fmt = words[1]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise WorldgenError(f"{path}: malformed PLY line '{line}'; expected 'element NAME COUNT'")
            elements.append({"name": words[1], "count": int(words[2]), "props": [], "types": [], "lists": []})
        elif words[0] == "property":
            if not elements:
                raise WorldgenError(f"{path}: PLY property line '{line}' before any element line")
            if len(words) >= 2 and words[1] == "list":
                elements[-1]["lists"].append(words[-1])
                continue
            if len(words) != 3 or words[1] not in PLY_TYPES:
                raise WorldgenError(f"{path}: malformed PLY property line '{line}'; expected 'property TYPE NAME'")
            elements[-1]["props"].append(words[2])
            elements[-1]["types"].append(words[1])
    if fmt is None:
        raise WorldgenError(f"{path}: PLY header has no 'format' line")
    return fmt, elements


def _vertex_element(path: Path, fmt: str, elements: list[dict]) -> int:
    """Index of the ``vertex`` element, checked to be a usable table of Gaussians."""
    vertex_index = next((i for i, e in enumerate(elements) if e["name"] == "vertex"), None)
    if vertex_index is None:
        names = ", ".join(e["name"] for e in elements) or "none"
        raise WorldgenError(f"{path}: PLY header has no 'element vertex' (elements: {names}); not a Gaussian PLY")
    vertex = elements[vertex_index]
    if vertex["lists"]:
        raise WorldgenError(
            f"{path}: vertex element has list properties ({', '.join(vertex['lists'])}); "
            "a Gaussian PLY has scalar properties only"
        )
    for earlier in elements[:vertex_index]:
        if earlier["lists"] and fmt != "ascii":
            raise WorldgenError(
                f"{path}: element '{earlier['name']}' with list properties precedes 'vertex'; "
                "cannot locate the Gaussians"
            )
    if vertex["count"] == 0:
        raise WorldgenError(f"{path}: PLY declares zero Gaussians ('element vertex 0')")
    if len(set(vertex["props"])) != len(vertex["props"]):
        raise WorldgenError(f"{path}: vertex element has duplicate property names")
    return vertex_index


def _vertex_data_location(
    path: Path, fmt: str, elements: list[dict], vertex_index: int, *, header_bytes: int, file_size: int
) -> tuple[int, int, int]:
    """(byte offset of the vertex rows, bytes per row, ASCII lines before them); a file too short
    for what its header promises is an error."""
    vertex = elements[vertex_index]
    row_bytes = 0
    data_offset = header_bytes
    lines_before = 0
    if fmt != "ascii":
        row_bytes = int(sum(np.dtype(PLY_TYPES[t]).itemsize for t in vertex["types"]))
        for earlier in elements[:vertex_index]:
            data_offset += earlier["count"] * int(sum(np.dtype(PLY_TYPES[t]).itemsize for t in earlier["types"]))
        needed = data_offset + vertex["count"] * row_bytes
        if file_size < needed:
            raise WorldgenError(
                f"{path}: truncated PLY: the header promises {vertex['count']} Gaussians "
                f"({needed} bytes in all) but the file has {file_size} bytes"
            )
    else:
        lines_before = sum(e["count"] for e in elements[:vertex_index])
        # Every ASCII value takes at least two bytes ("0" and a separator): a cheap bound that
        # catches a header promising far more rows than the file could hold before any allocation.
        at_least = header_bytes + 2 * vertex["count"] * len(vertex["props"])
        if file_size < at_least:
            raise WorldgenError(
                f"{path}: truncated ASCII PLY: the header promises {vertex['count']} Gaussians "
                f"(at least {at_least} bytes) but the file has {file_size} bytes"
            )
    return data_offset, row_bytes, lines_before


def read_memory_bytes(info: PlyInfo) -> int:
    """Bytes :func:`read_gaussian_ply` allocates for ``info``'s Gaussians: the float32 outputs
    (positions 3, rotations 4, scales 3, opacity 1 and 3 * (degree + 1)**2 SH values per row)."""
    per_row = 4 * (3 + 4 + 3 + 1 + 3 * (info.sh_degree + 1) ** 2)
    return info.count * per_row


def available_memory_bytes() -> int | None:
    """Memory the system can give this process now [bytes] (Linux ``MemAvailable``), None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_read_memory(info: PlyInfo) -> None:
    """Refuse, before allocating, a file whose Gaussians cannot fit in the memory available now.

    Raises:
        WorldgenError: naming the file, the declared count and the size the read would need.
    """
    need = read_memory_bytes(info)
    available = available_memory_bytes()
    if available is not None and need > available:
        raise WorldgenError(
            f"{info.path}: the header declares {info.count} Gaussians (SH degree {info.sh_degree}); reading them "
            f"needs {_gib(need)} of memory but {_gib(available)} is available"
        )


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def _detect_layout(path: Path, props: list[str], layout: str) -> tuple[str, int]:
    """(layout, SH degree) from the vertex property names; see :mod:`worldgen_sim.io.gaussian_ply`."""
    names = set(props)
    missing = [p for p in _BASE_PROPS if p not in names]
    rest = sorted((p for p in names if p.startswith("f_rest_")), key=lambda p: (len(p), p))
    if missing:
        raise WorldgenError(
            f"{path}: not a Gaussian PLY of a known layout: missing vertex properties {', '.join(missing)} "
            f"(expected {' '.join(_BASE_PROPS)} plus optional nx ny nz and f_rest_*)"
        )
    degree = next((d for d, n in SH_REST_COUNTS.items() if n == len(rest)), None)
    if degree is None or rest != [f"f_rest_{i}" for i in range(len(rest))]:
        raise WorldgenError(
            f"{path}: {len(rest)} f_rest_* properties; expected f_rest_0..f_rest_(R-1) with R in 0, 9, 24, 45 "
            "(SH degree 0..3)"
        )
    has_normals = all(p in names for p in _NORMAL_PROPS)
    if layout == "auto":
        if degree > 0:
            return "inria", degree
        return ("lyra2" if has_normals else "lyra1"), 0
    if layout in ("lyra1", "lyra2") and degree > 0:
        raise WorldgenError(
            f"{path}: input.layout is '{layout}' (SH degree 0) but the file has {len(rest)} f_rest_* properties "
            f"(an INRIA layout of SH degree {degree}); use layout 'inria' or 'auto'"
        )
    if layout == "lyra2" and not has_normals:
        raise WorldgenError(f"{path}: input.layout is 'lyra2' but the file lacks nx ny nz (use 'lyra1' or 'auto')")
    return layout, degree

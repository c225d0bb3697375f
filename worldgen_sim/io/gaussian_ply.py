"""Gaussian-splat PLY reading, writing and summaries (INRIA 3DGS, Lyra 2.0, Lyra 1.0 layouts).

The reader is vectorised and bounded in memory: vertex rows are read in chunks
into one reused buffer and scattered into preallocated output arrays, so a
file of tens of millions of Gaussians needs little more than the output arrays.

Layouts (property order and extra properties do not matter; only names do):

* ``"inria"``: ``x y z [nx ny nz] f_dc_0..2 f_rest_0..R-1 opacity scale_0..2 rot_0..3``
  with R = 3 * ((degree + 1)**2 - 1) in {0, 9, 24, 45}. ``f_rest`` is channel-major:
  all R-channel coefficients of degrees 1..3, then all G, then all B.
* ``"lyra2"``: Lyra 2.0's ``reconstructed_scene.ply``, 17 properties
  ``x y z nx ny nz f_dc_0..2 opacity scale_0..2 rot_0..3`` (SH degree 0).
* ``"lyra1"``: Lyra 1.0, 14 properties, no normals (SH degree 0).

Detection with ``layout="auto"``: any ``f_rest_*`` property makes the file
``"inria"``. A degree-0 file *with* normals is byte-for-byte the Lyra 2.0 layout
and is reported as ``"lyra2"`` (3DGS trainers write degree 3 in practice;
degree-0 files with normals come from Lyra 2.0); pass ``layout="inria"`` to read
such a file as a generic 3DGS scene. A degree-0 file without normals is ``"lyra1"``.
The layout only decides the frame convention guessed downstream (Lyra = OpenCV);
the Gaussians read are identical either way.

Stored values are the usual 3DGS parameterisation (opacity logit, natural-log
scales, unnormalised (w, x, y, z) quaternions); the reader returns activated
values (see :class:`~worldgen_sim.artifacts.GaussianCloud`). Headers, layout detection and
the memory check live in :mod:`worldgen_sim.io.ply_header`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worldgen_sim.artifacts import GaussianCloud
from worldgen_sim.errors import WorldgenError
from worldgen_sim.io.ply_header import (
    LAYOUTS,
    PLY_FORMATS,
    PLY_TYPES,
    PlyInfo,
    check_read_memory,
    inspect_gaussian_ply,
)

_CHUNK_BYTES = 64 << 20
"""Size of the reused read buffer; bounds the reader's working memory."""


def read_gaussian_ply(
    path: str | Path,
    *,
    layout: str = "auto",
    nonfinite: str = "drop",
    progress=None,
    chunk_rows: int | None = None,
) -> tuple[GaussianCloud, PlyInfo]:
    """Read a Gaussian PLY into activated arrays.

    Args:
        path: the PLY file (binary little/big endian or ASCII; float or double properties).
        layout: ``"auto"`` or a layout name to require (see the module docstring).
        nonfinite: ``"drop"``: drop rows holding NaN/Inf (in the file or after
            activation, e.g. an overflowing ``exp(scale)``) or a zero quaternion and
            count them in ``PlyInfo.dropped_invalid``; ``"error"``: raise instead.
        progress: optional :class:`~worldgen_sim.progress.Progress` for chunk progress.
        chunk_rows: rows per read chunk; by default the buffer holds at most about 64 MB
            and at most an eighth of the rows.

    Returns:
        (cloud, info): positions (N, 3) [file units], unit (w, x, y, z) rotations,
        linear scales (N, 3), opacities in [0, 1], SH (N, K, 3) with K = (degree + 1)**2;
        all float32.

    Raises:
        WorldgenError: any header problem (see :func:`inspect_gaussian_ply`), short or
            malformed ASCII data, every row invalid, or invalid rows with ``nonfinite="error"``.
    """
    if nonfinite not in ("drop", "error"):
        raise WorldgenError(f"input.nonfinite: unknown value '{nonfinite}'; expected 'drop' or 'error'")
    info = inspect_gaussian_ply(path, layout=layout)
    check_read_memory(info)
    n, k = info.count, (info.sh_degree + 1) ** 2
    positions = np.empty((n, 3), np.float32)
    rotations = np.empty((n, 4), np.float32)
    scales = np.empty((n, 3), np.float32)
    opacities = np.empty((n,), np.float32)
    sh = np.empty((n, k, 3), np.float32)
    outputs = (positions, rotations, scales, opacities, sh)
    # Each output block's source columns; a block whose properties are adjacent in the file (the
    # usual case) is copied with one strided numpy copy instead of one pass per property.
    rest = k - 1
    index = {name: i for i, name in enumerate(info.properties)}
    blocks = [
        (positions, [index[p] for p in ("x", "y", "z")]),
        (rotations, [index[f"rot_{i}"] for i in range(4)]),
        (scales, [index[f"scale_{i}"] for i in range(3)]),
        (opacities[:, None], [index["opacity"]]),
        (sh[:, 0, :], [index[f"f_dc_{c}"] for c in range(3)]),
    ]
    rest_columns = [index[f"f_rest_{i}"] for i in range(3 * rest)]

    if chunk_rows is None:
        # At most ~64 MB and at most an eighth of the file, so the buffer stays small next to the outputs.
        per_row = info.row_bytes or 8 * len(info.properties)
        chunk_rows = max(4096, min(_CHUNK_BYTES // per_row, -(-n // 8)))
    written = 0
    dropped = 0
    for start, table in _iter_chunks(info, chunk_rows):
        rows = table.shape[0]
        end = written + rows
        for array, columns in blocks:
            _copy_columns(array[written:end], table, columns)
        if rest:
            # f_rest is channel-major (all R, then G, then B): view it as (rows, 3, rest), write (rows, rest, 3).
            target = sh[written:end, 1:, :].transpose(0, 2, 1)
            if _is_run(rest_columns):
                target[...] = table[:, rest_columns[0] : rest_columns[0] + 3 * rest].reshape(rows, 3, rest)
            else:
                for i, column in enumerate(rest_columns):
                    target[:, i // rest, i % rest] = table[:, column]
        valid = _activate_in_place(positions[written:end], rotations[written:end], scales[written:end],
                                   opacities[written:end], sh[written:end])  # fmt: skip
        bad = rows - int(np.count_nonzero(valid))
        if bad:
            dropped += bad
            for array in outputs:
                block = array[written:end]
                block[: rows - bad] = block[valid]
        written += rows - bad
        if progress is not None:
            progress.step(start + rows, n, "reading PLY")
    if dropped and nonfinite == "error":
        raise WorldgenError(
            f"{info.path}: {dropped} of {n} Gaussians hold NaN/Inf values (or a zero quaternion); "
            "set input.nonfinite to 'drop' to skip them"
        )
    if written == 0:
        raise WorldgenError(f"{info.path}: all {n} Gaussians hold NaN/Inf values; nothing to load")
    if dropped:
        del blocks  # views into the outputs must not outlive the resize below
        for array in outputs:
            # In-place shrink (realloc) keeps the peak at one copy of the outputs.
            array.resize((written,) + array.shape[1:], refcheck=False)
    info.dropped_invalid = dropped
    cloud = GaussianCloud(positions=positions, rotations=rotations, scales=scales, opacities=opacities, sh=sh)
    return cloud, info


def _is_run(columns: list[int]) -> bool:
    return columns == list(range(columns[0], columns[0] + len(columns)))


def _copy_columns(target: np.ndarray, table: np.ndarray, columns: list[int]) -> None:
    """target[:, i] = table[:, columns[i]], as one copy when the columns are adjacent."""
    if _is_run(columns):
        target[...] = table[:, columns[0] : columns[0] + len(columns)]
    else:
        for i, column in enumerate(columns):
            target[:, i] = table[:, column]


def _iter_chunks(info: PlyInfo, chunk_rows: int):
    """Yield (first row, (rows, n_properties) table) for consecutive chunks of vertex rows."""
    if info.format == "ascii":
        yield from _iter_ascii_chunks(info, chunk_rows)
        return
    endian = PLY_FORMATS[info.format]
    dtype = np.dtype([(p, endian + PLY_TYPES[t]) for p, t in zip(info.properties, info.property_types, strict=True)])
    uniform = len(set(info.property_types)) == 1
    buffer = np.empty(min(chunk_rows, info.count), dtype=dtype)
    raw = buffer.view(np.uint8).reshape(-1)
    with open(info.path, "rb") as fh:
        fh.seek(info.data_offset)
        start = 0
        while start < info.count:
            rows = min(len(buffer), info.count - start)
            got = fh.readinto(memoryview(raw)[: rows * dtype.itemsize])  # type: ignore[arg-type]
            if got != rows * dtype.itemsize:
                raise WorldgenError(
                    f"{info.path}: truncated PLY: vertex data ends at row {start + got // dtype.itemsize}"
                )
            view = buffer[:rows]
            if uniform:
                # All properties share one type: the rows are a plain 2D array (a view, no copy).
                yield start, view.view(dtype[0]).reshape(rows, len(info.properties))
            else:
                table = np.empty((rows, len(info.properties)), np.float64)
                for i, name in enumerate(info.properties):
                    table[:, i] = view[name]
                yield start, table
            start += rows


def _iter_ascii_chunks(info: PlyInfo, chunk_rows: int):
    """Yield (first row, (rows, n_properties) float64 table) for consecutive chunks of ASCII rows."""
    import itertools

    with open(info.path, encoding="ascii", errors="replace") as fh:
        for _ in itertools.islice(fh, info.header_lines + info.lines_before_vertex):
            pass
        start = 0
        while start < info.count:
            rows = min(chunk_rows, info.count - start)
            lines = list(itertools.islice(fh, rows))
            if len(lines) < rows:
                raise WorldgenError(
                    f"{info.path}: truncated ASCII PLY: the header promises {info.count} Gaussians, "
                    f"the file has {start + len(lines)} rows"
                )
            try:
                table = np.loadtxt(lines, dtype=np.float64, ndmin=2)
            except ValueError as exc:
                raise WorldgenError(f"{info.path}: malformed ASCII PLY row near vertex {start}: {exc}") from None
            if table.shape[1] != len(info.properties):
                raise WorldgenError(
                    f"{info.path}: ASCII PLY rows have {table.shape[1]} values; the header declares "
                    f"{len(info.properties)} vertex properties"
                )
            yield start, table
            start += rows


def _finite_rows(values: np.ndarray) -> np.ndarray:
    """(rows,) True where every value of a (rows, width) row is finite."""
    if values.shape[1] > 4:
        return np.isfinite(values).all(axis=1)
    # numpy's reduction over a short axis is slow; AND-ing a few columns is several times faster.
    finite = np.isfinite(values[:, 0])
    for column in range(1, values.shape[1]):
        finite &= np.isfinite(values[:, column])
    return finite


def _activate_in_place(positions, rotations, scales, opacities, sh) -> np.ndarray:
    """Turn raw 3DGS parameters into activated values in place; return the (rows,) valid mask."""
    valid = _finite_rows(positions)
    valid &= _finite_rows(rotations)
    valid &= _finite_rows(scales)
    valid &= np.isfinite(opacities)
    valid &= _finite_rows(sh.reshape(sh.shape[0], -1))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # sigmoid via tanh: no overflow warnings for large logits.
        np.multiply(opacities, 0.5, out=opacities)
        np.tanh(opacities, out=opacities)
        np.multiply(opacities, 0.5, out=opacities)
        np.add(opacities, 0.5, out=opacities)
        np.exp(scales, out=scales)
        quats = rotations.astype(np.float64)
        norm = np.sqrt(np.einsum("ij,ij->i", quats, quats))
        valid &= _finite_rows(scales) & (norm > 0) & np.isfinite(norm)
        np.divide(rotations, norm[:, None].astype(np.float32), out=rotations)
    return valid


def write_gaussian_ply(
    path: str | Path,
    cloud: GaussianCloud,
    *,
    layout: str = "inria",
    format: str = "binary_little_endian",
    property_type: str = "float",
) -> None:
    """Write a cloud as a Gaussian PLY (inverse activations applied).

    Args:
        path: output file.
        cloud: activated Gaussians; opacities are clipped to [1e-7, 1 - 1e-7] before the
            logit and scales to >= 1e-30 before the log so every stored value is finite.
        layout: ``"inria"`` (all of the cloud's SH), ``"lyra2"`` (17 properties, zero
            normals) or ``"lyra1"`` (14 properties); Lyra layouts keep only the DC term.
        format: ``"binary_little_endian"``, ``"binary_big_endian"`` or ``"ascii"``.
        property_type: ``"float"`` (float32) or ``"double"`` (float64).

    Raises:
        WorldgenError: unknown layout/format/type, or an unwritable path.
    """
    if layout not in LAYOUTS:
        raise WorldgenError(f"write_gaussian_ply: unknown layout '{layout}'; expected {', '.join(LAYOUTS)}")
    if format not in PLY_FORMATS:
        raise WorldgenError(f"write_gaussian_ply: unknown format '{format}'; expected {', '.join(PLY_FORMATS)}")
    if property_type not in ("float", "double"):
        raise WorldgenError(f"write_gaussian_ply: property_type must be 'float' or 'double', got '{property_type}'")
    n = len(cloud)
    k = cloud.sh.shape[1] if layout == "inria" else 1
    columns: list[tuple[str, np.ndarray]] = [(a, cloud.positions[:, i]) for i, a in enumerate("xyz")]
    if layout != "lyra1":
        zeros = np.zeros(n, np.float32)
        columns += [("nx", zeros), ("ny", zeros), ("nz", zeros)]
    columns += [(f"f_dc_{c}", cloud.sh[:, 0, c]) for c in range(3)]
    columns += [(f"f_rest_{c * (k - 1) + j}", cloud.sh[:, 1 + j, c]) for c in range(3) for j in range(k - 1)]
    opacity = np.clip(cloud.opacities.astype(np.float64), 1e-7, 1.0 - 1e-7)
    columns += [("opacity", np.log(opacity) - np.log1p(-opacity))]
    log_scales = np.log(np.maximum(cloud.scales.astype(np.float64), 1e-30))
    columns += [(f"scale_{i}", log_scales[:, i]) for i in range(3)]
    columns += [(f"rot_{i}", cloud.rotations[:, i]) for i in range(4)]

    base = "f4" if property_type == "float" else "f8"
    endian = ">" if format == "binary_big_endian" else "<"
    table = np.empty(n, dtype=[(name, endian + base) for name, _ in columns])
    for name, values in columns:
        table[name] = values
    header = (
        "\n".join(
            ["ply", f"format {format} 1.0", "comment written by worldgen_sim", f"element vertex {n}"]
            + [f"property {property_type} {name}" for name, _ in columns]
            + ["end_header"]
        )
        + "\n"
    )
    try:
        with open(path, "wb") as fh:
            fh.write(header.encode("ascii"))
            if format == "ascii":
                flat = table.view((endian + base, len(columns))).reshape(n, len(columns))
                np.savetxt(fh, flat, fmt="%.9g" if base == "f4" else "%.17g")
            else:
                table.tofile(fh)
    except OSError as exc:
        raise WorldgenError(f"{path}: cannot write PLY ({exc.strerror})") from None


def _stats_line(values: np.ndarray) -> str:
    low, median, p95, high = np.percentile(values, [0, 50, 95, 100])
    return f"min {low:.4g}  median {median:.4g}  p95 {p95:.4g}  max {high:.4g}"


def format_info(info: PlyInfo, cloud: GaussianCloud) -> str:
    """A multi-line summary: file, layout, counts, bounds, opacity and scale statistics.

    Args:
        info: the header description (with ``dropped_invalid`` filled in by the reader).
        cloud: the Gaussians read from the file.

    Returns:
        Text without a trailing newline; numbers are in the file's units.
    """
    lines = [
        f"file:        {info.path}",
        f"format:      {info.format}, header {info.header_bytes} bytes, {len(info.properties)} properties",
        f"layout:      {info.layout}",
        f"gaussians:   {info.count} declared, {len(cloud)} valid, {info.dropped_invalid} dropped (NaN/Inf)",
        f"sh degree:   {info.sh_degree} ({(info.sh_degree + 1) ** 2} coefficients per colour channel)",
    ]
    if len(cloud):
        low, high = cloud.positions.min(axis=0), cloud.positions.max(axis=0)
        size = high - low
        lines += [
            "bounds:      min ({:.4g}, {:.4g}, {:.4g})  max ({:.4g}, {:.4g}, {:.4g})".format(*low, *high),
            "size:        ({:.4g}, {:.4g}, {:.4g})".format(*size),
            f"opacity:     {_stats_line(cloud.opacities)}",
            f"scale (max): {_stats_line(cloud.scales.max(axis=1))}",
        ]
    return "\n".join(lines)

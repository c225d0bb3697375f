"""What the page receives: a world's layers reduced to the page's budgets, cached by content.

Reading a 1M-Gaussian world's USD layers and reducing its million-face mesh took about 2.5 s
(bench_viewer); the page needs the same few megabytes each time. So the reduced layers are
stored once in the project's array cache (:class:`worldgen_sim.cache.ArrayCache`, kind
``viewer``) under a key made of a SHA-256 of the world's USD and ``.npz`` files (names, sizes and
bytes), the budgets and worldgen_sim's version (:func:`worldgen_sim.cache.cache_key`), and later
views of the same world read that entry instead (no USD opened). Changed content gives another
key, so a stale cache is never shown; the reports that change after a build (``verify.json``,
``world.json``: probes and input camera) are small and read fresh every time.

The cache lives in ``$XDG_CACHE_HOME/worldgen_sim/viewer`` (``~/.cache/...``), not in the world
package: a rebuild replaces a package only when it holds nothing a build did not write
(staging.py), and a world may be read-only. The newest :data:`KEEP_FILES` entries are kept.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldgen_sim.viewer.world_layers import MeshLayer, PointLayer, WorldLayers, add_report_layers, load_world_layers

__all__ = ["CACHE_VERSION", "KEEP_FILES", "CacheUse", "reduce_layers", "reduce_mesh",
           "sent_layers", "world_key"]  # fmt: skip

CACHE_VERSION = 1
"""Bumped whenever what is cached changes meaning (part of every key)."""
KEEP_FILES = 16
"""Cache files kept (the least recently used beyond are deleted)."""
_HASHED_SUFFIXES = (".usd", ".usda", ".usdc", ".npz")
_MESHES = ("visual", "completed", "walkable", "coarse")
_AREA_SAMPLE = 100_000


@dataclass(eq=False)
class CacheUse:
    """How the layers were obtained.

    Attributes:
        path: the cache file (None: caching off).
        hit: read from the cache (else read from the world and, when ``path`` is set, written).
        key_s: time spent hashing the world [s].
        load_s: time spent reading the cache or the world and reducing it [s].
    """

    path: Path | None
    hit: bool
    key_s: float
    load_s: float


def world_key(out_dir: str | Path, *, max_points: int, max_faces: int, coarse_faces: int = 0, seed: int = 0) -> str:
    """The cache key: hex SHA-256 of the world's USD and ``.npz`` files (name, size, bytes), the
    budgets, the entry format and worldgen_sim's version."""
    from worldgen_sim.cache import cache_key

    digest = hashlib.sha256()
    for path in sorted(Path(out_dir).iterdir()):
        if path.suffix in _HASHED_SUFFIXES and path.is_file():
            digest.update(f"\n{path.name} {path.stat().st_size}\n".encode())
            with path.open("rb") as stream:
                while chunk := stream.read(1 << 24):
                    digest.update(chunk)
    settings = {"world": digest.hexdigest(), "max_points": max_points, "max_faces": max_faces,
                "coarse_faces": coarse_faces, "seed": seed}
    return cache_key("viewer", arrays=(), settings=settings, entry_format=CACHE_VERSION)


def sent_layers(
    out_dir: str | Path,
    *,
    max_points: int,
    max_faces: int,
    coarse_faces: int = 0,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> tuple[WorldLayers, MeshLayer | None, CacheUse]:
    """The world's layers as the page receives them: splats subsampled, meshes reduced; and the
    visual mesh's coarse first level (None when it has at most twice ``coarse_faces`` faces).

    Args:
        out_dir: the world package folder.
        max_points: most splat centres (seeded subsample beyond it).
        max_faces: most visual-mesh faces; colliders share half of it (:func:`reduce_layers`).
        coarse_faces: faces of the coarse first level (0: none).
        seed: subsample seed.
        cache_dir: the cache's root (entries in its ``viewer`` folder); None reads the world every
            time and writes nothing.

    Raises:
        WorldgenError: as :func:`load_world_layers`.
    """
    from worldgen_sim.cache import ArrayCache

    out_dir = Path(out_dir)
    started = time.perf_counter()
    cache, key, path = ArrayCache(cache_dir, "viewer"), "", None
    if cache.folder is not None:
        key = world_key(out_dir, max_points=max_points, max_faces=max_faces, coarse_faces=coarse_faces, seed=seed)
        path = cache.folder / f"{key}.npz"
    key_s = time.perf_counter() - started
    arrays = cache.get(key) if key else None
    if arrays is None:
        layers = reduce_layers(load_world_layers(out_dir, max_points=max_points, seed=seed), max_faces)
        coarse = None
        if coarse_faces and layers.visual is not None and layers.visual.faces.shape[0] > 2 * coarse_faces:
            coarse = reduce_mesh(layers.visual, coarse_faces)[0]
        if key:
            cache.put(key, _arrays(layers, coarse))
            _evict(cache.folder)
    else:
        layers, coarse = _layers(arrays, out_dir)
        add_report_layers(layers)
        if path is not None and path.is_file():
            os.utime(path)  # most recently used
    return layers, coarse, CacheUse(path, arrays is not None, key_s, time.perf_counter() - started - key_s)


def reduce_layers(layers: WorldLayers, max_faces: int) -> WorldLayers:
    """``layers`` with the visual and completed meshes within ``max_faces`` faces each and the
    colliders within half of it together (shared in proportion to their size, at least 12 each: a
    scanned wall's triangle collider can hold more faces than the visual mesh, and colliders are
    sent even while hidden); a note for each reduction."""
    for name in ("visual", "completed"):
        mesh = getattr(layers, name)
        if mesh is not None:
            mesh, note = reduce_mesh(mesh, max_faces)
            setattr(layers, name, mesh)
            if note:
                layers.notes.append(note)
    total = sum(c.faces.shape[0] for c in layers.colliders)
    reduced = []
    for collider in layers.colliders:
        budget = max(12, int(0.5 * max_faces * collider.faces.shape[0] / max(total, 1)))
        mesh, note = reduce_mesh(collider, budget)
        mesh.label = collider.label
        reduced.append(note is not None)
        collider.vertices, collider.faces, collider.colors = mesh.vertices, mesh.faces, mesh.colors
    if any(reduced):
        layers.notes.append(f"colliders: {sum(reduced)} triangle colliders decimated for display "
                            f"({total:,} faces in all; the world keeps them whole)")
    return layers


def reduce_mesh(mesh: MeshLayer, max_faces: int) -> tuple[MeshLayer, str | None]:
    """The mesh with at most ``max_faces`` faces and a note saying how it was reduced (None when not).

    Vertex clustering: vertices are merged per cell of a grid (positions and colours averaged),
    faces that collapse are dropped; the cell starts at the edge of a uniform triangulation of the
    mesh's area with ``max_faces`` faces and grows until the budget holds. Linear in the mesh size
    and numpy only, so a million-face mesh reduces in a second or two (fast-simplification's quadric
    decimation took ~13 s in bench_viewer); the shape is kept to about one cell, the winding of
    every kept face is unchanged.
    """
    faces = mesh.faces.shape[0]
    if faces <= max_faces:
        return mesh, None
    vertices = mesh.vertices.astype(np.float64)
    # The area from an evenly strided sample of at most 100 000 faces (it only picks the first cell).
    stride = max(1, faces // _AREA_SAMPLE)
    corners = vertices[mesh.faces[::stride]]
    sampled = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    area = 0.5 * float(sampled.sum()) * faces / max(len(sampled), 1)
    cell = max(np.sqrt(area / max_faces), 1e-6)
    lo = vertices.min(axis=0)
    for _ in range(24):
        keys = np.floor((vertices - lo) / cell).astype(np.int64)
        size = keys.max(axis=0) + 1
        _, cluster = np.unique((keys[:, 0] * size[1] + keys[:, 1]) * size[2] + keys[:, 2], return_inverse=True)
        cluster = cluster.reshape(-1)
        merged = cluster[mesh.faces]
        distinct = (merged[:, 0] != merged[:, 1]) & (merged[:, 1] != merged[:, 2]) & (merged[:, 0] != merged[:, 2])
        merged = merged[distinct]
        # Two faces over the same three clusters are one: keep the first (its winding).
        ordered = np.sort(merged, axis=1)
        count = int(cluster.max()) + 1
        _, first = np.unique((ordered[:, 0] * count + ordered[:, 1]) * count + ordered[:, 2], return_index=True)
        merged = merged[np.sort(first)]
        if merged.shape[0] <= max_faces:
            break
        cell *= 1.25
    weights = np.bincount(cluster, minlength=count).astype(np.float64)[:, None]
    centres = np.stack([np.bincount(cluster, vertices[:, i], count) for i in range(3)], axis=1) / weights
    colours = np.stack([np.bincount(cluster, mesh.colors[:, i], count) for i in range(3)], axis=1) / weights
    reduced = MeshLayer(centres.astype(np.float32), merged.astype(np.int32), colours.astype(np.float32), mesh.name,
                        mesh.label)
    note = f"{mesh.name} mesh: {merged.shape[0]:,} of {faces:,} faces shown (vertices merged, {cell * 100:.1f} cm grid)"
    return reduced, note


def _arrays(layers: WorldLayers, coarse: MeshLayer | None) -> dict[str, np.ndarray]:
    arrays: dict[str, Any] = {"notes": np.array(layers.notes, dtype=str)}
    if layers.splats is not None:
        arrays |= {"splats_points": layers.splats.points, "splats_colors": layers.splats.colors,
                   "splats_total": np.array(layers.splats.total), "splats_source": np.array(layers.splats.source)}
    for name in _MESHES:
        mesh = coarse if name == "coarse" else getattr(layers, name)
        if mesh is not None:
            arrays |= {f"{name}_vertices": mesh.vertices, f"{name}_faces": mesh.faces, f"{name}_colors": mesh.colors,
                       f"{name}_name": np.array(mesh.name)}
    colliders = layers.colliders
    arrays |= {
        "colliders_vertices": np.concatenate([c.vertices for c in colliders] or [np.zeros((0, 3), np.float32)]),
        "colliders_faces": np.concatenate([c.faces for c in colliders] or [np.zeros((0, 3), np.int32)]),
        "colliders_colors": np.concatenate([np.asarray(c.colors, np.float32) for c in colliders]
                                           or [np.zeros((0, 3), np.float32)]),
        "colliders_vertex_counts": np.array([len(c.vertices) for c in colliders], np.int64),
        "colliders_face_counts": np.array([len(c.faces) for c in colliders], np.int64),
        "colliders_names": np.array([c.name for c in colliders], dtype=str),
        "colliders_labels": np.array([c.label for c in colliders], dtype=str),
        "spawn_points": layers.spawn_points, "nav_volumes": layers.nav_volumes, "nav_include": layers.nav_include,
    }  # fmt: skip
    return arrays


def _layers(arrays: dict[str, np.ndarray], out_dir: Path) -> tuple[WorldLayers, MeshLayer | None]:
    layers = WorldLayers(out_dir=out_dir, notes=[str(n) for n in arrays["notes"]])
    if "splats_points" in arrays:
        layers.splats = PointLayer(arrays["splats_points"], arrays["splats_colors"], int(arrays["splats_total"]),
                                   str(arrays["splats_source"]))
    meshes = {name: MeshLayer(arrays[f"{name}_vertices"], arrays[f"{name}_faces"], arrays[f"{name}_colors"],
                              str(arrays[f"{name}_name"])) for name in _MESHES if f"{name}_faces" in arrays}
    layers.visual, layers.completed, layers.walkable = (meshes.get(n) for n in ("visual", "completed", "walkable"))
    vertex_end = np.cumsum(arrays["colliders_vertex_counts"])
    face_end = np.cumsum(arrays["colliders_face_counts"])
    for i, (name, label) in enumerate(zip(arrays["colliders_names"], arrays["colliders_labels"])):
        v0, f0 = (vertex_end[i - 1], face_end[i - 1]) if i else (0, 0)
        layers.colliders.append(MeshLayer(arrays["colliders_vertices"][v0:vertex_end[i]],
                                          arrays["colliders_faces"][f0:face_end[i]],
                                          arrays["colliders_colors"][v0:vertex_end[i]], str(name), str(label)))
    layers.spawn_points, layers.nav_volumes = arrays["spawn_points"], arrays["nav_volumes"]
    layers.nav_include = arrays["nav_include"]
    return layers, meshes.get("coarse")


def _evict(folder: Path | None) -> None:
    if folder is None or not folder.is_dir():
        return
    files = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in files[KEEP_FILES:]:
        stale.unlink(missing_ok=True)

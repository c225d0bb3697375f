"""Ground-hole fill: the session-5 fill vs the one it replaced, same inputs, same run.

``collision/ground.py`` closes holes in the ground with a patch whose corner heights
come from the ground around. Before session 5 (``tests/ground_fill_reference.py``) the
coverage sampled every surface triangle and then every ground triangle again, in 3-D, and
the heights came from ``scipy.interpolate.griddata`` over every known cell near any hole
(one Delaunay triangulation of all of them). Now one xy sampling serves both coverages and
the heights come from a sparse Laplace solve over the empty cells only
(:func:`_harmonic_fill`). Printed per input: the whole fill and the corner-height step
alone, old and new, their ratios (old / new), whether the patch cells are the same, and
how far the new corner heights lie from the old ones. Then the first-call cost the old
path also paid: importing ``scipy.interpolate`` in a fresh interpreter that already has
the scipy modules the collision stage loads anyway.

Inputs: cracked rolling-terrain tiles (``tests/test_ground_fill.py``'s scene, holes
scaled with the area) of growing size, and, unless ``--no-vegetation``, the fill's real
inputs on ``make_scene("vegetation")`` captured from ``build_world``.

    python bench/bench_ground_fill.py [--halves 2 4 8] [--repeat 5] [--no-vegetation]
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the reference lives beside the tests


def cracked_tile(half: float, seed: int = 0):
    """(vertices, faces) of a noisy rolling terrain [-half, half]^2 with ~1.6 holes per m^2 and a crack."""
    from test_ground_fill import _SPACING, _grid_mesh, _height

    rng = np.random.default_rng(seed)
    vertices, faces = _grid_mesh(-half, half, _SPACING, _height, rng, 0.004)
    centroid = vertices[faces].mean(axis=1)[:, :2]
    cut = np.zeros(len(faces), bool)
    count = int(round(25 * (half / 2.0) ** 2))
    for cx, cy, r in rng.uniform([-0.8 * half, -0.8 * half, 0.03], [0.8 * half, 0.8 * half, 0.12], (count, 3)):
        cut |= np.hypot(centroid[:, 0] - cx, centroid[:, 1] - cy) < r
    cut |= (np.abs(centroid[:, 1] + 0.5 * half) < 0.04) & (centroid[:, 0] > 0.4 * half)
    return vertices, faces[~cut]


def vegetation_inputs():
    """fill_ground_holes' arguments on the vegetation scene, captured while build_world runs."""
    from worldgen_sim.collision import ground as ground_module
    from worldgen_sim.pipeline import build_world
    from worldgen_sim.scenes import make_scene

    captured = []
    original = ground_module.fill_ground_holes

    def capture(ground, surface_triangles, *, on_ground, max_area):
        captured.append((ground, surface_triangles, on_ground, max_area))
        return original(ground, surface_triangles, on_ground=on_ground, max_area=max_area)

    ground_module.fill_ground_holes = capture
    try:
        with tempfile.TemporaryDirectory() as folder:
            make_scene("vegetation").write(Path(folder) / "vegetation.ply")
            build_world(Path(folder) / "vegetation.ply", Path(folder) / "world")
    finally:
        ground_module.fill_ground_holes = original
    return captured[0]


def best_of(repeat: int, call) -> tuple[float, object]:
    """Fastest of ``repeat`` calls [s] and the last result (the machine is shared: the minimum is the cost)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return min(times), result


def compare(name: str, inputs, repeat: int) -> None:
    from ground_fill_reference import fill_ground_holes_reference, griddata_patch_heights
    from scipy import ndimage

    from worldgen_sim.collision.ground import _patch_heights, fill_ground_holes

    ground, surface_triangles, on_ground, max_area = inputs
    new_s, new = best_of(repeat, lambda: fill_ground_holes(ground, surface_triangles, on_ground=on_ground,
                                                           max_area=max_area))
    old_s, old = best_of(repeat, lambda: fill_ground_holes_reference(ground, surface_triangles, on_ground=on_ground,
                                                                     max_area=max_area))
    if not new[1].size:
        print(f"{name:<14} no holes to fill")
        return
    # The patch, recovered from the fill's quads (first corner of each), for the corner-height step alone.
    lowest = ground.heights[..., 0].astype(np.float64)
    quads = new[0][new[1][: len(new[1]) // 2, 0], :2]
    cell = np.floor((quads - ground.origin) / ground.cell + 0.5).astype(np.int64)
    patch = np.zeros(lowest.shape, bool)
    patch[cell[:, 1], cell[:, 0]] = True
    old_heights = functools.partial(griddata_patch_heights, origin=ground.origin, cell=ground.cell)
    new_step, _ = best_of(repeat, lambda: _patch_heights(lowest, patch))
    old_step, _ = best_of(repeat, lambda: old_heights(lowest, patch))
    empty = int((~np.isfinite(lowest) & ndimage.binary_dilation(patch, structure=np.ones((3, 3), bool))).sum())
    same = new[2] == old[2] and np.array_equal(new[1], old[1]) and np.array_equal(new[0][:, :2], old[0][:, :2])
    dz = np.abs(new[0][:, 2] - old[0][:, 2]) * 1000 if same else np.full(1, np.nan)
    print(f"{name:<14} {lowest.size:9d} {int(patch.sum()):7d} {empty:7d} {new[2]['holes_filled']:6d} "
          f"{old_s:8.3f} {new_s:8.3f} {old_s / new_s:6.2f} {old_step * 1e3:9.1f} {new_step * 1e3:9.1f} "
          f"{old_step / new_step:6.1f} {'yes' if same else 'NO':>5} {np.median(dz):6.2f} {dz.max():6.2f}")


def import_cost() -> float:
    """Seconds to import scipy.interpolate in a fresh interpreter that has ndimage, sparse and spatial loaded."""
    code = ("import time, scipy.ndimage, scipy.sparse.linalg, scipy.spatial; t = time.perf_counter(); "
            "import scipy.interpolate; print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--halves", type=float, nargs="+", default=[2.0, 4.0, 8.0],
                        help="half sizes of the cracked terrain tiles [m]")
    parser.add_argument("--repeat", type=int, default=5, help="calls per timing (the fastest is printed)")
    parser.add_argument("--no-vegetation", action="store_true", help="skip the vegetation scene's build")
    args = parser.parse_args()
    from test_ground_fill import fill_inputs

    inputs = [(f"terrain {2 * h:g} m", fill_inputs(*cracked_tile(h))) for h in args.halves]
    if not args.no_vegetation:
        inputs.append(("vegetation", vegetation_inputs()))
    print(f"{'input':<14} {'cells':>9} {'patch':>7} {'empty':>7} {'holes':>6} {'old s':>8} {'new s':>8} "
          f"{'ratio':>6} {'old ms':>9} {'new ms':>9} {'ratio':>6} {'same':>5} {'dz mm':>6} {'max':>6}")
    print(f"{'':<14} {'':>9} {'':>7} {'':>7} {'':>6} {'(whole fill_ground_holes)':>24} "
          f"{'(corner heights only)':>26} {'(patch, |new - old|)':>20}")
    for name, data in inputs:
        compare(name, data, args.repeat)
    print(f"\nfirst call of the old path also imports scipy.interpolate: {import_cost():.2f} s "
          "(fresh interpreter, collision's scipy modules already loaded; the new path needs none)")


if __name__ == "__main__":
    main()

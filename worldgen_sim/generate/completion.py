"""Completing what one view cannot see, so a robot does not fall off the edge of the picture.

All in the view's camera frame (OpenCV, metres), from its depth points:

- **Floor** (:mod:`.planes`): continues under and behind objects, on a grid of
  ``cell`` squares, to the walls -- the region in front of every wall, inside
  the camera's horizontal field of view, and per direction no farther than the
  farthest thing seen that way -- or, with no wall in sight (outdoors), to
  ``outdoor_radius``. Cells whose floor was seen are not completed (one cell of
  overlap closes seams).
- **Walls** reach down to the floor: per column along each wall, everything
  from the floor to the highest seen wall point that was not seen.
- **Objects** seen from the front are closed to the floor behind: each point
  above the floor is swept ``object_depth`` away from the camera, the highest
  point per floor cell sets a block from the floor up (never on floor cells
  that were seen free, never past a wall).

The result is one mesh whose faces carry a kind label (floor, wall, object);
:func:`completion_gaussians` gives matching flat Gaussians for the splat layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worldgen_sim.artifacts import SH_C0, GaussianCloud, TriangleMesh
from worldgen_sim.generate.lifting import backproject, matrix_to_quaternion
from worldgen_sim.generate.planes import Plane, find_floor, find_walls, inlier_tolerance

__all__ = ["COMPLETED_KINDS", "Completion", "complete_view", "completion_gaussians"]

COMPLETED_KINDS = {1: "floor", 2: "wall", 3: "object"}
"""Face label values of completed geometry (0 = seen)."""
POINT_STRIDE = 4
"""Depth pixels used for plane finding and completion: one per 4 x 4 block."""
ANGLE_BIN_DEG = 2.0
MAX_CELLS = 4_000_000


@dataclass(eq=False)
class Completion:
    """Completed geometry of one view, in its camera frame.

    Attributes:
        mesh: triangles [m] with vertex colours; empty when nothing was completed.
        kinds: (F,) int8 per face, a key of ``COMPLETED_KINDS``.
        report: floor/walls found, faces per kind, and why a part was skipped.
    """

    mesh: TriangleMesh
    kinds: np.ndarray
    report: dict = field(default_factory=dict)


@dataclass(eq=False)
class _FloorGrid:
    origin: np.ndarray  # (3,) the camera's foot on the floor
    e1: np.ndarray  # (3,) floor axis along the camera's x
    e2: np.ndarray  # (3,) floor axis away from the camera
    normal: np.ndarray  # (3,) up
    cell: float
    lo: np.ndarray  # (2,) grid corner in (a, b) [m]
    shape: tuple[int, int]  # (rows along b, columns along a)

    def cell_of(self, ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.floor((ab - self.lo) / self.cell).astype(np.int64)
        inside = (index[:, 0] >= 0) & (index[:, 1] >= 0) & (index[:, 0] < self.shape[1]) & (index[:, 1] < self.shape[0])
        return index, inside

    def to_3d(self, a: np.ndarray, b: np.ndarray, h: np.ndarray | float = 0.0) -> np.ndarray:
        return self.origin + a[..., None] * self.e1 + b[..., None] * self.e2 + np.asarray(h)[..., None] * self.normal


def complete_view(
    rgb: np.ndarray,
    depth: np.ndarray,
    intrinsic: np.ndarray,
    *,
    cell: float,
    outdoor_radius: float,
    object_depth: float,
    max_object_height: float,
    max_depth: float,
) -> Completion:
    """Completed floor, walls and object backs of one RGB-D view (see the module docstring).

    Args:
        rgb: (H, W, 3) uint8.
        depth: (H, W) float32 z-depth [m], 0 = none.
        intrinsic: (3, 3) K [px].
        cell: grid cell [m].
        outdoor_radius: floor radius without walls [m].
        object_depth: how far objects are closed behind their seen surface [m].
        max_object_height: points higher above the floor are not closed [m].
        max_depth: readings beyond are ignored [m].
    """
    points, colors = _view_points(rgb, depth, intrinsic, max_depth=max_depth)
    floor = find_floor(points)
    if floor is None:
        return _empty({"floor_found": False, "skipped": "no floor plane in view (camera held level?)"})
    walls = find_walls(points, floor)
    grid = _floor_grid(points, floor, intrinsic, depth.shape, cell=cell, walls=walls, radius=outdoor_radius)
    heights = points @ floor.normal - floor.offset
    ab = np.stack([(points - grid.origin) @ grid.e1, (points - grid.origin) @ grid.e2], axis=1)
    region = _floor_region(grid, ab, walls, intrinsic, depth.shape, radius=outdoor_radius)
    full = _full_points(depth, intrinsic, max_depth=max_depth)  # every pixel, for what was seen
    full_tol = inlier_tolerance(full)
    full_heights = full @ floor.normal - floor.offset
    seen_floor = _cell_mask(grid, _floor_coords(grid, full[np.abs(full_heights) < full_tol]))

    pieces: list[tuple[TriangleMesh, int]] = []
    floor_mesh = _floor_mesh(grid, region & ~_erode(seen_floor), _median_color(colors[floor.inliers]))
    pieces.append((floor_mesh, 1))
    wall_points = np.zeros(points.shape[0], bool)
    for wall in walls:
        wall_points |= wall.inliers
        on_wall = (np.abs(full @ wall.normal - wall.offset) < full_tol) & (full_heights > full_tol)
        pieces.append((_wall_mesh(full[on_wall], full_heights[on_wall], wall, floor, cell,
                                  _median_color(colors[wall.inliers])), 2))  # fmt: skip
    tol = inlier_tolerance(points)
    near_wall = np.zeros(points.shape[0], bool)
    for wall in walls:  # noisy wall points just outside the inlier band are wall, not objects
        near_wall |= np.abs(points @ wall.normal - wall.offset) < 3 * tol
    above = ~floor.inliers & ~wall_points & ~near_wall & (heights > 2 * tol) & (heights < max_object_height)
    block = _object_heights(grid, ab[above], heights[above], steps=int(np.ceil(object_depth / cell)))
    block[~region | seen_floor] = 0.0
    pieces.append((_block_mesh(grid, block, _median_color(colors[above]) if above.any() else (0.5, 0.5, 0.5)), 3))

    mesh, kinds = _merge(pieces)
    report = {
        "floor_found": True,
        "floor_normal_camera": [round(float(v), 5) for v in floor.normal],
        "camera_height": round(float(-floor.offset), 4),
        "walls_found": len(walls),
        "faces": {name: int(np.count_nonzero(kinds == code)) for code, name in COMPLETED_KINDS.items()},
        "floor_cells_completed": int(np.count_nonzero(region & ~_erode(seen_floor))),
        "floor_cells_seen": int(np.count_nonzero(seen_floor)),
        "object_cells_closed": int(np.count_nonzero(block > 0)),
        "outdoor": not walls,
    }
    return Completion(mesh=mesh, kinds=kinds, report=report)


def completion_gaussians(completion: Completion, *, opacity: float = 0.95) -> GaussianCloud:
    """One flat Gaussian per completed triangle: centred on it, its size, lying in its plane."""
    mesh = completion.mesh
    corners = mesh.vertices[mesh.faces].astype(np.float64)
    centre = corners.mean(axis=1)
    edge = corners[:, 1] - corners[:, 0]
    normal = np.cross(edge, corners[:, 2] - corners[:, 0])
    area = 0.5 * np.linalg.norm(normal, axis=1)
    normal /= np.maximum(2.0 * area, 1e-12)[:, None]
    t1 = edge / np.maximum(np.linalg.norm(edge, axis=1, keepdims=True), 1e-12)
    rotation = np.stack([t1, np.cross(normal, t1), normal], axis=2)
    across = 0.5 * np.sqrt(np.maximum(area, 1e-12))
    color = mesh.colors[mesh.faces].mean(axis=1) if mesh.colors is not None else np.full((len(area), 3), 0.5)
    return GaussianCloud(
        positions=centre.astype(np.float32),
        rotations=matrix_to_quaternion(rotation),
        scales=np.stack([across, across, 0.1 * across], axis=1).astype(np.float32),
        opacities=np.full(len(area), opacity, np.float32),
        sh=((color - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )


def _empty(report: dict) -> Completion:
    mesh = TriangleMesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32), colors=np.zeros((0, 3), np.float32))
    return Completion(mesh=mesh, kinds=np.zeros(0, np.int8), report=report)


def _view_points(rgb, depth, intrinsic, *, max_depth: float) -> tuple[np.ndarray, np.ndarray]:
    depth = np.where(np.isfinite(depth) & (depth > 0) & (depth <= max_depth), depth, 0.0)
    points = backproject(depth, intrinsic)[::POINT_STRIDE, ::POINT_STRIDE].reshape(-1, 3)
    colors = rgb[::POINT_STRIDE, ::POINT_STRIDE].reshape(-1, 3).astype(np.float32) / 255.0
    keep = points[:, 2] > 0
    return points[keep].astype(np.float64), colors[keep]


def _median_color(colors: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.median(colors, axis=0)) if len(colors) else (0.5, 0.5, 0.5)


def _floor_grid(points, floor: Plane, intrinsic, shape, *, cell, walls, radius) -> _FloorGrid:
    normal = floor.normal
    origin = floor.offset * normal  # the camera centre (0) projected on the floor
    e1 = np.array([1.0, 0.0, 0.0]) - normal[0] * normal
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    ab = np.stack([(points - origin) @ e1, (points - origin) @ e2], axis=1)
    reach = float(np.max(np.linalg.norm(ab, axis=1))) + 2 * cell
    if not walls:
        reach = max(reach, radius)
    size = int(np.ceil(2 * reach / cell))
    if size * size > MAX_CELLS:  # coarser cells rather than unbounded memory for huge outdoor extents
        cell = 2 * reach / np.sqrt(MAX_CELLS)
        size = int(np.ceil(2 * reach / cell))
    return _FloorGrid(origin, e1, e2, normal, float(cell), np.array([-reach, -reach]), (size, size))


def _cell_centres(grid: _FloorGrid) -> tuple[np.ndarray, np.ndarray]:
    a = grid.lo[0] + (np.arange(grid.shape[1]) + 0.5) * grid.cell
    b = grid.lo[1] + (np.arange(grid.shape[0]) + 0.5) * grid.cell
    return np.meshgrid(a, b)  # (rows, cols) each


def _floor_region(grid: _FloorGrid, ab, walls: list[Plane], intrinsic, shape, *, radius) -> np.ndarray:
    """(rows, cols) bool: floor cells inside the view's wedge, up to the farthest seen point per
    direction (or ``radius`` outdoors), and in front of every wall."""
    a, b = _cell_centres(grid)
    bins = int(round(360.0 / ANGLE_BIN_DEG))
    point_bin = _angle_bin(ab[:, 0], ab[:, 1], bins)
    reach = np.zeros(bins)
    np.maximum.at(reach, point_bin, np.linalg.norm(ab, axis=1) + grid.cell)
    reach = np.max(np.stack([np.roll(reach, k) for k in range(-2, 3)]), axis=0)  # close gaps between bins
    if not walls:
        reach = np.maximum(reach, radius)
    low, high = _wedge(grid, intrinsic, shape)
    angle = np.arctan2(b, a)
    inside = _angle_between(angle, low, high) & (np.hypot(a, b) <= reach[_angle_bin(a, b, bins)])
    centres = grid.to_3d(a, b)
    for wall in walls:
        inside &= centres @ wall.normal - wall.offset >= -0.5 * grid.cell
    return inside


def _angle_bin(a, b, bins: int) -> np.ndarray:
    return (np.floor((np.arctan2(b, a) + np.pi) / (2 * np.pi) * bins).astype(np.int64)) % bins


def _wedge(grid: _FloorGrid, intrinsic, shape) -> tuple[float, float]:
    """Angles (in the floor's a-b plane) of the image's left and right borders, widened by 3 degrees."""
    height, width = shape
    rows = np.linspace(0, height - 1, 9)
    left = np.stack([np.zeros(9), rows, np.ones(9)], 1)
    right = np.stack([np.full(9, width - 1.0), rows, np.ones(9)], 1)
    pixels = np.concatenate([left, right])
    rays = pixels @ np.linalg.inv(intrinsic).T
    angles = np.unwrap(np.arctan2(rays @ grid.e2, rays @ grid.e1))
    margin = np.radians(3.0)
    return float(np.min(angles) - margin), float(np.max(angles) + margin)


def _angle_between(angle, low, high) -> np.ndarray:
    centre, half = 0.5 * (low + high), 0.5 * (high - low)
    return np.abs((angle - centre + np.pi) % (2 * np.pi) - np.pi) <= half


def _full_points(depth, intrinsic, *, max_depth: float) -> np.ndarray:
    """(N, 3) float64 camera-frame points of every valid pixel."""
    depth = np.where(np.isfinite(depth) & (depth > 0) & (depth <= max_depth), depth, 0.0)
    points = backproject(depth, intrinsic).reshape(-1, 3).astype(np.float64)
    return points[points[:, 2] > 0]


def _floor_coords(grid: _FloorGrid, points) -> np.ndarray:
    rel = points - grid.origin
    return np.stack([rel @ grid.e1, rel @ grid.e2], axis=1)


def _cell_mask(grid: _FloorGrid, ab) -> np.ndarray:
    mask = np.zeros(grid.shape, bool)
    index, inside = grid.cell_of(ab)
    mask[index[inside, 1], index[inside, 0]] = True
    return mask


def _erode(mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_erosion

    return binary_erosion(mask, iterations=1, border_value=0)


def _floor_mesh(grid: _FloorGrid, cells: np.ndarray, color) -> TriangleMesh:
    rows, cols = np.nonzero(cells)
    a0 = grid.lo[0] + cols * grid.cell
    b0 = grid.lo[1] + rows * grid.cell
    a = np.stack([a0, a0 + grid.cell, a0 + grid.cell, a0], axis=1)
    b = np.stack([b0, b0, b0 + grid.cell, b0 + grid.cell], axis=1)
    return _quads(grid.to_3d(a, b), color)


def _wall_mesh(points, heights, wall: Plane, floor: Plane, cell: float, color) -> TriangleMesh:
    """Cells of the wall below its highest seen point per column, down to the floor, that were not seen."""
    along = np.cross(floor.normal, wall.normal)  # with (along, up) counter-clockwise faces face the camera
    base = wall.offset * wall.normal + floor.offset * floor.normal
    s = points @ along
    lo = np.percentile(s, 1)
    cols = int(np.ceil((np.percentile(s, 99) - lo) / cell)) + 1
    col = np.clip(((s - lo) / cell).astype(np.int64), 0, cols - 1)
    top = np.full(cols, -np.inf)
    np.maximum.at(top, col, heights)
    filled = np.isfinite(top)
    index = np.arange(cols)
    # Columns with no wall point (an object in front) take the nearer seen column's top.
    nearest = np.interp(index, index[filled], index[filled]).round().astype(np.int64)
    top = top[nearest]
    rows = int(np.ceil(top.max() / cell))
    row = np.clip((heights / cell).astype(np.int64), 0, rows - 1)
    seen = np.zeros((rows, cols), bool)
    seen[row, col] = True
    centre = (np.arange(rows)[:, None] + 0.5) * cell
    missing = (centre < top[None, :]) & ~_erode(seen)
    r, c = np.nonzero(missing)
    s0, h0 = lo + c * cell, r * cell
    s_q = np.stack([s0, s0 + cell, s0 + cell, s0], axis=1)
    h_q = np.stack([h0, h0, h0 + cell, h0 + cell], axis=1)
    return _quads(base + s_q[..., None] * along + h_q[..., None] * floor.normal, color)


def _object_heights(grid: _FloorGrid, ab, heights, *, steps: int) -> np.ndarray:
    """(rows, cols) highest object point swept away from the camera over ``steps`` cells [m]."""
    block = np.zeros(grid.shape)
    if ab.shape[0] == 0:
        return block
    direction = ab / np.maximum(np.linalg.norm(ab, axis=1, keepdims=True), 1e-9)
    for step in range(steps + 1):  # a few dozen sweeps, each vectorised over every point
        index, inside = grid.cell_of(ab + step * grid.cell * direction)
        np.maximum.at(block, (index[inside, 1], index[inside, 0]), heights[inside])
    return block


def _block_mesh(grid: _FloorGrid, block: np.ndarray, color) -> TriangleMesh:
    """Tops of every block cell plus vertical sides wherever a neighbour is lower (down to the floor)."""
    rows, cols = np.nonzero(block > 0)
    a0, b0, h = grid.lo[0] + cols * grid.cell, grid.lo[1] + rows * grid.cell, block[rows, cols]
    c = grid.cell
    quads = [grid.to_3d(np.stack([a0, a0 + c, a0 + c, a0], 1), np.stack([b0, b0, b0 + c, b0 + c], 1), h[:, None])]
    padded = np.pad(block, 1)
    # (row step, col step, the cell edge's two corners as (da, db) offsets, ordered so the side faces outward)
    sides = ((0, 1, (1, 0), (1, 1)), (0, -1, (0, 1), (0, 0)), (1, 0, (1, 1), (0, 1)), (-1, 0, (0, 0), (1, 0)))
    for dr, dc, first, second in sides:
        low = padded[rows + 1 + dr, cols + 1 + dc]
        show = low < h
        a_e = np.stack([a0 + first[0] * c, a0 + second[0] * c], 1)[show]
        b_e = np.stack([b0 + first[1] * c, b0 + second[1] * c], 1)[show]
        bottom, top = low[show][:, None], h[show][:, None]
        quads.append(grid.to_3d(np.concatenate([a_e, a_e[:, ::-1]], 1), np.concatenate([b_e, b_e[:, ::-1]], 1),
                                np.concatenate([np.repeat(bottom, 2, 1), np.repeat(top, 2, 1)], 1)))  # fmt: skip
    return _quads(np.concatenate(quads), color)


def _quads(corners: np.ndarray, color) -> TriangleMesh:
    """Mesh of (Q, 4, 3) counter-clockwise quads, duplicate corners welded."""
    if corners.shape[0] == 0:
        return _empty({}).mesh
    flat = corners.reshape(-1, 3)
    key = np.round(flat / 1e-5).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    vertices = flat[first].astype(np.float32)
    quad = inverse.reshape(-1, 4)
    faces = np.concatenate([quad[:, [0, 1, 2]], quad[:, [0, 2, 3]]]).astype(np.int32)
    colors = np.tile(np.asarray(color, np.float32), (vertices.shape[0], 1))
    return TriangleMesh(vertices, faces, colors=colors)


def _merge(pieces: list[tuple[TriangleMesh, int]]) -> tuple[TriangleMesh, np.ndarray]:
    pieces = [(m, k) for m, k in pieces if not m.is_empty]
    if not pieces:
        return _empty({}).mesh, np.zeros(0, np.int8)
    offsets = np.cumsum([0] + [m.vertices.shape[0] for m, _ in pieces[:-1]])
    mesh = TriangleMesh(
        vertices=np.concatenate([m.vertices for m, _ in pieces]),
        faces=np.concatenate([m.faces + o for (m, _), o in zip(pieces, offsets)]).astype(np.int32),
        colors=np.concatenate([m.colors for m, _ in pieces]),
    )
    kinds = np.concatenate([np.full(m.faces.shape[0], k, np.int8) for m, k in pieces])
    return mesh, kinds

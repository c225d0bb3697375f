"""Gaussian test scenes with ground truth for the collision stage: rolling terrain, stairs + platform + ramp.

Each scene is a ground heightfield ``g(x, y)`` (solid below it; vertical steps where it
jumps) with objects standing on it (yawed boxes, upright cylinders) and optional
mid-air floater blobs, all covered with flat Gaussians ("surfels") on the surfaces a
camera could see: the ground outside the objects' footprints, the risers of every
step, the objects' tops and sides (not their bottoms). The truth answers what the
tests need: which points are solid, the true ground height, walkable ground points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worldgen_sim.artifacts import SH_C0, GaussianCloud
from worldgen_sim.scenes.surfels import concat_clouds, normal_quaternions


def _turned_frame(xy, x, y, yaw):
    """(N, 2) points in the frame of an object at (x, y) turned by ``yaw`` [rad]."""
    c, s = np.cos(yaw), np.sin(yaw)
    d = xy - [x, y]
    return np.column_stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1]])


@dataclass(eq=False)
class Box:
    """A box standing on the ground: centre (x, y), half extents (hx, hy), yaw [rad], top height [m]."""

    x: float
    y: float
    hx: float
    hy: float
    yaw: float
    top: float
    bottom: float = -1.0

    def local(self, xy):
        return _turned_frame(xy, self.x, self.y, self.yaw)

    def footprint(self, xy, margin=0.0):
        u = self.local(xy)
        return (np.abs(u[:, 0]) <= self.hx + margin) & (np.abs(u[:, 1]) <= self.hy + margin)

    def inside(self, p):
        return self.footprint(p[:, :2]) & (p[:, 2] <= self.top) & (p[:, 2] >= self.bottom)


@dataclass(eq=False)
class Cylinder:
    """An upright cylinder: centre (x, y), radius, top height [m]."""

    x: float
    y: float
    r: float
    top: float
    bottom: float = -1.0

    def footprint(self, xy, margin=0.0):
        return np.hypot(xy[:, 0] - self.x, xy[:, 1] - self.y) <= self.r + margin

    def inside(self, p):
        return self.footprint(p[:, :2]) & (p[:, 2] <= self.top) & (p[:, 2] >= self.bottom)


@dataclass(eq=False)
class Ellipsoid:
    """A rock: the upper half of an ellipsoid centred on the ground at (x, y), semi-axes (rx, ry) turned by yaw
    [rad] and height h above its centre height ``base`` [m] (``top`` = base + h)."""

    x: float
    y: float
    rx: float
    ry: float
    h: float
    yaw: float
    base: float = 0.0
    bottom: float = -1.0

    @property
    def top(self):
        return self.base + self.h

    def local(self, xy):
        return _turned_frame(xy, self.x, self.y, self.yaw)

    def footprint(self, xy, margin=0.0):
        u = self.local(xy)
        return (u[:, 0] / (self.rx + margin)) ** 2 + (u[:, 1] / (self.ry + margin)) ** 2 <= 1.0

    def inside(self, p):
        u = self.local(p[:, :2])
        above = np.maximum(p[:, 2] - self.base, 0.0)
        return ((u[:, 0] / self.rx) ** 2 + (u[:, 1] / self.ry) ** 2 + (above / self.h) ** 2 <= 1.0) & (
            p[:, 2] >= self.bottom)


@dataclass(eq=False)
class Scene:
    """A ground heightfield with objects; ``extent`` = (x0, x1, y0, y1) [m]."""

    name: str
    ground: object  # callable (N, 2) -> (N,) heights [m]
    extent: tuple[float, float, float, float]
    objects: list = field(default_factory=list)
    floaters: list = field(default_factory=list)  # (centre (3,), radius)
    edges: object = None  # callable (N, 2) -> (N,) distance to the nearest step edge [m], or None
    gaussians: GaussianCloud | None = None

    def solid(self, p: np.ndarray) -> np.ndarray:
        """(N,) bool: below the ground or inside an object."""
        inside = p[:, 2] <= self.ground(p[:, :2])
        for obj in self.objects:
            inside |= obj.inside(p)
        return inside

    def free_points(self, n: int, seed: int = 0, headroom: float = 2.5) -> np.ndarray:
        """(M, 3) uniform points of the free space up to ``headroom`` above the highest ground."""
        rng = np.random.default_rng(seed)
        x0, x1, y0, y1 = self.extent
        xy = rng.uniform([x0 + 0.2, y0 + 0.2], [x1 - 0.2, y1 - 0.2], (n, 2))
        top = float(self.ground(xy).max()) + headroom
        bottom = float(self.ground(xy).min())
        p = np.column_stack([xy, rng.uniform(bottom, top, n)])
        return p[~self.solid(p)]

    def walkable_points(self, n: int, seed: int = 0, margin: float = 0.15) -> np.ndarray:
        """(M, 3) points on the true ground, away from objects, step edges and the scene border."""
        rng = np.random.default_rng(seed)
        x0, x1, y0, y1 = self.extent
        xy = rng.uniform([x0 + 0.5, y0 + 0.5], [x1 - 0.5, y1 - 0.5], (4 * n, 2))
        ok = np.ones(len(xy), bool)
        for obj in self.objects:
            ok &= ~obj.footprint(xy, margin)
        if self.edges is not None:
            ok &= self.edges(xy) > margin
        xy = xy[ok][:n]
        return np.column_stack([xy, self.ground(xy)])


def cover_with_gaussians(scene: Scene, *, spacing: float = 0.04, seed: int = 0) -> GaussianCloud:
    """Surfels on the visible surfaces of ``scene`` (sets and returns ``scene.gaussians``)."""
    rng = np.random.default_rng(seed)
    points, normals = _ground_surfels(scene, spacing)
    pts, nrm = [points], [normals]
    for obj in scene.objects:
        base = float(scene.ground(_footprint_ring(obj)).min()) - 0.05
        obj.bottom = base
        if isinstance(obj, Box):
            p, n = _box_surfels(obj, spacing)
        elif isinstance(obj, Ellipsoid):
            p, n = _ellipsoid_surfels(obj, spacing)
        else:
            p, n = _cylinder_surfels(obj, spacing)
        pts.append(p)
        nrm.append(n)
    for centre, radius in scene.floaters:
        d = rng.normal(size=(int(4 * np.pi * radius ** 2 / spacing ** 2) + 8, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        pts.append(np.asarray(centre) + radius * d)
        nrm.append(d)
    positions = np.concatenate(pts)
    normals = np.concatenate(nrm)
    count = positions.shape[0]
    positions = positions + rng.normal(0, 0.002, positions.shape)
    rgb = np.clip(0.5 + 0.15 * np.sin(positions[:, :1] * 3 + np.arange(3)) + rng.normal(0, 0.03, (count, 3)), 0, 1)
    scene.gaussians = GaussianCloud(
        positions=positions.astype(np.float32),
        rotations=normal_quaternions(normals / np.linalg.norm(normals, axis=1, keepdims=True)),
        scales=np.column_stack([np.full((count, 2), 0.6 * spacing), np.full(count, 0.05 * spacing)]).astype(np.float32),
        opacities=np.clip(rng.normal(0.9, 0.04, count), 0.6, 1.0).astype(np.float32),
        sh=((rgb - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )
    return scene.gaussians


def _ground_surfels(scene: Scene, spacing: float):
    """Top surface on an xy grid (outside object footprints) and vertical risers where the ground jumps."""
    x0, x1, y0, y1 = scene.extent
    xs = np.arange(x0, x1 + 1e-9, spacing)
    ys = np.arange(y0, y1 + 1e-9, spacing)
    gx, gy = np.meshgrid(xs, ys)
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    z = scene.ground(xy)
    eps = 1e-3
    dzdx = (scene.ground(xy + [eps, 0]) - scene.ground(xy - [eps, 0])) / (2 * eps)
    dzdy = (scene.ground(xy + [0, eps]) - scene.ground(xy - [0, eps])) / (2 * eps)
    normal = np.column_stack([-dzdx, -dzdy, np.ones_like(z)])
    steep = np.abs(dzdx) + np.abs(dzdy) > 5  # a jump between samples: its riser is added below
    normal[steep] = [0, 0, 1]
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    visible = np.ones(len(xy), bool)
    for obj in scene.objects:
        visible &= ~obj.footprint(xy)
    pts, nrm = [np.column_stack([xy, z])[visible]], [normal[visible]]
    grid = z.reshape(gy.shape)
    for axis in (0, 1):
        a = grid[:, :-1] if axis == 1 else grid[:-1, :]
        b = grid[:, 1:] if axis == 1 else grid[1:, :]
        rows, cols = np.nonzero(np.abs(b - a) > 0.5 * spacing)
        for r, c in zip(rows, cols):  # a loop over step-edge samples (hundreds), not over Gaussians
            lo, hi = sorted((a[r, c], b[r, c]))
            heights = np.arange(lo + 0.5 * spacing, hi, spacing)
            x = xs[c] + 0.5 * spacing if axis == 1 else xs[c]
            y = ys[r] + 0.5 * spacing if axis == 0 else ys[r]
            face = np.zeros(3)
            face[1 - axis if axis == 0 else 0] = 0
            face[0 if axis == 1 else 1] = 1.0 if a[r, c] > b[r, c] else -1.0  # faces the lower side
            pts.append(np.column_stack([np.full(heights.size, x), np.full(heights.size, y), heights]))
            nrm.append(np.broadcast_to(face, (heights.size, 3)))
    return np.concatenate(pts), np.concatenate(nrm)


def _footprint_ring(obj):
    angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    if isinstance(obj, Ellipsoid):
        c, s = np.cos(obj.yaw), np.sin(obj.yaw)
        u, v = obj.rx * np.cos(angles), obj.ry * np.sin(angles)
        return np.column_stack([obj.x + c * u - s * v, obj.y + s * u + c * v])
    if isinstance(obj, Cylinder):
        return np.column_stack([obj.x + obj.r * np.cos(angles), obj.y + obj.r * np.sin(angles)])
    c, s = np.cos(obj.yaw), np.sin(obj.yaw)
    corners = np.array([[-obj.hx, -obj.hy], [obj.hx, -obj.hy], [obj.hx, obj.hy], [-obj.hx, obj.hy], [0, 0]])
    rotated = np.column_stack([c * corners[:, 0] - s * corners[:, 1], s * corners[:, 0] + c * corners[:, 1]])
    return rotated + [obj.x, obj.y]


def _grid(a, b, spacing):
    n = max(2, int(np.ceil((b - a) / spacing)) + 1)
    return np.linspace(a, b, n)


def _box_surfels(box: Box, spacing):
    u, v = np.meshgrid(_grid(-box.hx, box.hx, spacing), _grid(-box.hy, box.hy, spacing))
    local = [np.column_stack([u.ravel(), v.ravel(), np.full(u.size, box.top)])]
    normals = [np.broadcast_to([0, 0, 1.0], (u.size, 3))]
    heights = _grid(box.bottom, box.top, spacing)
    for sign in (-1, 1):
        a, h = np.meshgrid(_grid(-box.hy, box.hy, spacing), heights)
        local.append(np.column_stack([np.full(a.size, sign * box.hx), a.ravel(), h.ravel()]))
        normals.append(np.broadcast_to([sign, 0, 0.0], (a.size, 3)))
        a, h = np.meshgrid(_grid(-box.hx, box.hx, spacing), heights)
        local.append(np.column_stack([a.ravel(), np.full(a.size, sign * box.hy), h.ravel()]))
        normals.append(np.broadcast_to([0, sign, 0.0], (a.size, 3)))
    c, s = np.cos(box.yaw), np.sin(box.yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    p = np.concatenate(local) @ rot.T + [box.x, box.y, 0]
    return p, np.concatenate(normals) @ rot.T


def _cylinder_surfels(cyl: Cylinder, spacing):
    angles = np.arange(0, 2 * np.pi, spacing / cyl.r)
    heights = _grid(cyl.bottom, cyl.top, spacing)
    a, h = np.meshgrid(angles, heights)
    side = np.column_stack([cyl.x + cyl.r * np.cos(a.ravel()), cyl.y + cyl.r * np.sin(a.ravel()), h.ravel()])
    side_n = np.column_stack([np.cos(a.ravel()), np.sin(a.ravel()), np.zeros(a.size)])
    u, v = np.meshgrid(_grid(-cyl.r, cyl.r, spacing), _grid(-cyl.r, cyl.r, spacing))
    disc = np.hypot(u, v).ravel() <= cyl.r
    top = np.column_stack([cyl.x + u.ravel()[disc], cyl.y + v.ravel()[disc], np.full(disc.sum(), cyl.top)])
    return np.concatenate([side, top]), np.concatenate([side_n, np.broadcast_to([0, 0, 1.0], (disc.sum(), 3))])


def _ellipsoid_surfels(rock: Ellipsoid, spacing):
    """Surfels on the upper half of the ellipsoid, about ``spacing`` apart (rings of latitude)."""
    pts, nrm = [], []
    radius = max(rock.rx, rock.ry)
    for phi in np.arange(0.5 * spacing / radius, 0.5 * np.pi, spacing / max(radius, rock.h)):  # rings (tens)
        ring = np.cos(phi)
        angles = np.arange(0, 2 * np.pi, spacing / max(ring * radius, spacing))
        u, v = rock.rx * ring * np.cos(angles), rock.ry * ring * np.sin(angles)
        w = np.full(angles.size, rock.h * np.sin(phi))
        pts.append(np.column_stack([u, v, w]))
        nrm.append(np.column_stack([u / rock.rx ** 2, v / rock.ry ** 2, w / rock.h ** 2]))
    pts.append(np.array([[0.0, 0.0, rock.h]]))
    nrm.append(np.array([[0.0, 0.0, 1.0]]))
    c, s = np.cos(rock.yaw), np.sin(rock.yaw)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    p = np.concatenate(pts) @ rot.T + [rock.x, rock.y, rock.base]
    n = np.concatenate(nrm) @ rot.T
    return p, n / np.linalg.norm(n, axis=1, keepdims=True)


def round_object(kind: str, *, spacing: float = 0.04) -> Scene:
    """A round object on a flat 4 x 4 m floor: ``"trunk"`` (a 0.36 m wide, 1.8 m tall cylinder) or ``"rock"``
    (a 0.9 x 0.6 m half-ellipsoid, 0.4 m high, turned by 25 deg)."""
    obj = Cylinder(0.1, -0.2, 0.18, 1.8) if kind == "trunk" else Ellipsoid(0.1, -0.2, 0.45, 0.3, 0.4, np.radians(25))
    scene = Scene(kind, lambda xy: np.zeros(len(xy)), (-2.0, 2.0, -2.0, 2.0), objects=[obj])
    cover_with_gaussians(scene, spacing=spacing)
    return scene


def rolling_terrain(*, spacing: float = 0.04, floaters: bool = True) -> Scene:
    """8 x 8 m of gently rolling ground (slopes under 7 deg), two rocks, a trunk, a low wall, floater blobs."""

    def ground(xy):
        x, y = xy[:, 0], xy[:, 1]
        return 0.12 * np.sin(0.6 * x) * np.cos(0.5 * y) + 0.04 * np.sin(1.3 * x + 0.4) + 0.03 * np.cos(1.1 * y)

    scene = Scene("terrain", ground, (-4.0, 4.0, -4.0, 4.0), objects=[
        Box(1.2, -1.0, 0.35, 0.25, 0.35, 0.0),
        Box(-1.5, 1.6, 0.25, 0.2, -0.5, 0.0),
        Cylinder(-1.0, -1.8, 0.18, 0.0),
        Box(1.5, 2.2, 1.4, 0.1, 0.2, 0.0),
    ], floaters=[((0.3, 0.4, 1.3), 0.08), ((-2.2, -0.5, 1.0), 0.06), ((2.5, -2.5, 1.6), 0.1)])
    tops = [0.45, 0.35, 1.8, 0.5]
    for obj, top in zip(scene.objects, tops):
        base = float(ground(_footprint_ring(obj)).max())
        obj.top = base + top
    if not floaters:
        scene.floaters = []
    cover_with_gaussians(scene, spacing=spacing)
    return scene


def stairs_platform_ramp(*, spacing: float = 0.04) -> Scene:
    """Floor at 0; five 0.17 m steps (0.3 m treads) up to a 0.85 m platform; a 20 deg ramp down its far side."""
    step, tread, top = 0.17, 0.3, 0.85
    run = top / np.tan(np.radians(20))

    def ground(xy):
        x, y = xy[:, 0], xy[:, 1]
        z = np.zeros(len(xy))
        stairs = (x >= 0.5) & (x < 2.0) & (y >= -1.5) & (y <= 0.0)
        z = np.where(stairs, np.floor((x - 0.5) / tread + 1) * step, z)
        platform = (x >= 2.0) & (x <= 4.0) & (y >= -1.5) & (y <= 1.5)
        z = np.where(platform, top, z)
        ramp = (x > 4.0) & (x <= 4.0 + run) & (y >= -1.5) & (y <= 1.5)
        return np.where(ramp, top * (1 - (x - 4.0) / run), z)

    def edges(xy):
        x, y = xy[:, 0], xy[:, 1]
        d = np.full(len(xy), np.inf)
        for ex in np.append(0.5 + tread * np.arange(5), 4.0 + run):
            d = np.minimum(d, np.where((y > -1.6) & (y < 1.6), np.abs(x - ex), np.inf))
        for ey in (-1.5, 0.0, 1.5):
            d = np.minimum(d, np.where((x > 0.4) & (x < 4.1 + run), np.abs(y - ey), np.inf))
        d = np.minimum(d, np.where((y > -1.6) & (y < 1.6), np.abs(x - 2.0), np.inf))
        return d

    scene = Scene("stairs", ground, (-2.0, 7.5, -3.0, 3.0), objects=[Box(-1.0, 2.0, 0.3, 0.3, 0.3, 0.4)],
                  edges=edges)
    cover_with_gaussians(scene, spacing=spacing)
    return scene


def camera_path(scene: Scene, *, step: float = 2.0, eye: float = 1.5, width: int = 256, height: int = 192,
                pitches: tuple[float, ...] = (-40.0,)):
    """OpenCV cameras on an xy grid ``eye`` above the ground, looking four ways at each pitch [deg]."""
    from worldgen_sim.artifacts import CameraPath

    x0, x1, y0, y1 = scene.extent
    gx, gy = np.meshgrid(np.arange(x0 + step / 2, x1, step), np.arange(y0 + step / 2, y1, step))
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    keep = np.ones(len(xy), bool)
    for obj in scene.objects:
        keep &= ~obj.footprint(xy, 0.3)
    xy = xy[keep]
    poses = []
    for (x, y), z in zip(xy, scene.ground(xy) + eye):
        for yaw in np.radians([0.0, 90.0, 180.0, 270.0]) + 0.3:
            for pitch in np.radians(pitches):
                forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
                right = np.cross(forward, [0.0, 0.0, 1.0])
                right /= np.linalg.norm(right)
                pose = np.eye(4)
                pose[:3, :3] = np.column_stack([right, np.cross(forward, right), forward])
                pose[:3, 3] = (x, y, z)
                poses.append(pose)
    focal = 0.5 * width  # 90 deg horizontal field of view
    intrinsics = np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]], np.float64)
    return CameraPath(np.repeat(intrinsics[None], len(poses), axis=0), np.stack(poses), width, height)


def vegetation_tile(*, flowers: int = 180, seed: int = 0) -> Scene:
    """A 4 x 4 m flower field on gentle ground: each flower a stem and a bloom of Gaussians (~15 k in all).

    Truth: the ground heightfield only (the flowers are clutter a robot may push through; a
    collider over them is allowed, one under the ground or floating elsewhere is not).
    """
    rng = np.random.default_rng(seed)

    def ground(xy):
        return 0.05 * np.sin(0.8 * xy[:, 0]) * np.cos(0.6 * xy[:, 1])

    scene = Scene("vegetation", ground, (-2.0, 2.0, -2.0, 2.0))
    cover_with_gaussians(scene, spacing=0.05, seed=seed)
    base = scene.gaussians
    xy = rng.uniform(-1.8, 1.8, (flowers, 2))
    height = rng.uniform(0.25, 0.6, flowers)
    radius = rng.uniform(0.03, 0.07, flowers)
    bottom = ground(xy)
    stems = [np.column_stack([np.full(8, x), np.full(8, y), np.linspace(b, b + h, 8)])
             for (x, y), b, h in zip(xy, bottom, height)]
    directions = rng.normal(size=(flowers, 40, 3))
    directions /= np.linalg.norm(directions, axis=2, keepdims=True)
    blooms = np.column_stack([xy, bottom + height])[:, None, :] + radius[:, None, None] * directions
    points = np.concatenate([np.concatenate(stems), blooms.reshape(-1, 3)])
    normals = np.concatenate([np.tile([1.0, 0.0, 0.0], (flowers * 8, 1)), directions.reshape(-1, 3)])
    count = points.shape[0]
    rgb = np.clip(np.concatenate([np.tile([0.2, 0.6, 0.2], (flowers * 8, 1)),
                                  np.tile([0.9, 0.3, 0.5], (flowers * 40, 1))]) + rng.normal(0, 0.05, (count, 3)), 0, 1)
    flora = GaussianCloud(
        positions=points.astype(np.float32),
        rotations=normal_quaternions(normals),
        scales=np.column_stack([np.full((count, 2), 0.02), np.full(count, 0.004)]).astype(np.float32),
        opacities=np.full(count, 0.9, np.float32),
        sh=((rgb - 0.5) / SH_C0).astype(np.float32)[:, None, :],
    )
    scene.gaussians = concat_clouds([base, flora])
    return scene


def turned_cabinet(yaw_deg: float, *, spacing: float = 0.04) -> Scene:
    """A 0.5 x 1.2 x 1.8 m cabinet turned by ``yaw_deg`` on a flat 4 x 4 m floor (the sample room's shelf)."""
    scene = Scene("cabinet", lambda xy: np.zeros(len(xy)), (-2.0, 2.0, -2.0, 2.0),
                  objects=[Box(0.1, -0.2, 0.25, 0.6, float(np.radians(yaw_deg)), 1.8)])
    cover_with_gaussians(scene, spacing=spacing)
    return scene


def ring_cameras(scene: Scene, *, radius: float = 1.6, heights: tuple[float, ...] = (0.9, 2.6), count: int = 12,
                 width: int = 192, height: int = 144):
    """OpenCV cameras on rings ``radius`` around the first object at ``heights`` [m], each looking at its middle:
    the upper ring sees the top of an object taller than a person's eye."""
    from worldgen_sim.artifacts import CameraPath

    obj = scene.objects[0]
    target = np.array([obj.x, obj.y, 0.5 * obj.top])
    angles = np.linspace(0.0, 2 * np.pi, count, endpoint=False) + 0.1
    poses = []
    for z in heights:
        for angle in angles:
            eye = np.array([obj.x + radius * np.cos(angle), obj.y + radius * np.sin(angle), z])
            forward = (target - eye) / np.linalg.norm(target - eye)
            right = np.cross(forward, [0.0, 0.0, 1.0])
            right /= np.linalg.norm(right)
            pose = np.eye(4)
            pose[:3, :3] = np.column_stack([right, np.cross(forward, right), forward])
            pose[:3, 3] = eye
            poses.append(pose)
    focal = 0.5 * width  # 90 deg horizontal field of view
    intrinsics = np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]], np.float64)
    return CameraPath(np.repeat(intrinsics[None], len(poses), axis=0), np.stack(poses), width, height)

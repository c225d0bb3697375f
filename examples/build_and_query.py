"""Build a world from Python and use its navigation from a training loop, without USD.

    python examples/build_and_query.py [--out demo_world_py]

Writes the bundled sample room as a Lyra 2.0 PLY, builds the world with a
quadruped agent, then samples spawn points and plans a path between two of them.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from worldgen_sim import NavigationMap, Progress, build_world, load_config
from worldgen_sim.demo import write_demo_input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo_world_py"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        ply, camera_height = write_demo_input(Path(scratch))
        cfg = load_config(
            Path(__file__).with_name("quadruped.yaml"),
            overrides={"align.camera_height": camera_height},
        )
        result = build_world(ply, args.out, cfg=cfg, progress=Progress())

    print("layers:", ", ".join(result.summary["layers"]))
    print("agent:", result.summary["navigation_agent"])

    nav = NavigationMap.load(result.out_dir / "navigation.json")
    starts = nav.sample_spawn_points(8, seed=0, clearance=0.1)
    path = nav.shortest_path(starts[0], starts[1])
    print(f"spawn points:\n{starts.round(2)}")
    print("path:", "none" if path is None else f"{len(path)} waypoints, {path.round(2).tolist()}")
    print("walkable:", nav.is_walkable(starts).all())


if __name__ == "__main__":
    main()

"""Stage reports hold only the keys their TypedDict declares, and no timings (issue 14, point 4).

mypy checks the keys a stage writes as literals; a report merged from another
dict (``**floaters``) escapes it, so this checks the keys at run time too, on a
small collider world, and that the timings went to the Progress instead.
"""

from __future__ import annotations

import json

from test_navigation import Solid
from test_navigation_levels import floor, world

from worldgen_sim.navigation.navigation import build_navigation
from worldgen_sim.navigation.navigation_cfg import NavigationCfg
from worldgen_sim.navigation.navmap import write_navigation_json
from worldgen_sim.progress import Progress
from worldgen_sim.reports import NavigationReport


def test_navigation_report_keys_are_declared_and_timings_go_to_progress(tmp_path):
    """A floor with a box on it: every report key is a NavigationReport key, the steps are Progress stages."""
    progress = Progress(quiet=True)
    result = build_navigation(world([floor(4.0, 4.0), Solid((1.5, 1.5, 0.0), (2.5, 2.5, 1.0))]),
                              cfg=NavigationCfg(), progress=progress)  # fmt: skip
    declared = set(NavigationReport.__annotations__)
    assert set(result.report) <= declared, sorted(set(result.report) - declared)
    assert {"walkable_m2", "regions", "floaters_dropped", "triangles"} <= set(result.report)
    assert {"navigation: rasterize", "navigation: filter", "navigation: outputs"} <= set(progress.timings)
    write_navigation_json(tmp_path / "navigation.json", result)
    assert json.loads((tmp_path / "navigation.json").read_text())["report"] == json.loads(json.dumps(result.report))

"""Progress shows progress only (bars on a terminal, lines otherwise); warnings and fallbacks go to logging."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest

from worldgen_sim.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress(stream=stream)
    assert progress.bars is False
    with progress.stage("surface"):
        progress.step(3, 3, "render")
    text = stream.getvalue()
    assert "[worldgen] surface ..." in text and "render: 3/3 (100%)" in text and "\r" not in text


def test_bars_on_a_terminal():
    pytest.importorskip("tqdm")
    stream = _Terminal()
    progress = Progress(stream=stream)
    assert progress.bars is True
    with progress.stage("surface"):
        for done in range(1, 5):
            progress.step(done, 4, "render")
    text = stream.getvalue()
    assert "render" in text and "\r" in text  # a redrawn bar, not one line per step
    assert "[worldgen] surface done in" in text


def test_quiet_shows_nothing_but_keeps_timings():
    stream = _Terminal()
    progress = Progress(quiet=True, stream=stream)
    with progress.stage("align"):
        progress.step(1, 2)
    assert stream.getvalue() == "" and "align" in progress.timings


def test_fallback_reaches_logging_from_python(monkeypatch, caplog):
    from test_render import _camera, _surfel_plane

    import worldgen_sim.surface.render as render

    real = render._render_cpu

    def broken_warp(*args, compositor, **kwargs):
        if compositor == "warp":
            raise RuntimeError("no C++ compiler")
        return real(*args, compositor=compositor, **kwargs)

    monkeypatch.setattr(render, "_render_cpu", broken_warp)
    monkeypatch.setattr(render, "_warp_importable", lambda: True)
    cloud = _surfel_plane((0, 0, 2), (1, 0, 0), (0, 1, 0), extent=0.5, spacing=0.05)
    with caplog.at_level(logging.WARNING, logger="worldgen_sim"):
        out = render.render_gaussians(cloud, _camera(), backend="cpu")  # no Progress given at all
    assert np.asarray(out.alpha).max() > 0.5
    assert any(r.name == "worldgen_sim.surface.render" and "warp compositor failed" in r.getMessage()
               for r in caplog.records)

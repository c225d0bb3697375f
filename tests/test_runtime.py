"""No hidden global state: warp's config, torch's threads and the umask are as the caller left them."""

from __future__ import annotations

import os

import numpy as np
import pytest

from worldgen_sim.runtime import process_umask, torch_threads, warp_settings


def test_render_leaves_warp_config_and_torch_threads_alone():
    torch = pytest.importorskip("torch")
    wp = pytest.importorskip("warp")
    from test_render import _camera, _surfel_plane

    from worldgen_sim.surface.render import render_gaussians

    wp.config.log_level = 10  # the host's choice (DEBUG), whatever it is, must survive the call
    threads = torch.get_num_threads()
    try:
        cloud = _surfel_plane((0, 0, 2), (1, 0, 0), (0, 1, 0), extent=0.5, spacing=0.05)
        out = render_gaussians(cloud, _camera(), backend="cpu", compositor="warp", num_threads=1)
        assert out.alpha.max() > 0.5
        assert wp.config.log_level == 10 and torch.get_num_threads() == threads
    finally:
        wp.config.log_level = 20


def test_scoped_settings_are_restored_on_error():
    wp = pytest.importorskip("warp")
    torch = pytest.importorskip("torch")
    before, threads = wp.config.log_level, torch.get_num_threads()
    with pytest.raises(RuntimeError), warp_settings(log_level=40), torch_threads(1):
        assert wp.config.log_level == 40 and torch.get_num_threads() == 1
        raise RuntimeError("stage failed")
    assert wp.config.log_level == before and torch.get_num_threads() == threads


def test_umask_is_read_without_being_set(tmp_path, monkeypatch):
    from worldgen_sim.staging import staged_output, write_text_atomic

    umask = os.umask(0o027)
    os.umask(umask)
    assert process_umask() == umask

    def refuse(mask):
        raise AssertionError("os.umask called: it changes the mask for every thread while it runs")

    monkeypatch.setattr(os, "umask", refuse)
    with staged_output(tmp_path / "world") as staging:
        write_text_atomic(staging / "world.json", "{}")
    assert (tmp_path / "world" / "world.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert np.isclose(process_umask(), umask)

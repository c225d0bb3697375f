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


def test_threads_option_is_applied_for_the_whole_build_and_put_back(tmp_path, monkeypatch):
    """``--threads 1`` reaches the config (and so config.yaml / world.json), and build_world runs its stages
    with torch (and the thread variables child processes read) at that count, restoring both afterwards."""
    torch = pytest.importorskip("torch")
    from worldgen_sim import cli, pipeline
    from worldgen_sim.config import config_to_dict
    from worldgen_sim.errors import WorldgenError

    seen = {}

    def stages(input_path, out, *, cfg, progress):
        seen.update(torch=torch.get_num_threads(), omp=os.environ.get("OMP_NUM_THREADS"),
                    recorded=config_to_dict(cfg)["runtime"])
        raise WorldgenError("stopped after the thread check")

    monkeypatch.setattr(pipeline, "_run_stages", stages)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    ply = tmp_path / "scene.ply"
    ply.write_bytes(b"ply\n")
    monkeypatch.setattr(pipeline, "preflight", lambda *args, **kwargs: None)  # the bytes above are no real PLY
    code = cli.main(["build", str(ply), "-o", str(tmp_path / "world"), "--threads", "1", "--quiet"])
    assert code == cli.EXIT_USAGE  # the WorldgenError raised above
    assert seen == {"torch": 1, "omp": "1", "recorded": {"num_threads": 1}}
    assert torch.get_num_threads() == 2 and "OMP_NUM_THREADS" not in os.environ
    assert not (tmp_path / "world").exists()


def test_default_threads_change_nothing(monkeypatch):
    torch = pytest.importorskip("torch")
    from worldgen_sim.runtime import thread_limits

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    with thread_limits(None) as applied:
        assert applied == {} and torch.get_num_threads() == before and "OMP_NUM_THREADS" not in os.environ


def test_thread_limits_reach_threadpoolctl_when_installed(monkeypatch):
    """OpenMP/BLAS pools go through threadpoolctl; without it (as on this project's machines) that is said."""
    import sys
    import types
    from contextlib import contextmanager

    from worldgen_sim.runtime import thread_limits

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # not installed
    with thread_limits(3) as applied:
        assert applied["threadpoolctl"] == "not installed"
    calls = []

    @contextmanager
    def threadpool_limits(*, limits):
        calls.append(limits)
        yield

    monkeypatch.setitem(sys.modules, "threadpoolctl", types.SimpleNamespace(threadpool_limits=threadpool_limits))
    with thread_limits(3) as applied:
        assert applied["threadpoolctl"] == 3 and calls == [3]


def _fresh_python(code: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_warp_starts_without_the_cuda_driver_warning_unless_cuda_is_wanted():
    """On a machine without the CUDA driver warp's native start-up prints "Could not find or load the NVIDIA
    CUDA driver" to stderr: a CPU build no longer shows it (the z-buffer's kernels start warp); a caller that
    asked for CUDA still sees it, and other warp output is kept."""
    pytest.importorskip("warp")
    from worldgen_sim.runtime import _NO_DRIVER_WARNING, _cuda_driver_loadable

    if _cuda_driver_loadable():
        pytest.skip("this machine has a CUDA driver: warp prints no such warning to silence")
    # The control: warp started directly prints the line (so its absence below is the change, not the machine).
    plain = _fresh_python("import warp; warp.config.quiet = True; warp.init()")
    assert plain.returncode == 0 and _NO_DRIVER_WARNING in plain.stderr, plain.stderr
    cpu = _fresh_python("from worldgen_sim.surface.zbuffer_warp import _warp_kernels; _warp_kernels(); "
                        "import sys; print('after init', file=sys.stderr)")
    assert cpu.returncode == 0 and _NO_DRIVER_WARNING not in cpu.stderr, cpu.stderr
    assert "after init" in cpu.stderr  # stderr is back once warp has started
    wanted = _fresh_python("from worldgen_sim.runtime import init_warp; init_warp(want_cuda=True)")
    assert wanted.returncode == 0 and _NO_DRIVER_WARNING in wanted.stderr, wanted.stderr

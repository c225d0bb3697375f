"""The one cache module: opt-in, one key rule, atomic entries, bad entries and folders ignored."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from worldgen_sim.cache import ArrayCache, cache_key

ARRAYS = {"a": np.arange(10, dtype=np.float32), "meta": np.asarray('{"x": 1}')}


def _key(**changes):
    options = {"arrays": (np.arange(6, dtype=np.float32),), "settings": {"s": 1}, "entry_format": 1}
    options.update(changes)
    return cache_key("test", **options)


def test_key_covers_inputs_settings_format_kind_and_versions(monkeypatch):
    key = _key()
    assert key == _key() and len(key) == 64
    assert key != _key(arrays=(np.arange(6, dtype=np.float64),))  # same values, other dtype
    assert key != _key(arrays=(np.arange(6, dtype=np.float32).reshape(2, 3),))  # other shape
    assert key != _key(settings={"s": 2})
    assert key != _key(entry_format=2)
    assert key != cache_key("other", arrays=(np.arange(6, dtype=np.float32),), settings={"s": 1}, entry_format=1)
    import worldgen_sim

    monkeypatch.setattr(worldgen_sim, "__version__", "0.0.0-other")
    assert key != _key()  # a code change never serves stale entries
    monkeypatch.undo()
    import worldgen_sim.cache as cache_module

    monkeypatch.setattr(cache_module, "library_versions", lambda names: dict.fromkeys(names, "9.9"))
    assert _key(libraries=("numpy",)) != cache_key(
        "test", arrays=(np.arange(6, dtype=np.float32),), settings={"s": 1}, entry_format=1
    )


def test_no_folder_means_no_cache(tmp_path):
    cache = ArrayCache(None, "test")
    cache.put("k", ARRAYS)
    assert cache.get("k") is None and not cache.enabled
    assert cache.record() == {"folder": None, "hits": 0, "misses": 0, "lookups": []}


def test_round_trip_is_atomic_and_recorded(tmp_path):
    cache = ArrayCache(tmp_path, "test")
    assert cache.get("k") is None
    cache.put("k", ARRAYS)
    stored = cache.get("k")
    assert stored is not None and np.array_equal(stored["a"], ARRAYS["a"]) and str(stored["meta"]) == '{"x": 1}'
    assert sorted(p.name for p in (tmp_path / "test").iterdir()) == ["k.npz"]  # no temporary left behind
    assert cache.record()["lookups"] == [{"key": "k", "hit": False}, {"key": "k", "hit": True}]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_entry_is_ignored_logged_and_rewritten(tmp_path, caplog, damage):
    cache = ArrayCache(tmp_path, "test")
    cache.put("k", ARRAYS)
    path = tmp_path / "test" / "k.npz"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a zip" * 10, "empty": b""}[damage])
    with caplog.at_level(logging.WARNING, logger="worldgen_sim.cache"):
        assert cache.get("k") is None
    assert "unreadable" in caplog.text and str(path) in caplog.text
    cache.put("k", ARRAYS)
    assert np.array_equal(cache.get("k")["a"], ARRAYS["a"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any folder")
def test_unreadable_and_unwritable_folder_only_costs_time(tmp_path, caplog):
    folder = tmp_path / "test"
    folder.mkdir()
    ArrayCache(tmp_path, "test").put("k", ARRAYS)
    folder.chmod(0o000)
    try:
        cache = ArrayCache(tmp_path, "test")
        with caplog.at_level(logging.WARNING, logger="worldgen_sim.cache"):
            assert cache.get("k") is None
            cache.put("k", ARRAYS)
            cache.put("j", ARRAYS)
        assert caplog.text.count("cannot be written") == 1
    finally:
        folder.chmod(0o755)


def test_cache_folder_that_is_a_file_only_costs_time(tmp_path, caplog):
    root = tmp_path / "not_a_folder"
    root.write_text("user data")
    cache = ArrayCache(root, "test")
    with caplog.at_level(logging.WARNING, logger="worldgen_sim.cache"):
        assert cache.get("k") is None
        cache.put("k", ARRAYS)
        cache.put("j", ARRAYS)
    assert caplog.text.count("cannot be written") == 1
    assert root.read_text() == "user data"

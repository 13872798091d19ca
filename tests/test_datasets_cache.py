"""Decoded-clip cache and dataset index (helpers.datasets.cache / .index): identical
arrays back, invalidated by a touched file, bounded in size, and no file reopened."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.datasets import HMDB51, ClipCache, ClipIndex, KineticsStyle
from helpers.datasets.cache import clip_key
from video_factory import make_video


def touch_later(path: Path, seconds: int = 5) -> None:
    """Change the mtime (as an edit would) without changing the content."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 10**9))


@pytest.fixture
def clip(tmp_path):
    (tmp_path / "v" / "c").mkdir(parents=True)
    return make_video(tmp_path / "v" / "c" / "clip.avi", num_frames=20, fps=20, gop=5)


def test_cache_round_trip_is_exact_and_touch_invalidates(tmp_path, clip):
    cache = ClipCache(tmp_path / "cache")
    arr = np.random.default_rng(0).integers(0, 256, (4, 8, 10, 3), dtype=np.uint8)
    key = clip_key(clip, [0, 5, 10, 19], (8, 10))
    assert cache.get(key) is None
    cache.put(key, arr)
    back = cache.get(key)
    assert back.dtype == np.uint8 and np.array_equal(back, arr)
    # every part of the key matters
    assert clip_key(clip, [0, 5, 10, 18], (8, 10)) != key
    assert clip_key(clip, [0, 5, 10, 19], (8, 12)) != key
    touch_later(clip)
    key2 = clip_key(clip, [0, 5, 10, 19], (8, 10))
    assert key2 != key and cache.get(key2) is None
    assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (1, 2, 1)
    # no temporary files left behind
    assert [p.name for p in cache.directory.rglob("*") if p.is_file()] == [f"{key}.npy"]


def test_damaged_entry_is_a_miss_and_removed(tmp_path):
    cache = ClipCache(tmp_path / "cache")
    path = cache.put("ab" * 20, np.zeros((2, 2, 2, 3), np.uint8))
    path.write_bytes(path.read_bytes()[:20])
    assert cache.get("ab" * 20) is None and not path.exists()


def test_cache_is_bounded_and_evicts_least_recently_used(tmp_path):
    one = np.zeros((4, 16, 16, 3), np.uint8)
    entry = one.nbytes + 128  # .npy header
    cache = ClipCache(tmp_path / "cache", max_bytes=5 * entry)
    keys = [f"{i:02d}" + "0" * 38 for i in range(12)]
    for i, k in enumerate(keys):
        cache.put(k, one + i)
        time.sleep(0.01)  # distinct mtimes: the order of use is the order of age
        assert cache.total_bytes() <= 5 * entry
        if i == 3:
            assert cache.get(keys[0]) is not None  # used again: now the newest
            time.sleep(0.01)
        if i == 5:  # the 6th entry went over the bound: the two least recently used went
            alive = [k for k in keys[:6] if cache.path_for(k).exists()]
            assert alive == [keys[0], keys[3], keys[4], keys[5]]
    alive = [k for k in keys if cache.path_for(k).exists()]
    assert 1 <= len(alive) <= 5 and keys[-1] in alive
    assert cache.stats.evictions == 12 - len(alive)
    assert np.array_equal(cache.get(keys[-1]), one + 11)


def count_opens(monkeypatch) -> list[str]:
    import helpers.video

    opened: list[str] = []
    real = helpers.video.open_video

    def counting(path, *args, **kwargs):
        opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(helpers.video, "open_video", counting)
    return opened


def test_dataset_with_cache_returns_identical_items_without_decoding(tmp_path, clip, monkeypatch):
    root = clip.parent.parent
    plain = KineticsStyle(root, num_frames=6, with_audio=False, audio_seconds=0.1, index_cache=tmp_path / "i.json")
    cached = KineticsStyle(root, num_frames=6, with_audio=False, audio_seconds=0.1,
                           index_cache=tmp_path / "i.json", cache=ClipCache(tmp_path / "clips"))
    reference = plain[0]
    opened = count_opens(monkeypatch)
    first = cached[0]  # miss: decodes and stores
    assert len(opened) == 1
    second = cached[0]  # hit: the file is not even opened (metadata from the index)
    assert len(opened) == 1 and cached.cache.stats.hits == 1
    for item in (first, second):
        assert torch.equal(item["video"], reference["video"])
        assert torch.equal(item["frame_indices"], reference["frame_indices"])
    stored = list((tmp_path / "clips").rglob("*.npy"))
    assert len(stored) == 1 and np.load(stored[0]).shape == (6, 128, 171, 3)
    # the file changes: a rebuilt dataset (the index sees the new mtime) decodes again
    touch_later(clip)
    rebuilt = KineticsStyle(root, num_frames=6, with_audio=False, audio_seconds=0.1,
                            index_cache=tmp_path / "i.json", cache=ClipCache(tmp_path / "clips"))
    assert len(opened) == 2  # re-probed by the index
    assert torch.equal(rebuilt[0]["video"], reference["video"])
    assert len(opened) == 3 and rebuilt.cache.stats.misses == 1
    assert len(list((tmp_path / "clips").rglob("*.npy"))) == 2


def test_cache_without_index_still_invalidates_on_touch(tmp_path, clip, monkeypatch):
    ds = KineticsStyle(clip.parent.parent, num_frames=4, with_audio=False, audio_seconds=0.1,
                       index_cache=False, cache=tmp_path / "clips")
    ds[0]
    ds[0]
    assert (ds.cache.stats.misses, ds.cache.stats.hits) == (1, 1)
    touch_later(clip)
    ds[0]
    assert (ds.cache.stats.misses, ds.cache.stats.hits) == (2, 1)


def test_index_avoids_reopening_files(tmp_path, monkeypatch):
    root, splits = tmp_path / "videos", tmp_path / "splits"
    splits.mkdir()
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        lines = []
        for i in range(3):
            make_video(root / cls / f"{cls}{i}.avi", num_frames=10, fps=10, gop=5)
            lines.append(f"{cls}{i}.avi {1 if i < 2 else 2} \n")
        (splits / f"{cls}_test_split1.txt").write_text("".join(lines))
    opened = count_opens(monkeypatch)
    index_file = tmp_path / "cache" / "index.json"

    first = HMDB51(root, splits, 1, train=True, index_cache=index_file)
    assert len(opened) == 4 and first.index_probed == 4 and index_file.exists()
    assert first.infos[0].num_frames == 10 and first.infos[0].fps == pytest.approx(10)
    assert first.infos[0].has_audio is False
    test = HMDB51(root, splits, 1, train=False, index_cache=index_file)  # only the 2 new clips
    assert len(opened) == 6 and test.index_probed == 2
    again = HMDB51(root, splits, 1, train=True, index_cache=index_file)
    assert len(opened) == 6 and again.index_probed == 0  # nothing opened
    assert again.infos == first.infos
    touch_later(root / "b" / "b1.avi")
    HMDB51(root, splits, 1, train=True, index_cache=index_file)
    assert opened[6:] == [str((root / "b" / "b1.avi").resolve())]


def test_index_remembers_unreadable_clips_with_their_reason(tmp_path, monkeypatch):
    bad = tmp_path / "x" / "bad.avi"
    bad.parent.mkdir()
    bad.write_text("not a video")
    index = ClipIndex(tmp_path / "index.json")
    info = index.build([bad])[str(bad)]
    assert not info.ok and "VideoDecodeError" in info.error
    opened = count_opens(monkeypatch)
    again = ClipIndex(tmp_path / "index.json").build([bad])[str(bad)]
    assert again == info and opened == []
    missing = ClipIndex(tmp_path / "index.json").build([tmp_path / "gone.avi"])
    assert not missing[str(tmp_path / "gone.avi")].ok


def _hammer(directory: str, key: str, value: int, times: int) -> None:
    cache = ClipCache(Path(directory))
    for _ in range(times):
        cache.put(key, np.full((8, 32, 32, 3), value, np.uint8))


def test_concurrent_writers_never_expose_a_partial_entry(tmp_path):
    import multiprocessing as mp

    key = "cd" * 20
    ctx = mp.get_context("fork")
    writers = [ctx.Process(target=_hammer, args=(str(tmp_path / "c"), key, v, 40)) for v in (7, 200)]
    for w in writers:
        w.start()
    reader = ClipCache(tmp_path / "c")
    seen = set()
    while any(w.is_alive() for w in writers):
        arr = reader.get(key)
        if arr is not None:
            assert arr.shape == (8, 32, 32, 3)
            values = np.unique(arr)
            assert len(values) == 1 and int(values[0]) in (7, 200)  # one whole write
            seen.add(int(values[0]))
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert int(np.unique(reader.get(key))[0]) in (7, 200)
    leftovers = [p.name for p in (tmp_path / "c").rglob("*") if p.is_file() and p.suffix != ".npy"]
    assert leftovers == []


def test_compare_load_times_reports_and_restores(tmp_path, clip):
    from helpers.datasets import compare_load_times

    ds = KineticsStyle(clip.parent.parent, num_frames=4, with_audio=False, index_cache=tmp_path / "i.json")
    cache = ClipCache(tmp_path / "clips")
    times = compare_load_times(ds, cache, n=3)
    assert ds.cache is None and times["clips"] == 1
    assert all(times[k] > 0 for k in ("uncached_ms", "cache_miss_ms", "cache_hit_ms"))
    assert (cache.stats.misses, cache.stats.hits, cache.stats.writes) == (1, 1, 1)

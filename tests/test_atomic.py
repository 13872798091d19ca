"""helpers.atomic: the target appears whole or not at all, and no temporary is left."""
from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from helpers.atomic import atomic_open, atomic_path, atomic_write_bytes, atomic_write_text


def test_write_text_and_bytes_round_trip(tmp_path):
    t = atomic_write_text(tmp_path / "a" / "b.json", json.dumps({"x": 1}))
    b = atomic_write_bytes(tmp_path / "c.bin", bytes(range(256)))
    assert json.loads(t.read_text()) == {"x": 1}
    assert b.read_bytes() == bytes(range(256))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.json", "c.bin"]
    # readable like a file made by open(), not mkstemp's 0600
    assert stat.S_IMODE(os.stat(b).st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_error_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.pth"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_open(target, "wb") as fh:
            fh.write(b"half of the new")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pth"]


def test_atomic_path_keeps_the_suffix_for_libraries_that_append_one(tmp_path):
    target = tmp_path / "feats.npz"
    with atomic_path(target, fsync=True) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".npz" and tmp.name.startswith(".")
        np.savez(tmp, a=np.arange(3))
    assert np.load(target)["a"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["feats.npz"]


def test_only_whole_file_modes(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "x", "ab"):
            pass

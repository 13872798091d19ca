"""helpers.inference.runtime: the ONNX Runtime fp32 path of a predictor — same answer
as PyTorch, the export cached beside the checkpoint (reused, re-exported when the
checkpoint is newer, moved to the cache folder when that folder is read-only), and
PyTorch with a stated reason whenever ONNX Runtime cannot be used."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("onnxruntime")


@pytest.fixture()
def checkpoint(smoke_model, tmp_path):
    """A private copy of the smoke checkpoint, so each test sees its own cache."""
    path = tmp_path / "models" / "moe_split1_best.pth"
    path.parent.mkdir()
    shutil.copy(smoke_model.checkpoint, path)
    return path


@pytest.fixture(scope="module")
def clip(smoke_model, tmp_path_factory):
    from helpers.synth.encode import write_video

    return write_video(tmp_path_factory.mktemp("rt") / "clip.mp4", smoke_model.best_frames, smoke_model.fps)


def test_onnxruntime_predicts_like_torch_and_caches(smoke_model, checkpoint, clip):
    from helpers.compression.quantization import OnnxRunner
    from helpers.inference import load_predictor, onnx_cache_path, predict_video

    torch_p = load_predictor(checkpoint)
    ort_p = load_predictor(checkpoint, runtime="onnxruntime")
    cache = onnx_cache_path(checkpoint)
    assert cache == checkpoint.with_name("moe_split1_best.fp32-onnx") and cache.is_file()
    assert isinstance(ort_p.model, OnnxRunner) and ort_p.runtime == "onnxruntime"
    assert "exported now" in ort_p.runtime_note and torch_p.runtime == "torch"
    assert [p.name for p in checkpoint.parent.iterdir() if p.name.startswith(".")] == []  # no temp left
    a = predict_video(clip, model=torch_p, clips=2, crops=3)
    b = predict_video(clip, model=ort_p, clips=2, crops=3)  # batch of 6 views through the dynamic axis
    assert a.label == b.label == smoke_model.best_class and b.runtime == "onnxruntime"
    assert b.view_probabilities.shape == (6, 2)
    np.testing.assert_allclose(b.view_probabilities, a.view_probabilities, atol=1e-5)
    # a second load reuses the file; a newer checkpoint makes it export again
    mtime = cache.stat().st_mtime_ns
    again = load_predictor(checkpoint, runtime="auto")
    assert again.runtime == "onnxruntime" and "exported now" not in again.runtime_note
    assert cache.stat().st_mtime_ns == mtime
    os.utime(checkpoint, ns=(mtime + 10**9, mtime + 10**9))
    fresh = load_predictor(checkpoint, runtime="onnxruntime")
    assert "exported now" in fresh.runtime_note and cache.stat().st_mtime_ns > mtime


def test_damaged_cache_is_exported_again(checkpoint):
    from helpers.inference import load_predictor, onnx_cache_path

    cache = onnx_cache_path(checkpoint)
    cache.write_bytes(b"not an onnx file")
    p = load_predictor(checkpoint, runtime="onnxruntime")
    assert p.runtime == "onnxruntime" and "exported now" in p.runtime_note
    assert cache.stat().st_size > 10_000


def test_unwritable_models_folder_uses_the_cache_folder(checkpoint, tmp_path, monkeypatch):
    from helpers.inference import load_predictor, onnx_cache_path

    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "data"))
    from helpers.settings import get_settings

    cache_dir = get_settings().cache_dir
    # a folder where the file should go: the rename fails as on a read-only folder (also for root)
    onnx_cache_path(checkpoint).mkdir()
    p = load_predictor(checkpoint, runtime="onnxruntime")
    assert p.runtime == "onnxruntime" and onnx_cache_path(checkpoint).is_dir()
    fallback = onnx_cache_path(checkpoint, cache_dir / "onnx")
    assert fallback.is_file() and str(fallback) in p.runtime_note
    assert [q.name for q in checkpoint.parent.iterdir() if q.name.startswith(".")] == []


def test_falls_back_to_torch_with_the_reason(checkpoint, monkeypatch):
    import helpers.compression.export as export
    from helpers.inference import load_predictor, onnx_cache_path, with_runtime

    def broken(*args, **kwargs):
        raise RuntimeError("exporter says no")

    monkeypatch.setattr(export, "export_onnx", broken)
    with pytest.warns(RuntimeWarning, match="exporter says no"):
        p = load_predictor(checkpoint, runtime="onnxruntime")
    assert p.runtime == "torch" and "exporter says no" in p.runtime_note and p.runtime_note.startswith("PyTorch")
    assert not onnx_cache_path(checkpoint).exists()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto falls back without a warning
        p2 = with_runtime(p, "auto")
    assert p2.runtime == "torch" and "exporter says no" in p2.runtime_note
    p2.device = "cuda:0"  # checked before any export or device move
    assert "CPU only" in with_runtime(p2, "auto").runtime_note
    with pytest.raises(ValueError, match="runtime must be one of"):
        with_runtime(p, "tensorrt")
    with pytest.raises(ValueError, match="runtime must be one of"):
        load_predictor(checkpoint.with_name("missing.pth"), runtime="ort")  # said before the file is looked at


def test_multimodal_stays_on_torch():
    import torch

    from helpers.inference import predictor_from_model, with_runtime
    from helpers.models import MultiModalConfig, MultiModalVideoModel

    model = MultiModalVideoModel(MultiModalConfig.smoke(3, audio="none", caption_decoder="none"))
    p = with_runtime(predictor_from_model(model, ["a", "b", "c"]), "auto")
    assert p.runtime == "torch" and "multi-modal" in p.runtime_note and isinstance(p.model, torch.nn.Module)


def test_cli_runtime_option(smoke_model, checkpoint, clip, capsys):
    from helpers.inference import main

    assert main([str(clip), "--checkpoint", str(checkpoint), "--runtime", "onnxruntime", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["runtime"] == "onnxruntime" and out["label"] == smoke_model.best_class
    assert "ONNX Runtime fp32" in out["runtime_note"]
    assert main([str(clip), "--checkpoint", str(checkpoint), "--runtime", "torch"]) == 0
    text = capsys.readouterr().out
    assert "on torch)" in text and f"1. {smoke_model.best_class}" in text
    with pytest.raises(SystemExit):
        main([str(clip), "--runtime", "tensorrt"])


def test_cli_runtime_choices_are_the_library_runtimes():
    """The CLI keeps its own copy (``--help`` without importing torch); it must not drift."""
    from helpers.inference import cli
    from helpers.inference.predictor import RUNTIMES

    assert cli.RUNTIMES == RUNTIMES

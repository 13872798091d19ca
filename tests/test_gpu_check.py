"""benchmarks/gpu_check.py: one line and exit 0 without CUDA; its logic at smoke sizes on
the CPU (training rows through the Trainer, predict_video, the two-process DDP run);
how the summary reads the rows."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no CUDA, even on a GPU machine
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def test_without_cuda_one_line_and_exit_0():
    done = _run()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and "needs CUDA" in lines[0]


def test_full_sizes_refuse_the_cpu():
    done = _run("--device", "cpu")
    assert done.returncode == 2 and "--tiny" in done.stderr


def test_summary_amp_ok_needs_both_dtypes_finite():
    gc = _load()
    rows = [
        {"part": "train", "model": "moe", "amp": amp, "batch_size": bs, "clips_per_s": 10.0 * bs,
         "peak_mem_gb": bs / 8 + (amp == "fp16"), "losses_finite": True}
        for amp in ("fp16", "bf16") for bs in (16, 32)
    ] + [{"part": "predict", "model": "moe", "predict_ms": 12.5}]
    s = gc.summary(rows, "NVIDIA H200", {"weights": gc.WEIGHTS_NOTE})
    assert s["benchmark"] == "gpu_check" and s["device"] == "NVIDIA H200"
    assert s["moe_train_clips_per_s"] == {"fp16": {"16": 160.0, "32": 320.0}, "bf16": {"16": 160.0, "32": 320.0}}
    assert s["peak_mem_gb"]["moe"] == {"16": 3.0, "32": 5.0}, "per batch size, the larger of the two dtypes"
    assert s["amp_ok"] is True and s["predict_ms"] == {"moe": 12.5}
    rows[0]["losses_finite"] = False
    assert gc.summary(rows, "x", {})["amp_ok"] is False
    only_bf16 = [r for r in rows if r.get("amp") != "fp16"]
    assert gc.summary(only_bf16, "x", {})["amp_ok"] is False, "one dtype is not enough"


def test_step_timer_counts_clips_after_the_warmup():
    gc = _load()
    timer = gc.StepTimer(gc.torch.device("cpu"))
    timer.times = [5.0, 6.0, 7.0, 9.0]  # ends of steps: the warm-up's (5 s after start) is not timed
    assert timer.clips_per_s(batch_size=8, warmup=1) == pytest.approx(8 * 3 / 4)
    assert timer.clips_per_s(batch_size=8, warmup=2) == pytest.approx(8 * 2 / 3)
    with pytest.raises(ValueError):
        timer.clips_per_s(batch_size=8, warmup=4)


@pytest.mark.slow
def test_tiny_cpu_run_goes_through_every_part():
    """Smoke-size MoE on the CPU: training rows, predict_video and the DDP worker in two
    gloo processes; the last line is the summary with every key."""
    done = _run("--tiny", "--device", "cpu", "--only", "moe", "--ddp", "on")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    parts = [row.get("part") for row in lines[:-1]]
    assert parts == ["train", "predict", "train_ddp"]
    assert lines[0]["losses_finite"] and lines[0]["clips_per_s"] > 0
    assert lines[2]["processes"] == 2 and lines[2]["losses_finite"]
    last = lines[-1]
    for key in ("benchmark", "device", "moe_train_clips_per_s", "multimodal_train_clips_per_s", "peak_mem_gb",
                "amp_ok", "predict_ms", "weights"):
        assert key in last
    assert last["benchmark"] == "gpu_check" and last["predict_ms"]["moe"] > 0
    assert last["amp_ok"] is False, "no AMP on the CPU"
    assert last["ddp_clips_per_s"] == lines[2]["clips_per_s"]


def test_sampling_rows_time_uniform_frames_against_the_preview_heuristics_one(tmp_path):
    """Smoke multi-modal model on the CPU: one row per clip (with sound, silent, silent in
    HMDB51's codec), each the one-frame sampler against 5 uniform frames; the summary
    keys them by clip."""
    gc = _load()
    clip = gc.make_clip(tmp_path, seconds=2.0, size=(160, 120))
    predictor = gc.inference_predictor("multimodal", gc.torch.device("cpu"), tiny=True)
    rows = gc.measure_sampling(predictor, clip, runs=1, workdir=tmp_path)
    assert [r["clip"] for r in rows] == ["sound_h264", "silent_h264", "silent_hmdb51_codec"]
    for r in rows:
        assert r["sampler_frames"] == 1 and r["uniform_k"] == 5 and r["uniform_ms"] > 0 and r["sampler_ms"] > 0
        assert r["speedup"] == pytest.approx(r["uniform_ms"] / r["sampler_ms"], rel=0.05)
    assert (tmp_path / "hmdb51").is_dir() and (tmp_path / "silent").is_dir()
    s = gc.summary(rows, "cpu", {})
    assert s["sampling_speedup"] == {r["clip"]: r["speedup"] for r in rows}

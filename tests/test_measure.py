"""helpers.measure: parameter counts, sizes and FLOPs against hand counts, latency
statistics without warm-up, and interleaved timing of several models."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import helpers.measure as measure
from helpers.measure import (count_flops, count_parameters, file_size_mb, in_memory_size_mb, latency_stats,
                             measure_latency)
from tiny_models import TwoLayer


def test_parameter_counts_size_and_flops_by_hand():
    m = TwoLayer()
    assert count_parameters(m) == count_parameters(m, trainable_only=True) == 64 * 32 + 32 + 32 * 64
    m.a.requires_grad_(False)
    assert count_parameters(m) == 64 * 32 + 32 + 32 * 64
    assert count_parameters(m, trainable_only=True) == 32 * 64
    assert in_memory_size_mb(m) == pytest.approx((64 * 32 + 32 + 32 * 64 + 10) * 4 / 1e6)
    # two matmuls: 2*64*32 + 2*32*64 FLOPs per row; divided by the batch size of 5
    assert count_flops(m, {"x": torch.randn(5, 64)}) == 2 * 64 * 32 * 2
    tied = nn.Linear(8, 8)
    shared = nn.Sequential(tied, tied)
    assert count_parameters(shared) == count_parameters(shared, trainable_only=True) == 72  # shared counts once
    assert count_parameters(object()) == 0  # an ONNX Runtime session, say


def test_count_parameters_sees_packed_int8_weights():
    q = torch.ao.nn.quantized.Linear(8, 4)
    assert count_parameters(q) == 8 * 4  # the packed weight is no parameter()
    assert count_parameters(q, trainable_only=True) == 0


def test_file_size_mb(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"x" * 2_500_000)
    assert file_size_mb(p) == pytest.approx(2.5)


def test_conv_flops_by_hand():
    conv = nn.Conv3d(3, 4, kernel_size=(1, 3, 3), padding=(0, 1, 1), bias=False)
    # output 4 x 2 x 8 x 8 positions, each 3*1*3*3 multiply-adds
    assert count_flops(conv, {"input": torch.randn(2, 3, 2, 8, 8)}) == 2 * (4 * 2 * 8 * 8) * (3 * 9)


def test_latency_stats_exclude_warmup():
    s = latency_stats([500.0, 400.0, 10.0, 20.0, 30.0, 40.0], warmup=2, batch_size=4)
    assert (s.runs, s.mean_ms, s.median_ms, s.min_ms) == (4, 25.0, 25.0, 10.0)
    assert s.p95_ms == pytest.approx(np.percentile([10, 20, 30, 40], 95))
    assert s.throughput == pytest.approx(4 * 1000 / 25.0)
    with pytest.raises(ValueError, match="no timed runs"):
        latency_stats([1.0, 2.0], warmup=2)


def test_measure_latency_drops_warmup_runs(monkeypatch):
    """A fake clock: each warm-up call 'takes' 1000 ms, each timed one 5 ms."""
    clock = {"t": 0.0, "calls": 0}

    class Model(torch.nn.Module):
        def forward(self, video):
            clock["calls"] += 1
            clock["t"] += 1.0 if clock["calls"] <= 3 else 0.005
            return video.sum()

    monkeypatch.setattr(measure.time, "perf_counter", lambda: clock["t"])
    model = Model()
    s = measure_latency(model, {"video": torch.zeros(2, 3)}, warmup=3, runs=4)
    assert clock["calls"] == 7
    assert (s.runs, s.warmup, s.batch_size) == (4, 3, 2)
    assert s.mean_ms == pytest.approx(5.0) and s.p95_ms == pytest.approx(5.0)
    assert model.training  # eval mode only while timed


def test_measure_latency_interleaves_a_dict_of_models(monkeypatch):
    """Several models: round-robin (a, b, a, b, ...), one LatencyStats each; a tensor
    input is passed positionally; the thread count is restored."""
    order: list[str] = []
    clock = {"t": 0.0}

    def fn(name, ms):
        def run(x):
            order.append(name)
            clock["t"] += ms / 1000
            return x
        return run

    monkeypatch.setattr(measure.time, "perf_counter", lambda: clock["t"])
    threads = torch.get_num_threads()
    stats = measure_latency({"a": fn("a", 2.0), "b": fn("b", 8.0)}, torch.zeros(3, 4), warmup=1, runs=2, threads=1)
    assert order == ["a", "b"] * 3
    assert stats["a"].median_ms == pytest.approx(2.0) and stats["b"].median_ms == pytest.approx(8.0)
    assert stats["a"].batch_size == 3 and torch.get_num_threads() == threads

"""settings.pick_device (cuda, then mps, then cpu) and the AMP / int8 device support of
helpers.devices, with torch's availability checks faked."""
from __future__ import annotations

import pytest
import torch

from helpers import devices
from helpers.settings import pick_device


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv("HELPERS_DEVICE", raising=False)
    devices.say_once.cache_clear()
    yield
    devices.say_once.cache_clear()


def fake(monkeypatch, cuda: bool, mps: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("cuda, mps, want", [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"),
                                             (False, False, "cpu")])
def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, want):
    fake(monkeypatch, cuda, mps)
    assert pick_device() == want


def test_an_explicit_device_wins(monkeypatch):
    fake(monkeypatch, True, True)
    assert pick_device("cpu") == "cpu"
    monkeypatch.setenv("HELPERS_DEVICE", "mps")
    assert pick_device() == "mps"


def test_amp_per_device(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert devices.amp_dtype("cuda", "auto") is torch.bfloat16
    assert devices.amp_dtype("cuda:1", "fp16") is torch.float16
    assert devices.amp_dtype("mps", "auto") is torch.float16
    assert devices.amp_dtype("cuda", "off") is None and devices.amp_dtype("cpu", "auto") is None
    assert capsys.readouterr().err == ""  # nothing to say: each got what it asked for
    assert devices.amp_dtype("mps", "bf16") is torch.float16
    assert devices.amp_dtype("cpu", "bf16") is None
    assert devices.amp_dtype("cpu", "bf16") is None  # said once
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["AMP: bf16 autocast runs on cuda only; using fp16 on mps",
                     "AMP: bf16 autocast runs on cuda and mps only; cpu computes in fp32"]


def test_trainer_uses_the_device_table(capsys):
    from helpers.training.trainer import amp_dtype

    assert amp_dtype(torch.device("mps"), "auto") is torch.float16
    assert amp_dtype(torch.device("cpu"), "fp16") is None
    assert "fp16 autocast runs on cuda and mps only" in capsys.readouterr().err


def test_int8_runs_on_the_cpu(capsys):
    assert devices.int8_device("cpu") == "cpu" and capsys.readouterr().err == ""
    assert devices.int8_device("mps") == "cpu"
    assert devices.int8_device("cuda:0") == "cpu"
    assert capsys.readouterr().err.splitlines() == [
        "int8: quantized kernels (x86/fbgemm, qnnpack) run on the CPU only; running int8 on cpu, not mps",
        "int8: quantized kernels (x86/fbgemm, qnnpack) run on the CPU only; running int8 on cpu, not cuda"]

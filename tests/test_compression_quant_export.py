"""int8 model of a trained smoke model reloads and agrees with fp32; exported files
(TorchScript, torch.export, ONNX) reload and match."""
from __future__ import annotations

import pytest
import torch

from helpers.compression.deploy import to_deployable
from helpers.compression.export import export_onnx, export_program, export_torchscript, load_exported, verify_export
from helpers.compression.quantization import load_quantized, quantize_fx, quantize_onnx_static, save_quantized
from helpers.models import ActionMoEConfig, ActionMoEDynamicModel

CLASSES = 3


def _clips(n, seed):
    """Learnable toy clips: class = direction a bright bar moves (left, right, still)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % CLASSES
    video = torch.randn(n, 3, 4, 32, 32, generator=g) * 0.3
    for i, y in enumerate(labels.tolist()):
        for t in range(4):
            x = 8 + (t * 3 if y == 0 else -t * 3 if y == 1 else 0) + 6
            video[i, :, t, :, x:x + 4] += 2.0
    return video, labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke MoE model trained for a few steps with the project's Trainer."""
    from helpers.training import TrainConfig, Trainer

    torch.manual_seed(0)
    model = ActionMoEDynamicModel(ActionMoEConfig.smoke(num_classes=CLASSES, backbone_width=16))
    v, y = _clips(16, 0)
    batches = [{"video": v[i:i + 8], "label": y[i:i + 8]} for i in range(0, 16, 8)]
    cfg = TrainConfig.smoke("moe", epochs=3, lr=2e-3)
    trainer = Trainer(model, cfg, batches, None, run_dir=tmp_path_factory.mktemp("run"), device="cpu")
    trainer.fit()
    return trainer.core.eval(), batches


def test_fx_int8_reloads_and_agrees_with_fp32(trained, tmp_path):
    model, batches = trained
    q = quantize_fx(model, batches)
    path = save_quantized(q, tmp_path / "q.pt", batches[0]["video"][:1])
    loaded = load_quantized(path)
    v, _ = _clips(24, 1)
    with torch.no_grad():
        ref = model(v).logits
        got = loaded(v)
        assert torch.allclose(got, q(v), atol=1e-5)
    agree = float((ref.argmax(1) == got.argmax(1)).float().mean())
    # stated tolerance: ≥ 90 % top-1 agreement and logits within 15 % of their range
    assert agree >= 0.9
    assert float((ref - got).abs().max()) <= 0.15 * float(ref.max() - ref.min())


def test_exports_reload_and_match(trained, tmp_path):
    model, batches = trained
    x = batches[0]["video"][:2]
    ref = to_deployable(model)
    for path in (export_torchscript(model, tmp_path / "m.pt", x[:1]), export_program(model, tmp_path / "m.pt2", x[:1])):
        assert verify_export(ref, path, x, atol=1e-4) <= 1e-4
    with torch.no_grad():
        assert torch.allclose(load_exported(tmp_path / "m.pt")(x), model(x).logits, atol=1e-4)


def test_onnx_export_and_qdq_int8_reload_and_agree(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    model, batches = trained
    x = batches[0]["video"][:2]
    onnx = export_onnx(model, tmp_path / "m.onnx", x[:1])
    assert verify_export(to_deployable(model), onnx, x, atol=1e-3) <= 1e-3  # batch 2 through a batch-1 export
    q = quantize_onnx_static(onnx, tmp_path / "q.onnx", batches[:2])
    v, _ = _clips(12, 2)
    with torch.no_grad():
        ref = model(v).logits.argmax(1)
    got = load_exported(q)(v).argmax(1)
    assert float((ref == got).float().mean()) >= 0.9
    assert q.stat().st_size < 0.4 * (tmp_path / "m.onnx").stat().st_size

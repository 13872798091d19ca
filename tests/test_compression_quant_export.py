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


class Counted(Exception):
    pass


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


def test_replicate_pad_time_on_int8_keeps_int8_and_exact_values():
    from helpers.compression.deploy import replicate_pad_time

    x = torch.rand(1, 4, 5, 6, 7)
    padded = replicate_pad_time(x, 1)
    assert padded.shape == (1, 4, 7, 6, 7)
    assert torch.equal(padded[:, :, 0], x[:, :, 0]) and torch.equal(padded[:, :, -1], x[:, :, -1])
    assert torch.equal(padded[:, :, 1:-1], x)
    xq = torch.quantize_per_tensor(x, 0.01, 3, torch.quint8)
    pq = replicate_pad_time(xq, 2)
    assert pq.is_quantized and pq.q_scale() == 0.01 and pq.q_zero_point() == 3
    assert torch.equal(pq.dequantize(), replicate_pad_time(xq.dequantize(), 2))


def test_fx_int8_graph_keeps_the_temporal_padding_in_int8(trained):
    """Every temporal pad runs on int8 (no dequantize → float pad → quantize round trip,
    each a full feature map), and the stem's first conv, reading the video itself, stays
    float (see KEEP_FLOAT)."""
    from helpers.compression.deploy import replicate_pad_time
    from helpers.compression.quantization import _int8_pad

    model, batches = trained
    q = quantize_fx(model, batches)
    pads = [n for n in q.graph.nodes if n.target is _int8_pad]
    assert len(pads) == 8  # 4 stages × 1 block × 2 (2+1)D temporal convs
    # the stem's temporal pad reads the float first conv: padded in float, then quantized
    assert sum(n.target is replicate_pad_time for n in q.graph.nodes) == 1
    assert all(a.target != "dequantize" for n in pads for a in n.all_input_nodes)
    assert "quantized" not in type(q.get_submodule("backbone.stem.0")).__module__  # float conv (+ fused ReLU)
    assert "quantized" in type(q.get_submodule("backbone.layer1.0.conv1.0.0")).__module__


def test_exports_reload_and_match(trained, tmp_path):
    model, batches = trained
    x = batches[0]["video"][:2]
    ref = to_deployable(model)
    for path in (export_torchscript(model, tmp_path / "m.pt", x[:1]), export_program(model, tmp_path / "m.pt2", x[:1])):
        assert verify_export(ref, path, x, atol=1e-4) <= 1e-4
    with torch.no_grad():
        assert torch.allclose(load_exported(tmp_path / "m.pt")(x), model(x).logits, atol=1e-4)


def test_onnx_export_and_qdq_int8_reload_and_agree(trained, tmp_path, monkeypatch):
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

    import onnxruntime.quantization as ortq

    seen = []  # ONNX Runtime's calibrator holds every clip's activations: it gets max_clips of them

    def counting(model_in, model_out, reader, **kw):
        while (item := reader.get_next()) is not None:
            seen.append(next(iter(item.values())).shape[0])
        raise Counted  # the count is all this test needs

    monkeypatch.setattr(ortq, "quantize_static", counting)
    with pytest.raises(Counted):
        quantize_onnx_static(onnx, tmp_path / "q3.onnx", batches[:2], max_clips=3)
    assert seen == [1, 1, 1]

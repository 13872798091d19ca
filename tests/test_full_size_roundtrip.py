"""The full-size models survive a checkpoint in both weight branches: train a step with
the real presets (R(2+1)D-18 MoE; EfficientNet-B0 + Wav2Vec2 + GPT-2 multi-modal),
save, and reload through every loader the project has — identical logits each time.

"found": the torch-hub and Hugging Face caches hold (random) weights of the real
architectures under the real names, so the code takes the pretrained branch as it does
online (wav2vec2-base's 768-d encoder, GPT-2 with its tokenizer). "missing": empty
caches, offline, so every pretrained part falls back. Clips are small (4 frames of
32 px): the architecture is what is under test, not the input size.
"""
from __future__ import annotations

import pytest
import torch

from helpers.training import TrainConfig, load_checkpoint
from helpers.training.experiment import build_loaders, model_from_checkpoint
from helpers.training.load import load_or_train
from training_data import make_hmdb51, make_kinetics, use_tmp_settings

pytestmark = [pytest.mark.slow, pytest.mark.rehearsal, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("roundtrip")
    return {"moe": make_hmdb51(base / "hmdb"), "multimodal": make_kinetics(base)}


@pytest.fixture(params=["missing", "found"])
def weights(request, monkeypatch, tmp_path):
    """Point the weight caches at filled or empty folders (never the user's own)."""
    if request.param == "found":
        request.getfixturevalue("weight_cache_env")  # sets TORCH_HOME, HF_HOME, offline flags
        return request.param
    from helpers.models.pretrained import clear_probe_cache
    from helpers.models.weight_cache import cache_env

    for key, value in cache_env(tmp_path / "empty").items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    clear_probe_cache()
    return request.param


def _logits(model, batch):
    model.eval()
    with torch.no_grad():
        if hasattr(model, "forward_batch"):
            return model.forward_batch(batch)["logits"]
        return model(batch["video"]).logits


@pytest.mark.parametrize("model_name", ["moe", "multimodal"])
def test_full_size_model_reloads_identically_through_every_loader(model_name, weights, data, tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    cfg = TrainConfig.full(model_name, epochs=3, max_steps=1, batch_size=2, num_frames=4, resize=(36, 48), crop=32,
                           num_workers=0, progress=False, warmup_epochs=0.0)
    models_dir = tmp_path / "models"
    res = load_or_train(model_name, 1, config=cfg, data=data[model_name], models_dir=models_dir)
    assert res.trained and res.checkpoint.is_file()
    assert res.trainer.step == 1  # the step budget held: one optimiser step, then done
    state = load_checkpoint(res.checkpoint)
    built = res.trainer.core
    sources = getattr(built, "weights_sources", {"backbone": getattr(built, "weights_source", "")})
    if weights == "found":  # the pretrained branch was taken for every part that has one
        assert all(s != "random init" for k, s in sources.items() if k != "audio" or model_name == "multimodal"), sources
    else:
        assert all(s == "random init" for s in sources.values()), sources

    _, val_loader, classes, *_ = build_loaders(cfg, data[model_name])
    batch = next(iter(val_loader))
    expected = _logits(res.model, batch)
    assert expected.shape == (batch["label"].shape[0], len(classes))

    reloaded = {"model_from_checkpoint": model_from_checkpoint(state)}
    again = load_or_train(model_name, 1, config=cfg, data=data[model_name], models_dir=models_dir)
    assert not again.trained
    reloaded["load_or_train"] = again.model
    from helpers.inference import load_predictor

    reloaded["load_predictor"] = load_predictor(res.checkpoint, runtime="torch").model
    if model_name == "moe":
        from helpers.compression.pipeline import load_teacher

        teacher, teacher_cfg, _ = load_teacher(res.checkpoint, None, 1)
        assert teacher_cfg.model_preset == "full"
        reloaded["load_teacher"] = teacher
    for name, model in reloaded.items():
        assert torch.equal(_logits(model, batch), expected), name

    if model_name == "multimodal":  # the caption decoder and its tokenizer came back too
        rebuilt = reloaded["model_from_checkpoint"]
        assert type(rebuilt.caption) is type(built.caption)
        assert type(rebuilt.tokenizer) is type(built.tokenizer) or weights == "found"
        ids, valid = built.encode_captions(["a red square moves left"])
        ids2, valid2 = rebuilt.encode_captions(["a red square moves left"])
        assert torch.equal(ids, ids2) and torch.equal(valid, valid2)
        audio_dim = rebuilt.audio_encoder.net.config.hidden_size
        assert audio_dim == (768 if weights == "found" else built.audio_encoder.net.config.hidden_size)

    # the reloaded model predicts a video file, evaluates, and (MoE) compresses
    from helpers.evaluation import evaluate_model_comprehensive
    from helpers.inference import predict_video

    predictor = load_predictor(res.checkpoint, runtime="torch")
    video = next(p for p in sorted(data[model_name].rglob("*")) if p.suffix in (".avi", ".mp4"))
    pred = predict_video(video, predictor, top_k=3)
    assert len(pred.top) == 3 and all(label in classes for label, _ in pred.top)
    ev = evaluate_model_comprehensive(reloaded["model_from_checkpoint"], [batch], class_names=classes,
                                      latency_runs=0, flops=False)
    assert ev.metrics["confusion_matrix"].shape == (len(classes), len(classes))
    if model_name == "moe":
        from helpers.compression.quantization import quantize_fx

        q = quantize_fx(reloaded["model_from_checkpoint"], [batch["video"]])
        assert q(batch["video"]).shape == expected.shape

"""helpers.evaluation: metrics against scikit-learn, top-k with few classes, caption/sync
metrics, the comparison table and figures (latency statistics: test_measure.py)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from sklearn import metrics as skm

from helpers.evaluation import (
    caption_scores,
    classification_metrics,
    evaluate_model_comprehensive,
    plot_comparison,
    plot_confusion_matrix,
    plot_per_class_accuracy,
    plot_prediction_grid,
    save_comparison,
    sync_metrics,
    topk_accuracy,
)

# 10 clips, 4 classes: fixed scores whose argmax gives the predictions below
LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
PREDS = np.array([0, 0, 1, 1, 2, 2, 2, 0, 3, 1])


def _scores(preds: np.ndarray, n_classes: int = 4) -> np.ndarray:
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 0.5, size=(len(preds), n_classes))
    s[np.arange(len(preds)), preds] = 1.0
    return s / s.sum(axis=1, keepdims=True)


def test_classification_metrics_agree_with_sklearn():
    scores = _scores(PREDS)
    m = classification_metrics(LABELS, scores, ["a", "b", "c", "d"])
    assert m["top1"] == pytest.approx(skm.accuracy_score(LABELS, PREDS)) == pytest.approx(0.6)
    for avg in ("macro", "weighted"):
        assert m[f"precision_{avg}"] == pytest.approx(skm.precision_score(LABELS, PREDS, average=avg, zero_division=0))
        assert m[f"recall_{avg}"] == pytest.approx(skm.recall_score(LABELS, PREDS, average=avg, zero_division=0))
        assert m[f"f1_{avg}"] == pytest.approx(skm.f1_score(LABELS, PREDS, average=avg, zero_division=0))
    np.testing.assert_array_equal(m["confusion_matrix"], skm.confusion_matrix(LABELS, PREDS))
    assert m["per_class_accuracy"] == pytest.approx({"a": 2 / 3, "b": 1 / 2, "c": 2 / 3, "d": 1 / 2})
    assert m["report"]["macro avg"]["f1-score"] == pytest.approx(m["f1_macro"])
    assert "weighted avg" in m["report_text"]


def test_topk_with_fewer_than_five_classes():
    scores = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.7, 0.2]])
    labels = np.array([1, 0, 1])
    assert topk_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(scores, labels, 2) == pytest.approx(2 / 3)  # label 0 of row 2 is third
    assert topk_accuracy(scores, labels, 5) == 1.0  # k capped at 3 classes: every row is a hit
    m = classification_metrics(labels, scores)
    assert m["top5"] == 1.0 and m["num_classes"] == 3


def test_evaluate_model_comprehensive_on_a_loader():
    from helpers.models import ActionMoEConfig, ActionMoEDynamicModel, make_demo_batch

    torch.manual_seed(0)
    model = ActionMoEDynamicModel(ActionMoEConfig.smoke(num_classes=3))
    batches = [make_demo_batch(batch_size=3, num_frames=4, size=32, num_classes=3, seed=s) for s in range(2)]
    r = evaluate_model_comprehensive(model, batches, "cpu", class_names=["x", "y", "z"], latency_runs=2, warmup=1)
    labels = np.concatenate([b["label"].numpy() for b in batches])
    np.testing.assert_array_equal(r.labels, labels)
    assert r.scores.shape == (6, 3) and np.allclose(r.scores.sum(1), 1, atol=1e-5)
    assert r.metrics["top1"] == pytest.approx(skm.accuracy_score(labels, r.predictions))
    assert r.metrics["top5"] == 1.0
    assert r.params == sum(p.numel() for p in model.parameters())
    assert r.size_mb > 0 and r.flops_per_clip > 0
    assert r.latency.runs == 2 and r.latency.throughput > 0
    assert r.thumbnails.shape == (6, 32, 32, 3) and r.thumbnails.dtype == np.uint8
    row = r.summary()
    assert row["num_samples"] == 6 and "latency_p95_ms" in row


def test_caption_scores_and_sync_metrics():
    refs = [["a red circle grows slowly"], ["a blue square moves to the left"]]
    same = caption_scores(refs, ["A red circle grows slowly.", "a blue square moves to the left"])
    assert same["bleu4"] == pytest.approx(1.0, abs=1e-6)
    worse = caption_scores(refs, ["a red square shrinks", "a circle moves up"])
    assert worse["bleu4"] < 0.5 and worse["cider"] < same["cider"]
    y = np.array([1, 1, 0, 0, 1, 0])
    s = np.array([2.0, 0.5, -1.0, 0.3, -0.2, -3.0])
    m = sync_metrics(y, s)
    assert m["sync_accuracy"] == pytest.approx(4 / 6)
    assert m["sync_auc"] == pytest.approx(skm.roc_auc_score(y, s))


def test_figures_are_figures_with_51_classes(tmp_path):
    import matplotlib.pyplot as plt
    import pandas as pd

    rng = np.random.default_rng(0)
    names = [f"class_{i:02d}" for i in range(51)]
    y = rng.integers(0, 51, 400)
    p = np.where(rng.random(400) < 0.6, y, rng.integers(0, 51, 400))
    cm = skm.confusion_matrix(y, p, labels=range(51))
    fig = plot_confusion_matrix(cm, names)
    assert isinstance(fig, Figure) and fig.get_size_inches()[1] >= 12
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    assert shown.shape == (51, 51) and np.allclose(np.asarray(shown).sum(1)[cm.sum(1) > 0], 1)
    diag = np.diag(np.asarray(shown))
    assert list(diag) == sorted(diag, reverse=True)  # sorted by accuracy, best first
    acc = {n: float(cm[i, i] / max(cm[i].sum(), 1)) for i, n in enumerate(names)}
    assert isinstance(plot_per_class_accuracy(acc), Figure)
    thumbs = rng.integers(0, 255, (6, 24, 32, 3), dtype=np.uint8)
    grid = plot_prediction_grid(thumbs, [0, 1, 2, 0, 1, 2], [0, 2, 2, 1, 1, 2], [0.9, 0.6, 0.4, 0.8, 0.3, 1.0],
                                ["a", "b", "c"], cols=3)
    assert isinstance(grid, Figure) and len(grid.axes) == 6
    assert grid.axes[1].title.get_color() != grid.axes[0].title.get_color()  # wrong vs right
    df = pd.DataFrame({"model": ["moe", "moe_int8"], "kind": ["moe", "quantized"], "top1": [0.8, 0.75],
                       "frames_used": [16, 16], "latency_ms": [300.0, 120.0], "size_mb": [120.0, 31.0]}).set_index("model")
    assert isinstance(plot_comparison(df), Figure)
    paths = save_comparison(df, tmp_path)
    assert pd.read_csv(paths["csv"], index_col=0).loc["moe_int8", "top1"] == pytest.approx(0.75)
    md = paths["md"].read_text().splitlines()
    assert md[0].startswith("| model | kind | top1") and len(md) == 4 and "| moe_int8 | quantized | 0.75 |" in md[3]
    plt.close("all")


def test_multimodal_model_metrics_and_prediction(tmp_path):
    """The multi-modal path end to end on tiny inputs: sync pairs + captions scored,
    and predict_video feeding frames, times and the audio track of an mp4."""
    from helpers.evaluation import evaluate_multimodal
    from helpers.inference import predict_video, predictor_from_model
    from helpers.models import MultiModalConfig, MultiModalVideoModel, make_demo_batch
    from helpers.synth import SynthConfig, render_clip
    from helpers.synth.encode import write_video

    torch.manual_seed(0)
    batch = make_demo_batch(batch_size=2, num_frames=4, size=32, fps=2.0, num_classes=3)
    model = MultiModalVideoModel(MultiModalConfig.smoke(num_classes=3).with_captions(batch["caption"]))
    m = evaluate_multimodal(model, [batch], "cpu")
    assert m["sync_pairs"] == 4 and 0 <= m["sync_accuracy"] <= 1 and 0 <= m["sync_auc"] <= 1
    assert 0 <= m["bleu4"] <= 1 and m["cider"] >= 0 and len(m["caption_examples"]) == 2
    cfg = SynthConfig.smoke(seconds=1.2, size=(64, 48))
    clip = render_clip("grow", cfg, seed=1, audio=True)
    path = write_video(tmp_path / "with_audio.mp4", clip.frames, clip.fps, audio=clip.audio, sample_rate=cfg.sample_rate)
    p = predictor_from_model(model, ["a", "b", "c"], num_frames=4, resize=(36, 48), crop=32)
    r = predict_video(path, model=p, clips=2)
    assert r.view_probabilities.shape == (2, 3) and r.metadata["has_audio"] and len(r.frame_indices) == 8


def test_discover_models_skips_run_folders_and_reports_unloadable_files(tmp_path):
    from helpers.evaluation import discover_models

    (tmp_path / "compressed" / "runs" / "finetune").mkdir(parents=True)
    (tmp_path / "compressed" / "runs" / "finetune" / "best.pth").write_bytes(b"intermediate")
    (tmp_path / "moe_split1_best.pth").write_bytes(b"not a checkpoint")
    entries = discover_models(tmp_path)
    assert [e.name for e in entries] == ["moe_split1_best"]
    assert entries[0].predictor is None and entries[0].skipped

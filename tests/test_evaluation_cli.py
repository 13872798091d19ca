"""`python -m helpers evaluate`: notebook 07's figures from a shell."""
from __future__ import annotations

import json
import shutil

import pytest


def test_evaluate_cli_json(smoke_model, tmp_path, monkeypatch, capsys):
    from helpers.evaluation.cli import main

    models = tmp_path / "models"
    models.mkdir()
    ckpt = models / "moe_split1_best.pth"
    shutil.copy(smoke_model.checkpoint, ckpt)
    monkeypatch.setenv("HELPERS_MODELS_DIR", str(models))
    assert main(["--checkpoint", str(ckpt), "--clips", "2", "--max-videos", "4", "--latency-runs", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    clip, video = out["clip_level"], out["video_level"]
    assert clip["num_samples"] > 0 and 0.0 <= clip["top1"] <= clip["top5"] <= 1.0
    assert video["num_videos"] == 2 and video["views_per_video"] == "2 clips x 1 crops"  # the checkpoint's data
    assert [row["model"] for row in out["comparison"]] == ["moe_split1_best"]
    assert (models / "evaluation" / "model_comparison.csv").is_file()


def test_evaluate_cli_without_a_checkpoint_says_which_notebook(tmp_path, monkeypatch, capsys):
    from helpers.evaluation.cli import main

    monkeypatch.setenv("HELPERS_MODELS_DIR", str(tmp_path))
    assert main(["--no-compare"]) == 1
    assert "04_training" in capsys.readouterr().err


def with_classes(state: dict, order: list[int], names: list[str]) -> dict:
    """A copy of a checkpoint whose classifier lists the classes ``order`` picks, as ``names``."""
    import torch

    model = dict(state["model"])
    for key in ("classifier.weight", "classifier.bias"):
        model[key] = model[key][torch.tensor(order)].clone()
    return {**state, "model": model, "class_names": names,
            "model_config": {**state["model_config"], "num_classes": len(names)}}


def test_evaluate_without_data_uses_the_checkpoints_own_data(smoke_model, tmp_path, monkeypatch, capsys):
    from helpers.evaluation.cli import main

    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "empty"))  # no active dataset to fall back on
    monkeypatch.setenv("HELPERS_MODELS_DIR", str(tmp_path / "models"))
    assert main(["--checkpoint", str(smoke_model.checkpoint), "--clips", "1", "--latency-runs", "0",
                 "--no-compare", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["data"] == str(smoke_model.avi.parents[1])
    assert out["clip_level"]["num_samples"] == 2 and out["video_level"]["num_videos"] == 2


def test_evaluate_matches_classes_by_name_when_the_data_lists_them_in_another_order(smoke_model, tmp_path):
    import torch

    from helpers.evaluation import test_data_for

    state = torch.load(smoke_model.checkpoint, weights_only=True)
    names = list(state["class_names"])
    reversed_ckpt = tmp_path / "reversed.pth"
    torch.save(with_classes(state, [1, 0], names[::-1]), reversed_ckpt)
    usual, flipped = test_data_for(smoke_model.checkpoint), test_data_for(reversed_ckpt)
    assert usual.named_samples == flipped.named_samples
    assert [label for _, label in flipped.samples] == [1 - label for _, label in usual.samples]
    assert [b["label"].tolist() for b in flipped.loader] == [[1 - x for x in b["label"].tolist()] for b in usual.loader]
    # the training clips too, unshuffled: the same clips in the same order on every pass
    train_labels = [x for b in usual.train_loader for x in b["label"].tolist()]
    assert train_labels == [x for b in usual.train_loader for x in b["label"].tolist()] and len(train_labels) >= 2
    assert [x for b in flipped.train_loader for x in b["label"].tolist()] == [1 - x for x in train_labels]

    torch.save(with_classes(state, [0], names[:1]), tmp_path / "one_class.pth")
    with pytest.raises(ValueError, match=f"the model lacks {names[1]}"):
        test_data_for(tmp_path / "one_class.pth")


def test_comparison_by_class_name_with_models_that_order_or_count_classes_differently(smoke_model, tmp_path):
    import torch

    from helpers.evaluation import compare_models, discover_models
    from helpers.inference import load_predictor, predict_video

    state = torch.load(smoke_model.checkpoint, weights_only=True)
    names = list(state["class_names"])
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(smoke_model.checkpoint, models / "moe_split1_best.pth")
    torch.save(with_classes(state, [1, 0], names[::-1]), models / "multimodal_split1_best.pth")
    torch.save(with_classes(state, [0], names[:1]), models / "moe_one_class_best.pth")
    videos = smoke_model.avi.parents[1]
    samples = [(str(p), p.parent.name) for p in sorted(videos.glob("*/*.avi"))]
    predictor = load_predictor(smoke_model.checkpoint)
    expected = sum(predict_video(p, model=predictor, top_k=1, keep_frames=False).label == c for p, c in samples)

    df = compare_models(discover_models(models), samples)
    assert df.loc["moe_split1_best", "top1"] == pytest.approx(expected / len(samples))
    assert df.loc["multimodal_split1_best", "top1"] == df.loc["moe_split1_best", "top1"]
    assert df.loc["moe_one_class_best", "videos"] == len(samples)
    assert "classes differ from the data's" in df.loc["moe_one_class_best", "note"] and names[1] in \
        df.loc["moe_one_class_best", "note"]
    assert not df.loc["moe_split1_best", "note"]

    labelled = [(p, names.index(c)) for p, c in samples]  # labels into the data's list work the same
    again = compare_models(discover_models(models), labelled, class_names=names)
    assert again.loc["multimodal_split1_best", "top1"] == df.loc["multimodal_split1_best", "top1"]

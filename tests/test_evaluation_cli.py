"""`python -m helpers evaluate`: notebook 07's figures from a shell."""
from __future__ import annotations

import json
import shutil


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
    assert video["num_videos"] == 4 and video["views_per_video"] == "2 clips x 1 crops"
    assert [row["model"] for row in out["comparison"]] == ["moe_split1_best"]
    assert (models / "evaluation" / "model_comparison.csv").is_file()


def test_evaluate_cli_without_a_checkpoint_says_which_notebook(tmp_path, monkeypatch, capsys):
    from helpers.evaluation.cli import main

    monkeypatch.setenv("HELPERS_MODELS_DIR", str(tmp_path))
    assert main(["--no-compare"]) == 1
    assert "04_training" in capsys.readouterr().err

"""The multi-modal model's deployable dynamic-int8 file: written from a training
checkpoint (function and CLI), reopened by load_predictor, and predicting generated clips
with sound like the float model: the same top-1, probabilities and sync scores within a
small tolerance, captions made of vocabulary words, at a third of the float file's size."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers.compression.deploy import save_fp32_deployable
from helpers.compression.dynamic import DYNAMIC_FORMAT, KIND, write_dynamic_int8
from helpers.inference import InferenceError, load_predictor, predict_video
from training_data import make_kinetics, tiny_config

pytestmark = pytest.mark.slow  # one epoch of training and 36 predictions


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A multi-modal smoke model trained one epoch on 3 generated classes with sound:
    (checkpoint, clips folder, annotations)."""
    from helpers.training import Trainer, load_checkpoint
    from helpers.training.experiment import build_experiment

    base = tmp_path_factory.mktemp("mm_compressed")
    root = make_kinetics(base)
    cfg = tiny_config("multimodal", epochs=1, scheduler="constant")
    exp = build_experiment(cfg, root)
    trainer = Trainer(exp.model, cfg, exp.train_loader, exp.val_loader, run_dir=base / "run", device="cpu",
                      class_names=exp.class_names, model_config=exp.model_config)
    trainer.fit()
    assert load_checkpoint(trainer.best_path)["model_name"] == "multimodal"
    return trainer.best_path, root, json.loads((root / "annotations.json").read_text())


@pytest.fixture(scope="module")
def written(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("mm_int8")
    return write_dynamic_int8(trained[0], out)


@pytest.fixture(scope="module")
def pairs(trained, written):
    """(float prediction, int8 prediction) for every generated clip."""
    checkpoint, root, clips = trained
    fp, q = load_predictor(checkpoint), load_predictor(written["path"])
    return [(predict_video(root / c["video_path"], fp, keep_frames=False),
             predict_video(root / c["video_path"], q, keep_frames=False)) for c in clips]


def test_the_file_reopens_with_its_class_names_and_input_shape(trained, written):
    import torch

    fp, q = load_predictor(trained[0]), load_predictor(written["path"])
    state = torch.load(written["path"], map_location="cpu", weights_only=True)
    assert state["format"] == DYNAMIC_FORMAT and state["model_name"] == "multimodal"
    assert q.is_multimodal and q.class_names == fp.class_names
    assert (q.num_frames, q.resize, q.crop) == (fp.num_frames, fp.resize, fp.crop)
    assert q.extra["kind"] == KIND and q.extra["file_format"] == "dynamic_int8" and q.device == "cpu"
    assert load_predictor(written["path"], runtime="onnxruntime").runtime == "torch"


def test_the_file_is_over_three_times_smaller_than_the_float_weights(trained, written, tmp_path):
    """Measured on this smoke config: 4.43 MB of float weights, 1.34 MB of file (3.3×)."""
    from helpers.training.load import load_trained

    model, state = load_trained(trained[0])
    fp32 = save_fp32_deployable(model, tmp_path / "mm_fp32.pt", state["config"], state["class_names"],
                                "multimodal")
    ratio = fp32.stat().st_size / written["compressed_size_mb"] / 1e6
    assert ratio > 3.0
    assert written["size_ratio"] > 3.0


def test_int8_agrees_with_float_on_every_clip(pairs):
    """Top-1 on all 18 clips; probabilities within 0.02 (measured at most 0.007) and sync
    scores within 0.01 (measured at most 0.002)."""
    assert len(pairs) == 18
    assert [q.label for _, q in pairs] == [f.label for f, _ in pairs]
    assert max(float(np.abs(f.probabilities - q.probabilities).max()) for f, q in pairs) < 0.02
    assert max(abs(f.sync_score - q.sync_score) for f, q in pairs) < 0.01


def test_int8_captions_are_vocabulary_sentences(pairs, trained):
    """Every caption uses vocabulary words only, and most words are the float model's in
    the same place. After one epoch many next-word choices are close calls that int8
    rounding can flip (a flipped colour word changes the whole caption), so whole captions
    agree less often: measured 8 of 18 identical and 87 % of the words in place."""
    vocab = set(load_predictor(trained[0]).model.tokenizer.itos)
    captions = [q.caption for _, q in pairs]
    assert all(isinstance(c, str) and set(c.split()) <= vocab for c in captions)
    assert sum(bool(c) for c in captions) >= 15
    same_words = [sum(a == b for a, b in zip(f.caption.split(), q.caption.split())) / max(len(f.caption.split()), 1)
                  for f, q in pairs]
    assert sum(same_words) / len(same_words) >= 0.75
    assert sum(q.caption == f.caption for f, q in pairs) >= 6


def test_cli_writes_the_file_of_a_multimodal_checkpoint(trained, tmp_path, capsys):
    from helpers.compression.cli import main

    assert main(["--checkpoint", str(trained[0]), "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["path"] == str(tmp_path / "multimodal_int8_dynamic.pt") and out["size_ratio"] > 3.0
    assert load_predictor(out["path"]).extra["kind"] == KIND


def test_a_truncated_file_is_called_damaged(written, tmp_path):
    data = open(written["path"], "rb").read()
    bad = tmp_path / "multimodal_int8_dynamic.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InferenceError, match="damaged"):
        load_predictor(bad)


def test_the_log_mel_is_computed_only_for_models_that_read_it(trained):
    from types import SimpleNamespace

    from helpers.inference.predict import reads_mel

    model = load_predictor(trained[0]).model
    assert model.config.audio == "wav2vec2" and not reads_mel(model)
    assert reads_mel(SimpleNamespace(config=SimpleNamespace(audio="logmel")))
    assert reads_mel(object())  # a model that says nothing gets both inputs
    assert not reads_mel(SimpleNamespace(config=SimpleNamespace(audio="none")))  # no audio encoder


def test_the_cli_distils_a_student_file_that_answers_like_a_multimodal_model(trained, tmp_path, capsys):
    from helpers.compression.cli import main
    from helpers.compression.multimodal_student import STUDENT_FILE

    checkpoint, root, clips = trained
    assert main(["--checkpoint", str(checkpoint), "--out", str(tmp_path), "--data", str(root), "--student",
                 "--student-epochs", "1"]) == 0
    int8, got = (json.loads(line) for line in capsys.readouterr().out.strip().splitlines())
    assert Path(int8["path"]).is_file()  # the teacher's own int8 file comes first
    assert got["path"] == str(tmp_path / STUDENT_FILE) and got["epochs"] == 1
    assert 0.0 <= got["student_accuracy"] <= 1.0 and 0.0 <= got["teacher_accuracy"] <= 1.0
    teacher, student = load_predictor(checkpoint), load_predictor(got["path"])
    assert student.is_multimodal and student.class_names == teacher.class_names
    assert (student.num_frames, student.resize, student.crop) == (teacher.num_frames, teacher.resize, teacher.crop)
    cfg = student.model.config
    assert (cfg.audio, cfg.vision, cfg.vision_norm) == ("logmel", "mobilenet_v3_small", "group")
    assert cfg.dim <= teacher.model.config.dim and cfg.caption_vocab == teacher.model.config.caption_vocab
    answer = predict_video(root / clips[0]["video_path"], student, keep_frames=False)
    assert answer.label in teacher.class_names and answer.sync_score is not None
    vocab = set(cfg.caption_vocab)
    assert answer.caption and set(answer.caption.split()) <= vocab


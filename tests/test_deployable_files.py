"""Every file notebook 06 writes opens through the one loader (load_predictor) with the
class names and input shape it carries, and predicts a generated clip; damaged files
still say so, and valid files written without the metadata say what they lack."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers.compression.deploy import deploy_meta, save_fp32_deployable
from helpers.compression.export import export_onnx, export_torchscript
from helpers.compression.pruning import save_pruned, structured_prune
from helpers.compression.quantization import quantize_fx, quantize_onnx_static, save_quantized
from helpers.inference import InferenceError, MissingMetadataError, load_predictor, predict_video


@pytest.fixture(scope="module")
def teacher(smoke_model):
    from helpers.training import TrainConfig, load_checkpoint
    from helpers.training.experiment import model_from_checkpoint

    state = load_checkpoint(smoke_model.checkpoint)
    cfg = TrainConfig.from_dict(state["config"])
    return model_from_checkpoint(state).eval(), cfg, list(state["class_names"])


@pytest.fixture(scope="module")
def files(teacher, smoke_model, tmp_path_factory):
    """Each kind of file notebook 06 writes, with its metadata (names as the notebook's)."""
    from helpers.compression.distillation import create_fast_student
    from helpers.training import load_checkpoint

    model, cfg, classes = teacher
    data = load_checkpoint(smoke_model.checkpoint)["data"]
    out = tmp_path_factory.mktemp("compressed")
    gen = torch.Generator().manual_seed(0)
    calib = [torch.randn(4, 3, cfg.num_frames, cfg.crop, cfg.crop, generator=gen) for _ in range(2)]
    example = calib[0][:1]

    def meta(kind: str, name: str = "moe") -> dict:
        return deploy_meta(cfg, classes, name, kind=kind, data=data)

    torch.manual_seed(0)
    pruned, _ = structured_prune(model, 0.5, example)
    written = {
        "fp32": save_fp32_deployable(model, out / "moe_fp32.pt", cfg, classes, "moe", meta=meta("fp32")),
        "fp32_onnx": export_onnx(model, out / "moe_fp32.onnx", example, meta=meta("fp32")),
        "int8": save_quantized(quantize_fx(model, calib), out / "moe_int8.pt", example, meta=meta("int8")),
        "pruned": save_pruned(pruned, out / "moe_pruned50.pth", meta=meta("pruned")),
        "student": export_torchscript(create_fast_student(len(classes)), out / "student_fast_kd.pt", example,
                                      meta=meta("student", "student_fast_kd")),
    }
    written["int8_onnx"] = quantize_onnx_static(written["fp32_onnx"], out / "moe_int8.onnx", calib,
                                                meta=meta("int8"))
    return written


@pytest.mark.parametrize("kind", ["fp32", "fp32_onnx", "int8", "int8_onnx", "pruned", "student"])
def test_each_file_predicts_with_its_own_class_names(kind, files, teacher, smoke_model):
    _, cfg, classes = teacher
    p = load_predictor(files[kind])
    assert p.class_names == classes
    assert (p.num_frames, p.crop, p.resize) == (cfg.num_frames, cfg.crop, tuple(cfg.resize))
    assert p.runtime == ("onnxruntime" if kind.endswith("onnx") else "torch")
    assert p.extra["kind"] == kind.removesuffix("_onnx")
    r = predict_video(smoke_model.avi, model=p, top_k=2)
    assert r.top[0][0] in classes
    assert sum(prob for _, prob in r.top) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("kind", ["fp32", "fp32_onnx"])
def test_fp32_files_agree_with_the_training_checkpoint(kind, files, smoke_model):
    want = predict_video(smoke_model.avi, model=load_predictor(smoke_model.checkpoint), top_k=2)
    got = predict_video(smoke_model.avi, model=load_predictor(files[kind]), top_k=2)
    assert got.top[0][0] == want.top[0][0]
    assert got.top[0][1] == pytest.approx(want.top[0][1], abs=1e-4)


def test_the_format_comes_from_the_file_not_its_name(files, tmp_path, teacher):
    renamed = tmp_path / "model.pth"
    renamed.write_bytes(files["int8_onnx"].read_bytes())
    p = load_predictor(renamed)
    assert p.runtime == "onnxruntime" and p.class_names == teacher[2]


def test_runtime_requests_leave_compressed_files_on_their_own_runtime(files):
    onnx = load_predictor(files["int8_onnx"], runtime="torch")
    assert onnx.runtime == "onnxruntime"
    script = load_predictor(files["int8"], runtime="onnxruntime")
    assert script.runtime == "torch" and "runs as written" in script.runtime_note


def test_cli_predicts_from_an_int8_file(files, smoke_model, capsys):
    from helpers.inference.cli import main

    assert main([str(smoke_model.avi), "--checkpoint", str(files["int8"]), "--json", "--top-k", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["label"] in smoke_model.class_names


@pytest.mark.parametrize("kind", ["fp32", "fp32_onnx", "int8", "pruned"])
def test_a_truncated_file_is_still_called_damaged(kind, files, tmp_path):
    data = files[kind].read_bytes()
    bad = tmp_path / files[kind].name
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InferenceError) as err:
        load_predictor(bad)
    assert not isinstance(err.value, MissingMetadataError)
    assert "damaged" in err.value.reason


def _without_meta(kind: str, teacher, path):
    model, cfg, _ = teacher
    example = torch.randn(1, 3, cfg.num_frames, cfg.crop, cfg.crop)
    if kind == "state_dict":  # what moe_fp32.pt used to be
        torch.save(model.state_dict(), path)
    elif kind == "torchscript":
        export_torchscript(model, path, example)
    elif kind == "onnx":
        export_onnx(model, path, example)
    else:
        save_pruned(structured_prune(model, 0.5, example)[0], path)
    return path


@pytest.mark.parametrize("kind,name", [("state_dict", "moe_fp32.pt"), ("torchscript", "student_frame_kd.pt"),
                                       ("onnx", "moe_int8.onnx"), ("pruned", "moe_pruned50.pth")])
def test_a_file_without_metadata_says_what_it_lacks(kind, name, teacher, tmp_path):
    path = _without_meta(kind, teacher, tmp_path / name)
    with pytest.raises(MissingMetadataError) as err:
        load_predictor(path)
    reason = err.value.reason
    assert "class names" in reason and "compress" in reason
    assert "delete" not in reason and "damaged" not in reason


def test_runtime_module_does_not_import_the_loader():
    code = ("import sys, helpers.inference.runtime; "
            "print('helpers.inference.predictor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_service_worker_serves_an_int8_onnx_file(files, smoke_model):
    from helpers.serving.worker import ModelWorker

    worker = ModelWorker(files["int8_onnx"], "cpu", runtime="auto", rl_sampler=None)
    out = worker.predict(smoke_model.avi, "clip.avi", top_k=2, runtime=None, sampler="uniform")
    assert out["runtime"] == "onnxruntime" and out["label"] in smoke_model.class_names


def test_evaluation_discovers_every_compressed_file(files, smoke_model, teacher, tmp_path):
    import shutil

    from helpers.evaluation import compare_models, discover_models

    shutil.copy(smoke_model.checkpoint, tmp_path / "moe_split1_best.pth")
    compressed = tmp_path / "compressed"
    compressed.mkdir()
    for path in files.values():
        shutil.copy(path, compressed / path.name)
    _without_meta("torchscript", teacher, compressed / "student_frame_kd.pt")  # an older file: borrows
    _without_meta("state_dict", teacher, compressed / "moe_unstructured50.pt")  # cannot be rebuilt
    entries = {e.name: e for e in discover_models(tmp_path)}
    assert len(entries) == len(files) + 3
    skipped = {name for name, e in entries.items() if e.predictor is None}
    assert skipped == {"moe_unstructured50"}
    assert "state_dict" in entries["moe_unstructured50"].skipped
    assert {"moe_int8.pt", "moe_int8.onnx", "moe_fp32.pt", "moe_fp32.onnx"} <= set(entries)
    assert entries["student_frame_kd"].notes and entries["moe_int8.pt"].notes == []
    assert all(e.predictor.class_names == teacher[2] for e in entries.values() if e.predictor is not None)
    df = compare_models(list(entries.values()), [(smoke_model.avi, smoke_model.best_class)])
    assert df.loc["moe_fp32.pt", "top1"] == df.loc["moe_split1_best", "top1"] == 1.0
    assert df["videos"].drop("moe_unstructured50").eq(1).all()


@pytest.mark.parametrize("kind", ["int8", "fp32"])
def test_evaluate_cli_scores_a_compressed_file_on_its_teachers_data(kind, files, smoke_model, capsys):
    from helpers.evaluation.cli import main

    argv = ["--checkpoint", str(files[kind]), "--clips", "1", "--max-videos", "2", "--latency-runs", "1",
            "--no-compare", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["video_level"]["num_videos"] == 2
    assert out["data"] == str(smoke_model.avi.parents[1])
    clip = out["clip_level"]  # TorchScript int8 and ONNX files are measured clip by clip too
    assert "skipped" not in clip and clip["num_samples"] > 0 and 0.0 <= clip["top1"] <= clip["top5"] <= 1.0


@pytest.mark.parametrize("kind", ["fp32", "fp32_onnx", "int8", "int8_onnx", "pruned", "student"])
def test_clip_level_metrics_measure_every_file(kind, files, teacher):
    """Evaluation's clip-level pass runs on what load_predictor opens from each file; the
    fp32 files score exactly what the trained model scores."""
    from helpers.evaluation import evaluate_model_comprehensive

    model, cfg, classes = teacher
    gen = torch.Generator().manual_seed(1)
    batches = [{"video": torch.randn(3, 3, cfg.num_frames, cfg.crop, cfg.crop, generator=gen),
                "label": torch.tensor([0, 1, 2])} for _ in range(2)]
    p = load_predictor(files[kind])
    result = evaluate_model_comprehensive(p.model, batches, "cpu", class_names=classes, latency_runs=1, warmup=0)
    row = result.summary()
    assert result.scores.shape == (6, len(classes)) and row["num_samples"] == 6
    assert 0.0 <= row["top1"] <= row["top5"] <= 1.0 and row["latency_median_ms"] > 0
    assert (row["params"] is None) == kind.endswith("onnx")
    if kind.startswith("fp32"):
        reference = evaluate_model_comprehensive(model, batches, "cpu", latency_runs=0, flops=False)
        np.testing.assert_allclose(result.scores, reference.scores, atol=1e-4)


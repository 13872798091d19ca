"""Where the multi-modal model stands against the video-only MoE, measured on the same
generated clips: what ``benchmarks/multimodal.py`` runs.

One call of :func:`run_benchmark` per seed: the Kinetics-layout clips (all generated
classes, with sound and captions; the package's train/val/test split) are decoded once;
the multi-modal model and the MoE are trained on the same loaders for the same epochs
by the package's :class:`~helpers.training.Trainer` and measured with the weights the
budget ends with (a cosine learning-rate schedule, as the notebooks train, and no
selection on validation: the epoch of best validation accuracy selects for the classifier
alone, and for a model with a caption decoder that is an epoch where the decoder is still
learning); then on the test clips:

* accuracy of the multi-modal model with its audio and with the audio muted
  (:func:`~helpers.evaluation.multimodal.muted`), and of the MoE; also the share of
  answers in the right motion family (the tone names the family, the picture the
  direction within it);
* BLEU-4/CIDEr of the model's captions (beam search of 3; greedy beside it) and of two baselines
  (:func:`~helpers.evaluation.multimodal.caption_comparison`) against the same references;
* the sync head's ROC AUC on aligned vs time-shifted audio
  (:func:`~helpers.evaluation.multimodal.evaluate_multimodal`);
* optionally (:func:`compressed_figures`) the float model and its dynamic-int8 copy
  (:mod:`helpers.compression.dynamic`) as deployable files, reopened by ``load_predictor``:
  their sizes, their ``predict_video`` accuracy on the test clips, and ``predict_video``
  end to end on a generated 10-s clip with sound; the full-size model built offline
  (:func:`full_size_figures`, no training): its file sizes and the int8 file's
  ``predict_video`` time on the same clip; and its student (:func:`student_figures`:
  ``MultiModalConfig.student`` distilled from the trained model): its accuracy, captions
  and int8 file, and that file's time on the same clip at the full-size inputs.

Why the MoE is trained here on the Kinetics-layout loaders and not through
``load_or_train``: that path reads the MoE's data in the HMDB51 layout, whose split
differs; here both models see exactly the same training, validation and test clips.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.evaluation.multimodal import multimodal_outputs

# all 12 generated classes; short clips with the event filling most of them, so that
# 8 frames catch it (the learning tests' clip settings)
BENCH_DATA: dict[str, Any] = dict(classes=12, clips_per_class=20, seconds=1.6, fps=10, size=(80, 60),
                                  event_fraction=(0.6, 0.8))


def benchmark_data(root: Path, seed: int = 0, **overrides: Any) -> Path:
    """Generate (once; reused when its annotations exist) the Kinetics-layout clips of
    :data:`BENCH_DATA` (with ``overrides``) under ``root``; returns the folder."""
    from helpers.synth import SynthConfig, generate

    values = {**BENCH_DATA, **overrides, "seed": seed}
    tag = f"{values['classes']}c{values['clips_per_class']}_seed{seed}"
    out = Path(root) / f"multimodal_benchmark_{tag}"
    if not (out / "annotations.json").is_file():
        generate("kinetics", out, SynthConfig.smoke(**values), progress=False)
    return out


def heldout_loader(train_loader: Any, val_loader: Any, data_dir: Path, num_frames: int, batch_size: int) -> Any:
    """The ``test`` split's loader, decoded like the validation split (same transform,
    the training side's fixed audio length)."""
    from helpers.datasets import KineticsStyle, make_loader
    from helpers.training.experiment import find_annotations

    train, val = train_loader.dataset, val_loader.dataset
    test = KineticsStyle(data_dir, find_annotations(data_dir), split="test", train=False, num_frames=num_frames,
                         sampler="uniform", transform=val.transform, index_cache=False,
                         audio_seconds=train.audio_seconds)
    return make_loader(test, batch_size, train=False, num_workers=0)


def _fit(model: nn.Module, config: Any, train_loader: Any, val_loader: Any, run_dir: Path,
         classes: list[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Train with the package's trainer; the final weights, and a summary (with the best
    validation epoch, for reference)."""
    from helpers.training import Trainer
    from helpers.training.experiment import built_model_config

    trainer = Trainer(model, config, train_loader, val_loader, run_dir=run_dir, class_names=classes,
                      model_config=built_model_config(model), device="cpu")
    started = time.perf_counter()
    result = trainer.fit()
    keep = ("epoch", "train_loss", "train_acc", "val_acc", "val_sync_acc")
    return model.eval(), {"train_s": round(time.perf_counter() - started, 1),
                         "best_val_acc": round(result.best_val_acc, 4), "best_epoch": result.best_epoch,
                         "history": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()
                                      if k in keep} for r in result.history]}


def _accuracy(labels: np.ndarray, logits: np.ndarray) -> float:
    from helpers.evaluation.metrics import topk_accuracy

    return topk_accuracy(logits, labels, 1)


def _family_accuracy(labels: np.ndarray, logits: np.ndarray, classes: list[str]) -> float:
    """Share of answers in the true class's motion family."""
    from helpers.synth.config import CLASS_FAMILY

    fam = [CLASS_FAMILY.get(c, c) for c in classes]
    return float(np.mean([fam[p] == fam[t] for p, t in zip(logits.argmax(1), labels)]))


def _moe_accuracy(model: nn.Module, loader: Any, classes: list[str]) -> tuple[float, float]:
    from helpers.evaluation.metrics import collect_predictions

    got = collect_predictions(model, loader, max_thumbnails=0)
    return _accuracy(got.labels, got.scores), _family_accuracy(got.labels, got.scores, classes)


def long_clip(folder: Path, seconds: float = 10.0, size: tuple[int, int] = (320, 240)) -> Path:
    """A generated 25 fps MP4 of ``seconds`` with its sound track (h264 + AAC)."""
    from helpers.synth import SynthConfig, render_clip
    from helpers.synth.encode import write_video

    cfg = SynthConfig.smoke(seconds=seconds, fps=25, size=size)
    clip = render_clip("move_left", cfg, seed=0, audio=True)
    return write_video(Path(folder) / "clip_with_sound.mp4", clip.frames, clip.fps, audio=clip.audio,
                       sample_rate=cfg.sample_rate)


def _median_ms(runs: list[Any], part: str) -> float:
    """Median of ``part`` (``total_ms``, ``decode_ms``…) over ``predict_video`` results, 0.1 ms."""
    import statistics

    return round(statistics.median(getattr(r, part) for r in runs), 1)


def compressed_files(model: nn.Module, config: Any, classes: list[str], folder: Path) -> dict[str, Path]:
    """The float model as a deployable fp32 file and as its dynamic-int8 file
    (:func:`helpers.compression.dynamic.save_dynamic_int8`), both under ``folder``."""
    from helpers.compression.deploy import deploy_meta, save_fp32_deployable
    from helpers.compression.dynamic import KIND, save_dynamic_int8

    folder = Path(folder)
    meta = deploy_meta(config, classes, "multimodal", kind=KIND)
    return {"float": save_fp32_deployable(model, folder / "multimodal_fp32.pt", config, classes, "multimodal"),
            "int8": save_dynamic_int8(model, folder / "multimodal_int8_dynamic.pt", meta=meta)}


def file_accuracy(predictor: Any, test: Any) -> tuple[float, np.ndarray]:
    """Top-1 accuracy of ``predict_video`` over the test dataset's clip files, and the
    predicted class indices in dataset order."""
    from helpers.inference import predict_video

    samples = test.dataset.samples
    picked = np.array([predictor.class_names.index(predict_video(s.path, predictor, keep_frames=False).label)
                       for s in samples])
    return float(np.mean(picked == np.array([s.label for s in samples]))), picked


def full_input_figures(model: nn.Module, classes: list[str], folder: Path, clip: Path | None, prefix: str,
                       repeats: int = 3) -> dict[str, float]:
    """``model`` as a deployable fp32 file and as its dynamic-int8 file for the full-size
    inputs (``TrainConfig.full``'s frames: 16 of 112 px, and the sound): their sizes (MB;
    ``<prefix>_float_size_mb``, ``<prefix>_compressed_size_mb``) and, given ``clip``, the int8
    file's median ``predict_video`` time over ``repeats`` runs after a warm-up
    (``<prefix>_compressed_predict_ms``, decode included, with its ``_decode_ms`` /
    ``_model_ms`` parts). A time, not an accuracy: the weights need not have been trained
    on inputs of that size."""
    from helpers.inference import load_predictor, predict_video
    from helpers.training import TrainConfig

    files = compressed_files(model, TrainConfig.full("multimodal"), classes, Path(folder) / prefix)
    figures = {f"{prefix}_float_size_mb": round(files["float"].stat().st_size / 1e6, 3),
               f"{prefix}_compressed_size_mb": round(files["int8"].stat().st_size / 1e6, 3)}
    if clip is not None:
        predictor = load_predictor(files["int8"])
        runs = [predict_video(clip, predictor, keep_frames=False) for _ in range(repeats + 1)][1:]
        for part in ("total", "decode", "model"):
            name = "predict" if part == "total" else part
            figures[f"{prefix}_compressed_{name}_ms"] = _median_ms(runs, f"{part}_ms")
    for path in files.values():
        path.unlink()
    return figures


def full_size_figures(classes: list[str], captions: list[str], folder: Path, clip: Path | None = None,
                      repeats: int = 3) -> dict[str, float]:
    """:func:`full_input_figures` (keys ``full_…``) of the full-size model
    (``MultiModalConfig.full`` built offline: random weights, nothing downloaded, the caption
    vocabulary of ``captions``): what a user's trained full-size file costs."""
    from helpers.models import MultiModalConfig, MultiModalVideoModel

    cfg = MultiModalConfig.full(len(classes), vision_pretrained=False, audio_pretrained=False,
                                caption_pretrained=False).with_captions(captions)
    return full_input_figures(MultiModalVideoModel(cfg).eval(), classes, folder, clip, "full", repeats)


def student_figures(teacher: nn.Module, train_loader: Any, val_loader: Any, test: Any, classes: list[str],
                    config: Any, run_dir: Path, seed: int, *, alpha: float = 0.5,
                    teacher_file_accuracy: float | None = None, clip: Path | None = None,
                    repeats: int = 7) -> dict[str, Any]:
    """The student architecture (``MultiModalConfig.student``; GroupNorm in its randomly
    initialised frame encoder, as the smoke model) distilled from the trained ``teacher``
    on the same loaders with the same budget (``config``: epochs, LR, frames; ``alpha`` of
    the class loss from the teacher's scores at T = 4), then measured on ``test`` as the
    teacher is: accuracy with and without its audio, captions beside the baselines of
    its own features, and its dynamic-int8 file through ``predict_video`` (size, accuracy,
    and the drop from ``teacher_file_accuracy``, the teacher's float file's). Then the
    same trained weights as files for the full-size inputs (:func:`full_input_figures`,
    keys ``full_student_…``, median of ``repeats`` on ``clip``): the time a deployed
    student takes, with the caption a trained decoder writes (a random decoder's length is
    arbitrary). The frame encoder's GroupNorm costs at least what the pretrained student's
    BatchNorm does."""
    from helpers.compression.distillation import DistillationConfig, KnowledgeDistillation
    from helpers.datasets import make_loader
    from helpers.evaluation.multimodal import caption_comparison
    from helpers.inference import load_predictor
    from helpers.models import MultiModalConfig, MultiModalVideoModel

    torch.manual_seed(seed)
    train_loader.loader.generator.manual_seed(seed)
    cfg = MultiModalConfig.student(len(classes), vision_pretrained=False, vision_norm="group",
                                   caption_vocab=teacher.config.caption_vocab)
    started = time.perf_counter()
    kd = KnowledgeDistillation(teacher, MultiModalVideoModel(cfg),
                               DistillationConfig(alpha=alpha, temperature=4.0, epochs=config.epochs, lr=config.lr))
    student = kd.fit(train_loader, val_loader, run_dir=Path(run_dir) / f"student_seed{seed}", train_config=config)
    train_s = round(time.perf_counter() - started, 1)
    out = multimodal_outputs(student, test)
    ordered_train = make_loader(train_loader.dataset, train_loader.batch_size, train=False, num_workers=0)
    captions = caption_comparison(out, multimodal_outputs(student, ordered_train, muted_pass=False, captions=False),
                                  classes)
    acc, muted = _accuracy(out.labels, out.logits), _accuracy(out.labels, out.muted_logits)
    files = compressed_files(student, config, classes, Path(run_dir) / f"student_seed{seed}")
    file_acc, _ = file_accuracy(load_predictor(files["int8"]), test)
    figures = {"student_accuracy": round(acc, 4), "student_video_only_accuracy": round(muted, 4),
               "student_audio_gain": round(100 * (acc - muted), 2),
               "student_caption_cider": round(captions.figure("model", "cider"), 4),
               "student_caption_bleu4": round(captions.figure("model", "bleu4"), 4),
               "student_template_cider": round(captions.figure("template", "cider"), 4),
               "student_compressed_size_mb": round(files["int8"].stat().st_size / 1e6, 3),
               "student_compressed_file_accuracy": round(file_acc, 4), "student_train_s": train_s}
    if teacher_file_accuracy is not None:
        figures["student_accuracy_drop"] = round(100 * (teacher_file_accuracy - file_acc), 2)
    figures.update(full_input_figures(student, classes, Path(run_dir) / f"student_seed{seed}", clip, "full_student",
                                      repeats))
    return figures


def compressed_figures(model: nn.Module, test: Any, classes: list[str], config: Any, folder: Path, clip: Path,
                       repeats: int = 7) -> dict[str, Any]:
    """The float model and its dynamic-int8 copy as deployable files, each reopened with
    :func:`~helpers.inference.load_predictor` and measured through ``predict_video``: file
    sizes (MB), the int8 file's accuracy drop on ``test``'s clips (points) and top-1
    agreement with the float file, and the median end-to-end ``predict_video`` time (ms,
    decode included; float and int8 runs interleaved after one warm-up each) on ``clip``
    (:func:`long_clip`: 10 s with sound), with the int8 time's decode / preprocess / model parts."""
    from helpers.inference import load_predictor, predict_video

    files = compressed_files(model, config, classes, folder)
    predictors = {name: load_predictor(path) for name, path in files.items()}
    (float_acc, float_picks), (int8_acc, int8_picks) = (file_accuracy(predictors[n], test) for n in ("float", "int8"))
    runs: dict[str, list[Any]] = {name: [] for name in predictors}
    for p in predictors.values():
        predict_video(clip, p, keep_frames=False)
    for _ in range(repeats):
        for name, p in predictors.items():
            runs[name].append(predict_video(clip, p, keep_frames=False))

    return {"float_size_mb": round(files["float"].stat().st_size / 1e6, 3),
            "compressed_size_mb": round(files["int8"].stat().st_size / 1e6, 3),
            "float_file_accuracy": round(float_acc, 4), "compressed_file_accuracy": round(int8_acc, 4),
            "compressed_accuracy_drop": round(100 * (float_acc - int8_acc), 2),
            "compressed_agreement": round(float(np.mean(float_picks == int8_picks)), 4),
            "float_predict_ms": _median_ms(runs["float"], "total_ms"),
            "compressed_predict_ms": _median_ms(runs["int8"], "total_ms"),
            "compressed_decode_ms": _median_ms(runs["int8"], "decode_ms"),
            "compressed_preprocess_ms": _median_ms(runs["int8"], "preprocess_ms"),
            "compressed_model_ms": _median_ms(runs["int8"], "model_ms"),
            "compressed_caption": runs["int8"][-1].caption}


def run_benchmark(data_dir: Path, run_dir: Path, *, epochs: int = 24, seed: int = 0, batch_size: int = 8,
                  compression: bool = True, student: bool = True, log: Any = print,
                  frames: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train both models on ``data_dir`` and measure them (see the module docstring).
    ``frames``: overrides of the smoke presets' frame geometry for both models (``resize``,
    ``crop``). ``student`` (with ``compression``): also :func:`student_figures`. Returns the figures (fractions for accuracies; ``audio_gain`` in points),
    the caption attribute shares and notes."""
    from helpers.evaluation.multimodal import caption_comparison, caption_scores, evaluate_multimodal
    from helpers.datasets import make_loader
    from helpers.training import TrainConfig
    from helpers.training.experiment import build_loaders, build_model, model_config_for
    from helpers.training.seed import seed_everything

    common = dict(epochs=epochs, seed=seed, batch_size=batch_size, scheduler="cosine", num_workers=0, **(frames or {}))
    mm_cfg = TrainConfig.smoke("multimodal", **common)
    moe_cfg = TrainConfig.smoke("moe", **common)
    t0 = time.perf_counter()
    seed_everything(seed)
    train_loader, val_loader, classes, train_captions, data_dir, notes = build_loaders(mm_cfg, data_dir)
    test = heldout_loader(train_loader, val_loader, data_dir, mm_cfg.num_frames, batch_size)
    sizes = {"train_clips": len(train_loader.dataset), "val_clips": len(val_loader.dataset),
             "test_clips": len(test.dataset), "classes": len(classes)}
    log({"seed": seed, **sizes, "decode_s": round(time.perf_counter() - t0, 1)})

    torch.manual_seed(seed)
    mm = build_model("multimodal", model_config_for(mm_cfg, len(classes), train_captions))
    mm, mm_run = _fit(mm, mm_cfg, train_loader, val_loader, Path(run_dir) / f"multimodal_seed{seed}", classes)
    log({"seed": seed, "model": "multimodal", **mm_run})
    # the MoE starts from the shuffle order the multi-modal model started from, not from
    # where the multi-modal model's epochs left the loader's generator (the shuffle order
    # alone moves the MoE's test accuracy by several clips)
    train_loader.loader.generator.manual_seed(seed)
    torch.manual_seed(seed)
    moe = build_model("moe", model_config_for(moe_cfg, len(classes)))
    moe, moe_run = _fit(moe, moe_cfg, train_loader, val_loader, Path(run_dir) / f"moe_seed{seed}", classes)
    log({"seed": seed, "model": "moe", **moe_run})

    t1 = time.perf_counter()
    out = multimodal_outputs(mm, test)
    ordered_train = make_loader(train_loader.dataset, batch_size, train=False, num_workers=0)
    train_out = multimodal_outputs(mm, ordered_train, muted_pass=False, captions=False)
    moe_acc, moe_family = _moe_accuracy(moe.eval(), test, classes)
    sync = evaluate_multimodal(mm, test, captions=False, sync=True, seed=seed)

    captions = caption_comparison(out, train_out, classes, examples=4)
    mm_acc, video_acc = _accuracy(out.labels, out.logits), _accuracy(out.labels, out.muted_logits)
    figures: dict[str, Any] = {
        "multimodal_accuracy": round(mm_acc, 4),
        "video_only_accuracy": round(video_acc, 4),
        "moe_accuracy": round(moe_acc, 4),
        "audio_gain": round(100 * (mm_acc - video_acc), 2),
        "multimodal_family_accuracy": round(_family_accuracy(out.labels, out.logits, classes), 4),
        "video_only_family_accuracy": round(_family_accuracy(out.labels, out.muted_logits, classes), 4),
        "moe_family_accuracy": round(moe_family, 4),
        "multimodal_train_accuracy": round(_accuracy(train_out.labels, train_out.logits), 4),
    }
    for name, source in (("caption", "model"), ("template", "template"), ("retrieval", "retrieval")):
        figures[f"{name}_bleu4"] = round(captions.figure(source, "bleu4"), 4)
        figures[f"{name}_cider"] = round(captions.figure(source, "cider"), 4)
    greedy = caption_scores([[r] for r in out.references], out.greedy_captions)
    figures["caption_greedy_bleu4"] = round(greedy["bleu4"], 4)
    figures["caption_greedy_cider"] = round(greedy["cider"], 4)
    figures["sync_auc"] = round(sync["sync_auc"], 4)
    figures["sync_accuracy"] = round(sync["sync_accuracy"], 4)
    figures["sync_pairs"] = sync["sync_pairs"]
    if compression:
        folder = Path(run_dir) / f"compressed_seed{seed}"
        clip = long_clip(folder)  # the 10-s clip with sound both timings read
        figures.update(compressed_figures(mm, test, classes, mm_cfg, folder, clip))
        figures.update(full_size_figures(classes, train_out.references, folder, clip))
        if student:
            with_student = student_figures(mm, train_loader, val_loader, test, classes, mm_cfg, Path(run_dir), seed,
                                           teacher_file_accuracy=figures["float_file_accuracy"], clip=clip)
            log({"seed": seed, "model": "student", **with_student})
            figures.update(with_student)
    attributes = None if captions.attributes is None else captions.attributes.round(4).to_dict("index")
    return {"seed": seed, **sizes, "figures": figures, "examples": captions.examples.to_dict("records"),
            "caption_attributes": attributes,
            "template": captions.template, "notes": notes,
            "runs": {"multimodal": mm_run, "moe": moe_run}, "evaluate_s": round(time.perf_counter() - t1, 1),
            "seed_s": round(time.perf_counter() - t0, 1)}

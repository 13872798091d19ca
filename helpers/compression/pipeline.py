"""Notebook 06's comparison as steps, each one technique on one shared
:class:`CompressionStudy`: :func:`prepare_study` (teacher, data, evaluation and
calibration clips) → :func:`add_fp32` → :func:`prune_and_recover` per ratio →
:func:`add_unstructured` → :func:`quantize_int8` (post-training; quantization-aware when
that loses more than a point) → :func:`add_onnx_int8` (the fallback runtime) →
:func:`quantize_pruned` → :func:`distil_student` with and without the teacher →
:func:`finish` (latency of every model interleaved on one clip, the table, the summary).
:func:`run_compression` composes them for ``python -m helpers compress`` and
``benchmarks/compression.py``.

Accuracy is measured on held-out freshly generated clips when the data is the generated
stand-in (:mod:`.evalset`, never trained on), else on the split's test side."""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from helpers.measure import count_parameters, file_size_mb
from helpers.settings import within_budget

from .measure import CompressionRow, fill_ratios, predict, top1_agreement

EVAL_BATCH = 8  # clips per evaluation batch, whichever set (the held-out generator's loader uses 8 too)


@dataclass
class CompressionSettings:
    prune_ratios: tuple[float, ...] = (0.3, 0.5, 0.7)
    unstructured_amount: float = 0.5
    finetune_epochs: int = 3
    finetune_from_teacher: bool = True  # pruned models recover by distillation from the unpruned model (+ mixup)
    student_epochs: int = 40  # "patient" distillation: the KD gain only shows after long schedules (see MotionStudent)
    student_scale: float = 0.5
    student_temperature: float = 4.0
    student_alpha: float = 0.9  # weight of the teacher's soft targets (with mixup: consistent teaching, see MotionStudent)
    frame_student_alpha: float = 0.9  # MobileNetV3 frame student
    student_mixup: float = 0.4  # mixup alpha for both arms of every student (0: off); see helpers.training.mixup
    scaled_student: bool = True  # also distil the teacher's own architecture at student_scale width
    max_train_batches: int | None = None
    # int8 calibration clips: PyTorch's and ONNX Runtime's guides calibrate on ~100 samples;
    # all training batches would hold a whole split's clips in memory at full size
    calibration_clips: int = 64
    latency_shape: tuple[int, int, int] = (16, 112, 112)  # (T, H, W) of the timed clip
    latency_repeats: int = 5
    teacher_epochs: int = 8
    teacher_preset: str | None = None  # the size trained when no checkpoint; None: the settings' size
    eval_clips_per_class: int = 33  # held-out generated clips (see .evalset); 0: the split's test side
    eval_dir: Path | None = None  # where they are generated; None: <synth_dir>/hmdb51_heldout
    qat_epochs: int = 2  # quantization-aware fine-tuning when post-training int8 loses > qat_threshold
    qat_threshold: float = 0.01
    pruned_int8_max_drop: float = 0.02  # pruned+int8 uses the most-pruned model within this of fp32
    onnx: bool = True  # also the ONNX Runtime rows (fp32 and QDQ int8, the fallback path)
    student_latency_goal_ms: float = 100.0
    log: Callable[[str], None] = print


@dataclass
class CompressionResult:
    rows: list[CompressionRow]
    summary: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


def load_teacher(checkpoint: str | Path | None, data: str | Path | None, epochs: int, models_dir: Path | None = None,
                 preset: str | None = None):
    """(teacher, TrainConfig, checkpoint path): from ``checkpoint`` when given, else
    notebook 04's model through :func:`helpers.training.load_or_train` (with
    ``models_dir`` its checkpoint and run folder both go there).

    ``preset`` (a size; default: the settings' size) is what is trained when no checkpoint
    exists: the smoke teacher (``epochs`` epochs) for smoke runs and benchmarks, else that
    size's preset — never a smaller model under the name of the real one."""
    from helpers.settings import get_settings
    from helpers.training import TrainConfig, load_checkpoint, load_or_train
    from helpers.training.load import load_trained

    if checkpoint is not None:
        model, state = load_trained(checkpoint)
        return model, TrainConfig.from_dict(state["config"]), Path(checkpoint)
    settings = get_settings()
    preset = preset or settings.size
    cfg = TrainConfig.for_size("moe", preset, **({"epochs": epochs} if preset == "smoke" else {}))
    if models_dir is not None:  # a self-contained teacher: its run folder beside it, never another run resumed
        settings = replace(settings, runs_dir=Path(models_dir) / "runs")
    res = load_or_train("moe", 1, config=cfg, data=data, models_dir=models_dir, settings=settings)
    if res.checkpoint.is_file():  # the loaders must match what the teacher was trained with
        cfg = TrainConfig.from_dict(load_checkpoint(res.checkpoint, mmap=True)["config"])
    return res.model.eval(), cfg, res.checkpoint


def calibration_clips(loader: Any, clips: int) -> list[torch.Tensor]:
    """Training batches (video tensors) until ``clips`` clips are held, at most the step
    budget's number of batches: int8 calibration needs a representative sample, not the
    whole training set in memory."""
    from helpers.settings import within_budget

    out: list[torch.Tensor] = []
    for batch in itertools.islice(loader, within_budget(None)):
        out.append(batch["video"])
        if sum(len(v) for v in out) >= clips:
            break
    return out


@dataclass
class Measured:
    """One compressed model in the study: how to run it, its file, and its predictions
    on the evaluation clips (latency comes last, every model timed together)."""

    run: Callable[[torch.Tensor], Any]
    path: Path
    params: int
    preds: torch.Tensor
    timed: Callable[[torch.Tensor], Any]  # what latency is measured on (int8: the reloaded file)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class CompressionStudy:
    """What the steps of notebook 06 share: the teacher and its data, the evaluation and
    calibration clips, where files go, and every model measured so far. Build it with
    :func:`prepare_study`; each step adds rows; :func:`finish` times them all."""

    settings: CompressionSettings
    out: Path
    teacher: nn.Module
    checkpoint: Path
    train_config: Any  # the loaders' TrainConfig (the teacher's)
    train_loader: Any
    test_loader: Any
    classes: list[str]
    eval_batches: list[dict[str, Any]]
    eval_name: str
    calib: list[torch.Tensor]
    data_dir: Path | None = None  # the teacher's data, recorded in every file written
    started: float = field(default_factory=time.perf_counter)
    measured: dict[str, Measured] = field(default_factory=dict)
    int8_name: str = "int8"  # the int8 model deployed: post-training, or QAT when it wins on validation

    @property
    def labels(self) -> torch.Tensor:
        return torch.cat([b["label"] for b in self.eval_batches])

    @property
    def example(self) -> torch.Tensor:
        """One training clip (1, C, T, H, W): what tracing, pruning and export run on."""
        return self.calib[0][:1]

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    def meta(self, kind: str, model_name: str = "moe") -> dict[str, Any]:
        """What a predictor needs from a written file besides the weights (class names,
        input shape, kind, training config and data): every file carries it, so
        ``load_predictor`` opens each of them."""
        from .deploy import deploy_meta

        return deploy_meta(self.train_config, self.classes, model_name, kind=kind, data=self.data_dir)

    def log(self, msg: str) -> None:
        self.settings.log(f"{msg} ({time.perf_counter() - self.started:.0f} s)")

    def add(self, name: str, run: Callable, path: Path, params: int, *, timed: Callable | None = None,
            **info: Any) -> float:
        """Register a model and return its accuracy on the evaluation clips."""
        preds = predict(run, self.eval_batches)[0]
        self.measured[name] = Measured(run, Path(path), params, preds, timed or run, info)
        return self.accuracy(name)

    def accuracy(self, name: str) -> float:
        return float((self.measured[name].preds == self.labels).float().mean())

    def table(self):
        """The models so far: accuracy, agreement with fp32, parameters, size on disk."""
        import pandas as pd

        ref = self.measured.get("fp32")
        return pd.DataFrame([{"model": k, "accuracy": self.accuracy(k),
                              "top1_agreement": top1_agreement(m.preds, ref.preds) if ref else float("nan"),
                              "params": m.params, "size_mb": round(file_size_mb(m.path), 3), **m.info}
                             for k, m in self.measured.items()]).set_index("model")

    def distillation_config(self, **changes: Any):
        """The students' recipe (temperature, alpha, epochs, mixup); fine-tunes reuse it."""
        from .distillation import DistillationConfig

        s = self.settings
        return replace(DistillationConfig(temperature=s.student_temperature, alpha=s.student_alpha,
                                          epochs=s.student_epochs, max_train_batches=s.max_train_batches,
                                          mixup_alpha=s.student_mixup), **changes)


def prepare_study(out_dir: str | Path, *, checkpoint: str | Path | None = None, data: str | Path | None = None,
                  settings: CompressionSettings | None = None, models_dir: Path | None = None) -> CompressionStudy:
    """The teacher (:func:`load_teacher`), its training and test loaders, the evaluation
    clips (held-out generated clips on the stand-in, else the split's test side) and the
    int8 calibration clips."""
    from helpers.settings import get_settings
    from helpers.training.experiment import build_loaders

    from .evalset import evaluation_loader

    s = settings or CompressionSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    teacher, tcfg, ckpt = load_teacher(checkpoint, data, s.teacher_epochs, models_dir, s.teacher_preset)
    loader_cfg = tcfg.with_(num_workers=0, clip_cache="memory", progress=False, batch_size=8) \
        if tcfg.model_preset == "smoke" else tcfg
    train_loader, test_loader, classes, _, data_dir, _ = build_loaders(loader_cfg, data)
    eval_batches = evaluation_loader(loader_cfg, list(classes), s.eval_dir or get_settings().synth_dir / "hmdb51_heldout",
                                     clips_per_class=s.eval_clips_per_class, data_dir=data_dir)
    eval_name = (f"held-out generated clips (seed {loader_cfg.seed}+offset, never trained on)"
                 if eval_batches is not None else "split test side")
    if eval_batches is None:
        eval_batches = rebatched(test_loader, EVAL_BATCH)
    study = CompressionStudy(s, out, teacher, ckpt, loader_cfg, train_loader, test_loader, list(classes),
                             eval_batches, eval_name, calibration_clips(train_loader, s.calibration_clips),
                             data_dir=data_dir, started=started)
    study.log(f"teacher {ckpt}; evaluation set: {len(study.labels)} clips, {eval_name}")
    return study


def rebatched(loader: Any, batch_size: int) -> list[dict[str, torch.Tensor]]:
    """``loader``'s clips (video, label) regrouped into batches of ``batch_size``, decoded
    once and kept; under a step budget at most that many of these batches."""
    limit = within_budget(None)
    batches: list[dict[str, torch.Tensor]] = []
    video, label = torch.empty(0), torch.empty(0, dtype=torch.long)
    for b in loader:
        video, label = torch.cat([video, b["video"]]) if len(video) else b["video"], torch.cat([label, b["label"]])
        while len(label) >= batch_size and (limit is None or len(batches) < limit):
            batches.append({"video": video[:batch_size].clone(), "label": label[:batch_size].clone()})
            video, label = video[batch_size:], label[batch_size:]
        if limit is not None and len(batches) >= limit:
            return batches
    if len(label):
        batches.append({"video": video, "label": label})
    return batches


def add_fp32(study: CompressionStudy) -> float:
    """The reference row: the teacher as trained (PyTorch eager), and with
    ``settings.onnx`` the same network exported to ONNX and run by ONNX Runtime (checked
    to agree with PyTorch first). Returns the fp32 accuracy."""
    from .deploy import save_fp32_deployable, to_deployable
    from .export import export_onnx, verify_export
    from .quantization import OnnxRunner

    path = save_fp32_deployable(study.teacher, study.out / "moe_fp32.pt", study.train_config, study.classes,
                                meta=study.meta("fp32"))
    n = count_parameters(study.teacher)
    acc = study.add("fp32", to_deployable(study.teacher), path, n, runtime="torch eager")
    if study.settings.onnx:
        onnx_path = export_onnx(study.teacher, study.out / "moe_fp32.onnx", study.example, meta=study.meta("fp32"))
        # two clips (not the example it was traced on) show the graph computes the same function
        verify_export(study.measured["fp32"].run, onnx_path, study.calib[0][:2], atol=1e-3)
        study.add("fp32_onnxruntime", OnnxRunner(onnx_path), onnx_path, n, runtime="onnxruntime")
    study.log(f"fp32 accuracy {acc:.1%}")
    return acc


def recover(study: CompressionStudy, model: nn.Module, name: str) -> nn.Module:
    """The recovery fine-tune of a pruned model: distilled from the unpruned teacher on
    the students' recipe (or, with ``finetune_from_teacher`` off, labels only). Why
    distillation: on its own training clips a pruned model re-fits them and drifts from
    the teacher (measured in benchmarks/RESULTS.md, compression)."""
    from .distillation import KnowledgeDistillation
    from .pruning import FINETUNE_LR, fine_tune

    s = study.settings
    if not s.finetune_from_teacher:
        return fine_tune(model, study.train_loader, None, epochs=s.finetune_epochs, run_dir=study.runs / name,
                         config=study.train_config, max_train_batches=s.max_train_batches)
    cfg = study.distillation_config(epochs=s.finetune_epochs, lr=FINETUNE_LR)
    return KnowledgeDistillation(study.teacher, model, cfg).fit(study.train_loader, run_dir=study.runs / name,
                                                               train_config=study.train_config)


def prune_and_recover(study: CompressionStudy, ratio: float) -> tuple[nn.Module, Any]:
    """Structured pruning at ``ratio`` (channels removed along torch-pruning's dependency
    graph), the recovery fine-tune, the file, the row. Returns (model, prune report)."""
    from .deploy import to_deployable
    from .pruning import save_pruned, structured_prune

    model, report = structured_prune(study.teacher, ratio, study.example)
    name = f"pruned{int(ratio * 100)}"
    model = recover(study, model, f"prune{ratio}")
    path = save_pruned(model, study.out / f"moe_{name}.pth", meta=study.meta(name))
    acc = study.add(name, to_deployable(model), path, report.params_after, runtime="torch eager",
                    macs_ratio=report.macs_after / report.macs_before)
    study.log(f"pruned {ratio:.0%}: {report.params_before / 1e6:.2f} M → {report.params_after / 1e6:.2f} M params, "
              f"accuracy {acc:.1%} after fine-tune")
    return model, report


def add_unstructured(study: CompressionStudy) -> float:
    """Magnitude pruning of single weights: smaller on disk only once compressed, no
    faster on dense kernels (the row shows it)."""
    from .deploy import save_fp32_deployable, to_deployable
    from .pruning import unstructured_prune

    amount = study.settings.unstructured_amount
    name = f"unstructured{int(amount * 100)}"
    model, sparsity = unstructured_prune(study.teacher, amount)
    path = save_fp32_deployable(model, study.out / f"moe_{name}.pt", study.train_config, study.classes,
                                meta=study.meta(name))
    return study.add(name, to_deployable(model), path, count_parameters(model),
                     runtime="torch eager", sparsity=sparsity)


def _int8_file(study: CompressionStudy, q: nn.Module, path: Path, kind: str) -> tuple[Path, Callable]:
    """Save, and reload for timing. Why a fresh copy: an int8 (x86 engine) model stays
    fastest for the input shape it first ran at, and the accuracy pass ran another; a
    deployed model serves one input shape, as the reloaded copy timed at only that shape
    does."""
    from .quantization import load_quantized, save_quantized

    saved = save_quantized(q, path, study.example, meta=study.meta(kind))
    return saved, load_quantized(saved)


def quantize_int8(study: CompressionStudy) -> str:
    """Post-training static int8 (FX graph mode, calibrated on ``calibration_clips``);
    when it loses more than ``qat_threshold`` also quantization-aware fine-tuning, kept
    only if it beats post-training int8 on the split's validation side (so the held-out
    evaluation clips never choose the model they score). Returns the deployed row's name."""
    from .quantization import quantize_fx, quantize_qat_fx

    s = study.settings
    n = count_parameters(study.teacher)
    fxq = quantize_fx(study.teacher, study.calib)
    path, timed = _int8_file(study, fxq, study.out / "moe_int8.pt", "int8")
    ptq = study.add("int8", fxq, path, n, timed=timed, runtime="torch FX int8 (x86)", method="ptq")
    study.log(f"int8 (post-training) accuracy {ptq:.1%}")
    study.int8_name = "int8"
    if s.qat_epochs > 0 and study.accuracy("fp32") - ptq > s.qat_threshold:
        qat = quantize_qat_fx(study.teacher, study.train_loader, epochs=s.qat_epochs, run_dir=study.runs / "qat",
                              train_config=study.train_config, max_train_batches=s.max_train_batches,
                              calibration_batches=len(study.calib))
        path, timed = _int8_file(study, qat, study.out / "moe_int8_qat.pt", "int8_qat")
        acc = study.add("int8_qat", qat, path, n, timed=timed, runtime="torch FX int8 (x86)", method="qat")
        val = rebatched(study.test_loader, EVAL_BATCH)
        val_acc = {k: float(torch.eq(*predict(study.measured[k].run, val)).float().mean()) for k in ("int8", "int8_qat")}
        study.int8_name = "int8_qat" if val_acc["int8_qat"] > val_acc["int8"] else "int8"
        for k in val_acc:
            study.measured[k].info["val_accuracy"] = val_acc[k]
        study.log(f"int8 QAT accuracy {acc:.1%}; validation PTQ {val_acc['int8']:.1%} vs QAT "
                  f"{val_acc['int8_qat']:.1%} → {study.int8_name}")
    return study.int8_name


def add_onnx_int8(study: CompressionStudy) -> float:
    """The fallback int8 path: ONNX Runtime's static QDQ quantization of the fp32 ONNX
    file (:func:`add_fp32` wrote it), calibrated on the same clips."""
    from .quantization import OnnxRunner, quantize_onnx_static

    path = quantize_onnx_static(study.measured["fp32_onnxruntime"].path, study.out / "moe_int8.onnx", study.calib,
                                meta=study.meta("int8"))
    return study.add("int8_onnxruntime", OnnxRunner(path), path, count_parameters(study.teacher),
                     runtime="onnxruntime QDQ")


def quantize_pruned(study: CompressionStudy, pruned: dict[float, nn.Module]) -> str:
    """Both techniques together: the most-pruned model still within
    ``pruned_int8_max_drop`` of fp32 (else the least pruned), quantized to int8."""
    from .quantization import quantize_fx

    fp32 = study.accuracy("fp32")
    drop = {r: fp32 - study.accuracy(f"pruned{int(r * 100)}") for r in pruned}
    ok = [r for r in pruned if drop[r] <= study.settings.pruned_int8_max_drop]
    ratio = max(ok) if ok else min(pruned)
    name = f"pruned{int(ratio * 100)}_int8"
    q = quantize_fx(pruned[ratio], study.calib)
    path, timed = _int8_file(study, q, study.out / f"moe_{name}.pt", name)
    study.add(name, q, path, count_parameters(pruned[ratio]), timed=timed, runtime="torch FX int8 (x86)")
    return name


STUDENTS = ("fast", "frame", "scaled")


def distil_student(study: CompressionStudy, kind: str, with_teacher: bool) -> float:
    """Train one student (``fast``: a small 3D CNN; ``frame``: MobileNetV3 per frame;
    ``scaled``: the teacher's own architecture at ``student_scale`` width) with the
    teacher's soft targets or on labels only: the same initial weights and batch order
    for both, so the difference is the distillation gain. Returns its accuracy."""
    from helpers.training.trainer import loader_generator

    from .deploy import to_deployable
    from .distillation import KnowledgeDistillation, create_fast_student, create_frame_student, \
        create_student_model, train_plain
    from .export import export_torchscript
    from .pruning import save_pruned

    s = study.settings
    builders: dict[str, Callable[[], nn.Module]] = {
        "fast": lambda: create_fast_student(len(study.classes)),
        "frame": lambda: create_frame_student(len(study.classes)),
        "scaled": lambda: create_student_model(study.teacher, s.student_scale, example=study.example)}
    if kind not in builders:
        raise ValueError(f"student must be one of {STUDENTS}, got {kind!r}")
    name = f"student_{kind}_{'kd' if with_teacher else 'nokd'}"
    torch.manual_seed(0)
    gen = loader_generator(study.train_loader)
    if gen is not None:
        gen.manual_seed(study.train_config.seed)
    student = builders[kind]()
    if with_teacher:
        alpha = s.frame_student_alpha if kind == "frame" else s.student_alpha
        student = KnowledgeDistillation(study.teacher, student, study.distillation_config(alpha=alpha)).fit(
            study.train_loader, run_dir=study.runs / name, train_config=study.train_config)
    else:
        student = train_plain(student, study.train_loader, run_dir=study.runs / name, epochs=s.student_epochs,
                              train_config=study.train_config, max_train_batches=s.max_train_batches,
                              mixup_alpha=s.student_mixup)
    if kind in ("frame", "fast"):
        path = export_torchscript(student, study.out / f"{name}.pt", study.example, meta=study.meta("student", name))
    else:
        path = save_pruned(student, study.out / f"{name}.pth", meta=study.meta("student", name))
    acc = study.add(name, to_deployable(student), path, count_parameters(student), runtime="torch eager")
    study.log(f"{name}: accuracy {acc:.1%}")
    return acc


def finish(study: CompressionStudy) -> CompressionResult:
    """Latency of every model, interleaved on one clip of ``latency_shape`` (so load from
    elsewhere hits all alike), the rows with their ratios against fp32, the summary, and
    ``compression_results.json`` beside the files."""
    from helpers.measure import measure_latency

    s = study.settings
    clip = torch.randn(1, 3, *s.latency_shape)
    stats = measure_latency({k: m.timed for k, m in study.measured.items()}, clip, warmup=1,
                            runs=s.latency_repeats, threads=2)
    ref = study.measured["fp32"].preds
    rows = [CompressionRow(k, accuracy=study.accuracy(k), top1_agreement=top1_agreement(m.preds, ref),
                           params=m.params, size_mb=round(file_size_mb(m.path), 3),
                           latency_ms=round(stats[k].median_ms, 2), extra=m.info)
            for k, m in study.measured.items()]
    fill_ratios(rows)
    summary = summarize(rows, study.int8_name, s.student_latency_goal_ms, eval_clips=len(study.labels),
                        eval_set=study.eval_name)
    (study.out / "compression_results.json").write_text(json.dumps(
        {"rows": [r.to_dict() for r in rows], "summary": summary}, indent=1, default=str))
    study.log("measured")
    return CompressionResult(rows, summary, {k: m.path for k, m in study.measured.items()})


def run_compression(out_dir: str | Path, *, checkpoint: str | Path | None = None, data: str | Path | None = None,
                    settings: CompressionSettings | None = None, models_dir: Path | None = None) -> CompressionResult:
    """Notebook 06's steps in one call (``python -m helpers compress``, the benchmark)."""
    study = prepare_study(out_dir, checkpoint=checkpoint, data=data, settings=settings, models_dir=models_dir)
    s = study.settings
    add_fp32(study)
    pruned = {ratio: prune_and_recover(study, ratio)[0] for ratio in s.prune_ratios}
    add_unstructured(study)
    quantize_int8(study)
    if s.onnx:
        add_onnx_int8(study)
    if pruned:
        quantize_pruned(study, pruned)
    for kind in STUDENTS if s.scaled_student else STUDENTS[:2]:
        for with_teacher in (False, True):
            distil_student(study, kind, with_teacher)
    return finish(study)


def summarize(rows: list[CompressionRow], int8_name: str = "int8", student_latency_goal_ms: float = 100.0,
              **info: Any) -> dict[str, Any]:
    """The benchmark's summary line from the rows (accuracies and drops as fractions).

    The student reported is the distilled one with the best accuracy among those under
    the latency goal (the fastest distilled one when none is); ``kd_gain`` compares it
    with the same student trained without the teacher."""
    by = {r.model: r for r in rows}
    fp = by["fp32"]
    q = by[int8_name]
    kd_rows = [r for r in rows if r.model.startswith("student_") and r.model.endswith("_kd")]
    fast = [r for r in kd_rows if r.latency_ms < student_latency_goal_ms]
    student = max(fast, key=lambda r: r.accuracy) if fast else min(kd_rows, key=lambda r: r.latency_ms)
    plain = by[student.model[:-len("_kd")] + "_nokd"]
    pq = next((r for r in rows if r.model.endswith("_int8") and r.model.startswith("pruned")), None)
    summary: dict[str, Any] = {
        "benchmark": "compression",
        "int8_speedup": round(q.speedup, 3),
        "int8_accuracy_drop": round(fp.accuracy - q.accuracy, 4),
        "int8_top1_agreement": round(q.top1_agreement, 4),
        "smallest_size_mb": round(min(r.size_mb for r in rows), 3),
        "student_latency_ms": student.latency_ms,
        "student_accuracy_drop": round(fp.accuracy - student.accuracy, 4),
        "kd_gain": round(student.accuracy - plain.accuracy, 4),
        "int8_model": q.model,
        "student": student.model,
        "teacher_accuracy": round(fp.accuracy, 4),
    }
    if "int8_qat" in by:
        summary["int8_qat_accuracy_drop"] = round(fp.accuracy - by["int8_qat"].accuracy, 4)
    if int8_name != "int8":
        summary["int8_ptq_accuracy_drop"] = round(fp.accuracy - by["int8"].accuracy, 4)
        summary["int8_ptq_top1_agreement"] = round(by["int8"].top1_agreement, 4)
    if "fp32_onnxruntime" in by:  # the fastest fp32 runtime here, for an honest second reference
        summary["int8_speedup_vs_fp32_onnxruntime"] = round(by["fp32_onnxruntime"].latency_ms / q.latency_ms, 3)
    if pq is not None:
        summary.update(pruned_int8_model=pq.model, pruned_int8_size_mb=pq.size_mb,
                       pruned_int8_accuracy_drop=round(fp.accuracy - pq.accuracy, 4))
    summary.update(info)
    return summary

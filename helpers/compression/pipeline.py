"""The whole notebook-06 comparison in one call, shared by ``benchmarks/compression.py``,
``python -m helpers compress`` and the notebook: teacher → structured pruning at several
ratios (+ fine-tune) → unstructured pruning → int8 (FX graph mode; quantization-aware
fine-tuning when post-training loses more than a point; ONNX Runtime QDQ as the
fallback) → pruned + int8 → students with and without distillation; then size,
latency (all models interleaved on one clip) and accuracy / top-1 agreement with fp32
of every model, and the files under ``out_dir``.

Accuracy is measured on a held-out set of freshly generated clips when the data is the
generated stand-in (:mod:`.evalset`: 180 clips instead of the split's 18, never trained
on), else on the split's test side."""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from helpers.settings import within_budget

from .measure import CompressionRow, count_parameters, file_size_mb, fill_ratios, median_latency_ms, predict, \
    top1_agreement


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
    teacher_preset: str | None = None  # trained when no checkpoint: "smoke"/"full"; None: the settings' size
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

    ``preset`` ("smoke"/"full"; default: the settings' size) is what is trained when no
    checkpoint exists: the smoke teacher (``epochs`` epochs) for smoke runs and
    benchmarks, the full preset otherwise — never a smoke model under the name of the
    real one."""
    from helpers.settings import get_settings
    from helpers.training import TrainConfig, load_checkpoint, load_or_train
    from helpers.training.experiment import model_from_checkpoint

    if checkpoint is not None:
        state = load_checkpoint(checkpoint, mmap=True)
        cfg = TrainConfig.from_dict(state["config"])
        return model_from_checkpoint(state), cfg, Path(checkpoint)
    settings = get_settings()
    preset = preset or ("smoke" if settings.smoke else "full")
    if preset not in ("smoke", "full"):
        raise ValueError(f"preset must be 'smoke' or 'full', got {preset!r}")
    cfg = TrainConfig.smoke("moe", epochs=epochs) if preset == "smoke" else TrainConfig.full("moe")
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


def run_compression(out_dir: str | Path, *, checkpoint: str | Path | None = None, data: str | Path | None = None,
                    settings: CompressionSettings | None = None, models_dir: Path | None = None) -> CompressionResult:
    from .deploy import to_deployable
    from .distillation import DistillationConfig, KnowledgeDistillation, create_fast_student, \
        create_frame_student, create_student_model, train_plain
    from .evalset import evaluation_loader
    from .export import export_onnx, export_torchscript, verify_export
    from .pruning import FINETUNE_LR, fine_tune, save_pruned, structured_prune, unstructured_prune
    from .quantization import OnnxRunner, load_quantized, quantize_fx, quantize_onnx_static, quantize_qat_fx, \
        save_quantized

    s = settings or CompressionSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = lambda msg: s.log(f"{msg} ({time.perf_counter() - t0:.0f} s)")  # noqa: E731
    teacher, tcfg, ckpt = load_teacher(checkpoint, data, s.teacher_epochs, models_dir, s.teacher_preset)
    log(f"teacher: {ckpt}")
    from helpers.training.experiment import build_loaders

    loader_cfg = tcfg.with_(num_workers=0, clip_cache="memory", progress=False, batch_size=8) \
        if tcfg.model_preset == "smoke" else tcfg
    train_loader, test_loader, classes, _, data_dir, _ = build_loaders(loader_cfg, data)
    from helpers.settings import get_settings

    eval_batches = evaluation_loader(loader_cfg, list(classes), s.eval_dir or get_settings().synth_dir / "hmdb51_heldout",
                                     clips_per_class=s.eval_clips_per_class, data_dir=data_dir)
    eval_name = (f"held-out generated clips (seed {loader_cfg.seed}+offset, never trained on)"
                 if eval_batches is not None else "split test side")
    if eval_batches is None:
        eval_batches = [{"video": b["video"], "label": b["label"]}
                        for b in itertools.islice(test_loader, within_budget(None))]
    labels = torch.cat([b["label"] for b in eval_batches])
    log(f"evaluation set: {len(labels)} clips, {eval_name}")
    calib = calibration_clips(train_loader, s.calibration_clips)
    small = calib[0][:1]
    timed = torch.randn(1, 3, *s.latency_shape)
    runs = out / "runs"
    # the students' recipe; the pruned models' fine-tune re-uses it with its own epochs and lr
    kd_cfg = DistillationConfig(temperature=s.student_temperature, alpha=s.student_alpha, epochs=s.student_epochs,
                                max_train_batches=s.max_train_batches, mixup_alpha=s.student_mixup)

    def ft(m: nn.Module, name: str) -> nn.Module:
        """Recovery fine-tune of a pruned model: labels only, or (default) distilled from
        the unpruned model on the students' recipe (alpha, T, mixup). Why: on its own
        training clips the pruned model re-fits them and drifts from the teacher. Measured
        (benchmarks/compression.py, 12 classes, teacher 83.9 %, one seed), pruned 30 / 50 / 70 %
        after 8 epochs: labels only 81.9 / 76.0 / 69.7 % (16 epochs: 81.3 / 77.8 / 74.4 %),
        distilled 83.7 / 72.2 / 74.2 %."""
        if not s.finetune_from_teacher:
            return fine_tune(m, train_loader, None, epochs=s.finetune_epochs, run_dir=runs / name,
                             config=loader_cfg, max_train_batches=s.max_train_batches)
        cfg = replace(kd_cfg, epochs=s.finetune_epochs, lr=FINETUNE_LR)
        return KnowledgeDistillation(teacher, m, cfg).fit(train_loader, run_dir=runs / name, train_config=loader_cfg)

    models: dict[str, Callable] = {}
    timed_models: dict[str, Callable] = {}
    sizes: dict[str, float] = {}
    params: dict[str, int] = {}
    extra: dict[str, dict[str, Any]] = {}
    files: dict[str, Path] = {}
    preds: dict[str, torch.Tensor] = {}

    def add(name: str, fn: Callable, path: Path, n_params: int, *, timed_fn: Callable | None = None,
            **info: Any) -> float:
        """Register a model; returns its accuracy on the evaluation set. ``timed_fn``: what
        the latency is measured on when it is not ``fn`` (int8: the reloaded file, see below)."""
        models[name], files[name], sizes[name], params[name] = fn, path, file_size_mb(path), n_params
        timed_models[name] = timed_fn or fn
        extra[name] = info
        preds[name] = predict(fn, eval_batches)[0]
        return float((preds[name] == labels).float().mean())

    def int8_file(q: nn.Module, path: Path) -> tuple[Path, Callable]:
        """Save, and reload for timing. Why a fresh copy: an int8 (x86 engine) model stays
        fastest for the input shape it first ran at; after the accuracy pass at the training
        resolution it ran the 16×112² clip 1.7× slower (26 vs 15 ms). A deployed model
        serves one input shape, as the reloaded copy timed at only that shape does."""
        saved = save_quantized(q, path, small)
        return saved, load_quantized(saved)

    # fp32 (PyTorch, the traceable view = the same function as the trained model)
    p = out / "moe_fp32.pt"
    torch.save(teacher.state_dict(), p)
    fp32_acc = add("fp32", to_deployable(teacher), p, count_parameters(teacher), runtime="torch eager")
    log(f"fp32 accuracy {fp32_acc:.1%}")
    if s.onnx:
        onnx_fp32 = export_onnx(teacher, out / "moe_fp32.onnx", small)
        verify_export(models["fp32"], onnx_fp32, calib[0], atol=1e-3)
        add("fp32_onnxruntime", OnnxRunner(onnx_fp32), onnx_fp32, count_parameters(teacher), runtime="onnxruntime")

    # structured pruning at each ratio (+ short fine-tune)
    pruned: list[tuple[float, nn.Module, float]] = []
    for ratio in s.prune_ratios:
        pm, rep = structured_prune(teacher, ratio, small)
        pm = ft(pm, f"prune{ratio}")
        path = save_pruned(pm, out / f"moe_pruned{int(ratio * 100)}.pth")
        acc = add(f"pruned{int(ratio * 100)}", to_deployable(pm), path, rep.params_after, runtime="torch eager",
                  macs_ratio=rep.macs_after / rep.macs_before)
        pruned.append((ratio, pm, acc))
        log(f"pruned {ratio:.0%}: {rep.params_before/1e6:.2f} M → {rep.params_after/1e6:.2f} M params, "
            f"accuracy {acc:.1%} after fine-tune")
    um, sparsity = unstructured_prune(teacher, s.unstructured_amount)
    path = out / f"moe_unstructured{int(s.unstructured_amount * 100)}.pt"
    torch.save(um.state_dict(), path)
    add(f"unstructured{int(s.unstructured_amount * 100)}", to_deployable(um), path, count_parameters(um),
        runtime="torch eager", sparsity=sparsity)

    # int8: FX graph mode (primary, by measurement: see .quantization), ONNX Runtime QDQ (fallback)
    fxq = quantize_fx(teacher, calib)
    path, timed_q = int8_file(fxq, out / "moe_int8.pt")
    ptq_acc = add("int8", fxq, path, count_parameters(teacher), timed_fn=timed_q,
                  runtime="torch FX int8 (x86)", method="ptq")
    int8_name = "int8"
    log(f"int8 (post-training) accuracy {ptq_acc:.1%}")
    if s.qat_epochs > 0 and fp32_acc - ptq_acc > s.qat_threshold:
        qat = quantize_qat_fx(teacher, train_loader, epochs=s.qat_epochs, run_dir=runs / "qat",
                              train_config=loader_cfg, max_train_batches=s.max_train_batches,
                              calibration_batches=len(calib))
        path, timed_q = int8_file(qat, out / "moe_int8_qat.pt")
        acc = add("int8_qat", qat, path, count_parameters(teacher), timed_fn=timed_q,
                  runtime="torch FX int8 (x86)", method="qat")
        # deploy QAT only if it beats post-training int8 on the split's test side (the teacher's
        # validation clips), so the held-out evaluation set never picks the model it scores
        val = [{"video": b["video"], "label": b["label"]} for b in itertools.islice(test_loader, within_budget(None))]
        val_acc = {k: float(torch.eq(*predict(models[k], val)).float().mean()) for k in ("int8", "int8_qat")}
        int8_name = "int8_qat" if val_acc["int8_qat"] > val_acc["int8"] else "int8"
        extra["int8_qat"]["val_accuracy"], extra["int8"]["val_accuracy"] = val_acc["int8_qat"], val_acc["int8"]
        log(f"int8 QAT accuracy {acc:.1%}; validation PTQ {val_acc['int8']:.1%} vs QAT {val_acc['int8_qat']:.1%}"
            f" → {int8_name}")
    if s.onnx:
        q_onnx = quantize_onnx_static(onnx_fp32, out / "moe_int8.onnx", calib)
        add("int8_onnxruntime", OnnxRunner(q_onnx), q_onnx, count_parameters(teacher), runtime="onnxruntime QDQ")
    if pruned:  # the most-pruned model still within the allowed drop (else the least pruned), int8
        ok = [t for t in pruned if fp32_acc - t[2] <= s.pruned_int8_max_drop]
        ratio, pm, _ = max(ok, key=lambda t: t[0]) if ok else min(pruned, key=lambda t: t[0])
        pq = quantize_fx(pm, calib)
        path, timed_q = int8_file(pq, out / f"moe_pruned{int(ratio * 100)}_int8.pt")
        add(f"pruned{int(ratio * 100)}_int8", pq, path, count_parameters(pm), timed_fn=timed_q,
            runtime="torch FX int8 (x86)")
    log("int8 done")

    # students, each with and without the teacher (the KD gain is measured, not assumed)
    from helpers.training.trainer import loader_generator

    builders: dict[str, Callable[[], nn.Module]] = {"fast": lambda: create_fast_student(len(classes)),
                                                    "frame": lambda: create_frame_student(len(classes))}
    if s.scaled_student:
        builders["scaled"] = lambda: create_student_model(teacher, s.student_scale, example=small)
    for kind, build in builders.items():
        for kd in (False, True):
            name = f"student_{kind}_{'kd' if kd else 'nokd'}"
            torch.manual_seed(0)  # the same initial student and the same batch order for both
            gen = loader_generator(train_loader)
            if gen is not None:
                gen.manual_seed(loader_cfg.seed)
            student = build()
            if kd:
                alpha = s.frame_student_alpha if kind == "frame" else s.student_alpha
                student = KnowledgeDistillation(teacher, student, replace(kd_cfg, alpha=alpha)).fit(
                    train_loader, run_dir=runs / name, train_config=loader_cfg)
            else:
                student = train_plain(student, train_loader, run_dir=runs / name, epochs=s.student_epochs,
                                      train_config=loader_cfg, max_train_batches=s.max_train_batches,
                                      mixup_alpha=s.student_mixup)
            if kind in ("frame", "fast"):
                path = export_torchscript(student, out / f"{name}.pt", small)
            else:
                path = save_pruned(student, out / f"{name}.pth")
            acc = add(name, to_deployable(student), path, count_parameters(student), runtime="torch eager")
            log(f"{name}: accuracy {acc:.1%}")

    # latency of everything, interleaved
    lat = median_latency_ms(timed_models, timed, repeats=s.latency_repeats)
    rows = [CompressionRow(name, accuracy=float((p == labels).float().mean()),
                           top1_agreement=top1_agreement(p, preds["fp32"]), params=params[name],
                           size_mb=round(sizes[name], 3), latency_ms=round(lat[name], 2), extra=extra[name])
            for name, p in preds.items()]
    fill_ratios(rows)
    summary = summarize(rows, int8_name, s.student_latency_goal_ms, eval_clips=len(labels), eval_set=eval_name)
    (out / "compression_results.json").write_text(json.dumps({"rows": [r.to_dict() for r in rows],
                                                              "summary": summary}, indent=1, default=str))
    log("measured")
    return CompressionResult(rows, summary, files)


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

"""The whole notebook-06 comparison in one call, shared by ``benchmarks/compression.py``
and the notebook: teacher → structured pruning at several ratios (+ fine-tune) →
unstructured pruning → int8 (ONNX Runtime QDQ, and FX as the torch-only fallback) →
pruned + int8 → students with and without distillation; then size, latency (interleaved)
and accuracy/agreement of every model on the test split, and files under ``out_dir``."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .measure import CompressionRow, count_parameters, file_size_mb, fill_ratios, median_latency_ms, predict, \
    top1_agreement


@dataclass
class CompressionSettings:
    prune_ratios: tuple[float, ...] = (0.3, 0.5, 0.7)
    unstructured_amount: float = 0.5
    finetune_epochs: int = 2
    student_epochs: int = 4
    student_scale: float = 0.5
    max_train_batches: int | None = None
    calibration_batches: int = 4
    latency_shape: tuple[int, int, int] = (16, 112, 112)  # (T, H, W) of the timed clip
    latency_repeats: int = 3
    teacher_epochs: int = 8
    log: Callable[[str], None] = print


@dataclass
class CompressionResult:
    rows: list[CompressionRow]
    summary: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


def load_teacher(checkpoint: str | Path | None, data: str | Path | None, epochs: int, models_dir: Path | None = None):
    """(teacher, TrainConfig, checkpoint path): from ``checkpoint`` when given, else
    :func:`helpers.training.load_or_train` (which trains the smoke model when missing)."""
    from helpers.training import TrainConfig, load_checkpoint, load_or_train
    from helpers.training.experiment import model_from_checkpoint

    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        cfg = TrainConfig.from_dict(state["config"])
        return model_from_checkpoint(state), cfg, Path(checkpoint)
    cfg = TrainConfig.smoke("moe", epochs=epochs)
    res = load_or_train("moe", 1, config=cfg, data=data, models_dir=models_dir)
    return res.model.eval(), cfg, res.checkpoint


def run_compression(out_dir: str | Path, *, checkpoint: str | Path | None = None, data: str | Path | None = None,
                    settings: CompressionSettings | None = None, models_dir: Path | None = None) -> CompressionResult:
    from helpers.training import TrainConfig
    from helpers.training.experiment import build_loaders

    from .deploy import to_deployable
    from .distillation import DistillationConfig, KnowledgeDistillation, create_frame_student, \
        create_student_model, train_plain
    from .export import export_onnx, export_torchscript, verify_export
    from .pruning import fine_tune, save_pruned, structured_prune, unstructured_prune
    from .quantization import OnnxRunner, quantize_fx, quantize_onnx_static, save_quantized

    s = settings or CompressionSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    teacher, tcfg, ckpt = load_teacher(checkpoint, data, s.teacher_epochs, models_dir)
    s.log(f"teacher: {ckpt} ({time.perf_counter() - t0:.0f} s)")
    loader_cfg = tcfg.with_(num_workers=0, clip_cache="memory", progress=False, batch_size=8) \
        if tcfg.model_preset == "smoke" else tcfg
    train_loader, test_loader, classes, _, _, _ = build_loaders(loader_cfg, data)
    calib = [b["video"] for i, b in zip(range(s.calibration_batches), train_loader)]
    small = calib[0][:1]
    timed = torch.randn(1, 3, *s.latency_shape)
    runs = out / "runs"
    ft = lambda m, name: fine_tune(m, train_loader, None, epochs=s.finetune_epochs, run_dir=runs / name,  # noqa: E731
                                   config=loader_cfg, max_train_batches=s.max_train_batches)

    models: dict[str, Callable] = {}
    sizes: dict[str, float] = {}
    params: dict[str, int] = {}
    extra: dict[str, dict[str, Any]] = {}
    files: dict[str, Path] = {}

    def add(name: str, fn: Callable, path: Path, n_params: int, **info: Any) -> None:
        models[name], files[name], sizes[name], params[name] = fn, path, file_size_mb(path), n_params
        extra[name] = info

    # fp32 (PyTorch, the traceable view = the same function as the trained model)
    fp32 = to_deployable(teacher)
    p = out / "moe_fp32.pt"
    torch.save(teacher.state_dict(), p)
    add("fp32", fp32, p, count_parameters(teacher), runtime="torch")
    onnx_fp32 = export_onnx(teacher, out / "moe_fp32.onnx", small)
    verify_export(fp32, onnx_fp32, calib[0], atol=1e-3)
    add("fp32_onnxruntime", OnnxRunner(onnx_fp32), onnx_fp32, count_parameters(teacher), runtime="onnxruntime")
    s.log(f"fp32 exported ({time.perf_counter() - t0:.0f} s)")

    # structured pruning at each ratio (+ short fine-tune)
    pruned_best = None
    for ratio in s.prune_ratios:
        pm, rep = structured_prune(teacher, ratio, small)
        pm = ft(pm, f"prune{ratio}")
        path = save_pruned(pm, out / f"moe_pruned{int(ratio * 100)}.pth")
        add(f"pruned{int(ratio * 100)}", to_deployable(pm), path, rep.params_after, runtime="torch",
            macs_ratio=rep.macs_after / rep.macs_before)
        pruned_best = (ratio, pm)
        s.log(f"pruned {ratio:.0%}: {rep.params_before/1e6:.2f} M → {rep.params_after/1e6:.2f} M params "
              f"({time.perf_counter() - t0:.0f} s)")
    um, sparsity = unstructured_prune(teacher, s.unstructured_amount)
    path = out / f"moe_unstructured{int(s.unstructured_amount * 100)}.pt"
    torch.save(um.state_dict(), path)
    add(f"unstructured{int(s.unstructured_amount * 100)}", to_deployable(um), path, count_parameters(um),
        runtime="torch", sparsity=sparsity)

    # int8: ONNX Runtime QDQ (primary, by measurement) and FX graph mode (torch fallback)
    q_onnx = quantize_onnx_static(onnx_fp32, out / "moe_int8.onnx", calib)
    add("int8", OnnxRunner(q_onnx), q_onnx, count_parameters(teacher), runtime="onnxruntime QDQ")
    fxq = quantize_fx(teacher, calib)
    fx_path = save_quantized(fxq, out / "moe_int8_fx.pt", small)
    add("int8_fx", fxq, fx_path, count_parameters(teacher), runtime="torch FX int8")
    s.log(f"int8 done ({time.perf_counter() - t0:.0f} s)")
    if pruned_best is not None:
        ratio, pm = pruned_best
        po = export_onnx(pm, out / f"moe_pruned{int(ratio * 100)}_fp32.onnx", small)
        pq = quantize_onnx_static(po, out / f"moe_pruned{int(ratio * 100)}_int8.onnx", calib)
        po.unlink()
        add(f"pruned{int(ratio * 100)}_int8", OnnxRunner(pq), pq, count_parameters(pm), runtime="onnxruntime QDQ")

    # students: frame student with and without KD; the scaled MoE student with KD
    kd_cfg = DistillationConfig(epochs=s.student_epochs, max_train_batches=s.max_train_batches)
    torch.manual_seed(0)
    fs_plain = train_plain(create_frame_student(len(classes)), train_loader, run_dir=runs / "frame_plain",
                           epochs=s.student_epochs, train_config=loader_cfg, max_train_batches=s.max_train_batches)
    torch.manual_seed(0)
    fs_kd = KnowledgeDistillation(teacher, create_frame_student(len(classes)), kd_cfg).fit(
        train_loader, run_dir=runs / "frame_kd", train_config=loader_cfg)
    for name, m in (("student_frame_nokd", fs_plain), ("student_frame_kd", fs_kd)):
        path = out / f"{name}.pt"
        export_torchscript(m, path, small)
        add(name, m.eval(), path, count_parameters(m), runtime="torch")
    torch.manual_seed(0)
    scaled = KnowledgeDistillation(teacher, create_student_model(teacher, s.student_scale, example=small), kd_cfg).fit(
        train_loader, run_dir=runs / "scaled_kd", train_config=loader_cfg)
    path = save_pruned(scaled, out / "student_scaled_kd.pth")
    add("student_scaled_kd", to_deployable(scaled), path, count_parameters(scaled), runtime="torch")
    s.log(f"students done ({time.perf_counter() - t0:.0f} s)")

    # measure everything
    preds = {name: predict(fn, test_loader) for name, fn in models.items()}
    labels = preds["fp32"][1]
    lat = median_latency_ms(models, timed, repeats=s.latency_repeats)
    rows = [CompressionRow(name, accuracy=float((p == labels).float().mean()),
                           top1_agreement=top1_agreement(p, preds["fp32"][0]), params=params[name],
                           size_mb=round(sizes[name], 3), latency_ms=round(lat[name], 2), extra=extra[name])
            for name, (p, _) in preds.items()]
    fill_ratios(rows)
    by = {r.model: r for r in rows}
    fp = by["fp32"]
    summary = {
        "benchmark": "compression",
        "int8_speedup": round(by["int8"].speedup, 3),
        "int8_accuracy_drop": round(fp.accuracy - by["int8"].accuracy, 4),
        "int8_top1_agreement": round(by["int8"].top1_agreement, 4),
        "smallest_size_mb": round(min(r.size_mb for r in rows), 3),
        "student_latency_ms": by["student_frame_kd"].latency_ms,
        "student_accuracy_drop": round(fp.accuracy - by["student_frame_kd"].accuracy, 4),
        "kd_gain": round(by["student_frame_kd"].accuracy - by["student_frame_nokd"].accuracy, 4),
    }
    (out / "compression_results.json").write_text(json.dumps({"rows": [r.to_dict() for r in rows],
                                                              "summary": summary}, indent=1, default=str))
    s.log(f"measured ({time.perf_counter() - t0:.0f} s)")
    return CompressionResult(rows, summary, files)

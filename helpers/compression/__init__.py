"""Model compression for notebook 06: structured/unstructured pruning, post-training
static int8 quantization, export for deployment, knowledge distillation, and the
table that compares them (size, latency, accuracy, agreement with fp32; the
measurements themselves are :mod:`helpers.measure`).

Modules (each one job): :mod:`.deploy` (a traceable, logits-only view of the MoE model
that quantizers and exporters need), :mod:`.pruning`, :mod:`.quantization`,
:mod:`.dynamic` (dynamic int8 for the multi-modal model, which FX cannot trace, and its
deployable file),
:mod:`.export`, :mod:`.distillation`, :mod:`.measure`, :mod:`.evalset` (held-out generated
clips for the comparison), :mod:`.pipeline` (the steps, and all of them in one call), :mod:`.cli`
(``python -m helpers compress``). Names load lazily so importing
the package costs nothing (torch-pruning and onnxruntime are imported on first use).
"""
from __future__ import annotations

from helpers._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "DeployableActionMoE": "deploy", "to_deployable": "deploy", "logits_of": "deploy",
    "structured_prune": "pruning", "unstructured_prune": "pruning", "PruneReport": "pruning",
    "fine_tune": "pruning", "count_macs": "pruning", "save_pruned": "pruning", "load_pruned": "pruning",
    "quantize_fx": "quantization", "save_quantized": "quantization", "load_quantized": "quantization",
    "quantize_dynamic_int8": "dynamic", "saved_size_mb": "dynamic", "save_dynamic_int8": "dynamic",
    "load_dynamic_int8": "dynamic", "write_dynamic_int8": "dynamic",
    "quantize_onnx_static": "quantization", "OnnxRunner": "quantization", "quantize_qat_fx": "quantization",
    "evaluation_loader": "evalset", "generate_eval_set": "evalset", "summarize": "pipeline",
    "export_torchscript": "export", "export_program": "export", "export_onnx": "export",
    "load_exported": "export", "verify_export": "export",
    "DistillationConfig": "distillation", "KnowledgeDistillation": "distillation", "kd_loss": "distillation",
    "create_student_model": "distillation", "FrameStudent": "distillation", "create_frame_student": "distillation",
    "predict": "measure", "top1_agreement": "measure",
    "CompressionRow": "measure", "compression_table": "measure", "plot_tradeoff": "measure",
    "CompressionSettings": "pipeline", "run_compression": "pipeline", "load_teacher": "pipeline",
    "CompressionStudy": "pipeline", "prepare_study": "pipeline", "add_fp32": "pipeline",
    "prune_and_recover": "pipeline", "add_unstructured": "pipeline", "quantize_int8": "pipeline",
    "add_onnx_int8": "pipeline", "quantize_pruned": "pipeline", "distil_student": "pipeline", "finish": "pipeline",
    "STUDENTS": "pipeline",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())

"""The deployable student of a trained multi-modal checkpoint: ``MultiModalConfig.student``
(MobileNetV3-small frames, a log-mel CNN for the sound, the small word decoder) distilled
from the checkpoint's model on the data it was trained on, then written as a dynamic-int8
file that :func:`helpers.inference.load_predictor` opens like the teacher's.

The student reads the teacher's inputs (the checkpoint's frames and sound window) and
learns what the teacher learned alone (classes, captions, audio-visual sync) plus the
teacher's class scores (:class:`~helpers.compression.distillation.MultiModalDistillStep`).
Its frame encoder starts from ImageNet weights where they load; from random weights it
gets GroupNorm instead of BatchNorm (:func:`helpers.models.multimodal.batchnorm_to_groupnorm`
says why).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

STUDENT_FILE = "multimodal_student_int8_dynamic.pt"


def student_for(teacher: Any, pretrained: bool = True) -> Any:
    """A fresh student of ``teacher`` (a ``MultiModalVideoModel``): its classes and caption
    vocabulary, the student preset's parts no wider than the teacher (a smoke-size teacher
    gets a smoke-size student), GroupNorm when the frame encoder's weights are random."""
    from helpers.models import MultiModalConfig, MultiModalVideoModel

    preset = MultiModalConfig.student(teacher.config.num_classes)
    cfg = MultiModalConfig.student(teacher.config.num_classes, vision_pretrained=pretrained,
                                   dim=min(preset.dim, teacher.config.dim), heads=min(preset.heads, teacher.config.heads),
                                   caption_vocab=teacher.config.caption_vocab)
    student = MultiModalVideoModel(cfg)
    if student.weights_sources["vision"] == "random init":
        from dataclasses import replace

        student = MultiModalVideoModel(replace(cfg, vision_pretrained=False, vision_norm="group"))
    return student


def write_multimodal_student(checkpoint: str | Path, out_dir: str | Path, *, epochs: int | None = None,
                             alpha: float = 0.5, data: str | Path | None = None,
                             pretrained: bool = True) -> dict[str, Any]:
    """Distil the student of ``checkpoint`` (``epochs``: default the checkpoint's own;
    ``alpha``: share of the class loss taken from the teacher's scores at T = 4) on the
    checkpoint's data (or ``data``), and write it to ``out_dir/STUDENT_FILE`` with the
    checkpoint's class names, input shape and data record. Returns the path, sizes (MB)
    and both models' accuracy on the checkpoint's validation clips."""
    from helpers.evaluation import test_data_for
    from helpers.evaluation.metrics import collect_predictions
    from helpers.settings import get_settings
    from helpers.training import TrainConfig
    from helpers.training.experiment import build_loaders
    from helpers.training.load import load_trained

    from .deploy import deploy_meta
    from .distillation import DistillationConfig, KnowledgeDistillation
    from .dynamic import KIND, save_dynamic_int8

    teacher, state = load_trained(checkpoint)
    if state.get("model_name") != "multimodal":
        raise ValueError(f"{checkpoint} holds a {state.get('model_name')!r} model, not a multi-modal one")
    cfg = TrainConfig.from_dict(state["config"]).with_(progress=False)
    if epochs is not None:
        cfg = cfg.with_(epochs=epochs)
    test = test_data_for(checkpoint, data)
    train_loader, val_loader, classes, _, _, _ = build_loaders(cfg, test.data_dir, get_settings())
    kd = KnowledgeDistillation(teacher, student_for(teacher, pretrained),
                               DistillationConfig(alpha=alpha, temperature=4.0, epochs=cfg.epochs, lr=cfg.lr))
    out_dir = Path(out_dir)
    student = kd.fit(train_loader, val_loader, run_dir=out_dir / "multimodal_student_run", train_config=cfg)
    meta = deploy_meta(state["config"], list(state.get("class_names") or classes), "multimodal", kind=KIND,
                       data=state.get("data"))
    path = save_dynamic_int8(student, out_dir / STUDENT_FILE, meta=meta, model_name="multimodal")
    accuracy = {name: collect_predictions(model.eval(), test.loader, max_thumbnails=0) for name, model
                in (("teacher", teacher), ("student", student))}
    return {"path": str(path), "model_name": "multimodal", "kind": KIND, "epochs": cfg.epochs,
            "student_params": sum(p.numel() for p in student.parameters()),
            "teacher_params": sum(p.numel() for p in teacher.parameters()),
            "compressed_size_mb": round(path.stat().st_size / 1e6, 3),
            **{f"{name}_accuracy": round(float((got.scores.argmax(1) == got.labels).mean()), 4)
               for name, got in accuracy.items()}}

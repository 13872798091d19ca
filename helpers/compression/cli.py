"""``python -m helpers compress``: prune, quantize and distil the trained MoE model and
print the side-by-side table (what notebook 06 does, from a shell).

    python -m helpers compress [--checkpoint PATH] [--data DIR] [--out DIR] [--json]

Without ``--checkpoint`` the model comes from ``load_or_train`` (notebook 04's
``models/moe_split1_best.pth``, trained when missing). Compressed files go to
``<models_dir>/compressed`` unless ``--out`` says otherwise.

A multi-modal checkpoint (``--checkpoint models/multimodal_split1_best.pth``) gets its
deployable dynamic-int8 file instead (:func:`helpers.compression.dynamic.write_dynamic_int8`:
FX cannot trace that model, so there is no pruning or static int8 for it); the printed
JSON line names the file and its size next to the float weights'. With ``--student`` its
distilled student follows (:func:`helpers.compression.multimodal_student.write_multimodal_student`:
``--student-epochs`` epochs, default the checkpoint's own) as a second file and JSON line.

    python -m helpers compress --checkpoint models/multimodal_split1_best.pth --student [--student-epochs 24]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if any(not 0.0 <= v < 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"pruning ratios must be in [0, 1), got {text!r}")
    return values


def _shape(text: str) -> tuple[int, int, int]:
    try:
        t, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected T,H,W (three integers), got {text!r}") from None
    return t, h, w


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m helpers compress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="trained MoE (or multi-modal) checkpoint (default: load_or_train)")
    p.add_argument("--data", type=Path, default=None, help="HMDB51-layout folder (default: the active dataset)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: <models_dir>/compressed)")
    p.add_argument("--ratios", type=_floats, default=(0.3, 0.5, 0.7), help="structured pruning ratios, e.g. 0.3,0.5")
    p.add_argument("--finetune-epochs", type=int, default=3)
    p.add_argument("--student-epochs", type=int, default=None,
                   help="distillation pays off only on long schedules (default: 40; a multi-modal student: "
                        "the checkpoint's epochs)")
    p.add_argument("--student", action="store_true",
                   help="multi-modal checkpoint: also distil its student (MobileNetV3-small, log-mel audio) into a file")
    p.add_argument("--student-mixup", type=float, default=0.4,
                   help="mixup alpha of both student arms (the teacher scores the blended clip; 0: off)")
    p.add_argument("--qat-epochs", type=int, default=2, help="QAT epochs when post-training int8 loses > 1 point")
    p.add_argument("--teacher-epochs", type=int, default=8, help="epochs when the teacher must be trained")
    p.add_argument("--eval-clips-per-class", type=int, default=33,
                   help="held-out generated clips per class for evaluation (0: the split's test side)")
    p.add_argument("--latency-shape", type=_shape, default=(16, 112, 112), help="T,H,W of the timed clip")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows")
    p.add_argument("--json", action="store_true", help="print the rows and summary as JSON lines")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    from helpers.settings import get_settings

    from .pipeline import CompressionSettings, run_compression

    if args.checkpoint is not None and not args.checkpoint.is_file():
        print(f"compress: {args.checkpoint}: no such checkpoint", file=sys.stderr)
        return 2
    out = args.out or get_settings().models_dir / "compressed"
    if args.checkpoint is not None and _model_name(args.checkpoint) == "multimodal":
        return _multimodal(args.checkpoint, out, args.data, student=args.student, student_epochs=args.student_epochs)
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else print
    cfg = CompressionSettings(prune_ratios=args.ratios, finetune_epochs=args.finetune_epochs,
                              student_epochs=40 if args.student_epochs is None else args.student_epochs,
                              student_mixup=args.student_mixup,
                              qat_epochs=args.qat_epochs,
                              teacher_epochs=args.teacher_epochs, eval_clips_per_class=args.eval_clips_per_class,
                              latency_shape=args.latency_shape, latency_repeats=args.repeats,
                              onnx=not args.no_onnx, log=log)
    from helpers.archives import ArchiveError
    from helpers.video import VideoDecodeError

    try:
        result = run_compression(out, checkpoint=args.checkpoint, data=args.data, settings=cfg)
    except (FileNotFoundError, ValueError, ArchiveError, VideoDecodeError) as exc:  # DatasetNotReady included
        print(f"compress: {exc}", file=sys.stderr)
        return 1
    if args.json:
        for row in result.rows:
            print(json.dumps({"model": row.model, **row.to_dict()}, default=str))
        print(json.dumps(result.summary, default=str))
    else:
        from .measure import compression_table

        print(compression_table(result.rows).round(3).to_string())
        print(json.dumps(result.summary, default=str))
        print(f"files in {out}")
    return 0


def _model_name(checkpoint: Path) -> str | None:
    """The model a training checkpoint holds (None for any other file: the MoE path says why)."""
    from helpers.training.checkpoint import CheckpointError, load_checkpoint

    try:
        state = load_checkpoint(checkpoint, mmap=True)
    except CheckpointError:
        return None
    return state.get("model_name") or (state.get("config") or {}).get("model")


def _multimodal(checkpoint: Path, out: Path, data: Path | None = None, *, student: bool = False,
                student_epochs: int | None = None) -> int:
    """Write the multi-modal model's dynamic-int8 file and (``student``) its distilled
    student's (``student_epochs``; None: the checkpoint's epochs); print a JSON line for each."""
    from helpers.archives import ArchiveError
    from helpers.video import VideoDecodeError

    from .dynamic import write_dynamic_int8
    from .multimodal_student import write_multimodal_student

    try:
        print(json.dumps(write_dynamic_int8(checkpoint, out), default=str), flush=True)
        if student:
            with contextlib.redirect_stdout(sys.stderr):  # training logs to stderr: stdout is the JSON lines
                summary = write_multimodal_student(checkpoint, out, epochs=student_epochs, data=data)
            print(json.dumps(summary, default=str))
    except (FileNotFoundError, ValueError, RuntimeError, ArchiveError, VideoDecodeError) as exc:
        print(f"compress: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

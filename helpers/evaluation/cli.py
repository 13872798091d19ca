"""``python -m helpers evaluate``: what notebook 07 computes, from a shell.

    python -m helpers evaluate [--checkpoint PATH] [--clips 5] [--three-crop] [--max-videos N]
                               [--no-compare] [--json]

Clip-level metrics of a trained checkpoint on its split's test side
(:func:`evaluate_model_comprehensive`: top-1/5, macro/weighted P/R/F1, size, FLOPs,
latency), video-level accuracy over several clips (and crops) per video as in
torchvision's reference, and — unless ``--no-compare`` — the comparison of every model
under ``models/`` (``model_comparison.csv``/``.md`` in ``<models_dir>/evaluation``).
Without ``--checkpoint``: notebook 04's ``models/moe_split1_best.pth``; a missing one
says which notebook to run.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m helpers evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="a training checkpoint or a file notebook 06 wrote (default: models/moe_split1_best.pth)")
    p.add_argument("--data", type=Path, default=None, help="dataset folder (default: the checkpoint's)")
    p.add_argument("--clips", type=int, default=5, help="clips per video for video-level accuracy")
    p.add_argument("--three-crop", action="store_true", help="3 spatial crops per clip (multi-view testing)")
    p.add_argument("--max-videos", type=int, default=None, help="videos for video-level testing and the comparison")
    p.add_argument("--latency-runs", type=int, default=20)
    p.add_argument("--device", default=None, help="default: HELPERS_DEVICE, else cuda when available, else cpu")
    p.add_argument("--no-compare", action="store_true", help="skip the comparison of every model under models/")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    if args.clips < 1 or (args.max_videos is not None and args.max_videos < 1):
        print("evaluate: --clips and --max-videos must be ≥ 1", file=sys.stderr)
        return 2
    from helpers.inference import InferenceError, default_checkpoint, load_predictor
    from helpers.settings import get_settings
    from helpers.training.load import missing_model

    from . import compare_models, discover_models, evaluate_model_comprehensive, save_comparison, test_data_for, \
        video_level_accuracy

    settings = get_settings()
    device = args.device or settings.device
    checkpoint = args.checkpoint or default_checkpoint("moe", 1, settings.models_dir)
    if not Path(checkpoint).is_file():
        print(f"evaluate: {missing_model(checkpoint)}", file=sys.stderr)
        return 1
    try:
        predictor = load_predictor(checkpoint, device=device)
        test = test_data_for(checkpoint, data=args.data, settings=settings)
    except (InferenceError, FileNotFoundError, ValueError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 1
    clip = evaluate_model_comprehensive(predictor.model, test.loader, device, class_names=test.class_names,
                                        latency_runs=args.latency_runs)
    video = video_level_accuracy(predictor, test.samples, clips=args.clips, crops=3 if args.three_crop else 1,
                                 max_videos=args.max_videos)
    out: dict = {"checkpoint": str(checkpoint), "data": str(test.data_dir), "clip_level": clip.summary(),
                 "video_level": video.summary()}
    table = None
    if not args.no_compare:
        table = compare_models(discover_models(settings.models_dir, device=device), test.named_samples,
                               max_videos=args.max_videos)
        out["comparison_files"] = {k: str(v) for k, v in save_comparison(table, settings.models_dir / "evaluation").items()}
    if args.json:
        out["comparison"] = None if table is None else json.loads(table.reset_index().to_json(orient="records"))
        print(json.dumps(out, default=str))
        return 0
    print(f"{checkpoint} on {test.data_dir}")
    print(clip.metrics["report_text"])
    print(json.dumps({"clip_level": out["clip_level"], "video_level": out["video_level"]}, indent=1, default=str))
    if table is not None:
        print(table.to_string())
        print("saved:", *out["comparison_files"].values())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

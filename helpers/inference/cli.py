"""``python -m helpers predict VIDEO [--checkpoint PATH] [--top-k 5] [--clips N]
[--runtime auto|torch|onnxruntime] [--rl-sampler PATH|auto] [--json]``.

``--runtime auto`` (the default) runs a video-only model on the CPU with ONNX Runtime
over an fp32 export cached beside the checkpoint (:mod:`helpers.inference.runtime`;
the speed-up in ``benchmarks/RESULTS.md``); why another runtime was used is printed on stderr.

Exit codes: 0 success, 1 unreadable video or damaged checkpoint, 2 usage error,
3 no checkpoint yet (the message names the notebook to run).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence

RUNTIMES = ("auto", "torch", "onnxruntime")  # helpers.inference.predictor.RUNTIMES, without importing torch for --help


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m helpers predict", description="Classify the action in a video file.")
    p.add_argument("video", help="video file (avi, mp4, mkv, webm, mov, mpg, wmv, flv, 3gp, …)")
    p.add_argument("--checkpoint", default=None,
                   help="a model file: a training checkpoint or any file notebook 06 wrote under "
                        "models/compressed/ (default: models/moe_split1_best.pth)")
    p.add_argument("--top-k", type=int, default=5, help="how many classes to list (default 5)")
    p.add_argument("--clips", type=int, default=1, help="clips per video whose scores are averaged (default 1)")
    p.add_argument("--device", default=None, help="cpu, cuda, … (default: settings)")
    p.add_argument("--runtime", default="auto", choices=RUNTIMES,
                   help="what runs the model: auto (ONNX Runtime for video-only models on the CPU), torch, "
                        "onnxruntime (falls back to torch with the reason)")
    p.add_argument("--rl-sampler", default=None, metavar="PATH|auto",
                   help="also show the frames notebook 05's RL sampler picks and the answers from them "
                        "(auto: the newest rl_frame_sampler*.pt under models/ or the cache); where the file "
                        "records the agent below its preview heuristic on held-out clips like this one, the "
                        "heuristic picks, and the output says so")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from helpers.inference.predict import predict_video
    from helpers.inference.predictor import InferenceError, NoCheckpointError, load_predictor
    from helpers.settings import get_settings

    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.top_k < 1 or args.clips < 1:
        print("predict: --top-k and --clips must be ≥ 1", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():  # the fallback is said once, below
            warnings.simplefilter("ignore", RuntimeWarning)
            predictor = load_predictor(args.checkpoint, device=args.device or get_settings().device,
                                       runtime=args.runtime)
        if predictor.runtime != args.runtime and args.runtime != "auto":
            print(f"predict: runtime {predictor.runtime}: {predictor.runtime_note}", file=sys.stderr)
        result = predict_video(args.video, model=predictor, top_k=args.top_k, clips=args.clips, keep_frames=False)
        rl = _rl_part(args, predictor) if args.rl_sampler else None
    except NoCheckpointError as exc:
        print(f"predict: {exc}", file=sys.stderr)
        return 3
    except InferenceError as exc:
        print(f"predict: {exc}", file=sys.stderr)
        return 1
    if args.json:
        d = result.to_dict()
        d.pop("probabilities")
        d["runtime_note"] = predictor.runtime_note
        if rl is not None:
            d["rl"] = rl
        print(json.dumps(d))
        return 0
    print(f"{result.path}  ({result.num_video_frames} frames at {result.fps:g} fps, model {result.model_name}"
          f" on {result.runtime})")
    for rank, (name, prob) in enumerate(result.top, 1):
        print(f"  {rank}. {name:<24} {prob:7.2%}")
    print(f"frames used: {result.frame_indices}")
    if result.caption is not None:
        print(f"caption: {result.caption}")
    if result.sync_score is not None:
        print(f"sound and picture in step: {result.sync_score:.0%} (the sync head's probability)")
    if predictor.runtime_note:
        print(f"runtime: {predictor.runtime_note}")
    print(f"time: decode {result.decode_ms:.1f} ms, preprocess {result.preprocess_ms:.1f} ms, "
          f"model {result.model_ms:.1f} ms, total {result.total_ms:.1f} ms")
    if rl is not None and "error" in rl:
        print(f"RL sampler: {rl['error']}")
    elif rl is not None:
        if rl["chosen_by"] == "agent":
            print(f"RL sampler {rl['sampler']} looked at frames {rl['looked']} ({rl['ms']:.0f} ms)")
        else:
            print(f"RL sampler {rl['sampler']}: {rl['chosen_by']} picked frames {rl['looked']} ({rl['ms']:.0f} ms)")
        if rl["reason"]:
            print(f"  chosen by {rl['chosen_by']}, because {rl['reason']}")
        if rl["top"]:
            print(f"  its classifier from those frames: {rl['top'][0]['label']} ({rl['top'][0]['probability']:.2%})")
        if rl.get("model_top"):
            print(f"  this model from those frames only: {rl['model_top'][0]['label']} "
                  f"({rl['model_top'][0]['probability']:.2%})")
    return 0


def _rl_part(args: argparse.Namespace, predictor) -> dict:
    """The RL sampler's picks and answers as plain data, or ``{"error": …}`` in words
    (an unusable sampler never costs the main prediction)."""
    from helpers.inference.rl_sampler import NONE_SAVED, RLSamplerError, load_rl_sampler, locate_rl_sampler, \
        predict_on_picks

    path = locate_rl_sampler(args.rl_sampler)
    if path is None:
        return {"error": NONE_SAVED}
    try:
        sampler = load_rl_sampler(path)
        pick = sampler.pick(args.video, top_k=args.top_k)
    except RLSamplerError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 — the video fitted the model; say why not the sampler
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    out = {"sampler": path.name, "chosen_by": pick.chosen_by, "reason": pick.reason,
           "looked": [pick.candidate_indices[o] for o in pick.order],
           "frame_indices": pick.frame_indices, "ms": round(pick.ms, 1),
           "top": [{"label": n, "probability": round(p, 6)} for n, p in pick.top]}
    if pick.frame_indices:
        q = predict_on_picks(args.video, predictor, pick, args.top_k, sampler.name)
        out["model_top"] = [{"label": n, "probability": round(p, 6)} for n, p in q.top]
    return out

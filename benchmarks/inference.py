"""End-to-end inference benchmark: ``helpers.inference.predict_video`` on a 10-s
320×240 clip (HMDB51's size; h264 MP4, generated in a temporary folder), for every
model found under ``models/`` (training checkpoints, and notebook 06's quantized
TorchScript / ONNX files), on the current device.

Per model one JSON line: median over ``--runs`` runs (after one warm-up) of the whole
call — open + decode the sampled frames + preprocessing + forward — and the shares
spent decoding and in the model. Models run in interleaved rounds so load from other
processes affects them alike. When no model file exists, the fp32 MoE model is built
untrained at full size (``moe_fp32_untrained``: latency does not depend on the
weights) and a smoke-size one, so the numbers are still there; the line says so.

Last line, one object::

    {"benchmark": "inference", "predict_ms": {model: ms, …}, "fastest_model": name, "fastest_ms": …}

Goal (issue 8): fastest compressed model < 150 ms on 2 CPU cores, fp32 MoE < 1 s.
Run: ``python benchmarks/inference.py [--runs 5] [--models-dir DIR] [--device cpu]``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def make_clip(folder: Path, seconds: float, size: tuple[int, int]) -> Path:
    """A generated 25 fps clip (moving object, noise background) as h264 MP4."""
    from helpers.synth import SynthConfig, render_clip
    from helpers.synth.encode import write_video

    cfg = SynthConfig.smoke(seconds=seconds, fps=25, size=size)
    clip = render_clip("move_left", cfg, seed=0, audio=False)
    return write_video(folder / "clip.mp4", clip.frames, clip.fps)


def untrained_predictors(device: str) -> list:
    """Full-size and smoke-size MoE models with random weights (no checkpoint on disk)."""
    from helpers.inference import predictor_from_model
    from helpers.models import ActionMoEConfig, ActionMoEDynamicModel

    names = [f"class_{i}" for i in range(51)]
    full = ActionMoEDynamicModel(ActionMoEConfig.full(51, pretrained=False))
    smoke = ActionMoEDynamicModel(ActionMoEConfig.smoke(51))
    return [predictor_from_model(full, names, device=device, name="moe_fp32_untrained"),
            predictor_from_model(smoke, names, num_frames=8, resize=(36, 48), crop=32, device=device,
                                 name="moe_smoke_untrained")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--models-dir", default=None, help="default: the settings' models folder")
    ap.add_argument("--device", default=None)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", default="320x240", help="WxH of the generated clip")
    args = ap.parse_args(argv)

    import torch

    from helpers.evaluation.compare import discover_models
    from helpers.inference import predict_video
    from helpers.settings import get_settings

    settings = get_settings(args.device)
    device = settings.device
    models_dir = Path(args.models_dir) if args.models_dir else settings.models_dir
    entries = discover_models(models_dir, device=device) if models_dir.is_dir() else []
    predictors = [e.predictor for e in entries if e.predictor is not None]
    for e in entries:
        if e.predictor is None:
            print(json.dumps({"model": e.name, "skipped": e.skipped}))
    note = None
    if not predictors:
        note = f"no model files under {models_dir}: untrained models (latency does not depend on the weights)"
        predictors = untrained_predictors(device)
    w, h = (int(v) for v in args.size.lower().split("x"))
    times: dict[str, dict[str, list[float]]] = {p.name: {"total": [], "decode": [], "model": [], "pre": []}
                                                for p in predictors}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp), args.seconds, (w, h))
        for p in predictors:  # warm-up: first call pays for lazy init and allocation
            predict_video(clip, model=p, keep_frames=False)
        for _ in range(args.runs):
            for p in predictors:
                r = predict_video(clip, model=p, keep_frames=False)
                t = times[p.name]
                t["total"].append(r.total_ms)
                t["decode"].append(r.decode_ms)
                t["model"].append(r.model_ms)
                t["pre"].append(r.preprocess_ms)
    summary: dict[str, float] = {}
    for p in predictors:
        t = {k: statistics.median(v) for k, v in times[p.name].items()}
        summary[p.name] = round(t["total"], 2)
        print(json.dumps({"model": p.name, "predict_ms": round(t["total"], 2), "decode_ms": round(t["decode"], 2),
                          "preprocess_ms": round(t["pre"], 2), "model_ms": round(t["model"], 2),
                          "decode_share": round(t["decode"] / t["total"], 3),
                          "model_share": round(t["model"] / t["total"], 3), "frames": p.num_frames,
                          "input": f"{p.num_frames}x{p.crop}x{p.crop}", "clip": f"{args.seconds:g}s {w}x{h} h264",
                          "device": device, "threads": torch.get_num_threads(), "runs": args.runs,
                          **({"note": note} if note else {})}))
    fastest = min(summary, key=summary.get)
    print(json.dumps({"benchmark": "inference", "predict_ms": summary, "fastest_model": fastest,
                      "fastest_ms": summary[fastest]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end inference benchmark: ``helpers.inference.predict_video`` on a 10-s
320×240 clip (HMDB51's size; h264 MP4, generated in a temporary folder), for every
model found under ``models/`` (training checkpoints, and every file notebook 06 writes:
fp32, pruned, int8 TorchScript / ONNX, students; all opened by
:func:`helpers.inference.load_predictor`), on the current device, on each runtime that applies.

Per model one JSON line: median over ``--runs`` runs (after one warm-up) of the whole
call — open + decode the sampled frames + preprocessing + forward — and the shares
spent decoding and in the model. Models run in interleaved rounds so load from other
processes affects them alike; the load average (``uptime``) is printed before and after.

Runtimes: every video-only checkpoint and pruned model runs on PyTorch (``name[torch]``) and
on ONNX Runtime over its cached fp32 export (``name[onnxruntime]``, :mod:`helpers.inference.runtime`);
TorchScript and ONNX files on the runtime they were written for.

Full-size synthetic models (``--synthetic auto``: when ``models/`` holds no full-size
compressed model; ``always``; ``never``): the MoE model at full size
(``ActionMoEConfig.full()``) with random weights — latency does not depend on the
weights — in fp32 on both runtimes, and compressed the way notebook 06 does it:
FX int8 (``quantize_fx``, saved and reloaded as TorchScript like notebook 06's files)
and ONNX Runtime static QDQ int8 (``quantize_onnx_static``), both calibrated on a few
clips of the benchmark video itself; and notebook 06's distilled students at the same
16×112² input (``create_frame_student``, ``create_fast_student`` when present), fp32 on
both runtimes. ``--smoke`` adds the smoke-size model for reference
(it is not a deployable model: it would win "fastest" without meaning anything).

Last line, one object::

    {"benchmark": "inference", "predict_ms": {model: ms, …}, "fastest_model": name, "fastest_ms": …,
     "fastest_compressed_model": name, "fastest_compressed_ms": …, "load": [1, 5, 15 min]}

Goal: fastest compressed model < 150 ms on 2 CPU cores, fp32 MoE < 1 s.
Run: ``python benchmarks/inference.py [--runs 5] [--models-dir DIR] [--device cpu] [--synthetic auto]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COMPRESSED_HINTS = ("int8", "quant", "prun", "distil", "student", "qdq")


def is_compressed(name: str) -> bool:
    return any(h in name.lower() for h in COMPRESSED_HINTS)


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def make_clip(folder: Path, seconds: float, size: tuple[int, int]) -> Path:
    """A generated 25 fps clip (moving object, noise background) as h264 MP4."""
    from helpers.synth import SynthConfig, render_clip
    from helpers.synth.encode import write_video

    cfg = SynthConfig.smoke(seconds=seconds, fps=25, size=size)
    clip = render_clip("move_left", cfg, seed=0, audio=False)
    return write_video(folder / "clip.mp4", clip.frames, clip.fps)


def calibration_clips(clip: Path, num_frames: int, resize: tuple[int, int], crop: int, count: int):
    """``count`` preprocessed (1, 3, T, crop, crop) windows of the benchmark clip: real
    activation ranges for the int8 calibration (random noise would set them wrong)."""
    from helpers.datasets import ClipTransform
    from helpers.video import open_video
    from helpers.video.sampling import multi_clip_indices

    transform = ClipTransform(resize=resize, crop=(crop, crop))
    with open_video(clip) as reader:
        n = int(reader.metadata.num_frames)
        idx = multi_clip_indices(n, num_frames, count, max(1, n // (num_frames * count)))
        frames = reader.frames(idx.reshape(-1).tolist(), size=resize)
    return [transform(frames[i * num_frames:(i + 1) * num_frames])[None] for i in range(count)]


def synthetic_predictors(clip: Path, folder: Path, device: str, calib: int, smoke: bool, notes: dict) -> list:
    """The full-size MoE (random weights) on both runtimes and as two int8 models."""
    import torch

    from helpers.compression.deploy import deploy_meta
    from helpers.compression.quantization import OnnxRunner, quantize_fx, quantize_onnx_static, save_quantized
    from helpers.inference import load_predictor, predictor_from_model, with_runtime
    from helpers.models import ActionMoEConfig, ActionMoEDynamicModel

    names = [f"class_{i}" for i in range(51)]
    torch.manual_seed(0)
    full = ActionMoEDynamicModel(ActionMoEConfig.full(51, pretrained=False)).eval()
    fp32 = predictor_from_model(full, names, device=device, name="moe_fp32_full_untrained[torch]")
    out = [fp32]
    t = time.perf_counter()
    ort = with_runtime(fp32, "onnxruntime", cache=folder / "moe_fp32_full.fp32-onnx")
    ort.name = "moe_fp32_full_untrained[onnxruntime]"
    notes["onnx_export_s"] = round(time.perf_counter() - t, 1)
    if ort.runtime == "onnxruntime":
        out.append(ort)
    else:
        notes["onnxruntime"] = ort.runtime_note
    clips = calibration_clips(clip, fp32.num_frames, fp32.resize, fp32.crop, calib)
    example = clips[0]
    try:
        t = time.perf_counter()
        q = quantize_fx(full, clips)
        meta = deploy_meta({"num_frames": fp32.num_frames, "resize": fp32.resize, "crop": fp32.crop}, names,
                           "moe_int8_fx_full_untrained[torch]", kind="int8")
        qpath = save_quantized(q, folder / "moe_int8_fx_full.pt", example, meta=meta)
        out.append(load_predictor(qpath))  # as notebook 06 writes it and everything loads it
        notes["int8_fx_s"] = round(time.perf_counter() - t, 1)
    except Exception as exc:  # noqa: BLE001 — say it, measure the others
        notes["int8_fx"] = f"{type(exc).__name__}: {exc}"[:200]
    if ort.runtime == "onnxruntime":
        try:
            t = time.perf_counter()
            qdq = quantize_onnx_static(ort.extra["onnx_path"], folder / "moe_int8_qdq_full.onnx", clips)
            notes["int8_qdq_s"] = round(time.perf_counter() - t, 1)
            out.append(predictor_from_model(OnnxRunner(qdq, threads=torch.get_num_threads()), names,
                                            name="moe_int8_qdq_full_untrained[onnxruntime]"))
        except Exception as exc:  # noqa: BLE001
            notes["int8_qdq"] = f"{type(exc).__name__}: {exc}"[:200]
    out += student_predictors(folder, names, device, notes)
    if smoke:
        small = ActionMoEDynamicModel(ActionMoEConfig.smoke(51)).eval()
        sp = predictor_from_model(small, names, num_frames=8, resize=(36, 48), crop=32, device=device,
                                  name="moe_smoke_untrained[torch]")
        so = with_runtime(sp, "onnxruntime", cache=folder / "moe_smoke.fp32-onnx")
        so.name = "moe_smoke_untrained[onnxruntime]"
        out += [sp] + ([so] if so.runtime == "onnxruntime" else [])
    return out


def student_predictors(folder: Path, names: list[str], device: str, notes: dict) -> list:
    """Notebook 06's distilled students at the full input size (16×112², random
    weights), fp32 on both runtimes: the compressed models meant for the < 150 ms goal."""
    import torch

    from helpers.compression import distillation
    from helpers.inference import predictor_from_model, with_runtime

    out = []
    for short, factory in (("frame", "create_frame_student"), ("motion", "create_fast_student")):
        make = getattr(distillation, factory, None)
        if make is None:
            notes[f"student_{short}"] = f"helpers.compression.distillation has no {factory} here"
            continue
        torch.manual_seed(0)
        try:
            model = make(len(names)).eval()
        except Exception as exc:  # noqa: BLE001
            notes[f"student_{short}"] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        p = predictor_from_model(model, names, device=device, name=f"student_{short}_untrained[torch]")
        o = with_runtime(p, "onnxruntime", cache=folder / f"student_{short}.fp32-onnx")
        out.append(p)
        if o.runtime == "onnxruntime":
            o.name = f"student_{short}_untrained[onnxruntime]"
            out.append(o)
        else:
            notes[f"student_{short}_onnxruntime"] = o.runtime_note
    return out


def discovered_predictors(models_dir: Path, device: str) -> list:
    """Every model under ``models_dir`` (:func:`discover_models`: the one loader,
    :func:`helpers.inference.load_predictor`); checkpoints and pruned models also on ONNX Runtime."""
    from helpers.evaluation.compare import discover_models
    from helpers.inference import with_runtime

    out = []
    for e in discover_models(models_dir, device=device) if models_dir.is_dir() else []:
        if e.predictor is None:
            print(json.dumps({"model": e.name, "skipped": e.skipped}))
            continue
        p = e.predictor
        if p.extra.get("file_format") in ("checkpoint", "pruned"):  # a torch model: also its ONNX export
            base = p.name
            p.name = f"{base}[torch]"
            out.append(p)
            o = with_runtime(p, "onnxruntime" if not p.is_multimodal else "auto")
            if o.runtime == "onnxruntime":
                o.name = f"{base}[onnxruntime]"
                out.append(o)
            else:
                print(json.dumps({"model": f"{base}[onnxruntime]", "skipped": o.runtime_note}))
        else:
            p.name = f"{p.name}[{p.runtime}]"  # TorchScript / ONNX files run as written
            out.append(p)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--models-dir", default=None, help="default: the settings' models folder")
    ap.add_argument("--device", default=None)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", default="320x240", help="WxH of the generated clip")
    ap.add_argument("--synthetic", choices=("auto", "always", "never"), default="auto",
                    help="full-size random-weight models (fp32 on both runtimes, FX int8, ORT QDQ int8)")
    ap.add_argument("--calibration-clips", type=int, default=4)
    ap.add_argument("--smoke", action="store_true", help="also the smoke-size model (reference only)")
    args = ap.parse_args(argv)

    import torch

    from helpers.inference import predict_video
    from helpers.settings import get_settings

    settings = get_settings(args.device)
    device = settings.device
    models_dir = Path(args.models_dir) if args.models_dir else settings.models_dir
    print(json.dumps({"uptime_load_before": load(), "threads": torch.get_num_threads(), "device": device}))
    w, h = (int(v) for v in args.size.lower().split("x"))
    notes: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp), args.seconds, (w, h))
        predictors = discovered_predictors(models_dir, device)
        have_full_compressed = any(is_compressed(p.name) and p.crop >= 112 for p in predictors)
        if args.synthetic == "always" or (args.synthetic == "auto" and not have_full_compressed):
            notes["synthetic"] = ("full-size MoE with random weights (latency does not depend on the weights)"
                                  + ("" if predictors else f"; no model files under {models_dir}"))
            predictors += synthetic_predictors(clip, Path(tmp), device, args.calibration_clips, args.smoke, notes)
        if not predictors:
            print(json.dumps({"error": f"no model under {models_dir} and --synthetic never"}))
            return 1
        print(json.dumps({"prepared": [p.name for p in predictors], **notes}))
        times = {p.name: {"total": [], "decode": [], "model": [], "pre": []} for p in predictors}
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
    after = load()
    summary: dict[str, float] = {}
    for p in predictors:
        t = {k: statistics.median(v) for k, v in times[p.name].items()}
        summary[p.name] = round(t["total"], 2)
        print(json.dumps({"model": p.name, "runtime": p.runtime, "compressed": is_compressed(p.name),
                          "predict_ms": round(t["total"], 2), "decode_ms": round(t["decode"], 2),
                          "preprocess_ms": round(t["pre"], 2), "model_ms": round(t["model"], 2),
                          "decode_share": round(t["decode"] / t["total"], 3),
                          "model_share": round(t["model"] / t["total"], 3), "frames": p.num_frames,
                          "input": f"{p.num_frames}x{p.crop}x{p.crop}", "clip": f"{args.seconds:g}s {w}x{h} h264",
                          "device": device, "threads": torch.get_num_threads(), "runs": args.runs,
                          "all_ms": [round(v, 1) for v in times[p.name]["total"]]}))
    fastest = min(summary, key=summary.get)
    compressed = {k: v for k, v in summary.items() if is_compressed(k)}
    fc = min(compressed, key=compressed.get) if compressed else None
    print(json.dumps({"benchmark": "inference", "predict_ms": summary, "fastest_model": fastest,
                      "fastest_ms": summary[fastest], "fastest_compressed_model": fc,
                      "fastest_compressed_ms": compressed.get(fc), "load": after}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

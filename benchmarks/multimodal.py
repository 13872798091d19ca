"""Multi-modal benchmark: does fusion beat video alone, do the captions beat baselines,
does the sync head separate aligned from shifted audio?

Builds what it needs: generated Kinetics-layout clips of all 12 motion classes with
sound and captions (default ``helpers.evaluation.multimodal_benchmark.BENCH_DATA``: 20
clips per class, 1.6 s at 10 fps, 80×60, the event in 60–80 % of the clip; the package's
70/15/15 split: 168 train / 36 val / 36 test), then per seed the smoke-size multi-modal
model and the smoke-size MoE trained on the same loaders for the same epochs (default
24; 8 frames at 32 px, batch 8, cosine LR, the final weights), measured on the test clips
(``helpers.evaluation.multimodal_benchmark.run_benchmark``).

Prints JSON lines (data, each training run, each seed's figures, the share of captions
naming each attribute of the reference (``caption_attributes``: colour, shape, texture,
speed, motion, background pattern and colour, per caption source) and caption examples),
the last one ``{"benchmark": "multimodal", ...}``: ``multimodal_accuracy``,
``video_only_accuracy`` (same weights, audio muted), ``moe_accuracy``, ``audio_gain``
(points; mean over the seeds, with ``audio_gain_spread`` max − min when there are
several), ``caption_bleu4/cider`` (beam search of 3; ``caption_greedy_bleu4/cider`` greedy),
``template_bleu4/cider``, ``retrieval_bleu4/cider``,
``sync_auc``; then (unless ``--no-compression``) the float model and its dynamic-int8
copy written as deployable files and reopened with ``load_predictor``: ``float_size_mb`` and
``compressed_size_mb`` (the files), ``float_file_accuracy`` / ``compressed_file_accuracy``
(``predict_video`` on the test clips), ``compressed_accuracy_drop`` (points),
``compressed_agreement``, ``float_predict_ms`` / ``compressed_predict_ms`` (``predict_video``
end to end, decode included, on a generated 10-s 320×240 clip with sound, 2 threads, median
of 7 runs, float and int8 interleaved) with the int8 run's ``compressed_decode_ms`` /
``_preprocess_ms`` / ``_model_ms`` and a ``compressed_caption``, and
``full_float_size_mb`` / ``full_compressed_size_mb`` (the full-size model built offline with
random weights: its files) and ``full_compressed_predict_ms`` (with ``_decode_ms`` /
``_model_ms``: the full-size int8 file's ``predict_video`` on the same clip, median of 3; a
time, not an accuracy); then the student (``MultiModalConfig.student``: MobileNetV3-small
frames, a log-mel CNN, the small decoder) distilled from the trained model with the same
budget: ``student_accuracy``, ``student_video_only_accuracy``, ``student_audio_gain``,
``student_caption_bleu4/cider`` beside ``student_template_cider`` (the template of its own
answers), ``student_compressed_size_mb`` and ``student_compressed_file_accuracy`` (its int8
file through ``predict_video``), ``student_accuracy_drop`` (points below the float
model's file), and ``full_student_compressed_size_mb`` / ``full_student_compressed_predict_ms``
(with ``_decode_ms`` / ``_model_ms``: the trained student's int8 file for the full-size
inputs, 16 frames of 112 px, on the same clip, median of 7). With several seeds every numeric figure is the mean and
``per_seed`` holds each.

Run: ``python benchmarks/multimodal.py [--seeds 0] [--epochs 12] [--clips-per-class 20] [--no-compression]
[--resize 60,80 --crop 56]`` (the last two: the frame geometry of both models).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def emit(obj: dict) -> None:
    print(json.dumps(obj, default=str), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0", help="comma-separated training seeds (default: 0)")
    p.add_argument("--epochs", type=int, default=24, help="epochs of each model (the same budget for both)")
    p.add_argument("--clips-per-class", type=int, default=20)
    p.add_argument("--data-seed", type=int, default=0, help="the generator's seed")
    p.add_argument("--no-compression", action="store_true", help="skip the int8 copy and the predict_video timing")
    p.add_argument("--data-root", type=Path, help="where the clips are generated (default: <synth_dir>)")
    p.add_argument("--crop", type=int, help="square crop side for both models (default: the smoke preset's 32)")
    p.add_argument("--resize", help="H,W the frames are decoded at (default: the smoke preset's 36,48)")
    args = p.parse_args(argv)
    os.environ.setdefault("SMOKE", "1")

    import numpy as np
    import torch

    from helpers.evaluation.multimodal_benchmark import benchmark_data, run_benchmark
    from helpers.settings import get_settings

    torch.set_num_threads(2)
    start = time.perf_counter()
    root = args.data_root or get_settings().synth_dir
    data = benchmark_data(root, args.data_seed, clips_per_class=args.clips_per_class)
    emit({"data": str(data), "generated_s": round(time.perf_counter() - start, 1)})
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    frames: dict = {}
    if args.crop:
        frames["crop"] = args.crop
    if args.resize:
        frames["resize"] = tuple(int(v) for v in args.resize.split(","))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            with contextlib.redirect_stdout(sys.stderr):  # training logs go to stderr: stdout is JSON only
                res = run_benchmark(data, Path(tmp), epochs=args.epochs, seed=seed,
                                    compression=not args.no_compression, frames=frames,
                                    log=lambda obj: print(json.dumps(obj, default=str), file=sys.__stdout__,
                                                          flush=True))
            emit({"seed": seed, "figures": res["figures"], "caption_attributes": res["caption_attributes"],
                  "template": res["template"],
                  "evaluate_s": res["evaluate_s"], "seed_s": res["seed_s"]})
            for example in res["examples"]:
                emit({"seed": seed, "caption_example": example})
            results.append(res)
    per_seed = [r["figures"] for r in results]
    summary: dict = {"benchmark": "multimodal"}
    for key in per_seed[0]:
        values = [f[key] for f in per_seed]
        numeric = len(values) > 1 and all(isinstance(v, (int, float)) for v in values)
        summary[key] = round(float(np.mean(values)), 4) if numeric else values[0]
    if len(seeds) > 1:
        gains = [f["audio_gain"] for f in per_seed]
        summary["audio_gain_spread"] = round(max(gains) - min(gains), 2)
        summary["per_seed"] = per_seed
    summary.update(seeds=seeds, epochs=args.epochs, frames=frames or "smoke preset", train_clips=results[0]["train_clips"],
                   test_clips=results[0]["test_clips"], classes=results[0]["classes"],
                   total_s=round(time.perf_counter() - start, 1),
                   load_avg_1min=round(os.getloadavg()[0], 2))
    emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

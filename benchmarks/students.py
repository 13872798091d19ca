"""Student benchmark (distillation): the fast student (MotionStudent,
``create_fast_student``) trained with and without the teacher over several seeds, the
MobileNetV3-small frame student for reference, and the latency of each next to the
teacher's deployable view.

    python benchmarks/students.py [--checkpoint PATH] [--data DIR | --smoke-data] [--seeds 0,1,2]
                                  [--classes 12] [--epochs 40] [--alpha 0.9] [--mixup 0.4] [--kind fast|frame]

Same data, teacher, loaders and held-out evaluation set as ``benchmarks/compression.py``
(its generated 12-class data, :func:`helpers.compression.pipeline.load_teacher` trained
for --teacher-epochs, held-out clips of another seed never trained on); ``--smoke-data``:
the notebooks' smoke stand-in instead. Without --checkpoint the teacher is trained into
--out (reused from there on the next run).

Both arms of a seed start from the same initial student and see the same batches, epochs
and mixup blends (``--mixup``: λ per batch from the seed; the distilled arm's teacher
scores the blended clip, the other arm learns the blended labels). ``kd_gain`` is the
mean over seeds of (with KD − without KD), with its standard error: one seed says
little (students of different seeds differ by up to 9 points here). Defaults = notebook
06's recipe (:class:`helpers.compression.pipeline.CompressionSettings`): 40 epochs,
T = 4, alpha = 0.9, mixup 0.4 — see :class:`helpers.compression.distillation.MotionStudent`
for what each part contributed. Latency: one 1×3×16×112×112 clip, 2 threads, all models
interleaved (median of --repeats). The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="HMDB51-layout folder (default: the compression benchmark's clips)")
    ap.add_argument("--smoke-data", action="store_true", help="the notebooks' smoke stand-in instead")
    ap.add_argument("--checkpoint", default=None, help="trained MoE checkpoint (default: load_or_train smoke)")
    ap.add_argument("--out", default=None, help="where the teacher and exported students go (default: temporary)")
    ap.add_argument("--teacher-epochs", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=40)  # benchmarks/compression.py's --student-epochs
    ap.add_argument("--seeds", default=",".join(map(str, range(10))))
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--mixup", type=float, default=0.4,
                    help="mixup alpha for both arms (> 0: the teacher sees the student's blended clips)")
    ap.add_argument("--no-frame", action="store_true", help="skip the MobileNetV3-small frame student")
    ap.add_argument("--kind", choices=("fast", "frame"), default="fast",
                    help="which student gets every seed (the other one: the first seed only); "
                         "frame: the MobileNetV3-small frame student")
    ap.add_argument("--classes", type=int, default=12,
                    help="generated motion classes of the benchmark data (12: all, with their family structure)")
    ap.add_argument("--clips-per-class", type=int, default=33, help="generated clips per class (21 of 33 train)")
    ap.add_argument("--eval-clips-per-class", type=int, default=None, help="default: 45 (33 with --smoke-data)")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    if args.kind == "frame":
        args.no_frame = False
    os.environ.setdefault("SMOKE", "1")
    import torch

    from helpers.compression.deploy import to_deployable
    from helpers.compression.distillation import (DistillationConfig, KnowledgeDistillation, create_fast_student,
                                                  create_frame_student, train_plain)
    from helpers.compression.evalset import evaluation_loader
    from helpers.compression.export import export_torchscript, verify_export
    from helpers.compression.measure import predict
    from helpers.compression.pipeline import load_teacher
    from helpers.measure import count_parameters, measure_latency
    from helpers.settings import get_settings
    from helpers.training.experiment import build_loaders
    from helpers.training.trainer import loader_generator

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    log = lambda m: print(f"{m} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)  # noqa: E731
    seeds = [int(s) for s in args.seeds.split(",") if s]
    eval_dir = get_settings().synth_dir / "hmdb51_heldout"
    if args.data is None and not args.smoke_data:  # the compression benchmark's data and held-out clips
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from compression import benchmark_data

        videos, eval_dir = benchmark_data(args.classes, args.clips_per_class)
        args.data = str(videos)
    per_class = args.eval_clips_per_class if args.eval_clips_per_class is not None else (33 if args.smoke_data else 45)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
        out = Path(args.out) if args.out else Path(tmp)
        teacher, tcfg, ckpt = load_teacher(args.checkpoint, args.data, args.teacher_epochs,
                                           None if args.checkpoint else out / "teacher", preset="smoke")
        cfg = tcfg.with_(num_workers=0, clip_cache="memory", progress=False, batch_size=8) \
            if tcfg.model_preset == "smoke" else tcfg
        train_loader, test_loader, classes, _, data_dir, _ = build_loaders(cfg, args.data)
        eval_batches = evaluation_loader(cfg, list(classes), eval_dir, clips_per_class=per_class, data_dir=data_dir)
        if eval_batches is None:
            eval_batches = [{"video": b["video"], "label": b["label"]} for b in test_loader]
        labels = torch.cat([b["label"] for b in eval_batches])
        accuracy = lambda m: float((predict(m, eval_batches)[0] == labels).float().mean())  # noqa: E731
        teacher_view = to_deployable(teacher)
        teacher_acc = accuracy(teacher_view)
        log(f"teacher {ckpt}: {teacher_acc:.1%} on {len(labels)} evaluation clips")
        kd_cfg = DistillationConfig(temperature=args.temperature, alpha=args.alpha, epochs=args.epochs, lr=args.lr,
                                    mixup_alpha=args.mixup)
        builders = {"fast": lambda: create_fast_student(len(classes))}
        if not args.no_frame:
            builders["frame"] = lambda: create_frame_student(len(classes))
        timed: dict[str, torch.nn.Module] = {"teacher": teacher_view}
        acc: dict[tuple[str, bool], list[float]] = {}
        for kind, build in builders.items():
            for seed in seeds if kind == args.kind else seeds[:1]:
                for kd in (False, True):
                    name = f"student_{kind}_{'kd' if kd else 'nokd'}"
                    torch.manual_seed(seed)  # the same initial student and batch order for both arms
                    gen = loader_generator(train_loader)
                    if gen is not None:
                        gen.manual_seed(seed)
                    student = build()
                    run_cfg = cfg.with_(seed=seed)
                    run_dir = out / "runs" / f"{name}_seed{seed}"
                    if kd:
                        student = KnowledgeDistillation(teacher, student, kd_cfg).fit(train_loader, run_dir=run_dir,
                                                                                       train_config=run_cfg)
                    else:
                        student = train_plain(student, train_loader, run_dir=run_dir, epochs=args.epochs, lr=args.lr,
                                              train_config=run_cfg, mixup_alpha=args.mixup)
                    a = accuracy(student)
                    acc.setdefault((kind, kd), []).append(a)
                    rows.append({"benchmark": "students_model", "model": name, "seed": seed, "accuracy": round(a, 4),
                                 "params": count_parameters(student)})
                    log(f"{name} seed {seed}: {a:.1%}")
                    if seed == seeds[0]:
                        timed[name] = to_deployable(student)
                        if kind == "fast" and kd:
                            path = export_torchscript(student, out / f"{name}.pt", eval_batches[0]["video"][:1])
                            verify_export(timed[name], path, eval_batches[0]["video"], atol=1e-4)
        lat = {k: s.median_ms for k, s in measure_latency(timed, torch.randn(1, 3, 16, 112, 112), warmup=1,
                                                          runs=args.repeats, threads=2).items()}
        load = os.getloadavg()
    for r in rows:
        print(json.dumps(r), flush=True)
    for name, ms in lat.items():
        print(json.dumps({"benchmark": "students_latency", "model": name, "latency_ms": round(ms, 2)}), flush=True)
    fast_kd, fast_plain = acc[(args.kind, True)], acc[(args.kind, False)]
    gains = [k - p for k, p in zip(fast_kd, fast_plain)]
    summary = {
        "benchmark": "students",
        "teacher_accuracy": round(teacher_acc, 4),
        "student_accuracy_kd": round(statistics.mean(fast_kd), 4),
        "student_accuracy_nokd": round(statistics.mean(fast_plain), 4),
        "kd_gain": round(statistics.mean(gains), 4),
        "kd_gain_stderr": round(statistics.stdev(gains) / len(gains) ** 0.5, 4) if len(gains) > 1 else None,
        "kd_gain_per_seed": [round(g, 4) for g in gains],
        "student_accuracy_drop": round(teacher_acc - statistics.mean(fast_kd), 4),
        "student": args.kind,
        "student_latency_ms": round(lat[f"student_{args.kind}_kd"], 2),
        "teacher_latency_ms": round(lat["teacher"], 2),
        "frame_student_accuracy_nokd_kd": [round(acc[("frame", k)][0], 4) for k in (False, True)]
        if ("frame", True) in acc else None,
        "seeds": seeds, "epochs": args.epochs, "temperature": args.temperature, "alpha": args.alpha,
        "mixup": args.mixup, "classes": len(classes),
        "data": "smoke stand-in" if args.smoke_data else (args.data or "compression benchmark"),
        "eval_clips": len(labels), "load_1_5_15": [round(v, 2) for v in load],
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""GPU check: what the full-size notebooks need from a CUDA machine, in one command.

* training: full-size optimiser steps of both models (``ActionMoEDynamicModel``,
  ``MultiModalVideoModel``) through the package's own :class:`~helpers.training.Trainer`,
  with AMP fp16 (grad scaler) and bf16, at a couple of batch sizes each: clips/s and the
  peak CUDA memory (``torch.cuda.max_memory_allocated``) per batch size, and whether
  every loss was finite (``amp_ok``: both dtypes, both models);
* inference: ``helpers.inference.predict_video`` latency under fp16 autocast on a
  generated 10-s 320×240 clip with sound (decode included), per model;
* frame sampling: the multi-modal model's ``predict_video`` on 5 uniform frames against
  the preview heuristic's one frame (``helpers.inference.rl_sampler.preview_sampler``), on
  that clip, a silent copy and a silent copy in HMDB51's codec: whether the preview's
  decoding pass still pays when the model's frames are cheap;
* two GPUs (``torch.cuda.device_count() >= 2``): the MoE model trained in two processes
  with ``accelerate launch`` and :func:`helpers.training.distributed.make_accelerator`
  (DDP), clips/s over both.

Weights: the pretrained code path runs against torch-hub and Hugging Face caches filled
with RANDOM weights of the real architectures (:func:`helpers.models.weight_cache.
fill_weight_caches`), so nothing is downloaded; speed and memory do not depend on the
values, the output says so. Batches are synthetic tensors of the training shapes
(16×112², 2 s of audio, captions): this measures the models and the loop, not decoding
(see ``decode.py``).

Without CUDA it prints one line saying it needs CUDA and exits 0. ``--tiny --device cpu``
runs the same logic at smoke sizes on the CPU (a check of the script, not a measurement).
One JSON line per measurement; the last line is the summary::

    {"benchmark": "gpu_check", "device", "moe_train_clips_per_s", "multimodal_train_clips_per_s",
     "peak_mem_gb", "amp_ok", "predict_ms", "sampling_speedup", "ddp_clips_per_s", ...}

Sized for ~5 minutes on one H200. Run: ``python benchmarks/gpu_check.py [--steps 5]``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from helpers.training.trainer import Callback  # noqa: E402

NUM_CLASSES = 51
CAPTIONS = ["a person waves a hand at the camera.", "someone runs across the field and jumps."]
BATCH_SIZES = {"moe": (16, 32), "multimodal": (8, 16)}  # the full presets' batch and twice it
TINY_BATCH_SIZES = {"moe": (2,), "multimodal": (2,)}
WEIGHTS_NOTE = "random weights of the real architectures from filled caches (pretrained code path; no download)"


class StepTimer(Callback):
    """Wall-clock time after each training batch (CUDA synchronised) and its loss."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.times: list[float] = []
        self.losses: list[float] = []

    def on_batch_end(self, trainer: Any, info: dict[str, Any]) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times.append(time.perf_counter())
        self.losses.append(float(info["loss"]))

    def clips_per_s(self, batch_size: int, warmup: int) -> float:
        """Clips per second over the batches after ``warmup`` (at least one timed)."""
        timed = self.times[warmup - 1:] if warmup else self.times
        if len(timed) < 2:
            raise ValueError("need at least one timed step after the warm-up")
        return batch_size * (len(timed) - 1) / (timed[-1] - timed[0])


class Fp16Autocast(nn.Module):
    """``module`` run under CUDA fp16 autocast: what fp16 inference means for a model
    trained in fp32 (weights stay fp32, matmuls and convolutions run in half). The
    inner model is ``.module``, so ``helpers.training.tasks.unwrap`` sees through it."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        with torch.autocast("cuda", dtype=torch.float16):
            return self.module(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """The inner model's other methods (captioning, configs) as its own."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def train_config(model_name: str, batch_size: int, amp: str, tiny: bool, steps: int):
    """The full preset (``--tiny``: the smoke one) at ``batch_size`` with AMP ``amp``."""
    from helpers.training import TrainConfig

    preset = TrainConfig.smoke if tiny else TrainConfig.full
    return preset(model_name, batch_size=batch_size, amp=amp, epochs=1, progress=False,
                  early_stopping_patience=None, max_train_batches=steps)


def synthetic_batch(config: Any, device: torch.device, seconds: float = 2.0) -> dict[str, Any]:
    """Random tensors with the Batches contract's keys and the config's shapes."""
    b, t, c = config.batch_size, config.num_frames, config.crop
    n_audio = int(seconds * 16000)
    g = torch.Generator().manual_seed(0)
    batch = {
        "video": torch.randn(b, 3, t, c, c, generator=g),
        "frame_times": torch.linspace(0, seconds, t).repeat(b, 1),
        "audio": torch.randn(b, n_audio, generator=g) * 0.1,
        "audio_mel": torch.randn(b, 64, n_audio // 160 + 1, generator=g),
        "audio_mask": torch.ones(b, dtype=torch.bool),
        "label": torch.randint(0, NUM_CLASSES, (b,), generator=g),
        "caption": [CAPTIONS[i % 2] for i in range(b)],
    }
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def build(model_name: str, config: Any) -> nn.Module:
    """The model the trainer would build for this config (51 classes)."""
    from helpers.training.experiment import build_model, model_config_for

    torch.manual_seed(0)
    return build_model(model_name, model_config_for(config, NUM_CLASSES, CAPTIONS))


def measure_training(model_name: str, batch_size: int, amp: str, device: torch.device, *, steps: int,
                     warmup: int, tiny: bool, workdir: Path, accelerator: Any = None) -> dict[str, Any]:
    """``warmup + steps`` optimiser steps of one model through the Trainer; clips/s,
    peak memory and whether every loss was finite."""
    from helpers.training import Trainer

    config = train_config(model_name, batch_size, amp, tiny, warmup + steps)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    row: dict[str, Any] = {"benchmark": "gpu_check", "part": "train", "model": model_name, "amp": amp,
                           "batch_size": batch_size, "frames": config.num_frames, "crop": config.crop}
    try:
        model = build(model_name, config)
        batch = synthetic_batch(config, accelerator.device if accelerator is not None else device)
        timer = StepTimer(device)
        trainer = Trainer(model, config, [batch] * (warmup + steps), None, run_dir=workdir / "run",
                          device=None if accelerator is not None else device, accelerator=accelerator,
                          callbacks=[timer])
        trainer.train_one_epoch(1)
        world = accelerator.num_processes if accelerator is not None else 1
        row.update(
            clips_per_s=round(timer.clips_per_s(batch_size * world, warmup), 2),
            step_ms=round(1e3 * statistics.median(b - a for a, b in zip(timer.times, timer.times[1:])), 1)
            if len(timer.times) > 1 else None,
            losses_finite=all(math.isfinite(v) for v in timer.losses),
            amp_dtype=str(trainer.amp).replace("torch.", "") if trainer.amp is not None else
            ("accelerate:" + accelerator.mixed_precision if accelerator is not None else "off"),
            params_m=round(sum(p.numel() for p in model.parameters()) / 1e6, 2), processes=world,
        )
        del trainer, model, batch
    except torch.cuda.OutOfMemoryError as exc:
        row.update(error="out of memory", detail=str(exc).splitlines()[0][:200])
    if device.type == "cuda":
        row["peak_mem_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        torch.cuda.empty_cache()
    return row


def make_clip(folder: Path, seconds: float = 10.0, size: tuple[int, int] = (320, 240)) -> Path:
    """A generated 25 fps clip with its sound track (HMDB51's frame size), as MP4."""
    from helpers.synth import SynthConfig, render_clip
    from helpers.synth.encode import write_video

    cfg = SynthConfig.smoke(seconds=seconds, fps=25, size=size)
    clip = render_clip("move_left", cfg, seed=0, audio=True)
    return write_video(folder / "clip.mp4", clip.frames, clip.fps, audio=clip.audio, sample_rate=clip.sample_rate)


def inference_predictor(model_name: str, device: torch.device, tiny: bool) -> Any:
    """The model as ``predict_video`` runs it: fp16 autocast on CUDA, fp32 on the CPU."""
    from helpers.inference import predictor_from_model

    config = train_config(model_name, 1, "off", tiny, 1)
    model = build(model_name, config).eval()
    wrapped = Fp16Autocast(model) if device.type == "cuda" else model
    return predictor_from_model(wrapped, [f"class_{i}" for i in range(NUM_CLASSES)], num_frames=config.num_frames,
                                resize=config.resize, crop=config.crop, device=str(device), name=model_name)


def measure_predict(model_name: str, predictor: Any, clip: Path, *, runs: int) -> dict[str, Any]:
    """Median ``predict_video`` time (open, decode, preprocess, forward) of
    :func:`inference_predictor`'s ``predictor``, after one warm-up call."""
    from helpers.inference import predict_video

    predict_video(clip, predictor, keep_frames=False)
    results = [predict_video(clip, predictor, keep_frames=False) for _ in range(runs)]
    return {"benchmark": "gpu_check", "part": "predict", "model": model_name,
            "precision": "fp16-autocast" if predictor.device.startswith("cuda") else "fp32",
            "predict_ms": round(statistics.median(r.total_ms for r in results), 1),
            "model_ms": round(statistics.median(r.model_ms for r in results), 1),
            "decode_ms": round(statistics.median(r.decode_ms for r in results), 1), "runs": runs}


def measure_sampling(predictor: Any, clip: Path, *, runs: int, workdir: Path,
                     uniform_k: int = 5) -> list[dict[str, Any]]:
    """Whether picking frames pays in time where the model is cheap: ``predict_video`` of the
    multi-modal model (:func:`inference_predictor`'s ``predictor``) on ``uniform_k``
    uniform frames (k* of ``rl_sampling.py``'s CPU run) against the preview heuristic's
    one frame (``preview_sampler``: what notebook 05's saved sampler runs where its
    agent is not better), on the clip with sound (audio energy), a silent copy (motion
    energy on grey thumbnails of every frame) and a silent copy in HMDB51's codec
    (MPEG-4 Part 2 AVI). One row per clip: median ms of ``runs`` interleaved rounds
    after a warm-up (``helpers.rl.wallclock.measure_wall_clock``)."""
    from helpers.inference.rl_sampler import preview_sampler
    from helpers.rl.wallclock import hmdb51_copies, measure_wall_clock, silent_copies

    sampler = preview_sampler(predictor.class_names, budget=1)
    clips = {"sound_h264": clip, "silent_h264": silent_copies([clip], workdir / "silent")[0],
             "silent_hmdb51_codec": hmdb51_copies([clip], workdir / "hmdb51")[0]}
    rows = []
    for name, path in clips.items():
        out = measure_wall_clock([path], predictor, num_positions=sampler.num_positions, uniform_k=uniform_k,
                                 sampler=sampler, warmup=1, runs=runs)
        ms = out["median_ms"]
        rows.append({"benchmark": "gpu_check", "part": "sampling", "model": "multimodal", "clip": name,
                     "uniform_k": uniform_k, "uniform_ms": round(ms["uniform_e2e"], 1),
                     "sampler_ms": round(ms["rl_e2e"], 1), "sampler_frames": out["rl_frames"],
                     "motion_preview_ms": round(ms["decode_preview"], 1), "speedup": round(out["rl_speedup"], 3),
                     "runs": runs})
    return rows


def ddp_worker(out: str, batch_size: int, amp: str, steps: int, warmup: int, tiny: bool) -> None:
    """One process of the multi-process run: the MoE model through the Trainer with the
    package's ``Accelerator`` (DDP); the main process writes the row to ``out``."""
    from helpers.training.distributed import make_accelerator

    acc = make_accelerator(amp)
    with tempfile.TemporaryDirectory() as tmp:
        row = measure_training("moe", batch_size, amp, acc.device, steps=steps, warmup=warmup, tiny=tiny,
                               workdir=Path(tmp), accelerator=acc)
    row["part"] = "train_ddp"
    acc.wait_for_everyone()
    if acc.is_main_process:
        Path(out).write_text(json.dumps(row))


def run_ddp(batch_size: int, amp: str, steps: int, warmup: int, tiny: bool, cpu: bool, workdir: Path) -> dict:
    """Two processes: ``accelerate launch`` on two GPUs, :func:`launch_cpu` (gloo) on the CPU."""
    out = workdir / "ddp.json"
    if cpu:
        from helpers.training.distributed import launch_cpu

        launch_cpu(ddp_worker, (str(out), batch_size, amp, steps, warmup, tiny), num_processes=2)
    else:
        precision = {"bf16": "bf16", "fp16": "fp16"}.get(amp, "no")
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", precision, "--dynamo_backend", "no",
               str(Path(__file__).resolve()), "--ddp-worker", str(out), "--ddp-batch-size", str(batch_size),
               "--amp", amp, "--steps", str(steps), "--warmup", str(warmup)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            return {"benchmark": "gpu_check", "part": "train_ddp", "error": f"exit {done.returncode}", "detail": tail}
    return json.loads(out.read_text())


def summary(rows: Sequence[dict[str, Any]], device: str, notes: dict[str, Any]) -> dict[str, Any]:
    """The last line: clips/s by dtype and batch size per model, peak GB per model and
    batch size (the larger of the two dtypes), amp_ok, predict_video ms per model, the
    sampler's speedup over uniform frames per clip."""
    train = [r for r in rows if r["part"] == "train"]
    clips: dict[str, dict[str, dict[str, float]]] = {"moe": {}, "multimodal": {}}
    peak: dict[str, dict[str, float]] = {"moe": {}, "multimodal": {}}
    for r in train:
        if "clips_per_s" in r:
            clips[r["model"]].setdefault(r["amp"], {})[str(r["batch_size"])] = r["clips_per_s"]
        if "peak_mem_gb" in r:
            key = str(r["batch_size"])
            peak[r["model"]][key] = max(peak[r["model"]].get(key, 0.0), r["peak_mem_gb"])
    amp_rows = [r for r in train if r["amp"] in ("fp16", "bf16")]
    amp_ok = bool(amp_rows) and {r["amp"] for r in amp_rows} == {"fp16", "bf16"} and all(
        r.get("losses_finite") for r in amp_rows)
    ddp = next((r for r in rows if r["part"] == "train_ddp"), None)
    return {
        "benchmark": "gpu_check", "device": device,
        "moe_train_clips_per_s": clips["moe"], "multimodal_train_clips_per_s": clips["multimodal"],
        "peak_mem_gb": peak, "amp_ok": amp_ok,
        "predict_ms": {r["model"]: r["predict_ms"] for r in rows if r["part"] == "predict"},
        "sampling_speedup": {r["clip"]: r["speedup"] for r in rows if r["part"] == "sampling"},
        "ddp_clips_per_s": (ddp or {}).get("clips_per_s"), "ddp_processes": (ddp or {}).get("processes"),
        **notes,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=5, help="timed optimiser steps per configuration")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (cuDNN autotuning, allocator)")
    p.add_argument("--runs", type=int, default=5, help="timed predict_video calls per model")
    p.add_argument("--only", choices=("moe", "multimodal"))
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (only with --tiny)")
    p.add_argument("--tiny", action="store_true", help="smoke-size models, one batch size: checks the script")
    p.add_argument("--ddp", choices=("auto", "on", "off"), default="auto",
                   help="the two-process run: auto = when two GPUs exist; on with --tiny --device cpu: gloo")
    p.add_argument("--amp", default="bf16", help=argparse.SUPPRESS)
    p.add_argument("--ddp-worker", metavar="OUT", help=argparse.SUPPRESS)
    p.add_argument("--ddp-batch-size", type=int, default=16, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.ddp_worker:  # one process of `accelerate launch`
        ddp_worker(args.ddp_worker, args.ddp_batch_size, args.amp, args.steps, args.warmup, args.tiny)
        return 0
    cpu = args.device == "cpu"
    if not torch.cuda.is_available() and not cpu:
        print(f"gpu_check needs CUDA: no CUDA device here (torch {torch.__version__}); nothing measured "
              "(`--tiny --device cpu` checks the script on the CPU)")
        return 0
    if cpu and not args.tiny:
        p.error("--device cpu runs only with --tiny (the full sizes are a GPU measurement)")
    device = torch.device(args.device)
    from helpers.models.weight_cache import fill_weight_caches

    models = [args.only] if args.only else ["moe", "multimodal"]
    amps = ["off"] if cpu else ["fp16", "bf16"]
    sizes = TINY_BATCH_SIZES if args.tiny else BATCH_SIZES
    rows: list[dict[str, Any]] = []
    name = "cpu" if cpu else torch.cuda.get_device_name(device)
    notes: dict[str, Any] = {"weights": WEIGHTS_NOTE, "gpus": torch.cuda.device_count(), "torch": torch.__version__,
                             "sizes": "smoke (a script check, not a measurement)" if args.tiny else "full"}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):  # they would win over HF_HOME
            os.environ.pop(key, None)
        if args.tiny:  # the smoke models load no pretrained weights
            notes["weights"] = "smoke models: random initialisation"
        else:
            t = time.perf_counter()
            os.environ.update(fill_weight_caches(workdir / "weights"))
            notes["fill_caches_s"] = round(time.perf_counter() - t, 1)
        for model_name in models:
            for amp in amps:
                for bs in sizes[model_name]:
                    row = measure_training(model_name, bs, amp, device, steps=1 if args.tiny else args.steps,
                                           warmup=1 if args.tiny else args.warmup, tiny=args.tiny, workdir=workdir)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        clip = make_clip(workdir, seconds=3.0 if args.tiny else 10.0, size=(160, 120) if args.tiny else (320, 240))
        for model_name in models:
            predictor = inference_predictor(model_name, device, args.tiny)
            row = measure_predict(model_name, predictor, clip, runs=1 if args.tiny else args.runs)
            print(json.dumps(row), flush=True)
            rows.append(row)
            if model_name == "multimodal":  # the same model, built once
                for row in measure_sampling(predictor, clip, runs=1 if args.tiny else args.runs, workdir=workdir):
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        two = (args.ddp == "on") or (args.ddp == "auto" and not cpu and torch.cuda.device_count() >= 2)
        if two and (cpu or torch.cuda.device_count() >= 2):
            amp = "off" if cpu else ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
            bs = sizes["moe"][0]
            row = run_ddp(bs, amp, 1 if args.tiny else args.steps, 1 if args.tiny else args.warmup,
                          args.tiny, cpu, workdir)
            print(json.dumps(row), flush=True)
            rows.append(row)
        else:
            notes["ddp"] = f"skipped: {torch.cuda.device_count()} GPU(s) visible, two needed"
    notes["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary(rows, name, notes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

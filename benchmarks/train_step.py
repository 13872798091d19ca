"""Training-step benchmark: samples per second of one optimizer step (forward, the
multi-task loss, backward, clipping, AdamW) for each model in its smoke and full
configs, on the current device.

Batches are synthetic (:func:`helpers.models.make_demo_batch` shapes, random values):
this measures the model and the loop, not decoding (see ``benchmarks/decode.py``).
On CUDA each configuration runs with AMP off and on (bf16 where supported, else fp16).
Full configs run with ``pretrained=False`` (no download; same compute).

Prints one JSON line per measurement (median over ``--steps`` timed steps after
``--warmup``), then a last summary line ``{"benchmark": "train_step", "results": …}``.
Run: ``python benchmarks/train_step.py [--steps 3] [--only moe] [--quick]``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from helpers.training import TrainConfig  # noqa: E402
from helpers.training.experiment import build_model, model_config_for  # noqa: E402
from helpers.training.losses import MultiTaskLoss  # noqa: E402
from helpers.training.optim import build_optimizer  # noqa: E402
from helpers.training.tasks import task_outputs  # noqa: E402
from helpers.training.trainer import amp_dtype  # noqa: E402

CAPTIONS = ["a red arrow moves to the left.", "a blue flag turns clockwise on a grey background."]


def synthetic_batch(batch: int, frames: int, crop: int, num_classes: int, seconds: float = 2.0) -> dict:
    """Random tensors with the Batches contract's keys and shapes."""
    n_audio = int(seconds * 16000)
    return {
        "video": torch.randn(batch, 3, frames, crop, crop),
        "frame_times": torch.linspace(0, seconds, frames).repeat(batch, 1),
        "audio": torch.randn(batch, n_audio) * 0.1,
        "audio_mel": torch.randn(batch, 64, n_audio // 160 + 1),
        "audio_mask": torch.ones(batch, dtype=torch.bool),
        "label": torch.randint(0, num_classes, (batch,)),
        "caption": [CAPTIONS[i % 2] for i in range(batch)],
    }


def measure(model_name: str, preset: str, device: torch.device, amp: str, steps: int, warmup: int,
            batch_size: int | None) -> dict:
    num_classes = 51
    config = (TrainConfig.smoke if preset == "smoke" else TrainConfig.full)(model_name, amp=amp)
    overrides = dict(config.model_overrides)
    overrides.update({"pretrained": False} if model_name == "moe" else
                     {"vision_pretrained": False, "audio_pretrained": False, "caption_pretrained": False})
    config = config.with_(model_overrides=overrides)
    if batch_size:
        config = config.with_(batch_size=batch_size)
    torch.manual_seed(0)
    model = build_model(model_name, model_config_for(config, num_classes, CAPTIONS)).to(device).train()
    optimizer = build_optimizer(model, config)
    loss_fn = MultiTaskLoss.from_config(config)
    dtype = amp_dtype(device, amp)
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    batch = synthetic_batch(config.batch_size, config.num_frames, config.crop, num_classes)
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def step() -> None:
        ctx = torch.autocast(device.type, dtype=dtype) if dtype is not None else torch.autocast("cpu", enabled=False)
        with ctx:
            loss, _ = loss_fn(task_outputs(model, batch))
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        (scaler.step(optimizer), scaler.update()) if scaler else optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    median = statistics.median(times)
    return {
        "benchmark": "train_step", "model": model_name, "preset": preset, "device": str(device),
        "amp": str(dtype).replace("torch.", "") if dtype else "off", "batch_size": config.batch_size,
        "frames": config.num_frames, "crop": config.crop,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "step_s": round(median, 4), "samples_per_s": round(config.batch_size / median, 2), "steps": steps,
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--only", choices=("moe", "multimodal"))
    p.add_argument("--presets", default="smoke,full")
    p.add_argument("--batch-size", type=int, help="override the preset's batch size (e.g. 2 for full on CPU)")
    p.add_argument("--quick", action="store_true", help="smoke presets only, 2 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.presets, args.steps = "smoke", 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amps = ["off", "auto"] if device.type == "cuda" else ["off"]
    results = []
    for model_name in [args.only] if args.only else ["moe", "multimodal"]:
        for preset in args.presets.split(","):
            for amp in amps:
                row = measure(model_name, preset, device, amp, args.steps, args.warmup, args.batch_size)
                print(json.dumps(row), flush=True)
                results.append({k: row[k] for k in ("model", "preset", "amp", "samples_per_s")})
    print(json.dumps({"benchmark": "train_step", "device": str(device), "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

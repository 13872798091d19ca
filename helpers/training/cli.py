"""``python -m helpers train --model moe|multimodal --split N [--data DIR] [--epochs E] [--smoke]``

Load-or-train from the command line, for runs too long for a notebook. The last line
printed is one JSON object (``best_val_acc`` 0–1, ``epochs``, ``checkpoint``, …) so
scripts can read the outcome. Under ``accelerate launch`` or ``torchrun`` (WORLD_SIZE
> 1) it trains on every process through ``accelerate`` and only rank 0 prints the JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m helpers train", description=__doc__.split("\n\n")[1])
    p.add_argument("--model", choices=("moe", "multimodal"), default="moe")
    p.add_argument("--split", type=int, choices=(1, 2, 3), default=1)
    p.add_argument("--data", help="dataset folder (default: what notebook 01 prepared)")
    p.add_argument("--models-dir", help="where <model>_split<N>_best.pth goes (default: settings' models dir)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--num-frames", type=int)
    p.add_argument("--crop", type=int, help="crop size in px (frames are decoded at the same 128:171 ratio)")
    p.add_argument("--workers", type=int, dest="num_workers")
    p.add_argument("--scheduler", choices=("cosine", "plateau", "constant"))
    p.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"))
    p.add_argument("--seed", type=int)
    p.add_argument("--patience", type=int, dest="early_stopping_patience", help="early stopping (epochs)")
    p.add_argument("--accum-steps", type=int)
    p.add_argument("--deterministic", action="store_true", default=None)
    p.add_argument("--smoke", action="store_true", help="tiny sizes (same code path); default from SMOKE/CI")
    p.add_argument("--force", action="store_true",
                   help="retrain even when a finished checkpoint exists (replaced once the new run finishes)")
    p.add_argument("--no-resume", action="store_true",
                   help="start an interrupted run over instead of continuing it from its last.pth")
    p.add_argument("--no-progress", action="store_true")
    return p


OVERRIDES = ("epochs", "batch_size", "lr", "num_frames", "num_workers", "scheduler", "amp", "seed",
             "early_stopping_patience", "accum_steps", "deterministic")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from helpers.settings import get_settings
    from helpers.training.checkpoint import CheckpointError
    from helpers.training.config import TrainConfig
    from helpers.training.distributed import in_distributed_launch, make_accelerator
    from helpers.training.load import load_or_train
    from helpers.training.lock import RunLocked
    from helpers.training.trainer import RunInterrupted

    overrides = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None}
    if args.crop:
        overrides.update(crop=args.crop, resize=(round(args.crop * 128 / 112), round(args.crop * 171 / 112)))
    if args.no_progress:
        overrides["progress"] = False
    try:
        config = TrainConfig.for_size(args.model, "smoke" if args.smoke else None, split=args.split, **overrides)
    except (TypeError, ValueError) as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 2
    accelerator = make_accelerator(config.amp) if in_distributed_launch() else None
    try:
        result = load_or_train(args.model, args.split, config=config, data=args.data, force=args.force,
                               resume=not args.no_resume, models_dir=args.models_dir, accelerator=accelerator,
                               settings=get_settings())
    except (CheckpointError, FileNotFoundError, RunLocked) as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 1
    except RunInterrupted as exc:
        what = (f"run the same command again to resume from epoch {exc.epoch_done + 1}" if exc.epoch_done
                else "run the same command again to start it")
        print(f"train: {exc}; {what}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("train: interrupted before the first epoch; nothing saved", file=sys.stderr)
        return 130
    if accelerator is None or accelerator.is_main_process:
        print(json.dumps({"model": args.model, "split": args.split, "size": "smoke" if args.smoke else get_settings().size,
                      **result.summary()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

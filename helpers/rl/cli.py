"""``python -m helpers rl``: train the DQN frame sampler and save it (what notebook 05
does, from a shell).

    python -m helpers rl [--checkpoint PATH] [--episodes N] [--out FILE] [--json]

Reads the Kinetics-style demo clips (generated when missing, as notebook 05 does), the
multi-modal model notebook 04 trained (``models/multimodal_split1_best.pth``; in smoke
mode, without it, the feature head on optical flow), trains the agent, prints the
accuracy-vs-frames summary and saves the sampler bundle (agent + classifier + feature
settings) that notebook 08's widget and ``python -m helpers predict --rl-sampler``
replay. Defaults follow the notebook's: smaller under ``SMOKE=1``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


#: defaults per size (helpers.settings.size), the values notebook 05's parameters cell picks
SIZE_DEFAULTS: dict[str, dict[str, int]] = {
    "smoke": dict(episodes=150, num_positions=16, head_epochs=10),
    "demo": dict(episodes=600, num_positions=16, head_epochs=30),
    "full": dict(episodes=3000, num_positions=32, head_epochs=60),
}


def build_parser(size: str) -> argparse.ArgumentParser:
    """The options, their defaults those of ``size`` ("smoke", "demo" or "full")."""
    d = SIZE_DEFAULTS[size]
    p = argparse.ArgumentParser(prog="python -m helpers rl", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="multi-modal checkpoint (default: models/multimodal_split1_best.pth)")
    p.add_argument("--data", type=Path, default=None, help="Kinetics-style folder (default: the generated demo clips)")
    p.add_argument("--out", type=Path, default=None,
                   help="sampler file (default: <models_dir>/rl_frame_sampler_dqn.pt; <cache>/rl/ under SMOKE)")
    p.add_argument("--episodes", type=int, default=d["episodes"], help="DQN training episodes")
    p.add_argument("--num-positions", type=int, default=d["num_positions"], help="candidate frames per clip")
    p.add_argument("--head-epochs", type=int, default=d["head_epochs"])
    p.add_argument("--max-frames", type=int, default=8, help="hard budget of frames per episode")
    p.add_argument("--target-frames", type=int, default=4, help="frames beyond this cost extra")
    p.add_argument("--frame-cost", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print only the summary as one JSON line")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from helpers.settings import get_settings, size

    active = size()
    smoke = active == "smoke"
    args = build_parser(active).parse_args(list(argv) if argv is not None else None)
    if args.episodes < 1 or args.num_positions < 2 or args.max_frames < 1:
        print("rl: --episodes ≥ 1, --num-positions ≥ 2 and --max-frames ≥ 1 are needed", file=sys.stderr)
        return 2
    from helpers.inference.rl_sampler import save_pipeline_sampler
    from helpers.rl.pipeline import model_for_notebook, notebook_config, run_pipeline
    from helpers.training.load import default_checkpoint
    from helpers.training.seed import seed_everything

    settings = get_settings()
    seed_everything(args.seed)
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else print
    try:
        if args.data is None:
            from helpers.datasets import ensure_demo_data

            data_dir = ensure_demo_data(settings).kinetics_dir
        else:
            data_dir = args.data
        model, checkpoint, note = model_for_notebook(args.checkpoint or default_checkpoint("multimodal", 1, settings.models_dir),
                                                     smoke)
        log(note)
        config = notebook_config(data_dir, settings.cache_dir / "rl", checkpoint, has_model=model is not None,
                                 seed=args.seed, num_positions=args.num_positions, episodes=args.episodes,
                                 head_epochs=args.head_epochs, max_frames=args.max_frames,
                                 target_frames=args.target_frames, frame_cost=args.frame_cost)
        config.progress = not args.no_progress
        pipe = run_pipeline(config, model=model, checkpoint=checkpoint)
    except (FileNotFoundError, ValueError) as exc:
        print(f"rl: {exc}", file=sys.stderr)
        return 1
    for line in pipe.notes:
        log(line)
    out = args.out or (settings.cache_dir / "rl" if smoke else settings.models_dir) / "rl_frame_sampler_dqn.pt"
    save_pipeline_sampler(out, pipe)
    log(f"saved {out}")
    print(json.dumps({**pipe.summary(), "sampler": str(out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

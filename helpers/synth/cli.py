"""``python -m helpers synth --layout hmdb51|kinetics --out DIR --seed N [--class-names hmdb51] [...]``."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from helpers.synth.config import MAX_CLASSES, NAME_SETS, SynthConfig, SynthConfigError


class _UsageError(Exception):
    """Bad command-line arguments (reported as one line, exit code 1)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit 2
        raise _UsageError(message)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 320x240, got {text!r}") from None
    return w, h


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m helpers synth",
                description="Generate the offline stand-in dataset in the HMDB51 or Kinetics layout.")
    p.add_argument("--layout", choices=["hmdb51", "kinetics"], required=True)
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--seed", type=int, default=None, help="default: the preset's seed (0)")
    p.add_argument("--preset", choices=["smoke", "demo"], default="smoke",
                   help="base sizes (default smoke); the options below override them")
    p.add_argument("--class-names", choices=list(NAME_SETS), default=None,
                   help="motion: the 12 classes named after their motion (default); hmdb51: "
                        f"HMDB51's {len(NAME_SETS['hmdb51'])} real names on generated motions, to "
                        "rehearse 51-class shapes (not an accuracy benchmark)")
    p.add_argument("--classes", type=int, help=f"first K classes of the name set (2–{MAX_CLASSES} motion, "
                                                f"2–{len(NAME_SETS['hmdb51'])} hmdb51)")
    p.add_argument("--clips-per-class", type=int)
    p.add_argument("--seconds", type=float)
    p.add_argument("--fps", type=int)
    p.add_argument("--size", type=_size, help="WxH, e.g. 320x240")
    p.add_argument("--workers", type=int, default=None, help="encoder processes (default: CPU count)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Returns 0 on success, 1 with a one-line reason on bad arguments."""
    from helpers.synth.builder import generate

    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        base = SynthConfig.demo() if args.preset == "demo" else SynthConfig.smoke()
        overrides = {k: v for k, v in {
            "classes": args.classes, "clips_per_class": args.clips_per_class, "seconds": args.seconds,
            "fps": args.fps, "size": args.size, "seed": args.seed, "names": args.class_names}.items()
            if v is not None}
        config = dataclasses.replace(base, **overrides)
        if args.workers is not None and args.workers < 1:
            raise _UsageError(f"--workers must be ≥ 1, got {args.workers}")
    except (_UsageError, SynthConfigError) as exc:
        print(f"synth: error: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    result = generate(args.layout, args.out, config, progress=not args.no_progress, workers=args.workers)
    print(result.summary())
    return 0

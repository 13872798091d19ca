"""``python -m helpers <command> …``: one entry point for everything a notebook does.

Each command lives in the module that does the work, as a ``main(argv) -> int``
function with its own argparse parser; this file only dispatches, so adding a
command never touches another's code and ``--help`` stays fast (modules load lazily).
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from helpers.heap import return_freed_memory

# command -> (module exposing main(argv), one-line description)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("helpers.synth.cli", "generate the offline stand-in dataset (hmdb51 or kinetics layout)"),
    "download": ("helpers.download", "download a URL resumably with checksum verification"),
    "extract": ("helpers.archives", "extract a RAR/zip/tar archive safely (nested RARs too)"),
    "fetch-hmdb51": ("helpers.fetch_hmdb51", "download and extract HMDB51 (or the generated stand-in)"),
    "serve": ("helpers.serving.cli", "serve the model over HTTP (FastAPI): POST /predict, /health, /model, /docs"),
    "serve-folder": ("helpers.http_server", "serve a folder over HTTP on 127.0.0.1 (Range requests; offline downloads)"),
    "probe": ("helpers.video.probe", "print a video's metadata and decode a few frames"),
    "train": ("helpers.training.cli", "train the MoE or multi-modal model on a split (load-or-train)"),
    "rl": ("helpers.rl.cli", "train the DQN frame sampler (notebook 05) and save it for the widget and predict"),
    "evaluate": ("helpers.evaluation.cli", "evaluate a checkpoint (clip and video level) and compare every saved model"),
    "compress": ("helpers.compression.cli", "prune, quantize (int8) and distil the MoE model; print the side-by-side table (multi-modal: its dynamic-int8 file)"),
    "predict": ("helpers.inference.cli", "classify the action in a video file (top-k with probabilities)"),
    "run-notebooks": ("helpers.run_notebooks", "execute the notebooks 01→08 top to bottom"),
    "fill-weight-caches": ("helpers.models.weight_cache", "RANDOM weights of the real models in torch/HF caches (offline rehearsal only)"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m helpers <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "Every command also takes --max-steps N: a step budget for a quick rehearsal of the",
              "full-size path (caps optimisation steps and evaluated batches; see HELPERS_MAX_STEPS).",
              "", "Run `python -m helpers <command> --help` for a command's options."]
    return "\n".join(lines)


def pop_max_steps(args: list[str]) -> list[str]:
    """``args`` without ``--max-steps N`` / ``--max-steps=N``, whose value goes to the
    environment (:func:`helpers.settings.step_budget` reads it wherever a loop runs)."""
    import os

    from helpers.settings import MAX_STEPS_ENV, env_whole

    out: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == "--max-steps" or arg.startswith("--max-steps="):
            value = arg.partition("=")[2] if "=" in arg else next(it, "")
            try:  # the same check as the environment variable's
                env_whole(MAX_STEPS_ENV, 1, environ={MAX_STEPS_ENV: value or "missing"})
            except ValueError as exc:
                raise SystemExit(f"helpers: --max-steps: {exc}") from None
            os.environ[MAX_STEPS_ENV] = value
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the command's module; returns the process exit code."""
    return_freed_memory()  # a full-size step's activations leave the process once freed
    args = pop_max_steps(list(sys.argv[1:] if argv is None else argv))
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"helpers: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"helpers: command {name!r} is not built yet ({module_name} missing)", file=sys.stderr)
            return 2
        raise
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())

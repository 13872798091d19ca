"""Training on several GPUs (Kaggle's 2×T4) through Hugging Face ``accelerate``.

The worker, :func:`train_worker`, lives here (not in a notebook) because ``spawn``
pickles the function by reference. Three ways in:

* notebook: ``launch(config, num_processes=2)`` → ``accelerate.notebook_launcher``;
* command line: ``accelerate launch -m helpers train …`` or
  ``torchrun --nproc_per_node 2 -m helpers train …`` (the CLI builds an ``Accelerator``
  whenever it finds itself in a multi-process launch);
* CPU tests: ``launch_cpu(fn, args, num_processes=2)`` — gloo, a file rendezvous.

DDP is built with ``find_unused_parameters=True``: a sparse MoE leaves the experts no
sample was routed to without gradients, and the caption/sync heads sit out batches
without captions/audio.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch


def in_distributed_launch() -> bool:
    """True inside ``accelerate launch``/``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def make_accelerator(amp: str = "auto", cpu: bool | None = None):
    """An ``Accelerator`` with the trainer's AMP choice and DDP that tolerates unused parameters."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    cuda = torch.cuda.is_available() and not cpu
    if not cuda or amp == "off":
        precision = "no"
    elif amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
        precision = "bf16"
    else:
        precision = "fp16"
    return Accelerator(mixed_precision=precision, cpu=not cuda,
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])


def train_worker(config: dict[str, Any], data: str | None = None, models_dir: str | None = None,
                 force: bool = False, weights_out: str | None = None) -> dict[str, Any] | None:
    """Run in every process: load-or-train with an ``Accelerator``. Returns the summary
    on the main process (None elsewhere). ``weights_out``: each rank also saves its
    final parameters, optimizer steps and world size to ``<weights_out>/rank<R>.pt``
    (the DDP test compares them)."""
    from helpers.training.config import TrainConfig
    from helpers.training.load import load_or_train

    cfg = TrainConfig.from_dict(config)
    acc = make_accelerator(cfg.amp)
    result = load_or_train(cfg.model, cfg.split, config=cfg, data=data, force=force, models_dir=models_dir,
                           accelerator=acc, resume=not force)
    if weights_out is not None:
        Path(weights_out).mkdir(parents=True, exist_ok=True)
        model = result.trainer.core if result.trainer is not None else result.model
        state = {"params": {k: v.detach().cpu() for k, v in model.named_parameters()},
                 "steps": result.trainer.step if result.trainer is not None else 0,
                 "world_size": acc.num_processes}
        torch.save(state, Path(weights_out) / f"rank{acc.process_index}.pt")
    acc.wait_for_everyone()
    return result.summary() if acc.is_main_process else None


def launch(config, *, num_processes: int | None = None, data: str | Path | None = None,
           models_dir: str | Path | None = None, force: bool = False) -> None:
    """From a notebook: train on every visible GPU with ``accelerate.notebook_launcher``.
    Prepare the data first (the workers must not all generate it at once)."""
    from accelerate import notebook_launcher

    n = num_processes or max(1, torch.cuda.device_count())
    args = (config.to_dict(), None if data is None else str(data), None if models_dir is None else str(models_dir),
            force)
    notebook_launcher(train_worker, args=args, num_processes=n)


def launch_cpu(function: Callable, args: tuple = (), num_processes: int = 2, start_method: str | None = None) -> None:
    """Run ``function(*args)`` in ``num_processes`` CPU processes joined by gloo. For
    tests and debugging. ``start_method`` defaults to "spawn": forking a process whose
    torch thread pools are already running (a long pytest session, a notebook kernel)
    can deadlock the children; spawn re-imports torch instead (``function`` must be
    importable and ``args`` picklable)."""
    import socket

    method = start_method or "spawn"
    with socket.socket() as probe:  # a free port: a fixed one collides with other runs
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    from accelerate.utils import PrepareForLaunch, patch_environment
    from torch.multiprocessing import start_processes

    with tempfile.TemporaryDirectory() as tmp:
        rdv = os.path.join(tmp, "rendezvous")
        with patch_environment(world_size=num_processes, master_addr="127.0.0.1", master_port=port,
                               accelerate_mixed_precision="no", accelerate_debug_rdv_file=rdv,
                               accelerate_use_cpu="yes", gloo_socket_ifname="lo", omp_num_threads="1"):
            start_processes(PrepareForLaunch(function, debug=True), args=args, nprocs=num_processes,
                            start_method=method)

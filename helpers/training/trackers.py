"""Optional experiment trackers: TensorBoard and Weights & Biases.

Off by default and never required: each is imported only when its switch is on, and a
missing package gives one printed line, not an error.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


class TensorBoardLogger:
    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        self.writer = SummaryWriter(str(log_dir))

    def log(self, row: dict[str, Any], step: int) -> None:
        for k, v in row.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    def __init__(self, config: dict[str, Any], run_dir: Path) -> None:
        import wandb

        self.run = wandb.init(project="video-action-recognition", config=config, dir=str(run_dir))

    def log(self, row: dict[str, Any], step: int) -> None:
        self.run.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=step)

    def close(self) -> None:
        self.run.finish()


def make_loggers(config, run_dir: Path) -> list[Any]:
    """The trackers the config switches on that can be imported."""
    loggers: list[Any] = []
    if config.tensorboard:
        try:
            loggers.append(TensorBoardLogger(Path(run_dir) / "tensorboard"))
        except ImportError:
            print("tensorboard is not installed (pip install tensorboard): TensorBoard logging is off")
    if config.wandb:
        try:
            loggers.append(WandbLogger(config.to_dict(), Path(run_dir)))
        except ImportError:
            print("wandb is not installed (pip install wandb): Weights & Biases logging is off")
    return loggers

"""The test data a checkpoint is evaluated on: the same dataset, split and
preprocessing its training run validated with (read from the checkpoint's TrainConfig),
so notebook 07 needs one call, and a trained model is never judged on other frames
than it was built for."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.settings import Settings, get_settings


@dataclass
class TestData:
    loader: Any  # yields Batches-contract dicts
    class_names: list[str]
    samples: list[tuple[str, int]]  # (path, label) per test video
    data_dir: Path
    config: Any  # the checkpoint's TrainConfig


def test_data_for(checkpoint: str | Path, data: str | Path | None = None, settings: Settings | None = None,
                  batch_size: int | None = None) -> TestData:
    """Loader over the checkpoint's validation/test split (HMDB51 split N test side for
    the MoE model, ``split == "val"`` clips for the multi-modal one)."""
    from helpers.training import TrainConfig, load_checkpoint
    from helpers.training.experiment import build_loaders

    state = load_checkpoint(checkpoint)
    cfg = TrainConfig.from_dict(state["config"]).with_(progress=False)
    if batch_size is not None:
        cfg = cfg.with_(batch_size=batch_size)
    _, val_loader, classes, _, data_dir, _ = build_loaders(cfg, data, settings or get_settings())
    ds = val_loader.dataset if hasattr(val_loader, "dataset") else getattr(val_loader, "loader").dataset
    samples = [(str(s.path), int(s.label)) for s in ds.samples]
    return TestData(val_loader, list(state.get("class_names") or classes), samples, Path(data_dir), cfg)


test_data_for.__test__ = False  # not a pytest test despite its name
TestData.__test__ = False

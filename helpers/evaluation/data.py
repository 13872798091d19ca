"""The test data a checkpoint is evaluated on: the same dataset, split and
preprocessing its training run validated with (read from the checkpoint's TrainConfig
and data record), so notebook 07 needs one call, and a trained model is never judged on
other frames or other classes than it was built for."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.settings import Settings, get_settings


@dataclass
class TestData:
    loader: Any  # yields Batches-contract dicts, labels in the model's class order
    class_names: list[str]  # the model's classes (its output order)
    samples: list[tuple[str, int]]  # (path, label in the model's class order) per test video
    data_dir: Path
    config: Any  # the checkpoint's TrainConfig
    train_loader: Any = None  # the training clips in a fixed order: what a retrieval baseline searches

    @property
    def named_samples(self) -> list[tuple[str, str]]:
        """``(path, class name)`` per test video: what :func:`compare_models` matches by."""
        return [(path, self.class_names[label]) for path, label in self.samples]


class RelabeledLoader:
    """A loader whose batches' ``label`` go through ``mapping`` (data index → model index)."""

    def __init__(self, loader: Any, mapping: list[int]) -> None:
        import torch

        self.loader = loader
        self.mapping = torch.as_tensor(mapping, dtype=torch.long)

    def __iter__(self):
        for batch in self.loader:
            yield {**batch, "label": self.mapping[batch["label"].long()]}

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        if name in ("loader", "mapping"):
            raise AttributeError(name)
        return getattr(self.loader, name)


def checkpoint_data_dir(checkpoint: str | Path, state: dict[str, Any]) -> Path | None:
    """The data folder a checkpoint records it was trained on (None for checkpoints
    written before that was recorded); an error when that folder is gone."""
    recorded = (state.get("data") or {}).get("dir")
    if not recorded:
        return None
    if not Path(recorded).is_dir():
        raise FileNotFoundError(f"{checkpoint} was trained on {recorded}, which is not there any more: "
                                "pass the data to evaluate on (--data DIR)")
    return Path(recorded)


def class_mapping(data_classes: list[str], model_classes: list[str]) -> list[int]:
    """Index in ``model_classes`` of each data class; a ValueError naming the classes
    when the two lists do not hold the same names (a model scored on other data)."""
    missing = [c for c in data_classes if c not in model_classes]
    extra = [c for c in model_classes if c not in data_classes]
    if missing or extra:
        def some(names: list[str]) -> str:
            return ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        parts = ([f"the model lacks {some(missing)}"] if missing else []) + (
            [f"the data lacks {some(extra)}"] if extra else [])
        raise ValueError(f"the model's {len(model_classes)} classes are not the data's {len(data_classes)} "
                         f"({'; '.join(parts)}): evaluate it on the data it was trained on (--data DIR)")
    return [model_classes.index(c) for c in data_classes]


def training_record(path: str | Path) -> dict[str, Any]:
    """``config``, ``class_names`` and ``data`` of what ``path`` was trained with: a
    ``helpers.training`` checkpoint's own (weights untouched), or those a notebook-06
    model file carries (:func:`helpers.compression.deploy.deploy_meta`). A ValueError
    says what is missing."""
    from helpers.inference.model_files import file_format, read_meta
    from helpers.training import CheckpointError, load_checkpoint

    fmt = file_format(path)
    if fmt in ("torchscript", "onnx"):
        meta = read_meta(path)
    else:
        try:
            return load_checkpoint(path, mmap=True)
        except CheckpointError as exc:
            if fmt == "unknown":  # damaged: the loader's own reason
                raise ValueError(str(exc)) from None
            meta = read_meta(path)
    if not meta or not isinstance(meta.get("train_config"), dict):
        raise ValueError(f"{path}: the file does not record the training config and data it came from; pass a "
                         "training checkpoint, or write the file again (python -m helpers compress)")
    return {"config": meta["train_config"], "class_names": meta.get("class_names"), "data": meta.get("data")}


def test_data_for(checkpoint: str | Path, data: str | Path | None = None, settings: Settings | None = None,
                  batch_size: int | None = None) -> TestData:
    """Loader over the checkpoint's validation/test split (HMDB51 split N test side for
    the MoE model, ``split == "val"`` clips for the multi-modal one). Without ``data``:
    the data the checkpoint was trained on (older checkpoints: the active dataset).
    Labels are matched by class name, so a data folder listing the classes in another
    order is scored correctly, and one with other classes is refused. ``train_loader``
    walks the training clips unshuffled (the caption baselines learn from them)."""
    from helpers.datasets import make_loader
    from helpers.training import TrainConfig
    from helpers.training.experiment import build_loaders

    state = training_record(checkpoint)
    cfg = TrainConfig.from_dict(state["config"]).with_(progress=False)
    if batch_size is not None:
        cfg = cfg.with_(batch_size=batch_size)
    if data is None:
        data = checkpoint_data_dir(checkpoint, state)
    train_loader, val_loader, classes, _, data_dir, _ = build_loaders(cfg, data, settings or get_settings())
    model_classes = list(state.get("class_names") or classes)
    mapping = class_mapping(list(classes), model_classes)
    ds = val_loader.dataset if hasattr(val_loader, "dataset") else getattr(val_loader, "loader").dataset
    samples = [(str(s.path), mapping[int(s.label)]) for s in ds.samples]
    same = mapping == list(range(len(mapping)))
    loader = val_loader if same else RelabeledLoader(val_loader, mapping)
    train = make_loader(train_loader.dataset, cfg.batch_size, train=False, num_workers=cfg.num_workers)
    return TestData(loader, model_classes, samples, Path(data_dir), cfg,
                    train if same else RelabeledLoader(train, mapping))


test_data_for.__test__ = False  # not a pytest test despite its name
TestData.__test__ = False

"""Build what a run needs from a :class:`TrainConfig`: the datasets and loaders (HMDB51
split N for the MoE model, the Kinetics-style clips with audio and captions for the
multi-modal one), and the model sized for the classes found.

Where the data comes from: ``data`` when given (HMDB51: a folder holding the class
folders of clips, with ``testTrainMulti_7030_splits`` in it or next to it;
multi-modal: a folder with ``annotations.json``), else what notebook 01 recorded
(:func:`helpers.datasets.ensure_demo_data`, which generates the small stand-in in smoke
mode). The MoE model validates on the split's test side, as the torchvision reference
does (HMDB51 has no separate validation set); the multi-modal one on ``split == "val"``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from helpers.settings import Settings, get_settings
from helpers.training.config import TrainConfig
from helpers.training.tasks import unwrap


@dataclass
class Experiment:
    """A model with its loaders, ready for :class:`~helpers.training.trainer.Trainer`."""

    config: TrainConfig
    model: nn.Module
    model_config: dict[str, Any]
    train_loader: Any
    val_loader: Any
    class_names: list[str]
    data_dir: Path
    notes: list[str] = field(default_factory=list)


class MemoryCachedDataset(Dataset):
    """Every item of ``dataset`` decoded once, up front, and kept in memory.

    Why up front: the epochs then draw nothing from the RNGs for data, so a resumed run
    (whose cache starts empty) and an uninterrupted one stay identical. The price: one
    crop per clip for the whole run — for small data (smoke runs, tests) only.
    """

    def __init__(self, dataset: Dataset, progress: bool = False, workers: int = 0) -> None:
        from tqdm.auto import tqdm

        self.dataset = dataset
        loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers,
                                             collate_fn=_identity)
        self.items = [item for item in tqdm(loader, total=len(dataset), desc="decoding clips",
                                            disable=not progress, leave=False)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        return self.items[index]

    def __getattr__(self, name: str) -> Any:  # classes, samples, … of the wrapped dataset
        if name in ("dataset", "items"):
            raise AttributeError(name)
        return getattr(self.dataset, name)


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:10]


def _identity(x: Any) -> Any:
    return x


def find_splits_dir(root: Path) -> Path:
    """The ``testTrainMulti_7030_splits`` folder for the clips in ``root``.

    Looked for in ``root`` and next to it only: ``root`` itself, ``root/``, its parent,
    and one folder below either (``<base>/videos`` beside ``<base>/splits/…``, as
    ``fetch-hmdb51`` extracts). Never deeper: a search of the whole parent picked another
    dataset's split files. A folder whose classes are not class folders of ``root`` is
    passed over; the error names every place looked at and why each was not used.
    """
    from helpers.datasets.splits import split_files
    from helpers.fetch_hmdb51 import SPLITS_FOLDER

    root = Path(root)
    if root.name == SPLITS_FOLDER:
        return root
    candidates: list[Path] = []
    for base in (root, root.parent):
        for found in [base / SPLITS_FOLDER, *sorted(base.glob(f"*/{SPLITS_FOLDER}"))]:
            if found.is_dir() and found not in candidates:
                candidates.append(found)
    folders = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
    passed_over: list[str] = []
    for found in candidates:
        classes = set(split_files(found, 1)) if any(found.glob("*_test_split1.txt")) else set()
        if classes and classes <= folders:
            return found
        extra = sorted(classes - folders)
        why = (f"its classes ({', '.join(extra[:3])}{', …' if len(extra) > 3 else ''}) are not class folders "
               f"of {root}") if classes else "it holds no <class>_test_split1.txt file"
        passed_over.append(f"{found} ({why})")
    looked = f"{root}, {root}/*/, {root.parent}, {root.parent}/*/"
    message = f"no {SPLITS_FOLDER}/ folder for the clips in {root} (looked in {looked})"
    if passed_over:
        message += "; passed over: " + "; ".join(passed_over)
    if any((root / name).is_file() for name in ANNOTATION_FILES):
        message += (f". {root} is in the Kinetics layout (annotations file): the MoE model needs the HMDB51 "
                    "layout (class folders and split files); use --model multimodal for this folder")
    else:
        message += f". Put the split files in {root.parent}/splits/{SPLITS_FOLDER}/ or extract test_train_splits.rar there"
    raise FileNotFoundError(message)


ANNOTATION_FILES = ("annotations.json", "annotations.csv")


def find_annotations(root: Path) -> Path:
    """The multi-modal model's annotation file in ``root`` (``annotations.json``, else
    ``.csv``); the error names both and points HMDB51-layout folders to the MoE model."""
    from helpers.fetch_hmdb51 import SPLITS_FOLDER

    root = Path(root)
    for name in ANNOTATION_FILES:
        if (root / name).is_file():
            return root / name
    message = f"no annotation file in {root}: looked for {' and '.join(ANNOTATION_FILES)}"
    if any(root.parent.glob(f"*/{SPLITS_FOLDER}")) or (root.parent / SPLITS_FOLDER).is_dir():
        message += (" (the folder looks like HMDB51, class folders with split files: the multi-modal model "
                    "needs a Kinetics-style folder with captions; use --model moe for this one)")
    raise FileNotFoundError(message)


def _has_clip_folders(root: Path) -> bool:
    """Whether ``root`` holds class folders of video files (the extracted layout)."""
    from helpers.datasets.kinetics import VIDEO_EXTENSIONS

    for child in root.iterdir():
        if child.is_dir() and any(f.suffix.lower() in VIDEO_EXTENSIONS for f in child.iterdir()):
            return True
    return False


def usable_data_dir(model: str, data: str | Path) -> Path:
    """``data`` as the given model's dataset reads it. Accepts what ``synth``,
    ``download`` and ``fetch-hmdb51`` leave behind: an extracted clips folder, or a
    folder whose ``videos/`` holds them (fetch-hmdb51's root). A folder of archives only
    is an error naming the ``extract`` commands that make it usable."""
    from helpers.fetch_hmdb51 import SPLITS_ARCHIVE, VIDEO_ARCHIVE

    path = Path(data).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"--data {path}: no such folder")
    if model != "moe" or _has_clip_folders(path):
        return path
    if (path / "videos").is_dir() and _has_clip_folders(path / "videos"):
        print(f"data: the clips of {path} are in {path / 'videos'}: using that folder")
        return path / "videos"
    for archives in (path, path / "archives"):
        if (archives / VIDEO_ARCHIVE).is_file():
            out = archives.parent if archives.name == "archives" else archives
            raise FileNotFoundError(
                f"{archives} holds the HMDB51 archives, not extracted clips: run "
                f"`python -m helpers extract {archives / VIDEO_ARCHIVE} {out / 'videos'}` and "
                f"`python -m helpers extract {archives / SPLITS_ARCHIVE} {out / 'splits'}`, then pass "
                f"--data {out / 'videos'} (or `python -m helpers fetch-hmdb51`, which does both)")
    if any((path / name).is_file() for name in ANNOTATION_FILES):
        return path  # Kinetics layout: find_splits_dir says to use --model multimodal
    raise FileNotFoundError(f"--data {path} holds no class folders of clips (<class>/<clip>.avi)")


def resolve_data_dir(config: TrainConfig, data: str | Path | None, settings: Settings) -> Path:
    """The folder the model's dataset reads (see the module docstring and :func:`usable_data_dir`)."""
    if data is not None:
        return usable_data_dir(config.model, data)
    from helpers.datasets import ensure_demo_data

    demo = ensure_demo_data(settings, progress=config.progress)
    return demo.hmdb51_dir if config.model == "moe" else demo.kinetics_dir


def _transforms(config: TrainConfig, hflip: float):
    from helpers.datasets import ClipTransform

    crop = (config.crop, config.crop)
    train = ClipTransform(resize=tuple(config.resize), crop=crop, random_crop=True, hflip_prob=hflip)
    test = ClipTransform(resize=tuple(config.resize), crop=crop)
    return train, test


def default_hflip(config: TrainConfig, class_names: list[str]) -> tuple[float, str | None]:
    """0.5 as in the torchvision reference, except on the generated data: its classes
    come in mirror pairs (move_left/move_right, rotate_cw/rotate_ccw) that a flip swaps."""
    if config.hflip_prob is not None:
        return config.hflip_prob, None
    from helpers.synth import SYNTH_CLASSES

    if class_names and set(class_names) <= set(SYNTH_CLASSES):
        return 0.0, "horizontal flips off: the generated classes include mirror pairs (left/right, cw/ccw)"
    return 0.5, None


def build_datasets(config: TrainConfig, data_dir: Path, settings: Settings) -> tuple[Dataset, Dataset, list[str], list[str]]:
    """``(train, val, class_names, notes)`` for the config's model."""
    from helpers.datasets import HMDB51, ClipCache, KineticsStyle

    notes: list[str] = []
    cache = ClipCache(settings.cache_dir / "clips") if config.clip_cache == "disk" else None
    common = dict(num_frames=config.num_frames, cache=cache, index_cache=settings.cache_dir / "index" /
                  f"{data_dir.name}_{_digest(data_dir)}.json")
    if config.model == "moe":
        splits = find_splits_dir(data_dir)
        notes.append(f"split files: {splits}")
        probe = HMDB51(data_dir, splits, split=config.split, train=False, sampler="uniform", **common)
        hflip, note = default_hflip(config, probe.classes)
        train_tf, test_tf = _transforms(config, hflip)
        train = HMDB51(data_dir, splits, split=config.split, train=True, sampler=config.train_sampler,
                       transform=train_tf, **common)
        val = HMDB51(data_dir, splits, split=config.split, train=False, sampler="uniform", transform=test_tf, **common)
    else:
        ann = find_annotations(data_dir)
        probe_classes = KineticsStyle(data_dir, ann, split="val", train=False, index_cache=False).classes
        hflip, note = default_hflip(config, probe_classes)
        train_tf, test_tf = _transforms(config, hflip)
        train = KineticsStyle(data_dir, ann, split="train", train=True, sampler=config.train_sampler,
                              transform=train_tf, **common)
        # one audio length for both sides: the sync pairs and the batches need it fixed
        val = KineticsStyle(data_dir, ann, split="val", train=False, sampler="uniform", transform=test_tf,
                            audio_seconds=train.audio_seconds, **common)
    if note:
        notes.append(note)
    if config.clip_cache == "memory":
        train = MemoryCachedDataset(train, progress=config.progress)
        val = MemoryCachedDataset(val, progress=config.progress)
    return train, val, list(train.classes), notes


def build_loaders(config: TrainConfig, data: str | Path | None = None, settings: Settings | None = None):
    """``(train_loader, val_loader, class_names, captions_of_train, data_dir, notes)``."""
    from helpers.datasets import make_loader
    from helpers.training.seed import seed_worker

    s = settings or get_settings()
    data_dir = resolve_data_dir(config, data, s)
    train, val, classes, notes = build_datasets(config, data_dir, s)
    workers = config.num_workers
    kw = {"worker_init_fn": seed_worker} if workers != 0 else {}
    train_loader = make_loader(train, config.batch_size, train=True, num_workers=workers, seed=config.seed, **kw)
    val_loader = make_loader(val, config.batch_size, train=False, num_workers=workers, **kw)
    captions = [r.caption for r in train.samples]
    return train_loader, val_loader, classes, captions, data_dir, notes


def model_config_for(config: TrainConfig, num_classes: int, captions: list[str] | None = None):
    """The model config dataclass the TrainConfig asks for (preset + overrides)."""
    from helpers.models import ActionMoEConfig, MultiModalConfig

    cls = ActionMoEConfig if config.model == "moe" else MultiModalConfig
    preset = cls.smoke if config.model_preset == "smoke" else cls.full
    mcfg = preset(num_classes=num_classes, **config.model_overrides)
    if config.model == "multimodal" and mcfg.caption_decoder != "none" and mcfg.caption_vocab is None:
        usable = [c for c in (captions or []) if c]
        mcfg = mcfg.with_captions(usable) if usable else replace(mcfg, caption_decoder="none")
    return mcfg


def build_model(model_name: str, model_config: Any) -> nn.Module:
    """The model for ``model_name`` ("moe" or "multimodal") from its config (dataclass or dict)."""
    from helpers.models import ActionMoEConfig, ActionMoEDynamicModel, MultiModalConfig, MultiModalVideoModel

    if model_name == "moe":
        cfg = model_config if isinstance(model_config, ActionMoEConfig) else ActionMoEConfig(**_tuples(model_config))
        return ActionMoEDynamicModel(cfg)
    if model_name == "multimodal":
        cfg = model_config if isinstance(model_config, MultiModalConfig) else MultiModalConfig(**model_config)
        return MultiModalVideoModel(cfg)
    raise ValueError(f"model must be 'moe' or 'multimodal', got {model_name!r}")


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if k == "backbone_layers" and isinstance(v, list) else v for k, v in d.items()}


def built_model_config(model: nn.Module) -> dict[str, Any]:
    """What a checkpoint stores to rebuild ``model``: the architecture as built (the
    pretrained flags off, and the configs of whatever pretrained parts were loaded), not
    the config asked for, which builds another network once weights are (not) found."""
    return unwrap(model).rebuild_config().to_dict()


def model_from_checkpoint(state: dict[str, Any]) -> nn.Module:
    """Rebuild the model a checkpoint holds and load its weights. Never downloads: the
    stored config is the architecture as built (:func:`built_model_config`), and the
    pretrained flags are off (also in checkpoints written before configs were stored so)."""
    name = state.get("model_name") or state["config"]["model"]
    mcfg = dict(state.get("model_config") or {})
    for flag in ("pretrained", "vision_pretrained", "audio_pretrained", "caption_pretrained"):
        if flag in mcfg:
            mcfg[flag] = False
    model = build_model(name, mcfg)
    model.load_state_dict(state["model"])
    return model.eval()


def build_experiment(config: TrainConfig, data: str | Path | None = None, settings: Settings | None = None) -> Experiment:
    """Loaders, then the model sized for the classes they found (seeded by ``config.seed``)."""
    from helpers.training.seed import seed_everything

    seed_everything(config.seed, config.deterministic)
    train_loader, val_loader, classes, captions, data_dir, notes = build_loaders(config, data, settings)
    mcfg = model_config_for(config, len(classes), captions)
    torch.manual_seed(config.seed)
    model = build_model(config.model, mcfg)
    return Experiment(config, model, built_model_config(model), train_loader, val_loader, classes, data_dir, notes)

"""A larger held-out evaluation set for comparing compressed models on the generated data.

Why: the smoke split's test side has 18 clips (one clip = 5.6 points), too coarse to
check "≤ 1 point lost" or "≥ 98 % top-1 agreement". The generator makes any number of
fresh clips, so the comparison uses a second dataset generated with a *different seed*
(new scenes, speeds, event times, distractors — nothing shared with the teacher's
training clips), same classes, same packing (RAR archives, split files), read through
the same :class:`~helpers.datasets.HMDB51` dataset and test transform as the test split.
No model ever trains on it. Real HMDB51 has no such stand-in: there the split's test
side is used (:func:`evaluation_loader` returns ``None``).

The held-out clips are made with the generator settings of the teacher's own data
(clip length, frame rate, size, event share: read from the ``.generated.json`` stamp the
generator leaves beside it, :func:`synth_config_of`), only the seed and the number of
clips differ.
"""
from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

EVAL_SEED_OFFSET = 10_007  # eval seed = training data seed + this: disjoint generator streams


def synth_config_of(data_dir: str | Path | None) -> Any:
    """The :class:`~helpers.synth.SynthConfig` that generated the clips in ``data_dir``
    (its videos folder or the dataset root), from the generator's ``.generated.json``
    stamp in ``archives/`` or ``origin/`` beside it; ``None`` when there is none (real data)."""
    from helpers.synth import SynthConfig

    if data_dir is None:
        return None
    d = Path(data_dir)
    for base in (d, d.parent):
        for sub in ("archives", "origin", "."):
            stamp = base / sub / ".generated.json"
            if stamp.is_file():
                try:
                    raw = json.loads(stamp.read_text())["config"]
                except (ValueError, KeyError, TypeError):
                    continue
                names = {f.name for f in fields(SynthConfig)}
                return SynthConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names})
    return None


def generate_eval_set(dest: Path, classes: int, clips_per_class: int, seed: int, *, progress: bool = False,
                      base: Any = None) -> Path:
    """Generate (once; reused when the config matches) and extract an HMDB51-layout
    dataset under ``dest``; returns ``dest`` holding ``videos/`` and ``splits/…``.
    ``base``: the generator settings to copy (default ``SynthConfig.smoke()``)."""
    from helpers.archives import extract
    from helpers.fetch_hmdb51 import SPLITS_ARCHIVE, VIDEO_ARCHIVE, _generate_once
    from helpers.synth import SynthConfig

    dest = Path(dest)
    config = replace(base or SynthConfig.smoke(), classes=classes, clips_per_class=clips_per_class, seed=seed)
    _generate_once("hmdb51", dest / "archives", config, progress)
    extract(dest / "archives" / VIDEO_ARCHIVE, dest / "videos", nested=True, progress=progress)
    extract(dest / "archives" / SPLITS_ARCHIVE, dest / "splits", nested=False, progress=progress)
    return dest


def evaluation_loader(train_config: Any, class_names: list[str], dest: Path, *, clips_per_class: int,
                      batch_size: int = 8, progress: bool = False, data_dir: str | Path | None = None):
    """Batches (``video``, ``label``; decoded once) of every labelled clip (train and test sides of split 1) of a
    freshly generated held-out dataset with the teacher's classes, transformed like
    the test split; ``None`` when the classes are not the generator's (real data) or
    ``clips_per_class`` is 0. ``data_dir``: the teacher's data, whose generator settings
    the held-out clips copy (:func:`synth_config_of`)."""
    import torch.utils.data as tud

    from helpers.datasets import HMDB51, ClipTransform, make_loader
    from helpers.fetch_hmdb51 import SPLITS_FOLDER
    from helpers.synth import SYNTH_CLASSES

    n = len(class_names)
    if clips_per_class <= 0 or set(class_names) != set(SYNTH_CLASSES[:n]):
        return None
    base = synth_config_of(data_dir)
    seed = (base.seed if base is not None else 0) + int(train_config.seed) + EVAL_SEED_OFFSET
    root = generate_eval_set(dest, n, clips_per_class, seed, progress=progress, base=base)
    tf = ClipTransform(resize=tuple(train_config.resize), crop=(train_config.crop, train_config.crop))
    sides = [HMDB51(root / "videos", root / "splits" / SPLITS_FOLDER, split=1, train=side, sampler="uniform",
                    num_frames=train_config.num_frames, transform=tf, index_cache=False) for side in (True, False)]
    if list(sides[0].classes) != list(class_names):
        raise ValueError(f"{root}: eval classes {sides[0].classes} differ from the teacher's {class_names}")
    loader = make_loader(tud.ConcatDataset(sides), batch_size, train=False, num_workers=0)
    # decoded once and kept: every compressed model is evaluated on the same tensors
    return [{"video": b["video"], "label": b["label"]} for b in loader]

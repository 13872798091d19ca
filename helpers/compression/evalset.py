"""A larger held-out evaluation set for comparing compressed models on the generated data.

Why: the smoke split's test side has 18 clips (one clip = 5.6 points), too coarse to
check "≤ 1 point lost" or "≥ 98 % top-1 agreement". The generator makes any number of
fresh clips, so the comparison uses a second dataset generated with a *different seed*
(new scenes, speeds, event times, distractors — nothing shared with the teacher's
training clips), same classes, same packing (RAR archives, split files), read through
the same :class:`~helpers.datasets.HMDB51` dataset and test transform as the test split.
No model ever trains on it. Real HMDB51 has no such stand-in: there the split's test
side is used (:func:`evaluation_loader` returns ``None``).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

EVAL_SEED_OFFSET = 10_007  # eval seed = training data seed + this: disjoint generator streams


def generate_eval_set(dest: Path, classes: int, clips_per_class: int, seed: int, *, progress: bool = False) -> Path:
    """Generate (once; reused when the config matches) and extract an HMDB51-layout
    dataset under ``dest``; returns ``dest`` holding ``videos/`` and ``splits/…``."""
    from helpers.archives import extract
    from helpers.hmdb51 import SPLITS_ARCHIVE, VIDEO_ARCHIVE, _generate_once
    from helpers.synth import SynthConfig

    dest = Path(dest)
    config = replace(SynthConfig.smoke(), classes=classes, clips_per_class=clips_per_class, seed=seed)
    _generate_once("hmdb51", dest / "archives", config, progress)
    extract(dest / "archives" / VIDEO_ARCHIVE, dest / "videos", nested=True, progress=progress)
    extract(dest / "archives" / SPLITS_ARCHIVE, dest / "splits", nested=False, progress=progress)
    return dest


def evaluation_loader(train_config: Any, class_names: list[str], dest: Path, *, clips_per_class: int,
                      batch_size: int = 8, progress: bool = False):
    """Batches (``video``, ``label``; decoded once) of every labelled clip (train and test sides of split 1) of a
    freshly generated held-out dataset with the teacher's classes, transformed like
    the test split; ``None`` when the classes are not the generator's (real data) or
    ``clips_per_class`` is 0."""
    import torch.utils.data as tud

    from helpers.datasets import HMDB51, ClipTransform, make_loader
    from helpers.hmdb51 import SPLITS_FOLDER
    from helpers.synth import SYNTH_CLASSES

    n = len(class_names)
    if clips_per_class <= 0 or set(class_names) != set(SYNTH_CLASSES[:n]):
        return None
    root = generate_eval_set(dest, n, clips_per_class, int(train_config.seed) + EVAL_SEED_OFFSET, progress=progress)
    tf = ClipTransform(resize=tuple(train_config.resize), crop=(train_config.crop, train_config.crop))
    sides = [HMDB51(root / "videos", root / "splits" / SPLITS_FOLDER, split=1, train=side, sampler="uniform",
                    num_frames=train_config.num_frames, transform=tf, index_cache=False) for side in (True, False)]
    if list(sides[0].classes) != list(class_names):
        raise ValueError(f"{root}: eval classes {sides[0].classes} differ from the teacher's {class_names}")
    loader = make_loader(tud.ConcatDataset(sides), batch_size, train=False, num_workers=0)
    # decoded once and kept: every compressed model is evaluated on the same tensors
    return [{"video": b["video"], "label": b["label"]} for b in loader]

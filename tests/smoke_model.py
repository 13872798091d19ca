"""A tiny trained action model for the inference, widget and browser tests, built once
per test session (and shared between test files through a folder under pytest's base
temp dir).

Generated clips of two classes are written as HMDB51-style class folders with a split
file, and :func:`helpers.training.load_or_train` trains the smoke-size MoE model on
them (the project's own training code, a few epochs at 24 px). The model is weak; the
tests only need clips it classifies correctly, so :func:`build_smoke_model` also
returns the rendered frames of the clip the model gets right most confidently.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASSES = ("grow", "move_left")
CLIPS_PER_CLASS = 4
TEST_PER_CLASS = 1


@dataclass
class SmokeModel:
    checkpoint: Path
    class_names: list[str]
    best_class: str  # the true class of best_frames
    best_frames: np.ndarray  # uint8 (T, H, W, 3) of a clip the model classifies correctly
    fps: int
    avi: Path  # that clip as written for training


def _settings(root: Path):
    from helpers.settings import Settings, repo_root

    return Settings(root=repo_root(), data_dir=root / "data", models_dir=root / "models", runs_dir=root / "runs",
                    kaggle=False, smoke=True, seed=0, device="cpu")


def build_smoke_model(root: Path) -> SmokeModel:
    """Train (or reuse from ``root``) the tiny model; see the module docstring."""
    from helpers.inference import load_predictor, predict_frames
    from helpers.synth import SynthConfig, render_clip
    from helpers.synth.encode import write_video
    from helpers.training import TrainConfig, load_or_train
    from helpers.video.sampling import uniform_indices

    root = Path(root)
    cfg = SynthConfig.smoke(seconds=1.2, fps=15, size=(64, 48), distractor=False)
    videos = root / "videos"
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True, exist_ok=True)
    rendered: dict[tuple[str, int], np.ndarray] = {}
    for label, name in enumerate(CLASSES):
        lines = []
        for i in range(CLIPS_PER_CLASS):
            clip = render_clip(name, cfg, seed=1000 * label + i, audio=False)
            rendered[(name, i)] = clip.frames
            path = videos / name / f"{name}_{i:02d}.avi"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_video(path, clip.frames, cfg.fps)
            lines.append(f"{path.name} {2 if i >= CLIPS_PER_CLASS - TEST_PER_CLASS else 1}")
        (splits / f"{name}_test_split1.txt").write_text("\n".join(lines) + "\n")
    train_cfg = TrainConfig.smoke("moe", epochs=2, batch_size=4, num_frames=8, resize=(24, 32), crop=24, lr=3e-3,
                                  seed=0)
    result = load_or_train("moe", 1, config=train_cfg, data=videos, settings=_settings(root))
    predictor = load_predictor(result.checkpoint)
    best, best_p = None, -1.0
    for (name, i), frames in rendered.items():
        top = predict_frames(frames[uniform_indices(len(frames), predictor.num_frames)],
                             predictor, top_k=1)[0]
        if top[0] == name and top[1] > best_p:
            best, best_p = (name, i), top[1]
    if best is None:
        raise RuntimeError("the smoke model classifies none of its training clips correctly")
    (root / "best.json").write_text(json.dumps({"class": best[0], "index": best[1], "p": best_p}))
    return SmokeModel(result.checkpoint, list(result.class_names or CLASSES), best[0], rendered[best], cfg.fps,
                      videos / best[0] / f"{best[0]}_{best[1]:02d}.avi")

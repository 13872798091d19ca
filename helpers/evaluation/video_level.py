"""Video-level testing as torchvision's ``references/video_classification`` does it:
several evenly spaced clips per video (optionally 3 spatial crops each), softmax
averaged over the views → one prediction per video. The clip-level accuracy (every
view judged on its own) is reported next to it, so the numbers compare to published
ones (e.g. r2plus1d_18: 5 clips × 16 frames at 112², "Acc@1" is the video figure).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers.evaluation.metrics import topk_accuracy
from helpers.settings import within_budget


@dataclass
class VideoLevelResult:
    clip_top1: float  # every view on its own
    video_top1: float  # views averaged per video
    video_top5: float
    single_clip_top1: float  # one centred uniform clip per video (what training validated)
    num_videos: int
    clips: int
    crops: int
    video_scores: np.ndarray  # (V, C)
    labels: np.ndarray  # (V,)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of skipped videos

    def summary(self) -> dict[str, Any]:
        return {"single_clip_top1": self.single_clip_top1, "clip_top1": self.clip_top1,
                "video_top1": self.video_top1, "video_top5": self.video_top5, "num_videos": self.num_videos,
                "views_per_video": f"{self.clips} clips x {self.crops} crops", "skipped": len(self.failures)}


def video_level_accuracy(predictor: Any, samples: Iterable[tuple[str | Path, int]], *, clips: int = 5,
                         crops: int = 1, max_videos: int | None = None, progress: bool = False) -> VideoLevelResult:
    """Evaluate ``predictor`` (:class:`helpers.inference.Predictor`) on ``samples`` at
    video level (``clips`` × ``crops`` views) and with a single clip. Unreadable videos
    are skipped and listed in ``failures``."""
    from tqdm.auto import tqdm

    from helpers.inference import InferenceError, predict_video

    items: Sequence[tuple[str | Path, int]] = list(samples)[: within_budget(max_videos)]  # step budget caps them too
    video_scores, single_scores, labels, clip_hits = [], [], [], []
    failures: list[tuple[str, str]] = []
    for path, label in tqdm(items, desc="video-level test", disable=not progress, leave=False):
        try:
            multi = predict_video(path, model=predictor, clips=clips, crops=crops, keep_frames=False)
            single = predict_video(path, model=predictor, clips=1, crops=1, keep_frames=False)
        except InferenceError as exc:
            failures.append((str(path), exc.reason))
            continue
        video_scores.append(multi.probabilities)
        single_scores.append(single.probabilities)
        labels.append(int(label))
        clip_hits += list(multi.view_probabilities.argmax(axis=1) == int(label))
    if not labels:
        raise ValueError(f"no video could be evaluated ({len(failures)} failed)")
    scores, y = np.stack(video_scores), np.asarray(labels)
    return VideoLevelResult(clip_top1=float(np.mean(clip_hits)), video_top1=topk_accuracy(scores, y, 1),
                            video_top5=topk_accuracy(scores, y, 5),
                            single_clip_top1=topk_accuracy(np.stack(single_scores), y, 1), num_videos=len(y),
                            clips=clips, crops=crops, video_scores=scores, labels=y, failures=failures)

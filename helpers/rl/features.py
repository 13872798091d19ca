"""Per-frame features of every clip of a split, computed once by a trained model's frame
encoder and kept on disk.

Why: the agent needs thousands of episodes; decoding and encoding frames inside an
episode would cost seconds, reading a row of a cached array costs microseconds (the
AdaFrame recipe). Each clip is reduced to ``N`` candidate positions spread uniformly
over it; the agent chooses among those. Encoders: the trained model's frame encoder,
the candidate's optical flow to a frame shortly after, or pixel thumbnails. With them we store what the baselines and
plots need: candidate times, an audio energy envelope per candidate (the cheap
"listen first" preview), labels, paths and the event window of generated clips.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from helpers.atomic import atomic_open

BUDGET_CLIPS_PER_STEP = 8  # under a step budget (HELPERS_MAX_STEPS) each split reads this many clips per step


@dataclass
class FeatureSet:
    """Cached candidates of ``M`` clips × ``N`` positions.

    features (M, N, F) float32 · times (M, N) float32 seconds from the video start ·
    frame_indices (M, N) int64 · labels (M,) int64 · audio_env (M, N) float32 in [0, 1]
    (zeros without audio) · has_audio (M,) bool · events (M, 2) int64 event start/end
    frame (-1 when unknown) · paths, classes · motion_env (M, N) float32 in [0, 1]: the
    silent preview, mean absolute grey-level change from each candidate to the frame
    ``motion_gap`` later (None in caches written before it existed) · packet_env (M, N)
    float32 in [0, 1]: the preview that needs no decoding, :func:`packet_energy` (None in
    caches written before it existed; zeros for a clip whose packets cannot be listed).
    """

    features: np.ndarray
    times: np.ndarray
    frame_indices: np.ndarray
    labels: np.ndarray
    audio_env: np.ndarray
    has_audio: np.ndarray
    events: np.ndarray
    paths: list[str]
    classes: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    motion_env: np.ndarray | None = None
    packet_env: np.ndarray | None = None

    def __post_init__(self) -> None:
        m, n = self.features.shape[:2]
        for name in ("times", "frame_indices", "audio_env", "motion_env", "packet_env"):
            if getattr(self, name) is not None and getattr(self, name).shape != (m, n):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {(m, n)}")
        if self.labels.shape != (m,) or self.has_audio.shape != (m,) or len(self.paths) != m:
            raise ValueError("labels, has_audio and paths need one entry per clip")

    @property
    def num_clips(self) -> int:
        return int(self.features.shape[0])

    @property
    def num_positions(self) -> int:
        return int(self.features.shape[1])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[2])

    def subset(self, index: np.ndarray | list[int]) -> "FeatureSet":
        """The clips at ``index`` (e.g. only those with audio)."""
        idx = np.asarray(index, dtype=np.int64)
        return FeatureSet(self.features[idx], self.times[idx], self.frame_indices[idx], self.labels[idx],
                          self.audio_env[idx], self.has_audio[idx], self.events[idx],
                          [self.paths[i] for i in idx], list(self.classes), dict(self.meta),
                          None if self.motion_env is None else self.motion_env[idx],
                          None if self.packet_env is None else self.packet_env[idx])

    # ------------------------------------------------------------------ disk
    def save(self, path: str | Path) -> Path:
        """Atomic ``.npz`` write (:mod:`helpers.atomic`)."""
        path = Path(path)
        extra = {name: getattr(self, name) for name in ("motion_env", "packet_env") if getattr(self, name) is not None}
        with atomic_open(path, "wb") as fh:
            np.savez(fh, features=self.features, times=self.times, frame_indices=self.frame_indices,
                     labels=self.labels, audio_env=self.audio_env, has_audio=self.has_audio, events=self.events,
                     info=np.array(json.dumps({"paths": self.paths, "classes": self.classes, "meta": self.meta})),
                     **extra)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSet":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"feature cache not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                info = json.loads(str(z["info"]))
                return cls(z["features"], z["times"], z["frame_indices"], z["labels"], z["audio_env"],
                           z["has_audio"], z["events"], info["paths"], info["classes"], info.get("meta", {}),
                           z["motion_env"] if "motion_env" in z.files else None,
                           z["packet_env"] if "packet_env" in z.files else None)
        except (KeyError, ValueError, OSError) as exc:
            raise ValueError(f"{path}: not a feature cache ({exc})") from exc


def audio_envelope(path: str | Path, times: np.ndarray, duration: float) -> tuple[np.ndarray, bool]:
    """RMS energy of the audio around each candidate time (windows split halfway between
    neighbours, :func:`helpers.video.audio.window_rms`), scaled so the loudest is 1; zeros
    and False for a silent file."""
    from helpers.video.audio import window_rms

    times = np.asarray(times, np.float64)
    edges = np.concatenate([[0.0], (times[1:] + times[:-1]) / 2, [max(duration, float(times[-1]) if len(times) else 0.0)]])
    env, has_audio = window_rms(path, edges)
    peak = float(env.max()) if env.size else 0.0
    return (env / peak if peak > 0 else env).astype(np.float32), has_audio


def split_records(data_dir: str | Path, split: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of ``data_dir/annotations.json`` in ``split`` (paths made absolute) and the
    class names by label."""
    from helpers.datasets.kinetics import annotation_records, read_annotations

    data_dir = Path(data_dir)
    ann = data_dir / "annotations.json"
    if not ann.is_file():
        ann = data_dir / "annotations.csv"
    records, classes = annotation_records(ann, data_dir, split)
    extra = {str(Path(r["video_path"])): r for r in read_annotations(ann)}
    rows = []
    for rec in records:
        row = extra.get(str(Path(rec.path).relative_to(data_dir)), {})
        ev = tuple(int(row[k]) if row.get(k) not in (None, "") else -1 for k in ("event_start", "event_end"))
        rows.append({"path": rec.path, "label": rec.label, "event": ev})
    if not rows:
        raise ValueError(f"{ann}: no clips in split {split!r}")
    return rows, classes


def pixel_motion_features(frames: np.ndarray, next_frames: np.ndarray, size: int = 16) -> np.ndarray:
    """(T, 2·size²) float32: a grey ``size``×``size`` thumbnail of each frame and its
    difference to a frame shortly after. A transparent encoder with no training: the
    fallback when a model's frame encoder gives constant features (see
    :func:`is_degenerate`), and a way to see what the sampler does with plain pixels."""
    import cv2

    def thumbs(x: np.ndarray) -> np.ndarray:
        grey = x.astype(np.float32).mean(-1) / 255.0
        return np.stack([cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA) for g in grey])

    a, b = thumbs(frames), thumbs(next_frames)
    return np.concatenate([a.reshape(len(a), -1), 4.0 * (b - a).reshape(len(a), -1)], 1).astype(np.float32)


def flow_features(frames: np.ndarray, next_frames: np.ndarray, grid: int = 4) -> np.ndarray:
    """(T, 2·grid² + 5) float32: dense optical flow (OpenCV Farnebäck) from each frame to a
    frame shortly after — the flow averaged over a ``grid``×``grid`` layout, then the
    mean flow magnitude, the magnitude-weighted mean flow (u, v) and its radial and
    tangential parts around the weighted centre of motion (how much the moving thing
    grows/shrinks and turns). In pixels of the decoded frames per frame gap.

    Why: the classes of an action dataset differ in how things move; optical flow is the
    classic appearance-free motion input (the temporal stream of two-stream networks and
    TSN). Pixel thumbnails and their differences mix motion with contrast and appearance,
    and a head trained on 100-odd clips memorises the appearance instead."""
    import cv2

    out = []
    for a, b in zip(frames, next_frames):
        ga = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
        gb = cv2.cvtColor(np.ascontiguousarray(b), cv2.COLOR_RGB2GRAY)
        flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 9, 3, 5, 1.1, 0)
        h, w = ga.shape
        cells = cv2.resize(flow, (grid, grid), interpolation=cv2.INTER_AREA).reshape(-1)
        u, v = flow[..., 0], flow[..., 1]
        mag = np.sqrt(u**2 + v**2)
        total = float(mag.sum()) + 1e-6
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = float((mag * xs).sum() / total), float((mag * ys).sum() / total)
        rx, ry = xs - cx, ys - cy
        rn = np.sqrt(rx**2 + ry**2) + 1e-3
        radial = float((mag * (u * rx + v * ry) / rn).sum() / total)
        tangential = float((mag * (rx * v - ry * u) / rn).sum() / total)
        summary = [float(mag.mean()), float((mag * u).sum() / total), float((mag * v).sum() / total),
                   radial, tangential]
        out.append(np.concatenate([cells, summary]))
    return np.asarray(out, np.float32)


def motion_energy(frames: np.ndarray, next_frames: np.ndarray) -> np.ndarray:
    """(N,) the silent preview: :func:`sustained` frame-difference energy, the mean
    absolute grey-level change from each candidate frame to its later partner, kept only
    where the neighbouring candidates move too, scaled so the clip's largest is 1 (all
    zeros for a still clip). Computed on grey thumbnails (:func:`preview_thumbnails`)."""
    return sustained(frame_difference(frames, next_frames))


PREVIEW_SIZE = (36, 48)  # (H, W) of the grey thumbnails the motion preview is computed on


def preview_thumbnails(reader: Any, indices: np.ndarray, next_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey :data:`PREVIEW_SIZE` thumbnails of the candidate frames ``indices`` and their
    motion partners (one decoding pass, no RGB frame made: at HMDB51's 320×240 the
    full RGB frames cost more to convert and compare than to decode), for
    :func:`motion_energy`; the same at extraction and on a new video."""
    wanted = np.unique(np.concatenate([indices, next_indices]))
    thumbs = reader.thumbnails(wanted.tolist(), PREVIEW_SIZE)
    return thumbs[np.searchsorted(wanted, indices)], thumbs[np.searchsorted(wanted, next_indices)]


def frame_difference(frames: np.ndarray, next_frames: np.ndarray) -> np.ndarray:
    """(N,) float32: mean absolute grey-level change from each frame to its partner
    (RGB ``(N, H, W, 3)`` frames are made grey first; ``(N, H, W)`` ones are grey)."""
    def grey(x: np.ndarray) -> np.ndarray:
        if x.ndim == 3:
            return x.astype(np.float32)
        return x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)

    return np.abs(grey(next_frames) - grey(frames)).mean(axis=(1, 2)).astype(np.float32)


SUSTAIN_TIE = 1e-3  # weight of the raw change in sustained(): it only orders equal minima


def sustained(energy: np.ndarray) -> np.ndarray:
    """(N,) float32 in [0, 1]: each candidate's energy kept only as far as both its
    neighbours reach it too (the minimum of the three; one neighbour at the ends), plus
    a thousandth of its own change so that equal minima (a still stretch, or a change
    too short to last three candidates) are ordered by it; scaled so the largest is 1,
    zeros when nothing moves.

    Why: an action lasts; a change that lasts one candidate spacing is a cut, a flash,
    a camera bump or a cross-fade, not the action. Raw frame differences peak on such
    spikes (on the generated clips: the dissolve after the event, which shows no action),
    so a sampler ranking by them looks there first; ranked by this, it looks inside the
    longest-lasting change."""
    e = np.asarray(energy, np.float32)
    if len(e) == 0 or not e.max() > 0:
        return np.zeros_like(e)
    left, right = np.concatenate([e[:1], e[:-1]]), np.concatenate([e[1:], e[-1:]])
    kept = np.minimum(np.minimum(left, e), right) / e.max() + SUSTAIN_TIE * e / e.max()
    return (kept / kept.max()).astype(np.float32)


def packet_energy(sizes: np.ndarray, keyframes: np.ndarray, indices: np.ndarray,
                  window: int | None = None) -> np.ndarray:
    """(N,) float32 in [0, 1]: the mean bytes of the non-key packets in a window of
    ``window`` frames centred on each of the ``N`` frame ``indices``, scaled so the
    clip's largest is 1 (zeros when no window holds a non-key packet).

    Why: a predicted frame's packet grows with what changed since its reference, so the
    packet sizes :meth:`~helpers.video.PyAVReader.packet_sizes` lists by demuxing alone
    rank the candidates by motion without decoding a frame. A key frame is coded on its
    own and is large whatever moves, so key frames are left out of every mean rather
    than read as motion at each GOP start. Windows average over the encoder's alternation
    of large and small predicted frames (P and B); the default spans about three
    candidate spacings (at least 3 frames, odd). Limits: a rigid object moving
    steadily is predicted almost for free, and under a tight bit-rate budget rate
    control evens the sizes out; both flatten the preview."""
    sizes = np.asarray(sizes, np.float64)
    keyframes = np.asarray(keyframes, bool)
    idx = np.clip(np.asarray(indices, np.int64), 0, max(len(sizes) - 1, 0))
    if len(sizes) == 0 or len(idx) == 0:
        return np.zeros(len(idx), np.float32)
    if window is None:
        window = int(round(3 * len(sizes) / len(idx)))
    window = max(3, int(window)) | 1
    half = window // 2
    coded = np.where(keyframes, 0.0, sizes)
    csum = np.concatenate([[0.0], np.cumsum(coded)])
    ccount = np.concatenate([[0], np.cumsum(~keyframes)])
    lo, hi = np.clip(idx - half, 0, len(sizes)), np.clip(idx + half + 1, 0, len(sizes))
    count = ccount[hi] - ccount[lo]
    energy = np.where(count > 0, (csum[hi] - csum[lo]) / np.maximum(count, 1), 0.0)
    top = float(energy.max())
    return (energy / top if top > 0 else np.zeros_like(energy)).astype(np.float32)


def clip_packet_energy(reader: Any, indices: np.ndarray) -> np.ndarray:
    """:func:`packet_energy` of ``indices`` from an open reader's packet listing (zeros
    when the reader cannot list packets: the samplers then fall back to uniform)."""
    listed = reader.packet_sizes()
    if listed is None:
        return np.zeros(len(indices), np.float32)
    return packet_energy(listed[0], listed[1], indices)


def is_degenerate(features: np.ndarray, tol: float = 1e-5) -> bool:
    """True when the features barely vary across frames and clips (an encoder whose
    eval-mode output is constant carries no information to sample with)."""
    return float(np.asarray(features).reshape(-1, features.shape[-1]).std(0).max()) < tol


@torch.no_grad()
def extract_features(model: torch.nn.Module | None, data_dir: str | Path, split: str, *, num_positions: int = 32,
                     resize: tuple[int, int] = (36, 48), crop: int = 32, encoder: str = "model",
                     motion_gap: int = 2, progress: bool = True) -> FeatureSet:
    """Decode ``num_positions`` uniformly spaced frames of every clip in ``split``, encode
    them and read the audio envelope. ``encoder="model"``: ``model.vision`` (the trained
    per-frame encoder); ``"pixels"``: :func:`pixel_motion_features`; ``"flow"``:
    :func:`flow_features` on the frames at their stored size (no model needed).
    Under a step budget only the first :func:`clip_limit` clips of the split are read."""
    from tqdm.auto import tqdm

    from helpers.datasets import ClipTransform
    from helpers.video import open_video
    from helpers.video.sampling import uniform_indices

    if encoder not in ("model", "pixels", "flow"):
        raise ValueError(f"encoder must be 'model', 'pixels' or 'flow', got {encoder!r}")
    if encoder == "model" and model is None:
        raise ValueError("encoder='model' needs the trained model")
    rows, classes = split_records(data_dir, split)
    rows = rows[:clip_limit()]
    transform = ClipTransform(resize=tuple(resize), crop=(crop, crop))
    if model is not None:
        model.eval()
    feats, times, idxs, envs, audio, motion, packets = [], [], [], [], [], [], []
    start = time.perf_counter()
    for row in tqdm(rows, desc=f"features {split}", disable=not progress, leave=False):
        with open_video(row["path"]) as reader:
            meta = reader.metadata
            idx = uniform_indices(meta.num_frames, num_positions)
            packets.append(clip_packet_energy(reader, idx))
            # one sequential pass over the (short) clip is cheaper than a seek per candidate
            nxt = np.minimum(idx + motion_gap, meta.num_frames - 1)
            wanted = np.unique(np.concatenate([idx, nxt]))
            decoded = reader.frames(list(range(int(wanted.max()) + 1)),
                                    size=None if encoder == "flow" else tuple(resize))
            motion.append(motion_energy(*preview_thumbnails(reader, idx, nxt)))
        frames, after = decoded[idx], decoded[nxt]
        if encoder == "model":
            feats.append(model.vision(transform(frames).unsqueeze(0))[0].float().numpy())
        elif encoder == "flow":
            feats.append(flow_features(frames, after))
        else:
            feats.append(pixel_motion_features(frames, after))
        t = (idx / meta.fps).astype(np.float32)
        env, has = audio_envelope(row["path"], t, meta.duration or meta.num_frames / meta.fps)
        times.append(t)
        idxs.append(idx)
        envs.append(env)
        audio.append(has)
    return FeatureSet(np.stack(feats).astype(np.float32), np.stack(times), np.stack(idxs).astype(np.int64),
                      np.array([r["label"] for r in rows], np.int64), np.stack(envs), np.array(audio, bool),
                      np.array([r["event"] for r in rows], np.int64), [r["path"] for r in rows], list(classes),
                      {"split": split, "data_dir": str(data_dir), "num_positions": num_positions,
                       "encoder": encoder, "resize": [int(v) for v in resize], "crop": int(crop),
                       "seconds_per_frame": (time.perf_counter() - start) / (len(rows) * num_positions)},
                      np.stack(motion), np.stack(packets))


def clip_limit() -> int | None:
    """How many clips of a split feature extraction reads: all (None), or
    ``BUDGET_CLIPS_PER_STEP`` per step of the step budget (a rehearsal of the full size)."""
    from helpers.settings import step_budget

    budget = step_budget()
    return None if budget is None else budget * BUDGET_CLIPS_PER_STEP


def cache_key(checkpoint: str | Path | None, data_dir: str | Path, split: str, num_positions: int,
              encoder: str = "model", resize: tuple[int, int] = (36, 48), crop: int = 32) -> str:
    """A file name that changes when the model file, the data or the sampling changes."""
    ck = Path(checkpoint) if checkpoint else None
    stamp = f"{ck.resolve()}:{ck.stat().st_mtime_ns}:{ck.stat().st_size}" if ck and ck.is_file() else str(ck)
    size = "" if encoder == "flow" else f"|{tuple(resize)}|{crop}"  # flow reads frames at their stored size
    clips = clip_limit()
    limit = "" if clips is None else f"|first {clips}"  # a budgeted run's few clips are not the split
    digest = hashlib.sha1(f"v7|{stamp}|{Path(data_dir).resolve()}|{num_positions}|{encoder}{size}{limit}".encode()).hexdigest()[:12]
    return f"rl_features_{split}_{digest}.npz"


def cached_features(model: torch.nn.Module | None, data_dir: str | Path, split: str, cache_dir: str | Path, *,
                    checkpoint: str | Path | None = None, num_positions: int = 32,
                    resize: tuple[int, int] = (36, 48), crop: int = 32, encoder: str = "model",
                    progress: bool = True) -> FeatureSet:
    """:func:`extract_features` once; later calls read ``cache_dir/<key>.npz``."""
    path = Path(cache_dir) / cache_key(checkpoint, data_dir, split, num_positions, encoder, resize, crop)
    if path.is_file():
        return FeatureSet.load(path)
    fs = extract_features(model, data_dir, split, num_positions=num_positions, resize=resize, crop=crop,
                          encoder=encoder, progress=progress)
    fs.save(path)
    return fs

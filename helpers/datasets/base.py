"""The machinery shared by the HMDB51 and Kinetics-style datasets: one item = one
clip, sampled, decoded (or read from the clip cache), transformed, with its audio.

An item is a dict as the ``Batches`` contract describes, without the batch dimension:

=============  =======================  ===============================================
key            type                     meaning
=============  =======================  ===============================================
video          float32 (C, T, H, W)     normalized with the Kinetics mean/std
frame_indices  int64 (T,)               frames decoded, in order (see the sampler)
frame_times    float32 (T,)             ``frame_indices / fps``: seconds from the video start
audio          float32 (N,)             16 kHz mono of the clip's window, zeros if none
audio_mel      float32 (64, F)          log-mel of ``audio``
audio_mask     bool ()                  True when the clip has an audio track
label          int64 ()                 class index (sorted class names)
caption        str                      "" when the dataset has none
path           str                      the clip file
=============  =======================  ===============================================

A clip that cannot be loaded gives a :class:`~helpers.datasets.collate.FailedItem`
(path + reason) instead of raising (``on_error="skip"``, the default) so one bad file
does not stop a DataLoader; ``on_error="raise"`` raises instead. Errors that signal a
bug in the code (TypeError, AttributeError, NameError, ImportError, AssertionError)
always propagate.

Nothing unpicklable is kept on the dataset: readers are opened per item, inside the
worker that loads it.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from helpers.datasets.cache import ClipCache, clip_key
from helpers.datasets.collate import FailedItem
from helpers.datasets.index import ClipIndex, ClipInfo, default_index_file
from helpers.datasets.transforms import eval_preset, train_preset
from helpers.video.sampling import indices_to_times

SAMPLE_RATE = 16000
N_MELS = 64
HOP_LENGTH = 160
MAX_AUDIO_SECONDS = 10.0  # default audio length cap (a Kinetics clip)
SILENT_AUDIO_SECONDS = 1.0  # placeholder length when with_audio=False (all zeros)
SILENCE_DB = -100.0  # helpers.video.audio.log_mel's floor: what silence maps to
DEFAULT_FPS = 25.0  # used for frame_times only, when a container reports no rate
BUG_ERRORS = (TypeError, AttributeError, NameError, ImportError, AssertionError)

Sampler = Callable[[int, int, np.random.Generator], np.ndarray]
SamplerName = Literal["auto", "uniform", "segment", "dense"]


class ClipLoadError(RuntimeError):
    """A clip that could not be turned into an item (path and reason)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class ClipRecord:
    """One entry of a dataset: where the clip is and what it is."""

    path: str
    label: int
    caption: str = ""


# ------------------------------------------------------------------ samplers
def _uniform(num_frames: int, n: int, rng: np.random.Generator) -> np.ndarray:
    from helpers.video.sampling import uniform_indices

    return uniform_indices(num_frames, n)


def _segment(num_frames: int, n: int, rng: np.random.Generator) -> np.ndarray:
    from helpers.video.sampling import segment_indices

    return segment_indices(num_frames, n, rng)


def _dense(num_frames: int, n: int, rng: np.random.Generator, *, stride: int = 2) -> np.ndarray:
    from helpers.video.sampling import dense_clip_indices

    return dense_clip_indices(num_frames, n, stride, rng)


def resolve_sampler(sampler: SamplerName | Sampler, train: bool, frame_stride: int = 2) -> Sampler:
    """A picklable ``(num_frames, n, rng) -> indices`` function.

    ``"auto"``: TSN segment sampling (random offset per segment) when training,
    uniform when evaluating; ``"uniform"``, ``"segment"``, ``"dense"`` (``n``
    consecutive frames every ``frame_stride`` at a random start), or any callable with
    that signature (module-level, so workers can unpickle it).
    """
    if callable(sampler):
        return sampler
    name = ("segment" if train else "uniform") if sampler == "auto" else sampler
    if name == "uniform":
        return _uniform
    if name == "segment":
        return _segment
    if name == "dense":
        return partial(_dense, stride=frame_stride)
    raise ValueError(f"unknown sampler {sampler!r}: use auto, uniform, segment, dense or a callable")


def audio_window(
    indices: np.ndarray, fps: float, duration: float, seconds: float
) -> tuple[float, float]:
    """``(start, end)`` of ``seconds`` of audio centred on the sampled frames' span,
    shifted to stay inside ``[0, duration]`` (longer than the clip: starts at 0 and
    the reader pads the end with zeros)."""
    first = float(indices.min()) / fps
    last = float(indices.max() + 1) / fps
    start = (first + last) / 2 - seconds / 2
    start = min(start, max(duration, last) - seconds)
    start = max(0.0, start)
    return start, start + seconds


def fit_length(wave: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad a waveform to exactly ``n`` samples."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.shape[0] >= n:
        return wave[:n]
    return np.pad(wave, (0, n - wave.shape[0]))


# ------------------------------------------------------------------ dataset
class VideoClipDataset(Dataset):
    """Clips + labels → items (see the module docstring). Subclasses build ``samples``
    and ``classes``; everything else is here.

    ``index_cache``: ``True`` keeps clip metadata in ``<cache_dir>/index/…json`` (built
    once, reused while files keep their size and mtime; ``index_root`` names the file),
    a path puts it there, ``False`` reads metadata from each file as it is loaded.
    ``cache``: a :class:`ClipCache` (or a folder for one) for decoded clips; None, the
    default, decodes every time (see :mod:`helpers.datasets.cache`).
    ``audio_seconds``: the fixed audio length; None = the longest clip in the index
    (whole clips, zero-padded) up to 10 s, 10 s without an index, and 1 s of zeros
    when ``with_audio`` is False (no point shipping long silence to the GPU).
    """

    def __init__(
        self,
        samples: Sequence[ClipRecord],
        classes: Sequence[str],
        *,
        train: bool = False,
        num_frames: int = 16,
        sampler: SamplerName | Sampler = "auto",
        frame_stride: int = 2,
        transform: Callable[[np.ndarray], torch.Tensor] | None = None,
        with_audio: bool = False,
        audio_seconds: float | None = None,
        cache: ClipCache | str | Path | None = None,
        index_cache: bool | str | Path = True,
        index_root: str | Path | None = None,
        on_error: Literal["skip", "raise"] = "skip",
        backend: str = "auto",
        progress: bool = False,
    ) -> None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be ≥ 1, got {num_frames}")
        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        self.samples: list[ClipRecord] = list(samples)
        self.classes: list[str] = list(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.train = train
        self.num_frames = num_frames
        self.sampler = resolve_sampler(sampler, train, frame_stride)
        self.transform = transform if transform is not None else (train_preset() if train else eval_preset())
        self.decode_size: tuple[int, int] | None = getattr(self.transform, "decode_size", None)
        self.with_audio = with_audio
        self.cache = ClipCache(Path(cache)) if isinstance(cache, (str, Path)) else cache
        self.on_error = on_error
        self.backend = backend

        self.infos: list[ClipInfo | None] = [None] * len(self.samples)
        self.index_file: Path | None = None
        self.index_probed = 0  # clips the index had to open while building this dataset
        if index_cache is not False and index_cache is not None and self.samples:
            if index_cache is True:
                root = index_root if index_root is not None else Path(self.samples[0].path).parent.parent
                self.index_file = default_index_file(Path(root))
            else:
                self.index_file = Path(index_cache)
            index = ClipIndex(self.index_file)
            found = index.build([s.path for s in self.samples], progress=progress)
            self.infos = [found[s.path] for s in self.samples]
            self.index_probed = index.probed
        if audio_seconds is None:
            durations = [i.duration for i in self.infos if i is not None and i.ok and i.duration > 0]
            if not with_audio:
                audio_seconds = SILENT_AUDIO_SECONDS
            elif durations:
                audio_seconds = min(math.ceil(max(durations) * 10) / 10, MAX_AUDIO_SECONDS)
            else:
                audio_seconds = MAX_AUDIO_SECONDS
        self.audio_seconds = float(audio_seconds)
        self.audio_samples = int(round(self.audio_seconds * SAMPLE_RATE))
        # silence, computed without librosa (the same values log_mel gives for zeros)
        self._silent_mel = np.full((N_MELS, 1 + self.audio_samples // HOP_LENGTH), SILENCE_DB, np.float32)

    # -------------------------------------------------------------- basics
    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int]:
        return [s.label for s in self.samples]

    def class_counts(self) -> dict[str, int]:
        """``{class: clips}`` in class order (classes with no clip included, as 0)."""
        counts = {c: 0 for c in self.classes}
        for s in self.samples:
            counts[self.classes[s.label]] += 1
        return counts

    def __repr__(self) -> str:
        mode = "train" if self.train else "eval"
        return (
            f"{type(self).__name__}({len(self)} clips, {len(self.classes)} classes, {mode}, "
            f"{self.num_frames} frames, audio={'on' if self.with_audio else 'off'}, "
            f"cache={'on' if self.cache else 'off'})"
        )

    # -------------------------------------------------------------- items
    def __getitem__(self, index: int) -> dict[str, Any] | FailedItem:
        record = self.samples[index]
        try:
            return self.load(index)
        except BUG_ERRORS:
            raise
        except Exception as exc:
            if self.on_error == "raise":
                raise
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            return FailedItem(record.path, f"{type(exc).__name__}: {reason}", index)

    def _rng(self) -> np.random.Generator:
        # torch's generator is seeded per worker and per epoch by the DataLoader
        return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))

    def sample_indices(self, num_video_frames: int) -> np.ndarray:
        if num_video_frames < 1:
            raise ValueError("the video reports no frames")
        idx = np.asarray(self.sampler(num_video_frames, self.num_frames, self._rng()), dtype=np.int64)
        return idx.reshape(-1)

    def load(self, index: int) -> dict[str, Any]:
        """Build item ``index`` (raises on failure; :meth:`__getitem__` turns that into
        a :class:`FailedItem`)."""
        from helpers import video  # late: workers import it, tests may patch open_video

        record = self.samples[index]
        info = self.infos[index]
        if info is not None and not info.ok:
            raise ClipLoadError(record.path, info.error or "unreadable (see the index)")
        with contextlib.ExitStack() as stack:
            reader = None
            if info is None:
                reader = stack.enter_context(video.open_video(record.path, backend=self.backend))
                meta = reader.metadata
                n_video, fps = int(meta.num_frames), float(meta.fps or 0.0)
                duration, has_audio = float(meta.duration or 0.0), bool(meta.has_audio)
            else:
                n_video, fps, duration, has_audio = info.num_frames, info.fps, info.duration, info.has_audio
            indices = self.sample_indices(n_video)
            frames = None
            key = None
            if self.cache is not None:
                if info is not None:
                    key = clip_key(record.path, indices, self.decode_size, file_size=info.size, mtime_ns=info.mtime_ns)
                else:
                    key = clip_key(record.path, indices, self.decode_size)
                frames = self.cache.get(key)
            if frames is None:
                if reader is None:
                    reader = stack.enter_context(video.open_video(record.path, backend=self.backend))
                frames = reader.frames(indices.tolist(), size=self.decode_size)
                if self.cache is not None and key is not None:
                    self.cache.put(key, frames)
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[0] != len(indices):
            raise ClipLoadError(
                record.path, f"reader returned {frames.dtype} {frames.shape} for {len(indices)} frames"
            )
        fps_used = fps if fps > 0 else DEFAULT_FPS
        if duration <= 0:
            duration = n_video / fps_used
        wave, mel, audio_ok = self._audio(record.path, indices, fps_used, duration, has_audio)
        return {
            "video": self.transform(frames),
            "frame_indices": torch.from_numpy(indices.copy()),
            "frame_times": torch.from_numpy(indices_to_times(indices, fps_used, start_index=0)),
            "audio": torch.from_numpy(wave),
            "audio_mel": torch.from_numpy(mel),
            "audio_mask": torch.tensor(audio_ok, dtype=torch.bool),
            "label": torch.tensor(record.label, dtype=torch.int64),
            "caption": record.caption or "",
            "path": record.path,
        }

    # -------------------------------------------------------------- audio
    @staticmethod
    def _log_mel(wave: np.ndarray) -> np.ndarray:
        from helpers.video.audio import log_mel

        return np.asarray(
            log_mel(wave, sample_rate=SAMPLE_RATE, n_mels=N_MELS, hop_length=HOP_LENGTH), dtype=np.float32
        )

    def _audio(
        self, path: str, indices: np.ndarray, fps: float, duration: float, has_audio: bool
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        n = self.audio_samples
        if not (self.with_audio and has_audio):
            return np.zeros(n, dtype=np.float32), self._silent_mel.copy(), False
        from helpers.video.audio import read_audio

        start, end = audio_window(indices, fps, duration, self.audio_seconds)
        wave, present = read_audio(path, start, end, sample_rate=SAMPLE_RATE)
        wave = fit_length(wave, n)
        if not present:
            return wave, self._silent_mel.copy(), False
        return wave, self._log_mel(wave), True

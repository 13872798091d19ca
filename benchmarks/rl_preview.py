"""What the RL sampler's previews cost per clip, at the benchmark's frame size and at HMDB51's.

Generates (once, in ``--out``) clips like ``rl_sampling.py``'s — 9 s, the event in
12–20 % of the clip, with sound (H.264 in MP4) — at 96×72 / 10 fps and at 320×240 / 25 fps,
and the 320×240 ones again as HMDB51 stores its clips (``320x240_hmdb51``: MPEG-4 Part 2
in AVI, silent; :func:`helpers.rl.wallclock.hmdb51_copies`), and times per clip,
interleaved (1 warm-up, ``--runs`` rounds, median per clip, median over clips):

* ``motion_rgb``        open + RGB frames of the 32 candidates and their motion partners
                        at the stored size + :func:`~helpers.rl.features.motion_energy`
                        on them (how the motion preview was computed before thumbnails);
* ``motion_thumbnails`` open + :func:`~helpers.rl.features.preview_thumbnails` (grey
                        48×36, no RGB frame) + ``motion_energy``: the sampler's own
                        ``CandidateClip.motion`` (decoded at reduced size where
                        the codec can: MPEG-4 Part 2, not H.264);
* ``motion_full_decode`` the same thumbnails from frames decoded at full size (how they
                        were made before reduced-size decoding);
* ``packets``           open + the packet preview (demuxing only);
* ``audio_resampled``   the audio read at 8 kHz mono through FFmpeg's resampler, then the
                        RMS per candidate window (how the envelope was read before);
* ``audio_native``      :func:`~helpers.rl.features.audio_envelope` (the track's own rate,
                        no resampling: what the sampler runs).

The silent HMDB51-format clips time the three motion previews and the packets only.

What each preview is worth is measured on the same clips: ``event_hits``, the share of
a preview's top 1 / 2 / 4 candidates inside the clip's event
(:func:`helpers.rl.evaluate.top_in_event`), for ``motion`` (the thumbnails' motion
energy), ``packets``, ``audio`` (clips with sound) and ``uniform`` (no preview). The
event fills 12–20 % of each clip, so uniform picks land in it about that often.

Prints one JSON line per clip set, the last line a summary with the ratios
``motion_speedup`` (motion_rgb / motion_thumbnails), ``lowres_speedup``
(motion_full_decode / motion_thumbnails) and ``audio_speedup`` (audio_resampled /
audio_native) for each set.
Run: ``python benchmarks/rl_preview.py [--clips 12] [--runs 5] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES = {"96x72": ((96, 72), 10), "320x240": ((320, 240), 25)}  # (W, H), fps
HMDB51_SET = "320x240_hmdb51"  # the 320x240 clips re-encoded as HMDB51 stores its clips
NUM_POSITIONS, MOTION_GAP = 32, 2


def clips(out: Path, name: str, count: int) -> list[Path]:
    """``count`` generated clips with sound at the size ``name`` (made once)."""
    from helpers.synth import SynthConfig, generate

    (w, h), fps = SIZES[name]
    folder = out / f"rl_preview_{name}_{fps}fps"
    if not (folder / "annotations.json").is_file():
        generate("kinetics", folder, SynthConfig(classes=6, clips_per_class=max(3, -(-count // 6)), seconds=9.0, fps=fps,
                                                 size=(w, h), seed=7, event_fraction=(0.12, 0.2)), progress=False)
    return sorted(folder.rglob("*.mp4"))[:count]


def clip_events(paths: list[Path]) -> list[tuple[int, int]]:
    """Each generated clip's event window ``(start, end)`` in frames, from its folder's
    ``annotations.json``."""
    from helpers.datasets.kinetics import read_annotations

    windows: dict[Path, tuple[int, int]] = {}
    for root in {p.parents[1] for p in paths}:  # <dataset>/<class>/<clip>.mp4
        for row in read_annotations(root / "annotations.json"):
            windows[(root / row["video_path"]).resolve()] = (int(row["event_start"]), int(row["event_end"]))
    return [windows[p.resolve()] for p in paths]


def event_hits(paths: list[Path], events: list[tuple[int, int]], sound: bool, ks: tuple[int, ...] = (1, 2, 4)) -> dict:
    """``{preview: {k: share}}``: the share of each preview's top ``k`` candidates inside
    the event, mean over the clips (the previews as the sampler computes them)."""
    from helpers.inference.rl_sampler import open_candidates
    from helpers.rl.evaluate import top_in_event
    from helpers.rl.features import clip_packet_energy

    shares: dict[str, dict[int, list[float]]] = {}
    for path, event in zip(paths, events):
        with open_candidates(path, NUM_POSITIONS, MOTION_GAP) as clip:
            previews = {"motion": clip.motion(), "packets": clip_packet_energy(clip.reader, clip.indices),
                        "uniform": np.zeros(NUM_POSITIONS, np.float32)}
            if sound:
                previews["audio"] = clip.sound()[0]
            for name, envelope in previews.items():
                for k in ks:
                    shares.setdefault(name, {}).setdefault(k, []).append(top_in_event(clip.indices, envelope, event, k))
    return {name: {k: round(float(np.mean(v)), 3) for k, v in per_k.items()} for name, per_k in shares.items()}


def preview_calls(path: Path, sound: bool = True) -> dict:
    """The previews of one clip, as zero-argument calls (without the audio ones for a
    silent clip)."""
    from helpers.inference.rl_sampler import open_candidates
    from helpers.rl.features import PREVIEW_SIZE, audio_envelope, clip_packet_energy, motion_energy
    from helpers.video import PyAVReader, VideoReader, open_video
    from helpers.video.audio import read_audio
    from helpers.video.sampling import uniform_indices

    with open_video(path) as reader:
        meta = reader.metadata
    n = int(meta.num_frames)
    idx = uniform_indices(n, NUM_POSITIONS)
    nxt = np.minimum(idx + MOTION_GAP, n - 1)
    times = (idx / float(meta.fps)).astype(np.float64)
    duration = float(meta.duration or n / float(meta.fps))

    def motion_rgb() -> None:
        with open_video(path) as reader:
            wanted = np.unique(np.concatenate([idx, nxt]))
            frames = reader.frames(wanted.tolist())
        motion_energy(frames[np.searchsorted(wanted, idx)], frames[np.searchsorted(wanted, nxt)])

    def motion_thumbnails() -> None:
        with open_candidates(path, NUM_POSITIONS, MOTION_GAP) as clip:
            clip.motion()

    def motion_full_decode() -> None:
        with PyAVReader(path) as reader:
            wanted = np.unique(np.concatenate([idx, nxt]))
            thumbs = VideoReader.thumbnails(reader, wanted.tolist(), PREVIEW_SIZE)  # not PyAVReader's reduced size
        motion_energy(thumbs[np.searchsorted(wanted, idx)], thumbs[np.searchsorted(wanted, nxt)])

    def packets() -> None:
        with open_video(path) as reader:
            clip_packet_energy(reader, idx)

    def audio_resampled() -> None:
        rate = 8000
        wave, _ = read_audio(path, 0.0, duration, sample_rate=rate)
        edges = np.concatenate([[0.0], (times[1:] + times[:-1]) / 2, [duration]])
        bounds = np.clip(np.round(edges * rate).astype(np.int64), 0, wave.size)
        np.array([np.sqrt(np.mean(wave[a:b] ** 2)) if b > a else 0.0 for a, b in zip(bounds[:-1], bounds[1:])])

    def audio_native() -> None:
        audio_envelope(path, times, duration)

    calls = {"motion_rgb": motion_rgb, "motion_thumbnails": motion_thumbnails,
             "motion_full_decode": motion_full_decode, "packets": packets}
    if sound:
        calls.update(audio_resampled=audio_resampled, audio_native=audio_native)
    return calls


def main(argv: list[str] | None = None) -> int:
    from helpers.measure import measure_latency
    from helpers.rl.wallclock import hmdb51_copies

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=12)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--out", type=Path, help="where the clips are generated (default: a temporary folder)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        summary: dict = {"benchmark": "rl_preview", "clips": args.clips, "runs": args.runs}
        sets = {name: clips(out, name, args.clips) for name in SIZES}
        sets[HMDB51_SET] = hmdb51_copies(sets["320x240"], out / "rl_preview_320x240_hmdb51_avi")
        events = {name: clip_events(sets[name]) for name in SIZES}
        events[HMDB51_SET] = events["320x240"]  # the same clips, re-encoded in order
        for name, paths in sets.items():
            hits = event_hits(paths, events[name], sound=name != HMDB51_SET)
            print(json.dumps({"clips": name, "event_hits": hits}), flush=True)
            summary[f"{name}_event_hits"] = hits
            per_clip: dict[str, list[float]] = {}
            for path in paths:
                stats = measure_latency(preview_calls(path, sound=name != HMDB51_SET), {}, warmup=1, runs=args.runs)
                for key, st in stats.items():
                    per_clip.setdefault(key, []).append(st.median_ms)
            ms = {key: round(float(np.median(v)), 2) for key, v in per_clip.items()}
            print(json.dumps({"clips": name, "median_ms": ms}), flush=True)
            summary[f"{name}_motion_speedup"] = round(ms["motion_rgb"] / ms["motion_thumbnails"], 3)
            summary[f"{name}_lowres_speedup"] = round(ms["motion_full_decode"] / ms["motion_thumbnails"], 3)
            if "audio_native" in ms:
                summary[f"{name}_audio_speedup"] = round(ms["audio_resampled"] / ms["audio_native"], 3)
            summary[f"{name}_median_ms"] = ms
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

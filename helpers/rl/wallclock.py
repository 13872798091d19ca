"""What a user waits for: end-to-end ``predict_video`` time of uniform sampling at k*
against the RL sampler at its budget c*, and against the packet-preview heuristic.

Uniform sampling: ``predict_video`` on ``k`` uniform candidates (open, decode them, the
model). The RL sampler: ``predict_video(..., sampler=…)``
(:func:`helpers.inference.rl_sampler.predict_with_sampler`): the preview its sampler
needs (a pass of grey thumbnails for motion, the sound's envelope, or none), the
agent's looks (each but the last decodes and encodes one candidate for the classifier
the agent observes), then the model on the frames it picked. The packet path lists the packets (demuxing, no decoding:
:func:`helpers.rl.features.packet_energy`), keeps the top ``k`` candidates and lets
``predict_video`` decode those. The model sees exactly the frames each side chose
(:func:`~helpers.inference.rl_sampler.on_frames`), so the sides differ in preview,
decoding and the frames the model reads. The two previews (packet listing against
grey thumbnails of every candidate and its motion partner) are timed alongside.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from helpers.rl.baselines import energy_positions, uniform_positions
from helpers.rl.evaluate import TOLERANCE, smallest_budget_reaching

WALL_CLOCK_PATHS: tuple[str, ...] = ("packet_preview", "decode_preview", "uniform_e2e", "packets_e2e", "rl_e2e")


def packet_frames(path: str | Path, num_positions: int, k: int) -> np.ndarray:
    """The ``k`` video frame indices (sorted) of the candidates with the highest packet
    energy among ``num_positions`` uniform candidates of ``path``; nothing is decoded."""
    from helpers.rl.features import clip_packet_energy
    from helpers.video import open_video
    from helpers.video.sampling import uniform_indices

    with open_video(path) as reader:
        cand = uniform_indices(int(reader.metadata.num_frames), num_positions)
        energy = clip_packet_energy(reader, cand)
    return cand[energy_positions(energy, k)]


def measure_wall_clock(paths: Sequence[str | Path], predictor: Any, *, num_positions: int, uniform_k: int,
                       packets_k: int | None = None, sampler: Any = None, motion_gap: int = 2, warmup: int = 1,
                       runs: int = 3, threads: int | None = None) -> dict[str, Any]:
    """Milliseconds per clip of :data:`WALL_CLOCK_PATHS`, timed interleaved per clip
    (:func:`helpers.measure.measure_latency`: ``warmup`` then ``runs`` rounds of all paths
    in turn): ``packet_preview`` (open + packet energy of the candidates),
    ``decode_preview`` (open + grey thumbnails of every candidate and its motion partner
    + motion energy), ``uniform_e2e`` (``predict_video`` on ``uniform_k`` uniform candidates),
    ``packets_e2e`` (with ``packets_k``: :func:`packet_frames` then ``predict_video`` on
    those) and ``rl_e2e`` (with ``sampler``: ``predict_video`` with that sampler).

    Returns ``per_clip_ms`` (path → each clip's median), ``median_ms`` (path → median
    over clips), ``preview_cost_ratio`` (decode_preview / packet_preview),
    ``rl_speedup`` and ``packets_speedup`` (uniform_e2e / that path, of the medians; None
    when not timed), ``rl_frames`` (the frames the sampler picked, mean over the clips)
    and the settings."""
    from helpers.inference.predict import predict_video
    from helpers.inference.rl_sampler import on_frames, open_candidates
    from helpers.measure import measure_latency
    from helpers.rl.features import clip_packet_energy
    from helpers.video import open_video
    from helpers.video.sampling import uniform_indices

    if not paths:
        raise ValueError("no clips to time")
    uniform_pos = uniform_positions(num_positions, uniform_k)
    on_uniform = on_frames(predictor, lambda n: uniform_indices(n, num_positions)[uniform_pos],
                           f"uniform {uniform_k}")
    rl_frames: list[int] = []

    def packet_preview(path: str) -> None:
        with open_video(path) as reader:
            clip_packet_energy(reader, uniform_indices(int(reader.metadata.num_frames), num_positions))

    def decode_preview(path: str) -> None:
        with open_candidates(path, num_positions, motion_gap) as clip:
            clip.motion()

    def packets_e2e(path: str) -> None:
        frames = packet_frames(path, num_positions, int(packets_k))
        predict_video(path, model=on_frames(predictor, frames, f"packets {packets_k}"), keep_frames=False)

    def rl_e2e(path: str) -> None:
        rl_frames.append(len(set(predict_video(path, model=predictor, sampler=sampler).frame_indices)))

    timed = [name for name in WALL_CLOCK_PATHS
             if (name != "packets_e2e" or packets_k is not None) and (name != "rl_e2e" or sampler is not None)]
    per_clip: dict[str, list[float]] = {name: [] for name in timed}
    for path in map(str, paths):
        calls = {"packet_preview": lambda path=path: packet_preview(path),
                 "decode_preview": lambda path=path: decode_preview(path),
                 "uniform_e2e": lambda path=path: predict_video(path, model=on_uniform, keep_frames=False),
                 "packets_e2e": lambda path=path: packets_e2e(path),
                 "rl_e2e": lambda path=path: rl_e2e(path)}
        stats = measure_latency({name: calls[name] for name in timed}, {}, warmup=warmup, runs=runs, threads=threads)
        for name in timed:
            per_clip[name].append(stats[name].median_ms)
    median = {name: float(np.median(v)) for name, v in per_clip.items()}

    def speedup(name: str) -> float | None:
        return median["uniform_e2e"] / median[name] if name in median else None

    return {"clips": len(per_clip["uniform_e2e"]), "runs": runs, "warmup": warmup, "threads": threads,
            "num_positions": num_positions, "uniform_k": uniform_k, "packets_k": packets_k,
            "median_ms": median, "per_clip_ms": per_clip,
            "preview_cost_ratio": median["decode_preview"] / median["packet_preview"],
            "rl_speedup": speedup("rl_e2e"), "packets_speedup": speedup("packets_e2e"),
            "rl_frames": float(np.mean(rl_frames)) if rl_frames else None}


def silent_copies(paths: Sequence[str | Path], folder: str | Path) -> list[Path]:
    """Each clip without its audio track (:func:`helpers.video.audio.drop_audio`) in
    ``folder``, made once: the same clips as HMDB51 would give them, silent."""
    from helpers.video.audio import drop_audio

    out = []
    for i, path in enumerate(map(Path, paths)):
        dst = Path(folder) / f"{i:04d}_{path.name}"
        out.append(dst if dst.is_file() else drop_audio(path, dst))
    return out


def hmdb51_copies(paths: Sequence[str | Path], folder: str | Path) -> list[Path]:
    """Each clip re-encoded as HMDB51 stores its clips (:func:`reencode_as_hmdb51`) in
    ``folder``, made once. Why: decoding cost depends on the codec (at 320×240 a pass over
    an H.264 clip costs about three times one over the same frames in MPEG-4 Part 2), so
    the silent sampler's wall clock on the dataset it is for is timed on that codec."""
    out = []
    for i, path in enumerate(map(Path, paths)):
        dst = Path(folder) / f"{i:04d}_{path.stem}.avi"
        out.append(dst if dst.is_file() else reencode_as_hmdb51(path, dst))
    return out


def reencode_as_hmdb51(src: str | Path, dst: str | Path) -> Path:
    """``src``'s frames written to ``dst`` as HMDB51 stores its clips: MPEG-4 Part 2 with
    the XVID tag in AVI, no audio track (:func:`helpers.synth.encode.write_video`)."""
    from helpers.synth.encode import write_video
    from helpers.video import open_video

    with open_video(src) as reader:
        frames = reader.frames(range(reader.metadata.num_frames))
        fps = reader.metadata.fps
    return write_video(Path(dst), frames, fps)


def hmdb51_codec_dataset(data_dir: str | Path, out: str | Path) -> Path:
    """A copy of the kinetics-layout dataset ``data_dir`` whose clips are re-encoded as
    HMDB51 stores its clips (:func:`reencode_as_hmdb51`: silent MPEG-4 Part 2 AVI), the
    annotations the same but for the file names; made once (the annotation file is
    written last, so a half-made copy is finished on the next call). What a preview finds
    depends on the codec (the packet sizes of H.264 and of MPEG-4 Part 2 say different
    things about motion), so samplers are also scored on the codec of the data they are for."""
    from helpers.atomic import atomic_write_text
    from helpers.datasets.kinetics import read_annotations

    data_dir, out = Path(data_dir), Path(out)
    ann = out / "annotations.json"
    if ann.is_file():
        return out
    rows = read_annotations(data_dir / "annotations.json")
    for row in rows:
        avi = str(Path(row["video_path"]).with_suffix(".avi"))
        if not (out / avi).is_file():
            reencode_as_hmdb51(data_dir / row["video_path"], out / avi)
        row["video_path"] = avi
    manifest = data_dir / "synth_manifest.json"
    if manifest.is_file():
        atomic_write_text(out / manifest.name, manifest.read_text())
    atomic_write_text(ann, json.dumps(rows, indent=1))
    return out


def wall_clock_figures(pipe: Any, predictor: Any, *, sampler: Any = None, silent_paths: Sequence[str | Path] = (),
                       runs: int = 3, threads: int | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The benchmark's wall-clock keys (rounded like the summary) for
    :class:`helpers.rl.pipeline.RLPipeline` ``pipe`` and the :func:`measure_wall_clock`
    results they came from (``{"sound": …, "silent": …}``; None when nothing was timed).

    Uniform runs at k* (``uniform_k_star``). ``wall_clock_speedup``: uniform against
    ``sampler`` (the saved RL sampler, run as a user runs it: under its recorded cap c*,
    or the heuristic where it recorded that the agent is worse) on the test clips;
    ``silent_wall_clock_speedup``: the same on ``silent_paths`` (those clips without their
    audio). ``packets_wall_clock_speedup``: the packet heuristic at
    ``packets_wall_clock_budget``, its smallest budget within a point of U* (None when it
    never gets there; then timed at its best budget as
    ``packets_wall_clock_speedup_at_best``)."""
    from helpers.rl.evaluate import frames_saved_ratio
    from helpers.rl.pipeline import rounded

    saved = frames_saved_ratio(pipe.uniform_all, [])
    curve = pipe.curves.get("packets", {})
    out: dict[str, Any] = {"wall_clock_uniform_k": saved.uniform_frames, "wall_clock_speedup": None,
                           "packets_wall_clock_budget": None, "packets_wall_clock_speedup": None}
    budget = smallest_budget_reaching(curve, saved.best_uniform_accuracy - TOLERANCE) if curve else None
    packets_k = budget if budget is not None or not curve else max(curve, key=lambda k: (curve[k], -k))
    if packets_k is None and sampler is None:
        return out, None
    common = dict(num_positions=pipe.test.num_positions, uniform_k=saved.uniform_frames, runs=runs, threads=threads)
    timed = {"sound": measure_wall_clock(pipe.test.paths, predictor, packets_k=packets_k, sampler=sampler, **common)}
    sound = timed["sound"]
    out.update({"wall_clock_speedup": sound["rl_speedup"], "wall_clock_rl_frames": sound["rl_frames"],
                "preview_cost_ratio": sound["preview_cost_ratio"], "wall_clock_median_ms": sound["median_ms"]})
    if packets_k is not None:
        key = "packets_wall_clock_speedup" if budget is not None else "packets_wall_clock_speedup_at_best"
        out.update({"packets_wall_clock_budget": budget, key: sound["packets_speedup"],
                    "packets_wall_clock_k": packets_k})
    if sampler is not None and silent_paths:
        timed["silent"] = silent = measure_wall_clock(list(silent_paths), predictor, sampler=sampler, **common)
        out.update({"silent_wall_clock_speedup": silent["rl_speedup"], "silent_wall_clock_rl_frames": silent["rl_frames"],
                    "silent_wall_clock_median_ms": silent["median_ms"]})
    return rounded(out), timed

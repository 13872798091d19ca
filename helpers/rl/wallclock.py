"""What a user waits for: end-to-end ``predict_video`` time of uniform sampling against
the packet-preview sampler, which decodes only the frames it picks.

The packet path opens the video, lists its packets (demuxing, no decoding:
:func:`helpers.rl.features.packet_energy`), ranks the ``N`` uniform candidates by
packet energy, keeps the top ``k`` and lets :func:`helpers.inference.predict_video`
decode those ``k`` frames and run the model on them, as the RL sampler's predictions
do (:func:`helpers.inference.rl_sampler.on_frames`: exactly those frames for the
multi-modal model, repeated to the clip length for a fixed-length clip model). Uniform sampling goes through the same ``predict_video`` with ``k``
uniform candidates, so both sides pay the same model and differ only in preview and
decoding. The two previews (packet listing against decoding every candidate and its
motion partner, as the motion preview needs) are timed alongside.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from helpers.rl.baselines import energy_positions, uniform_positions
from helpers.rl.evaluate import TOLERANCE

WALL_CLOCK_PATHS: tuple[str, ...] = ("packet_preview", "decode_preview", "uniform_e2e", "packets_e2e")


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
                       packets_k: int, motion_gap: int = 2, warmup: int = 1, runs: int = 3,
                       threads: int | None = None) -> dict[str, Any]:
    """Milliseconds per clip of :data:`WALL_CLOCK_PATHS`, timed interleaved per clip
    (:func:`helpers.measure.measure_latency`: ``warmup`` then ``runs`` rounds of all four
    in turn): ``packet_preview`` (open + packet energy of the candidates),
    ``decode_preview`` (open + decode every candidate and its motion partner + motion
    energy), ``uniform_e2e`` (``predict_video`` on ``uniform_k`` uniform candidates) and
    ``packets_e2e`` (:func:`packet_frames` then ``predict_video`` on those ``packets_k``).

    Returns ``per_clip_ms`` (path → each clip's median), ``median_ms`` (path → median
    over clips), ``preview_cost_ratio`` (decode_preview / packet_preview, of the
    medians), ``wall_clock_speedup`` (uniform_e2e / packets_e2e, of the medians) and the
    settings."""
    from helpers.inference.predict import predict_video
    from helpers.inference.rl_sampler import on_frames
    from helpers.measure import measure_latency
    from helpers.rl.features import clip_packet_energy, motion_energy
    from helpers.video import open_video
    from helpers.video.sampling import uniform_indices

    if not paths:
        raise ValueError("no clips to time")
    uniform_pos = uniform_positions(num_positions, uniform_k)
    on_uniform = on_frames(predictor, lambda n: uniform_indices(n, num_positions)[uniform_pos],
                            f"uniform {uniform_k}")

    def packet_preview(path: str) -> None:
        with open_video(path) as reader:
            clip_packet_energy(reader, uniform_indices(int(reader.metadata.num_frames), num_positions))

    def decode_preview(path: str) -> None:
        with open_video(path) as reader:
            n = int(reader.metadata.num_frames)
            idx = uniform_indices(n, num_positions)
            nxt = np.minimum(idx + motion_gap, n - 1)
            wanted = np.unique(np.concatenate([idx, nxt]))
            decoded = reader.frames(wanted.tolist())
        pos = np.searchsorted(wanted, idx), np.searchsorted(wanted, nxt)
        motion_energy(decoded[pos[0]], decoded[pos[1]])

    def packets_e2e(path: str) -> None:
        frames = packet_frames(path, num_positions, packets_k)
        predict_video(path, model=on_frames(predictor, frames, f"packets {packets_k}"), keep_frames=False)

    per_clip: dict[str, list[float]] = {name: [] for name in WALL_CLOCK_PATHS}
    for path in map(str, paths):
        calls = {"packet_preview": lambda path=path: packet_preview(path),
                 "decode_preview": lambda path=path: decode_preview(path),
                 "uniform_e2e": lambda path=path: predict_video(path, model=on_uniform, keep_frames=False),
                 "packets_e2e": lambda path=path: packets_e2e(path)}
        stats = measure_latency(calls, {}, warmup=warmup, runs=runs, threads=threads)
        for name in WALL_CLOCK_PATHS:
            per_clip[name].append(stats[name].median_ms)
    median = {name: float(np.median(v)) for name, v in per_clip.items()}
    return {"clips": len(per_clip["uniform_e2e"]), "runs": runs, "warmup": warmup, "threads": threads,
            "num_positions": num_positions, "uniform_k": uniform_k, "packets_k": packets_k,
            "median_ms": median, "per_clip_ms": per_clip,
            "preview_cost_ratio": median["decode_preview"] / median["packet_preview"],
            "wall_clock_speedup": median["uniform_e2e"] / median["packets_e2e"]}


def smallest_budget_reaching(curve: Mapping[int, float], target: float) -> int | None:
    """The smallest budget ``k`` of ``curve`` with accuracy ≥ ``target`` (None: none)."""
    eps = 1e-9  # accuracies are ratios of clip counts
    reach = [int(k) for k, acc in curve.items() if acc >= target - eps]
    return min(reach) if reach else None


def wall_clock_figures(pipe: Any, predictor: Any, *, runs: int = 3, threads: int | None = None
                       ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The benchmark's wall-clock keys (rounded like the summary) for
    :class:`helpers.rl.pipeline.RLPipeline` ``pipe`` and the :func:`measure_wall_clock` result they came from (None when there
    was nothing to time).

    Uniform runs at k* (``uniform_k_star`` of the summary); the packet sampler at
    ``wall_clock_budget``, the smallest budget of its curve with accuracy ≥ U* − one
    point. When it never gets there, ``wall_clock_speedup`` is None and the packet path
    is timed at its best budget instead (``wall_clock_speedup_at_packets_best``, not
    the figure asked for). ``wall_clock_sampler`` says which sampler was timed: the
    packet heuristic, since the DQN agent's upload path decodes every candidate."""
    from helpers.rl.evaluate import frames_saved_ratio
    from helpers.rl.pipeline import rounded

    saved = frames_saved_ratio(pipe.uniform_all, [])
    curve = pipe.curves.get("packets", {})
    out: dict[str, Any] = {"wall_clock_sampler": "packets", "wall_clock_uniform_k": saved.uniform_frames,
                           "wall_clock_budget": None, "wall_clock_speedup": None}
    if not curve:
        return out, None
    budget = smallest_budget_reaching(curve, saved.best_uniform_accuracy - TOLERANCE)
    timed_k = budget if budget is not None else max(curve, key=lambda k: (curve[k], -k))
    result = measure_wall_clock(pipe.test.paths, predictor, num_positions=pipe.test.num_positions,
                                uniform_k=saved.uniform_frames, packets_k=timed_k, runs=runs, threads=threads)
    key = "wall_clock_speedup" if budget is not None else "wall_clock_speedup_at_packets_best"
    out.update({"wall_clock_budget": timed_k if budget is not None else None, key: result["wall_clock_speedup"],
                "wall_clock_packets_k": timed_k, "preview_cost_ratio": result["preview_cost_ratio"],
                "wall_clock_median_ms": result["median_ms"]})
    return rounded(out), result

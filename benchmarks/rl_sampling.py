"""RL frame sampling benchmark: does a DQN agent reach the accuracy of uniform sampling
with far fewer frames, and does it beat the preview heuristic it could have been?

Builds what it needs: the dataset (default: a generated Kinetics-layout long-clip
stand-in, 6 classes × 30 clips of 9 s with the event in 12–20 % of the clip), a smoke
multimodal model via ``helpers.training.load_or_train`` (unless ``--checkpoint``),
cached per-candidate features (the model's frame encoder, and optical flow), the
classifier chosen on the validation split (the model's temporal head fitted on frame
subsets, or a small head on the flow; see ``helpers.rl.pipeline``), one agent (trained
with the audio preview hidden in half its episodes; its first look is the preview's top
candidate, it chooses the rest and when to stop, each look's Q-value starting from the
preview: ``--prior-weight``); then every sampler at budgets 1, 2,
4, 8, 16, 32 on the test split (``packets``: ranked by the packet preview, which decodes
nothing), and the agent with and without the audio preview (``dqn_audio``,
``dqn_no_audio``), free-running and under forced frame caps 1, 2, 4, 8. Then the wall
clock, timed (``helpers.rl.wallclock``): per test clip, interleaved, ``predict_video``
end to end with uniform sampling at k* against the RL sampler as a user runs it (saved
and reloaded, under the cap c* it recorded), on the test clips and on the same clips
with their audio track removed; the packet heuristic and the two previews alongside.
The saved sampler's choice per setting (the agent, the preview heuristic, or uniform
sampling at k*; ``sampler_choice`` lines) is made on the validation clips, so the test
clips measure it.

Prints JSON lines (notes, timings, accuracy per sampler per budget, the agents, wall
clock per video), the last one the figures of ``RLPipeline.summary`` with sound and
again prefixed ``silent_`` (the same agent with the audio preview off, held to motion
energy): ``best_uniform_accuracy`` U*, ``frames_saved_ratio`` k*/c* (null when the
agent never comes within a point of U*), ``agent_vs_heuristic_min`` (points) with
``agent_vs_heuristic_worst_cap`` and ``agent_vs_heuristic_interval`` (a 95 % bootstrap
interval of that cap's margin over the test clips: is the gap more than which clips were
drawn?), ``agent_accuracy``, ``agent_mean_frames``, ``curves`` and
``wall_clock_speedup_estimate`` (the agent's cost-model estimate, not a timing; see
``helpers.rl.evaluate.sampling_figures`` and ``helpers.rl.pipeline``),
``agent_equal_frames`` and ``agent_vs_heuristic_min_equal_frames`` (the agent made to
look at exactly c frames at each cap, its stop left out: ``RLPipeline.equal_frames``); then the timed
``wall_clock_speedup`` and ``silent_wall_clock_speedup`` of the RL sampler,
``packets_wall_clock_speedup`` and ``preview_cost_ratio`` (see
``helpers.rl.wallclock.wall_clock_figures``) with the benchmark's trained smoke model, and
the same prefixed ``full_model_`` with the full-size architecture (random weights: a
time, not an accuracy), and with that model on clips at HMDB51's frame size
(``real_size_``: 320×240 at 25 fps, where decoding costs what it costs on real video;
``real_size_silent_``: the same H.264 clips without sound; ``real_size_hmdb51_``: the
same frames as HMDB51 stores its clips, silent MPEG-4 Part 2 AVI).

``--event-fraction LO,HI`` sets the share of each generated clip the event fills (the
dataset's folder, and so its run cache, carries it); ``1,1`` makes trimmed clips, the
action in every frame like HMDB51's, where the honest answer may be no saving and the
agent should stop early. The summary's ``event_fraction`` says which data it is on
(null for a ``--data`` set that is not generated). ``--clips-per-class N`` makes a larger
dataset (100: 90 test clips, so one clip moves an accuracy by 1.1 points, not 4.2).
``--codec hmdb51`` re-encodes the dataset as HMDB51 stores its clips (silent MPEG-4 Part 2
AVI, :func:`helpers.rl.wallclock.hmdb51_codec_dataset`): what the previews find (the
packet sizes above all) depends on the codec; every clip is then silent.

Variants of the agent's training, for comparison (defaults are the kept settings):
``--agent-folds K`` (the agent trains against out-of-fold answers), ``--frame-cost``,
``--gain-weight``, ``--first-look agent``, ``--look-order preview|spread`` (the agent only
decides when to stop, looking in the preview's order or spreading its looks),
``--look-order preview_or_spread`` (each look one of those two, the agent choosing),
``--whole-preview-summary``, ``--prior-weight 0`` (the Q-network starts from nothing
instead of from the preview heuristic).

Run: ``python benchmarks/rl_sampling.py [--data DIR] [--checkpoint PTH] [--seed 0]
[--event-fraction 0.12,0.20] [--clips-per-class 30]``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


DEFAULT_EVENT_FRACTION = (0.12, 0.20)
CLIPS_PER_CLASS = 30  # the generated dataset: 132 train, 24 val, 24 test clips


def parse_fraction(text: str) -> tuple[float, float]:
    """``"LO,HI"`` (or one value for both) as the (min, max) share of the clip the event fills."""
    parts = [float(v) for v in text.split(",")]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected LO,HI, got {text!r}")
    return parts[0], parts[1]


def dataset_name(seed: int, event_fraction: tuple[float, float], clips_per_class: int = CLIPS_PER_CLASS) -> str:
    """The generated dataset's folder: the fraction and the clip count are in the name, so
    different datasets (and the run caches keyed by this name) never share a folder."""
    lo, hi = event_fraction
    count = "" if clips_per_class == CLIPS_PER_CLASS else f"_{clips_per_class}pc"
    return f"kinetics_long_6c{count}_event{lo:.2f}-{hi:.2f}_seed{seed}"


def default_dataset(root: Path, seed: int, event_fraction: tuple[float, float] = DEFAULT_EVENT_FRACTION,
                    clips_per_class: int = CLIPS_PER_CLASS) -> Path:
    """The long-clip stand-in (generated once; reused when its annotations exist): about
    70 / 15 / 15 % of each class's clips for train / val / test."""
    from helpers.synth import SynthConfig, generate

    out = root / dataset_name(seed, event_fraction, clips_per_class)
    if not (out / "annotations.json").is_file():
        config = SynthConfig(classes=6, clips_per_class=clips_per_class, seconds=9.0, fps=10, size=(96, 72),
                             seed=seed, event_fraction=tuple(event_fraction))
        generate("kinetics", out, config, progress=False)
    return out


REAL_SIZE = (320, 240)  # (W, H): HMDB51's frame size
REAL_FPS = 25


def real_size_clips(root: Path, seed: int, count: int, event_fraction: tuple[float, float]) -> tuple[Path, list[Path]]:
    """``count`` clips made like the benchmark's but at HMDB51's frame size and a common
    frame rate (320×240, 25 fps; generated once): the wall clock where decoding costs what
    it costs on real video, not on the 96×72, 10-fps clips the accuracy is measured on."""
    from helpers.synth import SynthConfig, generate

    lo, hi = event_fraction
    out = root / f"real_size_{REAL_SIZE[0]}x{REAL_SIZE[1]}_{REAL_FPS}fps_event{lo:.2f}-{hi:.2f}_seed{seed}"
    if not (out / "annotations.json").is_file():
        per_class = max(3, -(-count // 6))
        generate("kinetics", out, SynthConfig(classes=6, clips_per_class=per_class, seconds=9.0, fps=REAL_FPS,
                                              size=REAL_SIZE, seed=seed + 1000, event_fraction=tuple(event_fraction)),
                 progress=False)
    return out, sorted(out.rglob("*.mp4"))[:count]  # every split: only their time is measured


def dataset_event_fraction(data: Path) -> list[float] | None:
    """The event fraction a generated dataset was made with (its ``synth_manifest.json``),
    so the summary says which data its figures are on; None for other datasets."""
    manifest = data / "synth_manifest.json"
    if not manifest.is_file():
        return None
    value = json.loads(manifest.read_text()).get("config", {}).get("event_fraction")
    return [float(v) for v in value] if value else None


def full_size_predictor(pipe):
    """The full-size multi-modal architecture (``MultiModalConfig.full``, EfficientNet-B0
    frames at ``TrainConfig.full``'s 112 px; like the benchmark's model, without audio
    encoder and caption decoder) with random weights, nothing downloaded: what a Kaggle
    user's model costs per frame. For timing only: its answers are not the curves'."""
    from helpers.inference import predictor_from_model
    from helpers.models import MultiModalConfig, MultiModalVideoModel
    from helpers.training import TrainConfig

    classes = list(pipe.test.classes)
    cfg = MultiModalConfig.full(len(classes), vision_pretrained=False, audio="none", caption_decoder="none")
    t = TrainConfig.full("multimodal")
    return predictor_from_model(MultiModalVideoModel(cfg).eval(), classes, num_frames=t.num_frames,
                                resize=t.resize, crop=t.crop, name="full-size multimodal, random weights")


def real_size_wall_clock(pipe, sampler, cache: Path, args) -> dict:
    """``real_size_wall_clock_speedup``, ``real_size_silent_wall_clock_speedup`` and
    ``real_size_hmdb51_wall_clock_speedup``: the full-size model, uniform sampling at k*
    against the saved sampler, timed as :func:`helpers.rl.wallclock.measure_wall_clock`
    does on :func:`real_size_clips` (H.264 with their sound, the same without it, and the
    same frames as HMDB51 stores its clips: silent MPEG-4 Part 2 AVI). A time, not an
    accuracy: the sampler was trained on the small clips, so what it picks there is not
    what it would pick on its own data."""
    from helpers.rl.evaluate import frames_saved_ratio
    from helpers.rl.wallclock import hmdb51_copies, measure_wall_clock, silent_copies

    ef = args.event_fraction or DEFAULT_EVENT_FRACTION
    folder, clips = real_size_clips(cache / "data", args.seed, args.real_size_clips, ef)
    silent = silent_copies(clips, folder.with_name(folder.name + "_silent"))
    hmdb51 = hmdb51_copies(clips, folder.with_name(folder.name + "_hmdb51_avi"))
    k_star = frames_saved_ratio(pipe.uniform_all, []).uniform_frames
    predictor = full_size_predictor(pipe)
    out = {"real_size_frame_size": list(REAL_SIZE), "real_size_fps": REAL_FPS}
    for prefix, paths in (("real_size_", clips), ("real_size_silent_", silent), ("real_size_hmdb51_", hmdb51)):
        timed = measure_wall_clock(paths, predictor, num_positions=pipe.test.num_positions, uniform_k=k_star,
                                   sampler=sampler, runs=args.timing_runs)
        emit({"wall_clock_ms": {k: round(v, 2) for k, v in timed["median_ms"].items()}, "clips": prefix + "clips",
              "count": timed["clips"], "runs": timed["runs"], "uniform_k": k_star, "rl_frames": timed["rl_frames"],
              "model": predictor.name})
        out.update({prefix + "wall_clock_speedup": round(timed["rl_speedup"], 4),
                    prefix + "wall_clock_median_ms": {k: round(v, 2) for k, v in timed["median_ms"].items()}})
    return out


def main(argv: list[str] | None = None) -> int:
    from helpers.rl.env import LOOK_ORDERS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="a dataset made by `helpers synth` (kinetics layout)")
    p.add_argument("--checkpoint", type=Path, help="a trained multimodal checkpoint (default: train a smoke model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--event-fraction", type=parse_fraction, metavar="LO,HI",
                   help="share of each generated clip the event fills (default 0.12,0.20; "
                        "1,1: the action fills the whole clip, like trimmed HMDB51 clips)")
    p.add_argument("--clips-per-class", type=int, default=CLIPS_PER_CLASS,
                   help="clips per class of the generated dataset (30: 24 test clips, one clip = 4.2 points)")
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--model-epochs", type=int, default=2)
    p.add_argument("--classifier", choices=("auto", "model", "head"), default="auto")
    p.add_argument("--cache", type=Path, help="cache folder (default: <data_dir>/cache/rl_sampling)")
    p.add_argument("--timing-runs", type=int, default=3, help="timed rounds per clip for the wall clock")
    p.add_argument("--agent-folds", type=int, default=0,
                   help="train the agent against out-of-fold answers of this many folds (PipelineConfig.agent_folds)")
    p.add_argument("--frame-cost", type=float, default=0.05, help="reward cost of each look (EnvConfig.frame_cost)")
    p.add_argument("--gain-weight", type=float, default=1.0,
                   help="reward weight of the rise in the true class's probability per look (EnvConfig.gain_weight)")
    p.add_argument("--first-look", choices=("preview", "agent"), default="preview",
                   help="the episode's first look: the preview's top candidate, or the agent's own (EnvConfig.first_look)")
    p.add_argument("--look-order", choices=LOOK_ORDERS, default="agent",
                   help="each look: any candidate the agent picks, the preview's next, the one farthest from "
                        "the looks so far, or either of those two (EnvConfig.look_order)")
    p.add_argument("--whole-preview-summary", action="store_true",
                   help="the Q-network's shared summary also reads the whole previews (DQNConfig.summary_sees_positions)")
    p.add_argument("--prior-weight", type=float, default=1.0,
                   help="weight of the shown preview added to each look's Q-value: the untrained agent is the "
                        "heuristic, training corrects it (DQNConfig.prior_weight)")
    p.add_argument("--advantage-limit", type=lambda v: None if v == "none" else float(v), default=None,
                   help="how far the learned part may move a look's Q-value against the preview, or 'none' "
                        "for no bound; 0 keeps the preview's order and learns only when to stop "
                        "(DQNConfig.advantage_limit)")
    p.add_argument("--codec", choices=("h264", "hmdb51"), default="h264",
                   help="the clips as generated (H.264 with sound) or re-encoded as HMDB51 stores its clips "
                        "(silent MPEG-4 Part 2 AVI): every figure on that codec, the with-sound ones then silent too")
    p.add_argument("--real-size-clips", type=int, default=24,
                   help="clips at HMDB51's frame size (320x240, 25 fps) the full-size wall clock is also timed on "
                        "(0: none)")
    args = p.parse_args(argv)
    if args.data is not None and args.event_fraction is not None:
        p.error("--event-fraction shapes the generated dataset; it does not apply with --data")

    import torch

    from helpers.rl.agent import DQNConfig
    from helpers.rl.env import EnvConfig
    from helpers.rl.pipeline import PipelineConfig, run_pipeline, wall_clock_per_video
    from helpers.settings import get_settings

    torch.manual_seed(args.seed)
    start = time.perf_counter()
    cache = args.cache or get_settings().cache_dir / "rl_sampling"
    try:
        data = args.data or default_dataset(cache / "data", args.seed, args.event_fraction or DEFAULT_EVENT_FRACTION,
                                            args.clips_per_class)
        if args.codec == "hmdb51":
            from helpers.rl.wallclock import hmdb51_codec_dataset

            data = hmdb51_codec_dataset(data, data.with_name(data.name + "_hmdb51_avi"))
        if not (data / "annotations.json").is_file() and not (data / "annotations.csv").is_file():
            raise FileNotFoundError(f"{data}: no annotations.json/csv (use a kinetics-layout `helpers synth` dataset)")
        emit({"data": str(data), "generated_s": round(time.perf_counter() - start, 2)})
        cfg = PipelineConfig(data_dir=data, cache_dir=cache / f"run_{data.name}_seed{args.seed}",
                             checkpoint=args.checkpoint, seed=args.seed, episodes=args.episodes,
                             model_epochs=args.model_epochs, classifier=args.classifier, agent_folds=args.agent_folds,
                             env=EnvConfig(max_frames=8, target_frames=3, frame_cost=args.frame_cost,
                                           over_target_cost=0.05, gain_weight=args.gain_weight,
                                           anytime_weight=1.0, first_look=args.first_look,
                                           look_order=args.look_order),
                             dqn=DQNConfig(eps_decay_steps=2 * args.episodes, guided=0.5,
                                           summary_sees_positions=args.whole_preview_summary,
                                           prior_weight=args.prior_weight,
                                           advantage_limit=args.advantage_limit),
                             progress=False)
        pipe = run_pipeline(cfg)
    except (FileNotFoundError, ValueError) as exc:
        print(f"rl_sampling: {exc}", file=sys.stderr)
        return 1
    for note in pipe.notes:
        emit({"note": note})
    emit({"timings_s": {k: round(v, 2) for k, v in pipe.timings.items()}})
    emit({"test_clips": pipe.test.num_clips, "with_audio": int(pipe.test.has_audio.sum()),
          "num_positions": pipe.test.num_positions})
    for name, curve in pipe.curves.items():
        emit({"sampler": name, "accuracy": {str(k): round(v, 4) for k, v in curve.items()}})
    emit({"sampler": "uniform_all_k", "accuracy": {str(k): round(v, 4) for k, v in pipe.uniform_all.items()}})
    emit({"agent": "dqn_audio", "accuracy": round(pipe.agent_result["accuracy"], 4),
          "mean_frames": round(pipe.agent_result["mean_frames"], 3),
          "train_summary": pipe.history.summary()})
    if pipe.no_audio_result is not None:
        emit({"agent": "dqn_no_audio", "accuracy": round(pipe.no_audio_result["accuracy"], 4),
              "mean_frames": round(pipe.no_audio_result["mean_frames"], 3)})
    for name, caps in (("dqn_audio", pipe.agent_caps), ("dqn_no_audio", pipe.no_audio_caps)):
        for cap, res in caps.items():
            emit({"agent": name, "cap": cap, "accuracy": round(res["accuracy"], 4),
                  "mean_frames": round(res["mean_frames"], 3)})
    for setting, record in pipe.heuristic_comparison().items():  # what the saved sampler decides on
        emit({"sampler_choice": setting, **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in record.items()
                                            if k != "caps"}})
    emit({"wall_clock_per_video": {k: round(v, 5) for k, v in wall_clock_per_video(pipe).items()}})
    equal = pipe.equal_frames()  # the agent made to look at exactly c frames at each cap
    emit({"exactly_c_frames": equal})
    summary = {"event_fraction": dataset_event_fraction(data), **pipe.summary(), **equal}
    for note in pipe.summary_notes():
        emit({"note": note})
    if pipe.checkpoint is None:
        emit({"note": "no trained model: the wall clock of predict_video is not timed"})
    else:
        from helpers.inference.predictor import load_predictor
        from helpers.inference.rl_sampler import load_rl_sampler, save_pipeline_sampler
        from helpers.rl.wallclock import silent_copies, wall_clock_figures

        # the sampler as notebook 05 saves it and a user loads it, timed on the test clips
        # and on the same clips without their audio track
        sampler = load_rl_sampler(save_pipeline_sampler(cfg.cache_dir / "rl_frame_sampler_bench.pt", pipe))
        silent = silent_copies(pipe.test.paths, cfg.cache_dir / "silent_test")
        for prefix, predictor in (("", load_predictor(pipe.checkpoint)), ("full_model_", full_size_predictor(pipe))):
            figures, timed = wall_clock_figures(pipe, predictor, sampler=sampler, silent_paths=silent,
                                                runs=args.timing_runs)
            for side, result in (timed or {}).items():
                emit({"wall_clock_ms": {k: round(v, 2) for k, v in result["median_ms"].items()}, "clips": side,
                      "count": result["clips"], "runs": result["runs"], "uniform_k": result["uniform_k"],
                      "packets_k": result["packets_k"], "rl_frames": result["rl_frames"],
                      "rl_choice": sampler.choice(side == "sound").reason, "model": predictor.name})
            summary.update({prefix + k: v for k, v in figures.items()})
        if args.real_size_clips > 0:
            summary.update(real_size_wall_clock(pipe, sampler, cache, args))
    emit({"total_s": round(time.perf_counter() - start, 1)})
    emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

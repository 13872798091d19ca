"""The whole notebook-05 measurement in one call, shared by the notebook and
``benchmarks/rl_sampling.py``: trained model → cached features → classifier → one agent
(trained with the audio preview hidden in a share of its episodes, ``audio_dropout``) →
that agent on the test clips with sound and silent (free-running and under forced frame
caps) → every sampler at equal budgets → frames saved and the margin over the preview
heuristic (:func:`helpers.rl.evaluate.sampling_figures`), with sound and silent → the
same evaluation on the validation clips (:func:`evaluate_split`), which the saved sampler's
choice between the agent, the heuristic and uniform sampling is read from. The saved
sampler runs the same agent on both kinds of clip, so both sets of figures describe the
agent it holds.

Which classifier (said in ``RLPipeline.notes``): ``"model"`` — the trained model's
temporal head over the chosen frames (:class:`ModelHeadClassifier`), fitted further on
random subsets of the cached train features; ``"head"`` — a
:class:`FeatureHead` on optical-flow (default) or pixel+motion features of the candidates,
trained on such subsets; ``"auto"`` — both, and the one with the
better accuracy on the validation split (never the test split) is used. When the model's
features are constant (:func:`is_degenerate`, e.g. a model whose eval-mode BatchNorm
collapsed) the pipeline says so and uses the head.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers.rl.agent import DQNAgent, DQNConfig
from helpers.rl.env import EnvConfig, FrameSamplingEnv, fit_projection
from helpers.rl.evaluate import (BUDGETS, CAPS, TOLERANCE, FramesSaved, accuracy_curves, agent_vs_heuristic_min,
                                 cap_results, evaluate_agent, sampling_figures, smallest_budget_reaching,
                                 worst_cap_margin)
from helpers.rl.features import FeatureSet, cached_features, is_degenerate
from helpers.rl.trainer import RLHistory, RLTrainer


@dataclass
class PipelineConfig:
    data_dir: Path
    cache_dir: Path
    checkpoint: Path | None = None  # a trained multimodal checkpoint; None: load_or_train a smoke model
    models_dir: Path | None = None  # where load_or_train looks for / writes the checkpoint
    seed: int = 0
    num_positions: int = 32
    episodes: int = 3000
    model_epochs: int = 2
    head_epochs: int = 60  # epochs of subset training for the classifier (best on val kept)
    classifier: str = "auto"  # "auto" | "model" | "head"
    env: EnvConfig = field(default_factory=EnvConfig)
    dqn: DQNConfig = field(default_factory=DQNConfig)
    projection_dims: int = 16
    head_features: str = "flow"  # what the FeatureHead reads: "flow" or "pixels" (features.extract_features)
    positional_q: bool = True  # the agent's Q-network shares its weights over positions
    budgets: tuple[int, ...] = BUDGETS
    caps: tuple[int, ...] = CAPS  # forced frame caps the agent is also evaluated at
    no_audio: bool = True  # also evaluate the agent on the test clips with the audio preview off
    # with no_audio: the share of training episodes that hide the audio preview. Half: the
    # agent meets each setting about as often as the other, so neither starves of episodes
    audio_dropout: float = 0.5
    progress: bool = True
    # the agent trains against out-of-fold answers (each training clip answered by a
    # classifier fitted without it, helpers.rl.classifier.OutOfFoldClassifier) when ≥ 2;
    # 0: against the classifier fitted on all training clips
    agent_folds: int = 0
    # torch threads for everything after the model (features, head, agent): the networks
    # are tiny, and extra threads only add synchronisation (slower on a busy machine).
    # None: leave torch's setting alone.
    rl_threads: int | None = 1


def notebook_config(data_dir: Path, cache_dir: Path, checkpoint: Path | None, *, has_model: bool, seed: int = 0,
                    num_positions: int = 32, episodes: int = 3000, head_epochs: int = 60, max_frames: int = 8,
                    target_frames: int = 4, frame_cost: float = 0.02) -> PipelineConfig:
    """Notebook 05's pipeline settings (also ``python -m helpers rl``): the subset
    classifier from the trained model when there is one (else the feature head), frames
    beyond ``target_frames`` cost 0.03 more each, the agent is paid for being right after
    every look (``anytime_weight``), its first look is the preview's top candidate
    (``first_look``), half its exploratory looks follow the preview heuristic
    (``guided``), each look's Q-value starts from the preview it shows (``prior_weight``
    1: the untrained agent is the preview heuristic, training learns a correction), epsilon
    decays over two thirds of the episodes' steps."""
    return PipelineConfig(
        data_dir=data_dir, cache_dir=cache_dir, checkpoint=checkpoint, seed=seed, num_positions=num_positions,
        episodes=episodes, head_epochs=head_epochs, classifier="auto" if has_model else "head",
        env=EnvConfig(max_frames=max_frames, target_frames=target_frames, frame_cost=frame_cost, over_target_cost=0.03,
                      anytime_weight=1.0, first_look="preview"),
        dqn=DQNConfig(eps_decay_steps=2 * episodes, guided=0.5, prior_weight=1.0),
    )


# the baselines sampler the agent is held to: with sound the preview the clip has (audio
# energy, motion energy when silent); on the clips with the audio preview off, motion energy
HELD_TO: dict[str, str] = {"": "heuristic", "silent_": "motion"}


@dataclass
class RLPipeline:
    """Everything the notebook shows and the benchmark prints."""

    config: PipelineConfig
    train: FeatureSet
    test: FeatureSet
    classifier: Any
    env: FrameSamplingEnv
    test_env: FrameSamplingEnv
    agent: DQNAgent
    history: RLHistory
    curves: dict[str, dict[int, float]] = field(default_factory=dict)
    uniform_all: dict[int, float] = field(default_factory=dict)
    agent_result: dict[str, Any] = field(default_factory=dict)
    no_audio_result: dict[str, Any] | None = None  # the same agent with the audio preview off
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    agent_caps: dict[int, dict[str, Any]] = field(default_factory=dict)  # cap c → evaluate_agent's result
    no_audio_caps: dict[int, dict[str, Any]] = field(default_factory=dict)
    checkpoint: Path | None = None  # the trained model's file (None: the feature head without a model)
    # the same agent and baselines on the validation clips (evaluate_split): what a saved
    # sampler decides on, so that the test figures measure its choice instead of making it
    validation: "RLPipeline | None" = None

    def _sides(self) -> list[tuple[str, dict[str, Any], FramesSaved, list[dict[str, Any]]]]:
        """``(prefix, figures, frames saved, [free result, cap results…])`` with sound (the
        agent with the audio preview, held to the audio-or-motion heuristic) and, when it
        was also evaluated with the audio preview off, silent (the same agent, held to
        motion energy, the preview it has there)."""
        runs = [("", self.agent_result, self.agent_caps, HELD_TO[""])]
        if self.no_audio_result is not None:
            runs.append(("silent_", self.no_audio_result, self.no_audio_caps, HELD_TO["silent_"]))
        out = []
        for prefix, free, caps, heuristic in runs:
            figures, saved = sampling_figures(self.uniform_all, self.curves, free, caps, heuristic)
            out.append((prefix, figures, saved, [free] + [caps[c] for c in sorted(caps)]))
        return out

    def heuristic_comparison(self) -> dict[str, dict[str, Any]]:
        """Per setting (``"sound"``; ``"silent"`` when the silent evaluation ran) the held-out
        figures of :meth:`summary` that say whether the agent beats the preview heuristic —
        the one agent a saved sampler holds, on clips with sound and with the audio preview
        off: the baselines sampler it is held to, A(c) and H(c) at every cap both were
        measured at, ``agent_vs_heuristic_min`` (points) and its free-running mean frames.
        Unrounded, read from :func:`sampling_figures`, so a saved sampler can pick the
        better of the two per clip (:mod:`helpers.inference.rl_sampler`); ``cap``: c*, the
        smallest frame cap at which the agent is within a point of uniform sampling's best
        (None when the free-running agent is, or none is), which the saved sampler runs under;
        ``heuristic_cap``: the same for the heuristic, the budget it runs at where it replaces
        the agent; ``uniform_k`` (k*) and ``frames_saved_ratio``: where the agent saves no
        frames, the saved sampler uses uniform sampling at k*.

        Read from :attr:`validation` when it is set (``split``: ``"validation"``), else
        from these (test) figures (``split``: ``"test"``)."""
        source = self.validation if self.validation is not None else self
        split = "validation" if self.validation is not None else "test"
        out: dict[str, dict[str, Any]] = {}
        for prefix, figures, saved, _ in source._sides():
            agent, heuristic = figures["curves"]["agent_caps"], figures["curves"].get("heuristic", {})
            out["silent" if prefix else "sound"] = {
                "heuristic": HELD_TO[prefix],
                "caps": {int(c): {"agent": float(agent[c]), "heuristic": float(heuristic[c])}
                         for c in sorted(set(agent) & set(heuristic))},
                "agent_vs_heuristic_min": figures["agent_vs_heuristic_min"],
                "agent_mean_frames": figures["agent_mean_frames"],
                # c* when it is a forced cap: the agent is run under it (None: free-running)
                "cap": int(saved.agent_frames) if saved.agent_index else None,
                # the heuristic's own smallest budget within a point of U*: where it replaces the agent
                "heuristic_cap": smallest_budget_reaching(heuristic, saved.best_uniform_accuracy - TOLERANCE),
                # k* and k*/c*: where the agent saves no frames, uniform sampling at k* is the sampler
                "uniform_k": saved.uniform_frames, "frames_saved_ratio": saved.ratio, "split": split}
        return out

    def summary(self) -> dict[str, Any]:
        """The benchmark's final JSON object (accuracies 0–1, margins in points, rounded to
        4 digits): :func:`sampling_figures`' keys with sound and again prefixed ``silent_``,
        each with ``wall_clock_speedup_estimate`` (:func:`wall_clock_per_video`'s cost
        model for uniform at k* against the agent at c*, not a timing of predict_video),
        ``agent_vs_heuristic_worst_cap`` and ``agent_vs_heuristic_interval`` (the cap of
        ``agent_vs_heuristic_min`` and a 95 % bootstrap interval of its margin over the
        test clips, in points: :func:`~helpers.rl.evaluate.worst_cap_margin`),
        and ``uniform16_accuracy``, ``best_uniform_k`` (the budget of U*)."""
        out: dict[str, Any] = {"benchmark": "rl_sampling"}
        for prefix, figures, saved, results in self._sides():
            figures["wall_clock_speedup_estimate"] = self._speedup_estimate(saved, results)
            worst = worst_cap_margin(self.no_audio_caps if prefix else self.agent_caps, self.test, self.classifier,
                                     HELD_TO[prefix])
            if worst is not None:  # the worst cap's margin, with the interval other clips like these could give
                figures.update(agent_vs_heuristic_worst_cap=worst["cap"], agent_vs_heuristic_interval=worst["interval"])
            out.update({prefix + k: v for k, v in figures.items()})
            if not prefix:
                best_k = max(self.uniform_all, key=lambda k: (self.uniform_all[k], -k))
                out.update(uniform16_accuracy=self.uniform_all.get(16, float("nan")), best_uniform_k=int(best_k))
        return rounded(out)

    def equal_frames(self) -> dict[str, Any]:
        """The agent on the test clips made to look at exactly c frames at every cap
        (:func:`cap_results` with ``exact``), ``agent_equal_frames`` {c: accuracy}, and
        ``agent_vs_heuristic_min_equal_frames``: min over c of that minus H(c), in points;
        with sound and, where the silent evaluation ran, prefixed ``silent_``. Beside
        ``agent_vs_heuristic_min`` (the agent may stop before the cap), it separates which
        frames the agent picks from when it stops. Rounded like :meth:`summary`."""
        _, silent_cfg = evaluation_env_configs(self.config)
        envs = [("", self.test_env)]  # with sound: the env the test figures came from (its answers cached)
        if silent_cfg is not None:
            envs.append(("silent_", FrameSamplingEnv(self.test, self.classifier, silent_cfg, self.test_env.projection)))
        out: dict[str, Any] = {}
        for prefix, env in envs:
            accuracy = {int(c): float(r["accuracy"])
                        for c, r in cap_results(self.agent, env, self.config.caps, exact=True).items()}
            out[prefix + "agent_equal_frames"] = accuracy
            out[prefix + "agent_vs_heuristic_min_equal_frames"] = agent_vs_heuristic_min(
                accuracy, self.curves.get(HELD_TO[prefix], {}))
        return rounded(out)

    def summary_notes(self) -> list[str]:
        """Lines that say what the summary's figures cannot: a null frames-saved ratio, and
        that the agent's wall-clock figure is an estimate."""
        notes = []
        for prefix, _, saved, _ in self._sides():
            if saved.ratio is None:
                side = "silent" if prefix else "with sound"
                notes.append(f"{side}: the agent does not reach U* − {TOLERANCE:.2f} = "
                             f"{saved.best_uniform_accuracy - TOLERANCE:.4f} at any cap nor free-running, so "
                             f"{prefix}frames_saved_ratio is null (no saving at uniform sampling's best accuracy)")
        notes.append("wall_clock_speedup_estimate = (k* × seconds per candidate frame + classifier time) / "
                     "(the agent's mean frames at c* × seconds per candidate frame + its policy time), from "
                     "cached costs, not a timing; it leaves out the decoding pass every candidate needs for the "
                     "previews (the timed figure: wall_clock_speedup, helpers.rl.wallclock)")
        return notes

    def _speedup_estimate(self, saved: FramesSaved, results: list[dict[str, Any]]) -> float | None:
        """Estimated seconds of uniform at k* over the agent's at c* (None: no c*, or no frame cost)."""
        if saved.agent_index is None:
            return None
        wall = wall_clock_per_video(self, saved.uniform_frames, results[saved.agent_index])
        ratio = wall[f"uniform{saved.uniform_frames}_s"] / wall["agent_s"]
        return float(ratio) if np.isfinite(ratio) else None


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats rounded (NaN → None, so the JSON stays valid) in nested dicts and lists."""
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    if isinstance(value, float):
        return round(value, digits) if np.isfinite(value) else None
    return value


def obtain_model(cfg: PipelineConfig):
    """``(model, checkpoint path, note)``: the given checkpoint, or load_or_train's."""
    from helpers.settings import get_settings
    from helpers.training import TrainConfig, load_or_train
    from helpers.training.load import load_trained

    if cfg.checkpoint is not None:
        path = Path(cfg.checkpoint)
        return load_trained(path)[0], path, f"model: {path}"
    s = get_settings()
    settings = dataclasses.replace(s, runs_dir=Path(cfg.cache_dir) / "runs")
    tcfg = TrainConfig.smoke("multimodal", epochs=cfg.model_epochs, seed=cfg.seed, progress=cfg.progress,
                             model_overrides=dict(audio="none", caption_decoder="none"))
    res = load_or_train("multimodal", 1, config=tcfg, data=cfg.data_dir, settings=settings,
                        models_dir=cfg.models_dir or Path(cfg.cache_dir) / "models")
    how = "trained now" if res.trained else "loaded"
    return res.model, res.checkpoint, f"model: {res.checkpoint} ({how}, best val acc {res.best_val_acc:.1%})"


def model_for_notebook(checkpoint: str | Path, smoke: bool) -> tuple[Any, Path | None, str]:
    """What notebook 04 left: ``(model, checkpoint, note)``. Missing checkpoint: an error
    that says to run notebook 04 — except in smoke mode, where the notebook goes on with
    ``(None, None, note)`` and the feature head on optical flow (the same sampler code path)."""
    from helpers.training.load import load_trained, missing_model

    path = Path(checkpoint)
    if path.is_file() or not smoke:
        return load_trained(path)[0], path, f"model: {path} (from notebook 04)"
    return None, None, missing_model(path) + " — smoke mode goes on with optical-flow features and a small subset head"


def model_frame_size(checkpoint: str | Path | None) -> tuple[tuple[int, int], int]:
    """``(resize, crop)`` the model was trained at (its checkpoint's config), so its frame
    encoder sees frames of the size it learned on; the smoke size without a checkpoint."""
    if checkpoint is None or not Path(checkpoint).is_file():
        return (36, 48), 32
    from helpers.training import TrainConfig
    from helpers.training.checkpoint import load_checkpoint

    tcfg = TrainConfig.from_dict(load_checkpoint(checkpoint, mmap=True)["config"])
    return tuple(tcfg.resize), int(tcfg.crop)


def validation_features(cfg: PipelineConfig, model, checkpoint, encoder: str) -> FeatureSet | None:
    """The validation split's cached features with the classifier's encoder (``"model"``,
    ``"flow"`` or ``"pixels"``: a FeatureSet's ``meta["encoder"]``), or None when the data
    has no such split."""
    resize, crop = model_frame_size(checkpoint)
    common = dict(checkpoint=checkpoint, num_positions=cfg.num_positions, progress=cfg.progress, resize=resize,
                  crop=crop)
    return _val_features(model if encoder == "model" else None, cfg, encoder, common)


def evaluate_split(pipe: RLPipeline, fs: FeatureSet) -> RLPipeline:
    """``pipe``'s agent, classifier and baseline samplers evaluated the same way on other
    clips ``fs`` (the validation split), with sound and, when ``pipe`` was, silent. Set as
    ``pipe.validation``, it is what :meth:`RLPipeline.heuristic_comparison` (the saved
    sampler's choice between agent, heuristic and uniform sampling) reads, so the test
    clips measure that choice rather than make it."""
    sound_cfg, silent_cfg = evaluation_env_configs(pipe.config)
    projection = pipe.test_env.projection
    env = FrameSamplingEnv(fs, pipe.classifier, sound_cfg, projection)
    curves, uniform_all = sampler_curves(fs, pipe.classifier, pipe.config)
    out = RLPipeline(pipe.config, pipe.train, fs, pipe.classifier, pipe.env, env, pipe.agent, pipe.history, curves,
                     uniform_all, evaluate_agent(pipe.agent, env),
                     agent_caps=cap_results(pipe.agent, env, pipe.config.caps), checkpoint=pipe.checkpoint)
    if pipe.no_audio_result is not None and silent_cfg is not None:
        silent = FrameSamplingEnv(fs, pipe.classifier, silent_cfg, projection)
        out.no_audio_result = evaluate_agent(pipe.agent, silent)
        out.no_audio_caps = cap_results(pipe.agent, silent, pipe.config.caps)
    return out


def _val_features(model, cfg: PipelineConfig, encoder: str, common: dict) -> FeatureSet | None:
    """The validation split's features, or None when the data has no such split."""
    try:
        return cached_features(model, cfg.data_dir, "val", cfg.cache_dir, encoder=encoder, **common)
    except ValueError:
        return None


def build_classifier(cfg: PipelineConfig, model, checkpoint) -> tuple[Any, FeatureSet, FeatureSet, list[str]]:
    """Features of both splits and the classifier over them (see the module docstring)."""
    from helpers.rl.classifier import finetune_model_head, subset_val_accuracy, train_feature_head

    notes: list[str] = []
    resize, crop = model_frame_size(checkpoint)
    common = dict(checkpoint=checkpoint, num_positions=cfg.num_positions, progress=cfg.progress, resize=resize,
                  crop=crop)
    candidates: list[tuple[float, Any, FeatureSet, FeatureSet, str]] = []
    if cfg.classifier in ("auto", "model"):
        tr = cached_features(model, cfg.data_dir, "train", cfg.cache_dir, encoder="model", **common)
        if not is_degenerate(tr.features):
            te = cached_features(model, cfg.data_dir, "test", cfg.cache_dir, encoder="model", **common)
            va = _val_features(model, cfg, "model", common)
            clf = finetune_model_head(model, tr, epochs=cfg.head_epochs, seed=cfg.seed, progress=cfg.progress,
                                      val=va)
            score = subset_val_accuracy(clf, va) if va is not None else float("nan")
            candidates.append((score, clf, tr, te, "the trained model's temporal head over the chosen frames "
                               f"(fitted further on random subsets of cached train features; val {score:.1%})"))
        elif cfg.classifier == "model":
            raise ValueError(f"{checkpoint}: the model's frame encoder gives constant features; "
                             "train it longer or use classifier='head'")
        else:
            notes.append(f"{checkpoint}: the model's frame encoder gives constant features (std < 1e-5) — "
                         f"falling back to {cfg.head_features} features and a subset head trained on the train split")
    # auto: the feature head too, unless the model head is usable and no validation split can choose
    if cfg.classifier == "head" or (cfg.classifier == "auto" and (not candidates or not np.isnan(candidates[0][0]))):
        enc = cfg.head_features
        tr = cached_features(None, cfg.data_dir, "train", cfg.cache_dir, encoder=enc, **common)
        te = cached_features(None, cfg.data_dir, "test", cfg.cache_dir, encoder=enc, **common)
        va = _val_features(None, cfg, enc, common)
        head = train_feature_head(tr, epochs=cfg.head_epochs, seed=cfg.seed, progress=cfg.progress, val=va)
        score = subset_val_accuracy(head, va) if va is not None else float("nan")
        candidates.append((score, head, tr, te, f"FeatureHead on {tr.meta.get('encoder')} features "
                           f"({cfg.head_epochs} epochs of random subsets; val {score:.1%})"))
    # auto with both: the better one on the validation split (never the test split)
    best = max(candidates, key=lambda c: -1.0 if np.isnan(c[0]) else c[0])
    for score, _, _, _, what in candidates:
        if len(candidates) > 1 and what != best[4]:
            notes.append(f"not chosen (lower validation accuracy): {what}")
    notes.append(f"classifier: {best[4]}")
    return best[1], best[2], best[3], notes


def agent_classifier(cfg: PipelineConfig, classifier, train: FeatureSet, model=None, checkpoint=None):
    """What the agent trains against: ``classifier`` itself, or with ``cfg.agent_folds`` ≥ 2
    an :class:`~helpers.rl.classifier.OutOfFoldClassifier` of the same kind, each fold's
    fitted like ``classifier`` (same epochs, best validation epoch kept) on the other folds."""
    from helpers.rl.classifier import (FeatureHead, ModelHeadClassifier, finetune_model_head, fit_out_of_fold,
                                       train_feature_head)

    if cfg.agent_folds < 2:
        return classifier
    val = validation_features(cfg, model, checkpoint, str(train.meta.get("encoder", "model")))
    common = dict(epochs=cfg.head_epochs, seed=cfg.seed, progress=False, val=val)
    if isinstance(classifier, FeatureHead):
        def fit(fs):
            return train_feature_head(fs, **common)
    elif isinstance(classifier, ModelHeadClassifier):
        def fit(fs):
            return finetune_model_head(model, fs, **common)
    else:
        raise TypeError(f"no out-of-fold fitting for {type(classifier).__name__}")
    return fit_out_of_fold(train, fit, cfg.agent_folds, cfg.seed)


def training_env_config(cfg: PipelineConfig) -> EnvConfig:
    """The environment the agent trains in: ``cfg.env`` with ``cfg.audio_dropout`` when it
    is also evaluated silent (``no_audio``), so the one agent learns both settings; without
    dropout otherwise."""
    return dataclasses.replace(cfg.env, audio_dropout=cfg.audio_dropout if cfg.no_audio else 0.0)


def evaluation_env_configs(cfg: PipelineConfig) -> tuple[EnvConfig, EnvConfig | None]:
    """``(with sound, silent)`` test environments' configs, neither with dropout; the
    silent one (audio preview off) only when ``cfg.no_audio``."""
    sound = dataclasses.replace(cfg.env, audio_dropout=0.0)
    return sound, dataclasses.replace(sound, use_audio=False) if cfg.no_audio else None


def train_agent(train: FeatureSet, classifier, env_cfg: EnvConfig, dqn_cfg: DQNConfig, projection: np.ndarray,
                episodes: int, seed: int, progress: bool, positional_q: bool = True
                ) -> tuple[FrameSamplingEnv, DQNAgent, RLTrainer]:
    env = FrameSamplingEnv(train, classifier, env_cfg, projection)
    slices = env.position_slices if positional_q else None
    agent = DQNAgent(env.obs_dim, int(env.action_space.n), dataclasses.replace(dqn_cfg, seed=seed,
                                                                                position_slices=slices))
    trainer = RLTrainer(env, agent, seed=seed)
    trainer.fit(episodes, progress=progress)
    return env, agent, trainer


def sampler_curves(test: FeatureSet, classifier, cfg: PipelineConfig
                   ) -> tuple[dict[str, dict[int, float]], dict[int, float]]:
    """Every baseline sampler's test accuracy at the config's budgets, and uniform
    sampling's at every budget 1…N (what the frames-saved ratio is read from)."""
    curves = accuracy_curves(test, classifier, cfg.budgets, seed=cfg.seed)
    uniform_all = accuracy_curves(test, classifier, range(1, test.num_positions + 1), samplers=("uniform",))["uniform"]
    return curves, uniform_all


def run_pipeline(cfg: PipelineConfig, model=None, checkpoint: Path | None = None) -> RLPipeline:
    """Run every step (see the module docstring); ``model`` skips :func:`obtain_model`."""
    import torch

    threads = torch.get_num_threads()
    try:
        return _run(cfg, model, checkpoint)
    finally:
        torch.set_num_threads(threads)


def _run(cfg: PipelineConfig, model, checkpoint: Path | None) -> RLPipeline:
    import torch

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    notes: list[str] = []
    if model is None and cfg.classifier != "head":
        model, checkpoint, note = obtain_model(cfg)
        notes.append(note)
    timings["model_s"] = time.perf_counter() - t0
    if cfg.rl_threads:
        torch.set_num_threads(cfg.rl_threads)
    t = time.perf_counter()
    classifier, train, test, more = build_classifier(cfg, model, checkpoint)
    notes += more
    timings["features_classifier_s"] = time.perf_counter() - t
    projection = fit_projection(train, cfg.projection_dims)
    t = time.perf_counter()
    answers = agent_classifier(cfg, classifier, train, model, checkpoint)
    if answers is not classifier:
        timings["out_of_fold_s"] = time.perf_counter() - t
        notes.append(f"the agent trains against out-of-fold answers ({cfg.agent_folds} folds)")
    t = time.perf_counter()
    env, agent, trainer = train_agent(train, answers, training_env_config(cfg), cfg.dqn, projection,
                                      cfg.episodes, cfg.seed, cfg.progress, cfg.positional_q)
    timings["agent_train_s"] = time.perf_counter() - t
    sound_cfg, silent_cfg = evaluation_env_configs(cfg)
    test_env = FrameSamplingEnv(test, classifier, sound_cfg, projection)
    result = evaluate_agent(agent, test_env)
    caps = cap_results(agent, test_env, cfg.caps)
    t = time.perf_counter()
    curves, uniform_all = sampler_curves(test, classifier, cfg)
    timings["baselines_s"] = time.perf_counter() - t
    pipe = RLPipeline(cfg, train, test, classifier, env, test_env, agent, trainer.history, curves, uniform_all,
                      result, notes=notes, timings=timings, agent_caps=caps,
                      checkpoint=Path(checkpoint) if checkpoint else None)
    if silent_cfg is not None:
        t = time.perf_counter()
        silent_env = FrameSamplingEnv(test, classifier, silent_cfg, projection)
        pipe.no_audio_result = evaluate_agent(agent, silent_env)
        pipe.no_audio_caps = cap_results(agent, silent_env, cfg.caps)
        timings["silent_eval_s"] = time.perf_counter() - t
    val = validation_features(cfg, model, checkpoint, str(test.meta.get("encoder", "model")))
    if val is not None:
        t = time.perf_counter()
        pipe.validation = evaluate_split(pipe, val)
        timings["validation_eval_s"] = time.perf_counter() - t
    return pipe


def wall_clock_per_video(pipe: RLPipeline, uniform_frames: int = 16,
                         agent: dict[str, Any] | None = None) -> dict[str, float]:
    """Seconds per video, uniform-k vs the agent (``agent``: an :func:`evaluate_agent`
    result, default the free-running agent with audio), estimated from the measured cost
    of extracting one candidate frame (decode + encode) times the frames each side looks
    at, plus each side's own compute. An estimate: it assumes only the looked-at frames
    are decoded."""
    agent = pipe.agent_result if agent is None else agent
    per_frame = float(pipe.test.meta.get("seconds_per_frame", float("nan")))
    clf_s = _classifier_seconds(pipe, uniform_frames)
    return {"seconds_per_frame": per_frame,
            f"uniform{uniform_frames}_s": uniform_frames * per_frame + clf_s,
            "agent_s": agent["mean_frames"] * per_frame + agent["seconds_per_clip"]}


def _classifier_seconds(pipe: RLPipeline, k: int) -> float:
    from helpers.rl.baselines import uniform_positions

    fs = pipe.test
    mask = np.zeros((1, fs.num_positions), bool)
    mask[0, uniform_positions(fs.num_positions, min(k, fs.num_positions))] = True
    t = time.perf_counter()
    for _ in range(5):
        pipe.classifier.predict_proba(fs.features[:1], fs.times[:1], mask)
    return (time.perf_counter() - t) / 5

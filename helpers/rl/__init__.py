"""Reinforcement-learned frame sampling (notebook 05): cached per-frame features, a
gymnasium ``FrameSamplingEnv``, a Double-DQN agent, baselines at equal frame budgets and
the accuracy-vs-frames measurement. Names load lazily (nothing heavy at import)::

    from helpers.rl import FrameSamplingEnv, DQNAgent, RLTrainer
"""
from __future__ import annotations

from helpers._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "FeatureSet": "features", "extract_features": "features", "cached_features": "features",
    "ModelHeadClassifier": "classifier", "FeatureHead": "classifier", "train_feature_head": "classifier",
    "FrameSamplingEnv": "env", "EnvConfig": "env", "fit_projection": "env",
    "DQNAgent": "agent", "DQNConfig": "agent",
    "RLTrainer": "trainer", "RLHistory": "trainer", "run_policy": "trainer",
    "SAMPLERS": "baselines", "uniform_positions": "baselines", "random_positions": "baselines",
    "energy_positions": "baselines", "oracle_orders": "baselines", "sampler_positions": "baselines",
    "BUDGETS": "evaluate", "accuracy_curves": "evaluate", "evaluate_agent": "evaluate",
    "frames_saved_ratio": "evaluate", "FramesSaved": "evaluate", "CAPS": "evaluate", "cap_results": "evaluate",
    "agent_vs_heuristic_min": "evaluate", "sampling_figures": "evaluate", "event_hit_rate": "evaluate",
    "positions_accuracy": "subsets", "SubsetClassifier": "subsets",
    "plot_learning_curves": "plots", "plot_accuracy_vs_frames": "plots", "visualize_frame_sampling": "plots",
    "candidate_frames": "plots",
    "run_pipeline": "pipeline", "RLPipeline": "pipeline", "PipelineConfig": "pipeline",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())

"""The notebook-03 models and what surrounds them.

* :class:`ActionMoEDynamicModel` (model A): R(2+1)D-18 + Motion Dynamics Module +
  noisy top-k mixture of experts, for HMDB51-style action recognition.
* :class:`MultiModalVideoModel` (model B): per-frame 2D encoder + temporal Transformer
  over frame times + Wav2Vec2/log-mel audio + bidirectional cross-attention, with
  classification, captioning and audio-visual sync heads.
* Configs with ``smoke()``/``full()`` presets; offline-safe pretrained loading
  (:mod:`helpers.models.pretrained`); summaries and plots (:mod:`helpers.models.summary`);
  a Batches-contract demo batch (:func:`make_demo_batch`).

transformers is imported only when a model that needs it is built.
"""
from .action_moe import ActionMoEConfig, ActionMoEDynamicModel, ActionMoEOutput
from .captioning import WordTokenizer, beam_search, greedy_decode
from .demo import make_demo_batch
from .moe import DynamicTopKMoE, RoutingInfo, switch_load_balancing_loss
from .motion import GatedResidualFusion, MotionDynamicsModule
from .multimodal import MultiModalConfig, MultiModalVideoModel
from .summary import (
    ModelSummary,
    clip_inputs,
    forward_kwargs,
    plot_cross_attention,
    plot_cross_attention_pair,
    plot_expert_routing,
    summarize,
    summary_table,
)
from .sync import make_sync_pairs, shift_audio

__all__ = [
    "ActionMoEConfig", "ActionMoEDynamicModel", "ActionMoEOutput", "DynamicTopKMoE", "GatedResidualFusion",
    "ModelSummary", "MotionDynamicsModule", "MultiModalConfig", "MultiModalVideoModel", "RoutingInfo",
    "WordTokenizer", "beam_search", "clip_inputs", "forward_kwargs", "greedy_decode", "make_demo_batch",
    "make_sync_pairs", "plot_cross_attention", "plot_cross_attention_pair", "plot_expert_routing", "shift_audio",
    "summarize", "summary_table", "switch_load_balancing_loss",
]

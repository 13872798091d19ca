"""Model B, ``MultiModalVideoModel``: per-frame 2D vision encoder → temporal model over
frame times → bidirectional cross-attention with an audio encoder → heads for action
classification, captioning and audio-visual synchronisation.

    video (B,3,T,H,W) ─ FrameEncoder ─ (B,T,F) ─ TemporalEncoder(+ time enc.) ─ v (B,T,D) ─┐
    audio (B,N) | audio_mel (B,64,F) ─ audio encoder (+ time enc.) ─ a (B,S,D) ────────────┤
                      BidirectionalCrossAttention(v, a; masks) ─ v', a', attention weights ┘
    video, small ─ MotionDynamicsModule ─ m (B,D)            (``motion``; see below)
    video ─ ColourHistogram ─ c (B,2,D)                      (``colour_bins``: the colours, for captions)
    v̄ = masked_mean(v'); ā = masked_mean(a') or a learned "no audio" vector
    logits = MLP([v̄ + gated m, ā]); sync_logits = MLP([v̄, ā, v̄*ā]); caption decoder attends to [v'; a'; m; c] + s
    s = Linear(stop-grad [v̄ + gated m, ā]) (``caption_summary``): what the classifier reads, added to each token

Why the motion stream: the frame encoder pools each frame over space, so where a thing
is, and therefore which way it moved, is mostly gone before the temporal model sees it;
"move left" and "move right" share every frame's appearance. The same Motion Dynamics
Module as model A's (:mod:`.motion`: brightness-constancy cues, global translation,
rotation and dilation) reads the frames themselves at a small size, put in time order.
Without video (cached ``frame_features``) there is no motion stream.

Why the colour tokens: captions name the object's and the background's colours, which a
frame encoder trained from scratch for minutes does not keep (:mod:`.appearance`). They
go to the caption decoder only; the action does not depend on colour.

Missing audio (``audio_mask`` False, or no audio input at all) is masked out of every
attention and pooling, so those clips are classified from video alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .appearance import ColourHistogram
from .audio import WAV2VEC2_SMALL, WAV2VEC2_TINY, LogMelCNNEncoder, Wav2Vec2AudioEncoder
from .backbones import MOBILEVIT_TINY, FrameEncoder, FrameEncoderName
from .captioning import GPT2CaptionDecoder, SmallCaptionDecoder, WordTokenizer, beam_search, greedy_decode
from .fusion import BidirectionalCrossAttention
from .motion import GatedResidualFusion, MotionDynamicsModule
from .temporal import ContinuousTimeEncoding, TemporalEncoder, default_frame_times, masked_mean


@dataclass
class MultiModalConfig:
    """Everything that shapes model B. ``caption_vocab`` (from
    :meth:`with_captions`) makes the word tokenizer part of the config, so a checkpoint's
    config rebuilds the same decoder."""

    num_classes: int = 51
    vision: FrameEncoderName = "efficientnet_b0"
    vision_pretrained: bool = True
    freeze_vision: bool = False
    # "group": every BatchNorm2d of the frame encoder becomes a GroupNorm (see
    # :func:`batchnorm_to_groupnorm`): for a randomly initialised encoder trained briefly
    # (smoke runs, tests). "batch": the network's own BatchNorm (pretrained weights).
    vision_norm: Literal["batch", "group"] = "batch"
    mobilevit_config: dict | None = None  # offline MobileViT config overrides
    dim: int = 256
    temporal: Literal["transformer", "lstm"] = "transformer"
    temporal_layers: int = 2
    temporal_deltas: bool = False  # feature change to the previous frame as an input (see TemporalEncoder)
    heads: int = 4
    audio: Literal["wav2vec2", "logmel", "none"] = "wav2vec2"
    audio_pretrained: bool = True
    wav2vec2_offline: dict = field(default_factory=lambda: dict(WAV2VEC2_SMALL))
    n_mels: int = 64
    audio_channels: int = 32  # width of the log-mel CNN (audio "logmel"): its first block's channels
    fusion_layers: int = 1
    caption_decoder: Literal["small", "gpt2", "none"] = "small"
    caption_pretrained: bool = True  # GPT-2 weights/tokenizer (decoder "gpt2" only)
    caption_vocab: list[str] | None = None
    # the architecture of a GPT-2 that was loaded pretrained, and its tokenizer, as built
    # (see MultiModalVideoModel.rebuild_config): a checkpoint rebuilds it without a download
    caption_gpt2_config: dict | None = None
    caption_tokenizer: str | None = None  # GPT2CaptionDecoder.tokenizer_to_json
    caption_layers: int = 2
    caption_max_len: int = 24
    dropout: float = 0.1
    default_fps: float = 25.0  # frame times when a batch has no ``frame_times``
    # the motion stream (module docstring); off by default so configs saved without it rebuild as they were
    motion: bool = False
    motion_size: int = 32  # side of the frames the motion cues are read at (pixels, after average pooling)
    motion_hidden: int = 16
    # the motion stream also reads which way the path of what changed turns (a circling
    # thing's sense: :func:`~helpers.models.motion.path_turning`). Off by default so configs
    # saved without it rebuild as they were
    motion_turning: bool = False
    # the pooled features that classify, projected and added to every token the caption
    # decoder reads: what the classifier knows reaches each cross-attention read, whichever
    # token it attends to. Read only: the caption loss does not move the classifier's
    # features through it (with the colour tokens it did, and cost accuracy). Off by default
    # so configs saved without it rebuild as they were
    caption_summary: bool = False
    # levels per RGB channel of the colour histogram tokens the caption decoder reads (0: none;
    # configs saved without it rebuild as they were)
    colour_bins: int = 0
    # the colour histograms read every n-th pixel, at most this many a side (0: every pixel,
    # as configs saved without it were built)
    colour_size: int = 0

    @classmethod
    def full(cls, num_classes: int = 51, **overrides) -> "MultiModalConfig":
        """Pretrained EfficientNet-B0, wav2vec2-base and GPT-2 when reachable (offline:
        random EfficientNet-B0, the small Wav2Vec2 config, the small caption decoder)."""
        base = dict(caption_decoder="gpt2", temporal_deltas=True, motion=True, motion_size=56, motion_hidden=32,
                    motion_turning=True,
                    caption_summary=True, colour_bins=4, colour_size=32)
        base.update(overrides)
        return cls(num_classes=num_classes, **base)

    @classmethod
    def student(cls, num_classes: int = 51, **overrides) -> "MultiModalConfig":
        """The deployable student of :meth:`full`, for the same inputs (16 frames of
        112 px, 10 s of sound) on a CPU: MobileNetV3-small frames (ImageNet weights when
        reachable), a log-mel CNN for the sound instead of wav2vec2, the small word decoder
        instead of GPT-2, the motion stream at 32 px. Trained by distillation from the full
        model (:class:`helpers.compression.distillation.KnowledgeDistillation`)."""
        base = dict(vision="mobilenet_v3_small", audio="logmel", audio_channels=16, caption_decoder="small", dim=128,
                    temporal_deltas=True, motion=True, motion_size=32, motion_hidden=16, motion_turning=True,
                    caption_summary=True, colour_bins=4, colour_size=32)
        base.update(overrides)
        return cls(num_classes=num_classes, **base)

    @classmethod
    def smoke(cls, num_classes: int = 5, **overrides) -> "MultiModalConfig":
        base = dict(vision="mobilenet_v3_small", vision_pretrained=False, mobilevit_config=dict(MOBILEVIT_TINY),
                    vision_norm="group", temporal_deltas=True, dim=32, temporal_layers=1, heads=2,
                    audio_pretrained=False,
                    wav2vec2_offline=dict(WAV2VEC2_TINY), caption_decoder="small", caption_pretrained=False,
                    caption_layers=1,
                    caption_max_len=24, dropout=0.0, motion=True, motion_size=32, motion_hidden=16, motion_turning=True,
                    caption_summary=True, colour_bins=4, colour_size=32)
        base.update(overrides)
        return cls(num_classes=num_classes, **base)

    @classmethod
    def for_size(cls, num_classes: int = 51, size: str | None = None, **overrides) -> "MultiModalConfig":
        """The preset of ``size`` (default: the active size, :func:`helpers.settings.size`)."""
        from helpers.settings import chosen_size

        return getattr(cls, chosen_size(size))(num_classes, **overrides)

    @classmethod
    def demo(cls, num_classes: int = 51, **overrides) -> "MultiModalConfig":
        """The demo size's model: the smoke miniature (what ``TrainConfig.demo`` trains)."""
        return cls.smoke(num_classes, **overrides)

    def with_captions(self, captions, min_count: int = 1) -> "MultiModalConfig":
        """A copy whose caption vocabulary is built from ``captions`` (training split)."""
        return replace(self, caption_vocab=WordTokenizer.from_captions(captions, min_count).itos)

    def to_dict(self) -> dict:
        return asdict(self)


def _hf_config_dict(config) -> dict:
    """A transformers config as the keyword arguments that rebuild it (no bookkeeping keys)."""
    d = config.to_dict()
    for key in ("transformers_version", "architectures", "_name_or_path", "model_type", "torch_dtype", "dtype"):
        d.pop(key, None)
    return d


def _groups(channels: int, max_groups: int) -> int:
    """The largest divisor of ``channels`` that is at most ``max_groups``."""
    return max(g for g in range(1, max_groups + 1) if channels % g == 0)


def batchnorm_to_groupnorm(module: nn.Module, max_groups: int = 8) -> nn.Module:
    """Replace every ``BatchNorm2d`` below ``module`` (in place) by a ``GroupNorm`` with
    the same channels, eps and affine init (weight 1, bias 0); returns ``module``.

    Why: torchvision's MobileNetV3/EfficientNet keep BatchNorm running statistics with
    momentum 0.01, i.e. tuned for ~10⁵ ImageNet steps. A randomly initialised encoder
    trained for tens of steps still holds the init statistics (mean 0, var 1) in eval
    mode, while the real activations shrink ~10× per block; un-normalised, the
    clip-dependent part of the signal vanishes and the per-frame features come out
    constant (std ~1e-8 across clips, measured on the smoke config, even at init).
    GroupNorm normalises each sample by itself, identically in train and eval mode.
    Pretrained weights come with meaningful statistics: keep ``vision_norm="batch"``.
    """
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            c = child.num_features
            setattr(module, name, nn.GroupNorm(_groups(c, max_groups), c, eps=child.eps, affine=child.affine))
        else:
            batchnorm_to_groupnorm(child, max_groups)
    return module


class MultiModalVideoModel(nn.Module):
    """Vision + audio + text model (see the module docstring). ``forward`` returns a
    dict: ``logits`` (B, classes), ``sync_logits`` (B,), ``caption_logits`` (B, L, V)
    or None, ``attention_weights`` ({"video_to_audio": (B,T,S), "audio_to_video":
    (B,S,T)} or None without audio input), ``video_features`` (B,T,D),
    ``audio_features`` (B,S,D) or None, ``pooled`` (B,2D), ``memory``/``memory_mask``
    (the sequence the caption decoder reads), ``audio_mask`` (B,)."""

    def __init__(self, config: MultiModalConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or MultiModalConfig.full()
        d = cfg.dim
        self.vision = FrameEncoder(cfg.vision, cfg.vision_pretrained, cfg.mobilevit_config)
        if cfg.vision_norm == "group":
            batchnorm_to_groupnorm(self.vision)
        elif cfg.vision_norm != "batch":
            raise ValueError(f"vision_norm must be 'batch' or 'group', got {cfg.vision_norm!r}")
        if cfg.freeze_vision:
            self.vision.requires_grad_(False)
        self.temporal = TemporalEncoder(self.vision.out_dim, d, cfg.temporal, cfg.temporal_layers, cfg.heads,
                                        cfg.dropout, deltas=cfg.temporal_deltas)
        self.audio_encoder: nn.Module | None = None
        if cfg.audio == "wav2vec2":
            self.audio_encoder = Wav2Vec2AudioEncoder(d, cfg.audio_pretrained, cfg.wav2vec2_offline)
        elif cfg.audio == "logmel":
            self.audio_encoder = LogMelCNNEncoder(d, cfg.n_mels, cfg.audio_channels)
        elif cfg.audio != "none":
            raise ValueError(f"audio must be 'wav2vec2', 'logmel' or 'none', got {cfg.audio!r}")
        self.audio_time = ContinuousTimeEncoding(d)
        self.fusion = BidirectionalCrossAttention(d, cfg.heads, cfg.fusion_layers, cfg.dropout)
        self.motion: MotionDynamicsModule | None = None
        self.motion_fusion: GatedResidualFusion | None = None
        if cfg.motion:
            self.motion = MotionDynamicsModule(3, cfg.motion_hidden, d, turning=cfg.motion_turning)
            self.motion_fusion = GatedResidualFusion(d)
        self.no_audio = nn.Parameter(torch.zeros(d))
        self.classifier = nn.Sequential(nn.LayerNorm(2 * d), nn.Dropout(cfg.dropout), nn.Linear(2 * d, cfg.num_classes))
        self.sync_head = nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.Linear(d, 1))
        self.tokenizer = None
        self.caption: nn.Module | None = None
        self._build_caption_decoder(cfg)
        self.caption_summary: nn.Module | None = None
        if cfg.caption_summary and self.caption is not None:
            self.caption_summary = nn.Sequential(nn.LayerNorm(2 * d), nn.Linear(2 * d, d))
        self.colour: ColourHistogram | None = None
        if cfg.colour_bins and self.caption is not None:
            self.colour = ColourHistogram(d, cfg.colour_bins, cfg.colour_size)
        self.weights_sources = {
            "vision": self.vision.weights_source,
            "audio": getattr(self.audio_encoder, "weights_source", "none"),
            "caption": getattr(self.caption, "weights_source", "random init" if self.caption else "none"),
        }

    def _build_caption_decoder(self, cfg: MultiModalConfig) -> None:
        if cfg.caption_decoder == "none":
            return
        if cfg.caption_decoder not in ("small", "gpt2"):
            raise ValueError(f"caption_decoder must be 'small', 'gpt2' or 'none', got {cfg.caption_decoder!r}")
        words = WordTokenizer(cfg.caption_vocab) if cfg.caption_vocab else None
        gpt2_fallback = False
        if cfg.caption_decoder == "gpt2" and cfg.caption_gpt2_config is not None:
            if cfg.caption_tokenizer is None:
                raise ValueError("caption_gpt2_config needs caption_tokenizer (both come from rebuild_config)")
            dec = GPT2CaptionDecoder.from_built(cfg.dim, cfg.caption_gpt2_config, cfg.caption_tokenizer,
                                                max_len=cfg.caption_max_len)
            self.caption, self.tokenizer = dec, dec.tokenizer
            return
        if cfg.caption_decoder == "gpt2" and cfg.caption_pretrained:
            dec = GPT2CaptionDecoder(cfg.dim, len(words) if words else 4, pretrained=True, max_len=cfg.caption_max_len)
            if dec.tokenizer is not None:
                self.caption, self.tokenizer = dec, dec.tokenizer
                return
            gpt2_fallback = True  # offline: the small decoder with the word tokenizer
        if words is None:
            raise ValueError("the caption decoder needs a vocabulary: build the config with "
                             "config.with_captions(train_captions), or set caption_decoder='none'")
        self.tokenizer = words
        if cfg.caption_decoder == "gpt2" and not gpt2_fallback:
            self.caption = GPT2CaptionDecoder(cfg.dim, len(words), pretrained=False, n_embd=cfg.dim,
                                              n_layer=cfg.caption_layers, n_head=cfg.heads, max_len=cfg.caption_max_len)
        else:
            self.caption = SmallCaptionDecoder(len(words), cfg.dim, cfg.caption_layers, cfg.heads,
                                               cfg.caption_max_len, cfg.dropout)

    def rebuild_config(self) -> MultiModalConfig:
        """The config that rebuilds this exact architecture with no download: pretrained
        flags off, and in their place what was built (wav2vec2-base's and GPT-2's own
        configs and GPT-2's tokenizer when they were loaded; the small caption decoder when
        GPT-2 was asked for but missing). A checkpoint stores this, not the config asked for."""
        cfg = replace(self.config, vision_pretrained=False, audio_pretrained=False, caption_pretrained=False)
        if cfg.vision == "mobilevit":
            cfg = replace(cfg, mobilevit_config=_hf_config_dict(self.vision.net.config))
        if isinstance(self.audio_encoder, Wav2Vec2AudioEncoder):
            cfg = replace(cfg, wav2vec2_offline=_hf_config_dict(self.audio_encoder.net.config))
        if isinstance(self.caption, GPT2CaptionDecoder) and not isinstance(self.tokenizer, WordTokenizer):
            cfg = replace(cfg, caption_gpt2_config=_hf_config_dict(self.caption.net.config),
                          caption_tokenizer=GPT2CaptionDecoder.tokenizer_to_json(self.tokenizer))
        elif isinstance(self.caption, SmallCaptionDecoder):
            cfg = replace(cfg, caption_decoder="small")
        return cfg

    def train(self, mode: bool = True) -> "MultiModalVideoModel":
        super().train(mode)
        if self.config.freeze_vision:
            self.vision.eval()  # frozen BatchNorm statistics too
        return self

    # ----------------------------------------------------------------- encoding
    def encode_frames(self, video: Tensor) -> Tensor:
        """(B, T, F) per-frame features. A batch of sync pairs
        (:func:`~helpers.models.sync.make_sync_pairs`) holds every video twice, once per
        audio: its first half is encoded once and repeated — the same result (the frame
        encoder treats samples independently; BatchNorm of a doubled batch has the same
        statistics) for half the cost of the most expensive part of a training step."""
        b = video.shape[0]
        if b >= 2 and b % 2 == 0 and torch.equal(video[: b // 2], video[b // 2:]):
            half = self.vision(video[: b // 2])
            return torch.cat([half, half])
        return self.vision(video)

    def encode_audio(self, audio: Tensor | None, audio_mel: Tensor | None) -> Tensor | None:
        """(B, S, D) audio tokens with time encodings, or None when the configured
        encoder's input is missing."""
        if self.audio_encoder is None:
            return None
        x = audio if self.config.audio == "wav2vec2" else audio_mel
        if x is None:
            return None
        tokens = self.audio_encoder(x)
        b, s = tokens.shape[:2]
        times = (torch.arange(s, device=tokens.device, dtype=torch.float32) + 0.5) * self.audio_encoder.token_seconds
        return tokens + self.audio_time(times.expand(b, s))

    def encode_motion(self, video: Tensor, frame_times: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        """(B, D) motion features of ``video`` (B,3,T,H,W): frames put in time order,
        average-pooled to at most ``motion_size`` pixels a side, then the Motion Dynamics
        Module (exactly zero for a still clip). With ``frame_mask`` each clip is read from
        its real frames only, as if it were alone. One frame is a still clip: its zeros
        are returned without running the module (a one-frame prediction, e.g. of the RL
        sampler's picks, does not pay for motion it cannot have)."""
        if frame_mask is not None and not bool(frame_mask.all()):
            return torch.cat([self.encode_motion(video[i:i + 1, :, frame_mask[i]], frame_times[i:i + 1, frame_mask[i]])
                              for i in range(video.shape[0])])
        b, c, t, h, w = video.shape
        if t < 2:
            return video.new_zeros(b, self.motion.project.out_features)
        order = frame_times.argsort(dim=1)
        video = video.gather(2, order.view(b, 1, t, 1, 1).expand(b, c, t, h, w))
        side = self.config.motion_size
        if max(h, w) > side:
            video = F.adaptive_avg_pool3d(video, (t, max(1, h * side // max(h, w)), max(1, w * side // max(h, w))))
        return self.motion.features(video)

    def forward(self, video: Tensor | None = None, frame_times: Tensor | None = None, audio: Tensor | None = None,
                audio_mel: Tensor | None = None, audio_mask: Tensor | None = None,
                frame_mask: Tensor | None = None, caption_ids: Tensor | None = None,
                frame_features: Tensor | None = None) -> dict:
        """``video`` (B,3,T,H,W) or precomputed ``frame_features`` (B,T,F) (the RL
        sampler caches those); ``frame_times`` (B,T) seconds, any subset/order of frames;
        ``frame_mask`` (B,T) True = real frame; ``audio_mask`` (B,) True = has audio."""
        feats = self.encode_frames(video) if frame_features is None else frame_features
        b, t = feats.shape[:2]
        if frame_times is None:
            frame_times = default_frame_times(b, t, self.config.default_fps, feats.device)
        v = self.temporal(feats, frame_times, frame_mask)
        a = self.encode_audio(audio, audio_mel)
        attention = None
        if a is None:
            audio_mask = torch.zeros(b, dtype=torch.bool, device=v.device)
        else:
            if audio_mask is None:
                audio_mask = torch.ones(b, dtype=torch.bool, device=v.device)
            audio_mask = audio_mask.to(device=v.device, dtype=torch.bool)
            v, a, attention = self.fusion(v, a, frame_mask, audio_mask)
        v_pool = masked_mean(v, frame_mask)
        v_class, motion = v_pool, None  # the sync head keeps v_pool: it asks *when*, motion says *which way*
        if self.motion is not None and video is not None and frame_features is None:
            motion = self.encode_motion(video, frame_times, frame_mask)
            v_class = self.motion_fusion(v_pool, motion)
        a_pool = self.no_audio.expand(b, -1) if a is None else torch.where(
            audio_mask[:, None], masked_mean(a, None), self.no_audio.expand(b, -1))
        pooled = torch.cat([v_class, a_pool], dim=-1)
        video_valid = torch.ones(b, t, dtype=torch.bool, device=v.device) if frame_mask is None else frame_mask
        if a is None:
            memory, memory_mask = v, video_valid
        else:
            memory = torch.cat([v, a], dim=1)
            memory_mask = torch.cat([video_valid, audio_mask[:, None].expand(b, a.shape[1])], dim=1)
        extra = [] if motion is None else [motion[:, None]]  # more tokens for the caption decoder: which way
        if self.colour is not None and video is not None and frame_features is None:  # things moved, their colours
            extra.append(self.colour(video, frame_mask))
        if extra:
            extra_tokens = torch.cat(extra, dim=1)
            memory = torch.cat([memory, extra_tokens], dim=1)
            memory_mask = torch.cat([memory_mask, torch.ones(b, extra_tokens.shape[1], dtype=torch.bool,
                                                             device=v.device)], dim=1)
        if self.caption_summary is not None:  # what the classifier reads, added to every token the decoder reads
            memory = memory + self.caption_summary(pooled.detach())[:, None]
        caption_logits = None
        if caption_ids is not None:
            if self.caption is None:
                raise ValueError("this model was built with caption_decoder='none'")
            caption_logits = self.caption(caption_ids, memory, memory_mask)
        return {
            "logits": self.classifier(pooled),
            "sync_logits": self.sync_head(torch.cat([v_pool, a_pool, v_pool * a_pool], dim=-1)).squeeze(-1),
            "caption_logits": caption_logits,
            "attention_weights": attention,
            "video_features": v,
            "audio_features": a,
            "pooled": pooled,
            "memory": memory,
            "memory_mask": memory_mask,
            "audio_mask": audio_mask,
        }

    def forward_batch(self, batch: dict, caption_ids: Tensor | None = None) -> dict:
        """``forward`` on a Batches-contract dict (keys it does not use are ignored)."""
        keys = ("video", "frame_times", "audio", "audio_mel", "audio_mask", "frame_mask", "frame_features")
        return self(caption_ids=caption_ids, **{k: batch[k] for k in keys if k in batch})

    def encode_captions(self, captions: list[str]) -> tuple[Tensor, Tensor]:
        """``(ids, valid)``, both (B, L): ``bos words… eos`` then padding, and True at
        real tokens (the final ``eos`` included). GPT-2 uses one token for bos, eos and
        padding, so padding must be told apart by ``valid``, not by id."""
        if self.tokenizer is None:
            raise ValueError("this model has no caption decoder")
        if isinstance(self.tokenizer, WordTokenizer):
            ids = self.tokenizer.batch_encode(captions, self.config.caption_max_len)
            return ids, ids != self.tokenizer.pad_id
        eos = self.tokenizer.eos_token
        enc = self.tokenizer([eos + c + eos for c in captions], padding=True, truncation=True,
                             max_length=self.config.caption_max_len, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"].bool()

    def caption_tokens(self, ids: Sequence[int]) -> list[str]:
        """The tokens behind ``ids``, whichever tokenizer the decoder uses (words, or
        GPT-2's byte-level pieces)."""
        if self.tokenizer is None:
            raise ValueError("this model has no caption decoder")
        if isinstance(self.tokenizer, WordTokenizer):
            return [self.tokenizer.itos[int(i)] for i in ids]
        return list(self.tokenizer.convert_ids_to_tokens([int(i) for i in ids]))

    def caption_targets(self, captions: list[str]) -> Tensor:
        """Token ids (B, L) for teacher forcing: ``caption_logits[:, :-1]`` predict ``ids[:, 1:]``."""
        return self.encode_captions(captions)[0]

    @staticmethod
    def caption_loss(caption_logits: Tensor, ids: Tensor, valid: Tensor) -> Tensor:
        """Mean cross-entropy of each next token (positions 1…) over the valid targets."""
        mask = valid[:, 1:].to(caption_logits.device)
        return F.cross_entropy(caption_logits[:, :-1][mask], ids[:, 1:].to(caption_logits.device)[mask])

    @torch.no_grad()
    def generate_captions(self, batch: dict, method: Literal["greedy", "beam"] = "greedy", beam_size: int = 3,
                          max_len: int | None = None) -> list[str]:
        """Captions for a batch (call ``eval()`` first for deterministic output)."""
        if self.caption is None:
            raise ValueError("this model was built with caption_decoder='none'")
        return self.captions_from(self.forward_batch(batch), method, beam_size, max_len)

    @torch.no_grad()
    def captions_from(self, out: dict, method: Literal["greedy", "beam"] = "greedy", beam_size: int = 3,
                      max_len: int | None = None) -> list[str]:
        """Captions decoded from the ``memory`` of a :meth:`forward` output already
        computed (a prediction gets its caption without a second forward pass)."""
        if self.caption is None:
            raise ValueError("this model was built with caption_decoder='none'")
        if method == "greedy":
            ids = greedy_decode(self.caption, out["memory"], out["memory_mask"], max_len)
        elif method == "beam":
            ids = beam_search(self.caption, out["memory"], out["memory_mask"], beam_size, max_len)
        else:
            raise ValueError(f"method must be 'greedy' or 'beam', got {method!r}")
        if isinstance(self.tokenizer, WordTokenizer):
            return [self.tokenizer.decode(s) for s in ids]
        eos = self.caption.eos_id
        return [self.tokenizer.decode([i for i in s if i != eos]).strip() for s in ids]

"""Audio encoders for model B: Wav2Vec2 (transformers) on the raw 16 kHz waveform, or a
light CNN on the log-mel spectrogram. Both map a batch to a token sequence
(B, S, dim) and know how many seconds one token covers (``token_seconds``), so the
cross-attention map can be drawn on a time axis.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .pretrained import hf_from_pretrained

WAV2VEC2_PRETRAINED = "facebook/wav2vec2-base"

# offline stand-ins (random init): same architecture family, far fewer parameters.
# Four conv layers with strides 5*4*4*4 = 320 keep wav2vec2's 20 ms per token.
WAV2VEC2_TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                     conv_dim=(32, 32, 32, 32), conv_stride=(5, 4, 4, 4), conv_kernel=(10, 8, 8, 8),
                     num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
WAV2VEC2_SMALL = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                      conv_dim=(256,) * 7, num_conv_pos_embeddings=64, num_conv_pos_embedding_groups=8)


class Wav2Vec2AudioEncoder(nn.Module):
    """Waveform (B, N) at 16 kHz → (B, S, dim), ~50 tokens per second.

    Pretrained ``facebook/wav2vec2-base`` when cached/reachable, else a randomly
    initialised model from ``offline_config``. SpecAugment-style time masking is switched
    off (``mask_time_prob=0``): it fails on clips shorter than its mask span and the
    video model has its own regularisation. Each waveform is normalised to zero mean
    and unit variance, as wav2vec2-base's feature extractor does.
    """

    min_samples = 400  # receptive field of the convolutional feature encoder
    token_seconds = 0.02

    def __init__(self, dim: int, pretrained: bool = True, offline_config: dict | None = None,
                 freeze_feature_encoder: bool = True) -> None:
        super().__init__()
        from transformers import Wav2Vec2Config, Wav2Vec2Model

        no_mask = dict(mask_time_prob=0.0, mask_feature_prob=0.0, layerdrop=0.0)
        net = None
        self.weights_source = "random init"
        if pretrained:
            net = hf_from_pretrained(Wav2Vec2Model.from_pretrained, WAV2VEC2_PRETRAINED, **no_mask)
            if net is not None:
                self.weights_source = WAV2VEC2_PRETRAINED
        if net is None:
            net = Wav2Vec2Model(Wav2Vec2Config(**{**(offline_config or WAV2VEC2_SMALL), **no_mask}))
        if freeze_feature_encoder:
            net.freeze_feature_encoder()
        self.net = net
        self.proj = nn.Linear(net.config.hidden_size, dim)

    def forward(self, waveform: Tensor) -> Tensor:
        if waveform.shape[-1] < self.min_samples:
            waveform = F.pad(waveform, (0, self.min_samples - waveform.shape[-1]))
        mean = waveform.mean(dim=-1, keepdim=True)
        std = waveform.std(dim=-1, keepdim=True, unbiased=False)
        x = (waveform - mean) / torch.sqrt(std**2 + 1e-7)
        return self.proj(self.net(input_values=x).last_hidden_state)


class LogMelCNNEncoder(nn.Module):
    """Log-mel (B, n_mels, F) → (B, ceil(F/4), dim): three conv blocks, two 2x2 pools,
    mean over the mel axis. ~0.1 M parameters; 40 ms per token at hop 160 / 16 kHz."""

    def __init__(self, dim: int, n_mels: int = 64, channels: int = 32, hop_seconds: float = 0.01) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(inplace=True),
        )
        self.proj = nn.Linear(2 * c, dim)
        self.token_seconds = 4 * hop_seconds
        self.weights_source = "random init"

    def forward(self, mel: Tensor) -> Tensor:
        x = self.net(mel.unsqueeze(1)).mean(dim=2)  # (B, C, F')
        return self.proj(x.transpose(1, 2))

"""Fill a torch hub cache and a Hugging Face hub cache, offline, with RANDOM weights of
the real pretrained architectures.

What for: rehearsing the "weights found" code path of :mod:`helpers.models.pretrained`
on a machine without internet (tests, CI, a first run before Kaggle): the models load
from the cache, with the real file names, layouts and shapes, exactly as they would with
the published weights. **These weights are random: never use them for results.**

* torchvision: ``<root>/torch/hub/checkpoints/<the weights' real file name>`` (a
  ``torch.save``-d state dict of the real architecture, readable with ``weights_only``);
* Hugging Face: ``<root>/huggingface/hub/models--<org>--<name>/{refs/main, snapshots/<sha>/}``
  with ``config.json`` (the published configuration) and ``model.safetensors``; for
  ``gpt2`` also a byte-level BPE tokenizer trained here on a small built-in corpus (its
  ``<|endoftext|>`` keeps GPT-2's id 50256, so the model's bos/eos ids match it).

Every file is written atomically and a filled entry is left as it is, so a second call is
quick and changes nothing. Nothing outside ``root`` is touched.

    env = fill_weight_caches(Path("/tmp/weights"))   # then os.environ.update(env)
    python -m helpers fill-weight-caches /tmp/weights [--only torchvision|huggingface]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from helpers.atomic import atomic_path, atomic_write_text

log = logging.getLogger("helpers.models")

GROUPS = ("torchvision", "huggingface")
SEED = 0
FORMAT = "random-weights-v1"  # part of each snapshot's id: bump when what is written changes

# Published configurations (facebook/wav2vec2-base, gpt2, apple/mobilevit-small), the
# values that shape the network; the rest are the transformers defaults.
WAV2VEC2_BASE_CONFIG: dict[str, Any] = dict(
    hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.0,
    feat_proj_dropout=0.1, final_dropout=0.0, layerdrop=0.05, layer_norm_eps=1e-5, initializer_range=0.02,
    feat_extract_norm="group", feat_extract_activation="gelu", conv_bias=False,
    conv_dim=[512] * 7, conv_stride=[5, 2, 2, 2, 2, 2, 2], conv_kernel=[10, 3, 3, 3, 3, 2, 2],
    num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, do_stable_layer_norm=False,
    apply_spec_augment=True, mask_time_prob=0.05, mask_time_length=10, mask_feature_prob=0.0,
    mask_feature_length=10, num_codevectors_per_group=320, num_codevector_groups=2, codevector_dim=256,
    proj_codevector_dim=256, num_negatives=100, vocab_size=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
)
GPT2_CONFIG: dict[str, Any] = dict(
    vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, activation_function="gelu_new",
    resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1, layer_norm_epsilon=1e-5, initializer_range=0.02,
    bos_token_id=50256, eos_token_id=50256,
)
MOBILEVIT_SMALL_CONFIG: dict[str, Any] = dict(
    num_channels=3, image_size=256, patch_size=2, hidden_sizes=[144, 192, 240],
    neck_hidden_sizes=[16, 32, 64, 96, 128, 160, 640], num_attention_heads=4, mlp_ratio=2.0, expand_ratio=4.0,
    hidden_act="silu", conv_kernel_size=3, output_stride=32, hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.1, layer_norm_eps=1e-5, qkv_bias=True,
)
GPT2_EOS = "<|endoftext|>"
GPT2_MAX_LENGTH = 1024
TOKENIZER_VOCAB_SIZE = 2000  # an upper bound: the small corpus stops the merges earlier

# what the tokenizer is trained on: caption-like English, so captions split into few tokens
TOKENIZER_CORPUS = """\
a person is running across the field. someone waves a hand at the camera. the dog jumps over a fence.
a man is climbing stairs while a woman is walking a dog. two people shake hands and smile.
he picks up the ball, throws it and catches it again. she is riding a bike down the street.
a child claps, laughs and jumps. people are dancing, drinking, eating and talking at a party.
the player kicks the ball into the goal. someone brushes their hair, then combs it slowly.
a girl does a cartwheel and a handstand on the grass. a boy is doing push ups and pull ups.
they fence with swords, punch, kick and fall down. he sits down, stands up and turns around.
a woman pours a drink, sips it and smiles. the man draws his sword and swings it at the target.
someone is shooting a bow, then a gun, at the range. the rider mounts a horse and rides away.
a person dives into the pool and swims to the other side. the climber reaches the top of the wall.
a man golfs, a woman hits a tennis ball, and a kid dribbles a basketball near the hoop.
The video shows a short clip of an action: running, walking, waving, hugging, kissing, chewing.
An object moves to the left, to the right, up or down; it rotates, grows and shrinks over time.
A sound is heard when the event starts; the motion stops when the sound ends. 0 1 2 3 4 5 6 7 8 9
"""


@dataclass(frozen=True)
class HFEntry:
    """One Hugging Face repository to stand in for: the model class built from ``config``,
    and whether a GPT-2 tokenizer goes with it."""

    repo: str
    config_class: str
    model_class: str
    config: dict[str, Any] = field(hash=False)
    tokenizer: bool = False

    def snapshot_id(self) -> str:
        """A stable 40-hex "commit" for this content (the cache layout wants one)."""
        text = json.dumps({"repo": self.repo, "config": self.config, "seed": SEED, "format": FORMAT},
                          sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()

    def files(self) -> tuple[str, ...]:
        """The files a complete snapshot holds."""
        tokenizer = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt")
        return ("config.json", "model.safetensors") + (tokenizer if self.tokenizer else ())


HF_ENTRIES: tuple[HFEntry, ...] = (
    HFEntry("facebook/wav2vec2-base", "Wav2Vec2Config", "Wav2Vec2Model", WAV2VEC2_BASE_CONFIG),
    HFEntry("gpt2", "GPT2Config", "GPT2LMHeadModel", GPT2_CONFIG, tokenizer=True),
    HFEntry("apple/mobilevit-small", "MobileViTConfig", "MobileViTModel", MOBILEVIT_SMALL_CONFIG),
)


def torchvision_entries() -> dict[str, tuple[Callable[..., Any], Any]]:
    """name → (torchvision builder, the ``Weights`` entry the models load)."""
    import torchvision.models as tvm
    from torchvision.models.video import R2Plus1D_18_Weights, r2plus1d_18

    return {
        "r2plus1d_18": (r2plus1d_18, R2Plus1D_18_Weights.KINETICS400_V1),
        "efficientnet_b0": (tvm.efficientnet_b0, tvm.EfficientNet_B0_Weights.IMAGENET1K_V1),
        "mobilenet_v3_small": (tvm.mobilenet_v3_small, tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1),
        "mobilenet_v3_large": (tvm.mobilenet_v3_large, tvm.MobileNet_V3_Large_Weights.IMAGENET1K_V1),
    }


def cache_env(root: Path) -> dict[str, str]:
    """The environment that points the loaders at the caches under ``root`` (offline).
    ``TORCH_HOME`` alone finds the torchvision files (the cache is looked at before any
    offline flag); ``HF_HUB_CACHE``, if set, would win over ``HF_HOME``: unset it."""
    root = Path(root).absolute()
    return {"TORCH_HOME": str(root / "torch"), "HF_HOME": str(root / "huggingface"),
            "HF_HUB_OFFLINE": "1", "HELPERS_OFFLINE": "1"}


def fill_weight_caches(root: Path, which: Iterable[str] = GROUPS) -> dict[str, str]:
    """Write random weights of the real architectures under ``root`` (see the module
    docstring; never for results) and return :func:`cache_env` ``(root)``. Entries
    already there are kept, so a second call is quick and changes nothing."""
    which = set(which)
    unknown = which - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown weight groups {sorted(unknown)}; choose from {list(GROUPS)}")
    root = Path(root).absolute()
    if "torchvision" in which:
        for name, (builder, weights) in torchvision_entries().items():
            _fill_torchvision(root / "torch" / "hub" / "checkpoints", name, builder, weights)
    if "huggingface" in which:
        for entry in HF_ENTRIES:
            _fill_hf(root / "huggingface" / "hub", entry)
    return cache_env(root)


def _fill_torchvision(checkpoints: Path, name: str, builder: Callable[..., Any], weights: Any) -> Path:
    """``builder``'s randomly initialised state dict under the weights' own file name."""
    import torch

    target = checkpoints / os.path.basename(urlparse(str(weights.url)).path)
    if target.is_file():
        return target
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        state = builder(weights=None).state_dict()
    with atomic_path(target) as tmp:
        torch.save(state, tmp)
    log.info("wrote random %s weights to %s", name, target)
    return target


def hf_repo_dir(hub: Path, repo: str) -> Path:
    """``models--org--name``: where the hub cache keeps ``repo``."""
    return hub / ("models--" + repo.replace("/", "--"))


def _fill_hf(hub: Path, entry: HFEntry) -> Path:
    """One repository's cache entry; ``refs/main`` is written last, so a half-written
    snapshot is never the one a loader resolves."""
    repo_dir = hf_repo_dir(hub, entry.repo)
    commit = entry.snapshot_id()
    snapshot = repo_dir / "snapshots" / commit
    ref = repo_dir / "refs" / "main"
    if ref.is_file() and ref.read_text().strip() == commit and all((snapshot / f).is_file() for f in entry.files()):
        return snapshot
    hub.parent.mkdir(parents=True, exist_ok=True)  # the build sits beside the hub, never in it
    build = Path(tempfile.mkdtemp(prefix=".weight-cache-build-", dir=hub.parent))
    try:
        _save_random_model(entry, build)
        if entry.tokenizer:
            _save_gpt2_tokenizer(build)
        for path in sorted(build.iterdir()):
            with atomic_path(snapshot / path.name) as tmp:
                os.replace(path, tmp)
        missing = [f for f in entry.files() if not (snapshot / f).is_file()]
        if missing:
            raise RuntimeError(f"{entry.repo}: saving wrote no {missing}")
        atomic_write_text(ref, commit)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    log.info("wrote random %s weights to %s", entry.repo, snapshot)
    return snapshot


def _save_random_model(entry: HFEntry, out: Path) -> None:
    """The entry's model, randomly initialised from its config, saved as safetensors."""
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    config = getattr(transformers, entry.config_class)(**entry.config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = getattr(transformers, entry.model_class)(config)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out, max_shard_size="20GB")  # one model.safetensors, never shards
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def gpt2_tokenizer_parts(corpus: str = TOKENIZER_CORPUS) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) of a byte-level BPE trained on ``corpus``: all 256 byte symbols,
    the learnt merges, and ``<|endoftext|>`` at GPT-2's id 50256 (the ids in between are
    unused, so every id fits the published 50257-row embedding)."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(corpus.splitlines(), vocab_size=TOKENIZER_VOCAB_SIZE, min_frequency=2,
                            special_tokens=[], show_progress=False)
    model = json.loads(bpe._tokenizer.to_str())["model"]
    vocab = dict(model["vocab"])
    vocab[GPT2_EOS] = GPT2_CONFIG["vocab_size"] - 1
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return vocab, merges


def _save_gpt2_tokenizer(out: Path) -> None:
    """tokenizer.json, tokenizer_config.json, vocab.json and merges.txt of a local GPT-2
    style tokenizer (bos = eos = unk = ``<|endoftext|>``)."""
    from transformers import GPT2TokenizerFast

    vocab, merges = gpt2_tokenizer_parts()
    tok = GPT2TokenizerFast(vocab=vocab, merges=merges, model_max_length=GPT2_MAX_LENGTH,
                            bos_token=GPT2_EOS, eos_token=GPT2_EOS, unk_token=GPT2_EOS)
    tok.save_pretrained(out)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers fill-weight-caches DIR [--only GROUP]``: fill, then print the
    ``export`` lines that point the loaders at DIR."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers fill-weight-caches",
        description="Fill a torch hub and a Hugging Face cache under DIR with RANDOM weights of the real "
                    "architectures (r2plus1d_18, efficientnet_b0, mobilenet_v3_small/large, "
                    "facebook/wav2vec2-base, gpt2 + a local tokenizer, apple/mobilevit-small), offline. "
                    "For rehearsing the 'weights found' code path; never for results.")
    parser.add_argument("dir", type=Path, help="the cache root (created; nothing outside it is touched)")
    parser.add_argument("--only", choices=GROUPS, help="fill one group only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    env = fill_weight_caches(args.dir, [args.only] if args.only else GROUPS)
    print("# random weights of the real architectures: for rehearsing offline, never for results")
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")
    if any(os.environ.get(k) for k in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")):
        print("unset HF_HUB_CACHE HUGGINGFACE_HUB_CACHE  # they would win over HF_HOME")
    return 0

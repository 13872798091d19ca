"""Caption decoders conditioned on the fused audio-visual sequence, a word-level
tokenizer for offline use, and greedy / beam-search generation.

Two decoders share one interface (``forward(input_ids, memory, memory_mask) -> logits``
plus ``bos_id``/``eos_id``/``pad_id``), so generation is written once:

* :class:`SmallCaptionDecoder` — a PyTorch Transformer decoder (causal self-attention +
  cross-attention to the memory) with a :class:`WordTokenizer` built from the training
  captions. Works offline; the default.
* :class:`GPT2CaptionDecoder` — ``transformers`` GPT-2 with ``add_cross_attention=True``
  (pretrained ``gpt2`` weights and tokenizer when reachable; the cross-attention layers
  are new and learned during training). Offline it can be built from a small config
  with the word tokenizer, which keeps this code path testable here.

Generation asks :func:`decoding_steps` for the next token's logits. GPT-2 keeps its keys
and values between steps (each step runs the new token only; the cross-attention over the
memory is computed once); the small decoder re-runs its prefix, which at 2 layers and
~20 tokens costs little.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .pretrained import hf_from_pretrained

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
_WORD = re.compile(r"[a-z0-9']+(?:-[a-z0-9']+)*|[^\sa-z0-9'-]|-")


class WordTokenizer:
    """Lower-cased words (hyphenated ones kept whole: "l-shape") and punctuation marks;
    ids 0-3 are ``<pad> <bos> <eos> <unk>``.
    Built from the training captions (``min_count`` drops rare words to ``<unk>``)."""

    def __init__(self, vocab: Sequence[str]) -> None:
        if list(vocab[:4]) != [PAD, BOS, EOS, UNK]:
            raise ValueError("vocab must start with <pad>, <bos>, <eos>, <unk>")
        self.itos = list(vocab)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, 3

    @classmethod
    def from_captions(cls, captions: Iterable[str], min_count: int = 1, max_size: int | None = None) -> "WordTokenizer":
        counts = Counter(w for c in captions for w in cls.split(c))
        words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls([PAD, BOS, EOS, UNK] + words[: max_size and max_size - 4])

    @staticmethod
    def split(text: str) -> list[str]:
        return _WORD.findall(text.lower())

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """``[bos] words… [eos]``, cut to ``max_len`` (keeping the final ``eos``)."""
        ids = [self.bos_id] + [self.stoi.get(w, self.unk_id) for w in self.split(text)] + [self.eos_id]
        if max_len is not None and len(ids) > max_len:
            ids = ids[: max_len - 1] + [self.eos_id]
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Words up to the first ``eos`` (``bos``/``pad`` skipped), joined with spaces."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                words.append(self.itos[i] if i < len(self.itos) else UNK)
        return re.sub(r" ([.,!?;:])", r"\1", " ".join(words))

    def batch_encode(self, texts: Sequence[str], max_len: int = 32) -> Tensor:
        """(B, L) int64 padded with ``pad_id`` to the longest sequence (≤ max_len)."""
        seqs = [self.encode(t, max_len) for t in texts]
        out = torch.full((len(seqs), max(map(len, seqs))), self.pad_id, dtype=torch.long)
        for row, s in enumerate(seqs):
            out[row, : len(s)] = torch.tensor(s)
        return out

    def to_json(self) -> str:
        return json.dumps({"vocab": self.itos})

    @classmethod
    def from_json(cls, text: str) -> "WordTokenizer":
        return cls(json.loads(text)["vocab"])


class SmallCaptionDecoder(nn.Module):
    """Token + learned position embeddings → ``nn.TransformerDecoder`` (causal
    self-attention, cross-attention to ``memory``) → tied output projection."""

    def __init__(self, vocab_size: int, dim: int, layers: int = 2, heads: int = 4, max_len: int = 32,
                 dropout: float = 0.1, pad_id: int = 0, bos_id: int = 1, eos_id: int = 2,
                 unk_id: int | None = 3) -> None:
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id, self.max_len = pad_id, bos_id, eos_id, max_len
        self.unk_id = unk_id  # WordTokenizer's <unk>: never generated (see decoding_steps)
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(max_len, dim)
        layer = nn.TransformerDecoderLayer(dim, heads, 4 * dim, dropout, batch_first=True, norm_first=True)
        self.body = nn.TransformerDecoder(layer, layers)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)
        self.head.weight = self.embed.weight
        # GPT-2's scale: with nn.Embedding's N(0, 1) the tied head starts with logits of
        # std ~sqrt(dim), a first loss far above ln(vocab), and position noise as large as
        # the words
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: Tensor, memory: Tensor, memory_mask: Tensor | None = None) -> Tensor:
        """input_ids (B, L) → logits (B, L, V); memory_mask (B, S) True = valid."""
        length = input_ids.shape[1]
        if length > self.max_len:
            raise ValueError(f"caption of {length} tokens is longer than max_len={self.max_len}")
        pos = torch.arange(length, device=input_ids.device)
        x = self.embed(input_ids) + self.pos(pos)
        causal = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).triu(1)  # True = blocked
        x = self.body(x, memory, tgt_mask=causal, tgt_is_causal=True,
                      tgt_key_padding_mask=input_ids == self.pad_id,
                      memory_key_padding_mask=None if memory_mask is None else ~memory_mask)
        return self.head(self.norm(x))


class GPT2CaptionDecoder(nn.Module):
    """GPT-2 with cross-attention to the fused sequence (projected to ``n_embd``).

    ``pretrained=True``: ``gpt2`` weights + ``GPT2TokenizerFast`` when cached/reachable
    (``self.tokenizer`` is then the HF tokenizer; bos = eos = pad = ``<|endoftext|>``);
    when they are not, ``self.tokenizer`` stays None and the caller picks a fallback
    (:class:`MultiModalVideoModel` uses the small decoder). ``pretrained=False``: a small
    random GPT-2 over the given ``vocab_size`` and special ids."""

    def __init__(self, memory_dim: int, vocab_size: int, pretrained: bool = False, n_embd: int = 256,
                 n_layer: int = 2, n_head: int = 4, max_len: int = 32,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2, *, built: tuple[dict, Any] | None = None) -> None:
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel

        self.max_len = max_len
        self.tokenizer = None
        self.weights_source = "random init"
        net = None
        if built is not None:  # see from_built: a pretrained GPT-2's architecture, weights to come
            net = GPT2LMHeadModel(GPT2Config(**built[0]))
            self.tokenizer = built[1]
            self.weights_source = "gpt2 architecture (weights from the checkpoint)"
        elif pretrained:
            net = hf_from_pretrained(GPT2LMHeadModel.from_pretrained, "gpt2", add_cross_attention=True,
                                     fallback="the small caption decoder with a word tokenizer")
            if net is not None:
                from transformers import GPT2TokenizerFast

                self.tokenizer = hf_from_pretrained(GPT2TokenizerFast.from_pretrained, "gpt2")
                if self.tokenizer is None:
                    net = None
                else:
                    self.tokenizer.pad_token = self.tokenizer.eos_token
        if net is not None:
            if built is None:
                self.weights_source = "gpt2"
            eos = net.config.eos_token_id
            pad_id = bos_id = eos_id = eos
        else:
            cfg = GPT2Config(vocab_size=vocab_size, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                             n_positions=max(max_len, 8), add_cross_attention=True,
                             bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id)
            net = GPT2LMHeadModel(cfg)
        self.net = net
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        # a word vocabulary (WordTokenizer) holds <unk> at 3; GPT-2's byte pieces have none
        self.unk_id = None if self.tokenizer is not None or vocab_size <= 3 else 3
        self.memory_proj = nn.Linear(memory_dim, net.config.n_embd)

    @classmethod
    def from_built(cls, memory_dim: int, gpt2_config: dict, tokenizer_json: str,
                   max_len: int = 32) -> "GPT2CaptionDecoder":
        """The decoder a pretrained GPT-2 built, from its config and tokenizer as stored in a
        checkpoint (:meth:`tokenizer_to_json`); random weights until the checkpoint's load."""
        return cls(memory_dim, 0, max_len=max_len, built=(gpt2_config, cls.tokenizer_from_json(tokenizer_json)))

    @staticmethod
    def tokenizer_to_json(tokenizer: Any) -> str:
        """A Hugging Face fast tokenizer as one JSON string (its vocabulary, merges and
        special tokens), so a checkpoint carries it."""
        return json.dumps({"tokenizer": tokenizer.backend_tokenizer.to_str(),
                           "special": {k: str(getattr(tokenizer, k)) for k in ("bos_token", "eos_token", "unk_token")
                                       if getattr(tokenizer, k, None) is not None}})

    @staticmethod
    def tokenizer_from_json(text: str) -> Any:
        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast

        data = json.loads(text)
        tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(data["tokenizer"]), **data["special"])
        tok.pad_token = tok.eos_token
        return tok

    def token_mask(self, input_ids: Tensor) -> Tensor:
        """(B, L) 1 for tokens to attend to: padding is masked, except the first token
        (GPT-2 starts and pads with the same one)."""
        attn = (input_ids != self.pad_id).long()
        if self.pad_id == self.bos_id:
            attn[:, 0] = 1
        return attn

    def forward(self, input_ids: Tensor, memory: Tensor, memory_mask: Tensor | None = None) -> Tensor:
        enc_mask = None if memory_mask is None else memory_mask.long()
        out = self.net(input_ids=input_ids, attention_mask=self.token_mask(input_ids),
                       encoder_hidden_states=self.memory_proj(memory), encoder_attention_mask=enc_mask,
                       use_cache=False)
        return out.logits


class _PrefixSteps:
    """Next-token logits for a prefix that grows one token per call, by re-running the
    whole prefix (a decoder without a key/value cache). ``keep(rows)`` follows beam
    search: the next call's rows are these rows of the last one, extended."""

    def __init__(self, decoder: nn.Module, memory: Tensor, memory_mask: Tensor | None) -> None:
        self.decoder, self.memory, self.memory_mask = decoder, memory, memory_mask

    def logits(self, ids: Tensor) -> Tensor:
        return self.decoder(ids, self.memory, self.memory_mask)[:, -1]

    def keep(self, rows: Tensor) -> None:
        self.memory = self.memory.index_select(0, rows)
        if self.memory_mask is not None:
            self.memory_mask = self.memory_mask.index_select(0, rows)

    def __call__(self, ids: Tensor) -> Tensor:
        """(B, V) logits of the token after ``ids``, with the tokens a sentence never holds
        (padding, ``bos``, ``<unk>``; not ``eos``, which GPT-2 shares with them) set to -inf,
        so greedy and beam outputs are words of the vocabulary."""
        logits = self.logits(ids)
        banned = {getattr(self.decoder, n, None) for n in ("pad_id", "bos_id", "unk_id")} - {None, self.decoder.eos_id}
        if banned:
            logits = logits.clone()
            logits[:, sorted(banned)] = float("-inf")
        return logits


class _CachedGPT2Steps(_PrefixSteps):
    """GPT-2 with its keys and values kept between calls: each call runs only the tokens
    added since the last one, and the memory's projection and cross-attention keys are
    computed once. Same logits as re-running the prefix, up to float rounding."""

    def __init__(self, decoder: GPT2CaptionDecoder, memory: Tensor, memory_mask: Tensor | None) -> None:
        super().__init__(decoder, decoder.memory_proj(memory), memory_mask)
        self.past: Any = None
        self.seen = 0

    def logits(self, ids: Tensor) -> Tensor:
        out = self.decoder.net(
            input_ids=ids[:, self.seen:], attention_mask=self.decoder.token_mask(ids),
            encoder_hidden_states=self.memory,
            encoder_attention_mask=None if self.memory_mask is None else self.memory_mask.long(),
            past_key_values=self.past, use_cache=True)
        self.past, self.seen = out.past_key_values, ids.shape[1]
        return out.logits[:, -1]

    def keep(self, rows: Tensor) -> None:
        super().keep(rows)
        if hasattr(self.past, "reorder_cache"):  # a transformers Cache
            self.past.reorder_cache(rows)
        elif self.past is not None:  # older transformers: tuples of tensors per layer
            self.past = tuple(tuple(t.index_select(0, rows) for t in layer) for layer in self.past)


class _CachedSmallSteps(_PrefixSteps):
    """The small decoder with each layer's keys and values kept between calls: each call
    runs only the tokens added since the last one, and the memory's cross-attention keys
    and values are projected once. It computes what ``nn.TransformerDecoderLayer``
    (pre-norm, eval mode) computes, from the same modules' weights, so the logits are
    those of re-running the prefix up to float rounding; the feed-forward layers are
    called as modules, int8 ones included."""

    def __init__(self, decoder: SmallCaptionDecoder, memory: Tensor, memory_mask: Tensor | None) -> None:
        super().__init__(decoder, memory, memory_mask)
        self.layers = list(decoder.body.layers)
        self.cross = [(self._project(layer.multihead_attn, memory, 1), self._project(layer.multihead_attn, memory, 2))
                      for layer in self.layers]  # per layer: (keys, values), (B, heads, S, head_dim)
        self.past: list[tuple[Tensor, Tensor]] = []
        self.seen = 0

    @staticmethod
    def _project(attn: nn.MultiheadAttention, x: Tensor, part: int) -> Tensor:
        """Part 0/1/2 (query/key/value) of ``attn``'s input projection of ``x`` (B, L, D),
        split into heads: (B, heads, L, D/heads)."""
        d = attn.embed_dim
        w = attn.in_proj_weight[part * d:(part + 1) * d]
        b = None if attn.in_proj_bias is None else attn.in_proj_bias[part * d:(part + 1) * d]
        y = F.linear(x, w, b)
        return y.view(x.shape[0], x.shape[1], attn.num_heads, d // attn.num_heads).transpose(1, 2)

    @staticmethod
    def _attend(attn: nn.MultiheadAttention, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """Scaled dot-product attention of the heads, merged and put through ``out_proj``;
        ``mask`` (B, 1 or Lq, Lk) True = attend."""
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None])
        b, _, length, _ = out.shape
        return attn.out_proj(out.transpose(1, 2).reshape(b, length, attn.embed_dim))

    def logits(self, ids: Tensor) -> Tensor:
        dec, new = self.decoder, ids[:, self.seen:]
        b, n = new.shape
        pos = torch.arange(self.seen, ids.shape[1], device=ids.device)
        x = dec.embed(new) + dec.pos(pos)
        causal = torch.ones(n, ids.shape[1], dtype=torch.bool, device=ids.device).tril(self.seen)
        self_mask = causal[None] & (ids != dec.pad_id)[:, None, :]  # keys: earlier tokens that are not padding
        cross_mask = None if self.memory_mask is None else self.memory_mask[:, None, :]
        for i, layer in enumerate(self.layers):
            h = layer.norm1(x)
            q, k, v = (self._project(layer.self_attn, h, part) for part in range(3))
            if i < len(self.past):
                k, v = torch.cat([self.past[i][0], k], 2), torch.cat([self.past[i][1], v], 2)
                self.past[i] = (k, v)
            else:
                self.past.append((k, v))
            x = x + self._attend(layer.self_attn, q, k, v, self_mask)
            q = self._project(layer.multihead_attn, layer.norm2(x), 0)
            x = x + self._attend(layer.multihead_attn, q, *self.cross[i], cross_mask)
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        self.seen = ids.shape[1]
        return dec.head(dec.norm(x[:, -1]))

    def keep(self, rows: Tensor) -> None:
        super().keep(rows)
        self.cross = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in self.cross]
        self.past = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in self.past]


def decoding_steps(decoder: nn.Module, memory: Tensor, memory_mask: Tensor | None = None) -> _PrefixSteps:
    """A callable ``ids (B, L) -> (B, V)`` logits of the next token for generation, the
    banned tokens at -inf; both decoders reuse their key/value caches between calls."""
    if isinstance(decoder, GPT2CaptionDecoder):
        return _CachedGPT2Steps(decoder, memory, memory_mask)
    if isinstance(decoder, SmallCaptionDecoder):
        return _CachedSmallSteps(decoder, memory, memory_mask)
    return _PrefixSteps(decoder, memory, memory_mask)


@torch.no_grad()
def greedy_decode(decoder: nn.Module, memory: Tensor, memory_mask: Tensor | None = None,
                  max_len: int | None = None) -> list[list[int]]:
    """Most likely token each step; a sequence stops at its first ``eos`` (included),
    the loop stops when every sequence has. Returns ids without the leading ``bos``.
    The decoding steps are at most the step budget (:func:`helpers.settings.within_budget`)."""
    max_len = _decode_length(max_len or decoder.max_len)
    b = memory.shape[0]
    ids = torch.full((b, 1), decoder.bos_id, dtype=torch.long, device=memory.device)
    done = torch.zeros(b, dtype=torch.bool, device=memory.device)
    steps = decoding_steps(decoder, memory, memory_mask)
    for _ in range(max_len - 1):
        nxt = steps(ids).argmax(-1)
        nxt = nxt.masked_fill(done, decoder.pad_id)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        done |= nxt == decoder.eos_id
        if bool(done.all()):
            break
    return [_strip(row.tolist(), decoder) for row in ids[:, 1:]]


def _decode_length(max_len: int) -> int:
    """``max_len`` (bos included) with at most the step budget's decoding steps."""
    from helpers.settings import within_budget

    return within_budget(max_len - 1) + 1


def _strip(seq: list[int], decoder: nn.Module) -> list[int]:
    if decoder.eos_id in seq:
        return seq[: seq.index(decoder.eos_id) + 1]
    return seq


@torch.no_grad()
def beam_search(decoder: nn.Module, memory: Tensor, memory_mask: Tensor | None = None, beam_size: int = 3,
                max_len: int | None = None, length_penalty: float = 1.0) -> list[list[int]]:
    """Beam search per sample, keeping ``beam_size`` open prefixes by summed
    log-probability. A candidate ``eos`` among the top ``beam_size`` finishes its
    hypothesis, scored ``logp / len**length_penalty``. The search stops when no open
    beam can still beat the best finished one (its bound is ``logp / (max_len-1)**lp``,
    since log-probabilities only fall) or at ``max_len``, where the open beams compete with
    the finished ones on the same score. Returns ids without ``bos``.
    The decoding steps are at most the step budget, as in :func:`greedy_decode`."""
    max_len = _decode_length(max_len or decoder.max_len)
    results = []
    for i in range(memory.shape[0]):
        mem = memory[i : i + 1]
        mask = None if memory_mask is None else memory_mask[i : i + 1]
        beams: list[tuple[list[int], float]] = [([decoder.bos_id], 0.0)]
        finished: list[tuple[list[int], float]] = []  # (sequence, normalised score)
        steps = decoding_steps(decoder, mem, mask)
        for _ in range(max_len - 1):
            ids = torch.tensor([s for s, _ in beams], device=memory.device)
            logp = steps(ids).log_softmax(-1)
            total = logp.double() + torch.tensor([sc for _, sc in beams], dtype=torch.float64,
                                                 device=memory.device)[:, None]
            top = total.flatten().topk(min(beam_size * 2, total.numel()))
            new_beams, parents = [], []
            for rank, (score, flat) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
                row, tok = divmod(flat, total.shape[1])
                seq = beams[row][0] + [tok]
                if tok == decoder.eos_id:
                    if rank < beam_size:
                        finished.append((seq, score / (len(seq) - 1) ** length_penalty))
                    continue
                new_beams.append((seq, score))
                parents.append(row)
                if len(new_beams) == beam_size:
                    break
            beams = new_beams
            if beams:
                steps.keep(torch.tensor(parents, device=memory.device))
            if finished and beams:
                bound = max(sc for _, sc in beams) / (max_len - 1) ** length_penalty
                if max(sc for _, sc in finished) >= bound:
                    break
            if not beams:
                break
        # at max_len the open beams compete too, scored like the finished ones
        candidates = finished + [(seq, sc / (len(seq) - 1) ** length_penalty) for seq, sc in beams]
        results.append(max(candidates, key=lambda s: s[1])[0][1:])
    return results

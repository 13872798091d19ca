"""Word tokenizer round trips, and greedy / beam generation that stops at end-of-sequence."""
import pytest
import torch
from torch import nn

from helpers.models.captioning import SmallCaptionDecoder, WordTokenizer, beam_search, greedy_decode

CAPTIONS = ["A white square moves to the left.", "a white square moves to the right.", "a red ball spins"]


def test_tokenizer_builds_vocab_and_round_trips():
    tok = WordTokenizer.from_captions(CAPTIONS)
    assert tok.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert tok.itos[4] == "a"  # the most frequent word first
    assert len(tok) == 4 + len({"a", "white", "square", "moves", "to", "the", "left", "right", ".", "red", "ball",
                                "spins"})
    ids = tok.encode(CAPTIONS[0])
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id and len(ids) == 2 + 8
    assert tok.decode(ids) == "a white square moves to the left."
    assert tok.encode("a green square")[1:-1] == [tok.stoi["a"], tok.unk_id, tok.stoi["square"]]
    assert tok.decode([tok.stoi["ball"], tok.eos_id, tok.stoi["red"]]) == "ball"  # stops at eos
    assert tok.encode(CAPTIONS[0], max_len=4)[-1] == tok.eos_id and len(tok.encode(CAPTIONS[0], max_len=4)) == 4
    twin = WordTokenizer.from_json(tok.to_json())
    assert twin.itos == tok.itos
    batch = tok.batch_encode(CAPTIONS[1:], max_len=32)
    assert batch.shape == (2, 10) and batch[1, 6:].tolist() == [tok.pad_id] * 4
    assert WordTokenizer.split("An L-shape, spinning!") == ["an", "l-shape", ",", "spinning", "!"]
    hyphen = WordTokenizer.from_captions(["an L-shape, spinning!"])
    assert hyphen.decode(hyphen.encode("an L-shape, spinning!")) == "an l-shape, spinning!"
    with pytest.raises(ValueError, match="vocab must start"):
        WordTokenizer(["a", "b"])


class ScriptedDecoder(nn.Module):
    """Emits a fixed token script per sample (position p → script[p]); counts calls."""

    pad_id, bos_id, eos_id, max_len = 0, 1, 2, 10

    def __init__(self, scripts: list[list[int]], vocab: int = 8) -> None:
        super().__init__()
        self.scripts, self.vocab, self.calls = scripts, vocab, 0

    def forward(self, ids, memory, memory_mask=None):
        self.calls += 1
        b, length = ids.shape
        logits = torch.full((b, length, self.vocab), -10.0)
        for row in range(b):
            script = self.scripts[row] if b == len(self.scripts) else self.scripts[0]
            for p in range(length):
                logits[row, p, script[min(p, len(script) - 1)]] = 10.0
        return logits


def test_greedy_stops_at_eos_per_sample_and_overall():
    dec = ScriptedDecoder([[5, 6, 2, 7, 7, 7], [4, 2, 7, 7, 7, 7]])
    out = greedy_decode(dec, torch.zeros(2, 3, 4))
    assert out == [[5, 6, 2], [4, 2]]
    assert dec.calls == 3  # the loop ended when the last sequence emitted eos


def test_greedy_without_eos_runs_to_max_len():
    dec = ScriptedDecoder([[5, 6, 7]])
    out = greedy_decode(dec, torch.zeros(1, 3, 4), max_len=6)
    assert out == [[5, 6, 7, 7, 7]] and dec.calls == 5


def test_beam_search_follows_the_scripted_best_path_and_stops():
    dec = ScriptedDecoder([[5, 6, 2, 7]])
    assert beam_search(dec, torch.zeros(1, 3, 4), beam_size=3) == [[5, 6, 2]]
    assert dec.calls == 3  # no open beam could beat the finished one: stop


def test_small_decoder_eos_bias_stops_immediately_and_suppressed_eos_runs_to_max_len():
    torch.manual_seed(0)
    dec = SmallCaptionDecoder(vocab_size=12, dim=16, layers=1, heads=2, max_len=8).eval()
    memory, mask = torch.randn(2, 5, 16), torch.tensor([[True] * 5, [True, True, False, False, False]])
    logits = dec(torch.tensor([[1, 5, 6], [1, 7, 0]]), memory, mask)
    assert logits.shape == (2, 3, 12)
    with torch.no_grad():
        dec.head.bias.zero_()
        dec.head.bias[dec.eos_id] = 1e4
    assert greedy_decode(dec, memory, mask) == [[2], [2]]
    assert beam_search(dec, memory, mask, beam_size=2) == [[2], [2]]
    with torch.no_grad():
        dec.head.bias[dec.eos_id] = -1e4
        dec.head.bias[9] = 1e4
    assert greedy_decode(dec, memory, mask) == [[9] * 7, [9] * 7]


def test_small_decoder_is_causal_and_reads_the_memory():
    torch.manual_seed(0)
    dec = SmallCaptionDecoder(vocab_size=12, dim=16, layers=1, heads=2, max_len=8).eval()
    memory = torch.randn(1, 5, 16)
    a = dec(torch.tensor([[1, 5, 6, 7]]), memory)
    b = dec(torch.tensor([[1, 5, 9, 9]]), memory)
    torch.testing.assert_close(a[:, :2], b[:, :2])  # the future does not leak into the past
    c = dec(torch.tensor([[1, 5, 6, 7]]), torch.randn(1, 5, 16))
    assert (a - c).abs().max() > 1e-4
    with pytest.raises(ValueError, match="max_len"):
        dec(torch.ones(1, 9, dtype=torch.long), memory)


@pytest.mark.parametrize("special", [0, 1, 3])  # <pad>, <bos>, <unk>
def test_decoding_never_emits_padding_bos_or_unk(special):
    torch.manual_seed(0)
    dec = SmallCaptionDecoder(vocab_size=12, dim=16, layers=1, heads=2, max_len=6).eval()
    memory = torch.randn(2, 5, 16)
    with torch.no_grad():
        dec.head.bias.zero_()
        dec.head.bias[special] = 1e4  # the most likely token, were it allowed
        dec.head.bias[8] = 50.0  # the best word
    assert greedy_decode(dec, memory) == [[8] * 5, [8] * 5]
    assert beam_search(dec, memory, beam_size=2) == [[8] * 5, [8] * 5]


def test_small_decoder_starts_near_the_uniform_loss():
    """GPT-2's embedding scale: the untrained decoder's loss is close to ln(vocab), not
    the ~sqrt(dim)-wide logits of unit-variance tied embeddings."""
    torch.manual_seed(0)
    vocab, dim = 60, 32
    dec = SmallCaptionDecoder(vocab_size=vocab, dim=dim, layers=1, heads=2, max_len=16)
    ids = torch.randint(4, vocab, (8, 12))
    logits = dec(ids, torch.randn(8, 5, dim))
    loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), ids.reshape(-1))
    assert abs(float(loss) - float(torch.log(torch.tensor(vocab)))) < 0.5


def _small_gpt2(seed: int = 0):
    from helpers.models.captioning import GPT2CaptionDecoder

    torch.manual_seed(seed)
    dec = GPT2CaptionDecoder(memory_dim=12, vocab_size=20, n_embd=32, n_layer=2, n_head=4, max_len=10).eval()
    with torch.no_grad():  # far from GPT-2's small init, so rows and beams decode differently
        for p in dec.parameters():
            p.add_(torch.randn(p.shape) * 0.3)
    return dec


def test_gpt2_steps_run_only_the_new_token_and_match_rerunning_the_prefix():
    from helpers.models.captioning import decoding_steps

    dec = _small_gpt2()
    memory, mask = torch.randn(3, 5, 12), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]]).bool()
    seen_lengths = []
    dec.net.register_forward_pre_hook(lambda m, args, kw: seen_lengths.append(kw["input_ids"].shape[1]),
                                      with_kwargs=True)
    steps = decoding_steps(dec, memory, mask)
    ids = torch.full((3, 1), dec.bos_id)
    allowed = [i for i in range(20) if i not in (dec.pad_id, dec.bos_id, 3)]  # GPT-2's eos may follow
    with torch.no_grad():
        for _ in range(6):
            cached = steps(ids)
            full = dec(ids, memory, mask)[:, -1]
            torch.testing.assert_close(cached[:, allowed], full[:, allowed], atol=1e-5, rtol=1e-4)
            assert torch.isinf(cached[:, [dec.pad_id, dec.bos_id, 3]]).all()
            ids = torch.cat([ids, torch.randint(4, 20, (3, 1))], dim=1)
    # cached calls see one token each; the prefix re-runs (dec(...)) see 1, 2, …, 6
    assert seen_lengths == [n for step in range(1, 7) for n in (1, step)]


def test_gpt2_greedy_and_beam_with_the_cache_equal_rerunning_the_prefix(monkeypatch):
    from helpers.models import captioning

    dec = _small_gpt2(seed=1)
    memory = torch.randn(4, 5, 12)
    with torch.no_grad():
        cached_greedy = captioning.greedy_decode(dec, memory, max_len=10)
        cached_beam = captioning.beam_search(dec, memory, beam_size=3, max_len=10)
        monkeypatch.setattr(captioning, "decoding_steps", lambda d, m, k=None: captioning._PrefixSteps(d, m, k))
        assert captioning.greedy_decode(dec, memory, max_len=10) == cached_greedy
        assert captioning.beam_search(dec, memory, beam_size=3, max_len=10) == cached_beam
    # the rows decode differently and beam search leaves greedy's path: the cache was reordered
    assert len({tuple(s) for s in cached_greedy}) > 1 and cached_beam != cached_greedy
    assert max(len(s) for s in cached_beam) >= 4


def _small_word_decoder(seed: int = 0):
    from helpers.models.captioning import SmallCaptionDecoder

    torch.manual_seed(seed)
    dec = SmallCaptionDecoder(vocab_size=20, dim=32, layers=2, heads=4, max_len=10).eval()
    with torch.no_grad():  # far from the small init, so rows and beams decode differently
        for p in dec.parameters():
            p.add_(torch.randn(p.shape) * 0.3)
    return dec


def test_small_decoder_steps_embed_only_the_new_token_and_match_rerunning_the_prefix():
    from helpers.models.captioning import decoding_steps

    dec = _small_word_decoder()
    memory, mask = torch.randn(3, 5, 32), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]]).bool()
    embedded = []
    dec.embed.register_forward_hook(lambda m, args, out: embedded.append(args[0].shape[1]))
    steps = decoding_steps(dec, memory, mask)
    ids = torch.full((3, 1), dec.bos_id)
    allowed = [i for i in range(20) if i not in (dec.pad_id, dec.bos_id, dec.unk_id)]
    with torch.no_grad():
        for _ in range(6):
            cached = steps(ids)
            full = dec(ids, memory, mask)[:, -1]
            torch.testing.assert_close(cached[:, allowed], full[:, allowed], atol=1e-5, rtol=1e-4)
            assert torch.isinf(cached[:, [dec.pad_id, dec.bos_id, dec.unk_id]]).all()
            ids = torch.cat([ids, torch.randint(4, 20, (3, 1))], dim=1)
    assert embedded == [n for step in range(1, 7) for n in (1, step)]


def test_small_decoder_greedy_and_beam_with_the_cache_equal_rerunning_the_prefix(monkeypatch):
    from helpers.models import captioning

    dec = _small_word_decoder(seed=1)
    memory, mask = torch.randn(4, 5, 32), torch.tensor([[1] * 5, [1, 1, 0, 0, 0], [1] * 5, [1, 1, 1, 1, 0]]).bool()
    with torch.no_grad():
        cached_greedy = captioning.greedy_decode(dec, memory, mask, max_len=10)
        cached_beam = captioning.beam_search(dec, memory, mask, beam_size=3, max_len=10)
        monkeypatch.setattr(captioning, "decoding_steps", lambda d, m, k=None: captioning._PrefixSteps(d, m, k))
        assert captioning.greedy_decode(dec, memory, mask, max_len=10) == cached_greedy
        assert captioning.beam_search(dec, memory, mask, beam_size=3, max_len=10) == cached_beam
    assert len({tuple(s) for s in cached_greedy}) > 1 and cached_beam != cached_greedy


def test_small_decoder_cache_runs_the_int8_feed_forward_layers():
    """After dynamic int8 quantization the cached steps call the int8 feed-forward layers
    on the new token only, and stay close to the float decoder's logits."""
    from helpers.compression.dynamic import quantize_dynamic_int8
    from helpers.models.captioning import _PrefixSteps, decoding_steps
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    dec = _small_word_decoder(seed=2)
    q = quantize_dynamic_int8(dec)
    ff = q.body.layers[0].linear1
    assert isinstance(ff, DynamicLinear)
    fed = []
    ff.register_forward_hook(lambda m, args, out: fed.append(args[0].shape[1]))
    memory = torch.randn(2, 5, 32)
    steps = decoding_steps(q, memory)
    ids = torch.full((2, 1), dec.bos_id)
    with torch.no_grad():
        for _ in range(5):
            ref = _PrefixSteps(dec, memory, None)(ids)
            finite = torch.isfinite(ref)
            err = (steps(ids) - ref)[finite].abs().max()
            assert err < 0.1 * ref[finite].std()
            ids = torch.cat([ids, torch.randint(4, 20, (2, 1))], dim=1)
    assert fed == [1] * 5

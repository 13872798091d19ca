"""The parts ``benchmarks/multimodal.py`` measures with: the template and retrieval
caption baselines on hand-made inputs, the comparison table notebook 07 shows, the muted batch, fusion that uses the audio, and
caption decoding that only says vocabulary words."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.evaluation.caption_baselines import TemplateCaptioner, retrieval_captions
from helpers.evaluation.multimodal import (
    MultimodalOutputs, attention_with_and_without_audio, caption_comparison, muted)
from helpers.models import MultiModalConfig, MultiModalVideoModel, make_demo_batch
from helpers.models.captioning import WordTokenizer

VERBS = {"left": "moves to the left", "right": "moves to the right", "up": "moves up", "spin": "rotates"}
TRAIN_CAPTIONS = [
    "a red square moves to the left on a grey background",
    "a red circle moves up on a grey background",
    "a blue square rotates on a plain black background",
    "a red square quickly moves to the right on a grey background",
    "no verb in this one",
]


def test_template_uses_the_commonest_words_around_the_class_verb():
    t = TemplateCaptioner.fit(TRAIN_CAPTIONS, VERBS)
    # prefixes: 3 of length 3 ("a red square" twice, "a red circle", "a blue square"), one of 4
    assert t.prefix == ("a", "red", "square")
    # suffixes: 3 × "on a grey background" (length 4), 1 × "on a plain black background" (5)
    assert t.suffix == ("on", "a", "grey", "background")
    assert t("spin") == "a red square rotates on a grey background"
    assert t("up") == "a red square moves up on a grey background"
    with pytest.raises(KeyError):
        t("jump")


def test_template_ties_go_to_the_alphabetically_first_word():
    t = TemplateCaptioner.fit(["a red ball moves up", "a blue ball moves up"], {"up": "moves up"})
    assert t("up") == "a blue ball moves up"
    assert TemplateCaptioner.fit([], {"up": "moves up"})("up") == "moves up"


def test_retrieval_returns_the_nearest_training_caption_by_cosine():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    captions = ["east", "north", "west"]
    queries = np.array([[10.0, 1.0], [0.1, 0.3], [-2.0, -1.0], [0.0, -1.0]])
    # the last query is equally far (cosine 0) from east and west: the first one wins
    assert retrieval_captions(queries, train, captions) == ["east", "north", "west", "east"]
    with pytest.raises(ValueError, match="same D"):
        retrieval_captions(np.ones((1, 3)), train, captions)
    with pytest.raises(ValueError, match="captions"):
        retrieval_captions(queries, train, captions[:2])


def test_muted_zeroes_the_audio_and_clears_its_mask_without_touching_the_batch():
    batch = make_demo_batch(batch_size=2, num_frames=4, size=32)
    quiet = muted(batch)
    assert bool(batch["audio_mask"].all()) and float(batch["audio"].abs().sum()) > 0
    assert not bool(quiet["audio_mask"].any())
    assert float(quiet["audio"].abs().sum()) == 0 and float(quiet["audio_mel"].abs().sum()) == 0
    assert torch.equal(quiet["video"], batch["video"])


def _tone_batch(batch: dict, class_name: str) -> dict:
    """``batch`` with every clip's audio replaced by the generator's sound of ``class_name``."""
    from helpers.synth.audio import render_audio
    from helpers.video.audio import log_mel

    n = batch["audio"].shape[-1]
    waves = [render_audio(class_name, n, 16000, 0.1, 0.4, np.random.default_rng(i))[0]
             for i in range(batch["audio"].shape[0])]
    return {**batch, "audio": torch.from_numpy(np.stack(waves)),
            "audio_mel": torch.from_numpy(np.stack([np.asarray(log_mel(w), np.float32) for w in waves])),
            "audio_mask": torch.ones(len(waves), dtype=torch.bool)}


@pytest.mark.parametrize("audio", ["wav2vec2", "logmel"])
def test_fusion_uses_the_audio_with_the_picture_fixed(audio):
    batch = make_demo_batch(batch_size=2, num_frames=4, size=32)
    torch.manual_seed(0)
    model = MultiModalVideoModel(MultiModalConfig.smoke(num_classes=4, audio=audio, caption_decoder="none")).eval()
    with torch.no_grad():
        sideways = model.forward_batch(_tone_batch(batch, "move_left"))["logits"]
        again = model.forward_batch(_tone_batch(batch, "move_left"))["logits"]
        turning = model.forward_batch(_tone_batch(batch, "rotate_cw"))["logits"]
        silent = model.forward_batch(muted(batch))["logits"]
    assert torch.equal(sideways, again)  # same weights, same inputs: any difference below is the audio's
    assert float((sideways - turning).abs().max()) > 1e-3  # another family's tone, same frames
    assert float((sideways - silent).abs().max()) > 1e-3  # with sound vs muted


@pytest.mark.parametrize("decoder", ["small", "gpt2"])
def test_greedy_and_beam_captions_consist_of_vocabulary_words(decoder):
    torch.manual_seed(0)
    model = MultiModalVideoModel(MultiModalConfig.smoke(caption_decoder=decoder).with_captions(TRAIN_CAPTIONS[:4]))
    # precomputed frame features and no audio: the decoder is what is tested, cheaply
    batch = {"frame_features": torch.randn(4, 4, model.vision.out_dim), "caption": TRAIN_CAPTIONS[:4]}
    words = set(model.tokenizer.itos[4:])  # after <pad> <bos> <eos> <unk>
    ids, valid = model.encode_captions(batch["caption"])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):  # a decoder trained for a few steps, not only a random one
        out = model.forward_batch(batch, caption_ids=ids)
        loss = model.caption_loss(out["caption_logits"], ids, valid)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for method in ("greedy", "beam"):
        texts = model.generate_captions(batch, method=method, beam_size=3)
        assert len(texts) == 4
        for text in texts:
            tokens = WordTokenizer.split(text)
            assert tokens, f"{method}: empty caption"
            assert set(tokens) <= words, f"{method}: {text!r} has words outside the vocabulary"
            assert len(tokens) <= model.config.caption_max_len - 1  # bos not counted


def test_dynamic_int8_copy_agrees_with_its_float_model_and_leaves_it_float():
    from helpers.compression.dynamic import quantize_dynamic_int8, saved_size_mb

    batch = make_demo_batch(batch_size=4, num_frames=4, size=32, num_classes=4)
    torch.manual_seed(0)
    model = MultiModalVideoModel(MultiModalConfig.smoke(num_classes=4).with_captions(batch["caption"])).eval()
    int8 = quantize_dynamic_int8(model)
    assert type(int8) is MultiModalVideoModel and type(model.classifier[-1]) is torch.nn.Linear
    assert type(int8.classifier[-1]).__module__.startswith("torch.ao.nn.quantized.dynamic")
    with torch.no_grad():
        ref, out = model.forward_batch(batch), int8.forward_batch(batch)
    # close, not bit-equal: int8 weights, and activations quantized on each call
    assert float((ref["logits"] - out["logits"]).abs().max()) < 0.05
    assert len(int8.captions_from(out)) == 4  # the decoder still runs
    assert saved_size_mb(int8) < saved_size_mb(model)


CLASSES = ["move_left", "move_up", "grow"]
CLIP_TRAIN = ["a red square moves to the left on a grey background",
              "a red square moves up on a grey background",
              "a blue circle grows larger on a grey background"]
CLIP_HELD = ["a red square moves up on a grey background",
             "a blue circle grows larger on a black background",
             "a red circle moves to the left on a grey background"]


def _outputs(captions: list[str]) -> tuple[MultimodalOutputs, MultimodalOutputs]:
    """Held-out clips predicted as their true classes, whose pooled features lie nearest
    to the training clips 0, 2 and 1; one training clip per class, one-hot features."""
    train = MultimodalOutputs(np.arange(3), np.eye(3), None, np.eye(3), CLIP_TRAIN)
    pooled = np.array([[0.9, 0.1, 0.0], [0.0, 0.0, 1.0], [0.2, 0.9, 0.0]])
    held = MultimodalOutputs(np.array([1, 2, 0]), np.eye(3)[[1, 2, 0]], None, pooled, CLIP_HELD, captions)
    return held, train


def test_caption_comparison_scores_model_template_and_retrieval_on_the_same_references():
    held, train = _outputs(list(CLIP_HELD))  # the model says exactly the references
    got = caption_comparison(held, train, CLASSES)
    assert list(got.table.index) == ["model", "template", "retrieval"]
    assert list(got.table.columns) == ["bleu4", "cider"]
    assert got.template == "a red square <verb> on a grey background"
    assert got.captions["template"][1] == "a red square grows larger on a grey background"
    assert got.captions["retrieval"] == [CLIP_TRAIN[0], CLIP_TRAIN[2], CLIP_TRAIN[1]]
    assert got.figure("model", "bleu4") == pytest.approx(1.0)
    assert got.figure("model", "cider") == pytest.approx(10.0)  # CIDEr-D of a perfect caption
    assert got.figure("template", "cider") == pytest.approx(6.7752, abs=1e-3)
    assert got.figure("retrieval", "cider") == pytest.approx(4.0410, abs=1e-3)
    assert got.figure("template", "bleu4") == pytest.approx(0.7046, abs=1e-3)
    assert list(got.examples.columns) == ["reference", "predicted class", "model", "template", "retrieval"]
    assert len(got.examples) == 3 and list(got.examples["predicted class"]) == ["move_up", "grow", "move_left"]


def test_a_wrong_caption_scores_below_both_baselines():
    held, train = _outputs(["a green triangle shrinks on a white background"] * 3)
    got = caption_comparison(held, train, CLASSES, examples=2)
    assert got.figure("model", "cider") == pytest.approx(0.0)
    assert got.figure("model", "cider") < got.figure("retrieval", "cider") < got.figure("template", "cider")
    assert len(got.examples) == 2


def test_caption_comparison_needs_captions_and_a_verb_for_each_predicted_class():
    held, train = _outputs([])
    with pytest.raises(ValueError, match="captions=True"):
        caption_comparison(held, train, CLASSES)
    held, train = _outputs(list(CLIP_HELD))
    with pytest.raises(ValueError, match="verb phrase"):
        caption_comparison(held, train, ["jump", "run", "grow"])


def test_attention_with_the_sound_and_with_the_audio_masked():
    torch.manual_seed(0)
    batch = make_demo_batch(batch_size=2, num_frames=4, size=32, audio_mask=[False, True], num_classes=3)
    model = MultiModalVideoModel(MultiModalConfig.smoke(num_classes=3, caption_decoder="none")).eval()
    pair = attention_with_and_without_audio(model, batch, index=1)
    frames, tokens = pair.with_audio.shape
    assert frames == 4 and tokens == pair.muted.shape[1] > 1
    assert pair.with_audio.sum(-1).tolist() == pytest.approx([1.0] * 4)  # each frame's weights sum to one
    assert float(pair.muted.abs().sum()) == 0.0  # masked audio is never attended to
    assert pair.frame_times.tolist() == batch["frame_times"][1].tolist()
    assert pair.token_seconds == model.audio_encoder.token_seconds and pair.label == int(batch["label"][1])
    assert all(0 <= p < 3 for p in pair.predicted) and all(1 / 3 <= c <= 1 for c in pair.confidence)
    with pytest.raises(ValueError, match="no sound"):
        attention_with_and_without_audio(model, batch, index=0)


def test_outputs_hold_beam_and_greedy_captions_of_one_pass():
    from helpers.evaluation.multimodal import multimodal_outputs

    torch.manual_seed(0)
    model = MultiModalVideoModel(MultiModalConfig.smoke(num_classes=3).with_captions(TRAIN_CAPTIONS[:4])).eval()
    loader = [{"frame_features": torch.randn(2, 4, model.vision.out_dim), "label": torch.tensor([0, 2]),
               "caption": TRAIN_CAPTIONS[i:i + 2]} for i in (0, 2)]
    words = set(model.tokenizer.itos[4:])
    beam = multimodal_outputs(model, loader, muted_pass=False, beam_size=3)
    assert len(beam.captions) == len(beam.greedy_captions) == 4 and beam.references == TRAIN_CAPTIONS[:4]
    assert all(set(WordTokenizer.split(c)) <= words for c in beam.captions + beam.greedy_captions)
    expected = [model.generate_captions(batch, method="beam", beam_size=3) for batch in loader]
    assert beam.captions == expected[0] + expected[1]
    greedy = multimodal_outputs(model, loader, muted_pass=False, beam_size=1)
    assert greedy.captions == greedy.greedy_captions == beam.greedy_captions
    assert beam.labels.tolist() == [0, 2, 0, 2] and beam.logits.shape == (4, 3)


def test_attribute_accuracy_counts_the_reference_words_each_caption_names():
    from helpers.evaluation.multimodal import attribute_accuracy

    refs = ["a striped red arrow quickly moves up on a checkered navy background",
            "an orange L-shape grows larger on a dark grey background"]
    got = attribute_accuracy(refs, {
        "model": ["a striped red arrow moves up on a checkered navy background",  # speed missing
                  "a blue l-shape grows larger on a grey background"],  # colour and background wrong
        "template": ["a red arrow moves up on a navy background"] * 2})
    assert list(got.index) == ["model", "template"]
    assert got.loc["model"].to_dict() == {"colour": 0.5, "texture": 1.0, "shape": 1.0, "speed": 0.5, "motion": 1.0,
                                          "pattern": 1.0, "background": 0.5}
    assert got.loc["template", "colour"] == 0.5 and got.loc["template", "motion"] == 0.5
    assert attribute_accuracy(["a person waves a hand"], {"model": ["a person waves"]}) is None

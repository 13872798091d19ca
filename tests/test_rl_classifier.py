"""Subset classifiers for the sampler: the trained model's head fitted further on random
subsets of cached features, the pixel-feature head, and choosing epochs on validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.rl.classifier import finetune_model_head, subset_val_accuracy, train_feature_head
from helpers.rl.subsets import positions_accuracy
from rl_toy import ToyClassifier, make_toy_features


@pytest.fixture(scope="module")
def toy_sets():
    torch.set_num_threads(1)
    sets = []
    for clips, seed in ((60, 0), (30, 1)):
        fs = make_toy_features(num_clips=clips, num_positions=8, num_classes=3, informative=5, feature_dim=576,
                               seed=seed)
        fs.features[..., 4:] = 0.0  # the smoke model's 576 inputs; noise in 4 (else clips are memorised)
        sets.append(fs)
    return tuple(sets)


def test_finetuned_model_head_reads_the_informative_frame_and_leaves_the_model_alone(toy_sets):
    from helpers.models import MultiModalConfig, MultiModalVideoModel

    train, val = toy_sets
    torch.manual_seed(0)
    model = MultiModalVideoModel(MultiModalConfig.smoke(num_classes=3, audio="none", caption_decoder="none"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    clf = finetune_model_head(model, train, epochs=40, batch_size=16, lr=3e-3, progress=False, val=val)
    hist = clf.fit_history
    assert len(hist["val_acc"]) == 40 and hist["val_acc"][hist["best_epoch"] - 1] == max(hist["val_acc"])
    # the kept epoch is the best one on validation (restored at the end)
    assert subset_val_accuracy(clf, val) == pytest.approx(max(hist["val_acc"]))
    m = val.num_clips
    with_informative = np.tile([1, 3, 5, 7], (m, 1))
    without = np.tile([0, 2, 4, 6], (m, 1))
    print(positions_accuracy(val, clf, with_informative), positions_accuracy(val, clf, without))
    assert positions_accuracy(val, clf, with_informative) >= 0.9  # chance 1/3
    assert positions_accuracy(val, clf, without) <= 0.6  # nothing to read there
    for k, v in model.state_dict().items():  # a copy was fitted
        torch.testing.assert_close(v, before[k])


def test_feature_head_keeps_its_best_validation_epoch(toy_sets):
    train, val = toy_sets
    head = train_feature_head(train, epochs=6, batch_size=32, progress=False, val=val)
    hist = head.fit_history
    assert len(hist["val_acc"]) == 6 and 1 <= hist["best_epoch"] <= 6
    assert subset_val_accuracy(head, val) == pytest.approx(max(hist["val_acc"]))


def test_subset_val_accuracy_averages_uniform_budgets():
    fs = make_toy_features(num_clips=30, num_positions=8, num_classes=3, informative=4, seed=2)
    # uniform positions for k = 1, 2, 4, 8 over 8 candidates: {4}, {2, 6}, {1, 3, 5, 7}, all
    # position 4 is in the first and last only -> (1 + 1/3 + 1/3 + 1) / 4 with a 0.9-confident toy
    acc = subset_val_accuracy(ToyClassifier(3), fs, budgets=(1, 2, 4, 8))
    chance = np.mean(fs.labels == 0)  # the uniform prior's argmax is class 0
    assert acc == pytest.approx((1 + chance + chance + 1) / 4)


class MemorisingClassifier:
    """Knows the label of every frame of the clips it was fitted on (by exact feature
    match), from any frame; the uniform prior for frames it has never seen."""

    def __init__(self, fs) -> None:
        self.num_classes = len(fs.classes)
        self.fitted_on = set(fs.paths)
        self.known = {f.tobytes(): int(y) for clip, y in zip(fs.features, fs.labels) for f in clip}

    def predict_proba(self, features, times, mask):
        probs = np.full((len(features), self.num_classes), 1.0 / self.num_classes)
        for row, (clip, seen) in enumerate(zip(features, np.asarray(mask, bool))):
            labels = [self.known[f.tobytes()] for f in clip[seen] if f.tobytes() in self.known]
            if labels:
                probs[row] = 0.05
                probs[row, labels[0]] = 0.9
        return probs


def test_stratified_folds_deal_every_class_evenly_and_repeat_with_the_seed():
    from helpers.rl.classifier import stratified_folds

    labels = np.repeat([0, 1, 2], [10, 7, 3])
    folds = stratified_folds(labels, 3, seed=4)
    for c in range(3):
        counts = np.bincount(folds[labels == c], minlength=3)
        assert counts.sum() == (labels == c).sum() and counts.max() - counts.min() <= 1
    assert sorted(np.bincount(folds)) == [6, 7, 7]
    np.testing.assert_array_equal(folds, stratified_folds(labels, 3, seed=4))
    assert not np.array_equal(folds, stratified_folds(labels, 3, seed=5))
    with pytest.raises(ValueError, match="at least 2 folds"):
        stratified_folds(labels, 1)


def test_out_of_fold_answers_come_from_a_classifier_that_never_saw_the_clip():
    from helpers.rl.classifier import OutOfFoldClassifier, fit_out_of_fold
    from helpers.rl.env import EnvConfig, FrameSamplingEnv

    fs = make_toy_features(num_clips=30, num_positions=8, num_classes=3, informative=5, seed=2)
    oof = fit_out_of_fold(fs, MemorisingClassifier, k=3, seed=0)
    assert len(oof.heads) == 3 and oof.num_classes == 3 and sorted(np.bincount(oof.folds)) == [10, 10, 10]
    for clip in range(fs.num_clips):
        head = oof.for_clip(clip)
        assert fs.paths[clip] not in head.fitted_on and len(head.fitted_on) == 20
    # a noise frame (position 0): the memorising classifier fitted on all clips is right
    # from it, the training clip's out-of-fold answer knows nothing (the uniform prior,
    # whose argmax is class 0: a clip of another class)
    clip = int(np.flatnonzero(fs.labels != 0)[0])
    cfg = EnvConfig(use_audio=False)
    for classifier, right in ((MemorisingClassifier(fs), 1.0), (oof, 0.0)):
        env = FrameSamplingEnv(fs, classifier, cfg)
        env.reset(options={"clip": clip})
        _, _, _, _, info = env.step(0)
        assert info["correct"] == right
    with pytest.raises(ValueError, match="3 heads"):
        OutOfFoldClassifier(oof.heads, np.array([0, 1, 3]))

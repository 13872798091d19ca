"""What turns "the frames looked at so far" into class probabilities.

Two implementations of one small interface (``predict_proba(features (B,K,F),
times (B,K), mask (B,K)) -> (B,C)`` numpy):

* :class:`ModelHeadClassifier` — the trained ``MultiModalVideoModel``'s own temporal
  Transformer + classifier run on cached frame features (``frame_features=``) at the
  chosen times, without audio.
* :class:`FeatureHead` — a small head (projection + time encoding + one Transformer
  layer + masked mean) trained on the cached features with random subsets of 1…N
  frames. Why offer it: a model trained on 8 uniform frames has never seen 1–3
  frames at arbitrary times; a head trained on subsets is calibrated for exactly what
  the sampler feeds it, for a few seconds of CPU.

Both can be fitted to subsets of cached features (:func:`finetune_model_head`,
:func:`train_feature_head`) and keep the epoch with the best accuracy on a validation
split when one is given (:func:`subset_val_accuracy`): 100-odd training clips are
memorised quickly, and the labels of the test split are never used to choose.

Zero frames give the uniform prior (nothing seen, nothing known).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from helpers.rl.baselines import sampler_positions
from helpers.rl.subsets import SubsetClassifier, positions_accuracy


def _uniform_rows(probs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    empty = ~mask.any(axis=1)
    if empty.any():
        probs[empty] = 1.0 / probs.shape[1]
    return probs


class ModelHeadClassifier:
    """The trained multi-modal model's temporal head over the chosen frames."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        self.num_classes = int(model.config.num_classes)

    @torch.no_grad()
    def predict_proba(self, features: np.ndarray, times: np.ndarray, mask: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask, bool)
        f = torch.as_tensor(features, dtype=torch.float32)
        t = torch.as_tensor(times, dtype=torch.float32)
        m = torch.as_tensor(mask)
        m_safe = m.clone()
        m_safe[~m.any(1), 0] = True  # a fully padded row would give NaN attention
        logits = self.model(frame_features=f, frame_times=t, frame_mask=m_safe)["logits"]
        return _uniform_rows(torch.softmax(logits.float(), -1).numpy().astype(np.float64), mask)


class FeatureHead(nn.Module):
    """Subset classifier trained on cached features (see the module docstring)."""

    def __init__(self, feature_dim: int, num_classes: int, dim: int = 64, heads: int = 4) -> None:
        super().__init__()
        from helpers.models.temporal import ContinuousTimeEncoding

        self.num_classes = num_classes
        self.norm_in = nn.LayerNorm(feature_dim)
        self.proj = nn.Linear(feature_dim, dim)
        self.time = ContinuousTimeEncoding(dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, 0.1, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, features: torch.Tensor, times: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.norm_in(features)) + self.time(times)
        m_safe = mask.clone()
        m_safe[~mask.any(1), 0] = True
        x = self.body(x, src_key_padding_mask=~m_safe)
        w = m_safe.unsqueeze(-1).float()
        return self.out((x * w).sum(1) / w.sum(1))

    @torch.no_grad()
    def predict_proba(self, features: np.ndarray, times: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.eval()
        mask = np.asarray(mask, bool)
        logits = self(torch.as_tensor(features, dtype=torch.float32), torch.as_tensor(times, dtype=torch.float32),
                      torch.as_tensor(mask))
        return _uniform_rows(torch.softmax(logits, -1).numpy().astype(np.float64), mask)


def random_subset_masks(batch: int, n: int, max_k: int, rng: np.random.Generator) -> np.ndarray:
    """(batch, n) masks with 1…max_k frames each (sizes uniform, positions random)."""
    sizes = rng.integers(1, max_k + 1, size=batch)
    scores = rng.random((batch, n))
    ranks = scores.argsort(1).argsort(1)
    return ranks < sizes[:, None]


VAL_BUDGETS: tuple[int, ...] = (1, 2, 4, 8, 16)


def subset_val_accuracy(classifier: SubsetClassifier, fs, budgets: tuple[int, ...] = VAL_BUDGETS) -> float:
    """Mean top-1 accuracy on ``fs`` over the uniform samplers at ``budgets`` and, for
    clips with audio, the audio-energy sampler at the small budgets: the kinds of subsets
    the agent and the baselines feed the classifier."""
    budgets = tuple(k for k in budgets if k <= fs.num_positions)
    accs = [positions_accuracy(fs, classifier, sampler_positions("uniform", fs, k)) for k in budgets]
    if fs.has_audio.any():
        sub = fs.subset(np.flatnonzero(fs.has_audio))
        accs += [positions_accuracy(sub, classifier, sampler_positions("audio", sub, k)) for k in budgets[:3]]
    return float(np.mean(accs))


def _fit_subsets(module: nn.Module, forward, params, fs, *, epochs: int, batch_size: int, max_frames: int | None,
                 lr: float, weight_decay: float, seed: int, progress: bool, val=None, evaluate=None,
                 desc: str = "head") -> dict:
    """The shared loop: AdamW on random subsets of 1…``max_frames`` candidates per clip;
    with ``val``, the weights of the epoch with the best :func:`subset_val_accuracy` are
    restored at the end. Returns ``{"val_acc": [...], "best_epoch": int}``."""
    from tqdm.auto import trange

    from helpers.settings import within_budget

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = fs.num_positions
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    feats, times, labels = (torch.as_tensor(fs.features), torch.as_tensor(fs.times), torch.as_tensor(fs.labels))
    per_epoch = max(1, int(np.ceil(fs.num_clips / batch_size)))
    history: dict = {"val_acc": [], "best_epoch": epochs}
    best, best_state = -1.0, None
    for epoch in trange(within_budget(epochs), desc=desc, disable=not progress, leave=False):
        module.train()
        for _ in range(per_epoch):
            idx = torch.as_tensor(rng.integers(0, fs.num_clips, size=batch_size))
            mask = torch.as_tensor(random_subset_masks(batch_size, n, max_frames or n, rng))
            loss = nn.functional.cross_entropy(forward(feats[idx], times[idx], mask), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if val is not None:
            module.eval()
            acc = subset_val_accuracy(evaluate, val)
            history["val_acc"].append(acc)
            if acc > best:
                best, best_state = acc, copy.deepcopy(module.state_dict())
                history["best_epoch"] = epoch + 1
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history


def train_feature_head(fs, *, epochs: int = 200, batch_size: int = 64, max_frames: int | None = None,
                       dim: int = 64, lr: float = 2e-3, seed: int = 0, progress: bool = True,
                       val=None) -> FeatureHead:
    """Fit a :class:`FeatureHead` on a training :class:`~helpers.rl.features.FeatureSet`:
    each step draws clips and a random subset of their candidates; with ``val`` (a
    FeatureSet of the validation split) the best epoch on it is kept
    (``head.fit_history``)."""
    torch.manual_seed(seed)
    head = FeatureHead(fs.feature_dim, len(fs.classes), dim)
    head.fit_history = _fit_subsets(head, head, list(head.parameters()), fs, epochs=epochs, batch_size=batch_size,
                                    max_frames=max_frames, lr=lr, weight_decay=1e-2, seed=seed, progress=progress,
                                    val=val, evaluate=head, desc="feature head")
    return head


def finetune_model_head(model: nn.Module, fs, *, epochs: int = 30, batch_size: int = 32,
                        max_frames: int | None = None, lr: float = 1e-3, seed: int = 0, progress: bool = True,
                        val=None) -> ModelHeadClassifier:
    """The trained model's temporal head and classifier (a copy; the frame encoder is not
    needed: features are cached) fitted further on random subsets of the training
    clips' candidates. Why: the model was trained on a fixed number of uniformly spaced
    frames; the sampler hands it 1…N frames anywhere in the clip. With ``val`` the best
    epoch on it is kept (``classifier.fit_history``)."""
    head = copy.deepcopy(model).cpu()
    head.requires_grad_(False)
    parts = [head.temporal, head.classifier]
    for part in parts:
        part.requires_grad_(True)
    params = [p for part in parts for p in part.parameters()]
    clf = ModelHeadClassifier(head)

    def forward(f, t, m):
        m_safe = m.clone()
        m_safe[~m.any(1), 0] = True
        return head(frame_features=f, frame_times=t, frame_mask=m_safe)["logits"]

    clf.fit_history = _fit_subsets(head, forward, params, fs, epochs=epochs, batch_size=batch_size,
                                   max_frames=max_frames, lr=lr, weight_decay=5e-2, seed=seed, progress=progress,
                                   val=val, evaluate=clf, desc="model head")
    head.eval()
    return clf


def stratified_folds(labels: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold number (0…k-1) of each clip: every class's clips shuffled and dealt in turn,
    the deal going on from class to class, so each fold holds about 1/k of every class and
    of all clips."""
    if k < 2:
        raise ValueError(f"out-of-fold answers need at least 2 folds, got {k}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), np.int64)
    dealt = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        folds[idx] = (dealt + np.arange(len(idx))) % k
        dealt += len(idx)
    return folds


class OutOfFoldClassifier:
    """Answers each training clip with a classifier fitted without it (``heads[f]`` was
    fitted on the clips outside fold ``f``). What the agent trains against: a classifier
    answers the clips it was fitted on from almost any frame (it has memorised them), so
    an agent trained on those answers learns that any frame will do; out of fold, the
    answers are like those on clips it has never seen. Figures in ``benchmarks/RESULTS.md``."""

    def __init__(self, heads: list[SubsetClassifier], folds: np.ndarray) -> None:
        folds = np.asarray(folds, np.int64)
        if len(heads) < 2 or folds.min() < 0 or folds.max() >= len(heads):
            raise ValueError(f"{len(heads)} heads for folds {sorted(set(folds.tolist()))}")
        self.heads, self.folds = list(heads), folds
        self.num_classes = int(heads[0].num_classes)

    def for_clip(self, clip: int) -> SubsetClassifier:
        """The classifier that answers training clip ``clip``: one that never saw it."""
        return self.heads[int(self.folds[clip])]


def fit_out_of_fold(fs, fit, k: int = 3, seed: int = 0) -> OutOfFoldClassifier:
    """``k`` classifiers, each ``fit(fs.subset(clips outside one fold))``, folds from
    :func:`stratified_folds`."""
    folds = stratified_folds(fs.labels, k, seed)
    return OutOfFoldClassifier([fit(fs.subset(np.flatnonzero(folds != f))) for f in range(k)], folds)

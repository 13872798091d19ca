"""Frame samplers the agent is compared with, at equal budgets of ``k`` frames out of
the ``N`` cached candidate positions. Each returns exactly ``k`` distinct positions.

* uniform — the centres of ``k`` equal segments (what every clip classifier does);
* random — ``k`` positions drawn without replacement;
* audio — where the audio is loudest (Listen-to-Look's cheap preview as a heuristic);
  a silent clip falls back to uniform (documented, so HMDB51 still gets an answer);
* motion — where the frames change most (frame-difference energy, the silent preview:
  SCSampler's idea of ranking by a cheap signal, without learning);
* packets — where the non-key packets are largest (:func:`helpers.rl.features.packet_energy`:
  the silent preview read from the container without decoding a frame);
* heuristic — the preview a clip has: audio energy when it has sound, motion energy
  when it is silent (the rule a learned sampler has to beat);
* oracle — greedy by the classifier's probability of the TRUE class (uses the label:
  an upper bound for any sampler that feeds this classifier, not a method).
"""
from __future__ import annotations

import numpy as np

from helpers.rl.features import FeatureSet
from helpers.rl.subsets import SubsetClassifier

SAMPLERS: tuple[str, ...] = ("uniform", "random", "audio", "motion", "packets", "heuristic", "oracle")


def _check(n: int, k: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"budget k={k} must be in 1…{n} (the number of candidate positions)")


def uniform_positions(n: int, k: int) -> np.ndarray:
    """Segment centres: ``floor((i + 0.5)·n/k)``, distinct for k ≤ n."""
    _check(n, k)
    return np.floor((np.arange(k) + 0.5) * n / k).astype(np.int64)


def random_positions(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    _check(n, k)
    return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)


def energy_positions(envelope: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` candidates of highest energy (ties by position); uniform when all zero.
    Any per-candidate envelope in [0, 1]: audio loudness, motion or packet energy."""
    n = len(envelope)
    _check(n, k)
    if not np.any(envelope > 0):
        return uniform_positions(n, k)
    order = np.lexsort((np.arange(n), -np.asarray(envelope)))
    return np.sort(order[:k]).astype(np.int64)


def oracle_orders(fs: FeatureSet, classifier: SubsetClassifier, max_k: int) -> np.ndarray:
    """(M, max_k) greedy picks: each step adds the candidate that most raises the true
    class's probability given those already picked (all clips batched per step)."""
    m, n = fs.num_clips, fs.num_positions
    _check(n, max_k)
    chosen = np.zeros((m, n), bool)
    order = np.zeros((m, max_k), np.int64)
    rows = np.arange(m)
    for step in range(max_k):
        masks = np.repeat(chosen[:, None, :], n, axis=1)  # (M, N candidates, N)
        masks[:, np.arange(n), np.arange(n)] = True
        feats = np.repeat(fs.features[:, None], n, axis=1).reshape(m * n, n, -1)
        times = np.repeat(fs.times[:, None], n, axis=1).reshape(m * n, n)
        probs = classifier.predict_proba(feats, times, masks.reshape(m * n, n)).reshape(m, n, -1)
        score = probs[rows, :, fs.labels]  # (M, N) p(true) after adding each candidate
        score[chosen] = -np.inf
        pick = score.argmax(1)
        order[:, step] = pick
        chosen[rows, pick] = True
    return order


def sampler_positions(name: str, fs: FeatureSet, k: int, *, classifier: SubsetClassifier | None = None,
                      seed: int = 0, oracle: np.ndarray | None = None) -> np.ndarray:
    """(M, k) positions of sampler ``name`` for every clip of ``fs``."""
    n, m = fs.num_positions, fs.num_clips
    if name == "uniform":
        return np.tile(uniform_positions(n, k), (m, 1))
    if name == "random":
        rng = np.random.default_rng([seed, k])
        return np.stack([random_positions(n, k, rng) for _ in range(m)])
    if name == "audio":
        return np.stack([energy_positions(fs.audio_env[i], k) for i in range(m)])
    if name in ("motion", "heuristic"):
        if fs.motion_env is None:
            raise ValueError(f"sampler {name!r} needs the features' motion preview (re-extract the features)")
        use_audio = fs.has_audio if name == "heuristic" else np.zeros(m, bool)
        return np.stack([energy_positions(fs.audio_env[i] if use_audio[i] else fs.motion_env[i], k)
                         for i in range(m)])
    if name == "packets":
        if fs.packet_env is None:
            raise ValueError("sampler 'packets' needs the features' packet preview (re-extract the features)")
        return np.stack([energy_positions(fs.packet_env[i], k) for i in range(m)])
    if name == "oracle":
        if oracle is None:
            if classifier is None:
                raise ValueError("the oracle needs the classifier (or precomputed oracle_orders)")
            oracle = oracle_orders(fs, classifier, k)
        _check(n, k)
        return np.sort(oracle[:, :k], axis=1)
    raise ValueError(f"unknown sampler {name!r}; choose from {SAMPLERS}")

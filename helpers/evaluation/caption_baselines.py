"""Two reference points a trained caption decoder has to beat, computed without it.

* :class:`TemplateCaptioner` — the predicted class's verb phrase framed by the most
  common appearance words of the training captions: what a classifier alone could say.
* :func:`retrieval_captions` — each query gets the caption of its nearest training clip
  (cosine similarity in a feature space the caller chooses, e.g. a model's pooled
  features): what memorising the training captions could say.

A decoder whose CIDEr is not above both has learned nothing a lookup would not give.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from helpers.models.captioning import WordTokenizer


def _split_around(words: list[str], verb: list[str]) -> tuple[list[str], list[str]] | None:
    """(words before, words after) the first occurrence of ``verb`` in ``words``."""
    n = len(verb)
    for i in range(len(words) - n + 1):
        if words[i:i + n] == verb:
            return words[:i], words[i + n:]
    return None


def _common_words(sequences: list[list[str]]) -> list[str]:
    """Among the sequences of the most common length, the most common word at each
    position (ties: the shorter length, then the alphabetically first word)."""
    if not sequences:
        return []
    lengths = Counter(len(s) for s in sequences)
    length = min(lengths, key=lambda n: (-lengths[n], n))
    same = [s for s in sequences if len(s) == length]
    out = []
    for pos in range(length):
        counts = Counter(s[pos] for s in same)
        out.append(min(counts, key=lambda w: (-counts[w], w)))
    return out


@dataclass(frozen=True)
class TemplateCaptioner:
    """``prefix + verb phrase of the class + suffix``; prefix and suffix are the most
    common words before and after the verb phrase in the training captions (see
    :meth:`fit`)."""

    prefix: tuple[str, ...]
    suffix: tuple[str, ...]
    verbs: Mapping[str, str]

    @classmethod
    def fit(cls, captions: Sequence[str], verbs: Mapping[str, str]) -> "TemplateCaptioner":
        """Learn prefix and suffix from ``captions`` (training split). ``verbs`` maps each
        class name to its verb phrase; a caption holding none of them is skipped."""
        phrases = sorted((WordTokenizer.split(v) for v in verbs.values()), key=len, reverse=True)
        befores, afters = [], []
        for caption in captions:
            words = WordTokenizer.split(caption)
            for phrase in phrases:  # the longest phrase first: "moves up" inside a longer one
                parts = _split_around(words, phrase)
                if parts is not None:
                    befores.append(parts[0])
                    afters.append(parts[1])
                    break
        return cls(tuple(_common_words(befores)), tuple(_common_words(afters)), dict(verbs))

    def __call__(self, class_name: str) -> str:
        """The template caption of ``class_name`` (``KeyError`` for an unknown class)."""
        return " ".join([*self.prefix, *WordTokenizer.split(self.verbs[class_name]), *self.suffix])


def retrieval_captions(query_features: np.ndarray, train_features: np.ndarray,
                       train_captions: Sequence[str]) -> list[str]:
    """For each row of ``query_features`` (Q, D), the caption of the row of
    ``train_features`` (N, D) with the highest cosine similarity (ties: the first)."""
    q = np.asarray(query_features, dtype=np.float64)
    t = np.asarray(train_features, dtype=np.float64)
    if q.ndim != 2 or t.ndim != 2 or q.shape[1] != t.shape[1]:
        raise ValueError(f"features must be (Q, D) and (N, D) with the same D; got {q.shape} and {t.shape}")
    if len(t) != len(train_captions) or len(t) == 0:
        raise ValueError(f"{len(t)} training feature rows for {len(train_captions)} captions")
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    tn = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    nearest = (qn @ tn.T).argmax(axis=1)
    return [train_captions[int(i)] for i in nearest]

"""Notebook 07's figures; every function returns a matplotlib ``Figure``.

* :func:`plot_confusion_matrix` — row-normalised (recall per class), classes sorted by
  accuracy (or by name) so the confusions gather in one corner; size grows with the
  class count so 51 HMDB51 names stay readable.
* :func:`plot_per_class_accuracy` — horizontal bars, sorted, mean drawn.
* :func:`plot_prediction_grid` — a grid of test-clip thumbnails titled
  "true / predicted (confidence)", green when right and red when wrong, the colour's
  strength following the confidence.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def _order(names: Sequence[str], accuracy: np.ndarray, sort: str) -> np.ndarray:
    if sort == "accuracy":
        return np.lexsort((np.asarray(names), -np.nan_to_num(accuracy, nan=-1.0)))
    if sort == "name":
        return np.argsort(np.asarray(names), kind="stable")
    if sort == "none":
        return np.arange(len(names))
    raise ValueError(f"sort must be 'accuracy', 'name' or 'none', got {sort!r}")


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str], *, normalize: bool = True,
                          sort: str = "accuracy", title: str = "confusion matrix", annotate: bool | None = None):
    """Heatmap of ``cm`` (rows: true class, columns: predicted). ``normalize`` divides
    each row by its count; ``sort`` is "accuracy" (best first), "name" or "none";
    cells are annotated when there are at most 15 classes (``annotate`` overrides)."""
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=np.float64)
    n = len(class_names)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix {cm.shape} does not match {n} class names")
    rows = cm.sum(axis=1, keepdims=True)
    shown = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) if normalize else cm
    acc = np.divide(np.diag(cm), rows[:, 0], out=np.full(n, np.nan), where=rows[:, 0] > 0)
    order = _order(class_names, acc, sort)
    shown = shown[np.ix_(order, order)]
    names = [class_names[i] for i in order]
    side = float(np.clip(0.22 * n + 3, 5, 16))
    fig, ax = plt.subplots(figsize=(side + 1.5, side), layout="constrained")
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None, interpolation="nearest")
    fontsize = float(np.clip(220 / max(n, 1), 5, 10))
    ax.set_xticks(range(n), names, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), names, fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title + (" (row-normalised)" if normalize else ""))
    if annotate if annotate is not None else n <= 15:
        for i in range(n):
            for j in range(n):
                v = shown[i, j]
                if v:
                    ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center",
                            fontsize=fontsize, color="white" if v > 0.5 * (shown.max() or 1) else "black")
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of the true class" if normalize else "clips")
    return fig


def plot_per_class_accuracy(per_class: Mapping[str, float], title: str = "per-class accuracy"):
    """Horizontal bars (worst at the bottom), the mean as a dashed line."""
    import matplotlib.pyplot as plt

    items = sorted(((k, v) for k, v in per_class.items() if v == v), key=lambda kv: (kv[1], kv[0]))
    if not items:
        raise ValueError("no class has any test clip")
    names, values = zip(*items)
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.22 * len(names) + 1)), layout="constrained")
    ax.barh(range(len(names)), values, color=["tab:red" if v < 0.5 else "tab:green" for v in values])
    ax.set_yticks(range(len(names)), names, fontsize=float(np.clip(220 / len(names), 5, 10)))
    ax.axvline(float(np.mean(values)), color="k", ls="--", lw=1, label=f"mean {np.mean(values):.1%}")
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (recall)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return fig


def plot_prediction_grid(thumbnails: np.ndarray | Sequence[np.ndarray], true_labels: Sequence[int],
                         predicted: Sequence[int], confidences: Sequence[float], class_names: Sequence[str],
                         cols: int = 4, title: str = "test clips: true / predicted"):
    """Thumbnails (uint8 (N, H, W, 3)) titled with the true and predicted class and the
    confidence; a frame and title in green (right) or red (wrong), more opaque when
    the model was more confident."""
    import matplotlib.pyplot as plt

    n = len(thumbnails)
    if not (n == len(true_labels) == len(predicted) == len(confidences)):
        raise ValueError("thumbnails, true_labels, predicted and confidences must have the same length")
    if n == 0:
        raise ValueError("no thumbnails to show")
    cols = max(1, min(cols, n))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.8 * rows), layout="constrained", squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, img, t, p, c in zip(axes.flat, thumbnails, true_labels, predicted, confidences):
        right = int(t) == int(p)
        rgb = (0.1, 0.6, 0.1) if right else (0.8, 0.1, 0.1)
        color = (*rgb, 0.35 + 0.65 * float(np.clip(c, 0, 1)))
        ax.imshow(np.asarray(img))
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(4)
        ax.set_title(f"true: {class_names[int(t)]}\npred: {class_names[int(p)]} ({float(c):.0%})",
                     color=rgb, fontsize=9)
    fig.suptitle(title)
    return fig

"""Training curves as matplotlib Figures: loss (total and per task), accuracy (train,
validation top-1/top-5, sync), learning rate, and the MoE's expert usage per epoch.
:class:`LivePlot` redraws them in a notebook after every epoch through a callback,
without touching the loop.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helpers.training.trainer import Callback


def plot_history(history: Sequence[dict[str, Any]], title: str | None = None):
    """One figure, four panels; panels with nothing to show say so."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    epochs = [int(r["epoch"]) for r in history]

    def series(key: str) -> list[float]:
        return [float(r.get(key, np.nan)) for r in history]

    ax = axes[0]
    for key, style in (("train_loss", "-"), ("val_loss", "-")):
        if any(key in r for r in history):
            ax.plot(epochs, series(key), style, marker="o", label=key.replace("_", " "))
    for key in sorted({k for r in history for k in r if k.startswith("train_loss_")}):
        ax.plot(epochs, series(key), "--", label=key.replace("train_loss_", "train "))
    ax.set_title("loss")
    ax.set_xlabel("epoch")

    ax = axes[1]
    for key in ("train_acc", "val_acc", "val_top5", "val_sync_acc"):
        if any(key in r for r in history):
            ax.plot(epochs, [100 * v for v in series(key)], marker="o", label=key.replace("_", " "))
    best = [r for r in history if r.get("best")]
    if best and "val_acc" in best[-1]:
        ax.axvline(best[-1]["epoch"], color="grey", ls=":", label=f"best (epoch {best[-1]['epoch']})")
    ax.set_ylim(0, 101)
    ax.set_title("accuracy (%)")
    ax.set_xlabel("epoch")

    ax = axes[2]
    ax.plot(epochs, series("lr"), marker="o")
    ax.set_title("learning rate (start of epoch)")
    ax.set_xlabel("epoch")

    ax = axes[3]
    usage = [r.get("expert_usage") for r in history]
    if any(u for u in usage):
        n = max(len(u) for u in usage if u)
        table = np.array([u if u else [np.nan] * n for u in usage], dtype=float)
        ax.stackplot(epochs, *(100 * table.T), labels=[f"expert {i}" for i in range(n)])
        ax.set_ylim(0, 100)
        ax.set_title("expert usage (% of routing slots)")
        ax.legend(fontsize=7, loc="upper right", ncol=2)
    else:
        ax.text(0.5, 0.5, "no mixture of experts", ha="center", va="center", transform=ax.transAxes)
        ax.set_title("expert usage")
    ax.set_xlabel("epoch")
    for ax in axes[:2]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class LivePlot(Callback):
    """Redraws :func:`plot_history` in the notebook output after every epoch (outside
    IPython it only keeps the latest figure in :attr:`figure`)."""

    def __init__(self, title: str | None = None) -> None:
        self.title = title
        self.figure = None
        self.handle = None

    def on_epoch_end(self, trainer, record: dict[str, Any]) -> None:
        import matplotlib.pyplot as plt

        if self.figure is not None:
            plt.close(self.figure)
        self.figure = plot_history(trainer.history, self.title)
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is None:
            return
        if self.handle is None:
            self.handle = display(self.figure, display_id=True)
        else:
            self.handle.update(self.figure)
        plt.close(self.figure)

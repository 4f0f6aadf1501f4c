"""Plots people would rather look at than read: learning curves of one trial."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mtl.tasks import Task  # noqa: E402
from mtl.training import VAL_OBJECTIVE  # noqa: E402


def learning_curves(history: dict[str, list[float]], tasks: tuple[Task, ...], best_epoch: int) -> Figure:
    """Train and validation loss per task, and the validation objective, against the epoch."""
    fig, axes = plt.subplots(1, len(tasks) + 1, figsize=(3.2 * (len(tasks) + 1), 3.0), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for prefix, style in (("", "-"), ("val_", "--")):
            key = f"{prefix}{task.name}_loss"
            ax.plot(range(1, len(history[key]) + 1), history[key], style, label=f"{prefix or 'train_'}loss")
        ax.set_title(f"{task.name} ({task.loss})", fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    ax = axes[0][-1]
    ax.plot(range(1, len(history[VAL_OBJECTIVE]) + 1), history[VAL_OBJECTIVE], color="black")
    ax.axvline(best_epoch + 1, color="grey", linestyle=":", label=f"best epoch {best_epoch + 1}")
    ax.set_title("validation objective", fontsize=9)
    ax.set_xlabel("epoch")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    """Release a figure's memory (long sweeps create many)."""
    plt.close(fig)

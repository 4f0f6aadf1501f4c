"""Plots people would rather look at than read: learning curves of one trial."""

from __future__ import annotations

from matplotlib.figure import Figure

from mtl.tasks import Task
from mtl.training import VAL_OBJECTIVE


def learning_curves(history: dict[str, list[float]], tasks: tuple[Task, ...], best_epoch: int) -> Figure:
    """Train and validation loss per task, and the validation objective, against the epoch.

    A plain :class:`Figure` outside pyplot's registry: safe to draw off the main thread, and freed
    with its last reference.
    """
    fig = Figure(figsize=(3.2 * (len(tasks) + 1), 3.0))
    axes = fig.subplots(1, len(tasks) + 1, squeeze=False)
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


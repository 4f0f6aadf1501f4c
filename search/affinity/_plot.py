"""The affinity heatmap: rows are the task whose lookahead step is taken, columns the task whose loss it moves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def affinity_figure(matrix: np.ndarray, tasks: tuple[str, ...], spread: np.ndarray | None = None) -> Figure:
    """A diverging heatmap of ``matrix`` (0 white; the colour scale symmetric about 0), each cell labelled
    (with its bootstrap ``spread`` under it, where given), the diagonal (a task onto itself) greyed out so
    the eye goes to the pairs."""
    off = matrix.copy()
    np.fill_diagonal(off, np.nan)
    bound = float(np.nanmax(np.abs(off))) if np.isfinite(off).any() else 1.0
    size = 1.2 + 0.7 * len(tasks)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(np.ma.masked_invalid(off), cmap="RdBu_r", vmin=-bound, vmax=bound)
    ax.set_facecolor("#dddddd")
    ax.set_xticks(range(len(tasks)), tasks, rotation=45, ha="right")
    ax.set_yticks(range(len(tasks)), tasks)
    ax.set_xlabel("loss of task j")
    ax.set_ylabel("lookahead step on task i")
    for i in range(len(tasks)):
        for j in range(len(tasks)):
            if i != j and np.isfinite(off[i, j]):
                label = f"{off[i, j]:.3f}" if spread is None else f"{off[i, j]:.3f}\n±{spread[i, j]:.3f}"
                ax.text(j, i, label, ha="center", va="center", fontsize=8,
                        color="white" if abs(off[i, j]) > 0.6 * bound else "black")
    fig.colorbar(image, ax=ax, label="affinity of i onto j (1 - L_j after / L_j before)")
    ax.set_title("Task affinity (TAG lookahead)")
    fig.tight_layout()
    return fig

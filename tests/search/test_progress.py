"""Live progress: a bar of a training's epochs on a terminal, gone when the training ends; nothing drawn elsewhere."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from mtl.data import make_synthetic, split
from mtl.fused import train_fused
from mtl.models import ModelConfig
from mtl.training import TrainConfig
from search.progress import EpochBar, epoch_bars, step_bar


def test_a_stacked_round_draws_its_epochs_on_a_terminal_and_takes_the_bar_away() -> None:
    screen = io.StringIO()
    bar = EpochBar("hard: seeds 1-2", 3, Console(file=screen, force_terminal=True, width=100))
    splits = split(make_synthetic(n_samples=120, n_features=4, n_tasks=2, seed=0), 0.2, 0.2, seed=0)
    results = train_fused(ModelConfig(shared_width=4, tower_width=4), splits, TrainConfig(epochs=3, patience=3), [1, 2],
                          callbacks=[bar])
    drawn = screen.getvalue()
    assert "hard: seeds 1-2" in drawn and "3/3" in drawn and "epochs" in drawn
    assert bar.bar is None and len(results) == 2 and all(np.isfinite(r.objective) for r in results)
    assert epoch_bars("x", 3) == []  # under pytest stdout is no terminal: the log keeps its plain lines


def test_a_step_bar_counts_its_steps_on_a_terminal_and_does_nothing_elsewhere() -> None:
    screen = io.StringIO()
    with step_bar("affinity pass", 4, Console(file=screen, force_terminal=True, width=100)) as advance:
        for _ in range(4):
            advance()
    assert "affinity pass" in screen.getvalue() and "4/4" in screen.getvalue()
    with step_bar("affinity pass", 4) as advance:  # under pytest stdout is no terminal
        advance()

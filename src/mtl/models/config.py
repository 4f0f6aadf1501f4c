"""ModelConfig: the plain values that fully describe one multi-task architecture."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one trial: strategy, trunk and tower sizes, tying, activation, dropout.

    ``options`` holds strategy-specific values (for example the number of experts).
    """

    strategy: str = "hard"
    shared_depth: int = 1
    shared_width: int = 64
    tower_depth: int = 1
    tower_width: int = 32
    tie_outputs: bool = False
    activation: str = "relu"
    dropout: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)

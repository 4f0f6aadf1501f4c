"""What every engine shares: which trial failures a sweep survives, how many in a row stop it, and the printer type."""

from __future__ import annotations

from collections.abc import Callable

from mtl.errors import ConfigError, TrialFailed

MAX_CONSECUTIVE_FAILURES = 5
CAUGHT = (TrialFailed, ConfigError)  # a trial failing this way is recorded FAIL and the sweep goes on

Printer = Callable[[str], None]

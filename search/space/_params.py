"""One searchable setting of a space file: a fixed value, a list of choices, or a numeric range.

Grammar (TOML):  ``key = 3`` (fixed) | ``key = [a, b]`` (choice) |
``key = {low = 1, high = 8, log = false, step = 1}`` (range; integer when low, high and step are integers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from search.errors import SpaceError

Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Param:
    """A parsed setting. ``kind`` is ``fixed``, ``choice``, ``int`` or ``float``."""

    name: str
    kind: str
    value: Any = None
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None

    @property
    def is_fixed(self) -> bool:
        """True when the setting takes one value and nothing is sampled."""
        return self.kind == "fixed"

    def values(self) -> list[Any]:
        """Every value the setting can take, where finite (fixed and choice), else the range ends."""
        if self.kind == "fixed":
            return [self.value]
        if self.kind == "choice":
            return list(self.choices)
        return [self.low, self.high]

    def can_be(self, value: Any) -> bool:
        """Whether ``value`` is one of this setting's possible values (ranges: within bounds)."""
        if self.kind in ("fixed", "choice"):
            return value in self.values()
        within: bool = self.low <= value <= self.high
        return within


def _typed(raw: Any, typ: type, path: str, key: str) -> Any:
    if typ is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if type(raw) is not typ:
        raise SpaceError(path, key, f"expected {typ.__name__}, got {type(raw).__name__} {raw!r}")
    if typ is float and isinstance(raw, float) and not math.isfinite(raw):
        raise SpaceError(path, key, f"{raw!r} is not a finite number")
    return raw


def _checked(value: Any, check: Check | None, path: str, key: str) -> Any:
    problem = check(value) if check else None
    if problem:
        raise SpaceError(path, key, f"{value!r}: {problem}")
    return value


def parse_param(raw: Any, name: str, typ: type, path: str, key: str, check: Check | None = None) -> Param:
    """Parse ``raw`` from the space file as a setting of type ``typ``; ``check`` returns a problem or None."""
    if isinstance(raw, list):
        if not raw:
            raise SpaceError(path, key, "a list of choices must not be empty")
        choices = tuple(_checked(_typed(v, typ, path, key), check, path, key) for v in raw)
        if len(set(choices)) != len(choices):
            raise SpaceError(path, key, f"choices {list(raw)} repeat a value")
        return Param(name, "choice", choices=choices) if len(choices) > 1 else Param(name, "fixed", value=choices[0])
    if isinstance(raw, dict):
        return _parse_range(raw, name, typ, path, key, check)
    return Param(name, "fixed", value=_checked(_typed(raw, typ, path, key), check, path, key))


def _parse_range(raw: dict[str, Any], name: str, typ: type, path: str, key: str, check: Check | None) -> Param:
    if typ not in (int, float):
        raise SpaceError(path, key, "a range needs a numeric setting; give a value or a list of choices")
    unknown = set(raw) - {"low", "high", "log", "step"}
    if unknown:
        raise SpaceError(path, f"{key}.{sorted(unknown)[0]}", "unknown key in a range (use low, high, log, step)")
    if "low" not in raw or "high" not in raw:
        raise SpaceError(path, key, "a range needs both low and high")
    low, high = (_checked(_typed(raw[b], typ, path, f"{key}.{b}"), check, path, f"{key}.{b}") for b in ("low", "high"))
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(path, f"{key}.log", f"expected true or false, got {log!r}")
    step = raw.get("step")
    if step is not None:
        step = _typed(step, typ, path, f"{key}.step")
        if step <= 0:
            raise SpaceError(path, f"{key}.step", f"step must be > 0, got {step}")
        if log:
            raise SpaceError(path, key, "a range cannot have both log = true and a step")
    if low > high:
        raise SpaceError(path, key, f"impossible range: low {low} > high {high}")
    if log and low <= 0:
        raise SpaceError(path, key, f"a log range needs low > 0, got {low}")
    return Param(name, typ.__name__, low=low, high=high, log=log, step=step)


def at_least(bound: float) -> Check:
    """A check that values are >= ``bound``."""
    return lambda v: None if v >= bound else f"must be >= {bound}"


def above(bound: float) -> Check:
    """A check that values are > ``bound``."""
    return lambda v: None if v > bound else f"must be > {bound}"


def one_of(allowed: tuple[str, ...]) -> Check:
    """A check that values are among ``allowed``."""
    return lambda v: None if v in allowed else f"must be one of {', '.join(allowed)}"


def in_unit(v: float) -> str | None:
    """A check that values lie in [0, 1)."""
    return None if 0 <= v < 1 else "must lie in [0, 1)"

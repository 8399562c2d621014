"""Start-up validation of config values.

Every knob and range (docs/knobs.md) is checked where its object is built, so a bad value fails
before any work starts, with a message that names the config key and the valid range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class ConfigValueError(ValueError):
    """A config value outside its valid range; the message names the key and the range."""


def check_range(key: str, value: float, low: float | None = None, high: float | None = None) -> float:
    """Refuse `value` unless low <= value <= high (either bound may be None)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigValueError(f"{key}={value!r} is not a number") from None
    if number != number:  # NaN
        raise ConfigValueError(f"{key}=nan is not a valid value")
    if (low is not None and number < low) or (high is not None and number > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ConfigValueError(f"{key}={value!r} is out of range; valid range is [{lo}, {hi}]")
    return value


def check_interval(key: str, interval: Sequence[float], low: float | None = None,
                   high: float | None = None) -> tuple[float, float]:
    """Refuse a (min, max) pair unless both ends lie in [low, high] and min <= max."""
    if len(interval) != 2:
        raise ConfigValueError(f"{key}={list(interval)!r} must be a [min, max] pair")
    lo, hi = (check_range(f"{key}[{i}]", v, low, high) for i, v in enumerate(interval))
    if lo > hi:
        raise ConfigValueError(f"{key}={list(interval)!r}: min {lo} is larger than max {hi}")
    return lo, hi


def check_probability(key: str, value: float) -> float:
    return check_range(key, value, 0.0, 1.0)


def check_odd(key: str, value: int, minimum: int = 1) -> int:
    if int(value) != value or value < minimum or value % 2 == 0:
        raise ConfigValueError(f"{key}={value!r} must be an odd integer >= {minimum}")
    return int(value)


def check_choice(key: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = list(choices)
    if value not in choices:
        raise ConfigValueError(f"{key}={value!r} is not one of {choices}")
    return value

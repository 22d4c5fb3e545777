"""Durations as users write them: ``250us``, ``10ms``, ``2s``, ``5m``, ``1h`` or plain seconds.

Everything inside netsim is in seconds (floats); only the edges (config in,
reports out) speak other units.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµ]*)\s*$")


def parse_duration(value: object) -> float:
    """Seconds from a duration string or number.

    Raises:
        ValueError: with a message that says which forms are accepted.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '10ms' or '2s', got {value!r}")
    if isinstance(value, int | float):
        return _finite(float(value), value)
    if isinstance(value, str):
        if value.strip().startswith("-") and _DURATION.match(value.strip()[1:]):
            raise ValueError(f"'{value}' is negative: a duration must be 0 or more")
        match = _DURATION.match(value)
        if match:
            number, unit = match.groups()
            if unit == "":
                return _finite(float(number), value)
            if unit in _UNIT_SECONDS:
                return _finite(float(number) * _UNIT_SECONDS[unit], value)
            raise ValueError(f"'{value}' has an unknown unit '{unit}': use ns, us, ms, s, m or h (or plain seconds)")
    raise ValueError(
        f"'{value}' is not a duration: write a number with a unit (250us, 10ms, 2s, 5m, 1h) or plain seconds"
    )


def _finite(seconds: float, given: object) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"{given!r} is not a finite duration: give a number of seconds or a number with a unit, e.g. 10ms")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form of a duration, for messages and reports."""
    for unit, scale in (("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:g}{unit}"
    return f"{seconds:g}s"

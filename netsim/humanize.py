"""Numbers and values as people read them, in reports, consoles and CI logs.

``format(180.4, ".3g")`` gives ``1.8e+02`` and a count read back from a CSV prints as
``10000.0``: both are correct and both make a reader stop. Every table netsim prints
goes through :func:`number` and :func:`value` instead: whole numbers without a decimal
point, others to a few significant digits in positional notation (scientific only
for magnitudes a table cannot show positionally), mappings as YAML flow text rather
than Python's ``{'key': 'value'}``.
"""

from __future__ import annotations

import ast
import math
from typing import Any

LARGEST_POSITIONAL = 1e9
SMALLEST_POSITIONAL = 1e-5


def number(x: Any, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits, positional, trailing zeros dropped; ``–`` when missing.

    ``180.4`` → ``180``; ``10000.0`` → ``10000``; ``0.00765`` → ``0.00765``; ``25.0`` → ``25``.
    """
    if x is None or isinstance(x, bool):
        return "–" if x is None else str(x).lower()
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(v)))
    if not SMALLEST_POSITIONAL <= abs(v) < LARGEST_POSITIONAL:
        return f"{v:.{max(digits - 1, 0)}e}"
    decimals = max(digits - 1 - magnitude, 0)
    text = f"{round(v, decimals):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def integer(x: Any) -> str:
    """A count: ``10000``, never ``10000.0``; ``–`` when missing."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "–" if math.isnan(v) else str(round(v))


def percent(fraction: Any, digits: int = 3) -> str:
    """A fraction as a percentage: ``0.3342`` → ``33.4 %``; ``–`` when missing."""
    try:
        v = float(fraction)
    except (TypeError, ValueError):
        return str(fraction)
    return "–" if math.isnan(v) else f"{number(v * 100, digits)} %"


def value(x: Any) -> str:
    """A setting as a table cell: numbers via :func:`number`, mappings and lists as YAML flow text.

    Parameter values come back from CSV files as text; one that holds a Python literal
    (``"{'distribution': 'gamma'}"``, how pandas wrote a dict) is parsed and shown as YAML.
    """
    if isinstance(x, str):
        stripped = x.strip()
        if stripped[:1] in ("{", "["):
            try:
                return value(ast.literal_eval(stripped))
            except (ValueError, SyntaxError):
                return x
        return x
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {value(v)}" for k, v in x.items()) + "}"
    if isinstance(x, list | tuple):
        return "[" + ", ".join(value(v) for v in x) + "]"
    if isinstance(x, float) and x.is_integer() and abs(x) < LARGEST_POSITIONAL:
        return str(int(x))
    if isinstance(x, int | float):
        return number(x, 4)
    return "–" if x is None else str(x)

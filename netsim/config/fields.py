"""The field types every config section shares, and the strictness they are read with.

Types are strict (pydantic ``strict=True``): a number written as text (``rate:
"1200"``) or a boolean where a count belongs (``replications: true``) is an error,
not silently converted, because it usually means a quoting mistake or a misplaced
line. Two conversions stay: a whole float is a whole number (``1e9`` as YAML 1.2 and
JSON write it), and durations take text with a unit (``10ms``) or plain seconds.
Non-finite numbers (``.inf``, ``.nan``) are refused everywhere.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from netsim.distributions import DistributionSpec, coerce_distribution
from netsim.units import parse_duration

SECTION_CONFIG = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True, allow_inf_nan=False)
"""Every config section: unknown keys are errors, values are never coerced across types."""


def _whole(value: Any) -> Any:
    """A finite float with no fraction stands for its integer (``1e6``); anything else is left to the strict check."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


Count = Annotated[int, BeforeValidator(_whole)]
"""A whole number: ``3`` or ``3.0`` or ``1e6``; not ``"3"``, not ``true``, not ``2.5``."""
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Latency = Annotated[DistributionSpec, BeforeValidator(coerce_distribution)]

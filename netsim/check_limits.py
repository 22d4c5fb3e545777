"""Absolute limits for ``netsim check --limit``: ``error_rate<=0``, ``latency_p99_ms<=200``.

A baseline catches change; a limit catches a value that is wrong however it came
about (a baseline made from a bad run passes its own reruns). A limit applies to
every scenario × client × Service of the results that has the metric, to the mean
over replications (the figure summary.csv shows); exceeding it is a failure of
the check whatever the baseline says.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from netsim.errors import ConfigError, did_you_mean
from netsim.metrics import KEYS

BREACHED, WITHIN = "LIMIT EXCEEDED", "within limit"
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Limit:
    metric: str
    operator: str
    """``<=`` (the metric must stay at or below ``value``) or ``>=``."""
    value: float

    def holds(self, x: float) -> bool:
        return x <= self.value if self.operator == "<=" else x >= self.value

    def __str__(self) -> str:
        return f"{self.metric}{self.operator}{self.value:g}"


def parse_limit(text: str) -> Limit:
    """``"latency_p99_ms<=200"`` → Limit; anything else is a ConfigError on ``--limit``."""
    match = _PATTERN.match(text)
    if not match:
        raise ConfigError("--limit", f"'{text}' must look like METRIC<=VALUE or METRIC>=VALUE, e.g. --limit latency_p99_ms<=200")
    metric, operator, raw = match.groups()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError("--limit", f"'{text}': {raw!r} is not a finite number; write e.g. --limit {metric}{operator}200")
    return Limit(metric, operator, value)


def apply_limits(runs: pd.DataFrame, limits: list[Limit]) -> pd.DataFrame:
    """One row per limit × scenario × client × Service: the mean now, the limit and whether it holds."""
    rows = []
    for limit in limits:
        if limit.metric not in runs:
            known = [c for c in runs.columns if c not in (*KEYS, "replication", "service_type") and pd.api.types.is_numeric_dtype(runs[c])]
            raise ConfigError("--limit", f"no metric '{limit.metric}' in these results{did_you_mean(limit.metric, known)}; "
                                         f"metrics: {', '.join(known[:12])}{' …' if len(known) > 12 else ''}")
        for key, group in runs.groupby(KEYS, sort=False):
            values = group[limit.metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if not values.size:
                if limit.metric.startswith("latency_"):  # no successful request: no latency is within any limit
                    rows.append({**dict(zip(KEYS, key, strict=True)), "metric": limit.metric, "limit": str(limit), "now_mean": math.nan,
                                 "verdict": f"{BREACHED} (no successful request)"})
                continue  # a figure this experiment does not produce (programming latency without churn)
            mean = float(values.mean())
            rows.append({**dict(zip(KEYS, key, strict=True)), "metric": limit.metric, "limit": str(limit), "now_mean": mean,
                         "verdict": WITHIN if limit.holds(mean) else BREACHED})
    return pd.DataFrame(rows, columns=[*KEYS, "metric", "limit", "now_mean", "verdict"])

"""The verdict on one line of the validation table: replications against the reference.

Each replication is an independent run (its own seeds), so its value of a
figure is one independent observation; their mean has standard error
SE = s/√R and a Student-t 95 % interval ±t(0.975, R−1)·SE. The z-score is
(mean − reference)/SE, with the reference's own uncertainty added in quadrature
when it is a published figure read off a chart (the limit's degrees of freedom
then follow Welch-Satterthwaite).

The pass limit is a Student-t quantile with a Bonferroni correction over the m
lines of the table: |z| ≤ t(1 − α/(2m), R − 1) with α = 0.01, so a correct
simulator fails a whole table with probability at most 1 %. A fixed 3-sigma
rule would not do: with 25 lines a correct simulator would fail 7 % of tables
with normal errors, 17 % with 20 replications (t tails are heavier). The limit
here is 3.9 for 25 lines of 40 replications, 4.3 for 25 lines of 20. A bound
(``<=``) passes when the upper end of the 95 % interval is within it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

FAMILY_ALPHA = 0.01
"""Probability that a correct simulator fails at least one line of a table."""


@dataclass(frozen=True)
class Verdict:
    mean: float
    ci95: float
    se: float
    z: float
    limit: float
    passed: bool
    replications: int


def z_limit(dof: float, lines: int, alpha: float = FAMILY_ALPHA) -> float:
    """Two-sided Student-t limit (``dof`` degrees of freedom) for one of ``lines`` tests at family-wise level ``alpha`` (Bonferroni)."""
    if dof < 1:
        return math.inf
    return float(stats.t.ppf(1.0 - alpha / (2 * max(lines, 1)), dof))


def effective_dof(se: float, replications: int, reference_sd: float) -> float:
    """Welch-Satterthwaite degrees of freedom of se² + reference_sd² when only se is estimated (R - 1 dof).

    With an exact reference this is R - 1; when a published figure's own
    uncertainty dominates, the spread is nearly known and the limit nears the normal one.
    """
    if reference_sd == 0.0 or se == 0.0:
        return float(replications - 1) if reference_sd == 0.0 else math.inf
    return (se**2 + reference_sd**2) ** 2 / (se**4 / (replications - 1))


def judge(values: np.ndarray, reference: float, relation: str, lines: int, reference_sd: float = 0.0) -> Verdict:
    """Compare per-replication ``values`` with ``reference`` (see the module docstring)."""
    x = np.asarray(values, dtype=float)
    r = x.size
    if r < 2 or np.isnan(x).any():
        return Verdict(float(np.nanmean(x)) if r and not np.isnan(x).all() else math.nan, math.nan, math.nan, math.nan,
                       math.nan, False, r)
    mean = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(r))
    ci95 = float(stats.t.ppf(0.975, r - 1) * se)
    spread = math.hypot(se, reference_sd)
    diff = mean - reference
    z = diff / spread if spread > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    limit = z_limit(effective_dof(se, r, reference_sd), lines)
    passed = (mean + ci95 <= reference) if relation == "<=" else abs(z) <= limit
    return Verdict(mean, ci95, se, z, limit, bool(passed), r)

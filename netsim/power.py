"""How many replications a regression check needs: the power of the one-sided Welch t-test.

A check with two replications per side has one or two degrees of freedom: the
t critical value at alpha 0.01 is 31.8 (df 1) or 6.96 (df 2), so only enormous
changes can be significant, and "no regression" then means "could not tell". Given
the samples' standard deviations, the smallest difference the test detects with
probability :data:`POWER` at level alpha is

    δ_min = (t_{1−α, ν} + t_{power, ν}) · √(s_b²/n_b + s_n²/n_n)

with ν the Welch–Satterthwaite degrees of freedom (the usual normal-approximation
formula with t quantiles, as in G*Power's and Cohen's tables). A check is
*underpowered* for a metric when δ_min exceeds the change it is meant to catch:
``(factor − 1) × |baseline mean|``, or, for a metric whose baseline is 0 (errors),
the change observed now. :func:`replications_needed` solves for the smallest equal
n per side that brings δ_min below that change.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

POWER = 0.8
"""Probability that a true change of the target size shows as significant."""
MAX_REPLICATIONS = 10_000


def welch_df(sb: float, nb: int, sn: float, nn: int) -> float:
    """Welch–Satterthwaite degrees of freedom of the difference of two means."""
    vb, vn = sb * sb / nb, sn * sn / nn
    if vb + vn == 0:
        return math.inf
    denominator = (vb * vb / (nb - 1) if nb > 1 else 0.0) + (vn * vn / (nn - 1) if nn > 1 else 0.0)
    return (vb + vn) ** 2 / denominator if denominator > 0 else math.inf


def detectable_difference(sb: float, nb: int, sn: float, nn: int, alpha: float, power: float = POWER) -> float:
    """δ_min: the smallest true difference of means detected with probability ``power`` at level ``alpha``.

    0 when both samples are constant (the rule then decides by the means alone); inf
    with fewer than 2 values on a side that varies (no variance estimate, no test).
    """
    if sb == 0 and sn == 0:
        return 0.0
    if nb < 2 or nn < 2:
        return math.inf
    df = welch_df(sb, nb, sn, nn)
    t_alpha = stats.t.ppf(1 - alpha, df) if math.isfinite(df) else stats.norm.ppf(1 - alpha)
    t_power = stats.t.ppf(power, df) if math.isfinite(df) else stats.norm.ppf(power)
    return float((t_alpha + t_power) * math.sqrt(sb * sb / nb + sn * sn / nn))


def replications_needed(sb: float, sn: float, target: float, alpha: float, power: float = POWER) -> int | None:
    """Smallest n (the same for baseline and results) with δ_min(n) ≤ ``target``; None past :data:`MAX_REPLICATIONS`."""
    if target <= 0 or not math.isfinite(target):
        return None
    if detectable_difference(sb, 2, sn, 2, alpha, power) <= target:
        return 2
    low, high = 2, 4
    while detectable_difference(sb, high, sn, high, alpha, power) > target:
        low, high = high, high * 2
        if high > MAX_REPLICATIONS:
            return None
    while high - low > 1:  # δ_min falls as n grows: bisect
        mid = (low + high) // 2
        if detectable_difference(sb, mid, sn, mid, alpha, power) <= target:
            high = mid
        else:
            low = mid
    return high


def target_change(baseline_mean: float, now_mean: float, factor: float) -> float:
    """The difference the check must be able to see: ``factor`` of the baseline, or the change seen now when that is 0."""
    if baseline_mean != 0 and math.isfinite(baseline_mean):
        return (factor - 1) * abs(baseline_mean)
    change = abs(now_mean - baseline_mean) if math.isfinite(now_mean) else 0.0
    return change


def assess(base: np.ndarray, now: np.ndarray, factor: float, alpha: float) -> tuple[float, int | None]:
    """``(relative detectable change, replications needed or None when these suffice)`` for one metric.

    The relative change is δ_min / |baseline mean| (inf when the mean is 0 and δ_min > 0).
    When ``now`` has fewer than two values, it is assumed to vary as the baseline does.
    """
    base = base[np.isfinite(base)]
    now = now[np.isfinite(now)]
    if base.size < 2:
        return math.inf, None
    sb = float(base.std(ddof=1))
    sn = float(now.std(ddof=1)) if now.size >= 2 else sb
    nn = now.size if now.size >= 2 else base.size
    mb = float(base.mean())
    mn = float(now.mean()) if now.size else mb
    delta = detectable_difference(sb, base.size, sn, nn, alpha)
    relative = delta / abs(mb) if mb else (0.0 if delta == 0 else math.inf)
    target = target_change(mb, mn, factor)
    if target <= 0 or delta <= target:
        return relative, None
    return relative, replications_needed(sb, sn, target, alpha) or MAX_REPLICATIONS

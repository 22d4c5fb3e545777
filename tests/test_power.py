"""How many replications a check needs: the recommendation is checked against the test it is for.

The reference is not the formula netsim uses but the Welch t-test itself (scipy), run on
simulated normal samples: at the recommended number of replications a true difference of
the target size must be significant about 80 % of the time, and one replication fewer
must fall short of 80 %.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from netsim.power import POWER, detectable_difference, replications_needed

TRIALS = 20_000
ALPHA = 0.01


def empirical_power(sb: float, sn: float, delta: float, n: int, rng: np.random.Generator) -> float:
    base = rng.normal(0.0, sb, (TRIALS, n)) if sb else np.zeros((TRIALS, n))
    now = rng.normal(delta, sn, (TRIALS, n))
    p = stats.ttest_ind(now, base, axis=1, equal_var=False, alternative="greater").pvalue
    return float((p < ALPHA).mean())


@pytest.mark.parametrize(("sb", "sn", "delta"), [(1.0, 1.0, 1.0), (0.0, 1.0, 1.0), (0.5, 1.5, 1.0)])
def test_recommended_replications_reach_the_promised_power(sb: float, sn: float, delta: float) -> None:
    rng = np.random.default_rng(7)
    n = replications_needed(sb, sn, delta, ALPHA)
    assert n is not None and n > 2
    se = np.sqrt(POWER * (1 - POWER) / TRIALS)  # binomial standard error of the estimate, ≈ 0.003
    assert empirical_power(sb, sn, delta, n, rng) > POWER - 4 * se
    assert empirical_power(sb, sn, delta, n - 1, rng) < POWER + 4 * se


def test_large_samples_approach_the_normal_formula() -> None:
    n, sd = 10_000, 2.0
    z = stats.norm.ppf(1 - ALPHA) + stats.norm.ppf(POWER)
    assert detectable_difference(sd, n, sd, n, ALPHA) == pytest.approx(z * sd * np.sqrt(2 / n), rel=1e-3)


def test_constant_samples_need_nothing_more_and_one_varying_value_cannot_be_tested() -> None:
    assert detectable_difference(0.0, 3, 0.0, 3, ALPHA) == 0.0
    assert detectable_difference(1.0, 1, 1.0, 3, ALPHA) == np.inf
    assert replications_needed(1.0, 1.0, 0.0, ALPHA) is None

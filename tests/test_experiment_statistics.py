"""The confidence intervals mean what they say: the 95 % CI of the mean latency covers the analytic M/M/1
mean in about 95 % of repeated experiments."""

from __future__ import annotations

import numpy as np
import pytest
from builders import experiment
from scipy import stats

from netsim.experiment import run_experiment
from netsim.metrics import ci95_halfwidth

try:
    from netsim.theory import mm1_mean_sojourn
except ImportError:  # pragma: no cover - theory.py arrives with another issue
    def mm1_mean_sojourn(lam: float, mu: float) -> float:
        return 1.0 / (mu - lam)


def test_ci95_halfwidth_is_student_t() -> None:
    x = np.array([1.0, 2.0, 4.0, 7.0])
    assert ci95_halfwidth(x) == pytest.approx(stats.t.ppf(0.975, 3) * x.std(ddof=1) / 2)
    assert np.isnan(ci95_halfwidth([3.0]))
    assert ci95_halfwidth([1.0, np.nan, 3.0]) == pytest.approx(stats.t.ppf(0.975, 1) * np.std([1.0, 3.0], ddof=1) / np.sqrt(2))


@pytest.mark.slow
def test_ci_of_the_mean_covers_the_mm1_mean_95_percent_of_the_time() -> None:
    """200 experiments of 5 replications each: one pod, one worker, zero latencies (an exact M/M/1).

    Replications with different indices are independent, so one run of 1000 replications is 200
    independent experiments. Coverage is binomial: with 200 experiments its standard error is 1.5 %,
    and the band [0.90, 0.99] holds a correct simulator more than 99 % of the time.
    """
    lam, mu, per_experiment, experiments = 500.0, 1000.0, 5, 200
    config = experiment(rate=lam, mean_service=1 / mu, duration=10.0, warmup=1.0, replications=per_experiment * experiments)
    runs = run_experiment(config, jobs=2, report=False).runs.sort_values("replication")
    truth_ms = mm1_mean_sojourn(lam, mu) * 1000.0
    means = runs["latency_mean_ms"].to_numpy().reshape(experiments, per_experiment)
    centre = means.mean(axis=1)
    half = np.array([ci95_halfwidth(row) for row in means])
    coverage = float(np.mean(np.abs(centre - truth_ms) <= half))
    assert 0.90 <= coverage <= 0.99, f"coverage {coverage:.3f} of the nominal 95 % CI"

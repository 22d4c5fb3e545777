"""The simulator against queueing theory, with tolerances from the run's own variability.

Zero network and DNS latency leave an exact queueing model: one pod with one
worker is M/M/1, with c workers M/M/c, and N pods behind iptables' random
choice are N independent M/M/1 queues. Each check compares the simulated mean
with theory within 4 batch-means standard errors (about 1 in 16,000 false alarms
if the simulator is right) and also within a loose relative band, so a test can
fail both by bias and by a broken estimator.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import experiment, simulate_one

from netsim import theory
from netsim.model.request import Outcome


def measured_latencies(result) -> np.ndarray:  # type: ignore[no-untyped-def]
    req = result.requests
    ok = result.measured() & (req["outcome"] == Outcome.OK)
    order = np.argsort(req["t_issue_s"][ok], kind="stable")  # batch means need issue order
    return req["latency_s"][ok][order]


def assert_close_to(simulated: np.ndarray, expected: float, z: float = 4.0) -> None:
    mean, se = theory.batch_means(simulated, batches=25)
    assert abs(mean - expected) <= z * se, f"mean {mean:.6g} vs theory {expected:.6g} (se {se:.3g})"
    assert abs(mean - expected) / expected < 0.15, "simulated mean far from theory"


ENGINES = pytest.mark.parametrize("engine", ["events", "fast"])
"""Every analytic check runs on both engines (the fast one: netsim/fast/)."""


@ENGINES
@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_single_pod_single_worker_is_mm1(rho: float, engine: str) -> None:
    mu = 1000.0
    lam = rho * mu
    result = simulate_one(experiment(rate=lam, mean_service=1 / mu, duration=200.0, warmup=5.0, engine=engine))
    latencies = measured_latencies(result)
    assert_close_to(latencies, theory.mm1_mean_sojourn(lam, mu))
    # p99: per-batch p99s, compared like means
    batches = np.array_split(latencies, 25)
    p99s = np.array([np.percentile(b, 99) for b in batches])
    expected = theory.mm1_sojourn_quantile(lam, mu, 0.99)
    se = p99s.std(ddof=1) / np.sqrt(p99s.size)
    assert abs(p99s.mean() - expected) <= 4 * se + 0.02 * expected  # per-batch p99 has a small-sample bias


@ENGINES
@pytest.mark.parametrize("servers", [2, 4])
def test_single_pod_with_c_workers_is_mmc(servers: int, engine: str) -> None:
    mu = 1000.0
    lam = 0.8 * servers * mu
    result = simulate_one(experiment(rate=lam, mean_service=1 / mu, concurrency=servers, duration=100.0, engine=engine))
    assert_close_to(measured_latencies(result), theory.mmc_mean_sojourn(lam, mu, servers))


@ENGINES
def test_random_choice_over_n_pods_is_n_independent_mm1(engine: str) -> None:
    pods, mu, rho = 5, 1000.0, 0.7
    lam_total = rho * mu * pods
    result = simulate_one(experiment(replicas=pods, rate=lam_total, mean_service=1 / mu, duration=60.0, engine=engine))
    req = result.requests
    ok = result.measured() & (req["outcome"] == Outcome.OK)
    # every pod's share of requests within sampling error of 1/N (binomial, 4 sigma)
    counts = np.bincount(req["pod"][ok], minlength=pods)
    n = counts.sum()
    p = 1 / pods
    assert np.all(np.abs(counts / n - p) <= 4 * np.sqrt(p * (1 - p) / n)), counts
    # each pod is an M/M/1 queue with lam_total / N
    for pod in range(pods):
        mine = ok & (req["pod"] == pod)
        order = np.argsort(req["t_issue_s"][mine])
        assert_close_to(req["latency_s"][mine][order], theory.mm1_mean_sojourn(lam_total / pods, mu))


def test_theory_functions_match_published_tables() -> None:
    """k8s-facts §8.2/8.3 tables (mu = 1), so the references themselves are right."""
    assert theory.mmc_mean_sojourn(0.7 * 3, 1.0, 3) == pytest.approx(1.5470, abs=1e-4)
    assert theory.erlang_c(10, 9.0) == pytest.approx(0.6687, abs=1e-4)
    assert theory.ek_m1_mean_sojourn(2, 0.5, 1.0) == pytest.approx(1.618, abs=1e-3)
    assert theory.ek_m1_mean_sojourn(10, 0.95, 1.0) == pytest.approx(11.155, abs=1e-3)
    assert theory.balls_into_bins_idle(10, 10) == pytest.approx(3.487, abs=1e-3)
    assert theory.balls_into_bins_cv(10, 20) == pytest.approx(0.671, abs=1e-3)

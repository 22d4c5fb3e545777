"""The analytic references of ``netsim verify`` against computations that do not share their formulas.

Each formula in :mod:`netsim.theory` that the validation table relies on is
checked here by another route: a birth-death chain solved numerically, the
Erlang B recursion, Lindley's recursion on random numbers, a mixture of gamma
tails, scipy's moments, a Monte Carlo of the routing rule. So a wrong reference
cannot make a wrong simulator look right.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from netsim import theory


def birth_death_stationary(lam: float, mu: float, servers: int, capacity: int) -> np.ndarray:
    """Solve pi Q = 0, sum(pi) = 1 for the M/M/c/K generator with numpy (no product form used)."""
    size = capacity + 1
    q = np.zeros((size, size))
    for n in range(size):
        if n < capacity:
            q[n, n + 1] = lam
        if n > 0:
            q[n, n - 1] = min(n, servers) * mu
        q[n, n] = -q[n].sum()
    a = np.vstack([q.T, np.ones(size)])
    b = np.zeros(size + 1)
    b[-1] = 1.0
    return np.linalg.lstsq(a, b, rcond=None)[0]


def lindley_sojourns(gaps: np.ndarray, services: np.ndarray) -> np.ndarray:
    """FIFO single-server sojourn times from inter-arrival gaps and service times (Lindley's recursion).

    The waiting time is the random walk of (service - next gap) reflected at 0:
    W_n = C_n - min(0, min_{k<=n} C_k), computed with cumulative sums.
    """
    steps = services[:-1] - gaps[1:]
    walk = np.concatenate([[0.0], np.cumsum(steps)])
    wait = walk - np.minimum(np.minimum.accumulate(walk), 0.0)
    return wait + services


def batch_mean_close(values: np.ndarray, expected: float, z: float = 4.5) -> None:
    mean, se = theory.batch_means(values, batches=40)
    assert abs(mean - expected) <= z * se, (mean, expected, se)


@pytest.mark.parametrize(("lam", "mu", "servers", "capacity"), [(1.8, 1.0, 2, 6), (0.5, 1.0, 1, 1), (7.0, 1.0, 4, 10), (30.0, 2.0, 3, 40)])
def test_mmck_matches_the_numerically_solved_chain(lam: float, mu: float, servers: int, capacity: int) -> None:
    expected = birth_death_stationary(lam, mu, servers, capacity)
    assert theory.mmck_distribution(lam, mu, servers, capacity) == pytest.approx(expected, abs=1e-10)
    assert theory.mmck_blocking(lam, mu, servers, capacity) == pytest.approx(expected[-1], abs=1e-10)
    mean_sojourn = (np.arange(capacity + 1) @ expected) / (lam * (1 - expected[-1]))
    assert theory.mmck_mean_sojourn(lam, mu, servers, capacity) == pytest.approx(mean_sojourn, rel=1e-9)


@pytest.mark.parametrize(("servers", "offered"), [(1, 0.5), (2, 1.0), (5, 4.0), (10, 12.0)])
def test_mmck_with_no_waiting_room_is_erlang_b(servers: int, offered: float) -> None:
    blocking = 1.0
    for k in range(1, servers + 1):  # the Erlang B recursion
        blocking = offered * blocking / (k + offered * blocking)
    assert theory.mmck_blocking(offered, 1.0, servers, servers) == pytest.approx(blocking, rel=1e-12)


def test_mmck_with_a_huge_room_is_mmc_and_mm1() -> None:
    assert theory.mmck_mean_sojourn(3.2, 1.0, 4, 2000) == pytest.approx(theory.mmc_mean_sojourn(3.2, 1.0, 4), rel=1e-9)
    assert theory.mmck_mean_sojourn(0.8, 1.0, 1, 2000) == pytest.approx(theory.mm1_mean_sojourn(0.8, 1.0), rel=1e-9)
    assert theory.mmck_blocking(0.8, 1.0, 1, 2000) < 1e-100


def test_pollaczek_khinchine_special_cases() -> None:
    lam, mu = 0.8, 1.0
    # exponential service: E[S^2] = 2/mu^2 gives M/M/1
    assert theory.mg1_mean_sojourn(lam, 1 / mu, 2 / mu**2) == pytest.approx(theory.mm1_mean_sojourn(lam, mu))
    # M/D/1 closed form: W = rho / (2 mu (1 - rho))
    rho = lam / mu
    assert theory.mg1_mean_sojourn(lam, 1 / mu, 1 / mu**2) == pytest.approx(1 / mu + rho / (2 * mu * (1 - rho)))
    with pytest.raises(ValueError):
        theory.mg1_mean_sojourn(1.2, 1.0, 1.0)


def test_second_moments_match_scipy() -> None:
    mean = 2.5e-3
    for shape in (0.5, 2.0, 7.0):
        gamma = stats.gamma(a=shape, scale=mean / shape)
        assert theory.gamma_second_moment(mean, shape) == pytest.approx(gamma.moment(2), rel=1e-12)
    for sigma in (0.3, 1.0):
        lognormal = stats.lognorm(s=sigma, scale=mean * math.exp(-sigma**2 / 2))
        assert lognormal.mean() == pytest.approx(mean)
        assert theory.lognormal_second_moment(mean, sigma) == pytest.approx(lognormal.moment(2), rel=1e-12)


@pytest.mark.parametrize("service", ["deterministic", "gamma", "lognormal"])
def test_pollaczek_khinchine_against_lindley(service: str) -> None:
    rng = np.random.default_rng(7)
    n, lam, mean = 400_000, 0.7, 1.0
    gaps = rng.exponential(1 / lam, n)
    if service == "deterministic":
        services, second = np.full(n, mean), mean**2
    elif service == "gamma":
        services, second = rng.gamma(0.5, mean / 0.5, n), theory.gamma_second_moment(mean, 0.5)
    else:
        services = rng.lognormal(math.log(mean) - 0.5, 1.0, n)
        second = theory.lognormal_second_moment(mean, 1.0)
    batch_mean_close(lindley_sojourns(gaps, services), theory.mg1_mean_sojourn(lam, mean, second))


def test_mm1_tail_is_the_geometric_mixture_of_erlang_tails() -> None:
    """A FIFO arrival finds N ~ Geometric (P(N = n) = (1 - rho) rho^n) and stays N + 1 services: a gamma mixture."""
    lam, mu = 0.8, 1.0
    rho = lam / mu
    n = np.arange(400)
    for t in (0.5, 5.0, 15.0):
        mixture = float(np.sum((1 - rho) * rho**n * stats.gamma.sf(t, a=n + 1, scale=1 / mu)))
        assert theory.mm1_sojourn_tail(lam, mu, t) == pytest.approx(mixture, rel=1e-9)


def test_ek_m1_quantile_against_lindley() -> None:
    k, lam, mu, p = 3, 0.8, 1.0, 0.99
    rng = np.random.default_rng(11)
    n = 400_000
    gaps = rng.gamma(k, 1 / (k * lam), n)  # Erlang-k with mean 1/lam: what one of k round-robin pods sees
    sojourns = lindley_sojourns(gaps, rng.exponential(1 / mu, n))
    t99 = theory.ek_m1_sojourn_quantile(k, lam, mu, p)
    batch_mean_close((sojourns > t99).astype(float), 1 - p)
    batch_mean_close(sojourns, theory.ek_m1_mean_sojourn(k, lam, mu))
    assert theory.ek_m1_sojourn_quantile(1, lam, mu, p) == pytest.approx(theory.mm1_sojourn_quantile(lam, mu, p), rel=1e-6)


def test_local_policy_shares_published_example_and_monte_carlo() -> None:
    assert theory.local_policy_pod_shares([2, 1]) == pytest.approx([0.25, 0.5])
    assert theory.local_policy_pod_shares([2, 1, 0]) == pytest.approx([0.25, 0.5, 0.0])
    # Monte Carlo of the rule itself: a uniform entry node, then one of its own pods uniformly; no pod: dropped
    layout = [3, 1, 0, 2]
    rng = np.random.default_rng(5)
    n = 200_000
    node = rng.integers(0, len(layout), n)
    pods_here = np.asarray(layout)[node]
    served = pods_here > 0
    first_pod = np.concatenate([[0], np.cumsum(layout)[:-1]])
    pod = first_pod[node[served]] + (rng.random(served.sum()) * pods_here[served]).astype(int)
    observed = np.bincount(pod, minlength=sum(layout)) / served.sum()
    expected = np.repeat(theory.local_policy_pod_shares(layout), layout)
    assert np.all(np.abs(observed - expected) <= 4.5 * np.sqrt(expected * (1 - expected) / served.sum()))
    with pytest.raises(ValueError):
        theory.local_policy_pod_shares([0, 0])


def test_relaxation_time_tends_to_morse_in_heavy_traffic() -> None:
    mu = 1.0
    for rho, tolerance in ((0.99, 0.02), (0.999, 0.002)):
        morse = 1 / (mu * (1 - math.sqrt(rho)) ** 2)
        assert theory.relaxation_time(rho, 1 / mu) == pytest.approx(morse, rel=tolerance)
    assert theory.relaxation_time(0.8, 1.0, scv=0.0) < theory.relaxation_time(0.8, 1.0, scv=1.0)


def test_mmck_relaxation_time() -> None:
    """Two-state check by hand (K = c = 1: rates lam and mu, gap lam + mu) and Morse's M/M/1 limit."""
    assert theory.mmck_relaxation_time(2.0, 3.0, 1, 1) == pytest.approx(1 / 5.0)
    morse = 1 / (1.0 * (1 - math.sqrt(0.8)) ** 2)
    assert theory.mmck_relaxation_time(0.8, 1.0, 1, 3000) == pytest.approx(morse, rel=0.01)
    # the finite room relaxes sooner
    assert theory.mmck_relaxation_time(0.8, 1.0, 1, 6) < morse

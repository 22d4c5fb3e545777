"""Analytic references the simulator must agree with (k8s-facts.md §8).

Notation: per-server service rate ``mu``, arrival rate ``lam`` (per server
unless stated), ``rho = lam / mu``. All times in the same unit as ``1/mu``.
Tests compare simulated figures with these, with tolerances taken from the
run's own variability (batch means), never with seeded magic numbers.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize


def mm1_mean_sojourn(lam: float, mu: float) -> float:
    """M/M/1 mean time in system, 1/(mu - lam)."""
    _stable(lam, mu)
    return 1.0 / (mu - lam)


def mm1_sojourn_quantile(lam: float, mu: float, p: float) -> float:
    """M/M/1 sojourn is exponential with rate mu - lam: t_p = -ln(1-p)/(mu-lam)."""
    _stable(lam, mu)
    return -math.log(1.0 - p) / (mu - lam)


def erlang_c(servers: int, offered: float) -> float:
    """Probability of waiting in M/M/c with offered load ``offered`` = lam/mu (Erlang C)."""
    if offered >= servers:
        raise ValueError(f"unstable: offered load {offered} >= {servers} servers")
    term = 1.0
    total = 1.0
    for k in range(1, servers):
        term *= offered / k
        total += term
    last = term * offered / servers * servers / (servers - offered)
    return last / (total + last)


def mmc_mean_sojourn(lam: float, mu: float, servers: int) -> float:
    """M/M/c mean time in system: C(c, a)/(c mu - lam) + 1/mu, with lam the total arrival rate."""
    return erlang_c(servers, lam / mu) / (servers * mu - lam) + 1.0 / mu


def erlang_arrivals_sigma(k: int, lam: float, mu: float) -> float:
    """GI/M/1 root for Erlang-k inter-arrivals of rate lam (mean 1/lam): sigma = A*(mu (1 - sigma)).

    Round robin over k servers from one dispatcher gives each server Erlang-k
    inter-arrival times (E_k/M/1). A*(s) = (k lam / (k lam + s))^k.
    """
    _stable(lam, mu)

    def f(sigma: float) -> float:
        return (k * lam / (k * lam + mu * (1.0 - sigma))) ** k - sigma

    return float(optimize.brentq(f, 1e-12, 1.0 - 1e-12))


def ek_m1_mean_sojourn(k: int, lam: float, mu: float) -> float:
    """E_k/M/1 mean time in system, 1/(mu (1 - sigma)) (k-facts §8.2)."""
    return 1.0 / (mu * (1.0 - erlang_arrivals_sigma(k, lam, mu)))


def balls_into_bins_idle(n: int, c: int) -> float:
    """Expected number of pods left without a connection when c connections land uniformly on n pods."""
    return n * (1.0 - 1.0 / n) ** c


def balls_into_bins_cv(n: int, c: int) -> float:
    """Coefficient of variation of per-pod connection counts, Binomial(c, 1/n): sqrt((n-1)/c)."""
    return math.sqrt((n - 1) / c)


def batch_means(values: np.ndarray, batches: int = 20) -> tuple[float, float]:
    """(mean, standard error) of a correlated series by the method of batch means.

    Consecutive sojourn times are correlated, so the naive standard error is too
    small; means of long contiguous batches are nearly independent.
    """
    x = np.asarray(values, dtype=float)
    usable = (x.size // batches) * batches
    if usable < batches * 2:
        raise ValueError("too few values for batch means")
    means = x[:usable].reshape(batches, -1).mean(axis=1)
    return float(means.mean()), float(means.std(ddof=1) / math.sqrt(batches))


def _stable(lam: float, mu: float) -> None:
    if lam >= mu:
        raise ValueError(f"unstable queue: arrival rate {lam} >= service rate {mu}")


# --- Applications: call graphs and closed loops (k8s-facts §9) ----------------------------------


def tandem_mean_sojourn(lam: float, mus: list[float]) -> float:
    """Poisson arrivals through single-server exponential stations in series: Σ 1/(μ_i − λ).

    Burke's theorem: an M/M/1 queue's departures are Poisson of rate λ, so every
    station downstream is M/M/1 too (a Jackson network in series).
    """
    return sum(mm1_mean_sojourn(lam, mu) for mu in mus)


def mg1_mean_sojourn(lam: float, mean_s: float, second_moment_s: float) -> float:
    """M/G/1 mean time in system (Pollaczek–Khinchine): λE[S²] / (2(1 − ρ)) + E[S]."""
    rho = lam * mean_s
    if rho >= 1:
        raise ValueError(f"unstable queue: load {rho} >= 1")
    return lam * second_moment_s / (2.0 * (1.0 - rho)) + mean_s


def fork_join_mean(k: int, mu: float) -> float:
    """Mean of the largest of k independent Exp(μ) times (a fork–join with no queueing): H_k / μ."""
    return sum(1.0 / i for i in range(1, k + 1)) / mu


def mva_single_station(users: int, service: float, think: float) -> tuple[float, float]:
    """Exact mean value analysis of N users with think time Z in front of one FIFO exponential server.

    R(n) = S(1 + Q(n−1)), X(n) = n / (R(n) + Z), Q(n) = X(n) R(n), from Q(0) = 0.
    Returns (throughput X(N), response time R(N)). The think time may have any distribution.
    """
    queue = 0.0
    throughput = response = 0.0
    for n in range(1, users + 1):
        response = service * (1.0 + queue)
        throughput = n / (response + think)
        queue = throughput * response
    return throughput, response

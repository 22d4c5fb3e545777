"""Analytic references the simulator must agree with (k8s-facts.md §8, §9).

Notation: per-server service rate ``mu``, arrival rate ``lam`` (per server
unless stated), ``rho = lam / mu``. All times in the same unit as ``1/mu``.
Tests and ``netsim verify`` (docs/validation.md) compare simulated figures with
these, with tolerances taken from the run's own variability, never with seeded
magic numbers.

Textbook sources: L. Kleinrock, *Queueing Systems, Volume 1: Theory* (Wiley,
1975), cited as "Kleinrock" with its section; D. Gross, J. F. Shortle,
J. M. Thompson and C. M. Harris, *Fundamentals of Queueing Theory*, 4th ed.
(Wiley, 2008), cited as "Gross & Harris".
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


def mm1_sojourn_tail(lam: float, mu: float, t: float) -> float:
    """M/M/1 (FIFO) P(sojourn > t) = exp(-(mu - lam) t) (Kleinrock §3.2).

    A client that gives up after ``t`` while the server still works the request
    (no reneging: the queue does not see the client leave) times out with this
    probability: the timeout tail of ``netsim verify``.
    """
    _stable(lam, mu)
    return math.exp(-(mu - lam) * t)


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


def mmck_distribution(lam: float, mu: float, servers: int, capacity: int) -> np.ndarray:
    """Stationary P(N = n), n = 0..K, of M/M/c/K: c servers, room for K in the system (waiting + served).

    A finite birth-death chain (birth rate lam below K, death rate min(n, c) mu),
    so p_n = p_0 a^n / n! for n <= c and p_0 a^c / c! (a/c)^(n-c) for c < n <= K,
    with a = lam/mu (Gross & Harris §2.5; Kleinrock §3.6). Stable at any load.
    Computed in logs so that large K and c do not overflow.
    """
    if servers < 1 or capacity < servers:
        raise ValueError(f"need 1 <= servers <= capacity, got servers={servers}, capacity={capacity}")
    if lam <= 0 or mu <= 0:
        raise ValueError("arrival and service rates must be positive")
    a = lam / mu
    n = np.arange(capacity + 1)
    log_fact = np.array([math.lgamma(k + 1) for k in range(capacity + 1)])
    below = n * math.log(a) - log_fact
    above = servers * math.log(a) - log_fact[servers] + (n - servers) * math.log(a / servers)
    log_p = np.where(n <= servers, below, above)
    p = np.exp(log_p - log_p.max())
    return p / p.sum()


def mmck_blocking(lam: float, mu: float, servers: int, capacity: int) -> float:
    """M/M/c/K blocking probability: an arrival finds K in the system (P(N = K), by PASTA) and is turned away."""
    return float(mmck_distribution(lam, mu, servers, capacity)[-1])


def mmck_mean_sojourn(lam: float, mu: float, servers: int, capacity: int) -> float:
    """M/M/c/K mean time in system of admitted requests: L / (lam (1 - P_K)) by Little's law (Gross & Harris §2.5)."""
    p = mmck_distribution(lam, mu, servers, capacity)
    return float(np.arange(p.size) @ p) / (lam * (1.0 - p[-1]))


def mmck_relaxation_time(lam: float, mu: float, servers: int, capacity: int) -> float:
    """M/M/c/K: 1 / spectral gap of the birth-death generator, the time constant of its approach to equilibrium.

    A birth-death chain is reversible, so its generator is similar to a symmetric
    tridiagonal matrix (off-diagonal sqrt(lam_n mu_{n+1})) with real eigenvalues
    0 > -g >= ...; from any start, distance to equilibrium decays like exp(-g t)
    (J. Keilson, *Markov Chain Models: Rarity and Exponentiality*, Springer 1979, ch. 5).
    As K grows with c = 1 it tends to Morse's M/M/1 relaxation time 1 / (mu (1 - sqrt(rho))^2).
    """
    from scipy.linalg import eigvalsh_tridiagonal

    n = np.arange(capacity + 1)
    births = np.where(n < capacity, lam, 0.0)
    deaths = np.minimum(n, servers) * mu
    off = np.sqrt(births[:-1] * deaths[1:])
    top_two = eigvalsh_tridiagonal(-(births + deaths), off, select="i", select_range=(capacity - 1, capacity))
    return float(-1.0 / top_two[0])


def mg1_mean_sojourn(lam: float, mean: float, second_moment: float) -> float:
    """M/G/1 mean time in system by Pollaczek-Khinchine: E[S] + lam E[S^2] / (2 (1 - rho)), rho = lam E[S].

    Pollaczek (1930), Khinchine (1932); Kleinrock §5.6. Only the first two
    moments of the service time matter for the mean.
    """
    rho = lam * mean
    if rho >= 1.0:
        raise ValueError(f"unstable queue: load {rho} >= 1")
    return mean + lam * second_moment / (2.0 * (1.0 - rho))


def gamma_second_moment(mean: float, shape: float) -> float:
    """E[S^2] of a gamma service time with this mean and shape k: mean^2 (1 + 1/k) (cv^2 = 1/k)."""
    return mean * mean * (1.0 + 1.0 / shape)


def lognormal_second_moment(mean: float, sigma: float) -> float:
    """E[S^2] of a lognormal service time with this mean and log-sd sigma: mean^2 exp(sigma^2)."""
    return mean * mean * math.exp(sigma * sigma)


def ek_m1_sojourn_quantile(k: int, lam: float, mu: float, p: float) -> float:
    """E_k/M/1 sojourn quantile: a GI/M/1 sojourn is exponential with rate mu (1 - sigma) (Kleinrock §6.4)."""
    return -math.log(1.0 - p) / (mu * (1.0 - erlang_arrivals_sigma(k, lam, mu)))


def local_policy_pod_shares(pods_per_node: list[int]) -> list[float]:
    """Share of requests each pod serves under ``externalTrafficPolicy: Local``, node by node.

    Traffic enters the listed nodes uniformly (a NodePort client over the nodes,
    or a load balancer that balances over nodes, "disregarding the number of pods
    on each node"); each node sends only to its own pods, uniformly; a node
    without a pod drops what it gets, so served shares are among the nodes with
    pods: a pod on node i serves 1 / (nodes with pods x pods on node i).
    Kubernetes docs, "Create an External Load Balancer" (caveats of Local);
    MetalLB's usage docs: 2 pods on one node and 1 on another give 25 %, 25 %, 50 %.
    Returns one share per node (that of each pod on it; 0 for a node without pods).
    """
    with_pods = sum(1 for n in pods_per_node if n > 0)
    if with_pods == 0:
        raise ValueError("no node has a pod")
    return [1.0 / (with_pods * n) if n > 0 else 0.0 for n in pods_per_node]


def relaxation_time(rho: float, mean_service: float, scv: float = 1.0) -> float:
    """How long a single-server queue with Poisson arrivals takes to forget its start (time constant).

    The relaxation time of the reflected Brownian motion that approximates the
    queue, 2 sigma^2 / drift^2 with drift 1 - rho and variance rate
    rho E[S] (1 + cv_s^2): 2 rho E[S] (1 + scv) / (1 - rho)^2 (Abate & Whitt,
    "Transient behavior of regulated Brownian motion", Adv. Appl. Prob. 19, 1987).
    For M/M/1 it tends to Morse's exact 1 / (mu (1 - sqrt(rho))^2) as rho -> 1.
    The bias from an empty start decays like exp(-t / relaxation time): a warm-up
    of 20 of them leaves less than 1e-8 of it.
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"need 0 < rho < 1, got {rho}")
    return 2.0 * rho * mean_service * (1.0 + scv) / (1.0 - rho) ** 2


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

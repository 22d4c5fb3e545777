"""Analytic validation cases: the simulator as an exact queueing model, against queueing theory.

Every case runs the real simulator through :func:`netsim.run_experiment` with
zero network and DNS latency and per-request connections unless stated, and
reads per-replication figures from ``Results.runs`` (``latency_mean_ms``,
``latency_p99_ms``, ``requests``, ``errors_*``) and ``Results.pods``
(``share``). Service rate mu = 1000/s (1 ms mean service), so times read in ms.

Finite-run bias, and how each kind is kept below the run's own noise:

- the empty start: every warm-up is at least 20 relaxation times of the queue
  (:func:`netsim.theory.relaxation_time`, exact for M/M/c/K:
  :func:`netsim.theory.mmck_relaxation_time`), so the initial transient leaves
  less than 1e-8 of itself in the measured window;
- percentiles: the p99 of one replication's window of T seconds is biased low,
  because a correlated queue visits its tail in a few long busy periods; the
  bias falls like 1/T (M/M/1 at rho = 0.8 measured -6 % at T = 3 s, under 1 %
  at 30 s) while the standard error over R replications falls like 1/sqrt(RT),
  so their ratio grows like sqrt(R/T): cases with a p99 use windows of at
  least R seconds, which keeps the bias under about a quarter of the standard
  error the z-score is measured in (tests/test_verify.py holds them to it);
- ratios (blocking, timeouts, shares): counts over counts, biased by O(1/n).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netsim import theory
from netsim.verify.mappings import (
    deployment,
    exponential,
    queue_experiment,
    service,
    warmup_for,
)
from netsim.verify.registry import Case, Check, Size, pick, register

MU = 1000.0
"""Service rate of one worker, per second (mean service 1 ms)."""
MS = 1000.0


def per_replication(results: Any, column: str) -> np.ndarray:
    """One value of ``column`` per replication (the cases have one client and one Service)."""
    runs = results.runs.sort_values("replication")
    return runs[column].to_numpy(dtype=float)


def ratio(results: Any, numerator: str, denominator: str = "requests") -> np.ndarray:
    runs = results.runs.sort_values("replication")
    return runs[numerator].to_numpy(dtype=float) / runs[denominator].to_numpy(dtype=float)


def pod_shares(results: Any) -> np.ndarray:
    """Per replication (rows), each endpoint pod's share of requests (columns, ordered by node then pod name)."""
    pods = results.pods.sort_values(["replication", "node", "pod"])
    return np.vstack([g["share"].to_numpy(dtype=float) for _, g in pods.groupby("replication", sort=True)])


def _mm1_warmup(rho: float) -> float:
    return warmup_for(theory.relaxation_time(rho, 1 / MU))


@register("mm1")
def mm1(size: Size) -> Case:
    lam = 800.0
    reps, duration = pick(size, quick=(16, 16.0), full=(40, 60.0))
    return Case(
        name="M/M/1",
        parameters=f"λ={lam:g}/s, μ={MU:g}/s (ρ={lam / MU:g}); 1 pod, 1 worker",
        checks=(
            Check("mean latency (ms)", theory.mm1_mean_sojourn(lam, MU) * MS),
            Check("p99 latency (ms)", theory.mm1_sojourn_quantile(lam, MU, 0.99) * MS),
        ),
        experiment=queue_experiment(rate=lam, service_time=exponential(1 / MU), replications=reps, duration=duration,
                                    warmup=_mm1_warmup(lam / MU)),
        measure=lambda r: [per_replication(r, "latency_mean_ms"), per_replication(r, "latency_p99_ms")],
        formula="E[T] = 1/(μ − λ); the sojourn is exponential with rate μ − λ, so t_p = −ln(1 − p)/(μ − λ)",
        source="Kleinrock, Queueing Systems Vol. 1 (1975), §3.2",
        notes="p99 is each replication's sample p99 (the runs table's latency_p99_ms), compared with the exact quantile "
              "within the spread of those p99s over replications.",
    )


@register("mmc")
def mmc(size: Size) -> Case:
    servers, lam = 4, 3200.0
    reps, duration = pick(size, quick=(16, 5.0), full=(40, 30.0))
    return Case(
        name="M/M/c (Erlang C)",
        parameters=f"λ={lam:g}/s, μ={MU:g}/s per worker, c={servers} (ρ={lam / (servers * MU):g}); 1 pod with c workers",
        checks=(Check("mean latency (ms)", theory.mmc_mean_sojourn(lam, MU, servers) * MS),),
        experiment=queue_experiment(rate=lam, service_time=exponential(1 / MU), concurrency=servers, replications=reps,
                                    duration=duration, warmup=_mm1_warmup(lam / (servers * MU))),
        measure=lambda r: [per_replication(r, "latency_mean_ms")],
        formula="a = λ/μ, C(c, a) = [aᶜ/c! · c/(c − a)] / [Σ_{k<c} aᵏ/k! + aᶜ/c! · c/(c − a)]; E[T] = C(c, a)/(cμ − λ) + 1/μ",
        source="A. K. Erlang (1917); Kleinrock Vol. 1, §3.5",
    )


@register("mmck")
def mmck(size: Size) -> Case:
    servers, capacity, lam = 2, 6, 1800.0
    reps, duration = pick(size, quick=(16, 5.0), full=(40, 30.0))
    return Case(
        name="M/M/c/K",
        parameters=f"λ={lam:g}/s, μ={MU:g}/s, c={servers}, K={capacity} (queue_limit={capacity - servers})",
        checks=(
            Check("blocking probability", theory.mmck_blocking(lam, MU, servers, capacity)),
            Check("mean latency, admitted (ms)", theory.mmck_mean_sojourn(lam, MU, servers, capacity) * MS),
        ),
        experiment=queue_experiment(rate=lam, service_time=exponential(1 / MU), concurrency=servers,
                                    queue_limit=capacity - servers, replications=reps, duration=duration,
                                    warmup=warmup_for(theory.mmck_relaxation_time(lam, MU, servers, capacity))),
        measure=lambda r: [ratio(r, "errors_rejected"), per_replication(r, "latency_mean_ms")],
        formula="birth–death chain on 0..K: p_n ∝ aⁿ/n! (n ≤ c), aᶜ/c! (a/c)ⁿ⁻ᶜ (c < n ≤ K); "
                "blocking = p_K (PASTA); E[T] = Σ n p_n / (λ(1 − p_K)) (Little)",
        source="Gross, Shortle, Thompson & Harris, Fundamentals of Queueing Theory, 4th ed. (2008), §2.5",
        notes="K counts the pod's workers plus its waiting room: a pod admits a request while fewer than "
              "concurrency + queue_limit are inside and answers the rest at once (errors_rejected), "
              "so blocking = errors_rejected / requests.",
    )


def _mg1(size: Size, label: str, lam: float, service_time: dict[str, Any], second_moment: float, scv: float,
         parameters: str) -> Case:
    reps, duration = pick(size, quick=(16, 5.0), full=(40, 30.0))
    mean = 1 / MU
    return Case(
        name=f"M/G/1, {label} service",
        parameters=f"λ={lam:g}/s, E[S]=1 ms, {parameters} (ρ={lam * mean:g})",
        checks=(Check("mean latency (ms)", theory.mg1_mean_sojourn(lam, mean, second_moment) * MS),),
        experiment=queue_experiment(rate=lam, service_time=service_time, replications=reps, duration=duration,
                                    warmup=warmup_for(theory.relaxation_time(lam * mean, mean, scv))),
        measure=lambda r: [per_replication(r, "latency_mean_ms")],
        formula="E[T] = E[S] + λE[S²] / (2(1 − ρ)), ρ = λE[S] (Pollaczek–Khinchine); "
                "E[S²] = E[S]² (deterministic), E[S]²(1 + 1/k) (gamma, shape k), E[S]² e^{σ²} (lognormal)",
        source="F. Pollaczek (1930), A. Y. Khinchine (1932); Kleinrock Vol. 1, §5.6",
    )


@register("md1")
def md1(size: Size) -> Case:
    mean = 1 / MU
    return _mg1(size, "deterministic", 800.0, {"distribution": "constant", "value": mean}, mean**2, 0.0, "S constant")


@register("mg1-gamma")
def mg1_gamma(size: Size) -> Case:
    mean, shape = 1 / MU, 0.5
    return _mg1(size, "gamma", 700.0, {"distribution": "gamma", "mean": mean, "shape": shape},
                theory.gamma_second_moment(mean, shape), 1 / shape, f"gamma shape k={shape:g} (cv²={1 / shape:g})")


@register("mg1-lognormal")
def mg1_lognormal(size: Size) -> Case:
    mean, sigma = 1 / MU, 1.0
    return _mg1(size, "lognormal", 700.0, {"distribution": "lognormal", "mean": mean, "sigma": sigma},
                theory.lognormal_second_moment(mean, sigma), math.expm1(sigma**2),
                f"lognormal σ={sigma:g} (cv²={math.expm1(sigma**2):.3g})")


@register("ekm1")
def ek_m1(size: Size) -> Case:
    pods, lam_total = 3, 2400.0
    lam = lam_total / pods
    reps, duration = pick(size, quick=(12, 12.0), full=(40, 60.0))
    return Case(
        name="E_k/M/1 (IPVS rr, one client node)",
        parameters=f"λ={lam_total:g}/s over k={pods} pods, μ={MU:g}/s (ρ={lam / MU:g}); kube-proxy ipvs, scheduler rr",
        checks=(
            Check("mean latency (ms)", theory.ek_m1_mean_sojourn(pods, lam, MU) * MS),
            Check("p99 latency (ms)", theory.ek_m1_sojourn_quantile(pods, lam, MU, 0.99) * MS),
        ),
        experiment=queue_experiment(rate=lam_total, service_time=exponential(1 / MU), replicas=pods, replications=reps,
                                    duration=duration, warmup=_mm1_warmup(lam / MU),
                                    kube_proxy={"mode": "ipvs", "ipvs_scheduler": "rr"}),
        measure=lambda r: [per_replication(r, "latency_mean_ms"), per_replication(r, "latency_p99_ms")],
        formula="round robin from one dispatcher gives each pod every k-th arrival: Erlang-k gaps of mean k/λ_total. "
                "GI/M/1: σ is the root in (0, 1) of σ = A*(μ(1 − σ)), A*(s) = (kλ/(kλ + s))ᵏ; "
                "the sojourn is exponential with rate μ(1 − σ): E[T] = 1/(μ(1 − σ)), t_p = −ln(1 − p)/(μ(1 − σ))",
        source="Kleinrock Vol. 1, §6.4 (G/M/1)",
        notes="Only one node's kube-proxy dispatches (one client node), so its rr pointer sees every arrival.",
    )


@register("random")
def random_routing(size: Size) -> Case:
    pods, lam_total = 4, 2800.0
    lam = lam_total / pods
    reps, duration = pick(size, quick=(16, 4.0), full=(40, 30.0))
    return Case(
        name="random routing (iptables)",
        parameters=f"λ={lam_total:g}/s over N={pods} pods, μ={MU:g}/s (ρ={lam / MU:g}); new connection per request",
        checks=(
            Check("mean latency (ms)", theory.mm1_mean_sojourn(lam, MU) * MS),
            *(Check(f"share of pod {i + 1}", 1 / pods) for i in range(pods)),
        ),
        experiment=queue_experiment(rate=lam_total, service_time=exponential(1 / MU), replicas=pods, replications=reps,
                                    duration=duration, warmup=_mm1_warmup(lam / MU)),
        measure=lambda r: [per_replication(r, "latency_mean_ms"), *pod_shares(r).T],
        formula="a uniform choice per request splits the Poisson stream into N independent Poisson streams of λ/N: "
                "N independent M/M/1 queues, E[T] = 1/(μ − λ/N), each pod's share 1/N",
        source="Kleinrock Vol. 1, §3.2 (M/M/1) with Poisson splitting (§2)",
    )


@register("local-shares")
def local_policy_shares(size: Size) -> Case:
    layout = {"node-1": 2, "node-2": 1}
    shares = theory.local_policy_pod_shares(list(layout.values()))
    lam = 400.0
    reps, duration = pick(size, quick=(16, 2.0), full=(40, 10.0))
    manifests = [
        deployment("web-a", 2, {"app": "web", "part": "a"}, node_name="node-1"),
        deployment("web-b", 1, {"app": "web", "part": "b"}, node_name="node-2"),
        service({"app": "web"}, "NodePort", externalTrafficPolicy="Local"),
    ]
    per_pod = [(node, share) for node, share in zip(layout, shares, strict=True) for _ in range(layout[node])]
    return Case(
        name="externalTrafficPolicy: Local shares",
        parameters="NodePort, pods 2 + 1 on 2 nodes, external client entering each node with equal probability",
        checks=tuple(Check(f"share of pod {k + 1} ({node})", share) for k, (node, share) in enumerate(per_pod)),
        experiment=queue_experiment(rate=lam, service_time=exponential(1 / MU), concurrency=16, replications=reps,
                                    duration=duration, warmup=1.0, nodes=len(layout), manifests=manifests,
                                    client={"location": "external"}),
        measure=lambda r: list(pod_shares(r).T),
        formula="each entry node sends only to its own pods: a pod's share = 1 / (nodes with pods × pods on its node)",
        source="Kubernetes documentation, \"Create an External Load Balancer\" (externalTrafficPolicy caveats); "
               "MetalLB usage documentation (2 pods on one node, 1 on another: 25 %, 25 %, 50 %)",
    )


def _keepalive(size: Size, connections: int) -> Case:
    pods = 10
    reps, duration = pick(size, quick=(60, 0.5), full=(200, 1.0))
    experiment = queue_experiment(rate=50.0 * connections, service_time=exponential(0.0005), replicas=pods,
                                  concurrency=4, replications=reps, duration=duration, warmup=0.0, nodes=connections,
                                  client={"connections": {"mode": "keep-alive", "pool": 1}})

    def idle_pods(results: Any) -> list[np.ndarray]:
        pods_table = results.pods
        idle = pods_table.assign(idle=pods_table["share"] == 0).groupby("replication", sort=True)["idle"].sum()
        return [idle.to_numpy(dtype=float)]

    return Case(
        name=f"keep-alive idle pods (C={connections})",
        parameters=f"N={pods} pods, C={connections} client pods with one keep-alive connection each (iptables random)",
        checks=(Check("idle pods", theory.balls_into_bins_idle(pods, connections)),),
        experiment=experiment,
        measure=idle_pods,
        formula="C connections placed uniformly at random on N pods (balls into bins): E[idle pods] = N(1 − 1/N)^C",
        source="M. Mitzenmacher & E. Upfal, Probability and Computing (2005), §5.2 (balls into bins)",
        notes="A pod is idle when it served no request in the run (share 0): every request rides its client pod's "
              "one connection, chosen once.",
    )


@register("keepalive-10")
def keepalive_10(size: Size) -> Case:
    return _keepalive(size, 10)


@register("keepalive-20", quick=False)
def keepalive_20(size: Size) -> Case:
    return _keepalive(size, 20)


@register("timeout-tail")
def timeout_tail(size: Size) -> Case:
    lam, timeout = 800.0, 0.015
    reps, duration = pick(size, quick=(16, 12.0), full=(40, 60.0))
    return Case(
        name="timeout tail (M/M/1)",
        parameters=f"λ={lam:g}/s, μ={MU:g}/s, client timeout T={timeout * MS:g} ms",
        checks=(Check("timed-out fraction", theory.mm1_sojourn_tail(lam, MU, timeout)),),
        experiment=queue_experiment(rate=lam, service_time=exponential(1 / MU), replications=reps, duration=duration,
                                    warmup=_mm1_warmup(lam / MU), client={"timeout": f"{timeout * MS:g}ms"}),
        measure=lambda r: [ratio(r, "errors_timeout")],
        formula="P(T > t) = e^{−(μ − λ)t}: the fraction of requests whose client gives up",
        source="Kleinrock Vol. 1, §3.2",
        notes="A timed-out request stays in the pod's queue (the server does not see the client give up), so the "
              "queue stays M/M/1 and the fraction with outcome timeout (errors_timeout / requests) is its tail.",
    )

"""Call-graph validation cases: operations that call other Services, against queueing networks.

Each Deployment sits behind its own ClusterIP Service; every latency but the
pods' own is zero, so a request's end-to-end latency is what the queueing
network says (Jackson tandems, M/G/1 with a held worker, fork–join, a closed
network by mean value analysis). Figures come from ``Results.runs`` of the
entry client, as for :mod:`netsim.verify.analytic`.
"""

from __future__ import annotations

from typing import Any

from netsim import theory
from netsim.verify.analytic import MS, per_replication
from netsim.verify.mappings import NO_TIMEOUT, UNBOUNDED_QUEUE, ZERO_NETWORK, deployment, exponential, warmup_for
from netsim.verify.registry import Case, Check, Size, pick, register


def _service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


def graph_experiment(workloads: dict[str, dict[str, Any]], client: dict[str, Any], *, replications: int,
                     duration: float, warmup: float) -> dict[str, Any]:
    """One single-replica Deployment and ClusterIP Service per workload; ``client`` calls the entry Service."""
    manifests = [m for name in workloads for m in (deployment(name), _service(name))]
    return {
        "name": "verify",
        "run": {"duration": duration, "warmup": warmup, "replications": replications, "seed": 0},
        "cluster": {"nodes": {"count": 1}, "network": dict(ZERO_NETWORK), "dns": {"latency": "0s"}},
        "manifests": manifests,
        "workloads": {name: {"queue_limit": UNBOUNDED_QUEUE, **w} for name, w in workloads.items()},
        "clients": [{"name": "load", "timeout": NO_TIMEOUT, **client}],
    }


def _poisson(target: str, rate: float) -> dict[str, Any]:
    return {"target": target, "arrival": {"rate": rate}}


@register("tandem")
def tandem(size: Size) -> Case:
    lam, mean_a, mean_b = 600.0, 0.001, 0.0008
    reps, duration = pick(size, quick=(16, 5.0), full=(40, 30.0))
    workloads = {
        "a": {"concurrency": 1, "hold_worker": False, "operations": {"serve": [{"work": exponential(mean_a)}, {"call": "b"}]}},
        "b": {"concurrency": 1, "service_time": exponential(mean_b)},
    }
    warmup = warmup_for(theory.relaxation_time(lam * mean_a, mean_a))
    return Case(
        name="tandem (Jackson), worker freed at the call",
        parameters=f"λ={lam:g}/s; A: work Exp(1 ms) then a call to B, hold_worker false; B: Exp(0.8 ms); 1 worker each",
        checks=(Check("mean latency (ms)", theory.tandem_mean_sojourn(lam, [1 / mean_a, 1 / mean_b]) * MS),),
        experiment=graph_experiment(workloads, _poisson("a", lam), replications=reps, duration=duration, warmup=warmup),
        measure=lambda r: [per_replication(r, "latency_mean_ms")],
        formula="Burke: an M/M/1 queue's departures are Poisson(λ), so each station is M/M/1: E[T] = Σ 1/(μ_i − λ)",
        source="P. J. Burke, \"The output of a queuing system\", Oper. Res. 4 (1956); J. R. Jackson, "
               "\"Networks of waiting lines\", Oper. Res. 5 (1957)",
        notes="A's worker is freed while the call is out (an event loop), so A serves only its own work: two "
              "M/M/1 stations in series. With the worker held the same graph is the next case.",
    )


@register("held-worker")
def held_worker(size: Size) -> Case:
    lam, mean_a, d = 500.0, 0.001, 0.0005
    reps, duration = pick(size, quick=(16, 5.0), full=(40, 30.0))
    workloads = {
        "a": {"concurrency": 1, "operations": {"serve": [{"work": exponential(mean_a)}, {"call": "b"}]}},
        "b": {"concurrency": 64, "service_time": {"distribution": "constant", "value": d}},
    }
    es, es2 = mean_a + d, 2 * mean_a**2 + 2 * d * mean_a + d**2
    warmup = warmup_for(theory.relaxation_time(lam * es, es, es2 / es**2 - 1))
    return Case(
        name="held worker (M/G/1)",
        parameters=f"λ={lam:g}/s; A holds its one worker through Exp(1 ms) work and a call to B (constant 0.5 ms, "
                   "64 workers: no queue)",
        checks=(Check("mean latency (ms)", theory.mg1_mean_sojourn(lam, es, es2) * MS),),
        experiment=graph_experiment(workloads, _poisson("a", lam), replications=reps, duration=duration, warmup=warmup),
        measure=lambda r: [per_replication(r, "latency_mean_ms")],
        formula="A's worker is busy for S = Exp(μ_A) + d: M/G/1 with E[S] = 1/μ_A + d, E[S²] = 2/μ_A² + 2d/μ_A + d²; "
                "E[T] = E[S] + λE[S²]/(2(1 − λE[S])) (Pollaczek–Khinchine)",
        source="Kleinrock Vol. 1, §5.6",
    )


@register("fork-join")
def fork_join(size: Size) -> Case:
    k, mean, lam = 3, 0.001, 200.0
    reps, duration = pick(size, quick=(16, 5.0), full=(40, 30.0))
    workloads: dict[str, dict[str, Any]] = {
        "a": {"concurrency": 256, "operations": {"fan": [{"parallel": [{"call": f"b{i}"} for i in range(k)]}]}}}
    workloads.update({f"b{i}": {"concurrency": 256, "service_time": exponential(mean)} for i in range(k)})
    return Case(
        name="fork–join, no queueing",
        parameters=f"λ={lam:g}/s; A calls k={k} Services in parallel, each Exp(1 ms) work; 256 workers everywhere",
        checks=(Check("mean latency (ms)", theory.fork_join_mean(k, 1 / mean) * MS),),
        experiment=graph_experiment(workloads, _poisson("a", lam), replications=reps, duration=duration, warmup=1.0),
        measure=lambda r: [per_replication(r, "latency_mean_ms")],
        formula="the join waits for the largest of k independent Exp(μ) times: E[max] = H_k/μ = (1 + 1/2 + … + 1/k)/μ",
        source="standard order statistics of the exponential (Rényi representation); F. Baccelli, A. Makowski & "
               "A. Shwartz, \"The fork-join queue and related systems\", Adv. Appl. Prob. 21 (1989)",
        notes="Workers never run out, so no branch queues: the join is the maximum of the k service times.",
    )


@register("closed-mva")
def closed_mva(size: Size) -> Case:
    users, service_s, low, high = 10, 0.002, 0.010, 0.020
    reps, duration = pick(size, quick=(16, 5.0), full=(40, 30.0))
    think = (low + high) / 2
    x, r = theory.mva_single_station(users, service_s, think)
    client = {"target": "web", "arrival": {"process": "closed", "users": users,
                                           "think_time": {"distribution": "uniform", "low": low, "high": high}}}
    workloads = {"web": {"concurrency": 1, "service_time": exponential(service_s)}}

    def measure(results: Any) -> list:
        runs = results.runs.sort_values("replication")
        return [runs["requests"].to_numpy(dtype=float) / duration, per_replication(results, "latency_mean_ms")]

    return Case(
        name="closed loop (MVA)",
        parameters=f"N={users} users, think time uniform {low * MS:g}–{high * MS:g} ms, one pod, Exp(2 ms), 1 worker",
        checks=(Check("throughput (req/s)", x), Check("mean latency (ms)", r * MS)),
        experiment=graph_experiment(workloads, client, replications=reps, duration=duration, warmup=1.0),
        measure=measure,
        formula="exact MVA: R(n) = S(1 + Q(n−1)), X(n) = n/(R(n) + Z), Q(n) = X(n)R(n), Q(0) = 0; "
                "the think time's distribution does not matter (product form)",
        source="M. Reiser & S. S. Lavenberg, \"Mean-value analysis of closed multichain queuing networks\", "
               "J. ACM 27 (1980)",
    )

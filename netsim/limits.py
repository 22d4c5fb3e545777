"""What a run will cost, estimated before simulating, and the limits it must stay within.

An experiment file is a few lines that can ask for work no machine finishes
(``replications: 1e9``, ``rate: 1e12``, ``nodes.count: 1e6``) and, run on a shared CI
machine, take it down. So before anything is built or simulated netsim estimates each
run's cost from the configuration — requests (offered rate × simulated time), events,
nodes, Services, peak pods, lookup-table slots, churn events, rate steps — and refuses,
with the estimate and how to lift the limit, what is above a limit. The limits
(:data:`DEFAULT_LIMITS`, documented in docs/config.md) are generous: they admit the
scale targets of a production cluster (5,000 nodes, 10,000 Services, 150,000 pods,
1e8 requests per run). A user who means it raises a limit in the experiment file or
on the command line (``run.limits.requests: 1e10`` / ``--set run.limits.requests=1e10``),
for a Dask cluster for instance; a limit is never a silent cap.

The same pass refuses nonsense that would run (a client with no request in the
measured window, a lognormal whose sample mean cannot converge in the run) and
warns about what runs but is probably not meant: offered load above a Deployment's
capacity (its queue grows for the whole run), churn events after the end, a kill of
more pods than exist.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netsim.errors import ConfigError

if TYPE_CHECKING:
    from netsim.config.schema import ExperimentConfig
    from netsim.k8s.objects import Service
    from netsim.spec import ClientSpec, ScenarioSpec

DEFAULT_LIMITS: dict[str, float] = {
    "runs": 100_000,
    "requests": 2e8,
    "events": 5e9,
    "nodes": 20_000,
    "services": 100_000,
    "pods": 500_000,
    "lookup_table_entries": 1e8,
    "churn_events": 1e6,
    "rate_steps": 100_000,
}
"""The default limits (``run.limits.<name>`` raises one): per experiment (runs) or per run (the others)."""

LIMIT_MEANINGS = {
    "runs": "runs in the experiment (scenarios × replications)",
    "requests": "requests one run issues (offered rate × (warmup + duration))",
    "events": "simulation events one run processes (estimated)",
    "nodes": "nodes in a scenario",
    "services": "Services in a scenario, background_services included",
    "pods": "pods at the peak (replicas, scale events and HPA maxReplicas)",
    "lookup_table_entries": "slots of Maglev tables (LB maglev, IPVS mh) built at once",
    "churn_events": "churn events one run processes (repeating ones at their mean interval)",
    "rate_steps": "rate steps of one client",
}

EVENTS_PER_REQUEST = 20
"""Simulation events a request costs, a generous estimate (arrival, DNS, hops each way, queueing, service, response)."""
MAX_RELATIVE_STANDARD_ERROR = 1.0
"""A lognormal whose sample mean over the run's draws has a larger relative standard error is refused."""


@dataclass(frozen=True)
class Estimate:
    """One scenario's run, in the units of :data:`DEFAULT_LIMITS`."""

    requests: float
    events: float
    nodes: int
    services: int
    pods: int
    lookup_table_entries: float
    churn_events: float
    rate_steps: int


def limits_of(config_limits: Any) -> dict[str, float]:
    """The limits in force: the defaults, overridden by ``run.limits`` where it gives a value."""
    given = config_limits.model_dump() if config_limits is not None else {}
    return {name: float(given.get(name) if given.get(name) is not None else default) for name, default in DEFAULT_LIMITS.items()}


def _refuse(path: str, what: str, estimate: float, name: str, limit: float, fix: str) -> ConfigError:
    wanted = f"{10 ** math.ceil(math.log10(max(estimate, 1))):.0e}".replace("e+0", "e").replace("e+", "e")
    return ConfigError(
        path,
        f"{what} is about {estimate:.3g}, above the limit of {limit:.3g} {LIMIT_MEANINGS[name]}; {fix}, "
        f"or raise the limit deliberately: run.limits.{name}: {wanted} (or --set run.limits.{name}={wanted})",
    )


# --- before building: what would be expensive to build at all ------------------------------------


def check_config(config: ExperimentConfig, scenario: str = "") -> None:
    """Limits that must hold before a scenario is built (building 1e6 nodes already costs)."""
    limits = limits_of(config.run.limits)
    nodes = config.cluster.nodes
    pool = not isinstance(nodes, list)
    count = len(nodes) if isinstance(nodes, list) else nodes.count
    if count > limits["nodes"]:
        raise _refuse("cluster.nodes.count" if pool else "cluster.nodes", f"the number of nodes{scenario}",
                      count, "nodes", limits["nodes"], "use fewer nodes")
    size = config.cluster.load_balancer.maglev_table_size
    if size is not None and size > limits["lookup_table_entries"]:
        raise _refuse("cluster.load_balancer.maglev_table_size", f"the Maglev table size{scenario}", size, "lookup_table_entries",
                      limits["lookup_table_entries"], "use a smaller prime such as 65537")
    if config.cluster.background_services > limits["services"]:
        raise _refuse("cluster.background_services", f"the number of Services{scenario}", config.cluster.background_services,
                      "services", limits["services"], "use fewer background Services")


def check_runs(total_runs: int, config_limits: Any) -> None:
    limits = limits_of(config_limits)
    if total_runs > limits["runs"]:
        raise _refuse("run.replications", "the number of runs (scenarios × replications)", total_runs, "runs", limits["runs"],
                      "use fewer replications or sweep values")


# --- after building: what one run costs ------------------------------------------------------------


def run_length(scenario: ScenarioSpec) -> float:
    """Simulated seconds of one run: warm-up plus the measured duration."""
    return scenario.run.warmup + scenario.run.duration


def client_requests(client: ClientSpec, start: float, end: float) -> float:
    """Requests ``client`` issues between ``start`` and ``end`` (its rate steps included; closed-loop users at
    their nominal bound, netsim/config/operations.py ``entry_rate``)."""
    from netsim.config.operations import entry_rate

    changes = [(0.0, entry_rate(client)), *client.rate_steps]
    total = 0.0
    for i, (at, rate) in enumerate(changes):
        until = changes[i + 1][0] if i + 1 < len(changes) else math.inf
        lo, hi = max(at, start), min(until, end)
        if hi > lo:
            total += rate * (hi - lo)
    return total


def requests_per_second(scenario: ScenarioSpec) -> float:
    """Requests per simulated second, averaged over a run: clients' requests and every call they cause downstream."""
    from netsim.config.operations import operation_rates

    length = run_length(scenario)
    entries = {c.name: client_requests(c, 0.0, length) / length for c in scenario.clients}
    served = sum(operation_rates(scenario, entries).values())
    services = {s.name: s for s in scenario.services}
    unserved = sum(entries[c.name] for c in scenario.clients if not _has_backends(scenario, services[c.service]))
    return served + unserved


def _has_backends(scenario: ScenarioSpec, service: Service) -> bool:
    from netsim.config.operations import serving_deployments

    return any(d.replicas > 0 for d in serving_deployments(service, scenario.deployments))


def peak_replicas(scenario: ScenarioSpec) -> dict[str, int]:
    """Each Deployment's most pods at once: its replicas, any scale event's, its HPA's maxReplicas."""
    peak = {d.name: d.replicas for d in scenario.deployments}
    for event in scenario.churn:
        if event.action == "scale" and event.name in peak:
            peak[event.name] = max(peak[event.name], int(event.event.replicas))
    for hpa in scenario.autoscalers:
        if hpa.target_name in peak:
            peak[hpa.target_name] = max(peak[hpa.target_name], hpa.max_replicas)
    return peak


def churn_count(scenario: ScenarioSpec) -> float:
    """Churn events one run processes; a repeating one (``every``) at its mean interval."""
    length = run_length(scenario)
    total = 0.0
    for event in scenario.churn:
        every = getattr(event.event, "every", None)
        total += length / every.mean if every is not None and every.mean > 0 else 1.0
    return total


def lookup_table_entries(scenario: ScenarioSpec) -> float:
    """Slots of the Maglev tables a run keeps: the LB's (per zone without cross-zone) and IPVS ``mh``'s (per node × Service)."""
    from netsim.routing import MH_TABLE_SIZE

    entries = 0.0
    lb = scenario.load_balancer
    lb_services = [s for s in scenario.services if s.type.value == "LoadBalancer"]
    if lb is not None and lb.algorithm == "maglev" and lb_services:
        zones = 1 if lb.cross_zone else len({n.zone for n in scenario.nodes})
        entries += float(lb.maglev_table_size) * zones * len(lb_services)
    proxy = scenario.cluster.kube_proxy
    if proxy.mode == "ipvs" and proxy.ipvs_scheduler == "mh":
        entries += float(MH_TABLE_SIZE) * len(scenario.nodes) * len({c.service for c in scenario.clients})
    return entries


def periodic_events(scenario: ScenarioSpec, pods: int) -> float:
    """Events that do not come from requests: probes, kube-proxy syncs, LB health checks."""
    length = run_length(scenario)
    periods = [p.period_s for d in scenario.deployments for p in d.template.readiness_probes]
    probes = pods * length / min(periods) if periods else 0.0
    syncs = len(scenario.nodes) * length / scenario.cluster.kube_proxy.sync_period
    checks = 0.0
    if scenario.load_balancer is not None and any(s.type.value == "LoadBalancer" for s in scenario.services):
        checks = len(scenario.nodes) * length / scenario.load_balancer.cluster_health_check.interval
    return probes + syncs + checks


def estimate(scenario: ScenarioSpec) -> Estimate:
    pods = sum(peak_replicas(scenario).values())
    requests = requests_per_second(scenario) * run_length(scenario)
    churn = churn_count(scenario)
    return Estimate(
        requests=requests,
        events=requests * EVENTS_PER_REQUEST + periodic_events(scenario, pods) + churn * 100,
        nodes=len(scenario.nodes),
        services=len(scenario.services) + scenario.cluster.background_services,
        pods=pods,
        lookup_table_entries=lookup_table_entries(scenario),
        churn_events=churn,
        rate_steps=max((len(c.rate_steps) for c in scenario.clients), default=0),
    )


def check_scenario(scenario: ScenarioSpec, suffix: str = "") -> list[str]:
    """Refuse (ConfigError) a run above a limit or one that cannot measure; return warnings."""
    limits = limits_of(scenario.run.limits)
    cost = estimate(scenario)
    length = run_length(scenario)
    where = f" of a run{suffix}"
    if cost.requests > limits["requests"]:
        busiest = max(scenario.clients, key=lambda c: client_requests(c, 0.0, length))
        raise _refuse(f"clients.{busiest.name}.arrival.rate", f"the number of requests{where} ({requests_per_second(scenario):.3g} req/s "
                      f"× {length:.3g} s of warmup + duration)", cost.requests, "requests", limits["requests"],
                      "lower the rate or shorten run.duration")
    if cost.churn_events > limits["churn_events"]:
        i = max(range(len(scenario.churn)), key=lambda j: _event_count(scenario, j))
        raise _refuse(f"churn.{i}.every", f"the number of churn events{where}", cost.churn_events, "churn_events",
                      limits["churn_events"], "give a longer interval")
    if cost.services > limits["services"]:
        raise _refuse("manifests", f"the number of Services{suffix}", cost.services, "services", limits["services"], "use fewer Services")
    if cost.pods > limits["pods"]:
        peak = peak_replicas(scenario)
        name = max(peak, key=lambda k: peak[k])
        raise _refuse(f"Deployment/{name}.spec.replicas", f"the number of pods at the peak{suffix} (replicas, scale events, HPA "
                      "maxReplicas)", cost.pods, "pods", limits["pods"], "use fewer replicas")
    if cost.lookup_table_entries > limits["lookup_table_entries"]:
        path = ("cluster.kube_proxy.ipvs_scheduler" if scenario.cluster.kube_proxy.ipvs_scheduler == "mh"
                and scenario.cluster.kube_proxy.mode == "ipvs" else "cluster.load_balancer.maglev_table_size")
        raise _refuse(path, f"the number of Maglev lookup-table slots{suffix}", cost.lookup_table_entries, "lookup_table_entries",
                      limits["lookup_table_entries"], "use a smaller maglev_table_size or fewer nodes")
    if cost.events > limits["events"]:
        raise _refuse("run.duration", f"the number of simulation events{where} (requests, probes, syncs, health checks over "
                      f"{length:.3g} s)", cost.events, "events", limits["events"], "shorten run.duration or run.warmup")
    if cost.rate_steps > limits["rate_steps"]:
        client = max(scenario.clients, key=lambda c: len(c.rate_steps))
        raise _refuse(f"clients.{client.name}.arrival.steps", f"the number of rate steps{suffix}", cost.rate_steps, "rate_steps",
                      limits["rate_steps"], "use fewer steps")
    check_measurable(scenario, suffix)
    return [*overload_warnings(scenario), *churn_warnings(scenario)]


def _event_count(scenario: ScenarioSpec, i: int) -> float:
    every = getattr(scenario.churn[i].event, "every", None)
    return run_length(scenario) / every.mean if every is not None and every.mean > 0 else 1.0


# --- nonsense that would run -----------------------------------------------------------------------


def check_measurable(scenario: ScenarioSpec, suffix: str = "") -> None:
    """Every client must issue requests in the measured window; lognormal means must be able to converge."""
    run = scenario.run
    for client in scenario.clients:
        measured = client_requests(client, run.warmup, run.warmup + run.duration)
        if measured < 1:
            raise ConfigError(
                f"clients.{client.name}.arrival.rate",
                f"expects {measured:.2g} requests in the measured {run.duration:g} s{suffix}, so its figures would be empty; "
                "raise the rate or lengthen run.duration",
            )
    offered = offered_rates(scenario)
    length = run_length(scenario)
    given = scenario.config.get("workloads") or {}
    for name, workload in scenario.workloads.items():
        layer = name if (given.get(name) or {}).get("service_time") is not None else "default"
        _check_lognormal(workload.service_time, offered.get(name, 0.0) * length, f"workloads.{layer}.service_time", suffix)
    total = requests_per_second(scenario) * length
    network = scenario.cluster.network
    for hop in ("same_node", "same_zone", "cross_zone", "internet"):
        _check_lognormal(getattr(network, hop), total, f"cluster.network.{hop}", suffix)
    _check_lognormal(scenario.cluster.dns.latency, total, "cluster.dns.latency", suffix)


def _check_lognormal(dist: Any, draws: float, path: str, suffix: str) -> None:
    from netsim.distributions import LogNormal

    if not isinstance(dist, LogNormal) or draws < 1:
        return
    sigma = dist.log_sigma
    rse = math.sqrt(math.expm1(min(sigma * sigma, 700.0)) / draws)
    if rse > MAX_RELATIVE_STANDARD_ERROR:
        raise ConfigError(
            f"{path}.sigma",
            f"sigma {sigma:.3g} is too wide for this run{suffix}: the mean of its ~{draws:.3g} draws has a relative standard error "
            f"of sqrt((exp(sigma^2)-1)/n) = {rse:.3g}, so the simulated mean will not come near the {dist.mean:g} s given "
            "(most draws are far below it, rare ones far above); lower sigma (real service times have 0.2-2) or run longer",
        )


# --- warnings --------------------------------------------------------------------------------------


def offered_rates(scenario: ScenarioSpec, peak: bool = False) -> dict[str, float]:
    """Requests per second offered to each Deployment, from clients and the calls they cause; ``peak``: at the
    highest rate step."""
    return {name: rate for name, (rate, _) in offered_load(scenario, peak).items()}


def offered_load(scenario: ScenarioSpec, peak: bool = False) -> dict[str, tuple[float, float]]:
    """Per Deployment: requests per second, and the worker-seconds per second of work they ask for."""
    from netsim.config.operations import operation_rates

    length = run_length(scenario)
    rates = {c.name: (max([client_rate(c), *(r for _, r in c.rate_steps)]) if peak else client_requests(c, 0.0, length) / length)
             for c in scenario.clients}
    out: dict[str, tuple[float, float]] = {}
    for (deployment, operation), rate in operation_rates(scenario, rates).items():
        requests, work = out.get(deployment, (0.0, 0.0))
        out[deployment] = (requests + rate, work + rate * _mean_work(scenario.workloads[deployment], operation))
    return out


def client_rate(client: ClientSpec) -> float:
    from netsim.config.operations import entry_rate

    return entry_rate(client)


def _mean_work(workload: Any, operation: str) -> float:
    """The mean work (seconds on a worker) of one request of ``operation``: its work steps, calls excluded."""
    op = next((o for o in workload.operations if o.name == operation), None)
    return _steps_work(workload, op.steps) if op is not None else workload.service_time.mean


def _steps_work(workload: Any, steps: Any) -> float:
    from netsim.spec import ParallelStep, WorkStep

    total = 0.0
    for step in steps:
        if isinstance(step, WorkStep):
            total += (step.duration or workload.service_time).mean
        elif isinstance(step, ParallelStep):
            total += sum(_steps_work(workload, b) for b in step.branches)
    return total


def overload_warnings(scenario: ScenarioSpec) -> list[str]:
    """Deployments offered more than they can serve: replicas × concurrency / mean work per request."""
    hpa_max = {h.target_name: h.max_replicas for h in scenario.autoscalers}
    out = []
    for name, (rate, work) in offered_load(scenario, peak=True).items():
        if rate <= 0 or work <= 0:
            continue
        deployment = next(d for d in scenario.deployments if d.name == name)
        workload = scenario.workloads[name]
        replicas = max(hpa_max.get(name, 0), deployment.replicas)
        mean = work / rate
        capacity = replicas * workload.concurrency / mean
        if rate > capacity:
            out.append(
                f"Deployment/{name} is offered {rate:.4g} req/s, above its capacity of {capacity:.4g} req/s ({replicas} pods × "
                f"{workload.concurrency} workers / {mean * 1000:.3g} ms mean work per request): its queues grow for the whole run, so "
                "latency and throughput show the overload (queue_limit, timeouts), not a steady state"
            )
    return out


def churn_warnings(scenario: ScenarioSpec) -> list[str]:
    """Churn that cannot do what it says: after the end of the run, or killing more pods than exist."""
    length = run_length(scenario)
    replicas = {d.name: d.replicas for d in scenario.deployments}
    out = []
    for event in sorted(scenario.churn, key=lambda e: math.inf if e.at is None else e.at):
        if event.at is not None and event.at >= length:
            out.append(f"churn: {event.action} {event.target} at {event.at:g}s is after the end of the run "
                       f"({length:g}s of warmup + duration), so it never happens")
            continue
        if event.action == "scale":
            replicas[event.name] = int(event.event.replicas)
        if event.action == "kill" and event.name in replicas and event.event.count > replicas[event.name]:
            out.append(f"churn: kill {event.event.count} pods of {event.target} at "
                       f"{'every interval' if event.at is None else f'{event.at:g}s'}, but it has {replicas[event.name]}: "
                       "at most that many are killed")
    return out


def describe(estimates: Iterable[tuple[str, Estimate]]) -> list[str]:
    """One line per scenario: the estimate, for ``netsim validate``."""
    return [f"{name}: ~{e.requests:.3g} requests, ~{e.events:.3g} events per run; {e.nodes} nodes, {e.services} Services, "
            f"up to {e.pods} pods" for name, e in estimates]

"""Which engine runs a scenario (``run.engine``), and why not the fast one.

The fast engine (:mod:`netsim.fast.engine`) computes whole blocks of requests
with numpy, so it can only simulate what does not feed back from the system's
state into a request's path. That rules out, each named here by the config path
that turns it on:

- churn, autoscalers and deferred objects: endpoints change during the run, so
  each node's rules (and the clients' pods) depend on the time of every event;
- closed-loop users: the next request waits for the previous answer;
- retries: a try's outcome decides whether another is sent;
- pooled connections (``keep-alive``, ``multiplexed``): a request's endpoint is
  the one its connection was pinned to, and whether a connection is free depends
  on the answers in flight;
- IPVS least-connection schedulers (``lc``, ``wlc``, ``sed``, ``nq``): they count
  open connections; ``sessionAffinity: ClientIP``: a choice is remembered for the
  time since the last connection;
- an ExternalName Service: the outside host is not a pod (not yet vectorised);
- Cilium (``cluster.dataplane``), a service mesh (``cluster.mesh``) and NodeLocal
  DNSCache (``cluster.dns.node_cache``): not vectorised yet (the mesh's balancers
  and proxies' queues depend on the state, as least-connection does);
- operations with steps beyond one step of work (call graphs): a pod's worker is
  held while its calls travel through other pods' queues, so one pod's service
  time depends on the others' queues. ``hold_worker: false`` chains are simple in
  principle (the caller's two pieces of work are two visits to its queue) but the
  second visit's arrival time depends on the callee's departure, which couples
  the pods' queues within a block; not done.

Everything else is eligible: Poisson arrivals (rate steps included) from
in-cluster client pods or external clients (through a NodePort or the cloud
load balancer, whose targets stay in their probed state when nothing churns), cluster DNS with its cache,
random / round-robin / weighted round-robin / hashing (``sh``, ``dh``, ``mh``)
choices, topology preferences and traffic policies, first-packet costs,
multi-worker pods with finite ``queue_limit``, and timeouts (a pod serves a
request whose client gave up, in both engines, so a timeout is applied to the
answer's time afterwards).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netsim.spec import ScenarioSpec

STATEFUL_SCHEDULERS = ("lc", "wlc", "sed", "nq")


def why_not_fast(scenario: ScenarioSpec) -> str | None:
    """The first feature of ``scenario`` the fast engine cannot simulate, as ``<config path>: <why>``; None: eligible."""
    if scenario.churn:
        return "churn: endpoints change during the run"
    if scenario.autoscalers:
        return f"manifests: HorizontalPodAutoscaler/{scenario.autoscalers[0].name} changes the replicas during the run"
    if scenario.created_at:
        return f"deferred: {next(iter(scenario.created_at))} is created during the run"
    cluster = scenario.cluster
    if cluster.dataplane != "kube-proxy":
        return f"cluster.dataplane: {cluster.dataplane} (its socket-level balancing, Maglev and DSR are not vectorised)"
    if cluster.mesh.mode != "none":
        return f"cluster.mesh.mode: {cluster.mesh.mode} (proxies queue requests and balance them by their own state)"
    if cluster.dns.node_cache.enabled:
        return "cluster.dns.node_cache: a per-node cache shared by every pod of the node (not vectorised)"
    proxy = cluster.kube_proxy
    if proxy.mode == "ipvs" and proxy.ipvs_scheduler in STATEFUL_SCHEDULERS:
        return f"cluster.kube_proxy.ipvs_scheduler: {proxy.ipvs_scheduler} counts open connections"
    for name, workload in scenario.workloads.items():
        if not workload.plain:
            return f"workloads.{name}.operations: steps beyond one step of work (calls hold workers across pods)"
    services = {s.name: s for s in scenario.services}
    for client in scenario.clients:
        where = f"clients.{client.name}"
        if client.closed is not None:
            return f"{where}.arrival.process: closed-loop users wait for their answers"
        if client.retries is not None:
            return f"{where}.retries: whether a try is retried depends on its outcome"
        if client.connections.mode != "per-request":
            return f"{where}.connections.mode: {client.connections.mode} connections pin requests to open connections"
        service = services[client.service]
        if service.session_affinity == "ClientIP":
            return f"manifests: Service/{service.name} spec.sessionAffinity: ClientIP remembers choices over time"
        kind = service.type.value
        if kind == "ExternalName":
            return f"{where}.target: Service/{service.name} is an ExternalName (not vectorised)"
    return None


def choose_engine(scenario: ScenarioSpec) -> tuple[str, str | None]:
    """``(engine, reason)``: the engine ``run.engine`` selects for ``scenario``, and why not ``fast`` (None when fast).

    ``fast`` on an ineligible scenario is a configuration error (raised by the
    caller with the reason); ``auto`` falls back to the event engine.
    """
    asked = scenario.run.engine
    reason = why_not_fast(scenario)
    if asked == "events":
        return "events", "run.engine: events"
    if reason is None:
        return "fast", None
    return "events", reason

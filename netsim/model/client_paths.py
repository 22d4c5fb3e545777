"""How each client's requests reach the cluster: entry path, discovery, connections, live senders.

The World calls these once per client while it assembles a run. What they
choose is fixed for the run, so the hot path never asks again: a client gets the
``_connect``/``respond`` of its entry path (in-cluster through its node's
kube-proxy, NodePort at an entry node, a cloud load balancer, an ExternalName's
CNAME; model/entry.py), its resolver (cluster DNS or env vars), its first-packet
costs and connection pool (model/connections.py), and, under churn, the set of
its pods that are up (model/client_pods.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netsim.distributions import BlockSampler
from netsim.k8s.objects import ServiceType, TrafficPolicy
from netsim.model.client import Client
from netsim.model.client_pods import LiveSenders
from netsim.model.connections import ConnectionPool, ExternalConnectionPool
from netsim.model.dns import NoDns
from netsim.model.entry import (
    AffinityEntry,
    ExternalNameEntry,
    LoadBalancerEntry,
    NodePortEntry,
    discovery_guard,
    no_endpoint_outcome,
)
from netsim.model.first_packet import FirstPacketCost
from netsim.model.kube_proxy import draw_rule_position
from netsim.model.load_balancer import CloudLoadBalancer

if TYPE_CHECKING:
    from netsim.model.world import World
    from netsim.spec import ClientSpec


def give_entry_path(world: World, client: Client, spec: ClientSpec) -> None:
    """Give ``client`` the path its Service type and location imply (model/entry.py)."""
    scenario = world.run.scenario
    s = client.service
    service, table = world.services[s], world.tables[s]
    pods = range(client.pod_offset, client.pod_offset + len(client.pod_nodes))
    deferred = scenario.created_at.get(f"Service/{service.name}", 0.0) > 0.0
    deleted = any(e.action == "delete" and e.target == f"Service/{service.name}" for e in scenario.churn)
    if spec.location == "external":
        client._dns = NoDns()
        local = service.external_traffic_policy is TrafficPolicy.LOCAL
        entry: NodePortEntry | LoadBalancerEntry
        if service.type is ServiceType.LOAD_BALANCER and not spec.entry_nodes:
            lb = world.load_balancers.get(s)
            if lb is None:
                lb = world.load_balancers[s] = CloudLoadBalancer(
                    world.env, scenario.load_balancer, service.name, local, scenario.nodes, table,
                    world.pod_names, world.streams.rng("routing", f"lb/{service.name}"),
                    world.streams.rng("health", f"lb/{service.name}"),
                )
            entry = LoadBalancerEntry(client, world.network, world.pods, world.proxies, s, table, local, lb,
                                      BlockSampler(lb.spec.latency, world.streams.rng("network", f"lb/{service.name}")))
            client.entry_hops = 2
            client.ip_preserved = int(lb.spec.preserves_client_ip and (local or not lb.instance))
        else:
            entry = NodePortEntry(client, world.network, world.pods, world.proxies, s, table, local,
                                  spec.entry_nodes or range(len(scenario.nodes)), world.streams.rng("routing", f"entry/{spec.name}"))
            client.entry_hops = 1
            client.ip_preserved = int(local)
        client._connect = entry.connect  # type: ignore[method-assign]
        client.respond = entry.respond  # type: ignore[method-assign]
        if any(e.action in ("fail", "drain") for e in scenario.churn):
            entry.node_up = world.node_up
        # per-request keeps the entry's own path, untouched, unless a stateful IPVS scheduler (lc, wlc, sed,
        # nq) must see each connection close to release its count: the pool does that
        stateful = getattr(world.proxies[0].external_picker(s), "stateful", False) if service.type.reachable_from_outside else False
        if spec.connections.mode != "per-request" or stateful:
            client.pool = ExternalConnectionPool(client, spec.connections, world.pods, world._connection_ids, entry)  # type: ignore[attr-defined]
        return
    if spec.discovery == "env":
        client._dns = NoDns()
    else:
        per_try = 2 if scenario.cluster.dns.aaaa else 1
        is_cname = service.type is ServiceType.EXTERNAL_NAME
        world.dns.register(pods, spec.dns_queries, spec.dns_nx_queries, per_try, is_cname, s if deferred or deleted else -1)
    if service.type is ServiceType.EXTERNAL_NAME:
        host = ExternalNameEntry(client, world.network, world.pods,
                                 BlockSampler(scenario.external_hosts[service.name], world.streams.rng("service", f"external/{service.name}")))
        client._connect = host.connect  # type: ignore[method-assign]
        client.entry_hops, client.ip_preserved = 1, 0
    else:
        local = service.internal_traffic_policy is TrafficPolicy.LOCAL
        if local:
            client.why_no_endpoint = lambda request, table=table: no_endpoint_outcome(table, True)
        if service.session_affinity == "ClientIP":
            client._connect = AffinityEntry(client, world.network, world.pods, world.proxies, s, table, local).connect  # type: ignore[method-assign]
    if deferred or (deleted and spec.discovery == "dns"):
        # env vars are fixed at pod start (t = 0 here): a Service created later is never among them
        nxdomain = None if spec.discovery == "env" else world.dns.nxdomain
        client._connect = discovery_guard(client, client._connect, nxdomain)  # type: ignore[method-assign]

def follow_live_senders(world: World, client: Client, spec: ClientSpec) -> None:
    """Under churn, an in-cluster client sends from its pods that are up now (model/client_pods.py)."""
    scenario = world.run.scenario
    if spec.location == "external":
        return
    if spec.from_deployment is None:
        if any(e.action == "fail" for e in scenario.churn):
            client.live = LiveSenders(client.pod_nodes, world.node_up, client._dns, client.pod_offset)
        return
    if scenario.churn or scenario.autoscalers:
        pods = [p.index for p in world.pods if p.deployment == spec.from_deployment]
        client.live = LiveSenders(client.pod_nodes, world.node_up, client._dns, client.pod_offset, pods)
        world.live_senders.setdefault(spec.from_deployment, []).append(client.live)

def give_connections(world: World, client: Client, spec: ClientSpec) -> None:
    """First-packet costs and the connection pool of an in-cluster client (model/connections.py).

    External clients get their pool with their entry path (:func:`give_entry_path`).
    """
    scenario = world.run.scenario
    service = world.services[client.service]
    if spec.location == "external":
        return  # pooled in give_entry_path, which knows the entry
    if service.type is ServiceType.EXTERNAL_NAME:
        if spec.connections.mode != "per-request":
            world.warnings.append(f"clients.{spec.name}.connections: an ExternalName host is outside kube-proxy; one connection per request")
        return
    config = scenario.cluster.kube_proxy
    rules = scenario.cluster.background_services + len(scenario.services)
    costs = []
    for node in scenario.nodes:
        rng = world.streams.rng("network", f"first-packet/{node.name}/{service.name}/{spec.name}")
        position = draw_rule_position(rng, rules)
        costs.append(FirstPacketCost(config, position, rng, rules))
    client.first_packet = costs  # type: ignore[assignment]
    picker = client._pickers[0] if client._pickers else None
    pooled = spec.connections.mode != "per-request" or getattr(picker, "stateful", False) or (
        config.mode == "ipvs" and config.ipvs_scheduler in ("sh", "dh", "mh")
    )
    if not pooled:
        return
    affinity = None
    if service.session_affinity == "ClientIP":
        proxies = world.proxies

        def affinity(request, picker, s=client.service, offset=client.pod_offset):  # type: ignore[no-untyped-def]
            return proxies[request.node].affinity[s].pick(offset + request.client_pod, world.env._now, picker)
    client.pool = ConnectionPool(client, spec.connections, world.pods, world._connection_ids, affinity)  # type: ignore[attr-defined]

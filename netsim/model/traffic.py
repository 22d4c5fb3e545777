"""Builds the traffic of a run: every route (model/route.py), the clients that send on them, and the calls of pods.

One builder makes every route, whoever sends on it, from the same parts: the
sender's discovery (cluster DNS, env vars, or none for users outside), the
entry its location and the Service's type imply (model/entry.py), the
connection layer (model/connections.py), its timeout and retry policy. A
client's route has a slot per client pod (or per external address); a calling
Deployment's route to a Service gets a slot per pod the first time that pod
calls. What the builder chooses is fixed for the run: nothing is replaced later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import count
from typing import TYPE_CHECKING, Any

import numpy as np

from netsim.distributions import BlockSampler
from netsim.k8s.objects import ServiceType, TrafficPolicy
from netsim.model import cilium, mesh
from netsim.model.client import Client, ClosedLoopClient
from netsim.model.client_pods import LiveSenders, sender_slots
from netsim.model.connections import PerRequest, connection_layer
from netsim.model.dns import CoreDns, DnsDiscovery, EnvDiscovery, NoDiscovery
from netsim.model.entry import CALLER_IP_BASE, ClusterIpEntry, Entry, ExternalNameEntry
from netsim.model.first_packet import LB_IP_DESTINATION, FirstPacketCost, costs_nothing
from netsim.model.kube_proxy import KubeProxy, draw_rule_position
from netsim.model.load_balancer import CloudLoadBalancer
from netsim.model.network import Network
from netsim.model.route import RETRYABLE, RetryPolicy, Route
from netsim.routing import HASH_SCHEDULERS

if TYPE_CHECKING:
    from netsim.config.churn_events import RetryConfig
    from netsim.config.schema import ConnectionsConfig
    from netsim.model.cluster import Cluster
    from netsim.model.streams import Streams
    from netsim.recorder import Recorder
    from netsim.spec import CallPolicy, ClientSpec, ScenarioSpec


class TrafficBuilder:
    """Routes, clients and the routes of calls, for one run."""

    def __init__(
        self, cluster: Cluster, scenario: ScenarioSpec, streams: Streams, network: Network, proxies: list[KubeProxy],
        dns: CoreDns, recorder: Recorder, retry_log: list[tuple[float, int]], ids: count,
        lb_probe: Callable[[CloudLoadBalancer, int], bool | None] | None,
        lb_in_service: Callable[[int], Callable[[int], None] | None],
        call_retry_log: Callable[[float, Any], None],
    ) -> None:
        self.cluster = cluster
        self.scenario = scenario
        self.streams = streams
        self.network = network
        self.proxies = proxies
        self.dns = dns
        self.recorder = recorder
        self.retry_log = retry_log
        self.ids = ids
        """Request ids (one counter for every sender: ids are unique in the run)."""
        self.connection_ids = count()
        self.load_balancers: dict[int, CloudLoadBalancer] = {}
        self._lb_probe = lb_probe
        self._lb_in_service = lb_in_service
        self._call_retry_log = call_retry_log
        self.service_index = {s.name: i for i, s in enumerate(cluster.services)}
        self._every_node = tuple(range(len(scenario.nodes)))
        """The slots' nodes of every client with a pod per node: one tuple shared by them all (read-only)."""
        self._operation_ids = {name: i for i, name in enumerate(scenario.operation_names)}
        """Operation name -> index (scenario.operation_names walks every workload and client: once, not per client)."""
        self.live_senders: dict[str, list[LiveSenders]] = {}
        """Per ``from:`` Deployment, the clients whose slots follow its Ready pods (under churn)."""
        self._rules = scenario.cluster.background_services + len(scenario.services)
        self._node_failures = any(e.action in ("fail", "drain") for e in scenario.churn)
        self.mesh = mesh.build(cluster, scenario, streams)

    # -- the parts of a route -----------------------------------------------------------------

    def first_packet(self, service: str, sender: str, last_rule: bool = False) -> Callable[[int], Callable[[], float] | None]:
        """Per node, the first-packet cost of a new connection from ``sender`` to ``service`` (built on first use).

        ``last_rule``: the packet is headed to nodeIP:nodePort and matches ``KUBE-NODEPORTS``, the last rule
        of ``KUBE-SERVICES`` (model/first_packet.py). None where the mode costs nothing: no sampler, no draws."""
        config = self.scenario.cluster.node_proxy
        if costs_nothing(config, self._rules):
            return lambda node: None
        nodes = self.scenario.nodes

        def build(node: int) -> Callable[[], float]:
            rng = self.streams.rng("network", f"first-packet/{nodes[node].name}/{service}/{sender}")
            return FirstPacketCost(config, draw_rule_position(rng, self._rules), rng, self._rules, last_rule)

        return build

    def _stateful(self, s: int, external: bool) -> bool:
        """Does a connection have to be opened through the scheduler (it counts them, or hashes the source)?"""
        picker = self.proxies[0].external_picker(s) if external else self.proxies[0].picker(s)
        config = self.scenario.cluster.node_proxy
        hashing = not external and config.mode == "ipvs" and config.ipvs_scheduler in HASH_SCHEDULERS
        return bool(getattr(picker, "stateful", False)) or hashing

    def _retry(self, config: RetryConfig | None, stream: str, log: Callable[[float, Any], None]) -> RetryPolicy | None:
        if config is None:
            return None
        backoff = BlockSampler(config.backoff, self.streams.rng("arrivals", stream))
        return RetryPolicy(config.attempts, {outcome for kind in config.on for outcome in RETRYABLE[kind]}, backoff, log)

    def _in_cluster_entry(self, s: int, sender: str, host_stream: str, meshed: bool = True) -> Entry:
        cluster = self.cluster
        service = cluster.services[s]
        if service.type is ServiceType.EXTERNAL_NAME:
            host = BlockSampler(self.scenario.external_hosts[service.name], self.streams.rng("service", host_stream))
            return ExternalNameEntry(cluster.env, self.network, cluster.pods, host)
        if self.mesh is not None and meshed:
            return mesh.mesh_entry(self.mesh, cluster.env, self.network, cluster.pods, s, len(self.scenario.nodes))
        return ClusterIpEntry(
            cluster.env, self.network, cluster.pods, self.proxies, s, cluster.tables[s],
            service.internal_traffic_policy is TrafficPolicy.LOCAL, self.first_packet(service.name, sender),
            service.session_affinity == "ClientIP",
        )

    def _layer(self, entry: Entry, s: int, config: ConnectionsConfig, external: bool, warn: str) -> Any:
        entry.connection_ids = self.connection_ids
        if isinstance(entry, ExternalNameEntry):
            if config.mode != "per-request":
                self.cluster.warnings.append(f"{warn}: an ExternalName host is outside kube-proxy; one connection per request")
            return PerRequest(entry, False)
        if isinstance(entry, mesh.PerRequestMeshEntry):
            return mesh.MeshLayer(entry)
        return connection_layer(entry, config, self._stateful(s, external), self.cluster.env)

    def _discovery(self, s: int, discovery: str, queries: int, nx_queries: int) -> tuple[Any, bool]:
        """The sender's resolver for Service ``s``, and whether its requests must check that the name resolved."""
        scenario = self.scenario
        service = self.cluster.services[s]
        deferred = scenario.created_at.get(f"Service/{service.name}", 0.0) > 0.0
        deleted = any(e.action == "delete" and e.target == f"Service/{service.name}" for e in scenario.churn)
        if discovery == "env":  # env vars are fixed at pod start (t = 0 here): a Service created later is never among them
            return EnvDiscovery(not deferred), deferred
        per_try = 2 if scenario.cluster.dns.aaaa else 1
        is_cname = service.type is ServiceType.EXTERNAL_NAME
        return DnsDiscovery(self.dns, queries, nx_queries, per_try, is_cname, s), deferred or deleted

    # -- clients --------------------------------------------------------------------------------

    def client(self, index: int, spec: ClientSpec, pod_offset: int) -> Client | ClosedLoopClient:
        """A client with its route; ``pod_offset`` numbers its client pods' IPs after earlier clients'."""
        cluster = self.cluster
        scenario = self.scenario
        s = self.service_index[spec.service]
        service = cluster.services[s]
        log = self.retry_log

        def logged(t: float, request: Any, index: int = index) -> None:
            log.append((t, index))

        retry = self._retry(spec.retries, f"retries/{spec.name}", logged)
        if spec.location == "external":
            entry = self._external_entry(index, spec, s)
            layer = self._layer(entry, s, spec.connections, True, f"clients.{spec.name}.connections")
            route = Route(cluster.env, NoDiscovery(), False, layer, entry, spec.timeout, retry, s, spec.connect_timeout)
            for _ in range(spec.source_ips):
                route.add_slot(0, 0)  # an address outside: the node is chosen as it enters
        else:
            discovery, guarded = self._discovery(s, spec.discovery, spec.dns_queries, spec.dns_nx_queries)
            meshed = spec.from_deployment is None or scenario.workloads[spec.from_deployment].mesh
            entry = self._in_cluster_entry(s, spec.name, f"external/{service.name}", meshed)
            layer = self._layer(entry, s, spec.connections, False, f"clients.{spec.name}.connections")
            route = Route(cluster.env, discovery, guarded, layer, entry, mesh.timeout(self.mesh, spec.timeout), retry, s, spec.connect_timeout)
            nodes = self._client_pod_nodes(spec)
            route.set_slots(nodes, range(pod_offset, pod_offset + len(nodes)))
        stop = scenario.run.warmup + scenario.run.duration
        rng = self.streams.rng("arrivals", spec.name)
        interned = self._operation_ids
        if spec.closed is not None:
            closed = spec.closed
            return ClosedLoopClient(
                cluster.env, index, spec.name, route, closed.users, BlockSampler(closed.think_time, rng),
                [tuple(interned[op] for op in task) for task in closed.tasks], closed.weights,
                tuple(interned[op] for op in closed.on_start), stop, self.streams.rng("arrivals", f"{spec.name}/tasks"),
                self.ids, self.recorder,
            )
        return Client(
            cluster.env, index, spec.name, route, spec.rate, stop, rng, self.ids, self.recorder,
            self._operation_chooser(spec, interned), spec.rate_steps, self._live(spec, route),
        )

    def _operation_chooser(self, spec: ClientSpec, interned: dict[str, int]) -> Callable[[], int] | None:
        """Draws each request's operation by weight, from its own stream (arrivals stay as they are); None: always one."""
        ops = [interned[name] for name in spec.operations]
        if len(ops) == 1 or not spec.operation_weights:
            only = ops[0]
            return None if only == interned["default"] else (lambda: only)
        weights = np.asarray(spec.operation_weights, dtype=float)
        cumulative = np.cumsum(weights / weights.sum())
        rng = self.streams.rng("arrivals", f"{spec.name}/operations")
        block: list[int] = []

        def choose() -> int:
            if not block:
                block.extend(np.asarray(ops)[np.minimum(np.searchsorted(cumulative, rng.random(4096), side="right"), len(ops) - 1)].tolist())
                block.reverse()
            return block.pop()

        return choose

    def _client_pod_nodes(self, spec: ClientSpec) -> Sequence[int]:
        """The node of each of an in-cluster client's pods (slots): one per node, or its Deployment's pods."""
        scenario = self.scenario
        if spec.from_deployment is None:
            return self._every_node
        nodes = [p.node for p in self.cluster.pods if p.deployment == spec.from_deployment]
        if scenario.churn or scenario.autoscalers:  # room for the pods churn creates (model/client_pods.py)
            d = self.cluster.deployments[spec.from_deployment]
            slots = sender_slots(d.name, d.replicas, scenario.churn, scenario.autoscalers)
            nodes += [0] * max(0, slots - len(nodes))
        elif not nodes:
            self.cluster.warnings.append(f"clients.{spec.name}: Deployment/{spec.from_deployment} has no running pods, so the client sends nothing")
        return nodes

    def _live(self, spec: ClientSpec, route: Route) -> LiveSenders | None:
        """Under churn, an in-cluster client sends from its pods that are up now (model/client_pods.py)."""
        scenario = self.scenario
        if spec.location == "external":
            return None
        if spec.from_deployment is None:
            if any(e.action == "fail" for e in scenario.churn):
                return LiveSenders(route.slot_node, self.cluster.node_up, route.discovery)
            return None
        if scenario.churn or scenario.autoscalers:
            pods = [p.index for p in self.cluster.pods if p.deployment == spec.from_deployment]
            live = LiveSenders(route.slot_node, self.cluster.node_up, route.discovery, pods)
            self.live_senders.setdefault(spec.from_deployment, []).append(live)
            return live
        return None

    def _external_entry(self, index: int, spec: ClientSpec, s: int) -> Entry:
        cluster = self.cluster
        scenario = self.scenario
        service = cluster.services[s]
        local = service.external_traffic_policy is TrafficPolicy.LOCAL
        node_up = cluster.node_up if self._node_failures else None
        node_port_entry, lb_entry = cilium.entry_classes(scenario.cluster)
        if service.type is ServiceType.LOAD_BALANCER and not spec.entry_nodes:
            lb = self.load_balancers.get(s)
            if lb is None:
                lb = self.load_balancers[s] = CloudLoadBalancer(
                    cluster.env, scenario.load_balancer, service.name, local, scenario.nodes, cluster.tables[s],  # type: ignore[arg-type]
                    cluster.pods, self.streams.rng("routing", f"lb/{service.name}"), self.streams.rng("health", f"lb/{service.name}"),
                    self._lb_probe, self._lb_in_service(s),
                )
            latency = BlockSampler(lb.spec.latency, self.streams.rng("network", f"lb/{service.name}"))
            node_port = scenario.load_balancer.provider not in LB_IP_DESTINATION  # type: ignore[union-attr]
            return lb_entry(cluster.env, self.network, cluster.pods, self.proxies, s, cluster.tables[s], local, index,
                            node_up, lb, latency, self.first_packet(service.name, spec.name, node_port))
        return node_port_entry(cluster.env, self.network, cluster.pods, self.proxies, s, cluster.tables[s], local, index, node_up,
                               spec.entry_nodes or range(len(scenario.nodes)), self.streams.rng("routing", f"entry/{spec.name}"),
                               self.first_packet(service.name, spec.name, True))

    # -- calls ----------------------------------------------------------------------------------

    def call_route(self, deployment: str, service: str, policy: CallPolicy) -> Route:
        """How ``deployment``'s pods call ``service``: the same parts as an in-cluster client's route."""
        s = self.service_index[service]
        cluster = self.cluster
        discovery, guarded = self._discovery(s, policy.discovery, policy.dns_queries, policy.dns_nx_queries)
        entry = self._in_cluster_entry(s, deployment, f"external/{service}/{deployment}", self.scenario.workloads[deployment].mesh)
        layer = self._layer(entry, s, policy.connections, False, f"workloads.{deployment}.calls.connections")
        retry = self._retry(policy.retries, f"retries/{deployment}/{service}", self._call_retry_log)
        return Route(cluster.env, discovery, guarded, layer, entry, mesh.timeout(self.mesh, policy.timeout), retry, s, policy.connect_timeout)


def caller_ip(pod: int) -> int:
    """The address kube-proxy sees for a calling pod."""
    return CALLER_IP_BASE + pod

"""Builds the simulated cluster of one run from its :class:`~netsim.spec.RunSpec`.

Order matters only for readability: nodes, then pods placed by the scheduler,
then each Service's endpoints (pods its selector matches whose target port
resolves), then a kube-proxy per node with a picker per Service, then DNS and
the clients, then each client's entry path (model/entry.py), the cloud load
balancers and the churn process.
"""

from __future__ import annotations

from itertools import count

import numpy as np
import simpy

from netsim.distributions import BlockSampler
from netsim.k8s.manifests import resolve_target_port
from netsim.k8s.objects import ServiceType, TrafficPolicy
from netsim.k8s.selectors import matches_equality
from netsim.model.churn import Churn
from netsim.model.client import Client
from netsim.model.connections import ConnectionPool
from netsim.model.dns import ClusterDns, NoDns
from netsim.model.entry import (
    AffinityEntry,
    ExternalNameEntry,
    LoadBalancerEntry,
    NodePortEntry,
    discovery_guard,
    no_endpoint_outcome,
)
from netsim.model.first_packet import extra_cost_s
from netsim.model.kube_proxy import (
    ClientIpAffinity,
    KubeProxy,
    NodeLocalView,
    draw_first_packet_jitter,
    draw_rule_position,
    first_packet_cost,
    make_picker,
    topology_preference,
)
from netsim.model.load_balancer import CloudLoadBalancer
from netsim.model.network import Network
from netsim.model.pod import Pod
from netsim.model.scheduler import place_pods
from netsim.model.streams import Streams
from netsim.recorder import Recorder
from netsim.routing import EndpointTable
from netsim.spec import ChurnEventSpec, RunSpec


class World:
    """The cluster of one run: its environment, components and recorder."""

    def __init__(self, run: RunSpec) -> None:
        scenario = run.scenario
        self.run = run
        self.env = simpy.Environment()
        self.streams = Streams(run.seed_sequence)
        self.recorder = Recorder()
        self.nodes = scenario.nodes
        self.network = Network(scenario.cluster.network, scenario.nodes, self.streams.rng("network", "hops"))
        placements, self.warnings = place_pods(scenario.deployments, scenario.nodes)
        deployments = {d.name: d for d in scenario.deployments}
        self.pods: list[Pod] = []
        for index, placement in enumerate(placements):
            workload = scenario.workloads[placement.deployment]
            self.pods.append(Pod(
                self.env, index, placement.name, placement.deployment, placement.node,
                deployments[placement.deployment].pod_labels, workload.concurrency, workload.queue_limit,
                BlockSampler(workload.service_time, self.streams.rng("service", placement.name)),
            ))
        self.services = [s for s in scenario.services if s.name in {c.service for c in scenario.clients}]
        self.tables = [self._endpoints(i) for i in range(len(self.services))]
        self.proxies = [self._kube_proxy(n) for n in range(len(scenario.nodes))]
        self.clients = self._clients()
        self.dns = ClusterDns(scenario.cluster.dns, self.streams.rng("dns", "coredns"), sum(len(c.pod_nodes) for c in self.clients))
        self.dns.exists = [scenario.created_at.get(s.name, 0.0) <= 0.0 for s in self.services]
        self.load_balancers: dict[int, CloudLoadBalancer] = {}
        self._connection_ids = count()
        for client, spec in zip(self.clients, scenario.clients, strict=True):
            client._dns = self.dns
            self._entry_path(client, spec)
            self._connections(client, spec)
        self.churn = Churn(self.env, scenario.churn, self._apply)
        self.drained = self.env.event()
        self._busy_clients = len(self.clients)

    def _kube_proxy(self, n: int) -> KubeProxy:
        """Node ``n``'s kube-proxy: per Service an in-cluster picker, a nodePort picker, ClientIP affinity.

        Traffic policies filter here: ``Local`` gives the node a view of its own endpoints only.
        """
        scenario = self.run.scenario
        config = scenario.cluster.kube_proxy
        node = scenario.nodes[n].name
        internal, external, affinity = {}, {}, {}
        for s, table in enumerate(self.tables):
            service = self.services[s]
            local = service.internal_traffic_policy is TrafficPolicy.LOCAL
            view = NodeLocalView(table, n) if local else table
            prefer = None if local else topology_preference(
                service.traffic_distribution, service.topology_mode, table.nodes,
                [x.zone for x in scenario.nodes], [x.cpu for x in scenario.nodes], n,
            )
            internal[s] = make_picker(config, view, self.streams.rng("routing", f"{node}/{service.name}"), s, prefer)  # type: ignore[arg-type]
            if service.type.reachable_from_outside:
                local = service.external_traffic_policy is TrafficPolicy.LOCAL
                view = NodeLocalView(table, n) if local else table
                external[s] = make_picker(config, view, self.streams.rng("routing", f"{node}/{service.name}/external"))  # type: ignore[arg-type]
            if service.session_affinity == "ClientIP":
                affinity[s] = ClientIpAffinity(table, service.affinity_timeout_s)
        return KubeProxy(n, config, internal, external, affinity)

    def _entry_path(self, client: Client, spec) -> None:  # type: ignore[no-untyped-def]
        """Give ``client`` the path its Service type and location imply (model/entry.py)."""
        scenario = self.run.scenario
        s = client.service
        service, table = self.services[s], self.tables[s]
        pods = range(client.pod_offset, client.pod_offset + len(client.pod_nodes))
        deferred = scenario.created_at.get(service.name, 0.0) > 0.0
        if spec.location == "external":
            client._dns = NoDns()
            local = service.external_traffic_policy is TrafficPolicy.LOCAL
            entry: NodePortEntry | LoadBalancerEntry
            if service.type is ServiceType.LOAD_BALANCER and not spec.entry_nodes:
                lb = self.load_balancers.get(s)
                if lb is None:
                    lb = self.load_balancers[s] = CloudLoadBalancer(
                        self.env, scenario.load_balancer, service.name, local, scenario.nodes, table,
                        [p.name for p in self.pods], self.streams.rng("routing", f"lb/{service.name}"),
                        self.streams.rng("health", f"lb/{service.name}"),
                    )
                entry = LoadBalancerEntry(client, self.network, self.pods, self.proxies, s, table, local, lb,
                                          BlockSampler(lb.spec.latency, self.streams.rng("network", f"lb/{service.name}")))
                client.entry_hops = 2
                client.ip_preserved = int(lb.spec.preserves_client_ip and (local or not lb.instance))
            else:
                entry = NodePortEntry(client, self.network, self.pods, self.proxies, s, table, local,
                                      spec.entry_nodes or range(len(scenario.nodes)), self.streams.rng("routing", f"entry/{spec.name}"))
                client.entry_hops = 1
                client.ip_preserved = int(local)
            client._connect = entry.connect  # type: ignore[method-assign]
            client.respond = entry.respond  # type: ignore[method-assign]
            return
        if spec.discovery == "env":
            client._dns = NoDns()
        else:
            per_try = 2 if scenario.cluster.dns.aaaa else 1
            is_cname = service.type is ServiceType.EXTERNAL_NAME
            self.dns.register(pods, spec.dns_queries, spec.dns_nx_queries, per_try, is_cname, s if deferred else -1)
        if service.type is ServiceType.EXTERNAL_NAME:
            host = ExternalNameEntry(client, self.network, self.pods,
                                     BlockSampler(scenario.external_hosts[service.name], self.streams.rng("service", f"external/{service.name}")))
            client._connect = host.connect  # type: ignore[method-assign]
            client.entry_hops, client.ip_preserved = 1, 0
        else:
            local = service.internal_traffic_policy is TrafficPolicy.LOCAL
            if local:
                client.why_no_endpoint = lambda request, table=table: no_endpoint_outcome(table, True)
            if service.session_affinity == "ClientIP":
                client._connect = AffinityEntry(client, self.network, self.pods, self.proxies, s, table, local).connect  # type: ignore[method-assign]
        if deferred:
            # env vars are fixed at pod start (t = 0 here): a Service created later is never among them
            nxdomain = None if spec.discovery == "env" else self.dns.nxdomain
            client._connect = discovery_guard(client, client._connect, nxdomain)  # type: ignore[method-assign]

    def _connections(self, client: Client, spec) -> None:  # type: ignore[no-untyped-def]
        """First-packet costs and the connection pool of an in-cluster client (model/connections.py)."""
        scenario = self.run.scenario
        service = self.services[client.service]
        if spec.location == "external" or service.type is ServiceType.EXTERNAL_NAME:
            if spec.connections.mode != "per-request":
                self.warnings.append(f"clients.{spec.name}.connections: only in-cluster clients pool connections; this one opens one per request")
            return
        config = scenario.cluster.kube_proxy
        rules = scenario.cluster.background_services + len(scenario.services)
        costs = []
        for node in scenario.nodes:
            rng = self.streams.rng("network", f"first-packet/{node.name}/{service.name}/{spec.name}")
            position = draw_rule_position(rng, rules)
            costs.append(_FirstPacket(config, position, rng, rules))
        client.first_packet = costs  # type: ignore[assignment]
        picker = client._pickers[0] if client._pickers else None
        pooled = spec.connections.mode != "per-request" or getattr(picker, "stateful", False) or (
            config.mode == "ipvs" and config.ipvs_scheduler in ("sh", "dh", "mh")
        )
        if not pooled:
            return
        affinity = None
        if service.session_affinity == "ClientIP":
            proxies = self.proxies

            def affinity(request, picker, s=client.service, offset=client.pod_offset):  # type: ignore[no-untyped-def]
                return proxies[request.node].affinity[s].pick(offset + request.client_pod, self.env._now, picker)
        client.pool = ConnectionPool(client, spec.connections, self.pods, self._connection_ids, affinity)  # type: ignore[attr-defined]

    def remove_endpoint(self, pod: int) -> None:
        """Delete a pod at once: not ready everywhere, and gone, so connections pinned to it fail.

        (The churn issue adds graceful termination and propagation delays; this is the abrupt case.)
        """
        self.pods[pod].gone = True
        self.set_endpoint_ready(pod, False)

    def _apply(self, event: ChurnEventSpec) -> None:
        """A churn event: a deferred Service comes to exist (DNS record and kube-proxy rules)."""
        names = [s.name for s in self.services]
        if event.kind == "Service" and event.name in names:
            self.dns.exists[names.index(event.name)] = True

    def set_endpoint_ready(self, pod: int, ready: bool) -> None:
        """Set a pod's EndpointSlice ``ready`` condition everywhere and make every kube-proxy see it.

        (Propagation and sync delays are the churn issue's; here the change is immediate.)
        """
        for table in self.tables:
            table.ready[table.pods == pod] = ready
        for proxy in self.proxies:
            for picker in proxy.all_pickers():
                picker.invalidate()

    def _endpoints(self, service_index: int) -> EndpointTable:
        """The EndpointSlice of one Service port: matching pods whose target port resolves."""
        service = self.services[service_index]
        port = next(c.port for c in self.run.scenario.clients if c.service == service.name)
        deployments = {d.name: d for d in self.run.scenario.deployments}
        pods, nodes, ports = [], [], []
        for pod in self.pods:
            if service.type is ServiceType.EXTERNAL_NAME:
                break  # a CNAME: its selector, if any, is ignored
            if service.selector and matches_equality(service.selector, pod.labels):
                target = resolve_target_port(port, deployments[pod.deployment].container_ports)
                if target is not None:
                    pods.append(pod.index)
                    nodes.append(pod.node)
                    ports.append(target)
        return EndpointTable.build(pods, nodes, ports)

    def _clients(self) -> list[Client]:
        scenario = self.run.scenario
        start, end = scenario.run.warmup, scenario.run.warmup + scenario.run.duration
        service_index = {s.name: i for i, s in enumerate(self.services)}
        clients, offset = [], 0
        for index, spec in enumerate(scenario.clients):
            if spec.location == "external":
                pod_nodes = [0] * spec.source_ips  # client addresses; the node is chosen on entry
            elif spec.from_deployment is None:
                pod_nodes = list(range(len(scenario.nodes)))
            else:
                pod_nodes = [p.node for p in self.pods if p.deployment == spec.from_deployment]
                if not pod_nodes:
                    self.warnings.append(f"clients.{spec.name}: Deployment/{spec.from_deployment} has no running pods, so the client sends nothing")
                    pod_nodes = []
            client = Client(
                self.env, index, spec.name, service_index[spec.service], spec.rate, spec.timeout,
                pod_nodes, offset, end, self.streams.rng("arrivals", spec.name), None,  # type: ignore[arg-type]
                self.proxies, self.pods, self.network, self.recorder,
            )
            client.on_idle = self._client_idle
            clients.append(client)
            offset += len(pod_nodes)
        _ = start
        return clients

    def _client_idle(self) -> None:
        self._busy_clients -= 1
        if self._busy_clients == 0 and not self.drained.triggered:
            self.drained.succeed()

    def start(self) -> None:
        for lb in self.load_balancers.values():
            lb.start()
        self.churn.start()
        for client in self.clients:
            if client.pod_nodes:
                client.start()
            else:
                self._client_idle()
        if not self.clients:
            self.drained.succeed()


class _FirstPacket:
    """One node's first-packet cost for one client's Service, per new connection.

    ``measured`` (default): drawn from the published measurement for this cluster size
    (model/first_packet.py). ``linear``: this node's rule position is fixed, jitter per connection.
    """

    BLOCK = 4096

    def __init__(self, config, position: float, rng: np.random.Generator, services: int) -> None:  # type: ignore[no-untyped-def]
        self._config = config
        self._position = position
        self._services = services
        self._rng = rng
        self._values: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        i = self._i
        if i >= len(self._values):
            if self._config.first_packet.model == "measured":
                self._values = extra_cost_s(self._config.mode, self._services, self._rng.random(self.BLOCK)).tolist()
            else:
                jitter = draw_first_packet_jitter(self._config, self._rng, self.BLOCK)
                self._values = first_packet_cost(self._config, np.full(self.BLOCK, self._position), jitter).tolist()
            i = 0
        self._i = i + 1
        return self._values[i]

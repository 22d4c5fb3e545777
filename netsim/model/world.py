"""Builds the simulated cluster of one run from its :class:`~netsim.spec.RunSpec`.

Order matters only for readability: nodes, then pods placed by the scheduler,
then each Service's endpoints (pods its selector matches whose target port
resolves), then a kube-proxy per node with a picker per Service, then DNS and
the clients.
"""

from __future__ import annotations

import simpy

from netsim.distributions import BlockSampler
from netsim.k8s.manifests import resolve_target_port
from netsim.k8s.selectors import matches_equality
from netsim.model.client import Client
from netsim.model.dns import ClusterDns
from netsim.model.kube_proxy import KubeProxy, make_picker
from netsim.model.network import Network
from netsim.model.pod import Pod
from netsim.model.scheduler import place_pods
from netsim.model.streams import Streams
from netsim.recorder import Recorder
from netsim.routing import EndpointTable
from netsim.spec import RunSpec


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
        self.proxies = [
            KubeProxy(n, scenario.cluster.kube_proxy, {
                s: make_picker(scenario.cluster.kube_proxy, table, self.streams.rng("routing", f"{node.name}/{self.services[s].name}"))
                for s, table in enumerate(self.tables)
            })
            for n, node in enumerate(scenario.nodes)
        ]
        self.clients = self._clients()
        self.dns = ClusterDns(scenario.cluster.dns, self.streams.rng("dns", "coredns"), sum(len(c.pod_nodes) for c in self.clients))
        for client in self.clients:
            client._dns = self.dns
        self.drained = self.env.event()
        self._busy_clients = len(self.clients)

    def _endpoints(self, service_index: int) -> EndpointTable:
        """The EndpointSlice of one Service port: matching pods whose target port resolves."""
        service = self.services[service_index]
        port = next(c.port for c in self.run.scenario.clients if c.service == service.name)
        deployments = {d.name: d for d in self.run.scenario.deployments}
        pods, nodes, ports = [], [], []
        for pod in self.pods:
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
            if spec.from_deployment is None:
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
        for client in self.clients:
            if client.pod_nodes:
                client.start()
            else:
                self._client_idle()
        if not self.clients:
            self.drained.succeed()

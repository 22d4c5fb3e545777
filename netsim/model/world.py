"""Builds the simulated cluster of one run from its :class:`~netsim.spec.RunSpec`.

Order matters only for readability: nodes, then pods placed by the scheduler,
then each Service's endpoints (pods its selector matches whose target port
resolves) and their propagation to every node (model/endpoint_slices.py), then
a kube-proxy per node over its own view, then DNS and the clients (with their
retries), then each client's entry path, connections and senders (model/client_paths.py), the cloud load
balancers, and the control plane: the kubelet (model/pod_lifecycle.py), the
Deployment, HPA and node controllers (model/controllers.py) and the churn
process (model/churn.py). Pods created during the run get the next index and a
new name (``web-7``…); every pod that ever existed stays in :attr:`World.pods`.
"""

from __future__ import annotations

from itertools import count
from typing import TYPE_CHECKING

import simpy

from netsim.distributions import BlockSampler
from netsim.k8s.manifests import resolve_target_port
from netsim.k8s.objects import ServiceType, TrafficPolicy
from netsim.k8s.selectors import matches_equality
from netsim.model.churn import Churn, apply_object
from netsim.model.client import Client, install_retries
from netsim.model.client_paths import follow_live_senders, give_connections, give_entry_path
from netsim.model.client_pods import LiveSenders, sender_slots
from netsim.model.controllers import DeploymentController, HpaLoop, NodeController, choose
from netsim.model.dns import ClusterDns
from netsim.model.endpoint_slices import EndpointSlices
from netsim.model.kube_proxy import (
    ClientIpAffinity,
    KubeProxy,
    make_picker,
    node_local_view,
    topology_preference,
)
from netsim.model.load_balancer import CloudLoadBalancer
from netsim.model.network import Network
from netsim.model.pod import Pod, TrackedServiceTime
from netsim.model.pod_lifecycle import Kubelet, PodStatus
from netsim.model.readiness_gates import NEVER, gate_setters
from netsim.model.request import Outcome
from netsim.model.scheduler import feasible_nodes, place_pods
from netsim.model.streams import Streams
from netsim.recorder import Recorder
from netsim.routing import EndpointTable
from netsim.spec import ChurnEventSpec, RunSpec

if TYPE_CHECKING:
    from netsim.k8s.objects import Deployment


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
        present = [d for d in scenario.deployments if scenario.exists_at_start("Deployment", d.name)]
        placements, self.warnings = place_pods(present, scenario.nodes)
        self.deployments = {d.name: d for d in scenario.deployments}
        hpa_targets = {h.target_name for h in scenario.autoscalers}
        self._tracked = hpa_targets
        self.pods: list[Pod] = []
        self.status: list[PodStatus] = []
        self.pod_names: list[str] = []
        self._names = {d.name: 0 for d in scenario.deployments} | {d.name: d.replicas for d in present}
        targeted = [s.name for s in scenario.services if s.name in {c.service for c in scenario.clients}]
        self._gates = {
            d.name: {condition: {targeted.index(name) if name is not None else NEVER for name in setters}
                     for condition, setters in gate_setters(d, scenario.services, scenario.clients, scenario.load_balancer).items()}
            for d in scenario.deployments if d.template.readiness_gates
        }
        """Per Deployment with readiness gates: per gate, the Services (indices) whose LB must report its pods healthy."""
        for placement in placements:
            self._new_pod(self.deployments[placement.deployment], placement.name, placement.node, 0, initial=True)
        self.node_up = [True] * len(self.nodes)
        self.cordoned = [False] * len(self.nodes)
        self.pending: list[Pod] = []
        self.log: list[tuple[float, str, str, str]] = []
        self.hpa_log: list[tuple[float, str, int, int, float]] = []
        self.retry_log: list[tuple[float, int]] = []
        self.deleted_services: set[int] = set()
        """Services deleted by churn: pods created later do not join them."""
        self.services = [s for s in scenario.services if s.name in {c.service for c in scenario.clients}]
        self.tables = [self._endpoints(i) for i in range(len(self.services))]
        """Per Service, the EndpointSlice as the API server has it; each node programs its own copy."""
        for status, pod in zip(self.status, self.pods, strict=True):
            if not status.ready:  # a readiness gate that never turns True: never an endpoint
                for table in self.tables:
                    table.ready[table.pods == pod.index] = False
        self.slices = EndpointSlices(
            self.env, self.tables, len(self.nodes), scenario.cluster.kube_proxy, scenario.cluster.control_plane,
            lambda name: self.streams.rng("churn", f"propagation/{name}"), self.node_up,
            scenario.cluster.background_services + len(scenario.services),
        )
        self.proxies = [self._kube_proxy(n) for n in range(len(scenario.nodes))]
        self.slices.proxies = self.proxies
        self.live_senders: dict[str, list[LiveSenders]] = {}
        """Per ``from:`` Deployment, the clients whose senders follow its Ready pods (under churn)."""
        self.clients = self._clients()
        self.dns = ClusterDns(scenario.cluster.dns, self.streams.rng("dns", "coredns"), sum(len(c.pod_nodes) for c in self.clients))
        self.dns.exists = [scenario.created_at.get(f"Service/{s.name}", 0.0) <= 0.0 for s in self.services]
        self.load_balancers: dict[int, CloudLoadBalancer] = {}
        self._connection_ids = count()
        for client, spec in zip(self.clients, scenario.clients, strict=True):
            client._dns = self.dns
            if spec.retries is not None:
                install_retries(client, spec.retries, self.streams.rng("arrivals", f"retries/{spec.name}"), self.retry_log)
            give_entry_path(self, client, spec)
            give_connections(self, client, spec)
            follow_live_senders(self, client, spec)
        if self._gates:
            for s, lb in self.load_balancers.items():
                lb.on_in_service = lambda target, s=s, lb=lb: self.kubelet.gate_passed(self.pods[int(lb.table.pods[target])], s)
        self.kubelet = Kubelet(self)
        self.controllers = {d.name: DeploymentController(self, d) for d in scenario.deployments}
        self.autoscalers = {h.name: HpaLoop(self, h, self.controllers[h.target_name]) for h in scenario.autoscalers}
        self.node_controller = NodeController(self)
        self.churn = Churn(self.env, scenario.churn, self.apply_churn, lambda name: self.streams.rng("churn", name))
        if scenario.churn or scenario.autoscalers:
            for lb in self.load_balancers.values():
                lb.probe_fn = self._lb_probe
        self.drained = self.env.event()
        self._busy_clients = len(self.clients)

    def _kube_proxy(self, n: int) -> KubeProxy:
        """Node ``n``'s kube-proxy over its own view of each Service's endpoints.

        Per Service: an in-cluster picker, a nodePort picker, ClientIP affinity.
        Traffic policies filter here: ``Local`` gives the node a view of its own endpoints only.
        """
        scenario = self.run.scenario
        config = scenario.cluster.kube_proxy
        node = scenario.nodes[n].name
        zones, cpus = [x.zone for x in scenario.nodes], [x.cpu for x in scenario.nodes]
        internal, external, affinity = {}, {}, {}
        for s, table in enumerate(self.slices.views[n]):
            service = self.services[s]
            local = service.internal_traffic_policy is TrafficPolicy.LOCAL
            view = node_local_view(table, n) if local else table
            prefer = None
            if not local and topology_preference(service.traffic_distribution, service.topology_mode, table.nodes, zones, cpus, n) is not None:
                def prefer(nodes, service=service):  # type: ignore[no-untyped-def]  # recomputed when endpoints are added
                    return topology_preference(service.traffic_distribution, service.topology_mode, nodes, zones, cpus, n)
            internal[s] = make_picker(config, view, self.streams.rng("routing", f"{node}/{service.name}"), s, prefer)  # type: ignore[arg-type]
            if service.type.reachable_from_outside:
                local = service.external_traffic_policy is TrafficPolicy.LOCAL
                view = node_local_view(table, n) if local else table
                external[s] = make_picker(config, view, self.streams.rng("routing", f"{node}/{service.name}/external"))  # type: ignore[arg-type]
            if service.session_affinity == "ClientIP":
                affinity[s] = ClientIpAffinity(table, service.affinity_timeout_s)
        return KubeProxy(n, config, internal, external, affinity)

    def remove_endpoint(self, pod: int) -> None:
        """Delete a pod at once: gone everywhere (no propagation), refusing new connections.

        Requests already in service finish; connections pinned to it fail. (The graceful,
        propagated path is :meth:`Kubelet.delete`; this is the abrupt case tests use.)
        """
        self.pods[pod].gone = True
        self.pods[pod].stop_listening(lambda _: None)
        self.slices.set_everywhere(pod, False, remove=True)

    def set_endpoint_ready(self, pod: int, ready: bool) -> None:
        """Set a pod's EndpointSlice ``ready`` condition and make every kube-proxy see it at once."""
        self.slices.set_everywhere(pod, ready)

    # -- pods that come and go ---------------------------------------------------------------

    def _new_pod(self, deployment: Deployment, name: str, node: int, revision: int, initial: bool = False) -> Pod:
        workload = self.run.scenario.workloads[deployment.name]
        sampler = BlockSampler(workload.service_time, self.streams.rng("service", name))
        pod = Pod(
            self.env, len(self.pods), name, deployment.name, node, deployment.pod_labels, workload.concurrency,
            workload.queue_limit, TrackedServiceTime(sampler) if deployment.name in self._tracked else sampler,  # type: ignore[arg-type]
        )
        pod.revision, pod.created_at = revision, self.env.now
        self.pods.append(pod)
        status = PodStatus(deployment.template)
        gates = self._gates.get(deployment.name)
        if gates is not None:
            # pods running at the start passed their LB's checks long ago; only a gate nothing sets stays False
            status.gates_pending = {c: ({NEVER} & setters if initial else set(setters)) for c, setters in gates.items()}
            if not status.gates_true:
                status.ready, status.ready_since = False, None
        self.status.append(status)
        self.pod_names.append(name)
        return pod

    def create_pod(self, deployment: Deployment, revision: int) -> Pod:
        """The ReplicaSet creates a pod: scheduled on a node that is up and not cordoned, then started."""
        self._names[deployment.name] += 1
        pod = self._new_pod(deployment, f"{deployment.name}-{self._names[deployment.name]}", -1, revision)
        status = self.status[pod.index]
        status.ready, status.ready_since, status.running = False, None, False
        pod.die(Outcome.REFUSED)
        pod.state = "Pending"
        if not self._schedule(pod):
            self.pending.append(pod)
            self.record("pod-pending", f"pod/{pod.name}", "no node fits")
        return pod

    def _schedule(self, pod: Pod) -> bool:
        deployment = self.deployments[pod.deployment]
        live = [p for p in self.pods if p.node >= 0 and p.state != "Gone"]
        candidates = [n for n in feasible_nodes(deployment, self.nodes) if self.node_up[n] and not self.cordoned[n]]
        if not candidates:
            return False
        own = [sum(1 for p in live if p.node == n and p.deployment == pod.deployment) for n in range(len(self.nodes))]
        total = [sum(1 for p in live if p.node == n) for n in range(len(self.nodes))]
        pod.node = min(candidates, key=lambda n: (own[n], total[n], n))
        for s in range(len(self.services)):
            target = self._target_port(s, pod)
            if target is not None:
                self.slices.add(s, pod.index, pod.node, target)
        for lb in self.load_balancers.values():
            lb.add_targets()
        self.record("pod-created", f"pod/{pod.name}", f"on {self.nodes[pod.node].name}, revision {pod.revision}")
        self.kubelet.start(pod)
        return True

    def schedule_pending(self) -> None:
        """A node came back or was uncordoned: try the Pending pods again."""
        waiting, self.pending = self.pending, []
        for pod in waiting:
            if not self._schedule(pod):
                self.pending.append(pod)

    def pod_changed(self, pod: Pod, ready: bool = False, gone: bool = False) -> None:
        """Tell the pod's Deployment controller (and again after minReadySeconds when it became Ready)."""
        for live in self.live_senders.get(pod.deployment, ()):
            live.update(pod.index, pod.node, self.status[pod.index].ready and pod.state != "Gone")
        controller = self.controllers.get(pod.deployment)
        if controller is None:
            return
        controller.notify()
        if ready and controller.deployment.min_ready_seconds > 0:
            controller.notify(controller.deployment.min_ready_seconds)
        if ready:
            self.record("pod-ready", f"pod/{pod.name}", "")

    def record(self, action: str, target: str, detail: str) -> None:
        """One line of events.csv."""
        self.log.append((self.env.now, action, target, detail))

    def pod_terminating(self, pod: Pod) -> None:
        """A pod turned Terminating: each LB with ``ip`` targets deregisters its target (after its lag)."""
        for s, lb in self.load_balancers.items():
            if not lb.instance:
                for position in self.slices.positions(s, pod.index).tolist():
                    lb.deregister(position)

    def _lb_probe(self, lb: CloudLoadBalancer, target: int) -> bool | None:
        """What an LB health check really finds: the node up (and, for Local, its own programmed view), or the pod serving.

        None: nothing answers (the node is down, the pod hung), so the probe fails at its timeout.
        """
        if lb.instance:
            if not self.node_up[target]:
                return None
            if not lb.local_policy:
                return True
            s = next(i for i, t in enumerate(self.tables) if t is lb.table)
            view = self.slices.views[target][s]
            return bool((view.ready & (view.nodes == target)).any())
        pod = self.pods[int(lb.table.pods[target])]
        if not self.node_up[pod.node] or pod.process == "blackhole":
            return None
        return not pod.gone and pod.process == "serving"

    def apply_churn(self, event: ChurnEventSpec) -> None:
        """Carry out one churn event."""
        self.record(event.action, event.target, _detail(event))
        action = event.action
        if action in ("apply", "delete"):
            apply_object(self, event.kind, event.name, action == "apply")
        elif action == "rollout":
            controller = self.controllers[event.name]
            controller.revision += 1
            controller.notify()
        elif action == "scale":
            controller = self.controllers[event.name]
            controller.desired = event.event.replicas
            controller.notify()
        elif action == "kill":
            how = event.event.how
            candidates = [p for p in self.pods if p.deployment == event.name and not p.gone and p.process == "serving"
                          and self.status[p.index].deleted_at is None]
            rng = self.streams.rng("churn", f"kill/{event.name}/{self.env.now!r}")
            for pod in choose(rng, candidates, event.event.count):
                getattr(self.kubelet, how)(pod)
                self.record(f"kill-{how}", f"pod/{pod.name}", "")
        elif action == "fail":
            self.node_controller.fail(self._node(event.name), event.event.for_)
        elif action == "drain":
            self.node_controller.drain(self._node(event.name))

    def _node(self, name: str) -> int:
        return next(i for i, n in enumerate(self.nodes) if n.name == name)

    def _target_port(self, service_index: int, pod: Pod) -> int | None:
        service = self.services[service_index]
        if service_index in self.deleted_services or service.type is ServiceType.EXTERNAL_NAME or not service.selector \
                or not matches_equality(service.selector, pod.labels):
            return None
        port = next(c.port for c in self.run.scenario.clients if c.service == service.name)
        return resolve_target_port(port, self.deployments[pod.deployment].container_ports)

    def _endpoints(self, service_index: int) -> EndpointTable:
        """The EndpointSlice of one Service port: matching pods whose target port resolves."""
        pods, nodes, ports = [], [], []
        for pod in self.pods:
            target = self._target_port(service_index, pod)
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
                if scenario.churn or scenario.autoscalers:  # room for the pods churn creates (model/client_pods.py)
                    d = self.deployments[spec.from_deployment]
                    slots = sender_slots(d.name, d.replicas, scenario.churn, scenario.autoscalers)
                    pod_nodes += [0] * max(0, slots - len(pod_nodes))
                elif not pod_nodes:
                    self.warnings.append(f"clients.{spec.name}: Deployment/{spec.from_deployment} has no running pods, so the client sends nothing")
                    pod_nodes = []
            client = Client(
                self.env, index, spec.name, service_index[spec.service], spec.rate, spec.timeout,
                pod_nodes, offset, end, self.streams.rng("arrivals", spec.name), None,  # type: ignore[arg-type]
                self.proxies, self.pods, self.network, self.recorder,
            )
            client.on_idle = self._client_idle
            client.rate_steps = spec.rate_steps
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
        for name, hpa in self.autoscalers.items():
            if self.run.scenario.exists_at_start("HorizontalPodAutoscaler", name):
                hpa.start()
        for client in self.clients:
            if client.pod_nodes:
                client.start()
            else:
                self._client_idle()
        if not self.clients:
            self.drained.succeed()


def _detail(event: ChurnEventSpec) -> str:
    """The parameters of a churn event, for events.csv."""
    e = event.event
    if event.action == "scale":
        return f"replicas {e.replicas}"
    if event.action == "kill":
        return f"count {e.count}, how {e.how}"
    if event.action == "fail":
        return "for good" if e.for_ is None else f"for {e.for_:g}s"
    return ""

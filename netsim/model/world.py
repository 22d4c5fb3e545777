"""Builds the simulated cluster of one run from its :class:`~netsim.spec.RunSpec`, and starts it.

The shared state is a :class:`~netsim.model.cluster.Cluster`; everything else is
a part that acts on it, built here in this order and handed what it needs:

1. nodes, and pods placed by the scheduler (model/scheduler.py), each with its
   workload (model/pod.py) and, for operations with steps, its Deployment's
   compiled programs (model/operations.py);
2. each Service's endpoints (pods its selector matches whose target port
   resolves) and their propagation to every node (model/endpoint_slices.py),
   then a kube-proxy per node over its own view (model/kube_proxy.py);
3. cluster DNS, and the traffic (model/traffic.py): a route and a client for
   each ``clients`` entry, a route for each Service a Deployment calls; cloud
   load balancers come with the first external client that needs one;
4. the control plane: the kubelet (model/pod_lifecycle.py), the ReplicaSets,
   Deployment, HPA and node controllers (model/controllers.py) and the churn
   process (model/churn.py).

Pods created during the run get the next index and a new name (``web-7``…);
every pod that ever existed stays in ``cluster.pods``.
"""

from __future__ import annotations

from itertools import count
from typing import TYPE_CHECKING, Any

import numpy as np

from netsim.distributions import BlockSampler
from netsim.k8s.manifests import resolve_target_port
from netsim.k8s.namespaces import selects
from netsim.k8s.objects import ServiceType, TrafficPolicy
from netsim.k8s.selectors import LabelIndex
from netsim.model import cilium
from netsim.model.churn import Churn
from netsim.model.cluster import Cluster, PodEvents
from netsim.model.controllers import DeploymentController, HpaLoop, NodeController, ReplicaSets, choose
from netsim.model.dns import CoreDns
from netsim.model.endpoint_slices import EndpointSlices
from netsim.model.events import Environment, Wakeup
from netsim.model.kube_proxy import ClientIpAffinity, KubeProxy, make_picker, node_local_view, topology_preference
from netsim.model.load_balancer import CloudLoadBalancer
from netsim.model.network import Network
from netsim.model.operations import Call, Lookup, Parallel, Programs, Work
from netsim.model.pod import Pod
from netsim.model.pod_lifecycle import Kubelet, PodStatus
from netsim.model.readiness_gates import NEVER, gate_setters
from netsim.model.scheduler import place_pods
from netsim.model.streams import Streams
from netsim.model.traffic import TrafficBuilder, caller_ip
from netsim.recorder import CallLedger, Recorder
from netsim.routing import EndpointTable
from netsim.spec import CallStep, ChurnEventSpec, LookupStep, ParallelStep, RunSpec, WorkStep
from netsim.tally import RequestTally

if TYPE_CHECKING:
    from netsim.k8s.objects import Deployment


class World:
    """The cluster of one run and every part acting on it; :meth:`start` sets it going."""

    def __init__(self, run: RunSpec, keep_calls: bool = False, keep_requests: bool = True) -> None:
        scenario = run.scenario
        self.run = run
        self.env = Environment()
        self.streams = Streams(run.seed_sequence)
        self.network = Network(scenario.cluster.network, scenario.nodes, self.streams.rng("network", "hops"))
        self.window = (scenario.run.warmup, scenario.run.warmup + scenario.run.duration)
        called = {call.service for w in scenario.workloads.values() for op in w.operations for call in _calls(op.steps)}
        targeted = {c.service for c in scenario.clients} | called
        self.cluster = cluster = Cluster(self.env, scenario.nodes, scenario.deployments,
                                         [s for s in scenario.services if s.name in targeted])
        zones = sorted({n.zone for n in scenario.nodes})
        self.recorder = Recorder(RequestTally(
            len(scenario.clients), len(cluster.services), len(scenario.operation_names), self.window,
            [zones.index(n.zone) for n in scenario.nodes], lambda: [p.node for p in cluster.pods],
            self.window[1] if scenario.churn or scenario.autoscalers else None,
        ), keep=keep_requests)
        self.events = PodEvents()
        self.ids = count()
        """Request ids, shared by every sender."""
        self.retry_log: list[tuple[float, int]] = []
        self.hpa_log: list[tuple[float, str, int, int, float]] = []
        self.operation_names = list(scenario.operation_names)
        self._operation_id = {name: i for i, name in enumerate(self.operation_names)}

        # 1. pods
        present = [d for d in scenario.deployments if scenario.exists_at_start("Deployment", d.name)]
        placements, warnings = place_pods(present, scenario.nodes)
        cluster.warnings.extend(warnings)
        self._gates = self._readiness_gates()
        self._names = {d.name: 0 for d in scenario.deployments} | {d.name: d.replicas for d in present}
        """Per Deployment, the last pod number used (initial pods are numbered 1..replicas)."""
        self.edges: list[dict[str, Any]] = []
        self.ledger: CallLedger | None = None
        self._programs = {
            name: Programs(self.env, workload.hold_worker, self._work_sampler,
                           lambda pod: self.streams.rng("service", f"{pod.name}/decisions"),
                           lambda route, pod: route.slot_of_pod(pod, caller_ip(pod.index)), self.ids)
            for name, workload in scenario.workloads.items() if not workload.plain
        }
        """Per Deployment whose operations have steps beyond work: what its pods run (loaded once routes exist)."""
        for placement in placements:
            self._new_pod(cluster.deployments[placement.deployment], placement.name, placement.node, 0, initial=True)

        # 2. endpoints, their propagation, kube-proxy
        self._ports: dict[str, Any] = {}
        self._pod_labels = LabelIndex()
        """Pods by label: each Service's selector finds its pods without a scan (pods added as they are scheduled)."""
        for pod in cluster.pods:
            self._pod_labels.add(pod.index, pod.labels)
        self._selectors = LabelIndex()
        """Services by the labels of their selector: a new pod finds the Services that may select it."""
        for s, service in enumerate(cluster.services):
            self._selectors.add(s, service.selector or {})
        cluster.tables = [self._endpoints(s) for s in range(len(cluster.services))]
        for status, pod in zip(cluster.status, cluster.pods, strict=True):
            if not status.ready:  # a readiness gate that never turns True: never an endpoint
                for table in cluster.tables:
                    table.ready[table.pods == pod.index] = False
        cluster.slices = EndpointSlices(
            self.env, cluster.tables, len(cluster.nodes), scenario.cluster.node_proxy, scenario.cluster.control_plane,
            lambda name: self.streams.rng("churn", f"propagation/{name}"), cluster.node_up,
            scenario.cluster.background_services + len(scenario.services),
        )
        self._zones_cpus = ([x.zone for x in scenario.nodes], [x.cpu for x in scenario.nodes])
        self.proxies = [self._kube_proxy(n) for n in range(len(cluster.nodes))]
        cluster.slices.proxies = self.proxies

        # 3. DNS and traffic
        cluster.dns = self.dns = CoreDns(scenario.cluster.dns, self.streams.rng("dns", "coredns"), len(cluster.services))
        self.dns.exists = [scenario.created_at.get(f"Service/{s.name}", 0.0) <= 0.0 for s in cluster.services]
        churning = bool(scenario.churn or scenario.autoscalers)
        self.traffic = TrafficBuilder(
            cluster, scenario, self.streams, self.network, self.proxies, self.dns, self.recorder, self.retry_log, self.ids,
            self._lb_probe if churning else None, self._gate_setter, self._call_retried,
        )
        self.clients = []
        offset = 0
        for index, spec in enumerate(scenario.clients):
            client = self.traffic.client(index, spec, offset)
            client.on_idle = self._client_idle
            client.measure_from(self.window[0])
            self.clients.append(client)
            offset += client.slots
        self._compile_programs(keep_calls)

        # 4. the control plane
        self.kubelet = Kubelet(cluster, self.events, scenario.workloads, lambda name: self.streams.rng("churn", name))
        self.replicasets = ReplicaSets(cluster, self._new_pod, self.kubelet, self._names)
        self.replicasets.on_scheduled.append(self._pod_scheduled)
        self.controllers = {
            d.name: DeploymentController(cluster, d, scenario.exists_at_start("Deployment", d.name), self.kubelet, self.replicasets)
            for d in scenario.deployments
        }
        self.autoscalers = {h.name: HpaLoop(cluster, h, self.controllers[h.target_name], self.hpa_log) for h in scenario.autoscalers}
        self.node_controller = NodeController(cluster, scenario.cluster.control_plane, self.kubelet, self.replicasets)
        self.churn = Churn(self.env, scenario.churn, self.apply_churn, lambda name: self.streams.rng("churn", name))
        self.events.on_changed(self._pod_changed)
        self.events.on_terminating(self._pod_terminating)
        self.drained = self.env.event()
        self._busy_clients = len(self.clients)
        self._busy_at_start: list[float] = []
        self._busy_at_end: list[float] = []

    # -- parts of the build ----------------------------------------------------------------------

    @property
    def nodes(self) -> tuple[Any, ...]:
        return self.cluster.nodes

    @property
    def pods(self) -> list[Pod]:
        return self.cluster.pods

    @property
    def status(self) -> list[PodStatus]:
        return self.cluster.status

    @property
    def services(self) -> list[Any]:
        return self.cluster.services

    @property
    def tables(self) -> list[EndpointTable]:
        return self.cluster.tables

    @property
    def slices(self) -> EndpointSlices:
        return self.cluster.slices  # type: ignore[return-value]

    @property
    def load_balancers(self) -> dict[int, CloudLoadBalancer]:
        return self.traffic.load_balancers

    @property
    def warnings(self) -> list[str]:
        return self.cluster.warnings

    def _readiness_gates(self) -> dict[str, dict[str, set[int]]]:
        """Per Deployment with readiness gates: per gate, the Services (indices) whose LB must report its pods healthy."""
        scenario = self.run.scenario
        names = [s.name for s in self.cluster.services]
        return {
            d.name: {condition: {names.index(name) if name is not None else NEVER for name in setters}
                     for condition, setters in gate_setters(d, scenario.services, scenario.clients, scenario.load_balancer).items()}
            for d in scenario.deployments if d.template.readiness_gates
        }

    def _new_pod(self, deployment: Deployment, name: str, node: int, revision: int, initial: bool = False) -> Pod:
        workload = self.run.scenario.workloads[deployment.name]
        sampler = BlockSampler(workload.service_time, self.streams.rng("service", name))
        cluster = self.cluster
        pod = Pod(self.env, len(cluster.pods), name, deployment.name, node, deployment.pod_labels, workload.concurrency,
                  workload.queue_limit, sampler, self._programs.get(deployment.name))
        pod.revision, pod.created_at = revision, self.env.time
        cluster.pods.append(pod)
        status = PodStatus(deployment.template)
        gates = self._gates.get(deployment.name)
        if gates is not None:
            # pods running at the start passed their LB's checks long ago; only a gate nothing sets stays False
            status.gates_pending = {c: ({NEVER} & setters if initial else set(setters)) for c, setters in gates.items()}
            if not status.gates_true:
                status.ready, status.ready_since = False, None
        cluster.status.append(status)
        return pod

    def _pod_scheduled(self, pod: Pod) -> None:
        """A pod created during the run has a node: it joins the Services that select it, and ip-target LBs."""
        self._pod_labels.add(pod.index, pod.labels)
        for s in self._selectors.touching(pod.labels):  # only Services whose selector shares a label with it
            target = self._target_port(s, pod)
            if target is not None:
                self.slices.add(s, pod.index, pod.node, target)
        for lb in self.load_balancers.values():
            lb.add_targets()

    def _kube_proxy(self, n: int) -> KubeProxy:
        """Node ``n``'s kube-proxy over its own view of each Service's endpoints (built per Service on first use)."""
        return KubeProxy(n, self.run.scenario.cluster.node_proxy, {}, build=lambda s: self._proxy_rules(n, s))

    def _proxy_rules(self, n: int, s: int) -> tuple[Any, Any, Any]:
        """Node ``n``'s rules for Service ``s``: an in-cluster picker, a nodePort picker, ClientIP affinity.

        Traffic policies filter here: ``Local`` gives the node a view of its own endpoints only.
        """
        scenario = self.run.scenario
        config = scenario.cluster.node_proxy
        node = scenario.nodes[n].name
        zones, cpus = self._zones_cpus
        table = self.slices.views[n][s]
        service = self.cluster.services[s]
        local = service.internal_traffic_policy is TrafficPolicy.LOCAL
        view = node_local_view(table, n) if local else table
        prefer = None
        if local and config.mode == "ipvs":  # IPVS programs the cluster's endpoints when it has none of its own
            view, prefer = table, (lambda nodes, n=n: nodes == n)
        elif not local and topology_preference(service.traffic_distribution, service.topology_mode, table.nodes, zones, cpus, n) is not None:
            def prefer(nodes, service=service):  # type: ignore[no-untyped-def]  # recomputed when endpoints are added
                return topology_preference(service.traffic_distribution, service.topology_mode, nodes, zones, cpus, n)
        internal = make_picker(config, view, self.streams.rng("routing", f"{node}/{service.name}"), s, prefer, self.env)  # type: ignore[arg-type]
        external = affinity = None
        if service.type.reachable_from_outside:
            local = service.external_traffic_policy is TrafficPolicy.LOCAL
            view = node_local_view(table, n) if local else table
            rng = self.streams.rng("routing", f"{node}/{service.name}/external")
            external = cilium.external_picker(scenario.cluster, view, rng) or make_picker(config, view, rng, clock=self.env)  # type: ignore[arg-type]
        if service.session_affinity == "ClientIP":
            affinity = ClientIpAffinity(table, service.affinity_timeout_s)
        return internal, external, affinity

    def _target_port(self, s: int, pod: Pod) -> int | None:
        service = self.cluster.services[s]
        deployment = self.cluster.deployments[pod.deployment]
        if s in self.cluster.deleted_services or service.type is ServiceType.EXTERNAL_NAME \
                or not selects(service, deployment.namespace, pod.labels):
            return None
        return resolve_target_port(self._service_port(service.name), deployment.container_ports)

    def _service_port(self, name: str) -> Any:
        """The port of Service ``name`` that senders use (the first one a client or a call names)."""
        if not self._ports:  # one pass over the senders (not one per Service: 10,000 Services x 10,000 clients)
            self._ports = self._sender_ports()
        return self._ports[name]

    def _sender_ports(self) -> dict[str, Any]:
        """Per Service a sender names, the port of the first client naming it, else of the first call."""
        scenario = self.run.scenario
        ports: dict[str, Any] = {}
        for client in scenario.clients:
            ports.setdefault(client.service, client.port)
        for workload in scenario.workloads.values():
            for op in workload.operations:
                for call in _calls(op.steps):
                    ports.setdefault(call.service, call.port)
        return ports

    def _endpoints(self, s: int) -> EndpointTable:
        """The EndpointSlice of one Service port: matching pods whose target port resolves."""
        pods, nodes, ports = [], [], []
        for index in self._pod_labels.having(self.cluster.services[s].selector or {}):
            pod = self.cluster.pods[index]
            target = self._target_port(s, pod)
            if target is not None:
                pods.append(pod.index)
                nodes.append(pod.node)
                ports.append(target)
        return EndpointTable.build(pods, nodes, ports)

    # -- operations with calls ---------------------------------------------------------------------

    def _compile_programs(self, keep_calls: bool) -> None:
        """Each Deployment whose operations are more than one step of work gets its programs, and its calls routes."""
        scenario = self.run.scenario
        edges: dict[tuple[str, str, str], int] = {}
        compiled: dict[str, list[tuple[Any, ...] | None]] = {}
        for name, workload in scenario.workloads.items():
            if workload.plain:
                continue
            routes = {service: self.traffic.call_route(name, service, policy) for service, policy in workload.calls.items()}
            steps = count()
            ops: list[tuple[Any, ...] | None] = [None] * len(self.operation_names)
            for op in workload.operations:
                ops[self._operation_id[op.name]] = self._compile_steps(name, op.steps, routes, workload, edges, steps)
            compiled[name] = ops
        self.edges = [{"caller": caller, "caller_kind": "Deployment", "service": service, "operation": op}
                      for (caller, service, op) in edges]
        service_index = self.traffic.service_index
        zones = sorted({n.zone for n in scenario.nodes})
        self.ledger = CallLedger(len(edges), self.window, [zones.index(n.zone) for n in scenario.nodes],
                                 [service_index[e["service"]] for e in self.edges], keep_calls)
        for name, ops in compiled.items():
            self._programs[name].load(ops, self.dns, self.ledger)

    def _compile_steps(self, caller: str, steps: tuple[Any, ...], routes: dict[str, Any], workload: Any,
                       edges: dict[tuple[str, str, str], int], numbers: count) -> tuple[Any, ...]:
        out = []
        for step in steps:
            if isinstance(step, WorkStep):
                out.append(Work(next(numbers), step.duration))
            elif isinstance(step, CallStep):
                route = routes[step.service]
                timeout = step.timeout if step.timeout is not None else route.timeout
                policy = workload.calls[step.service]
                attempts = policy.retries.attempts if policy.retries is not None else 0
                per_try = timeout / (attempts + 1) if policy.retries is not None and "timeout" in policy.retries.on else timeout
                edge = edges.setdefault((caller, step.service, step.operation), len(edges))
                out.append(Call(next(numbers), route, self._operation_id[step.operation], _count(step.count), step.probability,
                                timeout, per_try, step.optional, edge))
            elif isinstance(step, ParallelStep):
                out.append(Parallel(next(numbers), tuple(self._compile_steps(caller, b, routes, workload, edges, numbers)
                                                         for b in step.branches)))
            else:
                assert isinstance(step, LookupStep)
                out.append(Lookup(next(numbers), step.tries, step.queries, step.upstream, step.name))
        return tuple(out)

    def _work_sampler(self, pod: Pod, step: Work) -> Any:
        if step.duration is None:
            return pod.service_time
        return BlockSampler(step.duration, self.streams.rng("service", f"{pod.name}/step-{step.index}"))

    def _call_retried(self, t: float, request: Any) -> None:
        self.ledger.retried(request.waiter.call_step.edge, request.root_t)  # type: ignore[union-attr]

    def programs(self, deployment: str) -> Programs:
        return self._programs[deployment]

    # -- pods that come and go -------------------------------------------------------------------

    def _pod_changed(self, pod: Pod, ready: bool, gone: bool) -> None:
        """Client slots follow their Deployment's Ready pods; the Deployment controller reconciles."""
        for live in self.traffic.live_senders.get(pod.deployment, ()):
            live.update(pod.index, pod.node, self.cluster.status[pod.index].ready and pod.state != "Gone")
        controller = self.controllers.get(pod.deployment)
        if controller is not None:
            controller.pod_changed(pod, ready, gone)

    def _pod_terminating(self, pod: Pod) -> None:
        """A pod turned Terminating: each LB with ``ip`` targets deregisters its target (after its lag)."""
        for s, lb in self.load_balancers.items():
            if not lb.instance:
                for position in self.slices.positions(s, pod.index).tolist():
                    lb.deregister(position)

    def _gate_setter(self, s: int) -> Any:
        """What an LB does when its checks put a target in service: readiness gates on that pod may turn True."""
        if not self._gates:
            return None
        table = self.cluster.tables[s]

        def passed(target: int) -> None:
            self.kubelet.gate_passed(self.cluster.pods[int(table.pods[target])], s)

        return passed

    def _lb_probe(self, lb: CloudLoadBalancer, target: int) -> bool | None:
        """What an LB health check really finds: the node up (and, for Local, its own programmed view), or the pod serving.

        None: nothing answers (the node is down, the pod hung), so the probe fails at its timeout.
        """
        cluster = self.cluster
        if lb.instance:
            if not cluster.node_up[target]:
                return None
            if not lb.local_policy:
                return True
            s = next(i for i, t in enumerate(cluster.tables) if t is lb.table)
            view = self.slices.views[target][s]
            return bool((view.ready_only() & (view.nodes == target)).any())  # healthCheckNodePort counts ready endpoints
        pod = cluster.pods[int(lb.table.pods[target])]
        if not cluster.node_up[pod.node] or pod.process in ("blackhole", "dark"):
            return None
        return not pod.gone and pod.process == "serving"

    # -- churn -----------------------------------------------------------------------------------

    def apply_churn(self, event: ChurnEventSpec) -> None:
        """Carry out one churn event."""
        cluster = self.cluster
        cluster.record(event.action, event.target, _detail(event))
        action = event.action
        if action in ("apply", "delete"):
            self._apply_object(event.kind, event.name, action == "apply")
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
            candidates = [p for p in cluster.pods if p.deployment == event.name and not p.gone and p.process == "serving"
                          and cluster.status[p.index].deleted_at is None]
            rng = self.streams.rng("churn", f"kill/{event.name}/{self.env.time!r}")
            for pod in choose(rng, candidates, event.event.count):
                getattr(self.kubelet, how)(pod)
                cluster.record(f"kill-{how}", f"pod/{pod.name}", "")
        elif action == "fail":
            self.node_controller.fail(cluster.node_index(event.name), event.event.for_)
        elif action == "drain":
            self.node_controller.drain(cluster.node_index(event.name))

    def _apply_object(self, kind: str, name: str, create: bool) -> None:
        """``apply`` (``create``) or ``delete`` an object, as the API server and its controllers would.

        - Deployment: applying starts its controller at ``spec.replicas``; its pods are
          scheduled and started through the kubelet, and Services whose selectors match
          take them up through EndpointSlice propagation. Deleting stops the controller
          and deletes every pod gracefully (preStop, grace period), as the garbage
          collector's cascade does.
        - HorizontalPodAutoscaler: applying starts its 15 s sync loop; deleting stops it
          (the Deployment keeps the replicas it has).
        - Service: applying creates its DNS record (its endpoints were listed from the
          start, as the EndpointSlice controller lists them on creation); deleting removes
          the record (DNS clients get NXDOMAIN once their cached answer expires) and every
          endpoint, which each node's kube-proxy drops after propagation (new connections
          refused); pods created later never join it.
        """
        if kind == "Deployment":
            controller = self.controllers[name]
            if create:
                controller.create()
            else:
                controller.delete()
        elif kind == "HorizontalPodAutoscaler":
            hpa = self.autoscalers[name]
            if create:
                hpa.start()
            else:
                hpa.stop()
        else:
            names = [s.name for s in self.cluster.services]
            if name not in names:  # a Service nobody targets: nothing in the model depends on it
                return
            s = names.index(name)
            self.dns.exists[s] = create
            if not create:
                self.cluster.deleted_services.add(s)
                self.slices.remove_service(s)

    # -- the run ---------------------------------------------------------------------------------

    def remove_endpoint(self, pod: int) -> None:
        """Delete a pod at once: gone everywhere (no propagation), refusing new connections (tests' abrupt case)."""
        self.cluster.pods[pod].stop_listening(lambda _: None)
        self.slices.set_everywhere(pod, False, remove=True)

    def set_endpoint_ready(self, pod: int, ready: bool) -> None:
        """Set a pod's EndpointSlice ``ready`` condition and make every kube-proxy see it at once (tests)."""
        self.slices.set_everywhere(pod, ready)

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
        start, end = self.window
        self.env.push(start, Wakeup(self.env, self._snapshot, self._busy_at_start))
        self.env.push(end, Wakeup(self.env, self._snapshot, self._busy_at_end))
        for client in self.clients:
            if client.slots:
                client.start()
            else:
                self._client_idle()
        if not self.clients:
            self.drained.succeed()

    def _snapshot(self, into: list[float]) -> None:
        """Every pod's busy worker-seconds so far (at the start and the end of the measured window)."""
        into.extend(p.busy_s for p in self.cluster.pods)

    def pod_busy(self) -> list[dict[str, float]]:
        """Per pod: worker-seconds busy in the measured window, its workers, and its time alive in the window."""
        start, end = self.window
        out = []
        for i, pod in enumerate(self.cluster.pods):
            first = self._busy_at_start[i] if i < len(self._busy_at_start) else 0.0
            last = self._busy_at_end[i] if i < len(self._busy_at_end) else pod.busy_s
            alive = max(0.0, min(end, pod.ended_at if pod.ended_at is not None else end) - max(start, pod.created_at))
            out.append({"busy_s": max(0.0, last - first), "workers": float(pod.concurrency), "alive_s": alive})
        return out


def _count(count: Any) -> Any:
    """A call step's count: an int, or a function of a generator drawing one."""
    if isinstance(count, int):
        return count
    if count.distribution == "uniform":
        low, high = count.low, count.high
        return lambda rng: int(rng.integers(low, high + 1))
    if count.distribution == "poisson":
        mean = count.mean
        return lambda rng: int(rng.poisson(mean))
    values = np.asarray(count.values)
    weights = np.asarray(count.weights if count.weights is not None else [1.0] * values.size, dtype=float)
    p = weights / weights.sum()
    return lambda rng: int(values[rng.choice(values.size, p=p)])


def _calls(steps: tuple[Any, ...]) -> list[CallStep]:
    out: list[CallStep] = []
    for step in steps:
        if isinstance(step, CallStep):
            out.append(step)
        elif isinstance(step, ParallelStep):
            for branch in step.branches:
                out.extend(_calls(branch))
    return out


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

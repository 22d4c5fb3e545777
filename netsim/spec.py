"""Resolved, immutable descriptions of what to simulate.

The config layer turns an experiment file into an :class:`ExperimentSpec`: one
:class:`ScenarioSpec` per scenario, every default filled in, every name checked.
A :class:`RunSpec` is one replication of one scenario: all the engine needs, and
small enough to send to another process or a Dask worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netsim.config.churn_events import RetryConfig
from netsim.config.schema import CONNECT_TIMEOUT_S, ClusterConfig, ConnectionsConfig, CountDistribution, RunConfig
from netsim.distributions import DistributionSpec
from netsim.k8s.autoscaling import HorizontalPodAutoscaler
from netsim.k8s.objects import Deployment, Service, ServicePort


@dataclass(frozen=True)
class NodeSpec:
    name: str
    zone: str
    labels: dict[str, str]
    cpu: float = 4.0
    """Allocatable CPU cores (topology-aware hints allocate endpoints to zones in proportion)."""


@dataclass(frozen=True)
class WorkStep:
    """Compute on the worker for a drawn duration (None: the workload's ``service_time``)."""

    duration: DistributionSpec | None = None


@dataclass(frozen=True)
class CallStep:
    """A call to a Service from the serving pod (a resolved ``{call: ...}`` step)."""

    service: str
    port: ServicePort
    operation: str
    """The callee's operation (its first when the step names none)."""
    count: int | CountDistribution = 1
    probability: float = 1.0
    timeout: float | None = None
    """None: the caller's ``calls`` timeout for this Service."""
    optional: bool = False
    request_bytes: int | None = None
    response_bytes: int | None = None


@dataclass(frozen=True)
class ParallelStep:
    branches: tuple[tuple[Any, ...], ...]
    """Each branch: steps run in order; the branches run concurrently."""


@dataclass(frozen=True)
class LookupStep:
    """A DNS lookup from the pod: ``queries`` sent in ``tries`` sequential tries, ``upstream`` when CoreDNS forwards it."""

    name: str
    tries: int
    queries: int
    upstream: bool


@dataclass(frozen=True)
class OperationSpec:
    name: str
    steps: tuple[Any, ...]
    """WorkStep, CallStep, ParallelStep, LookupStep."""

    @property
    def is_plain_work(self) -> bool:
        """One step of the workload's own service time: what a pod serves without a job (the hot path)."""
        return len(self.steps) == 1 and isinstance(self.steps[0], WorkStep) and self.steps[0].duration is None


@dataclass(frozen=True)
class CallPolicy:
    """How a Deployment's pods call one Service (``workloads.<d>.calls``, its per-Service overrides applied)."""

    connections: ConnectionsConfig
    timeout: float
    retries: RetryConfig | None
    discovery: str
    dns_queries: int = 1
    dns_nx_queries: int = 4
    connect_timeout: float = CONNECT_TIMEOUT_S
    """A new connection whose SYN gets no answer fails after this long (unless the call's timeout comes first)."""


@dataclass(frozen=True)
class WorkloadSpec:
    """How one Deployment's pods serve: service time, workers, waiting room, and the operations they run."""

    service_time: DistributionSpec
    concurrency: int
    queue_limit: int
    startup: DistributionSpec | None = None
    """Pod scheduled to container running; None: at once."""
    prestop: DistributionSpec | None = None
    """Duration of an exec/httpGet preStop hook; None: instant."""
    operations: tuple[OperationSpec, ...] = (OperationSpec("default", (WorkStep(),)),)
    hold_worker: bool = True
    calls: dict[str, CallPolicy] = field(default_factory=dict)
    """Per callee Service name, how the pods call it."""
    mesh: bool = True
    """The pods are in ``cluster.mesh`` (when there is one): a sidecar each, or their nodes' ztunnels."""

    @property
    def plain(self) -> bool:
        """Every request is one step of ``service_time`` (no operation with calls or other steps)."""
        return all(op.is_plain_work for op in self.operations)

    def operation_index(self, name: str) -> int:
        return next(i for i, op in enumerate(self.operations) if op.name == name)


@dataclass(frozen=True)
class ClientSpec:
    """A traffic source, resolved: which Service and port, from which pods, how fast."""

    name: str
    location: str
    service: str
    port: ServicePort
    from_deployment: str | None
    rate: float
    timeout: float
    discovery: str = "dns"
    """``dns`` or ``env`` (in-cluster clients)."""
    namespace: str = "default"
    dns_queries: int = 1
    """Queries one lookup of the target name sends (ndots search-path expansion, A and AAAA)."""
    dns_nx_queries: int = 4
    """Queries a lookup sends when every try is NXDOMAIN (the Service does not exist yet)."""
    entry_nodes: tuple[int, ...] = ()
    """External clients: indices of the nodes whose nodePort they connect to (all nodes by default
    for NodePort Services; empty for LoadBalancer Services, which are reached through the LB)."""
    source_ips: int = 1
    """External clients: distinct client addresses."""
    connections: ConnectionsConfig = field(default_factory=ConnectionsConfig)
    """per-request, keep-alive or multiplexed, with pool size and reconnect limits."""
    request_bytes: int = 1000
    response_bytes: int = 10000
    retries: RetryConfig | None = None
    connect_timeout: float = CONNECT_TIMEOUT_S
    """A new connection whose SYN gets no answer fails after this long (unless ``timeout`` comes first)."""
    rate_steps: tuple[tuple[float, float], ...] = ()
    """``(at, rate)``: the arrival rate changes to ``rate`` at ``at`` (a load step); empty: constant ``rate``."""
    operations: tuple[str, ...] = ("default",)
    """The target's operations that this client sends (names); the first is the default."""
    operation_weights: tuple[float, ...] = ()
    """Open loop: the weight of each of ``operations``; empty: always the first."""
    closed: ClosedLoopSpec | None = None
    """Closed-loop users instead of Poisson arrivals (``rate`` is then 0)."""


@dataclass(frozen=True)
class ClosedLoopSpec:
    """``arrival: {process: closed}``: users, think time, tasks (sequences of operation indices) and their weights."""

    users: int
    think_time: DistributionSpec
    tasks: tuple[tuple[str, ...], ...]
    """Each task: operation names sent one after another."""
    weights: tuple[float, ...]
    on_start: tuple[str, ...] = ()


@dataclass(frozen=True)
class HealthCheckSpec:
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class LoadBalancerSpec:
    """A cloud load balancer, provider preset and overrides merged (written to manifest.json)."""

    provider: str
    algorithm: str
    latency: DistributionSpec
    cross_zone: bool
    target_type: str
    maglev_table_size: int
    preserves_client_ip: bool
    cluster_health_check: HealthCheckSpec
    """Probing kube-proxy's health port (10256) on every node: ``externalTrafficPolicy: Cluster``."""
    local_health_check: HealthCheckSpec
    """Probing ``healthCheckNodePort``: ``externalTrafficPolicy: Local``."""
    deregistration_lag_s: float = 5.0
    """``ip`` targets: a Terminating pod's target is deregistered; new connections stop this long after."""


@dataclass(frozen=True)
class ChurnEventSpec:
    """One ``churn:`` entry, resolved: the action, what it acts on, and the parsed event for its details.

    ``at`` is None for a repeating event (``every``); ``event`` is the validated
    :data:`netsim.config.churn_events.ChurnEvent` (replicas, count, how, for, every).
    """

    at: float | None
    action: str
    kind: str
    name: str
    event: Any = field(default=None, compare=False)

    @property
    def target(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    run: RunConfig
    cluster: ClusterConfig
    nodes: tuple[NodeSpec, ...]
    deployments: tuple[Deployment, ...]
    workloads: dict[str, WorkloadSpec]
    services: tuple[Service, ...]
    clients: tuple[ClientSpec, ...]
    load_balancer: LoadBalancerSpec | None = None
    external_hosts: dict[str, DistributionSpec] = field(default_factory=dict)
    """Service time of each ExternalName Service's outside host, by Service name."""
    churn: tuple[ChurnEventSpec, ...] = ()
    autoscalers: tuple[HorizontalPodAutoscaler, ...] = ()
    """HorizontalPodAutoscalers from the manifests, each targeting a Deployment of this scenario."""
    created_at: dict[str, float] = field(default_factory=dict)
    """Objects that do not exist from the start (``deferred:``), keyed ``Kind/name``: when ``churn`` creates them
    (inf: never). Deferred Deployments and HPAs are in ``deployments`` and ``autoscalers`` too."""

    def exists_at_start(self, kind: str, name: str) -> bool:
        return f"{kind}/{name}" not in self.created_at
    parameters: dict[str, Any] = field(default_factory=dict)
    """The dotted-path settings that make this scenario differ from the base (for output tables)."""
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    """The resolved experiment config as plain data, written to manifest.json."""

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    @property
    def operation_names(self) -> tuple[str, ...]:
        """Every operation name of the scenario, in order of first appearance: requests carry an index into it."""
        names = ["default"]
        for workload in self.workloads.values():
            names.extend(op.name for op in workload.operations)
        for client in self.clients:
            names.extend(client.operations)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    scenarios: tuple[ScenarioSpec, ...]
    warnings: tuple[str, ...] = ()
    source: str | None = None
    config_hash: str = ""
    compare_to: str = ""
    """The reference scenario of paired comparisons (``compare_to:``, default the first scenario)."""

    @property
    def parameters(self) -> list[str]:
        """The dotted paths any scenario sets, in order of first appearance: columns of every table."""
        return list(dict.fromkeys(p for s in self.scenarios for p in s.parameters))

    def runs(self) -> list[RunSpec]:
        """Every (scenario, replication) pair, in a stable order.

        Scenarios share seeds replication by replication (common random numbers),
        so their differences are paired.
        """
        return [
            RunSpec(scenario=s, replication=r, seed=s.run.seed)
            for s in self.scenarios
            for r in range(s.run.replications)
        ]


@dataclass(frozen=True)
class RunSpec:
    scenario: ScenarioSpec
    replication: int
    seed: int

    @property
    def seed_sequence(self) -> np.random.SeedSequence:
        """The root of every random stream of this run; independent of executor and worker count."""
        return np.random.SeedSequence([self.seed, self.replication])

    @property
    def key(self) -> str:
        return f"{self.scenario.name}/rep-{self.replication}"

"""The experiment file, as typed data.

Everything Kubernetes does not describe lives here: the run, the cluster's nodes
and network, the workloads' service times, the clients and the scenarios. The
Kubernetes objects themselves stay verbatim manifests (``manifests``,
``manifest_files``) and are read by :mod:`netsim.k8s`.

Every model forbids unknown keys (a typo must not silently become a default),
is frozen, and has every default filled in, so code downstream never looks a
value up by string key. ``docs/config.md`` documents each field; keep both in step.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from netsim.config.churn_events import BUILTIN_LIFECYCLE, ChurnList, ControlPlaneConfig, RetryConfig
from netsim.config.dataplane import CiliumConfig, MeshConfig
from netsim.config.fields import SECTION_CONFIG, Count, Duration, Latency, PositiveDuration
from netsim.distributions import coerce_distribution


class Section(BaseModel):
    model_config = SECTION_CONFIG


class LimitsConfig(Section):
    """Raise a cost limit deliberately (netsim.limits; the defaults and their meaning are in docs/config.md)."""

    runs: float | None = Field(None, gt=0, description="runs in the experiment (scenarios × replications)")
    requests: float | None = Field(None, gt=0, description="requests one run issues")
    events: float | None = Field(None, gt=0, description="simulation events one run processes (estimated)")
    nodes: float | None = Field(None, gt=0, description="nodes in a scenario")
    services: float | None = Field(None, gt=0, description="Services in a scenario, background_services included")
    pods: float | None = Field(None, gt=0, description="pods at the peak")
    lookup_table_entries: float | None = Field(None, gt=0, description="Maglev table slots (LB maglev, IPVS mh)")
    churn_events: float | None = Field(None, gt=0, description="churn events one run processes")
    rate_steps: float | None = Field(None, gt=0, description="rate steps of one client")


class RunConfig(Section):
    """How long to simulate and how often."""

    duration: PositiveDuration = Field(60.0, description="measured simulated time after the warm-up (s)")
    warmup: Duration = Field(5.0, description="simulated time before measuring starts (s)")
    replications: Count = Field(1, ge=1, description="independent runs per scenario, each with its own seed")
    seed: Count = Field(0, ge=0, description="root seed; per-run seeds derive from it with SeedSequence")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="raise a cost limit deliberately (docs/config.md, Limits)")
    engine: Literal["auto", "events", "fast"] = Field(
        "auto", description="auto: the vectorised fast engine when the scenario is eligible, else the event engine")


class NodeConfig(Section):
    """One node, named explicitly."""

    name: str = Field(min_length=1)
    zone: str = Field("zone-a", min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    cpu: float = Field(4.0, gt=0, description="allocatable CPU cores (topology hints share endpoints by zone CPU)")


class NodePoolConfig(Section):
    """``count`` nodes named node-1..node-N, placed round-robin over ``zones``."""

    count: Count = Field(ge=1)
    zones: list[str] = Field(default_factory=lambda: ["zone-a"], min_length=1)
    cpu: float = Field(4.0, gt=0, description="allocatable CPU cores of each node")


class NetworkConfig(Section):
    """One-way latency of a hop, by its locality. Defaults from k8s-facts.md §7 (RTT / 2)."""

    same_node: Latency = Field(default_factory=lambda: coerce_distribution("15us"), validate_default=True)
    same_zone: Latency = Field(default_factory=lambda: coerce_distribution("125us"), validate_default=True)
    cross_zone: Latency = Field(default_factory=lambda: coerce_distribution("450us"), validate_default=True)
    internet: Latency = Field(default_factory=lambda: coerce_distribution("10ms"), validate_default=True)


ProxyModeName = Literal["iptables", "ipvs", "nftables"]
IpvsSchedulerName = Literal["rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh"]


class FirstPacketConfig(Section):
    """What rule evaluation adds to the first packet of a new connection (k8s-facts §1.5; docs/config.md).

    iptables scans ``KUBE-SERVICES`` linearly: ``iptables + iptables_per_service × position × jitter``,
    ``position`` this Service's place among ``background_services + Services`` rules (uniform, per node;
    every rule for a connection to nodeIP:nodePort, whose ``KUBE-NODEPORTS`` jump is the chain's last rule),
    ``jitter`` lognormal with median 1. IPVS and nftables are O(1): a constant. ``measured`` is a
    calibration to the published measurement (netsim/model/first_packet.py).
    """

    model: Literal["measured", "linear"] = Field(
        "measured", description="measured: reproduce published measurement A (netsim/model/first_packet.py); linear: the scan mechanism below"
    )
    iptables: Duration = Field(0.0, description="constant part in iptables mode (s)")
    iptables_per_service: Duration = Field(16.8e-9, description="scan cost per KUBE-SERVICES rule ahead of this Service (s)")
    jitter_sigma: float = Field(0.33, ge=0, description="sigma of the lognormal jitter on the iptables scan")
    ipvs: Duration = Field(0.0, description="constant cost of the IPVS lookup (s)")
    nftables: Duration = Field(0.0, description="constant cost of the nftables verdict-map lookup (s)")


class SyncCostConfig(Section):
    """How long one kube-proxy sync takes (used when endpoints change; docs/config.md)."""

    base: Duration = Field(0.005, description="fixed cost of a sync in any mode (s)")
    iptables_per_rule: Duration = Field(10e-6, description="iptables-restore time per rule written (s)")
    per_change: Duration = Field(50e-6, description="IPVS/nftables: time per changed Service or endpoint (s)")
    iptables_partial: bool = Field(
        True, description="iptables: a sync rewrites only the changed Services' chains (kube-proxy >= v1.28); false: every rule"
    )


class KubeProxyConfig(Section):
    """kube-proxy on every node: how it picks an endpoint for a new connection."""

    mode: ProxyModeName = "iptables"
    ipvs_scheduler: IpvsSchedulerName = "rr"
    ipvs_inactive_timeout: Duration = Field(
        120.0, description="IPVS lc/wlc: how long a closed connection still counts as inactive (the kernel's TIME_WAIT, 120 s; 0: not at all)"
    )
    sync_period: PositiveDuration = Field(
        3600.0, description="with no change kube-proxy still syncs, fully, this often: FullSyncPeriod, 1 h (older versions: 30 s) (s)"
    )
    min_sync_period: Duration = Field(1.0, description="at least this long between the end of a sync and the next (s)")
    first_packet: FirstPacketConfig = Field(default_factory=FirstPacketConfig)
    sync_cost: SyncCostConfig = Field(default_factory=SyncCostConfig)


class NodeCacheConfig(Section):
    """NodeLocal DNSCache: a caching DNS agent on every node, which pods query instead of CoreDNS."""

    enabled: bool = Field(False, description="the cluster runs NodeLocal DNSCache (a DaemonSet)")
    latency: Latency = Field(
        default_factory=lambda: coerce_distribution("100us"), validate_default=True,
        description="a query answered by the node's cache (same node, no DNAT; netsim's assumption)",
    )
    ttl: Duration = Field(30.0, description="how long it keeps an answer (its Corefile: cache success 9984 30)")
    negative_ttl: Duration = Field(5.0, description="how long it keeps an NXDOMAIN (its Corefile: cache denial 9984 5)")


class DnsConfig(Section):
    """Cluster DNS (CoreDNS, and NodeLocal DNSCache if the cluster runs it) as a client pod sees it."""

    latency: Latency = Field(
        default_factory=lambda: coerce_distribution("300us"), validate_default=True,
        description="a query answered by CoreDNS, from the pod (cluster names: the kubernetes plugin's index, no cache)",
    )
    cache_ttl: Duration = Field(
        0.0, description="the pod's own resolver cache: 0 = none (glibc, musl, Go); the JVM keeps answers 30 s (s)"
    )
    node_cache: NodeCacheConfig = Field(default_factory=NodeCacheConfig)
    ndots: Count = Field(5, ge=0, le=15, description="resolv.conf ndots: names with fewer dots try the search list first")
    search: list[str] = Field(
        default_factory=list,
        description="search domains after the cluster's three (<ns>.svc.cluster.local svc.cluster.local cluster.local), "
        "e.g. the node's ec2.internal",
    )
    aaaa: bool = Field(False, description="the resolver asks A and AAAA for every name (queries double, in parallel)")
    upstream_latency: Latency = Field(
        default_factory=lambda: coerce_distribution("20ms"), validate_default=True,
        description="CoreDNS forwarding a name outside cluster.local upstream (an ExternalName's CNAME target)",
    )
    upstream_cache_ttl: Duration = Field(30.0, description="CoreDNS caches forwarded answers this long (kubeadm Corefile: cache 30)")
    coredns_replicas: Count = Field(2, ge=1, description="CoreDNS pods, each with its own cache of forwarded names (kubeadm: 2)")

    @field_validator("node_cache", mode="before")
    @classmethod
    def _node_cache_shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value


CONNECT_TIMEOUT_S = 127.0
"""Linux gives up a connect() whose SYNs get no answer after 127 s (``tcp_syn_retries`` 6, initial RTO 1 s,
doubling: retransmissions at 1, 3, 7, 15, 31, 63 s; kernel ip-sysctl.rst). Kernels since 6.5 make the first
four backoffs linear (``tcp_syn_linear_timeouts`` 4) and give up at 131 s."""

LoadBalancerProvider = Literal["aws-nlb", "aws-clb", "gcp", "azure", "generic"]
LoadBalancerAlgorithm = Literal["round-robin", "flow-hash", "maglev"]


class HealthCheckConfig(Section):
    """An LB health check; unset fields come from the provider preset (k8s-facts §4)."""

    interval: PositiveDuration | None = None
    timeout: PositiveDuration | None = None
    healthy_threshold: Count | None = Field(None, ge=1, le=100)
    unhealthy_threshold: Count | None = Field(None, ge=1, le=100)


class LoadBalancerConfig(Section):
    """The cloud load balancer of ``type: LoadBalancer`` Services; unset fields come from ``provider``'s preset."""

    provider: LoadBalancerProvider = "generic"
    algorithm: LoadBalancerAlgorithm | None = None
    latency: Latency | None = Field(None, description="the LB's own forwarding time, each direction")
    cross_zone: bool | None = Field(None, description="may a zone's LB node send to targets in other zones")
    target_type: Literal["instance", "ip"] | None = Field(
        None, description="instance: nodes at the nodePort, then kube-proxy; ip: pods directly"
    )
    maglev_table_size: Count | None = Field(None, ge=3, description="a prime; maglev lookup table size (default 65537)")
    preserves_client_ip: bool | None = Field(None, description="passthrough (True) or proxy (False: nodes see the LB's IP)")
    health_check: HealthCheckConfig = Field(default_factory=HealthCheckConfig)
    """Applies to both health checks (kube-proxy's port for Cluster, healthCheckNodePort for Local)."""
    deregistration_lag: Duration = Field(
        5.0, description="ip targets: from a pod turning Terminating to the LB sending it no new connections (netsim assumption)"
    )


class ClusterConfig(Section):
    nodes: NodePoolConfig | list[NodeConfig] = Field(default_factory=lambda: NodePoolConfig(count=3))
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    kube_proxy: KubeProxyConfig = Field(default_factory=KubeProxyConfig)
    dataplane: Literal["kube-proxy", "cilium"] = Field("kube-proxy", description="what balances Services on the nodes")
    cilium: CiliumConfig = Field(default_factory=CiliumConfig)
    mesh: MeshConfig = Field(default_factory=MeshConfig)
    dns: DnsConfig = Field(default_factory=DnsConfig)
    load_balancer: LoadBalancerConfig = Field(default_factory=LoadBalancerConfig)
    background_services: Count = Field(
        0, ge=0, description="other Services in the cluster: their iptables rules, not their traffic"
    )
    cross_zone_cost_per_gb: float = Field(0.01, ge=0, description="USD per GB, charged in each direction (sender and receiver)")
    node_port_range: str = Field("30000-32767", description="the API server's --service-node-port-range")
    control_plane: ControlPlaneConfig = Field(default_factory=ControlPlaneConfig)
    """How endpoint changes reach each node's kube-proxy, and how node failures are handled (churn)."""

    @field_validator("nodes", mode="before")
    @classmethod
    def _nodes_shape(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one node, or {count: N, zones: [...]}")
        return value

    @field_validator("node_port_range")
    @classmethod
    def _range(cls, value: str) -> str:
        low, _, high = str(value).partition("-")
        if not (low.strip().isdigit() and high.strip().isdigit() and 0 < int(low) <= int(high) < 65536):
            raise ValueError(f"'{value}' is not a port range: write it as LOW-HIGH, e.g. 30000-32767")
        return f"{int(low)}-{int(high)}"

    @property
    def node_proxy(self) -> KubeProxyConfig:
        """What the nodes' Service balancing does, as kube-proxy settings: ``kube_proxy`` itself, or Cilium's
        equivalent (uniform random choice, an O(1) hash-map lookup, a BPF map update per change, no batching)."""
        if self.dataplane == "kube-proxy":
            return self.kube_proxy
        return self.kube_proxy.model_copy(update={
            "mode": "nftables", "min_sync_period": 0.0,
            "first_packet": FirstPacketConfig(), "sync_cost": SyncCostConfig(base=self.cilium.map_update, per_change=0.0),
        })

    @property
    def node_ports(self) -> tuple[int, int]:
        low, high = self.node_port_range.split("-")
        return int(low), int(high)


ConnectionMode = Literal["per-request", "keep-alive", "multiplexed"]


class ConnectionsConfig(Section):
    """How a client pod reuses connections (kube-proxy balances connections, not requests).

    ``per-request``: a new connection (endpoint choice, first-packet cost) for every request.
    ``keep-alive`` (HTTP/1.1): up to ``pool`` connections per client pod, one request in flight
    on each; requests wait for a free one. ``multiplexed`` (HTTP/2, gRPC): all requests share
    ``pool`` connections. A connection is replaced (a new endpoint choice) after
    ``max_requests`` requests or ``max_lifetime`` seconds, when set.
    """

    mode: ConnectionMode = "per-request"
    pool: Count = Field(1, ge=1, description="connections per client pod (keep-alive, multiplexed)")
    max_requests: Count | None = Field(None, ge=1, description="close a connection after this many requests")
    max_lifetime: PositiveDuration | None = Field(None, description="close a connection this long after it opened (s)")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"mode": value} if isinstance(value, str) else value


class CountDistribution(Section):
    """An integer number of calls drawn each time a ``call`` step runs."""

    distribution: Literal["uniform", "poisson", "choice"] = Field(
        description="uniform: an integer from low to high, both included; poisson: a Poisson count of the given mean; "
        "choice: one of values, with optional weights"
    )
    low: Count | None = Field(None, ge=0)
    high: Count | None = Field(None, ge=0)
    mean: float | None = Field(None, ge=0)
    values: list[Annotated[Count, Field(ge=0)]] | None = Field(None, min_length=1)
    weights: list[Annotated[float, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _shape(self) -> CountDistribution:
        need = {"uniform": ("low", "high"), "poisson": ("mean",), "choice": ("values",)}[self.distribution]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.distribution} count needs {' and '.join(missing)}")
        extra = [f for f in ("low", "high", "mean", "values", "weights") if f not in need and getattr(self, f) is not None
                 and not (f == "weights" and self.distribution == "choice")]
        if extra:
            raise ValueError(f"a {self.distribution} count does not take {', '.join(extra)}")
        if self.distribution == "uniform" and self.high < self.low:  # type: ignore[operator]
            raise ValueError("'high' must not be below 'low'")
        if self.weights is not None and (len(self.weights) != len(self.values or []) or not sum(self.weights) > 0):
            raise ValueError("give one weight per value, not all zero")
        return self

    @property
    def mean_count(self) -> float:
        if self.distribution == "uniform":
            return (self.low + self.high) / 2  # type: ignore[operator]
        if self.distribution == "poisson":
            return float(self.mean)  # type: ignore[arg-type]
        values = self.values or []
        weights = self.weights or [1.0] * len(values)
        return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)


class WorkStepConfig(Section):
    """``{work: <duration or distribution>}``: compute on the worker; ``{work: service_time}``: the workload's own."""

    work: Literal["service_time"] | Latency = Field(description="a duration, a distribution, or service_time (the workload's)")


class CallStepConfig(Section):
    """``{call: <target>}``: a request to a Service, from this pod, through the cluster's data plane."""

    call: str = Field(min_length=1, description="a Service as clients[].target writes it: svc, svc:port, svc:portname, a DNS name")
    operation: str | None = Field(None, min_length=1, description="the callee's operation (default: its first)")
    count: Count | CountDistribution = Field(1, description="calls one after another: a number or an integer distribution")
    probability: float = Field(1.0, ge=0, le=1, description="chance the step runs at all, drawn each time it is reached")
    timeout: PositiveDuration | None = Field(None, description="this call's timeout (default: workloads.<d>.calls)")
    optional: bool = Field(False, description="a failure does not fail the request (it is recorded on the edge)")
    request_bytes: Count | None = Field(None, ge=0, description="bytes the call carries on the wire (cross-zone cost)")
    response_bytes: Count | None = Field(None, ge=0, description="bytes its answer carries on the wire")

    @field_validator("count")
    @classmethod
    def _count(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 0:
            raise ValueError("a count cannot be negative")
        return value


class ParallelStepConfig(Section):
    """``{parallel: [<branch>...]}``: branches run concurrently, each a step or a list of steps; then a join."""

    parallel: list[Step | list[Step]] = Field(min_length=1, description="branches: each a step or a list of steps run in order")


class LookupStepConfig(Section):
    """``{lookup: <DNS name>}``: a DNS query from the pod (no client-side cache)."""

    lookup: str = Field(min_length=1, description="the name to resolve, as the application writes it")


STEP_KINDS = ("work", "call", "parallel", "lookup")


def _step_kind(value: Any) -> str | None:
    """The step's tag: its kind, capitalised (error paths skip capitalised tags, so the user's path stays
    ``...operations.home.3.work``, not ``...3.work.work``)."""
    if isinstance(value, dict):
        found = [k for k in STEP_KINDS if k in value]
        return found[0].capitalize() if len(found) == 1 else None
    return next((k.capitalize() for k in STEP_KINDS if getattr(value, k, None) is not None), None)


def _one_step_kind(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError("a step is a mapping with one of work, call, parallel, lookup (e.g. {work: 2ms} or {call: cart})")
    found = [k for k in STEP_KINDS if k in value]
    if len(found) != 1:
        raise ValueError(f"a step needs exactly one of work, call, parallel, lookup (found {', '.join(found) or 'none'})")
    return value


Step = Annotated[
    Annotated[WorkStepConfig, Tag("Work")]
    | Annotated[CallStepConfig, Tag("Call")]
    | Annotated[ParallelStepConfig, Tag("Parallel")]
    | Annotated[LookupStepConfig, Tag("Lookup")],
    Discriminator(_step_kind),
    BeforeValidator(_one_step_kind),
]
"""One step of an operation."""
ParallelStepConfig.model_rebuild()


class CallsOverride(Section):
    """How a Deployment's pods call one particular Service (overrides ``calls``)."""

    connections: ConnectionsConfig | None = None
    timeout: PositiveDuration | None = None
    connect_timeout: PositiveDuration | None = None
    retries: RetryConfig | None = None
    discovery: Literal["dns", "env"] | None = None


class CallsConfig(Section):
    """How a Deployment's pods call other Services: the same fields and meaning as a client's."""

    connections: ConnectionsConfig = Field(default_factory=lambda: ConnectionsConfig(), description="per calling pod and callee Service")
    timeout: PositiveDuration = Field(30.0, description="default timeout of a call (s), cut to what remains of the caller's own")
    connect_timeout: PositiveDuration = Field(
        CONNECT_TIMEOUT_S, description="a new connection whose SYN gets no answer fails after this long (s; Linux: 127 s)"
    )
    retries: RetryConfig | None = Field(None, description="retry failed calls (default: no retries)")
    discovery: Literal["dns", "env"] = "dns"
    services: dict[str, CallsOverride] = Field(default_factory=dict, description="per callee Service name: overrides")


class WorkloadConfig(Section):
    """How a Deployment's pods serve requests. Unset fields inherit ``workloads.default``, then built-ins."""

    service_time: Latency | None = None
    concurrency: Count | None = Field(None, ge=1, description="requests a pod serves at once (workers)")
    queue_limit: Count | None = Field(None, ge=0, description="requests a pod holds waiting; more are rejected")
    startup: Latency | None = Field(None, description="from pod scheduled to container running (image pull, process start)")
    prestop: Latency | None = Field(None, description="duration of an exec/httpGet preStop hook (a sleep hook carries its own)")
    operations: dict[str, Annotated[list[Step], Field(min_length=1)]] | None = Field(
        None, description="name -> steps a worker runs for a request of that operation (default: {default: [{work: service_time}]})"
    )
    hold_worker: bool | None = Field(
        None, description="true: a request keeps its worker while its calls are outstanding (thread per request); "
        "false: the worker is freed at each call (event loop)"
    )
    calls: CallsConfig | None = Field(None, description="how this Deployment's pods call other Services")
    mesh: bool | None = Field(
        None, description="false: this Deployment's pods stay out of cluster.mesh (no sidecar, no ambient), "
        "as the label sidecar.istio.io/inject: \"false\" does"
    )


class RateStep(Section):
    """From ``at`` on, the client sends at ``rate`` (a load step)."""

    at: Duration = Field(description="simulated time the rate changes (s)")
    rate: float = Field(gt=0, description="requests per second from then on")


class ArrivalConfig(Section):
    """How a client's requests arrive: open-loop Poisson, or closed-loop users with think time."""

    process: Literal["poisson", "closed"] = Field(
        "poisson", description="poisson: open loop at rate; closed: users that each wait for an answer, think, and send again"
    )
    rate: float | None = Field(None, gt=0, description="poisson: requests per second, in total over the client's pods")
    steps: list[RateStep] = Field(
        default_factory=list, description="poisson: later rates, a Poisson process whose rate steps at these times"
    )
    users: Count | None = Field(None, ge=1, description="closed: how many users")
    think_time: Latency | None = Field(None, description="closed: a user's pause between an answer and its next request")
    on_start: str | list[str] | None = Field(
        None, description="closed: operation(s) every user runs once first, e.g. index (locust's on_start)"
    )

    @field_validator("steps")
    @classmethod
    def _ordered(cls, value: list[RateStep]) -> list[RateStep]:
        if any(b.at <= a.at for a, b in pairwise(value)):
            raise ValueError("list the steps in increasing order of 'at'")
        return value

    @model_validator(mode="after")
    def _process_fields(self) -> ArrivalConfig:
        if self.process == "poisson":
            if self.rate is None:
                raise ValueError("a poisson arrival needs a rate (requests per second), e.g. {process: poisson, rate: 100}")
            given = [f for f in ("users", "think_time", "on_start") if getattr(self, f) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} belong to closed-loop users: set process: closed, or remove them")
        else:
            missing = [f for f in ("users", "think_time") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"closed-loop users need {' and '.join(missing)}, e.g. {{process: closed, users: 10, think_time: 1s}}")
            given = [f for f in ("rate", "steps") if getattr(self, f)]
            if given:
                raise ValueError(f"{', '.join(given)} belong to poisson arrivals: closed-loop load follows from users and think_time")
        return self


class TaskConfig(Section):
    """A weighted choice of a closed-loop user that is a sequence of operations sent one after another."""

    weight: float = Field(ge=0, description="relative weight of the task")
    sequence: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, description="operations sent one after another")


class ClientConfig(Section):
    """Who sends traffic, from where, to which Service."""

    name: str = Field(min_length=1)
    location: Literal["in-cluster", "external"] = "in-cluster"
    target: str = Field(min_length=1, description="a Service name, optionally :port (number or name)")
    from_: str | None = Field(None, alias="from", description="Deployment/<name>: run in that Deployment's pods")
    namespace: str | None = Field(
        None, min_length=1, description="in-cluster clients: the namespace of the client's pods, where short names resolve "
        "(default: its Deployment's with from:, else default)",
    )
    arrival: ArrivalConfig
    timeout: PositiveDuration = Field(30.0, description="the client gives up after this long (s)")
    connect_timeout: PositiveDuration = Field(
        CONNECT_TIMEOUT_S, description="a new connection whose SYN gets no answer fails after this long (s; Linux: 127 s)"
    )
    discovery: Literal["dns", "env"] = Field(
        "dns", description="how an in-cluster client finds the Service: cluster DNS, or the env vars kubelet injected at pod start"
    )
    entry_nodes: list[str] | None = Field(
        None, description="external clients of a NodePort Service: the nodes they connect to (default: all nodes)"
    )
    source_ips: Count = Field(
        100, ge=1, description="external clients: how many distinct client addresses the requests come from"
    )
    connections: ConnectionsConfig = Field(default_factory=ConnectionsConfig)
    request_bytes: Count = Field(1000, ge=0, description="bytes a request carries on the wire (cross-zone cost)")
    response_bytes: Count = Field(10000, ge=0, description="bytes a response carries on the wire (cross-zone cost)")
    retries: RetryConfig | None = Field(None, description="retry refused/reset/timed-out tries (default: no retries)")
    operations: dict[str, Annotated[float, Field(ge=0)] | TaskConfig] | None = Field(
        None, description="weights of the target's operations, chosen per request (default: its first operation); "
        "closed-loop users may also weigh sequences: {label: {weight, sequence: [op, ...]}}"
    )

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("Deployment/"):
            raise ValueError(f"'{value}' must name a Deployment as Deployment/<name>")
        return value


class ExternalHostConfig(Section):
    """A host outside the cluster (an ExternalName target): a pure delay, its capacity is not modelled."""

    service_time: Latency = Field(
        default_factory=lambda: coerce_distribution({"distribution": "exponential", "mean": "20ms"}), validate_default=True
    )


class ScenarioConfig(Section):
    name: str = Field(min_length=1)
    set: dict[str, Any] = Field(default_factory=dict, description="dotted path -> value, applied to the base")


class ExperimentConfig(Section):
    """A whole experiment file."""

    name: str = Field("experiment", min_length=1)
    description: str = ""
    run: RunConfig = Field(default_factory=RunConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    manifests: list[dict[str, Any]] = Field(default_factory=list)
    manifest_files: list[str] = Field(default_factory=list)
    workloads: dict[str, WorkloadConfig] = Field(default_factory=dict)
    clients: list[ClientConfig] = Field(min_length=1)
    scenarios: list[ScenarioConfig] = Field(default_factory=list)
    external_hosts: dict[str, ExternalHostConfig] = Field(
        default_factory=dict, description="keyed by externalName host or by Service name: outside hosts' service times"
    )
    deferred: list[dict[str, Any]] = Field(
        default_factory=list, description="manifests that do not exist at the start; churn: applies them"
    )
    churn: ChurnList = Field(default_factory=list, description="timed changes: rollouts, scaling, kills, node failures, applies")
    vary: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(
        default_factory=dict,
        description="dotted path -> list of values: a cartesian sweep; each combination is a scenario (crossed with scenarios)",
    )
    compare_to: str | None = Field(None, description="the reference scenario of comparison.csv (default: the first scenario)")

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        """The name is the results folder's (results/<name>): it must stay one folder, inside results/."""
        if value in (".", "..") or any(c in value for c in "/\\\0") or any(ord(c) < 32 for c in value) or len(value) > 100:
            raise ValueError(
                f"{value!r:.60} cannot name a results folder: use letters, digits, '-', '_' or '.', without '/' "
                "(at most 100 characters), e.g. my-experiment"
            )
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> ExperimentConfig:
        for field, items in (("clients", self.clients), ("scenarios", self.scenarios)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    raise ValueError(f"{field}: the name '{item.name}' is used twice; names must be unique")
                seen.add(item.name)
        return self


BUILTIN_WORKLOAD = {
    "service_time": {"distribution": "exponential", "mean": "10ms"},
    "concurrency": 1,
    "queue_limit": 1000,
    **BUILTIN_LIFECYCLE,
}
"""What a Deployment that ``workloads`` does not name (and ``workloads.default`` does not cover) gets."""

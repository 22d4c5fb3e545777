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

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from netsim.distributions import DistributionSpec, coerce_distribution
from netsim.units import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
Latency = Annotated[DistributionSpec, BeforeValidator(coerce_distribution)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RunConfig(Section):
    """How long to simulate and how often."""

    duration: PositiveDuration = Field(60.0, description="measured simulated time after the warm-up (s)")
    warmup: Duration = Field(5.0, description="simulated time before measuring starts (s)")
    replications: int = Field(1, ge=1, description="independent runs per scenario, each with its own seed")
    seed: int = Field(0, ge=0, description="root seed; per-run seeds derive from it with SeedSequence")


class NodeConfig(Section):
    """One node, named explicitly."""

    name: str = Field(min_length=1)
    zone: str = Field("zone-a", min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)


class NodePoolConfig(Section):
    """``count`` nodes named node-1..node-N, placed round-robin over ``zones``."""

    count: int = Field(ge=1)
    zones: list[str] = Field(default_factory=lambda: ["zone-a"], min_length=1)


class NetworkConfig(Section):
    """One-way latency of a hop, by its locality. Defaults from k8s-facts.md §7 (RTT / 2)."""

    same_node: Latency = Field(default_factory=lambda: coerce_distribution("15us"))
    same_zone: Latency = Field(default_factory=lambda: coerce_distribution("125us"))
    cross_zone: Latency = Field(default_factory=lambda: coerce_distribution("450us"))
    internet: Latency = Field(default_factory=lambda: coerce_distribution("10ms"))


ProxyModeName = Literal["iptables", "ipvs", "nftables"]
IpvsSchedulerName = Literal["rr"]


class KubeProxyConfig(Section):
    """kube-proxy on every node: how it picks an endpoint for a new connection."""

    mode: ProxyModeName = "iptables"
    ipvs_scheduler: IpvsSchedulerName = "rr"


class DnsConfig(Section):
    """Cluster DNS (CoreDNS) as a client pod sees it."""

    latency: Latency = Field(default_factory=lambda: coerce_distribution("300us"))
    cache_ttl: Duration = Field(30.0, description="how long a client pod reuses an answer (s)")


class ClusterConfig(Section):
    nodes: NodePoolConfig | list[NodeConfig] = Field(default_factory=lambda: NodePoolConfig(count=3))
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    kube_proxy: KubeProxyConfig = Field(default_factory=KubeProxyConfig)
    dns: DnsConfig = Field(default_factory=DnsConfig)
    node_port_range: str = Field("30000-32767", description="the API server's --service-node-port-range")

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
    def node_ports(self) -> tuple[int, int]:
        low, high = self.node_port_range.split("-")
        return int(low), int(high)


class WorkloadConfig(Section):
    """How a Deployment's pods serve requests. Unset fields inherit ``workloads.default``, then built-ins."""

    service_time: Latency | None = None
    concurrency: int | None = Field(None, ge=1, description="requests a pod serves at once (workers)")
    queue_limit: int | None = Field(None, ge=0, description="requests a pod holds waiting; more are rejected")


class ArrivalConfig(Section):
    process: Literal["poisson"] = "poisson"
    rate: float = Field(gt=0, description="requests per second, in total over the client's pods")


class ClientConfig(Section):
    """Who sends traffic, from where, to which Service."""

    name: str = Field(min_length=1)
    location: Literal["in-cluster", "external"] = "in-cluster"
    target: str = Field(min_length=1, description="a Service name, optionally :port (number or name)")
    from_: str | None = Field(None, alias="from", description="Deployment/<name>: run in that Deployment's pods")
    arrival: ArrivalConfig
    timeout: PositiveDuration = Field(30.0, description="the client gives up after this long (s)")

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("Deployment/"):
            raise ValueError(f"'{value}' must name a Deployment as Deployment/<name>")
        return value


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
}
"""What a Deployment that ``workloads`` does not name (and ``workloads.default`` does not cover) gets."""

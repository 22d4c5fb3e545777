"""Config of the data plane beyond kube-proxy: Cilium's eBPF Service load balancing and service meshes.

``cluster.dataplane: cilium`` replaces kube-proxy (``cluster.cilium`` tunes it);
``cluster.mesh`` puts a sidecar proxy beside every in-cluster sender and pod, or
Istio ambient's per-node ztunnel (with an optional waypoint). Defaults and their
sources are in docs/config.md ("Data planes").
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from netsim.config.fields import SECTION_CONFIG, Count, Duration, Latency, PositiveDuration
from netsim.distributions import coerce_distribution

MAGLEV_SIZES = (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)
"""The table sizes Cilium accepts for ``maglev.tableSize`` (primes)."""


class _Section(BaseModel):
    model_config = SECTION_CONFIG


class CiliumLoadBalancerConfig(_Section):
    """Cilium's NodePort/LoadBalancer handling (``loadBalancer.*`` Helm values)."""

    algorithm: Literal["random", "maglev"] = Field("random", description="backend choice for traffic entering at a node")
    mode: Literal["snat", "dsr"] = Field("snat", description="snat: replies return through the entry node; dsr: straight to the client")
    maglev_table_size: Count = Field(16381, description="Maglev lookup table size M (one of Cilium's primes)")

    @field_validator("maglev_table_size")
    @classmethod
    def _prime(cls, value: int) -> int:
        if value not in MAGLEV_SIZES:
            raise ValueError(f"not a table size Cilium accepts; use one of {', '.join(map(str, MAGLEV_SIZES))}")
        return value


class CiliumConfig(_Section):
    """``cluster.dataplane: cilium``: eBPF Service load balancing instead of kube-proxy."""

    load_balancer: CiliumLoadBalancerConfig = Field(default_factory=CiliumLoadBalancerConfig)
    map_update: Duration = Field(
        0.001, description="an agent's time to write a changed Service's backends into its BPF maps (s; netsim assumption)"
    )


LbPolicy = Literal["round_robin", "random", "least_request", "ring_hash", "maglev", "peak_ewma"]


class RetryBudgetConfig(_Section):
    """Envoy's retry budget: concurrent retries at most ``percent`` of active requests, but at least ``min_concurrency``."""

    percent: float = Field(20.0, ge=0, le=100, description="retries in flight as a percentage of active requests")
    min_concurrency: Count = Field(3, ge=0, description="retries allowed in flight whatever the active requests")


class MeshRetryConfig(_Section):
    """Retries made by the sender's proxy (a new pod choice each time, never the pod that just failed)."""

    attempts: Count = Field(2, ge=0, description="retries after the first try (Istio's default: 2)")
    on: list[Literal["refused", "reset", "rejected", "upstream"]] = Field(
        default_factory=lambda: ["refused", "reset"], min_length=1, description="which answers are retried"
    )
    budget: RetryBudgetConfig | None = Field(None, description="a retry budget (Envoy; off unless set, as in Istio)")


class OutlierDetectionConfig(_Section):
    """Eject a pod from a proxy's choices after consecutive errors (Envoy's consecutive_5xx)."""

    consecutive_errors: Count = Field(5, ge=1, description="errors in a row that eject a pod")
    base_ejection_time: PositiveDuration = Field(30.0, description="ejection lasts this times the times it was ejected (s)")
    max_ejection_percent: float = Field(10.0, ge=0, le=100, description="never eject more than this share of the pods")


class MeshConfig(_Section):
    """A service mesh on every in-cluster sender and every pod (docs/config.md, "Data planes")."""

    mode: Literal["none", "sidecar", "ambient"] = Field("none", description="none, a sidecar proxy per pod, or Istio ambient")
    proxy: Literal["envoy", "linkerd"] = Field("envoy", description="whose proxy: its default lb_policy (least_request | peak_ewma)")
    lb_policy: LbPolicy | None = Field(None, description="per-request balancing over pods (default: the proxy's)")
    hash_key: Literal["source_ip", "request"] = Field(
        "source_ip", description="ring_hash/maglev: hash the sender's IP, or a key that differs per request (a header)"
    )
    workers: Count = Field(2, ge=1, description="worker threads of each sidecar or waypoint (Istio's default: 2)")
    cost: Latency = Field(default_factory=lambda: coerce_distribution("110us"), validate_default=True,
                          description="a sidecar's time per request (each side of a call)")
    ztunnel_cost: Latency = Field(default_factory=lambda: coerce_distribution("85us"), validate_default=True,
                                  description="ambient: a node's ztunnel's time per request (each side)")
    ztunnel_workers: Count = Field(2, ge=1, description="ambient: worker threads of each node's ztunnel")
    waypoint: bool = Field(False, description="ambient: an L7 waypoint proxy per Service balances per request")
    waypoint_cost: Latency = Field(default_factory=lambda: coerce_distribution("140us"), validate_default=True,
                                   description="ambient: the waypoint's time per request")
    propagation: Latency = Field(default_factory=lambda: coerce_distribution("100ms"), validate_default=True,
                                 description="from an EndpointSlice write to every proxy's endpoints (control plane push)")
    timeout: PositiveDuration | None = Field(None, description="the proxy answers 504 after this long (Istio: none)")
    retries: MeshRetryConfig | None = Field(None, description="retries made by the proxy (default: none)")
    outlier_detection: OutlierDetectionConfig | None = Field(None, description="eject failing pods (off unless set, as in Istio)")

    @model_validator(mode="after")
    def _waypoint_needs_ambient(self) -> MeshConfig:
        if self.waypoint and self.mode != "ambient":
            raise ValueError("a waypoint belongs to Istio ambient; set mode: ambient, or waypoint: false")
        return self

    @property
    def policy(self) -> str:
        """The balancing policy in force: the configured one, or the proxy's default."""
        if self.lb_policy is not None:
            return self.lb_policy
        return "peak_ewma" if self.proxy == "linkerd" else "least_request"

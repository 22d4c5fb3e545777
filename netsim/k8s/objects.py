"""The few Kubernetes objects netsim models, with the API server's defaults applied.

A manifest says much more than netsim needs (images, security contexts,
resources); only what shapes traffic is kept: labels and selectors, ports,
replica counts, placement constraints, Service type and traffic policies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from netsim.k8s.pod_template import DeploymentStrategy, PodTemplate


class ServiceType(StrEnum):
    """``spec.type`` of a Service."""

    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"
    EXTERNAL_NAME = "ExternalName"

    @property
    def reachable_from_outside(self) -> bool:
        """NodePort and LoadBalancer open a port on every node; ClusterIP is virtual, in-cluster only."""
        return self in (ServiceType.NODE_PORT, ServiceType.LOAD_BALANCER)


class TrafficPolicy(StrEnum):
    """``externalTrafficPolicy`` / ``internalTrafficPolicy``."""

    CLUSTER = "Cluster"
    LOCAL = "Local"


@dataclass(frozen=True)
class ContainerPort:
    port: int
    name: str | None = None
    protocol: str = "TCP"


@dataclass(frozen=True)
class ServicePort:
    """One entry of ``spec.ports``; ``target_port`` is a number or a container port *name*."""

    port: int
    target_port: int | str
    name: str | None = None
    protocol: str = "TCP"
    node_port: int | None = None


@dataclass(frozen=True)
class Service:
    name: str
    """How netsim names it in results, churn and messages: ``metadata.name``, or ``<name>.<namespace>``
    when another namespace has a Service of the same name (:func:`netsim.k8s.namespaces.qualify`)."""
    namespace: str
    type: ServiceType
    selector: dict[str, str] | None
    ports: tuple[ServicePort, ...]
    external_traffic_policy: TrafficPolicy = TrafficPolicy.CLUSTER
    internal_traffic_policy: TrafficPolicy = TrafficPolicy.CLUSTER
    session_affinity: str = "None"
    """``None`` or ``ClientIP``."""
    affinity_timeout_s: float = 10800.0
    """``sessionAffinityConfig.clientIP.timeoutSeconds`` (k8s-facts §3: default 10800 s)."""
    external_name: str | None = None
    health_check_node_port: int | None = None
    """``spec.healthCheckNodePort``: LoadBalancer + ``externalTrafficPolicy: Local`` only."""
    labels: dict[str, str] = field(default_factory=dict)
    traffic_distribution: str | None = None
    """``spec.trafficDistribution``: ``PreferClose`` keeps traffic in the client's zone while it has endpoints."""
    topology_mode: str | None = None
    """Annotation ``service.kubernetes.io/topology-mode`` (``Auto``: zone hints in proportion to zone CPU)."""
    qualified: bool = False
    """``name`` is ``<metadata.name>.<namespace>``."""

    @property
    def metadata_name(self) -> str:
        """The name in the manifest (what DNS records and selectors in Kubernetes know it by)."""
        return self.name[: -len(self.namespace) - 1] if self.qualified else self.name

    def port_named(self, ref: str | int | None) -> ServicePort | None:
        """The port a client means by ``ref`` (number, name, or None for the first)."""
        if ref is None:
            return self.ports[0] if self.ports else None
        for port in self.ports:
            if str(port.port) == str(ref) or (port.name is not None and port.name == ref):
                return port
        return None


@dataclass(frozen=True)
class Deployment:
    """A Deployment and its pod template, as far as placement, endpoints and pod lifecycle go.

    ``template`` holds the probes, preStop hooks, grace period and CPU requests;
    ``strategy`` and ``min_ready_seconds`` drive rollouts (:mod:`netsim.k8s.rollout`).
    """

    name: str
    """``metadata.name``, or ``<name>.<namespace>`` when another namespace has a Deployment of the same name."""
    namespace: str
    replicas: int
    selector: dict[str, object]
    pod_labels: dict[str, str]
    container_ports: tuple[ContainerPort, ...]
    node_name: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    template: PodTemplate = field(default_factory=PodTemplate)
    strategy: DeploymentStrategy = field(default_factory=DeploymentStrategy)
    min_ready_seconds: float = 0.0
    qualified: bool = False
    """``name`` is ``<metadata.name>.<namespace>``."""

    @property
    def metadata_name(self) -> str:
        return self.name[: -len(self.namespace) - 1] if self.qualified else self.name

    def pod_name(self, number: int) -> str:
        """The name of the ``number``-th pod: ``web-3``, or ``web-3.shop`` when the Deployment's name is qualified."""
        return f"{self.metadata_name}-{number}.{self.namespace}" if self.qualified else f"{self.name}-{number}"

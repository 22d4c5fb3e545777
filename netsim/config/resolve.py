"""From a validated :class:`ExperimentConfig` to a :class:`ScenarioSpec`.

The cross-checks that need more than one section live here: a client's target
must be a Service that exists and is reachable from where the client is, a
workload must name a Deployment, nodePorts must be in range and unique.
"""

from __future__ import annotations

from typing import Any

from netsim.config.schema import BUILTIN_WORKLOAD, ClientConfig, ExperimentConfig, NodePoolConfig, WorkloadConfig
from netsim.errors import ConfigError, did_you_mean
from netsim.k8s.manifests import read_objects
from netsim.k8s.objects import Deployment, Service, ServiceType
from netsim.spec import ClientSpec, NodeSpec, ScenarioSpec, WorkloadSpec

ZONE_LABEL = "topology.kubernetes.io/zone"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def build_scenario(
    name: str, config: ExperimentConfig, parameters: dict[str, Any], sources: list[str] | None, warnings: list[str]
) -> ScenarioSpec:
    """Resolve one scenario; ``warnings`` collects what is valid but probably not meant."""
    objects = read_objects(config.manifests, sources)
    warnings.extend(objects.warnings)
    nodes = build_nodes(config)
    deployments = tuple(objects.deployments)
    services = tuple(objects.services)
    check_node_ports(services, config.cluster.node_ports)
    workloads = build_workloads(config, deployments)
    clients = tuple(build_client(c, services, deployments) for c in config.clients)
    warnings.extend(_selector_warnings(services, deployments, clients))
    return ScenarioSpec(
        name=name,
        run=config.run,
        cluster=config.cluster,
        nodes=nodes,
        deployments=deployments,
        workloads=workloads,
        services=services,
        clients=clients,
        parameters=parameters,
        config=config.model_dump(mode="json", by_alias=True),
    )


def build_nodes(config: ExperimentConfig) -> tuple[NodeSpec, ...]:
    """Nodes with the well-known labels Kubernetes puts on them (hostname, zone)."""
    nodes = config.cluster.nodes
    if isinstance(nodes, NodePoolConfig):
        specs = [(f"node-{i + 1}", nodes.zones[i % len(nodes.zones)], {}) for i in range(nodes.count)]
    else:
        specs = [(n.name, n.zone, dict(n.labels)) for n in nodes]
    names = [s[0] for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError("cluster.nodes", "node names must be unique")
    return tuple(
        NodeSpec(name=n, zone=z, labels={HOSTNAME_LABEL: n, ZONE_LABEL: z, **labels}) for n, z, labels in specs
    )


def build_workloads(config: ExperimentConfig, deployments: tuple[Deployment, ...]) -> dict[str, WorkloadSpec]:
    """Each Deployment's workload: its own entry, then ``workloads.default``, then the built-in default."""
    names = [d.name for d in deployments]
    for key in config.workloads:
        if key != "default" and key not in names:
            raise ConfigError(
                f"workloads.{key}", f"no Deployment named '{key}'{did_you_mean(key, names)}; workloads are keyed by Deployment name"
            )
    builtin = WorkloadConfig.model_validate(BUILTIN_WORKLOAD)
    default = config.workloads.get("default", WorkloadConfig())
    out = {}
    for name in names:
        layers = (config.workloads.get(name, WorkloadConfig()), default, builtin)
        out[name] = WorkloadSpec(**{f: _first_set(layers, f) for f in ("service_time", "concurrency", "queue_limit")})
    return out


def _first_set(layers: tuple[WorkloadConfig, ...], field: str) -> Any:
    return next(getattr(layer, field) for layer in layers if getattr(layer, field) is not None)


def build_client(client: ClientConfig, services: tuple[Service, ...], deployments: tuple[Deployment, ...]) -> ClientSpec:
    """Resolve ``target`` (``name``, ``name:port``, or a cluster DNS name) and check reachability."""
    path = f"clients.{client.name}"
    host, _, port_ref = client.target.partition(":")
    service_name = host.split(".")[0]
    by_name = {s.name: s for s in services}
    if service_name not in by_name:
        raise ConfigError(
            f"{path}.target",
            f"no Service named '{service_name}'{did_you_mean(service_name, by_name)}; "
            f"Services in this experiment: {', '.join(by_name) or 'none'}",
        )
    service = by_name[service_name]
    if service.type is ServiceType.EXTERNAL_NAME:
        raise ConfigError(f"{path}.target", f"Service '{service_name}' is ExternalName, which netsim does not simulate yet; target a Service with a selector")
    port = service.port_named(port_ref or None)
    if port is None:
        known = ", ".join(str(p.port) + (f" ({p.name})" if p.name else "") for p in service.ports)
        raise ConfigError(f"{path}.target", f"Service '{service_name}' has no port '{port_ref}'; its ports: {known}")
    if client.location == "external":
        if not service.type.reachable_from_outside:
            raise ConfigError(
                f"{path}.location",
                f"Service '{service_name}' is {service.type.value}, reachable only inside the cluster: "
                "use location: in-cluster, or make the Service type NodePort or LoadBalancer",
            )
        raise ConfigError(f"{path}.location", "external clients (NodePort/LoadBalancer paths) are not simulated yet; use location: in-cluster")
    from_deployment = None
    if client.from_ is not None:
        from_deployment = client.from_.split("/", 1)[1]
        names = [d.name for d in deployments]
        if from_deployment not in names:
            raise ConfigError(f"{path}.from", f"no Deployment named '{from_deployment}'{did_you_mean(from_deployment, names)}")
    return ClientSpec(
        name=client.name,
        location=client.location,
        service=service.name,
        port=port,
        from_deployment=from_deployment,
        rate=client.arrival.rate,
        timeout=client.timeout,
    )


def check_node_ports(services: tuple[Service, ...], node_ports: tuple[int, int]) -> None:
    """nodePorts given in manifests must lie in the node-port range and be unique, as the API server demands."""
    low, high = node_ports
    used: dict[int, str] = {}
    for service in services:
        for j, port in enumerate(service.ports):
            if port.node_port is None:
                continue
            path = f"Service/{service.name}.spec.ports.{j}.nodePort"
            if not low <= port.node_port <= high:
                raise ConfigError(
                    path, f"{port.node_port} is outside the node-port range {low}-{high}; pick a port in it, or widen cluster.node_port_range"
                )
            if port.node_port in used:
                raise ConfigError(path, f"{port.node_port} is already used by Service/{used[port.node_port]}; pick another or leave it out to allocate one")
            used[port.node_port] = service.name


def _selector_warnings(services, deployments, clients) -> list[str]:  # type: ignore[no-untyped-def]
    """Valid in Kubernetes, but requests to these Services will be refused."""
    from netsim.k8s.selectors import matches_equality

    targeted = {c.service for c in clients}
    out = []
    for service in services:
        if service.name not in targeted or service.type is ServiceType.EXTERNAL_NAME:
            continue
        if not service.selector:
            out.append(f"Service/{service.name} has no selector, so no pods back it: its requests will fail as refused")
        elif not any(matches_equality(service.selector, d.pod_labels) and d.replicas > 0 for d in deployments):
            out.append(
                f"Service/{service.name}: selector {service.selector} matches no pod, so it has no endpoints: "
                "its requests will fail as refused (check the labels in spec.template.metadata.labels)"
            )
    return out

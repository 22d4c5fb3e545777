"""From a validated :class:`ExperimentConfig` to a :class:`ScenarioSpec`.

The cross-checks that need more than one section live here: a client's target
must be a Service that exists and is reachable from where the client is, a
workload must name a Deployment, nodePorts must be in range and unique.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

# ``netsim.spec`` imports this package (for the config types), so when it is imported first it
# is only partly initialised here: bind the module, and look its classes up when they are used.
import netsim.spec as _spec
from netsim.config.churn_events import event_action, event_target
from netsim.config.operations import build_workloads, client_operations
from netsim.config.presets import DEFAULT_MAGLEV_TABLE_SIZE, PRESETS
from netsim.config.schema import (
    ClientConfig,
    DnsConfig,
    ExperimentConfig,
    ExternalHostConfig,
    LoadBalancerConfig,
    NodePoolConfig,
    WorkloadConfig,
)
from netsim.errors import ConfigError, did_you_mean
from netsim.k8s.autoscaling import HorizontalPodAutoscaler
from netsim.k8s.dns_names import lookup_sequence, resolve_name, service_fqdn
from netsim.k8s.manifests import Objects, read_objects
from netsim.k8s.namespaces import ambiguity, deferred_keys, named_service, namespaces_of, qualify, target_hpas
from netsim.k8s.objects import Deployment, Service, ServicePort, ServiceType, TrafficPolicy
from netsim.maglev import is_prime
from netsim.model.readiness_gates import gate_warnings

if TYPE_CHECKING:
    from netsim.spec import ChurnEventSpec, ClientSpec, HealthCheckSpec, LoadBalancerSpec, NodeSpec, ScenarioSpec, WorkloadSpec

ZONE_LABEL = "topology.kubernetes.io/zone"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def build_scenario(
    name: str, config: ExperimentConfig, parameters: dict[str, Any], sources: list[str] | None, warnings: list[str]
) -> ScenarioSpec:
    """Resolve one scenario; ``warnings`` collects what is valid but probably not meant."""
    objects, deferred = read_namespaced(config, sources, warnings)
    nodes = build_nodes(config)
    churn, created_at = build_churn(config, objects.services, tuple(objects.deployments), nodes, warnings,
                                    tuple(objects.autoscalers), deferred)
    deployments = (*objects.deployments, *deferred.deployments)
    autoscalers = build_autoscalers([*objects.autoscalers, *deferred.autoscalers], deployments,
                                    {h.name for h in deferred.autoscalers})
    services = allocate_node_ports((*objects.services, *deferred.services), config.cluster.node_ports)
    workloads = build_workloads(config, deployments, services)
    warnings.extend(prestop_warnings(config, deployments))
    clients = tuple(build_client(c, services, deployments, config, nodes, workloads) for c in config.clients)
    warnings.extend(_selector_warnings(services, deployments, clients))
    warnings.extend(_external_name_warnings(services))
    load_balancer = build_load_balancer(config.cluster.load_balancer)
    warnings.extend(gate_warnings(deployments, services, clients, load_balancer))
    dumped = config.model_dump(mode="json", by_alias=True)
    dumped["cluster"]["load_balancer"] = _plain(load_balancer)  # the values chosen, preset and overrides merged
    return _spec.ScenarioSpec(
        name=name,
        run=config.run,
        cluster=config.cluster,
        nodes=nodes,
        deployments=deployments,
        workloads=workloads,
        services=services,
        clients=clients,
        load_balancer=load_balancer,
        external_hosts=build_external_hosts(config, services),
        churn=churn,
        created_at=created_at,
        autoscalers=autoscalers,
        parameters=parameters,
        config=dumped,
    )


def read_namespaced(config: ExperimentConfig, sources: list[str] | None, warnings: list[str]) -> tuple[Objects, Objects]:
    """The objects of ``manifests`` and of ``deferred``, each named as netsim names it across namespaces.

    A name two namespaces share becomes ``<name>.<namespace>`` for every object of that kind
    and name (netsim/k8s/namespaces.py); HPAs then point at their own namespace's Deployment.
    """
    objects = read_objects(config.manifests, sources)
    deferred = read_objects(config.deferred, ["deferred"] * len(config.deferred))
    warnings.extend([*objects.warnings, *deferred.warnings])
    out = []
    for kind, attr in (("Deployment", "deployments"), ("Service", "services"), ("HorizontalPodAutoscaler", "autoscalers")):
        mine, later = getattr(objects, attr), getattr(deferred, attr)
        named = qualify([*mine, *later], kind)
        out.append((named[: len(mine)], named[len(mine):]))
    (deployments, deferred_deployments), (services, deferred_services), (hpas, deferred_hpas) = out
    every = [*deployments, *deferred_deployments]
    return (Objects(deployments, services, target_hpas(hpas, every)),
            Objects(deferred_deployments, deferred_services, target_hpas(deferred_hpas, every)))


def build_nodes(config: ExperimentConfig) -> tuple[NodeSpec, ...]:
    """Nodes with the well-known labels Kubernetes puts on them (hostname, zone)."""
    nodes = config.cluster.nodes
    if isinstance(nodes, NodePoolConfig):
        specs = [(f"node-{i + 1}", nodes.zones[i % len(nodes.zones)], {}, nodes.cpu) for i in range(nodes.count)]
    else:
        specs = [(n.name, n.zone, dict(n.labels), n.cpu) for n in nodes]
    names = [s[0] for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError("cluster.nodes", "node names must be unique")
    return tuple(
        _spec.NodeSpec(name=n, zone=z, labels={HOSTNAME_LABEL: n, ZONE_LABEL: z, **labels}, cpu=cpu) for n, z, labels, cpu in specs
    )


def prestop_warnings(config: ExperimentConfig, deployments: tuple[Deployment, ...]) -> list[str]:
    """An exec/httpGet preStop hook's duration is not in the manifest: without ``workloads.<d>.prestop`` it counts as 0 s.

    A hook that takes no time is the same as no hook (the endpoint is removed while the pod
    already stops listening), so a user who wrote one to drain connections gets the errors
    they meant to avoid, silently. Say where the duration goes.
    """
    default = config.workloads.get("default", WorkloadConfig())
    out = []
    for d in deployments:
        hooks = sorted({h.handler for h in d.template.pre_stop_hooks if h.duration_from_workload})
        if not hooks or config.workloads.get(d.name, WorkloadConfig()).prestop is not None or default.prestop is not None:
            continue
        out.append(
            f"Deployment/{d.name}: its preStop {' and '.join(hooks)} hook takes its duration from workloads.{d.name}.prestop, "
            f"which is not set, so it counts as 0s (the same as no hook); set workloads.{d.name}.prestop to how long the hook runs, e.g. 5s"
        )
    return out


def resolve_target(
    path: str, target: str, namespace: str, services: tuple[Service, ...], dns: DnsConfig | None, origin: str | None = None
) -> tuple[Service, ServicePort, int, int]:
    """A target as a pod writes it (``name``, ``name:port``, ``name:portname``, a DNS name), resolved.

    The name is resolved the way the sending pod's resolver does it (search list,
    ``ndots``), which also gives the DNS queries one lookup costs, and when the
    Service does not exist (NXDOMAIN on every try). Returns the Service, its port,
    and those two query counts. ``origin`` (``Deployment/<name>``) names whose namespace
    the name was looked up from, for the error message.
    """
    host, _, port_ref = target.partition(":")
    records = _records(services)
    ndots, extra = (dns.ndots, tuple(dns.search)) if dns is not None else (5, ())
    service, queries = resolve_name(host, namespace, records, ndots, extra)
    if service is None:
        raise ConfigError(path, _unresolved(host, namespace, services, origin))
    nx_queries = len(lookup_sequence(host, namespace, ndots, extra))
    if dns is not None and dns.aaaa:
        queries, nx_queries = 2 * queries, 2 * nx_queries
    return service, _port(path, service, port_ref), queries, nx_queries


_RECORDS: list[Any] = [None, {}]
"""The DNS records of the last ``services`` tuple names were resolved against: built once per scenario, not once
per target (10,000 clients x 10,000 Services)."""


def _records(services: tuple[Service, ...]) -> dict[str, Service]:
    """Each Service by its fully qualified DNS name."""
    if _RECORDS[0] is not services:
        _RECORDS[:] = [services, {service_fqdn(s.metadata_name, s.namespace): s for s in services}]
    return _RECORDS[1]  # type: ignore[no-any-return]


def _port(path: str, service: Service, port_ref: str) -> ServicePort:
    """The Service port a target's ``:port`` part names (its first port without one)."""
    service_name = service.name
    if service.type is ServiceType.EXTERNAL_NAME:
        port = service.port_named(port_ref or None) or dataclasses.replace(_EXTERNAL_PORT, port=int(port_ref) if port_ref.isdigit() else 80)
    else:
        port = service.port_named(port_ref or None)
    if port is None:
        known = ", ".join(str(p.port) + (f" ({p.name})" if p.name else "") for p in service.ports)
        raise ConfigError(path, f"Service '{service_name}' has no port '{port_ref}'; its ports: {known}")
    return port


def build_client(
    client: ClientConfig,
    services: tuple[Service, ...],
    deployments: tuple[Deployment, ...],
    config: ExperimentConfig | None = None,
    nodes: tuple[NodeSpec, ...] = (),
    workloads: dict[str, WorkloadSpec] | None = None,
) -> ClientSpec:
    """Resolve ``target`` (``name``, ``name:port``, or a DNS name as a pod would write it) and check reachability.

    The name is resolved the way the client pod's resolver does it (search list,
    ``ndots``), which also gives the number of DNS queries one lookup costs.
    """
    path = f"clients.{client.name}"
    dns = config.cluster.dns if config is not None else None
    from_deployment = None
    namespace = client_namespace(path, client, services, deployments)
    if client.from_ is not None:
        deployment = _from_deployment(f"{path}.from", client.from_.split("/", 1)[1], client.namespace, deployments)
        from_deployment, namespace = deployment.name, deployment.namespace
    if client.location == "external":  # outside the cluster: no resolver, the client names the Service
        service, port_ref = named_service(f"{path}.target", client.target, services)
        port, queries, nx_queries = _port(f"{path}.target", service, port_ref), 0, 0
    else:
        origin = client.from_ or (f"namespace: {client.namespace}" if client.namespace else None)
        service, port, queries, nx_queries = resolve_target(f"{path}.target", client.target, namespace, services, dns, origin)
    service_name = service.name
    entry_nodes: tuple[int, ...] = ()
    if client.location == "external":
        if not service.type.reachable_from_outside:
            raise ConfigError(
                f"{path}.location",
                f"Service '{service_name}' is {service.type.value}, reachable only inside the cluster: "
                "use location: in-cluster, or make the Service type NodePort or LoadBalancer",
            )
        if client.discovery != "dns":
            raise ConfigError(f"{path}.discovery", "an external client finds the Service by node or LB address, not by env vars; remove discovery")
        if client.entry_nodes is not None:
            node_names = [n.name for n in nodes]
            for i, node in enumerate(client.entry_nodes):
                if node not in node_names:
                    raise ConfigError(f"{path}.entry_nodes.{i}", f"no node named '{node}'{did_you_mean(node, node_names)}")
            if not client.entry_nodes:
                raise ConfigError(f"{path}.entry_nodes", "name at least one node, or leave entry_nodes out for all nodes")
            entry_nodes = tuple(node_names.index(n) for n in client.entry_nodes)
        elif service.type is ServiceType.NODE_PORT:
            entry_nodes = tuple(range(len(nodes)))
        queries = 0  # the user's resolver, outside the cluster, is not modelled
    elif client.entry_nodes is not None:
        raise ConfigError(f"{path}.entry_nodes", "only external clients enter at nodes; an in-cluster client uses its own node")
    if client.discovery == "env":
        queries = 0
    operations, weights, closed = client_operations(client, service, deployments, workloads or {})
    return _spec.ClientSpec(
        name=client.name,
        location=client.location,
        service=service.name,
        port=port,
        from_deployment=from_deployment,
        rate=client.arrival.rate or 0.0,
        timeout=client.timeout,
        connect_timeout=client.connect_timeout,
        discovery=client.discovery,
        namespace=namespace,
        dns_queries=queries,
        dns_nx_queries=nx_queries,
        entry_nodes=entry_nodes,
        source_ips=client.source_ips if client.location == "external" else 1,
        connections=client.connections,
        request_bytes=client.request_bytes,
        response_bytes=client.response_bytes,
        retries=client.retries,
        rate_steps=tuple((step.at, step.rate) for step in client.arrival.steps),
        operations=operations,
        operation_weights=weights,
        closed=closed,
    )


def client_namespace(path: str, client: ClientConfig, services: tuple[Service, ...], deployments: tuple[Deployment, ...]) -> str:
    """The namespace a client's pods run in (``namespace:``, checked to be one the manifests use), ``default`` without one."""
    if client.namespace is None:
        return "default"
    if client.location == "external":
        raise ConfigError(f"{path}.namespace", "an external client is outside the cluster, in no namespace; remove namespace "
                                               "and name the Service as svc.namespace (e.g. web.shop)")
    known = namespaces_of(services, deployments)
    if client.namespace not in known:
        raise ConfigError(f"{path}.namespace", f"no manifest is in namespace '{client.namespace}'"
                                               f"{did_you_mean(client.namespace, known)}; namespaces here: {', '.join(known)}")
    return client.namespace


def _from_deployment(path: str, ref: str, namespace: str | None, deployments: tuple[Deployment, ...]) -> Deployment:
    """``from: Deployment/<ref>``: by netsim's name (``web.shop``) or the manifest's, in the client's ``namespace`` if it says one."""
    found = [d for d in deployments if d.name == ref or d.metadata_name == ref]
    if namespace is not None:
        inside = [d for d in found if d.namespace == namespace]
        if found and not inside:
            homes = ", ".join(repr(d.namespace) for d in found)
            raise ConfigError(path, f"Deployment '{ref}' is in namespace {homes}, not in the client's namespace '{namespace}' "
                                    "(a pod runs in its Deployment's namespace): change namespace, or leave it out")
        found = inside
    if len(found) > 1:
        raise ConfigError(path, f"two namespaces have a Deployment named '{ref}' ({', '.join(repr(d.namespace) for d in found)}): "
                                f"say which with namespace: {found[0].namespace}, or write Deployment/{found[0].name}")
    if not found:
        names = [d.name for d in deployments]
        raise ConfigError(path, f"no Deployment named '{ref}'{did_you_mean(ref, names)}")
    return found[0]


def _unresolved(host: str, namespace: str, services: tuple[Service, ...], origin: str | None) -> str:
    """Why ``host`` names no Service: the namespace it was looked up in, and how to write the Service meant.

    A short name resolves in the sender's own namespace only (the first search domain);
    ``svc.ns`` in ``ns``. Suggestions are written as the sender must write them: ``web``
    from its own namespace, ``web.shop`` from another.
    """
    parts = host.rstrip(".").split(".")
    wanted = parts[0]
    asked = parts[1] if len(parts) >= 2 and parts[1] not in ("svc", "") else namespace
    whose = f"the namespace of {origin}" if origin and origin.startswith("Deployment/") else "the client's namespace"
    looked = f"namespace '{asked}'" + (f" ({whose})" if asked == namespace and len(parts) == 1 else "")
    homes = sorted({s.namespace for s in services if s.metadata_name == wanted})
    if homes:
        return (f"no Service named '{wanted}' in {looked}; Service '{wanted}' is in namespace {', '.join(repr(h) for h in homes)}: "
                f"write {wanted}.{homes[0]} or {wanted}.{homes[0]}.svc.cluster.local")
    written = {s.metadata_name if s.namespace == namespace else f"{s.metadata_name}.{s.namespace}": s.metadata_name for s in services}
    close = did_you_mean(wanted, sorted(set(written.values())))
    if close:
        meant = close.split("'")[1]
        close = f" (did you mean '{next(w for w, m in sorted(written.items()) if m == meant)}'?)"
    return (f"no Service named '{wanted}'{close} (looked in namespace '{asked}'); "
            f"Services in this experiment: {', '.join(sorted(written)) or 'none'}")


def _plain(value: Any) -> Any:
    """Dataclasses and distributions as plain JSON-ready data (for manifest.json)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    return value


def build_load_balancer(config: LoadBalancerConfig) -> LoadBalancerSpec:
    """The provider's preset (presets.py, k8s-facts §4) with every field given in ``config`` overriding it."""
    preset = PRESETS[config.provider]
    path = "cluster.load_balancer"

    def check(which: str) -> HealthCheckSpec:
        interval, timeout, healthy, unhealthy = preset[which]
        given = config.health_check
        hc = _spec.HealthCheckSpec(
            interval=given.interval if given.interval is not None else interval,
            timeout=given.timeout if given.timeout is not None else timeout,
            healthy_threshold=given.healthy_threshold if given.healthy_threshold is not None else healthy,
            unhealthy_threshold=given.unhealthy_threshold if given.unhealthy_threshold is not None else unhealthy,
        )
        if hc.timeout > hc.interval:
            raise ConfigError(f"{path}.health_check.timeout", f"{hc.timeout:g}s is longer than the interval {hc.interval:g}s; cloud LBs require timeout <= interval")
        return hc

    size = config.maglev_table_size if config.maglev_table_size is not None else DEFAULT_MAGLEV_TABLE_SIZE
    if not is_prime(size):
        raise ConfigError(f"{path}.maglev_table_size", f"{size} is not prime; Maglev needs a prime table size (e.g. 65537, 16381, 655373)")

    def pick(field: str) -> Any:
        value = getattr(config, field)
        return preset[field] if value is None else value

    latency = config.latency if config.latency is not None else LoadBalancerConfig(latency=preset["latency"]).latency
    return _spec.LoadBalancerSpec(
        provider=config.provider,
        algorithm=pick("algorithm"),
        latency=latency,
        cross_zone=pick("cross_zone"),
        target_type=pick("target_type"),
        maglev_table_size=size,
        preserves_client_ip=pick("preserves_client_ip"),
        cluster_health_check=check("cluster"),
        local_health_check=check("local"),
        deregistration_lag_s=config.deregistration_lag,
    )


def build_external_hosts(config: ExperimentConfig, services: tuple[Service, ...]) -> dict[str, Any]:
    """Each ExternalName Service's outside host service time: ``external_hosts`` by host name or Service name."""
    external = [s for s in services if s.type is ServiceType.EXTERNAL_NAME]
    known = {s.external_name for s in external} | {s.name for s in external}
    for key in config.external_hosts:
        if key not in known:
            raise ConfigError(
                f"external_hosts.{key}",
                f"no ExternalName Service is named or points at '{key}'{did_you_mean(key, known)}; key it by the Service name or its spec.externalName",
            )
    default = ExternalHostConfig()
    return {
        s.name: config.external_hosts.get(str(s.external_name), config.external_hosts.get(s.name, default)).service_time
        for s in external
    }


def build_churn(
    config: ExperimentConfig, services: list[Service], deployments: tuple[Deployment, ...], nodes: tuple[NodeSpec, ...],
    warnings: list[str], autoscalers: tuple[HorizontalPodAutoscaler, ...] = (), objects: Objects | None = None,
) -> tuple[tuple[ChurnEventSpec, ...], dict[str, float]]:
    """The ``churn:`` events, checked against the objects they name (``objects``: the ``deferred:`` ones).

    Returns the events (timed ones in time order, then repeating ones), and when each
    deferred object comes to exist, keyed ``Kind/name`` (``inf`` when no event applies it).
    """
    objects = objects if objects is not None else Objects()
    present = {f"Service/{s.name}" for s in services} | {f"Deployment/{d.name}" for d in deployments}
    present |= {f"HorizontalPodAutoscaler/{h.name}" for h in autoscalers}
    keys = deferred_keys(config.deferred, config.manifests)
    every = [*services, *deployments, *autoscalers, *objects.services, *objects.deployments, *objects.autoscalers]
    for key in keys:
        if key in present:
            raise ConfigError(f"deferred.{key}", "also under manifests: an object is either there from the start or deferred")
    created_at = dict.fromkeys(keys, math.inf)
    deployment_names = [d.name for d in (*deployments, *objects.deployments)]
    node_names = [n.name for n in nodes]
    events = []
    deleted: dict[str, float] = {}
    for i, event in enumerate(config.churn):
        action = event_action(event)
        target = event_target(event)
        kind, name = target.split("/", 1)
        path = f"churn.{i}.{action}"
        hint = ambiguity(kind, name, [o for o in every if type(o).__name__ == kind])
        if action == "apply":
            if target not in keys:
                raise ConfigError(path, f"no deferred manifest {target}{hint or did_you_mean(target, keys)}; "
                                        "churn applies manifests listed under deferred:")
            if created_at[target] < math.inf:
                raise ConfigError(path, f"{target} is applied twice")
            created_at[target] = event.at  # type: ignore[assignment]
        elif action == "delete":
            known = sorted(present | set(keys))
            if target not in known:
                raise ConfigError(path, f"no object {target}{hint or did_you_mean(target, known)}; churn deletes objects under manifests: or deferred:")
            if target in deleted:
                raise ConfigError(path, f"{target} is deleted twice")
            deleted[target] = event.at  # type: ignore[assignment]
        elif kind == "Deployment" and name not in deployment_names:
            raise ConfigError(path, f"no Deployment named '{name}'{hint or did_you_mean(name, deployment_names)}")
        elif kind == "node" and name not in node_names:
            raise ConfigError(path, f"no node named '{name}'{did_you_mean(name, node_names)}")
        events.append(_spec.ChurnEventSpec(at=event.at, action=action, kind=kind, name=name, event=event))
    for target, at in deleted.items():
        if target in created_at and not created_at[target] < at:
            i = next(j for j, e in enumerate(config.churn) if event_action(e) == "delete" and event_target(e) == target)
            raise ConfigError(f"churn.{i}.delete", f"{target} is deleted at {at:g}s but applied only at {created_at[target]:g}s; apply it first")
    for key, at in created_at.items():
        if at == math.inf:
            warnings.append(f"deferred {key} is never applied by churn:, so it never exists")
    events.sort(key=lambda e: math.inf if e.at is None else e.at)
    return tuple(events), created_at


def build_autoscalers(
    autoscalers: list[HorizontalPodAutoscaler], deployments: tuple[Deployment, ...], deferred: set[str] | frozenset[str] = frozenset(),
) -> tuple[HorizontalPodAutoscaler, ...]:
    """The HPAs, each checked to target a Deployment of the experiment."""
    names = [d.name for d in deployments]
    for hpa in autoscalers:
        if hpa.target_kind != "Deployment" or hpa.target_name not in names:
            raise ConfigError(
                f"{'deferred' if hpa.name in deferred else 'manifests'}.HorizontalPodAutoscaler/{hpa.name}.spec.scaleTargetRef",
                f"{hpa.target} is not a Deployment here{did_you_mean(hpa.target_name, names)}",
            )
    return tuple(autoscalers)


def allocate_node_ports(services: tuple[Service, ...], node_ports: tuple[int, int]) -> tuple[Service, ...]:
    """Check the nodePorts manifests give, then allocate the rest, as the API server does.

    NodePort and LoadBalancer Services get a nodePort per port, LoadBalancer +
    ``externalTrafficPolicy: Local`` also a ``healthCheckNodePort``. The API server
    picks free ports at random; netsim takes the lowest free one, so runs are
    reproducible (the number itself changes no traffic).
    """
    check_node_ports(services, node_ports)
    low, high = node_ports
    used = {p.node_port for s in services for p in s.ports if p.node_port is not None}
    used |= {s.health_check_node_port for s in services if s.health_check_node_port is not None}
    candidates = iter(range(low, high + 1))

    def take(path: str) -> int:
        for port in candidates:
            if port not in used:
                used.add(port)
                return port
        raise ConfigError(path, f"the node-port range {low}-{high} is exhausted; widen cluster.node_port_range or use fewer NodePort Services")

    out = []
    for service in services:
        if not service.type.reachable_from_outside:
            out.append(service)
            continue
        ports = tuple(
            p if p.node_port is not None else dataclasses.replace(p, node_port=take(f"Service/{service.name}.spec.ports.{j}.nodePort"))
            for j, p in enumerate(service.ports)
        )
        health = service.health_check_node_port
        if health is None and service.type is ServiceType.LOAD_BALANCER and service.external_traffic_policy is TrafficPolicy.LOCAL:
            health = take(f"Service/{service.name}.spec.healthCheckNodePort")
        out.append(dataclasses.replace(service, ports=ports, health_check_node_port=health))
    return tuple(out)


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
        health = service.health_check_node_port
        if health is not None:
            path = f"Service/{service.name}.spec.healthCheckNodePort"
            if not low <= health <= high:
                raise ConfigError(path, f"{health} is outside the node-port range {low}-{high}; pick a port in it, or leave it out to allocate one")
            if health in used:
                raise ConfigError(path, f"{health} is already used by Service/{used[health]}; pick another or leave it out to allocate one")
            used[health] = service.name


def _selector_warnings(services, deployments, clients) -> list[str]:  # type: ignore[no-untyped-def]
    """Valid in Kubernetes, but requests to these Services will be refused."""
    from netsim.config.operations import serving_deployments

    targeted = {c.service for c in clients}
    ports: dict[str, list] = {}  # type: ignore[type-arg]
    for c in clients:
        ports.setdefault(c.service, []).append(c.port)
    out = []
    for service in services:
        if service.name not in targeted or service.type is ServiceType.EXTERNAL_NAME:
            continue
        selected = [d for d in serving_deployments(service, deployments) if d.replicas > 0] if service.selector else []
        if not service.selector:
            out.append(f"Service/{service.name} has no selector, so no pods back it: its requests will fail as refused")
        elif not selected:
            out.append(
                f"Service/{service.name}: selector {service.selector} matches no pod, so it has no endpoints: "
                "its requests will fail as refused (check the labels in spec.template.metadata.labels)"
            )
        else:
            out.extend(_named_port_warnings(service, selected, ports.get(service.name, [])))
    return out


def _named_port_warnings(service, selected, ports) -> list[str]:  # type: ignore[no-untyped-def]
    """A named targetPort that no selected pod declares leaves the Service port without endpoints."""
    from netsim.k8s.manifests import resolve_target_port

    out = []
    for port in dict.fromkeys(ports):
        if isinstance(port.target_port, str) and all(resolve_target_port(port, d.container_ports) is None for d in selected):
            out.append(
                f"Service/{service.name}: targetPort '{port.target_port}' of port {port.port} names no {port.protocol} containerPort "
                f"of the pods it selects ({', '.join(d.name for d in selected)}), so it has no endpoints: its requests will fail "
                "as refused (name the port in the pod template's ports, or use a number)"
            )
    return out


def _external_name_warnings(services: tuple[Service, ...]) -> list[str]:
    return [
        f"Service/{s.name} is ExternalName: its selector {s.selector} is ignored (a CNAME to {s.external_name} has no endpoints)"
        for s in services
        if s.type is ServiceType.EXTERNAL_NAME and s.selector
    ]


_EXTERNAL_PORT = ServicePort(port=80, target_port=80)

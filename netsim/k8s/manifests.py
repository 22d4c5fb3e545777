"""Read verbatim manifests into :mod:`netsim.k8s.objects`, as the API server would.

Defaults applied as Kubernetes applies them: ``replicas: 1``, Service ``type:
ClusterIP``, ``targetPort`` = ``port``, protocol TCP, namespace ``default``.
Kinds netsim does not model (ServiceAccount, ConfigMap, ...) are skipped with a
single warning line per kind and file. Errors name the object and field as the
dotted path users also use in ``--set``: ``Service/web.spec.ports.0.port``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netsim.errors import ConfigError, did_you_mean, one_of
from netsim.k8s.autoscaling import HorizontalPodAutoscaler, read_hpa
from netsim.k8s.objects import ContainerPort, Deployment, Service, ServicePort, ServiceType, TrafficPolicy
from netsim.k8s.pod_template import read_min_ready_seconds, read_pod_template, read_strategy
from netsim.k8s.selectors import matches_label_selector
from netsim.k8s.strict import check_object, served


@dataclass
class Objects:
    """What a set of manifests holds, in file order."""

    deployments: list[Deployment] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    autoscalers: list[HorizontalPodAutoscaler] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def object_key(doc: Mapping[str, Any]) -> str:
    """``Kind/name``, the way dotted paths and messages address a manifest."""
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), Mapping) else {}
    return f"{doc.get('kind')}/{meta.get('name')}"


def read_objects(docs: Sequence[Any], sources: Sequence[str] | None = None) -> Objects:
    """Turn manifest documents into the objects netsim models."""
    out = Objects()
    skipped: dict[tuple[str, str], list[str]] = defaultdict(list)
    seen: set[tuple[str, object]] = set()
    for i, doc in enumerate(docs):
        source = sources[i] if sources and i < len(sources) else "manifests"
        check_identity(doc, f"{'deferred' if source == 'deferred' else 'manifests'}.{i}", source)
        kind = doc["kind"]
        meta = doc["metadata"]
        key = object_key(doc)
        namespace = meta.get("namespace") or "default"
        if (key, namespace) in seen:
            raise ConfigError(key, f"defined twice in namespace '{namespace}' ({source}); Kubernetes object names are unique per kind "
                                   "and namespace")
        seen.add((key, namespace))
        if served(kind):
            doc = check_object(doc, key)
        if kind == "Deployment":
            out.deployments.append(read_deployment(doc))
        elif kind == "Service":
            out.services.append(read_service(doc))
        elif kind == "HorizontalPodAutoscaler":
            out.autoscalers.append(read_hpa(doc))
        else:
            skipped[(source, kind)].append(str(meta["name"]))
    for (source, kind), names in skipped.items():
        out.warnings.append(
            f"{source}: skipped {len(names)} {kind} object{'s' if len(names) > 1 else ''} "
            f"({', '.join(names)}): netsim does not model {kind}"
        )
    return out


def check_identity(doc: Any, where: str, source: str) -> None:
    """A manifest is a mapping with a ``kind`` and a ``metadata.name``, both text: what names it (``Kind/name``)."""
    if not isinstance(doc, Mapping):
        raise ConfigError(where, f"({source}) a manifest must be a mapping with kind and metadata, got {doc!r:.40}")
    kind = doc.get("kind")
    meta = doc.get("metadata")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"{where}.kind", f"({source}) every manifest needs a 'kind' (text, e.g. Deployment), got {kind!r:.40}")
    if not isinstance(meta, Mapping) or not meta.get("name"):
        raise ConfigError(f"{where}.metadata.name", f"({source}) every manifest needs 'metadata.name'")
    if not isinstance(meta["name"], str):
        raise ConfigError(f"{where}.metadata.name", f"({source}) expected a name (text), got {meta['name']!r:.40}")


def check_documents(docs: Sequence[Any], sources: Sequence[str], prefix: str = "manifests") -> None:
    """Every document named, and every one of a kind netsim reads valid against the API schema (not yet read)."""
    for i, doc in enumerate(docs):
        source = sources[i] if i < len(sources) else prefix
        check_identity(doc, f"{prefix}.{i}", source)
        if served(doc["kind"]):
            check_object(doc, object_key(doc))


def _get(doc: Mapping[str, Any], path: str, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = doc.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{path}.{key}", f"expected {_TYPE_WORDS.get(names, names)}, got {value!r:.40}")
    return value


_TYPE_WORDS = {"int": "an integer", "str": "a string", "dict": "a mapping", "list": "a list", "int or str": "a number or a name"}


def _port_number(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(path, f"must be a port number between 1 and 65535, got {value!r}")
    return value


def read_service(doc: Mapping[str, Any]) -> Service:
    """A Service with its defaults; port *names* stay unresolved until pods exist."""
    key = object_key(doc)
    meta = doc["metadata"]
    spec = _get(doc, key, "spec", dict, {})
    spec_path = f"{key}.spec"
    type_name = _get(spec, spec_path, "type", str, "ClusterIP")
    try:
        svc_type = ServiceType(type_name)
    except ValueError:
        choices = [t.value for t in ServiceType]
        raise ConfigError(
            f"{spec_path}.type", f"unknown Service type '{type_name}'{did_you_mean(type_name, choices)}; use one of {one_of(choices)}"
        ) from None
    ports = []
    for j, raw in enumerate(_get(spec, spec_path, "ports", list, [])):
        path = f"{spec_path}.ports.{j}"
        if not isinstance(raw, Mapping):
            raise ConfigError(path, "each port must be a mapping with at least 'port'")
        if "port" not in raw:
            raise ConfigError(f"{path}.port", "required: the port the Service exposes")
        port = _port_number(raw["port"], f"{path}.port")
        target = raw.get("targetPort", port)
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        if isinstance(target, int):
            _port_number(target, f"{path}.targetPort")
        elif not isinstance(target, str) or not target:
            raise ConfigError(f"{path}.targetPort", "must be a port number or a container port name")
        node_port = raw.get("nodePort")
        if node_port is not None:
            node_port = _port_number(node_port, f"{path}.nodePort")
            if not svc_type.reachable_from_outside:
                raise ConfigError(f"{path}.nodePort", f"only NodePort and LoadBalancer Services have a nodePort, this one is {svc_type.value}")
        ports.append(ServicePort(port=port, target_port=target, name=raw.get("name"),
                                 protocol=str(raw.get("protocol", "TCP")), node_port=node_port))
    external_name = spec.get("externalName")
    if svc_type is ServiceType.EXTERNAL_NAME and not external_name:
        raise ConfigError(f"{spec_path}.externalName", "required for type ExternalName: the DNS name to alias")
    if svc_type is not ServiceType.EXTERNAL_NAME and not ports:
        raise ConfigError(f"{spec_path}.ports", "a Service needs at least one port")
    selector = spec.get("selector")
    if selector is not None and not isinstance(selector, Mapping):
        raise ConfigError(f"{spec_path}.selector", "must be a mapping of label: value")
    etp = _policy(spec, spec_path, "externalTrafficPolicy")
    if "externalTrafficPolicy" in spec and not svc_type.reachable_from_outside:
        raise ConfigError(f"{spec_path}.externalTrafficPolicy", "may only be set for NodePort and LoadBalancer Services")
    affinity, timeout = _session_affinity(spec, spec_path)
    health_port = spec.get("healthCheckNodePort")
    if health_port is not None:
        health_port = _port_number(health_port, f"{spec_path}.healthCheckNodePort")
        if svc_type is not ServiceType.LOAD_BALANCER or etp is not TrafficPolicy.LOCAL:
            raise ConfigError(f"{spec_path}.healthCheckNodePort", "only a LoadBalancer Service with externalTrafficPolicy: Local has one")
    return Service(
        name=str(meta["name"]),
        namespace=str(meta.get("namespace", "default")),
        type=svc_type,
        selector={str(k): str(v) for k, v in selector.items()} if selector else None,
        ports=tuple(ports),
        external_traffic_policy=etp,
        internal_traffic_policy=_policy(spec, spec_path, "internalTrafficPolicy"),
        session_affinity=affinity,
        affinity_timeout_s=timeout,
        external_name=str(external_name) if external_name else None,
        health_check_node_port=health_port,
        labels=dict(meta.get("labels") or {}),
        traffic_distribution=_traffic_distribution(spec, spec_path),
        topology_mode=_topology_mode(meta),
    )


TRAFFIC_DISTRIBUTIONS = ("PreferClose", "PreferSameZone", "PreferSameNode")
TOPOLOGY_MODE_ANNOTATION = "service.kubernetes.io/topology-mode"
LEGACY_HINTS_ANNOTATION = "service.kubernetes.io/topology-aware-hints"


def _traffic_distribution(spec: Mapping[str, Any], path: str) -> str | None:
    """``spec.trafficDistribution``; ``PreferSameZone`` (1.33) is the new name of ``PreferClose``."""
    value = spec.get("trafficDistribution")
    if value is None:
        return None
    if value not in TRAFFIC_DISTRIBUTIONS:
        raise ConfigError(
            f"{path}.trafficDistribution",
            f"unknown value {value!r}{did_you_mean(str(value), TRAFFIC_DISTRIBUTIONS)}; use one of {one_of(TRAFFIC_DISTRIBUTIONS)}",
        )
    return "PreferClose" if value == "PreferSameZone" else str(value)


def _topology_mode(meta: Mapping[str, Any]) -> str | None:
    """The topology-aware routing annotation (``Auto``), or its pre-1.27 name ``topology-aware-hints: auto``."""
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        return None
    value = annotations.get(TOPOLOGY_MODE_ANNOTATION, annotations.get(LEGACY_HINTS_ANNOTATION))
    return None if value is None else str(value).capitalize()


def _session_affinity(spec: Mapping[str, Any], path: str) -> tuple[str, float]:
    """``sessionAffinity`` (None | ClientIP) and ``sessionAffinityConfig.clientIP.timeoutSeconds`` (default 10800)."""
    value = spec.get("sessionAffinity", "None")
    if value not in ("None", "ClientIP"):
        raise ConfigError(f"{path}.sessionAffinity", f"'{value}' is not a session affinity; use 'None' or 'ClientIP'")
    config = spec.get("sessionAffinityConfig") or {}
    client_ip = config.get("clientIP") if isinstance(config, Mapping) else None
    timeout = (client_ip or {}).get("timeoutSeconds", 10800) if isinstance(client_ip, Mapping) or client_ip is None else None
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 0 < timeout <= 86400:
        raise ConfigError(f"{path}.sessionAffinityConfig.clientIP.timeoutSeconds", f"must be an integer in 1..86400 seconds, got {timeout!r}")
    return str(value), float(timeout)


def _policy(spec: Mapping[str, Any], path: str, key: str) -> TrafficPolicy:
    value = spec.get(key, "Cluster")
    try:
        return TrafficPolicy(value)
    except ValueError:
        raise ConfigError(f"{path}.{key}", f"'{value}' is not a traffic policy; use 'Cluster' or 'Local'") from None


def read_deployment(doc: Mapping[str, Any]) -> Deployment:
    """A Deployment: replicas, selector, and the pod template's labels, ports and placement."""
    key = object_key(doc)
    meta = doc["metadata"]
    spec = _get(doc, key, "spec", dict, {})
    path = f"{key}.spec"
    replicas = _get(spec, path, "replicas", int, 1)
    if replicas < 0:
        raise ConfigError(f"{path}.replicas", f"must be 0 or more, got {replicas}")
    selector = _get(spec, path, "selector", dict, None)
    if selector is None:
        raise ConfigError(f"{path}.selector", "required in apps/v1: e.g. {matchLabels: {app: NAME}}")
    template = _get(spec, path, "template", dict, {})
    tmeta = _get(template, f"{path}.template", "metadata", dict, {})
    labels = {str(k): str(v) for k, v in (_get(tmeta, f"{path}.template.metadata", "labels", dict, {})).items()}
    if not matches_label_selector(selector, labels):
        raise ConfigError(f"{path}.selector", "does not match spec.template.metadata.labels; the Deployment would own no pods")
    pod = _get(template, f"{path}.template", "spec", dict, {})
    pod_path = f"{path}.template.spec"
    ports = []
    for c, container in enumerate(_get(pod, pod_path, "containers", list, [])):
        cpath = f"{pod_path}.containers.{c}"
        if not isinstance(container, Mapping):
            raise ConfigError(cpath, "each container must be a mapping")
        for p, raw in enumerate(_get(container, cpath, "ports", list, [])):
            if not isinstance(raw, Mapping) or "containerPort" not in raw:
                raise ConfigError(f"{cpath}.ports.{p}", "each port needs 'containerPort'")
            number = _port_number(raw["containerPort"], f"{cpath}.ports.{p}.containerPort")
            ports.append(ContainerPort(port=number, name=raw.get("name"), protocol=str(raw.get("protocol", "TCP"))))
    node_selector = _get(pod, pod_path, "nodeSelector", dict, {})
    return Deployment(
        name=str(meta["name"]),
        namespace=str(meta.get("namespace", "default")),
        replicas=replicas,
        selector=dict(selector),
        pod_labels=labels,
        container_ports=tuple(ports),
        node_name=_get(pod, pod_path, "nodeName", str, None),
        node_selector={str(k): str(v) for k, v in node_selector.items()},
        template=read_pod_template(pod, pod_path),
        strategy=read_strategy(spec, path),
        min_ready_seconds=read_min_ready_seconds(spec, path),
    )


def resolve_target_port(port: ServicePort, container_ports: Sequence[ContainerPort]) -> int | None:
    """The pod port a Service port reaches: a number as is, a name looked up in the pod's ports.

    ``None`` means this pod has no container port of that name, so (as in
    Kubernetes) it is not an endpoint of that Service port.
    """
    if isinstance(port.target_port, int):
        return port.target_port
    for cp in container_ports:
        if cp.name == port.target_port and cp.protocol == port.protocol:
            return cp.port
    return None

"""Namespaces: names unique per namespace, selectors within one, and how netsim names objects across them.

In Kubernetes an object's name is unique per kind *and namespace*: a ``web`` Service may
live in ``shop`` and in ``staging`` at once, each selecting only the pods of its own
namespace (a Service's selector never reaches into another namespace), each found by DNS
as ``web.shop`` / ``web.staging`` (``<svc>.<ns>.svc.cluster.local``) or, from a pod in its
own namespace, as plain ``web``. A Deployment's pods live in its namespace.

netsim's results, ``workloads`` keys and ``churn`` targets name an object by one string.
It is the manifest's ``metadata.name`` while that is unambiguous (no other namespace has an
object of that kind and name, the common case: everything in ``default`` or in one
namespace), and ``<name>.<namespace>`` — the short DNS form — for every object of a name
that two namespaces use. Qualifying only then keeps the results of single-namespace
experiments as they were, and makes the two ``web`` Services of a two-namespace set
``web.shop`` and ``web.staging`` everywhere.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from netsim.errors import ConfigError, did_you_mean
from netsim.k8s.dns_names import CLUSTER_DOMAIN
from netsim.k8s.objects import Deployment, Service
from netsim.k8s.selectors import matches_equality

DEFAULT_NAMESPACE = "default"

T = TypeVar("T")


def ambiguous_names(objects: Iterable[tuple[str, str]]) -> set[str]:
    """Of ``(name, namespace)`` pairs, the names used in more than one namespace."""
    homes: dict[str, set[str]] = defaultdict(set)
    for name, namespace in objects:
        homes[name].add(namespace)
    return {name for name, namespaces in homes.items() if len(namespaces) > 1}


def qualified_name(name: str, namespace: str, ambiguous: set[str]) -> str:
    return f"{name}.{namespace}" if name in ambiguous else name


def qualify(objects: Sequence[T], kind: str, where: str = "manifests") -> list[T]:
    """``objects`` (of one kind) with every name two namespaces share written ``<name>.<namespace>``.

    Raises when a qualified name is also another object's plain name (a Deployment may
    have dots in its name: ``web.shop`` in ``default`` beside ``web`` in ``shop``).
    """
    ambiguous = ambiguous_names((o.name, o.namespace) for o in objects)  # type: ignore[attr-defined]
    if not ambiguous:
        return list(objects)
    out = [_qualified(o, o.name in ambiguous) for o in objects]  # type: ignore[attr-defined]
    names = [o.name for o in out]  # type: ignore[attr-defined]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{where}.{kind}/{name}", f"two {kind}s would both be called '{name}' (one named so, one qualified "
                                                       "by its namespace because its name is used in two namespaces); rename one")
    return out


def _qualified(obj: Any, qualify_it: bool) -> Any:
    if not qualify_it:
        return obj
    name = f"{obj.name}.{obj.namespace}"
    if hasattr(obj, "qualified"):
        return dataclasses.replace(obj, name=name, qualified=True)
    return dataclasses.replace(obj, name=name)


def deferred_keys(docs: Sequence[Mapping[str, Any]], present: Sequence[Mapping[str, Any]]) -> list[str]:
    """``Kind/name`` of each deferred manifest, the name qualified as its object is (over manifests and deferred together)."""
    def ident(doc: Mapping[str, Any]) -> tuple[str, str, str]:
        meta = doc.get("metadata") or {}
        return str(doc.get("kind")), str(meta.get("name")), str(meta.get("namespace") or DEFAULT_NAMESPACE)

    all_ids = [ident(d) for d in (*present, *docs)]
    out = []
    for kind, name, namespace in (ident(d) for d in docs):
        ambiguous = ambiguous_names((n, ns) for k, n, ns in all_ids if k == kind)
        out.append(f"{kind}/{qualified_name(name, namespace, ambiguous)}")
    return out


def target_hpas(autoscalers: Sequence[Any], deployments: Sequence[Deployment]) -> list[Any]:
    """Each HPA's ``scaleTargetRef`` names a Deployment of the HPA's own namespace: point it at that Deployment's netsim name."""
    by_home = {(d.metadata_name, d.namespace): d.name for d in deployments}
    out = []
    for hpa in autoscalers:
        name = by_home.get((hpa.target_name, hpa.namespace))
        out.append(dataclasses.replace(hpa, target_name=name) if hpa.target_kind == "Deployment" and name is not None else hpa)
    return out


def selects(service: Service, namespace: str, labels: Mapping[str, str]) -> bool:
    """A Service's selector matches pods of its own namespace only."""
    return service.namespace == namespace and bool(service.selector) and matches_equality(service.selector, labels)  # type: ignore[arg-type]


def selects_deployment(service: Service, deployment: Deployment) -> bool:
    return selects(service, deployment.namespace, deployment.pod_labels)


def namespaces_of(services: Iterable[Service], deployments: Iterable[Deployment]) -> list[str]:
    """The namespaces the manifests use, ``default`` first (it always exists)."""
    return list(dict.fromkeys([DEFAULT_NAMESPACE, *sorted({o.namespace for o in (*services, *deployments)})]))


def named_service(path: str, target: str, services: Sequence[Service]) -> tuple[Service, str]:
    """The Service an external client names without DNS: ``svc`` when one namespace has it, or ``svc.ns``
    (``svc.ns.svc`` and ``svc.ns.svc.cluster.local`` too), optionally ``:port``. Returns it and the port part."""
    host, _, port_ref = target.partition(":")
    host = host.rstrip(".")
    for suffix in (f".svc.{CLUSTER_DOMAIN}", ".svc"):
        host = host.removesuffix(suffix)
    name, _, namespace = host.partition(".")
    if namespace:
        found = [s for s in services if s.metadata_name == name and s.namespace == namespace]
        if found:
            return found[0], port_ref
        homes = sorted(s.namespace for s in services if s.metadata_name == name)
        where = (f"; Service '{name}' is in namespace {', '.join(repr(h) for h in homes)}: write {name}.{homes[0]}" if homes
                 else did_you_mean(host, _written(services)))
        raise ConfigError(path, f"no Service named '{name}' in namespace '{namespace}'{where} "
                                f"(an external client names the Service as svc or svc.namespace; Services: {', '.join(_written(services))})")
    found = [s for s in services if s.metadata_name == name]
    if len(found) == 1:
        return found[0], port_ref
    if found:
        raise ConfigError(path, f"two namespaces have a Service named '{name}' ({', '.join(repr(s.namespace) for s in found)}): "
                                f"name one as {name}.<namespace>, e.g. {name}.{found[0].namespace}")
    raise ConfigError(path, f"no Service named '{name}'{did_you_mean(name, _written(services))} "
                            f"(an external client names the Service as svc or svc.namespace; Services: {', '.join(_written(services)) or 'none'})")


def _written(services: Iterable[Service]) -> list[str]:
    """How to write each Service from outside: its name alone when unique, else ``name.namespace``."""
    services = list(services)
    counts: dict[str, int] = defaultdict(int)
    for s in services:
        counts[s.metadata_name] += 1
    return sorted(s.metadata_name if counts[s.metadata_name] == 1 else f"{s.metadata_name}.{s.namespace}" for s in services)


def ambiguity(kind: str, name: str, objects: Iterable[Any]) -> str:
    """A hint when ``name`` is the manifest name of objects in several namespaces (netsim calls them ``name.namespace``)."""
    homes = [o.namespace for o in objects if o.name == f"{name}.{o.namespace}"]
    if len(homes) < 2:
        return ""
    return (f"; two namespaces have a {kind} named '{name}', so netsim calls them "
            f"{' and '.join(f'{name}.{h}' for h in homes)}: write {kind}/{name}.{homes[0]}")

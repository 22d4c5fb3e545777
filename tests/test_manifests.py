"""Verbatim Kubernetes manifests: defaults, named ports, multi-document files, skipped kinds, real files.

netsim reads manifests the way the API server would: missing fields get
Kubernetes' defaults, a Service's named ``targetPort`` is looked up in each
pod's ``containerPort`` names (a pod without that name is not an endpoint), and
kinds netsim does not model are skipped with one warning line per kind and file.
The two real files in ``experiments/manifests/`` (copied unmodified, licences kept) must load and run unchanged.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from netsim.cli import main
from netsim.config import load_experiment
from netsim.engine import simulate
from netsim.k8s.objects import ServiceType, TrafficPolicy
from netsim.model.request import Outcome

REPO = Path(__file__).resolve().parents[1]
REAL_MANIFESTS = REPO / "experiments" / "manifests"


def deployment(name: str, labels: dict[str, str], ports: list[dict[str, Any]], replicas: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": "app", "ports": ports}]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def service(name: str, selector: dict[str, str] | None, ports: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": ports, **spec}
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def experiment(manifests: list[dict[str, Any]], clients: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A short, latency-free-enough experiment around the given manifests."""
    return {
        "name": "manifests",
        "run": {"duration": "0.5s", "warmup": "0s", "replications": 1, "seed": 5},
        "cluster": {"nodes": {"count": 3, "zones": ["zone-a", "zone-b", "zone-c"]}},
        "manifests": manifests,
        "workloads": {"default": {"service_time": "1ms", "concurrency": 4}},
        "clients": clients,
        **extra,
    }


def client(name: str, target: str, rate: float = 400, **extra: Any) -> dict[str, Any]:
    return {"name": name, "target": target, "arrival": {"process": "poisson", "rate": rate}, **extra}


def run_once(spec_source: dict[str, Any] | Path, sets: list[tuple[str, Any]] | None = None):  # type: ignore[no-untyped-def]
    spec = load_experiment(spec_source, sets or [])
    return spec, simulate(spec.runs()[0])


def service_result(result, name: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return next(s for s in result.services if s["name"] == name)


def pods_of(result, deployment_name: str) -> set[int]:  # type: ignore[no-untyped-def]
    return {i for i, p in enumerate(result.pods) if p["deployment"] == deployment_name}


# --- Kubernetes defaults ---------------------------------------------------------------------------


def test_defaults_replicas_type_target_port():
    spec, result = run_once(experiment(
        [deployment("web", {"app": "web"}, [{"containerPort": 80}]), service("web", {"app": "web"}, [{"port": 80}])],
        [client("users", "web")],
    ))
    scenario = spec.scenarios[0]
    (web,) = scenario.deployments
    (svc,) = scenario.services
    assert web.replicas == 1
    assert web.namespace == svc.namespace == "default"
    assert svc.type is ServiceType.CLUSTER_IP
    assert svc.external_traffic_policy is TrafficPolicy.CLUSTER
    assert svc.ports[0].target_port == svc.ports[0].port == 80
    assert svc.ports[0].protocol == "TCP"
    assert len(result.pods) == 1
    served = service_result(result, "web")
    assert served["endpoints"] == [0] and served["ports"] == [80]


def test_target_port_given_as_a_number_string_is_a_number():
    spec = load_experiment(experiment(
        [deployment("web", {"app": "web"}, [{"containerPort": 8080}]),
         service("web", {"app": "web"}, [{"port": 80, "targetPort": "8080"}])],
        [client("users", "web")],
    ))
    assert spec.scenarios[0].services[0].ports[0].target_port == 8080


# --- named targetPort ------------------------------------------------------------------------------


def test_named_target_port_resolves_per_pod_and_pods_without_it_are_not_endpoints():
    """Pods of two Deployments name port 'http' differently; a third has no 'http' at all."""
    labels = {"app": "web"}
    spec, result = run_once(experiment(
        [
            deployment("web", {**labels, "track": "stable"}, [{"name": "http", "containerPort": 9376}], replicas=2),
            deployment("web-canary", {**labels, "track": "canary"}, [{"name": "http", "containerPort": 9377}], replicas=1),
            deployment("web-legacy", {**labels, "track": "legacy"}, [{"name": "metrics", "containerPort": 9090},
                                                                    {"containerPort": 9376}], replicas=2),
            deployment("web-udp", {**labels, "track": "udp"}, [{"name": "http", "containerPort": 9376, "protocol": "UDP"}]),
            service("web", labels, [{"name": "web", "port": 80, "targetPort": "http"}]),
        ],
        [client("users", "web:web")],
    ))
    served = service_result(result, "web")
    endpoints = dict(zip(served["endpoints"], served["ports"], strict=True))
    stable, canary = pods_of(result, "web"), pods_of(result, "web-canary")
    assert set(endpoints) == stable | canary, "only pods with a TCP container port named 'http' are endpoints"
    assert all(endpoints[p] == 9376 for p in stable)
    assert all(endpoints[p] == 9377 for p in canary)
    req = result.requests
    ok_pods = set(req["pod"][req["outcome"] == Outcome.OK].tolist())
    assert ok_pods and ok_pods <= set(endpoints)
    assert not ok_pods & (pods_of(result, "web-legacy") | pods_of(result, "web-udp"))
    assert spec.scenarios[0].services[0].ports[0].target_port == "http"  # resolved per pod, not in the Service


def test_named_target_port_matching_no_pod_leaves_no_endpoints_and_refuses():
    spec, result = run_once(experiment(
        [deployment("web", {"app": "web"}, [{"containerPort": 8080}], replicas=2),
         service("web", {"app": "web"}, [{"port": 80, "targetPort": "http"}])],
        [client("users", "web")],
    ))
    (warning,) = spec.warnings
    assert "Service/web" in warning and "'http'" in warning and "refused" in warning
    assert service_result(result, "web")["endpoints"] == []
    outcome = result.requests["outcome"]
    assert outcome.size == result.generated > 0
    assert np.all(outcome == Outcome.REFUSED)


# --- multi-document files and skipped kinds --------------------------------------------------------

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}
ACCOUNT = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}}


def _dump_all(docs: list[Any]) -> str:
    return "# a real file starts with comments\n" + yaml.safe_dump_all(docs, explicit_start=True, sort_keys=False)


def test_multi_document_file_with_empty_documents_and_lists(tmp_path):
    text = _dump_all([
        deployment("api", {"app": "api"}, [{"containerPort": 8080}], replicas=2),
        None,  # an empty document between two ---
        {"apiVersion": "v1", "kind": "List", "items": [
            service("api", {"app": "api"}, [{"port": 80, "targetPort": 8080}]),
            deployment("db", {"app": "db"}, [{"containerPort": 5432}]),
        ]},
        service("db", {"app": "db"}, [{"port": 5432}]),
    ]) + "---\n"
    (tmp_path / "app.yaml").write_text(text)
    inline = [deployment("web", {"app": "web"}, [{"containerPort": 80}]), service("web", {"app": "web"}, [{"port": 80}])]
    file = tmp_path / "experiment.yaml"
    file.write_text(yaml.safe_dump(experiment(inline, [client("users", "api"), client("queries", "db:5432", 100)],
                                              manifest_files=["app.yaml"])))
    spec, result = run_once(file)
    scenario = spec.scenarios[0]
    assert [d.name for d in scenario.deployments] == ["web", "api", "db"]
    assert [s.name for s in scenario.services] == ["web", "api", "db"]
    assert scenario.deployments[1].replicas == 2
    assert not spec.warnings
    for name, deployment_name in (("api", "api"), ("db", "db")):
        assert set(service_result(result, name)["endpoints"]) == pods_of(result, deployment_name)
    assert (result.requests["outcome"] == Outcome.OK).all()


def test_the_same_object_twice_is_an_error(tmp_path):
    from netsim.errors import ConfigError

    web = deployment("web", {"app": "web"}, [{"containerPort": 80}])
    (tmp_path / "more.yaml").write_text(_dump_all([web]))
    file = tmp_path / "experiment.yaml"
    file.write_text(yaml.safe_dump(experiment([web, service("web", {"app": "web"}, [{"port": 80}])],
                                              [client("users", "web")], manifest_files=["more.yaml"])))
    with pytest.raises(ConfigError) as info:
        load_experiment(file)
    assert info.value.path == "Deployment/web"
    assert "more.yaml" in info.value.message


def test_skipped_kinds_warn_once_per_kind_per_file(tmp_path, capsys):
    other_map = copy.deepcopy(CONFIG_MAP)
    other_map["metadata"]["name"] = "flags"
    (tmp_path / "a.yaml").write_text(_dump_all([
        CONFIG_MAP, ACCOUNT, other_map, deployment("web", {"app": "web"}, [{"containerPort": 80}]),
        service("web", {"app": "web"}, [{"port": 80}]),
    ]))
    (tmp_path / "b.yaml").write_text(_dump_all([CONFIG_MAP | {"metadata": {"name": "other"}}, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"}, "spec": {}}]))
    budget = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"}, "spec": {"minAvailable": 1}}
    data = experiment([budget], [client("users", "web")], manifest_files=["a.yaml", "b.yaml"])
    data["scenarios"] = [{"name": "one", "set": {}}, {"name": "two", "set": {"Deployment/web.spec.replicas": 2}}]
    file = tmp_path / "experiment.yaml"
    file.write_text(yaml.safe_dump(data))

    assert main(["validate", str(file)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    expected = {("a.yaml", "ConfigMap"): ["settings", "flags"], ("a.yaml", "ServiceAccount"): ["web"],
                ("b.yaml", "ConfigMap"): ["other"], ("b.yaml", "Ingress"): ["web"],
                ("manifests", "PodDisruptionBudget"): ["web"]}
    assert len(warnings) == len(expected), err  # once per kind and file, not per object or scenario
    for (source, kind), names in expected.items():
        (line,) = [w for w in warnings if source in w and f" {kind}" in w]
        assert all(name in line for name in names)
        assert f"{len(names)} {kind}" in line


# --- the real manifests ----------------------------------------------------------------------------


def _real(name: str) -> Path:
    path = REAL_MANIFESTS / name
    assert path.is_file(), f"{path} is missing: the real manifests live in experiments/manifests/"
    return path


def test_online_boutique_loads_and_runs():
    data = experiment([], [
        client("catalog", "productcatalogservice:3550", **{"from": "Deployment/frontend"}),
        client("currency", "currencyservice:grpc", 200),
    ], manifest_files=[str(_real("online-boutique.yaml"))])
    spec, result = run_once(data)
    scenario = spec.scenarios[0]
    deployments = {d.name: d for d in scenario.deployments}
    services = {s.name: s for s in scenario.services}
    assert len(deployments) == 12 and "loadgenerator" in deployments
    assert all(d.replicas == 1 for d in deployments.values())  # replicas default to 1
    assert len(services) == 12
    assert services["frontend-external"].type is ServiceType.LOAD_BALANCER
    assert services["emailservice"].ports[0].port == 5000 and services["emailservice"].ports[0].target_port == 8080
    assert scenario.clients[1].port.port == 7000  # target by port name
    (warning,) = spec.warnings
    assert "online-boutique.yaml" in warning and "ServiceAccount" in warning and "\n" not in warning

    assert result.generated == len(result.requests["outcome"]) > 0
    assert (result.requests["outcome"] == Outcome.OK).all()
    frontend = pods_of(result, "frontend")
    assert {result.pods[p]["node"] for p in frontend} == {result.nodes[n]["name"] for n in np.unique(
        result.requests["entry_node"][result.requests["client"] == 0])}, "the client runs in the frontend's pods"
    for name, port in (("productcatalogservice", 3550), ("currencyservice", 7000)):
        served = service_result(result, name)
        assert set(served["endpoints"]) == pods_of(result, name)
        assert set(served["ports"]) == {port}


def test_guestbook_loads_and_runs():
    data = experiment([], [client("visitors", "frontend"), client("reads", "redis-replica:6379", 300)],
                      manifest_files=[str(_real("guestbook.yaml"))])
    spec, result = run_once(data)
    scenario = spec.scenarios[0]
    services = {s.name: s for s in scenario.services}
    assert {d.name: d.replicas for d in scenario.deployments} == {"redis-master": 1, "redis-replica": 2, "frontend": 3}
    assert services["frontend"].type is ServiceType.NODE_PORT  # in-cluster clients may call a NodePort Service
    assert services["frontend"].ports[0].target_port == 80  # no targetPort: it is the port
    assert services["redis-master"].type is ServiceType.CLUSTER_IP  # no type: ClusterIP
    assert not spec.warnings
    assert (result.requests["outcome"] == Outcome.OK).all() and result.generated > 0
    assert set(service_result(result, "frontend")["endpoints"]) == pods_of(result, "frontend")
    assert set(service_result(result, "redis-replica")["endpoints"]) == pods_of(result, "redis-replica")
    assert len(pods_of(result, "frontend")) == 3

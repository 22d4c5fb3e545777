"""Manifests in several namespaces behave as Kubernetes has them behave.

References are Kubernetes semantics, not netsim's output: names are unique per kind and
namespace (two ``web`` Services coexist), a Service's selector picks pods of its own
namespace only, a short name resolves in the sender's namespace and ``svc.ns`` in ``ns``,
a pod runs in its Deployment's namespace, and a client outside the cluster names the
Service without DNS.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from builders import ZERO_NETWORK, deployment, service, simulate_one

from netsim.config import load_experiment
from netsim.describe import describe
from netsim.edges import edge_rows
from netsim.errors import ConfigError
from netsim.metrics import pod_rows


def namespaced(obj: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    if namespace is not None:
        obj["metadata"]["namespace"] = namespace
    return obj


def shop_and_staging() -> dict[str, Any]:
    """``web`` (Deployment and Service, same labels) in ``shop`` (3 pods) and in ``staging`` (2 pods);
    ``frontend`` in ``shop``, behind a NodePort, calls ``web`` (its own namespace's) and ``web.staging``;
    ``api`` in ``default`` selects ``app: web`` too, but ``default`` has no such pod."""
    manifests = [
        namespaced(deployment("web", replicas=3), "shop"), namespaced(service("web"), "shop"),
        namespaced(deployment("web", replicas=2), "staging"), namespaced(service("web"), "staging"),
        namespaced(deployment("frontend", replicas=2), "shop"), namespaced(service("frontend", type_="NodePort"), "shop"),
        service("api", selector={"app": "web"}),
    ]
    return {
        "name": "namespaces",
        "run": {"duration": 20.0, "warmup": 1.0, "seed": 3},
        "cluster": {"nodes": {"count": 2}, "network": ZERO_NETWORK, "dns": {"latency": "0s", "cache_ttl": "1h"}},
        "manifests": manifests,
        "workloads": {
            "default": {"service_time": {"distribution": "exponential", "mean": 0.001}, "concurrency": 8, "queue_limit": 100000},
            "frontend": {"concurrency": 64, "operations": {"page": [{"call": "web"}, {"call": "web.staging:80", "count": 2}]}},
        },
        "clients": [
            {"name": "shop-users", "namespace": "shop", "target": "web", "arrival": {"rate": 100}, "timeout": "1h"},
            {"name": "staging-users", "target": "web.staging.svc.cluster.local:80", "arrival": {"rate": 50}, "timeout": "1h"},
            {"name": "outside", "location": "external", "target": "frontend", "arrival": {"rate": 40}, "timeout": "1h"},
        ],
    }


@pytest.fixture(scope="module")
def run() -> Any:
    return simulate_one(shop_and_staging())


def test_two_services_of_one_name_keep_to_their_own_namespace(run: Any) -> None:
    rows = pod_rows(run)
    served = {(r["service"], r["pod"]): r["requests"] for r in rows}
    by_service: dict[str, set[str]] = {}
    for r in rows:
        by_service.setdefault(r["service"], set()).add(r["deployment"])
    # the name two namespaces share is qualified; a unique one is not
    assert by_service == {"web.shop": {"web.shop"}, "web.staging": {"web.staging"}, "frontend": {"frontend"}}
    assert {p for s, p in served if s == "web.shop"} == {"web-1.shop", "web-2.shop", "web-3.shop"}
    assert {p for s, p in served if s == "web.staging"} == {"web-1.staging", "web-2.staging"}
    assert all(n > 0 for n in served.values())  # every endpoint took some of its Service's traffic


def test_short_names_resolve_in_the_senders_namespace_and_svc_ns_across(run: Any) -> None:
    """shop-users (namespace: shop) say ``web``: shop's. frontend (in shop) says ``web`` and ``web.staging``.
    staging-users (default) write the FQDN. Each edge lands on the Service Kubernetes DNS would answer."""
    edges = {(e["caller"], e["service"]): e["calls"] for e in edge_rows(run)}
    assert set(edges) == {("shop-users", "web.shop"), ("staging-users", "web.staging"), ("outside", "frontend"),
                          ("frontend", "web.shop"), ("frontend", "web.staging")}
    pages = edges[("outside", "frontend")]
    assert edges[("frontend", "web.shop")] == pages and edges[("frontend", "web.staging")] == 2 * pages


def test_a_selector_never_reaches_into_another_namespace() -> None:
    """``api`` (in default) selects ``app: web``; the only such pods are in shop and staging."""
    config = shop_and_staging()
    config["clients"].append({"name": "to-api", "target": "api", "arrival": {"rate": 10}})
    spec = load_experiment(config)
    assert any(w.startswith("Service/api: selector") and "matches no pod" in w for w in spec.warnings), spec.warnings
    run = simulate_one(config)
    assert not [r for r in pod_rows(run) if r["service"] == "api"]  # no endpoints: pods labelled app=web live elsewhere


def test_validate_names_each_objects_namespace() -> None:
    (scenario,) = load_experiment(shop_and_staging()).scenarios
    text = "\n".join(describe(scenario))
    assert "Deployment/web.shop (namespace shop): 3 replica(s)" in text
    assert "Service/web.staging (namespace staging): ClusterIP" in text
    assert "Service/api: ClusterIP" in text  # default needs no label
    assert "client shop-users: in-cluster (one pod per node, namespace shop)" in text
    assert "pods: web-1.shop on node-" in text


def refused(config: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_experiment(config)
    return caught.value


def with_client(**fields: Any) -> dict[str, Any]:
    config = shop_and_staging()
    config["clients"].append({"name": "x", "arrival": {"rate": 1}, **fields})
    return config


@pytest.mark.parametrize(("fields", "path", "words"), [
    # the short name from default: not there, and it says where it looked and where the Service is
    ({"target": "frontend"}, "clients.x.target", "no Service named 'frontend' in namespace 'default' (the client's namespace); "
                                                  "Service 'frontend' is in namespace 'shop': write frontend.shop"),
    # a typo from another namespace is suggested as the client must write it
    ({"target": "frontnd"}, "clients.x.target", "(did you mean 'frontend.shop'?) (looked in namespace 'default')"),
    ({"namespace": "shop", "target": "frontnd"}, "clients.x.target", "(did you mean 'frontend'?) (looked in namespace 'shop')"),
    ({"namespace": "shpo", "target": "web"}, "clients.x.namespace", "no manifest is in namespace 'shpo' (did you mean 'shop'?)"),
    ({"location": "external", "target": "web"}, "clients.x.target",
     "two namespaces have a Service named 'web' ('shop', 'staging'): name one as web.<namespace>"),
    ({"location": "external", "target": "frontend.staging"}, "clients.x.target",
     "no Service named 'frontend' in namespace 'staging'; Service 'frontend' is in namespace 'shop': write frontend.shop"),
    ({"location": "external", "namespace": "shop", "target": "frontend"}, "clients.x.namespace", "outside the cluster, in no namespace"),
    ({"from": "Deployment/web", "target": "web"}, "clients.x.from",
     "two namespaces have a Deployment named 'web' ('shop', 'staging'): say which with namespace: shop"),
    ({"from": "Deployment/frontend", "namespace": "staging", "target": "web"}, "clients.x.from",
     "Deployment 'frontend' is in namespace 'shop', not in the client's namespace 'staging'"),
])
def test_namespace_mistakes_name_the_namespaces(fields: dict[str, Any], path: str, words: str) -> None:
    error = refused(with_client(**fields))
    assert error.path == path and words in error.message, error


def test_a_client_in_a_deployments_pods_takes_its_namespace() -> None:
    config = with_client(**{"from": "Deployment/web", "namespace": "staging", "target": "web"})
    client = next(c for c in load_experiment(config).scenarios[0].clients if c.name == "x")
    assert (client.from_deployment, client.namespace, client.service) == ("web.staging", "staging", "web.staging")
    config = with_client(**{"from": "Deployment/frontend", "target": "web"})  # frontend is in shop: web is shop's
    client = next(c for c in load_experiment(config).scenarios[0].clients if c.name == "x")
    assert (client.namespace, client.service) == ("shop", "web.shop")


def test_an_external_client_names_a_service_by_name_and_namespace() -> None:
    config = with_client(location="external", target="web.staging:80")
    config["manifests"][3]["spec"]["type"] = "NodePort"
    client = next(c for c in load_experiment(config).scenarios[0].clients if c.name == "x")
    assert (client.service, client.dns_queries) == ("web.staging", 0)


def test_a_call_step_resolves_from_the_callers_namespace() -> None:
    config = shop_and_staging()
    config["workloads"]["frontend"]["operations"]["page"] = [{"call": "api"}]
    error = refused(config)
    assert error.path == "workloads.frontend.operations.page.0.call"
    assert "no Service named 'api' in namespace 'shop' (the namespace of Deployment/frontend); Service 'api' is in namespace 'default'" \
        in error.message


def test_workloads_and_churn_name_a_shared_name_with_its_namespace() -> None:
    config = shop_and_staging()
    config["workloads"]["web.staging"] = {"concurrency": 2}
    config["churn"] = [{"at": 5, "scale": "Deployment/web.shop", "replicas": 4}]
    (scenario,) = load_experiment(config).scenarios
    assert scenario.workloads["web.staging"].concurrency == 2 and scenario.workloads["web.shop"].concurrency == 8
    config["churn"] = [{"at": 5, "scale": "Deployment/web", "replicas": 4}]
    error = refused(config)
    assert error.path == "churn.0.scale" and "write Deployment/web.shop" in error.message, error
    config = shop_and_staging()
    config["workloads"]["web"] = {"concurrency": 2}
    error = refused(config)
    assert error.path == "workloads.web" and "web.shop" in error.message, error


def test_one_namespace_keeps_plain_names_and_a_duplicate_in_one_namespace_is_refused() -> None:
    config = shop_and_staging()
    config["manifests"] = [m for m in config["manifests"] if m["metadata"].get("namespace") != "staging"]
    config["clients"] = [c for c in config["clients"] if c["name"] != "staging-users"]
    config["workloads"]["frontend"]["operations"]["page"] = [{"call": "web"}]
    (scenario,) = load_experiment(config).scenarios
    assert {s.name for s in scenario.services} == {"web", "frontend", "api"}
    config["manifests"].append(copy.deepcopy(config["manifests"][1]))
    error = refused(config)
    assert "defined twice in namespace 'shop'" in error.message


def test_init_writes_a_file_that_validates_for_a_name_two_namespaces_share(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from netsim.cli import main

    (tmp_path / "k8s.yaml").write_text(yaml.safe_dump_all(shop_and_staging()["manifests"], sort_keys=False))
    out = tmp_path / "sim.yaml"
    assert main(["init", str(tmp_path / "k8s.yaml"), "-o", str(out)]) == 0, capsys.readouterr().err
    assert set(yaml.safe_load(out.read_text())["workloads"]) == {"web.shop", "web.staging", "frontend"}
    (scenario,) = load_experiment(out).scenarios
    clients = {c.name: (c.location, c.service) for c in scenario.clients}
    assert clients == {"web-shop-clients": ("in-cluster", "web.shop"), "web-staging-clients": ("in-cluster", "web.staging"),
                       "frontend-clients": ("external", "frontend")}  # api selects no pod of its namespace: no client
    assert "# Service api selects no pod" in out.read_text()


def test_set_reaches_a_workload_and_a_manifest_whose_name_two_namespaces_share() -> None:
    sets = [("workloads.web.shop.concurrency", 3), ("Deployment/web.staging.spec.replicas", 5)]
    (scenario,) = load_experiment(shop_and_staging(), sets).scenarios
    assert scenario.workloads["web.shop"].concurrency == 3 and scenario.workloads["web.staging"].concurrency == 8
    assert {d.name: d.replicas for d in scenario.deployments} == {"web.shop": 3, "web.staging": 5, "frontend": 2}
    with pytest.raises(ConfigError) as caught:
        load_experiment(shop_and_staging(), [("Deployment/web.spec.replicas", 5)])
    assert "two namespaces have Deployment/web (shop, staging): write Deployment/web.<namespace>.<field>" in caught.value.message


def hpa(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name, "namespace": namespace},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}, "maxReplicas": 6,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]}}


def test_an_hpa_scales_the_deployment_of_its_own_namespace_and_deferred_objects_are_qualified_too() -> None:
    config = shop_and_staging()
    staging = [m for m in config["manifests"] if m["metadata"].get("namespace") == "staging"]
    config["manifests"] = [m for m in config["manifests"] if m not in staging] + [hpa("web", "shop")]
    config["deferred"] = [*staging, hpa("web", "staging")]
    config["churn"] = [{"at": 3, "apply": "Deployment/web.staging"}, {"at": 3, "apply": "Service/web.staging"},
                       {"at": 4, "apply": "HorizontalPodAutoscaler/web.staging"}]
    (scenario,) = load_experiment(config).scenarios
    assert {(h.name, h.target_name) for h in scenario.autoscalers} == {("web.shop", "web.shop"), ("web.staging", "web.staging")}
    assert scenario.created_at == {"Deployment/web.staging": 3, "Service/web.staging": 3, "HorizontalPodAutoscaler/web.staging": 4}
    config["churn"][0] = {"at": 3, "apply": "Deployment/web"}
    error = refused(config)
    assert error.path == "churn.0.apply" and "two namespaces have a Deployment named 'web'" in error.message, error

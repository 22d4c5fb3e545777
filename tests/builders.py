"""Small experiment mappings for tests: one Deployment behind one Service, everything explicit."""

from __future__ import annotations

import copy
from typing import Any

ZERO_NETWORK = {"same_node": "0s", "same_zone": "0s", "cross_zone": "0s", "internet": "0s"}


def deployment(name: str = "web", replicas: int = 1, labels: dict[str, str] | None = None, ports: list[dict] | None = None,
               node_name: str | None = None, node_selector: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    pod_spec: dict[str, Any] = {"containers": [{"name": name, "ports": ports or [{"containerPort": 8080}]}]}
    if node_name:
        pod_spec["nodeName"] = node_name
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": pod_spec}},
    }


def service(name: str = "web", selector: dict[str, str] | None = None, port: int = 80, target: int | str = 8080,
            type_: str = "ClusterIP") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"type": type_, "selector": selector if selector is not None else {"app": name},
                 "ports": [{"port": port, "targetPort": target}]},
    }


def experiment(*, replicas: int = 1, concurrency: int = 1, mean_service: float = 0.001, rate: float = 500.0,
               duration: float = 60.0, warmup: float = 5.0, nodes: Any = None, network: dict | None = None,
               dns: dict | None = None, manifests: list[dict] | None = None, seed: int = 1,
               replications: int = 1, service_time: Any = None, client: dict | None = None,
               engine: str = "auto") -> dict[str, Any]:
    """An experiment with zero latencies unless told otherwise: an exact queueing model."""
    return copy.deepcopy({
        "name": "test",
        "run": {"duration": duration, "warmup": warmup, "replications": replications, "seed": seed, "engine": engine},
        "cluster": {
            "nodes": nodes if nodes is not None else {"count": 1},
            "network": network or ZERO_NETWORK,
            "dns": dns or {"latency": "0s", "cache_ttl": "1h"},
        },
        "manifests": manifests or [deployment(replicas=replicas), service()],
        "workloads": {"default": {
            "service_time": service_time or {"distribution": "exponential", "mean": mean_service},
            "concurrency": concurrency, "queue_limit": 100000,
        }},
        "clients": [client or {"name": "load", "target": "web", "arrival": {"rate": rate}, "timeout": "1h"}],
    })


def simulate_one(config: dict[str, Any], replication: int = 0):  # type: ignore[no-untyped-def]
    """Load ``config`` and simulate its first scenario's given replication."""
    from netsim.config import load_experiment
    from netsim.engine import simulate

    spec = load_experiment(config)
    runs = [r for r in spec.runs() if r.replication == replication]
    return simulate(runs[0])


def churn_experiment(*, replicas: int = 4, rate: float = 400.0, duration: float = 40.0, nodes: int = 3,
                     probe: dict | None = None, prestop_s: float | None = None, strategy: dict | None = None,
                     startup: str = "1s", control_plane: dict | None = None, churn: list | None = None,
                     mean_service: float = 0.005, concurrency: int = 4, timeout: str = "3s", seed: int = 1,
                     min_ready_s: float | None = None, grace_s: float | None = None) -> dict[str, Any]:
    """One Deployment behind a ClusterIP Service, with a readinessProbe and churn (no warm-up)."""
    d = deployment(replicas=replicas)
    container = d["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"] = {"tcpSocket": {"port": 8080}, **(probe or {"periodSeconds": 2})}
    if prestop_s is not None:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": prestop_s}}}
    if strategy is not None:
        d["spec"]["strategy"] = strategy
    if min_ready_s is not None:
        d["spec"]["minReadySeconds"] = min_ready_s
    if grace_s is not None:
        d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = grace_s
    config = experiment(replicas=replicas, rate=rate, duration=duration, warmup=0.0, concurrency=concurrency,
                        mean_service=mean_service, nodes={"count": nodes}, manifests=[d, service()], seed=seed)
    config["workloads"]["default"]["startup"] = startup
    config["clients"][0]["timeout"] = timeout
    config["cluster"]["control_plane"] = control_plane or {}
    config["churn"] = churn or []
    return config

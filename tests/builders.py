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
               replications: int = 1, service_time: Any = None, client: dict | None = None) -> dict[str, Any]:
    """An experiment with zero latencies unless told otherwise: an exact queueing model."""
    return copy.deepcopy({
        "name": "test",
        "run": {"duration": duration, "warmup": warmup, "replications": replications, "seed": seed},
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

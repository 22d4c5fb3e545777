"""Experiment mappings for the validation cases: exact queueing models, everything explicit.

With every network and DNS latency zero, a request's latency is its time in the
pod (waiting + service), so one pod with ``c`` workers and a waiting room of
``queue_limit`` is an M/G/c/(c + queue_limit) queue fed by the client's Poisson
arrivals. Durations are in seconds.
"""

from __future__ import annotations

import math
from typing import Any

ZERO_NETWORK = {"same_node": "0s", "same_zone": "0s", "cross_zone": "0s", "internet": "0s"}
UNBOUNDED_QUEUE = 1_000_000
"""A waiting room no run fills: an infinite-capacity queue."""
NO_TIMEOUT = "1h"


def deployment(name: str = "web", replicas: int = 1, labels: dict[str, str] | None = None,
               node_name: str | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    pod_spec: dict[str, Any] = {"containers": [{"name": "web", "ports": [{"containerPort": 8080}]}]}
    if node_name:
        pod_spec["nodeName"] = node_name
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": pod_spec}},
    }


def service(selector: dict[str, str] | None = None, type_: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": type_, "selector": selector or {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}], **spec},
    }


def warmup_for(relaxation_s: float) -> float:
    """A warm-up of at least 20 relaxation times (the empty start's bias is then below 1e-8 of itself), at least 1 s."""
    return max(1.0, math.ceil(40.0 * relaxation_s) / 2.0)


def queue_experiment(
    *,
    rate: float,
    service_time: dict[str, Any],
    replicas: int = 1,
    concurrency: int = 1,
    queue_limit: int = UNBOUNDED_QUEUE,
    replications: int,
    duration: float,
    warmup: float,
    nodes: int = 1,
    kube_proxy: dict[str, Any] | None = None,
    client: dict[str, Any] | None = None,
    manifests: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One Deployment behind a ClusterIP Service, an in-cluster Poisson client, zero latencies."""
    cluster: dict[str, Any] = {"nodes": {"count": nodes}, "network": dict(ZERO_NETWORK), "dns": {"latency": "0s"}}
    if kube_proxy:
        cluster["kube_proxy"] = kube_proxy
    return {
        "name": "verify",
        "run": {"duration": duration, "warmup": warmup, "replications": replications, "seed": 0},
        "cluster": cluster,
        "manifests": manifests or [deployment(replicas=replicas), service()],
        "workloads": {"default": {"service_time": service_time, "concurrency": concurrency, "queue_limit": queue_limit}},
        "clients": [{"name": "load", "target": "web", "arrival": {"rate": rate}, "timeout": NO_TIMEOUT, **(client or {})}],
    }


def exponential(mean_s: float) -> dict[str, Any]:
    return {"distribution": "exponential", "mean": mean_s}

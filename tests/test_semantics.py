"""Kubernetes semantics: who may receive traffic, where pods land, what a hop costs."""

from __future__ import annotations

import numpy as np
import pytest
from builders import ZERO_NETWORK, deployment, experiment, service, simulate_one

from netsim.model.request import Outcome

THREE_NODES = [
    {"name": "a1", "zone": "zone-a", "labels": {"disk": "ssd"}},
    {"name": "a2", "zone": "zone-a"},
    {"name": "b1", "zone": "zone-b", "labels": {"disk": "ssd"}},
]


def pod_nodes(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {p["name"]: p["node"] for p in result.pods}


def test_node_name_pins_every_pod() -> None:
    manifests = [deployment(replicas=3, node_name="a2"), service()]
    result = simulate_one(experiment(nodes=THREE_NODES, manifests=manifests, duration=1.0))
    assert set(pod_nodes(result).values()) == {"a2"}


def test_node_selector_keeps_pods_on_matching_nodes_and_spreads_them() -> None:
    manifests = [deployment(replicas=4, node_selector={"disk": "ssd"}), service()]
    result = simulate_one(experiment(nodes=THREE_NODES, manifests=manifests, duration=1.0))
    nodes = list(pod_nodes(result).values())
    assert set(nodes) == {"a1", "b1"}
    assert nodes.count("a1") == nodes.count("b1") == 2


def test_unconstrained_pods_spread_one_per_node() -> None:
    result = simulate_one(experiment(nodes={"count": 6, "zones": ["z1", "z2", "z3"]}, replicas=6, duration=1.0))
    assert len(set(pod_nodes(result).values())) == 6


def test_no_matching_node_leaves_pods_pending_with_a_warning() -> None:
    manifests = [deployment(replicas=2, node_selector={"gpu": "yes"}), service()]
    result = simulate_one(experiment(nodes=THREE_NODES, manifests=manifests, duration=1.0))
    assert result.pods == []
    assert any("Pending" in w for w in result.warnings)
    assert np.all(result.requests["outcome"] == Outcome.REFUSED)


def test_only_pods_matching_the_selector_receive_traffic() -> None:
    manifests = [
        deployment("web", replicas=3, labels={"app": "web", "track": "stable"}),
        deployment("canary", replicas=2, labels={"app": "web", "track": "canary"}),
        deployment("other", replicas=2, labels={"app": "other"}),
        service("web", selector={"app": "web", "track": "stable"}),
    ]
    result = simulate_one(experiment(manifests=manifests, rate=300, duration=5.0))
    served = {result.pods[i]["deployment"] for i in np.unique(result.requests["pod"])}
    assert served == {"web"}
    assert len(result.services[0]["endpoints"]) == 3


def test_named_target_port_resolves_to_the_container_port() -> None:
    manifests = [
        deployment("web", replicas=2, ports=[{"containerPort": 9376, "name": "http"}]),
        service("web", target="http"),
    ]
    result = simulate_one(experiment(manifests=manifests, duration=1.0))
    assert result.services[0]["ports"] == [9376, 9376]


def test_named_target_port_missing_on_pods_means_no_endpoints() -> None:
    manifests = [deployment("web", replicas=2, ports=[{"containerPort": 9376, "name": "metrics"}]), service("web", target="http")]
    result = simulate_one(experiment(manifests=manifests, duration=1.0))
    assert result.services[0]["endpoints"] == []
    assert np.all(result.requests["outcome"] == Outcome.REFUSED)


@pytest.mark.parametrize("layout", ["same_node", "same_zone", "cross_zone"])
def test_constant_latency_adds_up_to_service_time_plus_hops(layout: str) -> None:
    """Client on node a1, one pod placed by nodeName; latency = DNS + 2 hops + service, exactly."""
    hop = {"same_node": 0.00003, "same_zone": 0.0002, "cross_zone": 0.0007}
    pod_node = {"same_node": "a1", "same_zone": "a2", "cross_zone": "b1"}[layout]
    manifests = [deployment("web", node_name=pod_node), service(), deployment("client", node_name="a1")]
    network = {**ZERO_NETWORK, **{k: f"{v * 1e6:g}us" for k, v in hop.items()}}
    config = experiment(
        nodes=THREE_NODES, manifests=manifests, network=network, rate=20, duration=10.0,
        service_time={"distribution": "constant", "value": "2ms"}, dns={"latency": "500us", "cache_ttl": "0s"},
        client={"name": "c", "target": "web", "from": "Deployment/client", "arrival": {"rate": 20}, "timeout": "1h"},
    )
    # no rule-evaluation cost on the first packet (tens of ns here; tests/test_proxy_modes.py covers it)
    config["cluster"]["kube_proxy"] = {"mode": "nftables"}  # O(1) dispatch: no first-packet cost above the hops
    result = simulate_one(config)
    order = np.argsort(result.requests["t_issue_s"])
    latency = result.requests["latency_s"][order]
    # requests that meet nobody else (no queueing, no shared DNS lookup) show the bare path
    no_overlap = np.diff(result.requests["t_issue_s"][order], prepend=-1) > 0.01
    assert no_overlap.sum() > 100
    expected = 0.0005 + 2 * hop[layout] + 0.002
    assert np.allclose(latency[no_overlap], expected, rtol=1e-9, atol=1e-12)
    assert np.all(result.requests["dns_queries"][order][no_overlap] == 1)  # TTL 0: each resolves again


def test_dns_cache_ttl_means_one_query_per_ttl_per_client_pod() -> None:
    config = experiment(nodes={"count": 2}, rate=200, duration=20.0, warmup=0.0, dns={"latency": "1ms", "cache_ttl": "5s"})
    result = simulate_one(config)
    queries = int(result.requests["dns_queries"].sum())
    # 2 client pods (one per node), each re-resolving every 5 s + 1 ms over ~20 s
    assert 2 * 4 <= queries <= 2 * 5

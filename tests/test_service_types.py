"""NodePort, LoadBalancer and ExternalName paths, traffic policies and session affinity (issue 3).

Statistical checks compare shares with their binomial standard error
sqrt(p(1-p)/n) from the run's own request count; ``Z`` standard errors allow
for the several comparisons a test makes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from builders import ZERO_NETWORK, deployment, experiment, service
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netsim import metrics
from netsim.config import load_experiment
from netsim.engine import simulate
from netsim.errors import ConfigError
from netsim.model.request import Outcome

Z = 4.5
THREE_NODES = {"count": 3, "zones": ["zone-a", "zone-b"]}


def uneven_manifests(type_: str, policy: str) -> list[dict]:
    """Two pods on node-1, one on node-2, none on node-3 (pinned with nodeName)."""
    svc = service(type_=type_)
    svc["spec"]["externalTrafficPolicy"] = policy
    return [
        deployment("web", replicas=2, node_name="node-1"),
        deployment("web-b", replicas=1, labels={"app": "web"}, node_name="node-2"),
        svc,
    ]


def external(rate: float = 2000.0, **extra) -> dict:
    return {"name": "users", "location": "external", "target": "web", "arrival": {"rate": rate}, **extra}


def run(config: dict, sets=()):  # type: ignore[no-untyped-def]
    spec = load_experiment(config, sets)
    result = simulate(spec.runs()[0])
    return result, metrics.run_rows(result)[0], metrics.pod_rows(result)


def assert_share(observed: float, expected: float, n: int) -> None:
    se = math.sqrt(expected * (1 - expected) / n)
    assert abs(observed - expected) <= Z * se, (observed, expected, n, se)


# -- externalTrafficPolicy ------------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["NodePort", "LoadBalancer"])
def test_local_vs_cluster_shares_follow_pods_per_node(type_: str) -> None:
    """Local: 1 / (nodes with a ready pod × pods on its node); Cluster: 1 / pods (k8s-facts §3, measurement C)."""
    for policy in ("Local", "Cluster"):
        config = experiment(nodes=THREE_NODES, manifests=uneven_manifests(type_, policy), duration=10, warmup=1,
                            client=external())
        _, row, pods = run(config)
        served = row["requests"] - row["errors"]
        by_node = {"node-1": 2, "node-2": 1}
        for pod in pods:
            expected = 1 / (2 * by_node[pod["node"]]) if policy == "Local" else 1 / 3
            assert_share(pod["share"], expected, served)


def test_nodeport_local_drops_on_nodes_without_endpoints_and_never_crosses() -> None:
    config = experiment(nodes=THREE_NODES, manifests=uneven_manifests("NodePort", "Local"), duration=10, warmup=1,
                        client=external())
    result, row, _ = run(config)
    assert row["cross_node_fraction"] == 0.0
    # entries are uniform over 3 nodes; node-3 has no endpoint, so a third of requests are dropped
    assert_share(row["errors_no_local_endpoint"] / row["requests"], 1 / 3, row["requests"])
    req = result.requests
    dropped = req["outcome"] == Outcome.NO_LOCAL_ENDPOINT
    assert set(req["entry_node"][dropped].tolist()) == {2}


def test_nodeport_cluster_cross_node_fraction_matches_local_endpoint_share() -> None:
    """Cluster: cross-node fraction = mean over entry nodes of 1 − local endpoints / endpoints; client IP SNATed."""
    config = experiment(nodes=THREE_NODES, manifests=uneven_manifests("NodePort", "Cluster"), duration=10, warmup=1,
                        client=external())
    _, row, _ = run(config)
    expected = np.mean([1 - 2 / 3, 1 - 1 / 3, 1 - 0 / 3])
    assert_share(row["cross_node_fraction"], expected, row["requests"])
    assert row["errors"] == 0


def test_entry_nodes_restrict_where_external_clients_connect() -> None:
    config = experiment(nodes=THREE_NODES, manifests=uneven_manifests("NodePort", "Local"), duration=5, warmup=1,
                        client=external(entry_nodes=["node-2"]))
    result, row, pods = run(config)
    assert set(result.requests["entry_node"].tolist()) == {1}
    assert row["errors"] == 0
    assert {p["node"]: p["share"] for p in pods if p["requests"]}.keys() == {"node-2"}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement=st.lists(st.integers(0, 3), min_size=1, max_size=6), entry=st.sets(st.integers(0, 3), min_size=1))
def test_local_policy_never_crosses_nodes(placement: list[int], entry: set[int]) -> None:
    """Invariant: with externalTrafficPolicy Local the serving pod is always on the entry node."""
    manifests = [deployment(f"web-{i}", 1, labels={"app": "web"}, node_name=f"node-{n + 1}") for i, n in enumerate(placement)]
    svc = service(type_="NodePort")
    svc["spec"]["externalTrafficPolicy"] = "Local"
    config = experiment(nodes={"count": 4}, manifests=[*manifests, svc], duration=1, warmup=0,
                        client=external(rate=500, entry_nodes=[f"node-{n + 1}" for n in sorted(entry)]))
    result, _, _ = run(config)
    req = result.requests
    ok = req["outcome"] == Outcome.OK
    pod_node = np.array([int(p["node"].split("-")[1]) - 1 for p in result.pods])
    assert np.all(pod_node[req["pod"][ok]] == req["entry_node"][ok])
    with_pods = set(placement)
    failed_entries = set(req["entry_node"][~ok].tolist())
    assert failed_entries.isdisjoint(with_pods)


# -- internalTrafficPolicy ----------------------------------------------------------------------


def test_internal_traffic_policy_local_keeps_traffic_on_the_node() -> None:
    svc = service()
    svc["spec"]["internalTrafficPolicy"] = "Local"
    config = experiment(nodes=THREE_NODES, manifests=[deployment("web", replicas=2, node_name="node-1"), svc],
                        duration=10, warmup=1, rate=1500)
    result, row, _ = run(config)
    req = result.requests
    ok = req["outcome"] == Outcome.OK
    assert set(req["entry_node"][ok].tolist()) == {0}
    assert set(req["entry_node"][req["outcome"] == Outcome.NO_LOCAL_ENDPOINT].tolist()) == {1, 2}
    assert row["cross_node_fraction"] == 0.0
    assert_share(row["error_rate"], 2 / 3, row["requests"])


# -- session affinity -----------------------------------------------------------------------------


def affinity_config(timeout_s: int, replicas: int = 4, clients: int = 40, rate: float = 40.0) -> dict:
    svc = service()
    svc["spec"]["sessionAffinity"] = "ClientIP"
    svc["spec"]["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": timeout_s}}
    manifests = [deployment("web", replicas=replicas), deployment("callers", replicas=clients, labels={"app": "callers"}), svc]
    return experiment(nodes=THREE_NODES, manifests=manifests, duration=120, warmup=0,
                      client={"name": "c", "target": "web", "from": "Deployment/callers", "arrival": {"rate": rate}, "timeout": "1h"})


def test_session_affinity_pins_each_client_ip_within_the_timeout() -> None:
    """Requests from one client IP less than timeoutSeconds apart reach the same pod; after an idle
    timeout the pick is fresh, so it repeats the old pod with probability 1/pods only."""
    timeout, replicas = 2, 4
    result, _, _ = run(affinity_config(timeout, replicas))
    req = result.requests
    order = np.lexsort((req["t_issue_s"], req["client_pod"]))
    ip, t, pod = req["client_pod"][order], req["t_issue_s"][order], req["pod"][order]
    same_ip = ip[1:] == ip[:-1]
    gap = np.diff(t)
    same_pod = pod[1:] == pod[:-1]
    within = same_ip & (gap < timeout)
    after = same_ip & (gap > timeout)
    assert within.sum() > 100 and after.sum() > 100
    assert same_pod[within].all()
    assert_share(same_pod[after].mean(), 1 / replicas, int(after.sum()))


def test_session_affinity_default_timeout_is_three_hours() -> None:
    svc = service()
    svc["spec"]["sessionAffinity"] = "ClientIP"
    spec = load_experiment(experiment(manifests=[deployment(), svc]))
    assert spec.scenarios[0].service("web").affinity_timeout_s == 10800


def test_affinity_behind_a_proxying_lb_sees_the_lbs_address() -> None:
    """aws-clb proxies: every node sees the LB's zone address, so ClientIP affinity pins all users of a
    zone front end to one endpoint per node; a passthrough LB keeps the users' own IPs."""
    svc = service(type_="LoadBalancer")
    svc["spec"]["sessionAffinity"] = "ClientIP"
    config = experiment(nodes={"count": 1}, manifests=[deployment(replicas=4), svc], duration=5, warmup=0,
                        client=external(rate=500, source_ips=50))
    config["cluster"]["load_balancer"] = {"provider": "aws-clb"}
    _, _, pods = run(config)
    assert sum(1 for p in pods if p["requests"]) == 1  # one zone front end, one node: one endpoint for everybody
    config["cluster"]["load_balancer"] = {"provider": "aws-nlb"}
    _, _, pods = run(config)
    assert sum(1 for p in pods if p["requests"]) == 4


# -- ExternalName and DNS cost ------------------------------------------------------------------


def external_name_config(target: str = "db", **dns) -> dict:
    ext = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
           "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    config = experiment(manifests=[deployment(), ext], duration=5, warmup=0, rate=200,
                        client={"name": "c", "target": target, "arrival": {"rate": 200}, "timeout": "1h"})
    config["cluster"]["network"] = {**ZERO_NETWORK, "internet": "10ms"}
    config["cluster"]["dns"] = {"latency": "1ms", "cache_ttl": "0s", "upstream_latency": "20ms", **dns}
    config["external_hosts"] = {"db.example.com": {"service_time": "5ms"}}
    return config


def lookups(result) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Latency (ms) and query count of the requests that sent the DNS lookup themselves
    (with ``cache_ttl: 0`` others arriving meanwhile share the lookup in flight and wait less)."""
    req = result.requests
    own = req["dns_queries"] > 0
    return req["latency_s"][own] * 1000, req["dns_queries"][own]


def test_external_name_costs_dns_with_cname_plus_internet_round_trip_plus_host_time() -> None:
    result, row, _ = run(external_name_config(upstream_cache_ttl="0s"))
    assert row["errors"] == 0
    latency, queries = lookups(result)
    # 1 query (short name, first try) + CNAME chased upstream + 2 × internet + host
    assert latency == pytest.approx(np.full(latency.size, 1 + 20 + 2 * 10 + 5))
    assert (queries == 1).all()
    assert 0 < row["dns_queries_per_request"] <= 1
    assert (result.requests["pod"] == -1).all()


def test_coredns_caches_the_upstream_chase_per_replica() -> None:
    """kubeadm's Corefile caches forwarded names (``cache 30``) in each CoreDNS pod: within 30 s only
    the first lookup reaching each of the 2 replicas pays the upstream chase; every lookup still
    queries CoreDNS (the pods' resolvers keep nothing)."""
    result, _, _ = run(external_name_config())
    latency, queries = lookups(result)
    chased = np.isclose(latency, 1 + 20 + 2 * 10 + 5)
    assert np.isclose(latency[~chased], 1 + 2 * 10 + 5).all()
    assert 1 <= chased.sum() <= 2  # a 5 s run: one 30 s window, two replicas
    assert (queries == 1).all() and latency.size > 100  # per-request connections: a lookup per request


def test_external_name_default_host_time_is_documented() -> None:
    config = external_name_config()
    del config["external_hosts"]
    spec = load_experiment(config)
    assert spec.scenarios[0].external_hosts["db"].mean == pytest.approx(0.020)


@pytest.mark.parametrize(("target", "queries"), [
    ("db", 1),                             # db.default.svc.cluster.local: first search domain
    ("db.default", 2),                     # db.default.default.svc... NXDOMAIN, then db.default.svc.cluster.local
    ("db.default.svc", 3),                 # two NXDOMAINs, then the third search domain (cluster.local)
    ("db.default.svc.cluster.local", 4),   # 4 dots < ndots 5: three search domains first, then absolute
    ("db.default.svc.cluster.local.", 1),  # a trailing dot: absolute, first try
])
def test_ndots_search_path_expansion_counts_queries(target: str, queries: int) -> None:
    result, _, _ = run(external_name_config(target, upstream_cache_ttl="0s"))
    latency, sent = lookups(result)
    assert (sent == queries).all()
    assert latency == pytest.approx(np.full(latency.size, queries * 1 + 20 + 2 * 10 + 5))


def test_aaaa_doubles_queries_not_time() -> None:
    result, _, _ = run(external_name_config("db.default.svc.cluster.local", aaaa=True, upstream_cache_ttl="0s"))
    latency, sent = lookups(result)
    assert (sent == 8).all()
    assert latency == pytest.approx(np.full(latency.size, 4 * 1 + 20 + 2 * 10 + 5))


def test_external_name_with_a_selector_warns() -> None:
    ext = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
           "spec": {"type": "ExternalName", "externalName": "db.example.com", "selector": {"app": "web"}}}
    spec = load_experiment(experiment(manifests=[deployment(), ext], client={"name": "c", "target": "db", "arrival": {"rate": 1}}))
    assert any("ExternalName" in w and "ignored" in w for w in spec.warnings)


def test_external_client_cannot_reach_external_name() -> None:
    config = external_name_config()
    config["clients"] = [{"name": "users", "location": "external", "target": "db", "arrival": {"rate": 1}}]
    with pytest.raises(ConfigError, match="reachable only inside"):
        load_experiment(config)


# -- nodePort allocation --------------------------------------------------------------------------


def test_node_ports_are_allocated_in_range_and_unique() -> None:
    a, b = service("a", type_="NodePort"), service("b", type_="LoadBalancer")
    b["spec"]["externalTrafficPolicy"] = "Local"
    taken = service("c", type_="NodePort")
    taken["spec"]["ports"][0]["nodePort"] = 30000
    spec = load_experiment(experiment(manifests=[deployment(), a, b, taken], client={"name": "u", "target": "a", "arrival": {"rate": 1}}))
    services = {s.name: s for s in spec.scenarios[0].services}
    ports = [services[n].ports[0].node_port for n in "abc"] + [services["b"].health_check_node_port]
    assert all(30000 <= p <= 32767 for p in ports)
    assert len(set(ports)) == 4
    assert services["c"].ports[0].node_port == 30000


@pytest.mark.parametrize(("node_port", "message"), [(29999, "outside the node-port range"), (30001, "already used")])
def test_node_port_range_and_uniqueness_errors(node_port: int, message: str) -> None:
    a, b = service("a", type_="NodePort"), service("b", type_="NodePort")
    a["spec"]["ports"][0]["nodePort"] = 30001
    b["spec"]["ports"][0]["nodePort"] = node_port
    with pytest.raises(ConfigError, match=message) as info:
        load_experiment(experiment(manifests=[deployment(), a, b], client={"name": "u", "target": "a", "arrival": {"rate": 1}}))
    assert info.value.path == "Service/b.spec.ports.0.nodePort"


def test_node_port_range_exhausted() -> None:
    a, b = service("a", type_="NodePort"), service("b", type_="NodePort")
    config = experiment(manifests=[deployment(), a, b], client={"name": "u", "target": "a", "arrival": {"rate": 1}})
    config["cluster"]["node_port_range"] = "30000-30000"
    with pytest.raises(ConfigError, match="exhausted"):
        load_experiment(config)


def test_entry_nodes_must_name_nodes() -> None:
    config = experiment(nodes=THREE_NODES, manifests=uneven_manifests("NodePort", "Cluster"), client=external(entry_nodes=["node-9"]))
    with pytest.raises(ConfigError, match="no node named 'node-9'") as info:
        load_experiment(config)
    assert info.value.path == "clients.users.entry_nodes.0"

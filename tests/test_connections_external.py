"""Connections from outside the cluster: pooled through a NodePort or a cloud LB (issue 4, "Connections").

An external connection is pinned to one entry (a NodePort node, or the LB's target for its 5-tuple) and,
through that node's conntrack, to one pod: balls-into-bins over pods, one pod per connection, a reset and
a reconnect when the LB takes the target out of service.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import deployment, experiment, service, simulate_one
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim import theory
from netsim.config import load_experiment
from netsim.metrics import connections_per_pod
from netsim.model.connections import PerRequest
from netsim.model.events import run_until
from netsim.model.request import Outcome
from netsim.model.world import World


def users(mode: str = "keep-alive", pool: int = 1, source_ips: int = 1, rate: float = 100.0, **extra) -> dict:
    return {"name": "users", "location": "external", "target": "web", "arrival": {"rate": rate}, "timeout": "1h",
            "source_ips": source_ips, "connections": {"mode": mode, "pool": pool, **extra}}


def external_config(pods: int, client: dict, *, type_: str = "NodePort", policy: str = "Cluster", nodes: int = 3,
                    seed: int = 1, duration: float = 2.0, service_time: dict | None = None, **lb) -> dict:
    svc = service(type_=type_)
    svc["spec"]["externalTrafficPolicy"] = policy
    config = experiment(manifests=[deployment(replicas=pods), svc], nodes={"count": nodes}, duration=duration, warmup=0.0,
                        seed=seed, client=client, service_time=service_time)
    config["workloads"]["default"]["concurrency"] = 1000  # no queueing: the connections are what is measured
    if lb:
        config["cluster"]["load_balancer"] = lb
    return config


def world_for(config: dict) -> World:
    return World(load_experiment(config).runs()[0])


@pytest.mark.parametrize(("pods", "source_ips", "pool"), [(10, 1, 10), (10, 1, 20), (5, 1, 5), (10, 2, 5)])
def test_external_keepalive_connections_land_like_balls_into_bins(pods: int, source_ips: int, pool: int) -> None:
    """C = source_ips x pool keep-alive connections through a NodePort (Cluster: every node's kube-proxy picks
    uniformly over all pods) on N pods: idle pods N(1-1/N)^C and per-pod CV sqrt((N-1)/C), averaged over
    replications; tolerance 4 standard errors of that average. Each request holds its connection for 1 s
    while ~100 arrive per second, so every pool fills."""
    conns = source_ips * pool
    idle, cv = [], []
    for rep in range(40):
        config = external_config(pods, users(pool=pool, source_ips=source_ips), seed=rep,
                                 service_time={"distribution": "constant", "value": 1.0})
        result = simulate_one(config)
        req = result.requests
        per_pod = connections_per_pod(req["pod"], req["connection"], len(result.pods))
        assert per_pod.sum() == conns
        idle.append(float((per_pod == 0).sum()))
        cv.append(float(per_pod.std() / per_pod.mean()))
    for values, expected in ((idle, theory.balls_into_bins_idle(pods, conns)), (cv, theory.balls_into_bins_cv(pods, conns))):
        x = np.array(values)
        se = x.std(ddof=1) / np.sqrt(x.size)
        assert abs(x.mean() - expected) <= 4 * se + 1e-9, (x.mean(), expected, se)


PATHS = {
    "nodeport-cluster": {"type_": "NodePort"},
    "nodeport-local": {"type_": "NodePort", "policy": "Local"},
    "lb-instance": {"type_": "LoadBalancer", "provider": "gcp"},
    "lb-ip": {"type_": "LoadBalancer", "provider": "aws-nlb", "target_type": "ip"},
}


@pytest.mark.parametrize("mode", ["keep-alive", "multiplexed"])
@pytest.mark.parametrize("path", sorted(PATHS))
def test_every_request_on_a_connection_takes_its_entry_to_its_pod(path: str, mode: str) -> None:
    config = external_config(6, users(mode, pool=2, source_ips=4, rate=400.0, max_requests=25), **PATHS[path])
    result = simulate_one(config)
    req = result.requests
    assert (req["outcome"] == Outcome.OK).all()
    conn = req["connection"]
    assert (conn >= 0).all()
    ids = np.unique(conn)
    assert ids.size >= req["pod"].size / 25  # max_requests: reconnects, each a new connection
    for c in ids:
        on = conn == c
        assert on.sum() <= 25
        assert np.unique(req["pod"][on]).size == 1  # conntrack: one endpoint per connection
        assert np.unique(req["entry_node"][on]).size == 1  # one entry per connection
        assert np.unique(req["client_pod"][on]).size == 1  # a connection belongs to one client address
    assert np.unique(req["pod"]).size > 1  # reconnects chose anew


def test_keepalive_holds_one_request_per_external_connection() -> None:
    config = external_config(3, users(pool=2, source_ips=2, rate=3000.0))
    world = world_for(config)
    world.start()
    run_until(world.env, world.drained)
    pool = world.clients[0].route.layer
    assert pool.most_in_flight == 1
    assert pool.opened == 2 * 2
    assert pool.waiting() == 0
    req = world.recorder.columns()
    assert len(req["outcome"]) == world.clients[0].generated
    assert (req["outcome"] == Outcome.OK).all()


def test_per_request_external_clients_keep_their_own_path() -> None:
    world = world_for(external_config(3, users("per-request")))
    assert isinstance(world.clients[0].route.layer, PerRequest)
    assert not any("connections" in w for w in world.warnings)


def test_lb_connection_survives_while_its_target_is_in_service_and_reconnects_after_removal() -> None:
    """GCE, externalTrafficPolicy Local: node-2's only pod turns unready at t0; the LB's health checks take
    node-2 out later. Connections pinned there keep working until then (the pod still serves), are reset
    by the removal and reconnect through node-1; connections through node-1 live the whole run."""
    manifests = [deployment("web", replicas=2, node_name="node-1"),
                 deployment("web-b", replicas=1, labels={"app": "web"}, node_name="node-2"), service(type_="LoadBalancer")]
    manifests[2]["spec"]["externalTrafficPolicy"] = "Local"
    config = experiment(nodes={"count": 3, "zones": ["zone-a", "zone-b"]}, manifests=manifests, duration=30.0, warmup=0.0,
                        client=users(source_ips=32, rate=400.0))
    config["cluster"]["load_balancer"] = {"provider": "gcp"}
    world = world_for(config)
    t0 = 10.0

    def unready():  # type: ignore[no-untyped-def]
        yield world.env.timeout(t0)
        world.set_endpoint_ready(2, False)  # web-b's pod, the only one on node-2

    world.start()
    world.env.process(unready())
    run_until(world.env, world.drained)
    lb = next(iter(world.load_balancers.values()))
    removals = [t for t, target, up in lb.changes if not up and target == 1]
    assert len(removals) == 1
    removed = removals[0]
    req = world.recorder.columns()
    assert len(req["outcome"]) == world.clients[0].generated
    assert (req["outcome"] == Outcome.OK).all()
    on_b = req["pod"] == 2
    before = req["t_issue_s"] < t0
    assert on_b[before].any()  # some addresses were sent to node-2
    assert on_b[(req["t_issue_s"] >= t0) & (req["t_issue_s"] < removed)].any()  # unready, still in service: kept
    assert not on_b[req["t_issue_s"] > removed].any()  # reset, reconnected elsewhere
    pool = world.clients[0].route.layer
    b_conns = np.unique(req["connection"][on_b])
    assert pool.reconnects == b_conns.size  # each reset connection reconnected once
    last = req["t_issue_s"] > 25.0
    a_conns = np.unique(req["connection"][before & ~on_b])
    assert np.isin(a_conns, req["connection"][last]).all()  # connections through node-1 survive


@pytest.mark.parametrize("path", ["nodeport-cluster", "lb-ip"])
def test_a_pinned_pod_going_away_makes_the_external_client_reconnect(path: str) -> None:
    config = external_config(4, users(pool=2, source_ips=2, rate=400.0), duration=4.0, **PATHS[path])
    world = world_for(config)
    world.start()
    world.env.run(until=2.0)
    pool = world.clients[0].route.layer
    victim = pool.open[0][0].pod.index
    world.remove_endpoint(victim)
    run_until(world.env, world.drained)
    req = world.recorder.columns()
    assert not (req["pod"][req["t_issue_s"] > 2.0] == victim).any()
    assert len(req["outcome"]) == world.clients[0].generated
    assert pool.reconnects >= 1


@settings(max_examples=25, deadline=None)
@given(
    path=st.sampled_from(sorted(PATHS)),
    mode=st.sampled_from(["keep-alive", "multiplexed"]),
    pool=st.integers(1, 3),
    max_requests=st.sampled_from([None, 1, 5]),
    replicas=st.integers(0, 3),
    rho=st.floats(0.1, 2.5),
    queue_limit=st.integers(0, 10),
    timeout_ms=st.sampled_from([5, 50, 3_600_000]),
    nodes=st.integers(1, 3),
)
def test_every_external_pooled_request_ends_exactly_once(path, mode, pool, max_requests, replicas, rho, queue_limit,  # type: ignore[no-untyped-def]
                                                         timeout_ms, nodes) -> None:
    mean_service = 0.002
    rate = rho * max(replicas, 1) / mean_service
    extra = {} if max_requests is None else {"max_requests": max_requests}
    client = users(mode, pool=pool, source_ips=3, rate=rate, **extra)
    client["timeout"] = f"{timeout_ms}ms"
    config = external_config(replicas, client, nodes=nodes, duration=1.0, **PATHS[path])
    config["workloads"]["default"]["concurrency"] = 1
    config["workloads"]["default"]["queue_limit"] = queue_limit
    config["cluster"]["network"] = {"same_node": "10us", "same_zone": "100us", "cross_zone": "1ms", "internet": "2ms"}
    result = simulate_one(config)
    req = result.requests
    assert len(req["outcome"]) == result.generated  # nothing lost, nothing counted twice
    assert np.all(req["latency_s"] >= 0)
    assert np.all(req["latency_s"] <= timeout_ms / 1000 + 1e-12)
    ok = req["outcome"] == Outcome.OK
    assert np.all(req["pod"][ok] >= 0)
    if replicas == 0:
        assert not ok.any()

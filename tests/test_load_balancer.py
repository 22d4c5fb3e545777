"""The cloud load balancer: Maglev, algorithms, cross-zone, target types, health checks, presets (issue 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from builders import deployment, experiment, service
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim import metrics
from netsim.config import load_experiment
from netsim.errors import ConfigError
from netsim.maglev import build_table, flow_hash, is_prime, pick_maglev, slot_counts
from netsim.model.events import run_until
from netsim.model.request import Outcome
from netsim.model.world import World

Z = 4.5


def assert_share(observed: float, expected: float, n: int) -> None:
    se = math.sqrt(expected * (1 - expected) / n)
    assert abs(observed - expected) <= Z * se, (observed, expected, n)


# -- Maglev (k8s-facts §4, published measurement D) ------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 60), size=st.sampled_from([65537, 16381, 5003]))
def test_maglev_shares_differ_by_at_most_one_slot(n: int, size: int) -> None:
    table = build_table([f"node-{i}" for i in range(n)], size)
    counts = slot_counts(table, n)
    assert counts.sum() == size
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("n", [5, 10, 20, 50])
def test_maglev_removing_one_backend_moves_about_one_nth(n: int) -> None:
    keys = [f"node-{i}" for i in range(n)]
    before = build_table(keys)
    gone = n // 2
    after = build_table(keys[:gone] + keys[gone + 1:])
    names_before = np.array(keys)[before]
    names_after = np.array(keys[:gone] + keys[gone + 1:])[after]
    moved = names_before != names_after
    # every slot of the removed backend moves; the others move only a little (the paper's resilience figure)
    assert moved[names_before == keys[gone]].all()
    assert 1 / n - 1 / before.size <= moved.mean() <= 1.5 / n


def test_maglev_disruption_shrinks_as_the_table_grows() -> None:
    keys = [f"node-{i}" for i in range(50)]

    def extra(size: int) -> float:
        before, after = np.array(keys)[build_table(keys, size)], np.array(keys[1:])[build_table(keys[1:], size)]
        return float(np.mean(before != after) - np.mean(before == keys[0]))

    assert extra(655373) < extra(5003)


def test_flow_hash_keeps_a_connection_on_its_backend_and_spreads_connections() -> None:
    rng = np.random.default_rng(0)
    ips, ports = rng.integers(0, 1 << 32, 20000, dtype=np.uint64), rng.integers(32768, 61000, 20000, dtype=np.uint64)
    table = build_table([f"b{i}" for i in range(7)])
    first = pick_maglev(table, flow_hash(ips, ports, 1, 80))
    assert np.array_equal(first, pick_maglev(table, flow_hash(ips, ports, 1, 80)))
    shares = np.bincount(first, minlength=7) / first.size
    for share in shares:
        assert_share(share, 1 / 7, first.size)


def test_table_size_must_be_prime() -> None:
    assert is_prime(65537) and not is_prime(65536)
    config = lb_experiment("Cluster", provider="gcp")
    config["cluster"]["load_balancer"]["maglev_table_size"] = 65536
    with pytest.raises(ConfigError, match="not prime"):
        load_experiment(config)


# -- the LB in a run --------------------------------------------------------------------------------


def lb_experiment(policy: str, provider: str = "gcp", duration: float = 30, nodes: dict | None = None, **lb) -> dict:
    svc = service(type_="LoadBalancer")
    svc["spec"]["externalTrafficPolicy"] = policy
    manifests = [
        deployment("web", replicas=2, node_name="node-1"),
        deployment("web-b", replicas=1, labels={"app": "web"}, node_name="node-2"),
        svc,
    ]
    config = experiment(nodes=nodes or {"count": 3, "zones": ["zone-a", "zone-b"]}, manifests=manifests, duration=duration,
                        warmup=0, client={"name": "users", "location": "external", "target": "web", "arrival": {"rate": 400}})
    config["cluster"]["load_balancer"] = {"provider": provider, **lb}
    return config


def run_world(config: dict, replication: int = 0, at: float | None = None, unready: int | None = None) -> World:
    spec = load_experiment(config)
    world = World(spec.runs()[replication] if replication < len(spec.runs()) else spec.runs()[0])
    world.start()
    if at is not None:
        def fail():  # type: ignore[no-untyped-def]
            yield world.env.timeout(at)
            world.set_endpoint_ready(unready, False)
        world.env.process(fail())
    run_until(world.env, world.drained)
    return world


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_local_node_losing_its_last_pod_leaves_the_target_list_in_time(seed: int) -> None:
    """GCE Local health check: 3 s interval, 2 failures → gone within 2 × 3 s (+ one interval);
    requests the LB sends there meanwhile are dropped, none after."""
    config = lb_experiment("Local")
    config["run"]["seed"] = seed
    t0 = 10.0
    world = run_world(config, at=t0, unready=2)  # web-b-1 is pod 2, the only pod on node-2
    lb = next(iter(world.load_balancers.values()))
    check = lb.check
    assert (check.interval, check.unhealthy_threshold) == (3.0, 2)
    removals = [(t, target) for t, target, up in lb.changes if not up]
    assert len(removals) == 1 and removals[0][1] == 1  # node-2
    delay = removals[0][0] - t0
    assert (check.unhealthy_threshold - 1) * check.interval <= delay <= check.unhealthy_threshold * check.interval + check.interval
    req = world.recorder.columns()
    dropped = req["outcome"] == Outcome.NO_LOCAL_ENDPOINT
    assert set(req["entry_node"][dropped].tolist()) <= {1}
    t_drop = req["t_issue_s"][dropped]
    assert t_drop.size == 0 or (t_drop.min() >= t0 and t_drop.max() <= removals[0][0])
    assert not (req["t_issue_s"][req["entry_node"] == 1] > removals[0][0]).any()
    # the node without pods (node-3) was never in the list: no request went there
    assert not (req["entry_node"] == 2).any()


def test_cluster_policy_keeps_every_live_node() -> None:
    world = run_world(lb_experiment("Cluster"), at=10.0, unready=2)
    lb = next(iter(world.load_balancers.values()))
    assert lb.check.interval == 8.0  # GCE shared check of kube-proxy's 10256
    assert lb.changes == []
    assert all(lb.in_service)
    req = world.recorder.columns()
    assert (req["outcome"] == Outcome.OK).all()
    assert set(req["entry_node"].tolist()) == {0, 1, 2}


@pytest.mark.parametrize(("provider", "seed"), [("gcp", 1), ("gcp", 2), ("aws-nlb", 1), ("aws-nlb", 2), ("aws-nlb", 3)])
def test_a_failed_node_leaves_after_its_probes_time_out(provider: str, seed: int) -> None:
    """k8s-facts §8.6: a node that stops answering is out after (unhealthy − 1)·interval + U(0, interval) + timeout.

    aws-nlb's 10 s timeout puts the window [30, 40] s after the failure, disjoint from the [20, 30] s an
    immediate verdict would give."""
    t0 = 10.0
    config = lb_experiment("Cluster", provider=provider, duration=60)
    config["run"]["seed"] = seed
    config["churn"] = [{"at": f"{t0}s", "fail": "node/node-3"}]
    world = run_world(config)
    lb = next(iter(world.load_balancers.values()))
    check = lb.check
    removals = [(t, target) for t, target, up in lb.changes if not up]
    assert [target for _, target in removals] == [2]
    delay = removals[0][0] - t0
    low = (check.unhealthy_threshold - 1) * check.interval + check.timeout
    assert low <= delay <= low + check.interval, (delay, check)


@pytest.mark.parametrize("algorithm", ["round-robin", "flow-hash", "maglev"])
@pytest.mark.parametrize("cross_zone", [True, False])
def test_algorithms_spread_over_targets_and_cross_zone(algorithm: str, cross_zone: bool) -> None:
    """Zone front ends get half the connections each; without cross-zone a front end keeps to its
    zone (zone-a holds node-1 and node-3, zone-b node-2), with it every node gets a third."""
    config = lb_experiment("Cluster", duration=10, algorithm=algorithm, cross_zone=cross_zone)
    config["clients"][0]["source_ips"] = 1000
    world = run_world(config)
    req = world.recorder.columns()
    n = req["entry_node"].size
    expected = [1 / 3] * 3 if cross_zone else [1 / 4, 1 / 2, 1 / 4]
    shares = np.bincount(req["entry_node"], minlength=3) / n
    for share, p in zip(shares, expected, strict=True):
        assert_share(share, p, n)


def test_ip_targets_skip_kube_proxy() -> None:
    config = lb_experiment("Cluster", duration=10, target_type="ip")
    result_rows = metrics.run_rows(_simulate(config))
    row = result_rows[0]
    assert row["cross_node_fraction"] == 0.0  # the pod's node is where it entered
    assert row["errors"] == 0


def _simulate(config: dict):  # type: ignore[no-untyped-def]
    from netsim.engine import simulate
    return simulate(load_experiment(config).runs()[0])


# -- presets --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "algorithm", "cross_zone", "cluster", "local"), [
    ("aws-nlb", "flow-hash", False, (10, 10, 3, 3), (10, 10, 3, 3)),
    ("aws-clb", "round-robin", False, (10, 5, 2, 6), (10, 5, 2, 6)),
    ("gcp", "maglev", True, (8, 1, 1, 3), (3, 1, 1, 2)),
])
def test_presets_carry_the_documented_defaults_into_the_manifest(provider, algorithm, cross_zone, cluster, local) -> None:  # type: ignore[no-untyped-def]
    spec = load_experiment(lb_experiment("Local", provider=provider))
    chosen = spec.scenarios[0].config["cluster"]["load_balancer"]
    assert (chosen["provider"], chosen["algorithm"], chosen["cross_zone"]) == (provider, algorithm, cross_zone)
    for key, values in (("cluster_health_check", cluster), ("local_health_check", local)):
        hc = chosen[key]
        assert (hc["interval"], hc["timeout"], hc["healthy_threshold"], hc["unhealthy_threshold"]) == values


def test_preset_fields_are_overridable() -> None:
    config = lb_experiment("Local", provider="aws-nlb", algorithm="maglev", cross_zone=True,
                           health_check={"interval": "5s", "timeout": "2s", "unhealthy_threshold": 2})
    chosen = load_experiment(config).scenarios[0].config["cluster"]["load_balancer"]
    assert chosen["algorithm"] == "maglev" and chosen["cross_zone"] is True
    assert chosen["local_health_check"] == {"interval": 5.0, "timeout": 2.0, "healthy_threshold": 3, "unhealthy_threshold": 2}


def test_health_check_timeout_longer_than_interval_is_an_error() -> None:
    with pytest.raises(ConfigError, match="longer than the interval"):
        load_experiment(lb_experiment("Local", provider="gcp", health_check={"timeout": "20s"}))

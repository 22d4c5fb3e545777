"""Connections: keep-alive imbalance against balls-into-bins, pool semantics, reconnects, conntrack pinning."""

from __future__ import annotations

import numpy as np
import pytest
from builders import experiment, simulate_one

from netsim import theory
from netsim.config import load_experiment
from netsim.metrics import connections_per_pod
from netsim.model.request import Outcome
from netsim.model.world import World


def _keepalive(pods: int, client_pods: int, seed: int, mode: str = "keep-alive", pool: int = 1, **extra) -> dict:
    config = experiment(replicas=pods, rate=50.0 * client_pods, mean_service=0.0005, duration=2.0, warmup=0.0,
                        nodes={"count": client_pods}, seed=seed)
    config["clients"][0]["connections"] = {"mode": mode, "pool": pool, **extra}
    return config


@pytest.mark.parametrize(("pods", "conns"), [(10, 10), (10, 20), (5, 5)])
def test_keepalive_connections_land_like_balls_into_bins(pods: int, conns: int) -> None:
    """C keep-alive connections (one per client pod, iptables random) on N pods: idle pods N(1-1/N)^C and
    per-pod CV sqrt((N-1)/C), averaged over replications; tolerance 4 standard errors of that average."""
    idle, cv = [], []
    for rep in range(40):
        result = simulate_one(_keepalive(pods, conns, seed=rep))
        req = result.requests
        per_pod = connections_per_pod(req["pod"], req["connection"], len(result.pods))
        assert per_pod.sum() == conns
        idle.append(float((per_pod == 0).sum()))
        cv.append(float(per_pod.std() / per_pod.mean()))
    for values, expected in ((idle, theory.balls_into_bins_idle(pods, conns)), (cv, theory.balls_into_bins_cv(pods, conns))):
        x = np.array(values)
        se = x.std(ddof=1) / np.sqrt(x.size)
        assert abs(x.mean() - expected) <= 4 * se + 1e-9, (x.mean(), expected, se)


def _world(config: dict) -> World:
    return World(load_experiment(config).runs()[0])


def test_keepalive_holds_at_most_one_request_per_connection_and_queues_the_rest() -> None:
    config = _keepalive(3, 2, seed=1, pool=2)
    config["clients"][0]["arrival"]["rate"] = 3000.0  # far more than 2 x 2 connections can carry at once
    world = _world(config)
    world.start()
    world.env.run(until=world.drained)
    pool = world.clients[0].route.layer
    assert pool.most_in_flight == 1
    assert pool.opened == 2 * 2
    assert pool.waiting() == 0  # every waiting request was served in the end
    req = world.recorder.columns()
    assert (req["outcome"] == Outcome.OK).all()


def test_multiplexed_shares_pool_connections_per_client_pod() -> None:
    result = simulate_one(_keepalive(6, 3, seed=2, mode="multiplexed", pool=2))
    assert np.unique(result.requests["connection"]).size == 3 * 2


def test_max_requests_reconnects_with_a_new_endpoint_choice() -> None:
    result = simulate_one(_keepalive(6, 1, seed=3, max_requests=10))
    req = result.requests
    conns = np.unique(req["connection"])
    assert conns.size == int(np.ceil(req["pod"].size / 10))
    per_conn_pods = {c: np.unique(req["pod"][req["connection"] == c]) for c in conns}
    assert all(p.size == 1 for p in per_conn_pods.values())  # conntrack: one endpoint per connection
    assert len({int(p[0]) for p in per_conn_pods.values()}) > 1  # reconnects chose anew


def test_max_lifetime_retires_connections() -> None:
    result = simulate_one(_keepalive(4, 1, seed=4, max_lifetime="0.5s"))
    assert np.unique(result.requests["connection"]).size >= 2.0 / 0.5 - 1


@pytest.mark.parametrize("mode", ["keep-alive", "multiplexed"])
def test_a_pinned_endpoint_going_away_makes_the_client_reconnect(mode: str) -> None:
    config = _keepalive(4, 2, seed=5, mode=mode)
    config["run"]["duration"] = 4.0
    world = _world(config)
    world.start()
    world.env.run(until=2.0)
    pool = world.clients[0].route.layer
    victim = pool.open[0][0].pod.index
    world.remove_endpoint(victim)
    world.env.run(until=world.drained)
    req = world.recorder.columns()
    after = req["t_issue_s"] > 2.0
    assert not (req["pod"][after] == victim).any()
    assert (req["outcome"] == Outcome.OK).all()
    assert pool.reconnects >= 1


def test_per_request_lc_releases_its_counters() -> None:
    config = experiment(replicas=3, rate=500.0, mean_service=0.001, duration=2.0, warmup=0.0)
    config["cluster"]["kube_proxy"] = {"mode": "ipvs", "ipvs_scheduler": "lc"}
    world = _world(config)
    world.start()
    world.env.run(until=world.drained)
    picker = world.proxies[0].picker(0)
    assert picker.active.sum() == 0

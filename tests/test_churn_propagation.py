"""Endpoint propagation per node in the SimPy world: programming latency is never negative and follows the
configured delays; each node has its own view; the same seed gives the same arrivals with or without churn."""

from __future__ import annotations

import numpy as np
import pytest
from builders import churn_experiment, simulate_one
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.metrics import programming_figures
from netsim.model.request import Outcome

KILLS = [{"at": "5s", "kill": "Deployment/web", "count": 1, "how": "delete"},
         {"at": "12s", "kill": "Deployment/web", "count": 2, "how": "crash"}]


def _latency(result) -> np.ndarray:  # type: ignore[no-untyped-def]
    return result.programming["programmed_s"] - result.programming["change_s"]


@pytest.mark.parametrize("watch_s", [0.05, 0.5, 2.0])
def test_latency_is_at_least_the_configured_path_and_never_negative(watch_s: float) -> None:
    control = {"watch_delay": f"{watch_s}s", "endpointslice_processing": "20ms", "min_sync_period": "0s"}
    result = simulate_one(churn_experiment(control_plane=control, churn=KILLS, duration=30.0))
    latency = _latency(result)
    assert latency.size > 0 and np.all(latency >= 0)
    assert np.all(latency >= 0.02 + watch_s - 1e-9)  # processing + watch delay, at least
    assert set(result.programming["node"].tolist()) == {0, 1, 2}  # every node, every change


def test_latency_orders_as_the_delays_do() -> None:
    """Same seed, so the same pod events: a longer watch delay or minSyncPeriod never programs a change sooner."""
    runs = {}
    for name, control in {
        "fast": {"watch_delay": "50ms", "min_sync_period": "0s", "sync_burst": 1},
        "slow-watch": {"watch_delay": "1s", "min_sync_period": "0s", "sync_burst": 1},
        "slow-sync": {"watch_delay": "50ms", "min_sync_period": "5s", "sync_burst": 1},
    }.items():
        runs[name] = simulate_one(churn_experiment(control_plane=control, churn=KILLS, duration=30.0))
    base = runs["fast"].programming
    for name in ("slow-watch", "slow-sync"):
        other = runs[name].programming
        assert np.array_equal(other["change_s"], base["change_s"]) and np.array_equal(other["node"], base["node"])
        assert np.all(_latency(runs[name]) >= _latency(runs["fast"]) - 1e-9), name
    p50 = {name: programming_figures(r, 0)["programming_latency_p50_s"] for name, r in runs.items()}
    assert p50["fast"] < p50["slow-watch"]
    assert _latency(runs["slow-sync"]).mean() > _latency(runs["fast"]).mean()  # some change waited for a token


def test_each_node_has_its_own_view() -> None:
    """A change reaches nodes at different times: in between, their tables differ."""
    from netsim.config import load_experiment
    from netsim.model.world import World

    control = {"watch_delay": {"distribution": "uniform", "low": "0s", "high": "3s"}, "min_sync_period": "0s"}
    spec = load_experiment(churn_experiment(control_plane=control, churn=[{"at": "5s", "kill": "Deployment/web", "how": "crash"}], duration=20.0))
    world = World(spec.runs()[0])
    world.start()
    world.env.run(until=5.0)
    while sum(world.tables[0].ready) == 4:  # up to the crash itself
        world.env.step()
    views = [tuple(world.slices.views[n][0].ready.tolist()) for n in range(3)]
    assert sum(world.tables[0].ready) == 3 and all(sum(v) == 4 for v in views)  # the API knows, no node yet
    seen = []
    while world.env.now < 8.5:
        world.env.step()
        seen.append(len({tuple(world.slices.views[n][0].ready.tolist()) for n in range(3)}))
    assert max(seen) > 1  # some node programmed it before another
    assert all(tuple(world.slices.views[n][0].ready.tolist()) == tuple(world.tables[0].ready.tolist()) for n in range(3))


def test_churn_does_not_change_the_arrival_stream() -> None:
    quiet = simulate_one(churn_experiment(duration=20.0))
    busy = simulate_one(churn_experiment(duration=20.0, churn=[
        {"at": "3s", "rollout": "Deployment/web"}, {"at": "8s", "kill": "Deployment/web", "count": 2},
        {"every": {"distribution": "exponential", "mean": "4s"}, "kill": "Deployment/web", "how": "delete"},
        {"at": "10s", "fail": "node/node-3", "for": "5s"},
    ]))
    assert quiet.generated == busy.generated
    assert np.array_equal(np.sort(quiet.requests["t_issue_s"]), np.sort(busy.requests["t_issue_s"]))
    assert np.any(busy.requests["outcome"] != Outcome.OK)


@settings(max_examples=12, deadline=None)
@given(
    events=st.lists(st.sampled_from([
        {"kill": "Deployment/web", "how": "crash"}, {"kill": "Deployment/web", "how": "hang"},
        {"kill": "Deployment/web", "how": "delete", "count": 2}, {"rollout": "Deployment/web"},
        {"scale": "Deployment/web", "replicas": 1}, {"scale": "Deployment/web", "replicas": 5},
        {"fail": "node/node-2", "for": "2s"}, {"drain": "node/node-1"},
    ]), min_size=1, max_size=4),
    times=st.lists(st.floats(0.0, 4.0), min_size=4, max_size=4),
    retries=st.booleans(),
    connections=st.sampled_from(["per-request", "keep-alive"]),
)
def test_every_request_ends_exactly_once_under_churn(events, times, retries, connections) -> None:  # type: ignore[no-untyped-def]
    churn = [{**e, "at": f"{t:.3f}s"} for e, t in zip(events, times, strict=False)]
    config = churn_experiment(replicas=3, churn=churn, duration=6.0, timeout="500ms", rate=300, grace_s=1,
                              control_plane={"node_monitor_grace_period": "1s", "eviction_timeout": "1s"})
    config["clients"][0]["connections"] = connections
    if retries:
        config["clients"][0]["retries"] = {"attempts": 2, "on": ["refused", "reset", "timeout"], "backoff": "5ms"}
    result = simulate_one(config)
    req = result.requests
    assert len(req["outcome"]) == result.generated
    assert set(np.unique(req["outcome"]).tolist()) <= {int(o) for o in Outcome}
    assert np.all(req["latency_s"] >= 0) and np.all(req["latency_s"] <= 0.5 + 1e-9)
    assert np.all(req["pod"][req["outcome"] == Outcome.OK] >= 0)
    latency = _latency(result)
    assert np.all(latency >= 0)

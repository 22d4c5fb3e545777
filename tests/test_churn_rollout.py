"""Rollouts in the SimPy world: preStop against propagation lag, maxUnavailable, Recreate's outage.

Tolerances come from the configured timings (probe period, startup, watch delay,
minSyncPeriod), never from seeded numbers.
"""

from __future__ import annotations

import math

import numpy as np
from builders import churn_experiment, simulate_one

from netsim.model.request import Outcome

WATCH_MAX_S = 1.0
MIN_SYNC_S = 1.0
LAG = {"watch_delay": {"distribution": "uniform", "low": "200ms", "high": f"{WATCH_MAX_S}s"}, "min_sync_period": f"{MIN_SYNC_S}s"}
# The worst propagation: EndpointSlice processing (10 ms) + watch delay + waiting for a sync token
# (at most minSyncPeriod) + the sync itself (milliseconds).
WORST_PROPAGATION_S = 0.01 + WATCH_MAX_S + MIN_SYNC_S + 0.1


def _outcomes(result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    o = result.requests["outcome"]
    return {Outcome(k).name: int((o == k).sum()) for k in np.unique(o)}


def test_prestop_longer_than_propagation_loses_nothing_and_no_prestop_loses_requests() -> None:
    churn = [{"at": "10s", "rollout": "Deployment/web"}]
    without = simulate_one(churn_experiment(control_plane=LAG, churn=churn))
    with_prestop = simulate_one(churn_experiment(control_plane=LAG, churn=churn, prestop_s=math.ceil(WORST_PROPAGATION_S) + 1))
    assert without.generated == with_prestop.generated  # same seed, same arrivals
    lost = _outcomes(without)
    # nodes that had not heard of the removal kept sending to its address, where nothing answers any more
    assert lost.get("CONNECT_TIMEOUT", 0) > 0, lost
    assert set(_outcomes(with_prestop)) == {"OK"}, _outcomes(with_prestop)
    latency = with_prestop.programming["programmed_s"] - with_prestop.programming["change_s"]
    assert latency.size and latency.max() <= WORST_PROPAGATION_S
    # the rollout completed: every pod that remains serving is of the new template
    created = [e for e in with_prestop.churn_log if e[1] == "pod-created"]
    gone = [e for e in with_prestop.churn_log if e[1] == "pod-gone"]
    assert len(created) == len(gone) == 4


def test_rolling_update_never_goes_below_replicas_minus_max_unavailable() -> None:
    replicas, surge, unavailable = 5, 1, 2
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    config = churn_experiment(replicas=replicas, strategy=strategy, churn=[{"at": "5s", "rollout": "Deployment/web"}], duration=40.0)
    result = simulate_one(config)
    from netsim.metrics import timeline_rows

    rows = timeline_rows(result)
    lowest = min(r["ready_endpoints_min"] for r in rows)
    highest = max(r["ready_endpoints"] for r in rows)
    assert lowest >= replicas - unavailable
    assert lowest < replicas  # the rollout did use its allowance
    assert highest <= replicas + surge
    assert rows[-1]["ready_endpoints"] == replicas
    assert sum(e[1] == "pod-created" for e in result.churn_log) == replicas


def test_recreate_outage_is_termination_plus_start_plus_readiness() -> None:
    startup_s, period_s, t0 = 3.0, 2, 10.0
    config = churn_experiment(strategy={"type": "Recreate"}, startup=f"{startup_s}s", probe={"periodSeconds": period_s},
                              churn=[{"at": f"{t0}s", "rollout": "Deployment/web"}], duration=30.0)
    result = simulate_one(config)
    log = result.ready_endpoints[0]
    times = np.array([t for t, _ in log])
    ready = np.array([n for _, n in log])
    down = times[(ready == 0)].min()
    up = times[(times > down) & (ready > 0)].min()
    last_gone = max(e[0] for e in result.churn_log if e[1] == "pod-gone")
    first_ready = min(e[0] for e in result.churn_log if e[1] == "pod-ready")
    assert down == t0  # every old endpoint turns not-ready when the pods are deleted
    assert last_gone - t0 < 0.5  # no preStop: old pods exit once their in-flight requests finish
    # new pods start when the last old one is gone; ready after startup and the first probe tick
    assert last_gone + startup_s <= first_ready <= last_gone + startup_s + period_s
    assert up == first_ready
    t = result.requests["t_issue_s"]
    inside = (t > down + WORST_PROPAGATION_S) & (t < up)
    assert inside.any() and np.all(result.requests["outcome"][inside] != Outcome.OK)


def test_retries_on_connect_failures_hide_a_rollout_and_are_counted() -> None:
    """Without preStop, stale rules send new connections to pods that stopped listening (refused) or are gone
    (no answer until the connect timeout): both are retried on a new connection, mostly to a live pod."""
    churn = [{"at": "10s", "rollout": "Deployment/web"}]
    plain_config = churn_experiment(control_plane=LAG, churn=churn)
    plain_config["clients"][0]["connect_timeout"] = "200ms"
    plain = simulate_one(plain_config)
    config = churn_experiment(control_plane=LAG, churn=churn)
    config["clients"][0]["connect_timeout"] = "200ms"
    config["clients"][0]["retries"] = {"attempts": 3, "on": ["refused", "reset", "connect_timeout"], "backoff": "10ms"}
    retried = simulate_one(config)
    assert len(retried.requests["outcome"]) == retried.generated == plain.generated
    failed = int(np.sum(plain.requests["outcome"] != Outcome.OK))
    assert failed > 0 and int(np.sum(plain.requests["outcome"] == Outcome.CONNECT_TIMEOUT)) > 0
    assert int(np.sum(retried.requests["outcome"] != Outcome.OK)) < failed
    assert len(retried.retries) >= failed / 2

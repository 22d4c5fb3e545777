"""What a request meets when pods fail: hangs, crashes (CrashLoopBackOff), node failures.

Bounds come from the configured probe, back-off, propagation and node-controller timings.
"""

from __future__ import annotations

import numpy as np
from builders import churn_experiment, simulate_one

from netsim.k8s.lifecycle import BACKOFF_INITIAL_S
from netsim.model.request import Outcome

WATCH_S = 0.3
NO_THROTTLE = {"watch_delay": f"{WATCH_S}s", "min_sync_period": "0s"}
PROPAGATION_S = 0.01 + WATCH_S + 0.1  # processing + watch + a sync


def _drops(result, service: int = 0) -> list[tuple[float, int]]:  # type: ignore[no-untyped-def]
    """``(time, ready endpoints)`` wherever the ready count fell."""
    log = result.ready_endpoints[service]
    return [(t, n) for (t, n), (_, before) in zip(log[1:], log, strict=False) if n < before]


def test_a_hung_pod_leaves_the_endpoints_after_failure_threshold_probes() -> None:
    period, threshold, timeout, t0 = 2, 3, 1, 10.0
    config = churn_experiment(probe={"periodSeconds": period, "failureThreshold": threshold, "timeoutSeconds": timeout},
                              control_plane=NO_THROTTLE, churn=[{"at": f"{t0}s", "kill": "Deployment/web", "how": "hang"}],
                              timeout="2s", duration=30.0)
    result = simulate_one(config)
    (dropped_at, _), = _drops(result)
    # (failureThreshold - 1) periods after the first failing tick, which is within one period of the hang
    assert t0 + (threshold - 1) * period + timeout <= dropped_at <= t0 + threshold * period + timeout
    prog = result.programming
    changed = prog["change_s"] == dropped_at
    assert changed.sum() == 3  # every node programmed it
    assert np.all(prog["programmed_s"][changed] - dropped_at <= PROPAGATION_S)
    outcome, t = result.requests["outcome"], result.requests["t_issue_s"]
    assert np.any(outcome == Outcome.TIMEOUT) and not np.any(outcome == Outcome.REFUSED)
    # once every node has dropped it, nothing is sent to the hung pod any more
    later = t > prog["programmed_s"][changed].max()
    assert not np.any(outcome[later] == Outcome.TIMEOUT)
    assert len(outcome) == result.generated


def test_a_crash_resets_in_flight_requests_and_restarts_after_backoff() -> None:
    startup_s, period, t0 = 1.0, 2, 10.0
    config = churn_experiment(replicas=2, probe={"periodSeconds": period}, startup=f"{startup_s}s", control_plane=NO_THROTTLE,
                              churn=[{"at": f"{t0}s", "kill": "Deployment/web", "how": "crash"}],
                              mean_service=0.05, concurrency=2, rate=60, duration=30.0)
    result = simulate_one(config)
    log = result.ready_endpoints[0]
    (dropped_at, _), = _drops(result)
    assert dropped_at == t0  # the kubelet sees the process exit: not ready at once
    back = min(t for t, n in log if t > t0 and n == 2)
    assert t0 + BACKOFF_INITIAL_S + startup_s <= back <= t0 + BACKOFF_INITIAL_S + startup_s + period
    outcome = result.requests["outcome"]
    assert np.any(outcome == Outcome.RESET)
    assert not any(e[1] == "pod-created" for e in result.churn_log)  # restarted in place, not replaced
    assert len(outcome) == result.generated


def test_a_failed_node_times_out_until_not_ready_then_pods_are_replaced() -> None:
    grace, eviction, t0 = 8.0, 5.0, 5.0
    control = {**NO_THROTTLE, "node_monitor_grace_period": f"{grace}s", "eviction_timeout": f"{eviction}s"}
    config = churn_experiment(replicas=6, control_plane=control, churn=[{"at": f"{t0}s", "fail": "node/node-2"}],
                              timeout="1s", duration=30.0)
    result = simulate_one(config)
    outcome, t = result.requests["outcome"], result.requests["t_issue_s"]
    assert np.any(outcome == Outcome.TIMEOUT)
    assert not np.any(outcome[t < t0 - 0.5] != Outcome.OK)  # (a request in flight at t0 on node-2 may time out)
    # node-2's client pod cannot send from t0 on: exactly its requests are lost at the source
    lost = outcome == Outcome.CLIENT_DOWN
    assert not np.any(lost[t < t0]) and set(result.requests["entry_node"][lost].tolist()) == {1}
    assert np.all(lost[(t > t0) & (result.requests["entry_node"] == 1)])
    later = (t > t0 + grace + PROPAGATION_S) & ~lost
    assert not np.any(outcome[later] != Outcome.OK)  # endpoints gone from every live node
    created = [e[0] for e in result.churn_log if e[1] == "pod-created"]
    assert len(created) == 2 and all(abs(c - (t0 + grace + eviction)) < 1e-9 for c in created)
    assert not any("node-2" in e[3] for e in result.churn_log if e[1] == "pod-created")
    assert len(result.pods) == 8  # pods that ever existed stay in the result
    assert len(outcome) == result.generated


def test_drain_moves_pods_off_the_node_gracefully() -> None:
    config = churn_experiment(replicas=3, prestop_s=3, control_plane=NO_THROTTLE, churn=[{"at": "5s", "drain": "node/node-1"}])
    result = simulate_one(config)
    assert np.all(result.requests["outcome"] == Outcome.OK)
    created = [e for e in result.churn_log if e[1] == "pod-created"]
    assert created and all("node-1" not in e[3] for e in created)

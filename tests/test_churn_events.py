"""The churn:, retries and lifecycle config sketches: every documented event shape parses, bad ones fail clearly."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from netsim.config.churn_events import (
    ChurnList,
    ControlPlaneConfig,
    FailNodeEvent,
    KillEvent,
    RetryConfig,
    event_action,
    event_target,
)
from netsim.config.schema import WorkloadConfig

CHURN = TypeAdapter(ChurnList)


def test_issue_examples_parse():
    events = CHURN.validate_python([
        {"at": "60s", "rollout": "Deployment/web"},
        {"at": "90s", "scale": "Deployment/web", "replicas": 10},
        {"at": "30s", "kill": "Deployment/web", "count": 2},
        {"every": {"distribution": "exponential", "mean": "120s"}, "kill": "Deployment/web"},
        {"at": "100s", "fail": "node/node-2", "for": "60s"},
        {"at": "100s", "drain": "node/node-3"},
        {"at": "30s", "apply": "Service/web"},
        {"at": "30s", "delete": "Service/web"},
    ])
    assert [event_action(e) for e in events] == ["rollout", "scale", "kill", "kill", "fail", "drain", "apply", "delete"]
    assert events[1].replicas == 10 and events[2].count == 2 and events[0].at == 60
    assert isinstance(events[3], KillEvent) and events[3].every.mean == 120 and events[3].how == "crash"
    assert isinstance(events[4], FailNodeEvent) and events[4].for_ == 60
    assert event_target(events[4]) == "node/node-2"


@pytest.mark.parametrize(
    ("event", "words"),
    [
        ({"at": "1s"}, "exactly one action"),
        ({"at": "1s", "kill": "Deployment/a", "drain": "node/n"}, "exactly one action"),
        ({"rollout": "Deployment/web"}, "exactly one of 'at'"),
        ({"at": "1s", "every": "5s", "kill": "Deployment/web"}, "exactly one of 'at'"),
        ({"every": "10s", "rollout": "Deployment/web"}, "only for kill and fail"),
        ({"at": "1s", "rollout": "web"}, "Deployment/<name>"),
        ({"at": "1s", "fail": "node-2"}, "node/<name>"),
        ({"at": "1s", "apply": "ConfigMap/x"}, "Service/<name>"),
        ({"at": "1s", "scale": "Deployment/web"}, "replicas"),
        ({"at": "-1s", "rollout": "Deployment/web"}, "negative"),
        ({"at": "1s", "kill": "Deployment/web", "how": "explode"}, "how"),
    ],
)
def test_bad_events(event, words):
    with pytest.raises(ValidationError) as err:
        CHURN.validate_python([event])
    assert words in str(err.value)


def test_retry_defaults_and_validation():
    r = RetryConfig()
    assert r.attempts == 2 and r.on == ["refused", "reset", "connect_timeout"] and r.backoff.mean == pytest.approx(0.025)
    assert RetryConfig(attempts=3, on=["timeout"], backoff={"distribution": "exponential", "mean": "50ms"}).on == ["timeout"]
    with pytest.raises(ValidationError):
        RetryConfig(on=["refused", "refused"])
    with pytest.raises(ValidationError):
        RetryConfig(on=["dropped"])


def test_lifecycle_and_control_plane_defaults():
    lc = WorkloadConfig(startup="3s", prestop={"distribution": "uniform", "low": "1s", "high": "2s"})
    assert lc.startup.mean == 3 and lc.prestop.mean == 1.5
    cp = ControlPlaneConfig()
    # kube-proxy's current runner: minSyncPeriod 1 s, no burst, a periodic full sync every FullSyncPeriod (1 h)
    assert (cp.endpointslice_batch_period, cp.min_sync_period, cp.sync_period, cp.sync_burst) == (0.0, 1.0, 3600.0, 1)
    assert cp.eviction_timeout == 300

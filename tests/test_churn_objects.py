"""Timed ``apply``/``delete`` of Deployments, HPAs and Services listed under ``deferred:`` (or present from the start).

Bounds come from the configured startup, readiness probe, preStop, propagation and HPA sync timings.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import churn_experiment, deployment, simulate_one

from netsim.config import load_experiment
from netsim.errors import ConfigError
from netsim.k8s.hpa import SYNC_PERIOD_S
from netsim.model.request import Outcome

WATCH_S, STARTUP_S, PERIOD_S, T0 = 0.2, 1.0, 2, 10.0
CONTROL = {"watch_delay": f"{WATCH_S}s", "min_sync_period": "0s"}
PROPAGATION_S = 0.01 + WATCH_S + 0.1  # processing + watch + a sync


def _deferred_web(churn: list, replicas: int = 3) -> dict:
    """Service/web exists from the start; Deployment/web (its only backend) is held back under ``deferred:``."""
    config = churn_experiment(replicas=replicas, probe={"periodSeconds": PERIOD_S}, startup=f"{STARTUP_S}s",
                              control_plane=CONTROL, churn=churn, rate=200, duration=30.0, prestop_s=3)
    config["deferred"] = [config["manifests"].pop(0)]
    return config


def _ready(result, t: float) -> int:  # type: ignore[no-untyped-def]
    """Ready endpoints of Service 0 in the API at time ``t``."""
    return [n for when, n in result.ready_endpoints[0] if when <= t][-1]


def test_applying_a_deployment_starts_its_pods_and_the_service_picks_them_up() -> None:
    result = simulate_one(_deferred_web([{"at": f"{T0}s", "apply": "Deployment/web"}]))
    created = [t for t, action, _, _ in result.churn_log if action == "pod-created"]
    assert created == [T0] * 3
    ready_at = [t for t, action, _, _ in result.churn_log if action == "pod-ready"]
    assert len(ready_at) == 3 and all(T0 + STARTUP_S <= t <= T0 + STARTUP_S + PERIOD_S for t in ready_at)
    assert _ready(result, T0 + STARTUP_S - 1e-9) == 0 and _ready(result, max(ready_at)) == 3
    req = result.requests
    before = req["t_issue_s"] < T0 + STARTUP_S
    after = req["t_issue_s"] > max(ready_at) + PROPAGATION_S
    assert before.any() and (req["outcome"][before] == Outcome.REFUSED).all()
    assert after.any() and (req["outcome"][after] == Outcome.OK).all()
    assert set(req["pod"][after].tolist()) == {0, 1, 2}
    assert len(req["outcome"]) == result.generated


def test_deleting_a_deployment_drains_its_pods_and_stops_its_controller() -> None:
    t_delete, prestop_s = 20.0, 3.0
    result = simulate_one(_deferred_web([{"at": f"{T0}s", "apply": "Deployment/web"},
                                         {"at": f"{t_delete}s", "delete": "Deployment/web"}]))
    log = result.churn_log
    deleted = [t for t, action, _, _ in log if action == "pod-deleted"]
    gone = [t for t, action, _, _ in log if action == "pod-gone"]
    assert deleted == [t_delete] * 3
    assert len(gone) == 3 and all(t_delete + prestop_s <= t <= t_delete + prestop_s + 1.0 for t in gone)  # preStop, then a quick drain
    assert not [t for t, action, _, _ in log if action == "pod-created" and t > T0]  # nothing replaces them
    assert _ready(result, t_delete) == 0
    prog = result.programming
    changed = prog["change_s"] == t_delete
    last = prog["programmed_s"][changed]
    assert set(prog["node"][changed].tolist()) == {0, 1, 2} and np.all(last - t_delete <= PROPAGATION_S)
    req = result.requests
    # the preStop sleep outlasts propagation: nothing sent while a node still routed to a pod fails
    window = (req["t_issue_s"] > T0 + STARTUP_S + PERIOD_S + PROPAGATION_S) & (req["t_issue_s"] < last.min())
    assert window.any() and (req["outcome"][window] == Outcome.OK).all()
    # no endpoint is ready anywhere: kube-proxy uses the serving-terminating pods while their preStop runs
    terminating = (req["t_issue_s"] >= t_delete) & (req["t_issue_s"] < t_delete + prestop_s - 0.1)
    assert terminating.any() and (req["outcome"][terminating] == Outcome.OK).all()
    # once every node has programmed the pods' removal, the Service has no endpoint: REJECT, refused at once
    later = req["t_issue_s"] > max(gone) + PROPAGATION_S
    assert later.any() and (req["outcome"][later] == Outcome.REFUSED).all()


def _hpa(name: str = "web", target: str = "web") -> dict:
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                 "minReplicas": 2, "maxReplicas": 8,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
    }


def test_applying_and_deleting_an_hpa_starts_and_stops_its_syncs() -> None:
    t_apply, t_delete = 12.0, 70.0  # between syncs
    config = churn_experiment(replicas=2, rate=150, duration=120.0, mean_service=0.01, concurrency=1)
    config["manifests"][0]["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "500m"}}
    config["deferred"] = [_hpa()]
    config["churn"] = [{"at": f"{t_apply}s", "apply": "HorizontalPodAutoscaler/web"},
                       {"at": f"{t_delete}s", "delete": "HorizontalPodAutoscaler/web"}]
    result = simulate_one(config)
    from netsim.model.world import World  # the sync log is the World's

    world = World(load_experiment(config).runs()[0])
    world.start()
    world.env.run(until=120.0)
    syncs = [t for t, *_ in world.hpa_log]
    assert syncs[0] == pytest.approx(t_apply + SYNC_PERIOD_S) and max(syncs) <= t_delete
    assert len(syncs) == int((t_delete - t_apply) // SYNC_PERIOD_S)
    # 150 rps x 10 ms on 2 pods of 0.5 cores: 150 % CPU, so the HPA scales up while it exists
    scales = [t for t, action, _, _ in result.churn_log if action == "hpa-scale"]
    assert scales and all(t_apply < t <= t_delete for t in scales)


def test_deleting_a_service_removes_its_endpoints_everywhere_and_its_dns_name() -> None:
    t_delete, ttl = 10.0, 2.0
    config = churn_experiment(replicas=2, control_plane=CONTROL, duration=25.0, rate=200,
                              churn=[{"at": f"{t_delete}s", "delete": "Service/web"},
                                     {"at": "15s", "scale": "Deployment/web", "replicas": 4}])
    config["cluster"]["dns"] = {"latency": "1ms", "cache_ttl": f"{ttl}s"}
    config["clients"].append({"name": "env", "target": "web", "discovery": "env", "arrival": {"rate": 200}, "timeout": "3s"})
    result = simulate_one(config)
    assert _ready(result, t_delete) == 0 and _ready(result, 25.0) == 0  # the pods created at 15 s never join
    prog = result.programming
    changed = prog["change_s"] == t_delete
    last = prog["programmed_s"][changed]
    assert set(prog["node"][changed].tolist()) == {0, 1, 2} and np.all(last - t_delete <= PROPAGATION_S)
    req = result.requests
    t, outcome, client = req["t_issue_s"], req["outcome"], req["client"]
    assert (outcome[t < t_delete] == Outcome.OK).all()
    settled = t > last.max()
    assert (outcome[settled & (client == 1)] == Outcome.REFUSED).all()  # env vars keep the old address
    assert (outcome[(t > t_delete + ttl + 0.1) & (client == 0)] == Outcome.DISCOVERY).all()  # NXDOMAIN
    assert (outcome[settled & (client == 0)] != Outcome.OK).all()


@pytest.mark.parametrize(("churn", "deferred", "path", "message"), [
    ([{"at": "5s", "delete": "Deployment/api"}], [deployment("api")], "churn.0.delete", "applied only at inf"),
    ([{"at": "5s", "apply": "Deployment/api"}, {"at": "3s", "delete": "Deployment/api"}], [deployment("api")],
     "churn.1.delete", "apply it first"),
    ([{"at": "5s", "delete": "Deployment/wbe"}], [], "churn.0.delete", "did you mean 'Deployment/web'"),
    ([{"at": "5s", "apply": "HorizontalPodAutoscaler/web"}], [], "churn.0.apply", "deferred"),
    ([], [deployment("web")], "deferred.Deployment/web", "also under manifests"),
    ([{"at": "5s", "apply": "HorizontalPodAutoscaler/web"}], [_hpa(target="wbe")],
     "deferred.HorizontalPodAutoscaler/web.spec.scaleTargetRef", "did you mean 'web'"),
])
def test_deferred_objects_are_checked_at_load(churn: list, deferred: list, path: str, message: str) -> None:
    config = churn_experiment(churn=churn)
    config["deferred"] = deferred
    with pytest.raises(ConfigError, match=message) as info:
        load_experiment(config)
    assert info.value.path == path

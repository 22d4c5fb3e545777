"""The HorizontalPodAutoscaler in the SimPy world: up under a load step, down after the stabilisation window."""

from __future__ import annotations

import pytest
from builders import churn_experiment, simulate_one

from netsim.errors import ConfigError
from netsim.k8s.hpa import SYNC_PERIOD_S

STEP_UP, STEP_DOWN, WINDOW = 30.0, 90.0, 30


def _config(window: int = WINDOW) -> dict:
    config = churn_experiment(replicas=2, rate=40, duration=170.0, mean_service=0.01, concurrency=1, startup="2s")
    container = config["manifests"][0]["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {"requests": {"cpu": "500m"}}
    config["manifests"].append({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 2, "maxReplicas": 10,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": window}}},
    })
    # 40 rps x 10 ms on 2 pods of 0.5 cores: 40 % CPU (below the 50 % target); x3 at the step: 120 %, then back
    config["clients"][0]["arrival"]["steps"] = [{"at": f"{STEP_UP}s", "rate": 120}, {"at": f"{STEP_DOWN}s", "rate": 30}]
    return config


def test_hpa_scales_up_under_a_load_step_and_down_after_the_window() -> None:
    result = simulate_one(_config())
    scales = [(t, detail) for t, action, _, detail in result.churn_log if action == "hpa-scale"]
    ups = [(t, d) for t, d in scales if int(d.split()[2]) > int(d.split()[0])]
    downs = [(t, d) for t, d in scales if int(d.split()[2]) < int(d.split()[0])]
    assert ups and downs, scales
    # the first sync that sees a whole period of the new load acts
    assert STEP_UP < ups[0][0] <= STEP_UP + 2 * SYNC_PERIOD_S
    assert all(t % SYNC_PERIOD_S == 0 for t, _ in scales)
    # not before the window has passed since the last high proposal, not much later either
    assert STEP_DOWN + WINDOW <= downs[0][0] <= STEP_DOWN + WINDOW + 2 * SYNC_PERIOD_S
    created = sum(1 for e in result.churn_log if e[1] == "pod-created")
    assert created == int(ups[0][1].split()[2]) - 2 + sum(int(d.split()[2]) - int(d.split()[0]) for _, d in ups[1:])
    assert len(result.requests["outcome"]) == result.generated


def test_a_longer_window_scales_down_later() -> None:
    short = simulate_one(_config(WINDOW))
    long = simulate_one(_config(WINDOW + 30))
    first_down = {}
    for name, result in (("short", short), ("long", long)):
        first_down[name] = min(t for t, a, _, d in result.churn_log if a == "hpa-scale" and int(d.split()[2]) < int(d.split()[0]))
    assert first_down["long"] - first_down["short"] >= 30 - SYNC_PERIOD_S


def test_hpa_must_target_a_deployment_of_the_experiment() -> None:
    from netsim.config import load_experiment

    config = _config()
    config["manifests"][-1]["spec"]["scaleTargetRef"]["name"] = "wbe"
    with pytest.raises(ConfigError) as info:
        load_experiment(config)
    assert "scaleTargetRef" in info.value.path and "web" in info.value.message


def test_churn_names_must_exist() -> None:
    from netsim.config import load_experiment

    for event, path in (({"at": "1s", "kill": "Deployment/wbe"}, "churn.0.kill"), ({"at": "1s", "fail": "node/node-9"}, "churn.0.fail")):
        config = churn_experiment(churn=[event])
        with pytest.raises(ConfigError) as info:
            load_experiment(config)
        assert info.value.path == path
        assert info.value.message.startswith("no ")

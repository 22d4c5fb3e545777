"""Pod template lifecycle fields and Deployment strategy, read from verbatim manifests.

Expectations are Kubernetes' documented defaults (k8s-facts §2; apps/v1 and core/v1
API reference): probe 0/10/1/1/3, terminationGracePeriodSeconds 30, RollingUpdate
with maxSurge/maxUnavailable 25 %, minReadySeconds 0; CPU quantities in cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from netsim.errors import ConfigError
from netsim.k8s.manifests import read_deployment, read_objects
from netsim.k8s.pod_template import IntOrPercent, StrategyType, parse_cpu

REAL = Path(__file__).resolve().parents[1] / "experiments" / "manifests" / "online-boutique.yaml"


def deployment(container: dict[str, Any] | None = None, pod: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    c = {"name": "web", "image": "app", "ports": [{"containerPort": 8080}], **(container or {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [c], **(pod or {})}},
            **spec,
        },
    }


def test_defaults_when_absent():
    d = read_deployment(deployment())
    assert d.template.termination_grace_period_s == 30
    assert d.template.readiness_probes == ()
    assert d.template.pre_stop_hooks == ()
    assert d.template.cpu_request_cores is None
    assert d.strategy.type is StrategyType.ROLLING_UPDATE
    assert d.strategy.max_surge == IntOrPercent(25, percent=True)
    assert d.strategy.max_unavailable == IntOrPercent(25, percent=True)
    assert d.min_ready_seconds == 0


def test_probe_defaults_fill_missing_fields():
    d = read_deployment(deployment({"readinessProbe": {"httpGet": {"path": "/", "port": 8080}}}))
    (probe,) = d.template.readiness_probes
    assert (probe.handler, probe.initial_delay_s, probe.period_s, probe.timeout_s) == ("httpGet", 0, 10, 1)
    assert (probe.success_threshold, probe.failure_threshold) == (1, 3)


def test_probe_fields_given_are_kept():
    raw = {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 5, "periodSeconds": 2, "timeoutSeconds": 3,
           "successThreshold": 2, "failureThreshold": 4}
    (probe,) = read_deployment(deployment({"readinessProbe": raw})).template.readiness_probes
    assert (probe.handler, probe.initial_delay_s, probe.period_s, probe.timeout_s) == ("tcpSocket", 5, 2, 3)
    assert (probe.success_threshold, probe.failure_threshold) == (2, 4)


@pytest.mark.parametrize(
    ("probe", "field"),
    [
        ({"periodSeconds": 5}, "readinessProbe"),  # no handler
        ({"exec": {"command": ["true"]}, "httpGet": {"port": 1}}, "readinessProbe"),  # two handlers
        ({"exec": {"command": ["true"]}, "periodSeconds": 0}, "readinessProbe.periodSeconds"),
        ({"exec": {"command": ["true"]}, "failureThreshold": 0}, "readinessProbe.failureThreshold"),
        ({"exec": {"command": ["true"]}, "initialDelaySeconds": -1}, "readinessProbe.initialDelaySeconds"),
    ],
)
def test_bad_probe_names_the_field(probe, field):
    with pytest.raises(ConfigError) as err:
        read_deployment(deployment({"readinessProbe": probe}))
    assert err.value.path == f"Deployment/web.spec.template.spec.containers.0.{field}"


def test_prestop_sleep_and_exec():
    sleep = read_deployment(deployment({"lifecycle": {"preStop": {"sleep": {"seconds": 15}}}})).template.pre_stop_hooks
    assert sleep[0].sleep_s == 15 and not sleep[0].duration_from_workload
    exec_ = read_deployment(deployment({"lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}}})).template.pre_stop_hooks
    assert exec_[0].handler == "exec" and exec_[0].duration_from_workload


def test_prestop_sleep_needs_seconds():
    with pytest.raises(ConfigError, match=r"sleep\.seconds"):
        read_deployment(deployment({"lifecycle": {"preStop": {"sleep": {}}}}))


def test_grace_period_and_min_ready():
    d = read_deployment(deployment(pod={"terminationGracePeriodSeconds": 60}, minReadySeconds=5))
    assert d.template.termination_grace_period_s == 60
    assert d.min_ready_seconds == 5


@pytest.mark.parametrize(("text", "cores"), [("100m", 0.1), ("0.5", 0.5), (2, 2.0), ("1500m", 1.5), ("1", 1.0)])
def test_cpu_quantities(text, cores):
    assert parse_cpu(text, "x") == pytest.approx(cores)


@pytest.mark.parametrize("bad", ["100x", "-1", "one", True])
def test_bad_cpu_quantity(bad):
    with pytest.raises(ConfigError):
        parse_cpu(bad, "x")


def test_pod_cpu_request_sums_containers_and_needs_all():
    d = deployment({"resources": {"requests": {"cpu": "250m"}}})
    d["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "s", "resources": {"requests": {"cpu": "50m"}}})
    assert read_deployment(d).template.cpu_request_cores == pytest.approx(0.3)
    del d["spec"]["template"]["spec"]["containers"][1]["resources"]
    assert read_deployment(d).template.cpu_request_cores is None


def test_strategy_integers_percentages_and_recreate():
    d = read_deployment(deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "0%"}}))
    assert d.strategy.max_surge == IntOrPercent(1) and d.strategy.max_unavailable == IntOrPercent(0, percent=True)
    # Only one of the two given: the other keeps its 25 % default.
    d = read_deployment(deployment(strategy={"rollingUpdate": {"maxSurge": 0}}))
    assert d.strategy.max_unavailable == IntOrPercent(25, percent=True)
    assert read_deployment(deployment(strategy={"type": "Recreate"})).strategy.type is StrategyType.RECREATE


@pytest.mark.parametrize(
    "strategy",
    [
        {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
        {"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": 0}},
        {"rollingUpdate": {"maxUnavailable": "120%"}},
        {"rollingUpdate": {"maxSurge": "1"}},  # a string must be a percentage
        {"rollingUpdate": {"maxSurge": -1}},
        {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}},
        {"type": "BlueGreen"},
    ],
)
def test_invalid_strategies_are_rejected(strategy):
    with pytest.raises(ConfigError, match=r"Deployment/web\.spec\.strategy"):
        read_deployment(deployment(strategy=strategy))


def test_real_online_boutique_probes():
    docs = [d for d in yaml.safe_load_all(REAL.read_text()) if d]
    objects = read_objects(docs)
    by_name = {d.name: d for d in objects.deployments}
    # frontend: initialDelaySeconds 10, httpGet, other fields default
    (probe,) = by_name["frontend"].template.readiness_probes
    assert (probe.handler, probe.initial_delay_s, probe.period_s, probe.failure_threshold) == ("httpGet", 10, 10, 3)
    # every container in that file that has a readinessProbe is read
    raw_probes = sum(
        1 for d in docs if d.get("kind") == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"] if "readinessProbe" in c
    )
    assert sum(len(d.template.readiness_probes) for d in objects.deployments) == raw_probes

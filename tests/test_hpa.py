"""The HorizontalPodAutoscaler: manifests with their defaults, and the scaling algorithm.

Expectations follow the HPA documentation's algorithm (desired = ceil(current ×
utilisation / target), 10 % tolerance, min/max, 300 s scale-down stabilisation,
default scale-up limit max(+4 pods, +100 %) per 15 s) and the autoscaling/v2 API
reference defaults; numbers are worked by hand from those rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from netsim.errors import ConfigError
from netsim.k8s.autoscaling import HorizontalPodAutoscaler, PolicyType, ScalingPolicy, ScalingRules, SelectPolicy, read_hpa
from netsim.k8s.hpa import SYNC_PERIOD_S, HpaController, proposed_replicas
from netsim.k8s.manifests import read_objects


def hpa_doc(**spec: Any) -> dict[str, Any]:
    base = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 10}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"}, "spec": {**base, **spec}}


CPU_60 = [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]


# --- manifests ----------------------------------------------------------------------------------


def test_manifest_defaults():
    h = read_hpa(hpa_doc())
    assert (h.target, h.min_replicas, h.max_replicas, h.target_cpu_utilization) == ("Deployment/web", 1, 10, 80)
    assert h.scale_down.stabilization_window_s == 300
    assert h.scale_up.stabilization_window_s == 0
    assert set(h.scale_up.policies) == {ScalingPolicy(PolicyType.PODS, 4, 15), ScalingPolicy(PolicyType.PERCENT, 100, 15)}
    assert h.scale_up.select_policy is SelectPolicy.MAX


def test_manifest_metric_and_behavior():
    h = read_hpa(hpa_doc(minReplicas=2, metrics=CPU_60, behavior={"scaleDown": {"stabilizationWindowSeconds": 60}}))
    assert (h.min_replicas, h.target_cpu_utilization, h.scale_down.stabilization_window_s) == (2, 60, 60)
    assert h.behavior_given and not read_hpa(hpa_doc()).behavior_given
    assert h.scale_down.policies == (ScalingPolicy(PolicyType.PERCENT, 100, 15),)  # unspecified policies keep defaults


def test_read_objects_models_hpa_instead_of_skipping():
    objects = read_objects([hpa_doc(metrics=CPU_60)])
    assert [a.name for a in objects.autoscalers] == ["web"]
    assert objects.warnings == []


def test_autoscaling_v1():
    doc = hpa_doc(targetCPUUtilizationPercentage=70)
    doc["apiVersion"] = "autoscaling/v1"
    assert read_hpa(doc).target_cpu_utilization == 70


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"maxReplicas": None}, "maxReplicas"),
        ({"minReplicas": 5, "maxReplicas": 3}, "maxReplicas"),
        ({"minReplicas": 0}, "minReplicas"),
        ({"metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
         "metrics.0.resource.name"),
        ({"metrics": [{"type": "Pods", "pods": {}}]}, "metrics.0.type"),
        ({"scaleTargetRef": {"kind": "StatefulSet", "name": "db"}}, "scaleTargetRef.kind"),
        ({"behavior": {"scaleUp": {"selectPolicy": "Fastest"}}}, "behavior.scaleUp.selectPolicy"),
        ({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 4000}}}, "behavior.scaleDown.stabilizationWindowSeconds"),
    ],
)
def test_bad_manifests_name_the_field(spec, field):
    with pytest.raises(ConfigError) as err:
        read_hpa(hpa_doc(**spec))
    assert err.value.path == f"HorizontalPodAutoscaler/web.spec.{field}"


# --- the proposal -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "util", "target", "expected"),
    [
        (4, 100, 50, 8),     # ratio 2 → ceil(8)
        (3, 70, 50, 5),      # ratio 1.4 → ceil(4.2)
        (10, 54, 50, 10),    # ratio 1.08: within the 10 % tolerance
        (10, 46, 50, 10),    # ratio 0.92: within tolerance
        (10, 56, 50, 12),    # ratio 1.12 → ceil(11.2)
        (10, 10, 50, 2),     # ratio 0.2 → 2
        (10, 0, 50, 0),      # no load → 0 (min clamp comes later)
    ],
)
def test_proposal(current, util, target, expected):
    assert proposed_replicas(current, current, util, target) == expected


def test_unready_pods_count_as_idle_when_scaling_up():
    # 5 of 10 Ready at 100 % with target 50: counting the 5 unready at 0 % gives ratio 1.0 → no change.
    assert proposed_replicas(10, 5, 100, 50) == 10
    # At 200 %: ratio over all pods is 2.0 → 20.
    assert proposed_replicas(10, 5, 200, 50) == 20


# --- the controller -----------------------------------------------------------------------------


def controller(**kw: Any) -> HpaController:
    return HpaController(HorizontalPodAutoscaler(name="web", namespace="default", target_kind="Deployment",
                                                 target_name="web", target_cpu_utilization=50, **kw))


def test_without_behavior_scale_up_is_limited_to_doubling():
    hpa = controller(max_replicas=100)
    # legacy path: at most max(2 × current, 4) per sync
    assert [hpa.sync(0.0, 1, 5000), hpa.sync(15.0, 4, 5000), hpa.sync(30.0, 8, 5000)] == [4, 8, 16]


def test_scale_up_is_rate_limited_by_default_policies():
    hpa = controller(max_replicas=100, behavior_given=True)
    # 2 pods at 2500 %: proposal 100; limit max(2 + 4, 2 × 2) = 6 per 15 s.
    assert hpa.sync(0.0, 2, 2500) == 6
    # 15 s later the previous change is out of the period: limit max(6 + 4, 12) = 12.
    assert hpa.sync(15.0, 6, 2500) == 12
    assert hpa.sync(30.0, 12, 2500) == 24


def test_clamped_to_max_and_min():
    hpa = controller(max_replicas=5, min_replicas=2)
    assert hpa.sync(0.0, 4, 100) == 5
    hpa = controller(max_replicas=5, min_replicas=2)
    assert hpa.sync(0.0, 1, 50) == 2  # below min: raised to min whatever the load
    # above max: lowered at once, without waiting for the stabilisation window
    assert controller(max_replicas=5).sync(0.0, 9, 50) == 5


def test_scale_down_waits_for_the_stabilisation_window():
    hpa = controller(max_replicas=20)
    replicas = 10
    history = {}
    t = 0.0
    while t <= 400:
        replicas = hpa.sync(t, replicas, 5)  # 5 % of a 50 % target: proposal 1
        history[t] = replicas
        t += SYNC_PERIOD_S
    # The first sync remembers the current 10 as a recommendation; nothing lower is allowed
    # until that is more than 300 s old.
    assert all(r == 10 for time, r in history.items() if time < 300)
    assert history[300.0] == 1


def test_a_spike_inside_the_window_delays_scale_down():
    hpa = controller(max_replicas=20)
    replicas = 4
    seen = {}
    for step in range(61):
        t = step * SYNC_PERIOD_S
        util = 100 if step == 20 else 25  # one sync at t=300 proposes ceil(2 × 4) = 8; otherwise half of current
        replicas = hpa.sync(t, replicas, util)
        seen[t] = replicas
    assert seen[285.0] == 4  # the initial 4 is the highest recommendation before
    assert all(seen[t] == 8 for t in seen if 300 <= t < 600)  # 8 stays the highest in the last 300 s
    # At 600 the 8 is out of the window; the highest left is ceil(0.5 × 8) = 4 (proposed at 315..600).
    assert seen[600.0] == 4
    assert seen[885.0] == 4 and seen[900.0] == 2  # the last 4 was proposed at 600


def test_scale_up_stabilisation_takes_the_lowest_recent_proposal():
    rules = ScalingRules(stabilization_window_s=60, policies=(ScalingPolicy(PolicyType.PODS, 100, 15),))
    hpa = controller(max_replicas=100, scale_up=rules, behavior_given=True)
    assert hpa.sync(0.0, 4, 50) == 4  # no change proposed
    assert hpa.sync(15.0, 4, 200) == 4  # proposes 16, but 4 was proposed within 60 s
    assert hpa.sync(45.0, 4, 200) == 4
    assert hpa.sync(60.0, 4, 200) == 16  # the 4s proposed at 0 are no longer *within* the last 60 s


def test_disabled_scale_down_never_lowers():
    rules = ScalingRules(stabilization_window_s=0, policies=(ScalingPolicy(PolicyType.PERCENT, 100, 15),),
                         select_policy=SelectPolicy.DISABLED)
    hpa = controller(max_replicas=10, scale_down=rules, behavior_given=True)
    assert all(hpa.sync(t * 15.0, 8, 1) == 8 for t in range(30))


def test_zero_replicas_disables_autoscaling():
    assert controller(max_replicas=10).sync(0.0, 0, 500) == 0

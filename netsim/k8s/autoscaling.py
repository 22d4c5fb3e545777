"""HorizontalPodAutoscaler manifests (``autoscaling/v2``, and ``v1``), with the API server's defaults.

netsim models the HPA's CPU ``Resource`` metric with a ``Utilization`` target:
utilisation is the pods' CPU use as a percentage of their CPU *request*
(``resources.requests.cpu``, see :mod:`netsim.k8s.pod_template`). Defaults, from
the Kubernetes API reference (HorizontalPodAutoscalerSpec, HPAScalingRules) and
the HPA documentation's "Default Behavior":

- ``minReplicas`` 1; ``maxReplicas`` required;
- ``metrics`` absent → 80 % average CPU utilisation;
- ``behavior.scaleDown``: stabilisation window 300 s, policy Percent 100 per 15 s;
- ``behavior.scaleUp``: no stabilisation (0 s), policies Pods 4 per 15 s and
  Percent 100 per 15 s, ``selectPolicy: Max`` (the larger change wins). The API
  field comment speaks of "per 60 seconds"; the defaulting code and the HPA
  documentation use 15 s.

The API server fills in these policies only when ``spec.behavior`` is present;
without it the controller uses its older built-in limits (``behavior_given``
False; see :mod:`netsim.k8s.hpa`).

The algorithm that uses these lives in :mod:`netsim.k8s.hpa` (k8s-facts §2 churn).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from netsim.errors import ConfigError, one_of
from netsim.k8s.pod_template import read_mapping


class PolicyType(StrEnum):
    PODS = "Pods"
    PERCENT = "Percent"


class SelectPolicy(StrEnum):
    MAX = "Max"
    MIN = "Min"
    DISABLED = "Disabled"


@dataclass(frozen=True)
class ScalingPolicy:
    """At most ``value`` pods (or percent of the pods at the period's start) per ``period_s``."""

    type: PolicyType
    value: int
    period_s: float


@dataclass(frozen=True)
class ScalingRules:
    """``behavior.scaleUp`` or ``behavior.scaleDown``."""

    stabilization_window_s: float
    policies: tuple[ScalingPolicy, ...]
    select_policy: SelectPolicy = SelectPolicy.MAX


def default_scale_up() -> ScalingRules:
    return ScalingRules(
        stabilization_window_s=0.0,
        policies=(ScalingPolicy(PolicyType.PODS, 4, 15.0), ScalingPolicy(PolicyType.PERCENT, 100, 15.0)),
    )


def default_scale_down() -> ScalingRules:
    return ScalingRules(stabilization_window_s=300.0, policies=(ScalingPolicy(PolicyType.PERCENT, 100, 15.0),))


@dataclass(frozen=True)
class HorizontalPodAutoscaler:
    """An HPA scaling ``target`` (``Deployment/<name>``) on average CPU utilisation."""

    name: str
    namespace: str
    target_kind: str
    target_name: str
    max_replicas: int
    min_replicas: int = 1
    target_cpu_utilization: float = 80.0
    scale_up: ScalingRules = field(default_factory=default_scale_up)
    scale_down: ScalingRules = field(default_factory=default_scale_down)
    behavior_given: bool = False
    """False: no ``spec.behavior`` in the manifest, so the controller's legacy limits apply (see netsim.k8s.hpa)."""

    @property
    def target(self) -> str:
        return f"{self.target_kind}/{self.target_name}"


def _int(doc: Mapping[str, Any], key: str, path: str, default: int | None, low: int, high: int | None = None) -> int:
    value = doc.get(key, default)
    if value is None:
        raise ConfigError(f"{path}.{key}", "required")
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{path}.{key}", f"must be an integer {bound}, got {value!r:.40}")
    return value


def _read_rules(raw: Mapping[str, Any], path: str, default: ScalingRules) -> ScalingRules:
    if not raw:
        return default
    window = _int(raw, "stabilizationWindowSeconds", path, int(default.stabilization_window_s), 0, 3600)
    select_name = raw.get("selectPolicy", "Max")
    try:
        select = SelectPolicy(select_name)
    except ValueError:
        raise ConfigError(f"{path}.selectPolicy", f"'{select_name}' is not one of {one_of(p.value for p in SelectPolicy)}") from None
    policies = default.policies
    raw_policies = raw.get("policies")
    if raw_policies is not None:
        if not isinstance(raw_policies, list) or not raw_policies:
            raise ConfigError(f"{path}.policies", "must be a non-empty list of {type, value, periodSeconds}")
        read = []
        for i, p in enumerate(raw_policies):
            ppath = f"{path}.policies.{i}"
            if not isinstance(p, Mapping):
                raise ConfigError(ppath, "must be a mapping {type, value, periodSeconds}")
            try:
                kind = PolicyType(p.get("type"))
            except ValueError:
                raise ConfigError(f"{ppath}.type", f"'{p.get('type')}' is not one of 'Pods', 'Percent'") from None
            read.append(ScalingPolicy(kind, _int(p, "value", ppath, None, 1), float(_int(p, "periodSeconds", ppath, None, 1, 1800))))
        policies = tuple(read)
    return ScalingRules(stabilization_window_s=float(window), policies=policies, select_policy=select)


def _read_metrics(spec: Mapping[str, Any], path: str) -> float:
    metrics = spec.get("metrics")
    if metrics is None:
        return 80.0
    if not isinstance(metrics, list) or len(metrics) != 1:
        raise ConfigError(f"{path}.metrics", "netsim models one metric: [{type: Resource, resource: {name: cpu, target: ...}}]")
    mpath = f"{path}.metrics.0"
    metric = metrics[0]
    if not isinstance(metric, Mapping) or metric.get("type") != "Resource":
        raise ConfigError(f"{mpath}.type", "netsim models only 'Resource' metrics (CPU utilisation)")
    resource = read_mapping(metric, "resource", mpath)
    if resource.get("name") != "cpu":
        raise ConfigError(f"{mpath}.resource.name", f"netsim models only 'cpu', got {resource.get('name')!r}")
    target = read_mapping(resource, "target", f"{mpath}.resource")
    tpath = f"{mpath}.resource.target"
    if target.get("type") != "Utilization":
        raise ConfigError(f"{tpath}.type", "netsim models only 'Utilization' targets (averageUtilization, percent of the request)")
    return float(_int(target, "averageUtilization", tpath, None, 1))


def read_hpa(doc: Mapping[str, Any]) -> HorizontalPodAutoscaler:
    """An HPA from a verbatim ``autoscaling/v2`` (or ``v1``) manifest."""
    meta = doc["metadata"]
    key = f"HorizontalPodAutoscaler/{meta['name']}"
    spec = doc.get("spec")
    path = f"{key}.spec"
    if not isinstance(spec, Mapping):
        raise ConfigError(path, "required: scaleTargetRef, maxReplicas, ...")
    ref = read_mapping(spec, "scaleTargetRef", path)
    if not ref.get("kind") or not ref.get("name"):
        raise ConfigError(f"{path}.scaleTargetRef", "required: {apiVersion: apps/v1, kind: Deployment, name: NAME}")
    if ref["kind"] != "Deployment":
        raise ConfigError(f"{path}.scaleTargetRef.kind", f"netsim scales only Deployments, got '{ref['kind']}'")
    min_replicas = _int(spec, "minReplicas", path, 1, 1)
    max_replicas = _int(spec, "maxReplicas", path, None, 1)
    if max_replicas < min_replicas:
        raise ConfigError(f"{path}.maxReplicas", f"must be at least minReplicas ({min_replicas}), got {max_replicas}")
    if str(doc.get("apiVersion", "autoscaling/v2")) == "autoscaling/v1":
        target = float(_int(spec, "targetCPUUtilizationPercentage", path, 80, 1))
        up, down = default_scale_up(), default_scale_down()
        behavior: Mapping[str, Any] = {}
    else:
        target = _read_metrics(spec, path)
        behavior = read_mapping(spec, "behavior", path)
        up = _read_rules(read_mapping(behavior, "scaleUp", f"{path}.behavior"), f"{path}.behavior.scaleUp", default_scale_up())
        down = _read_rules(read_mapping(behavior, "scaleDown", f"{path}.behavior"), f"{path}.behavior.scaleDown", default_scale_down())
    return HorizontalPodAutoscaler(
        name=str(meta["name"]),
        namespace=str(meta.get("namespace", "default")),
        target_kind=str(ref["kind"]),
        target_name=str(ref["name"]),
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_cpu_utilization=target,
        scale_up=up,
        scale_down=down,
        behavior_given=bool(behavior),
    )

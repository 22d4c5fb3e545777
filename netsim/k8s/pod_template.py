"""What a Deployment's pod template and strategy say about a pod's life, with Kubernetes' defaults.

A pod's timeline (k8s-facts §2) is written in its manifest: the container's
``readinessProbe`` decides when it joins the Service's endpoints, its
``lifecycle.preStop`` hook and the pod's ``terminationGracePeriodSeconds`` decide
how it leaves, ``resources.requests.cpu`` is what the HorizontalPodAutoscaler's
utilisation is relative to, and the Deployment's ``strategy`` and
``minReadySeconds`` decide how a rollout replaces pods. This module reads those
fields into frozen dataclasses, filling in the API server's defaults:

- probe: ``initialDelaySeconds`` 0, ``periodSeconds`` 10, ``timeoutSeconds`` 1,
  ``successThreshold`` 1, ``failureThreshold`` 3 (k8s-facts §2; Kubernetes API
  reference, Probe v1 core);
- ``terminationGracePeriodSeconds`` 30 (k8s-facts §2);
- ``readinessGates``: none. Each gate's ``conditionType`` (e.g. the AWS Load
  Balancer Controller's ``target-health.elbv2.k8s.aws/<name>``) is one more
  condition the pod needs True before it is Ready (:mod:`netsim.model.readiness_gates`
  says who sets it);
- ``strategy``: ``RollingUpdate`` with ``maxSurge`` 25 % and ``maxUnavailable``
  25 % (apps/v1 DeploymentStrategy); ``minReadySeconds`` 0.

Simplified: only what shapes timing is kept. A probe's handler (``httpGet``,
``tcpSocket``, ``grpc``, ``exec``) is kept as a label, since its outcome in the
model comes from the pod's state, not from a real request. A preStop ``sleep``
carries its own duration; an ``exec`` or ``httpGet`` hook takes as long as
``workloads.<d>.prestop`` says (netsim's section, not the manifest's).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from netsim.errors import ConfigError, one_of

PROBE_HANDLERS = ("httpGet", "tcpSocket", "grpc", "exec")
PRESTOP_HANDLERS = ("sleep", "exec", "httpGet", "tcpSocket")
DEFAULT_TERMINATION_GRACE_PERIOD_S = 30.0


@dataclass(frozen=True)
class Probe:
    """A container's ``readinessProbe``; ``handler`` is only a label (httpGet, tcpSocket, grpc, exec)."""

    handler: str = "tcpSocket"
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class PreStopHook:
    """``lifecycle.preStop``: a ``sleep`` of ``sleep_s``, or an exec/httpGet whose duration the workload gives."""

    handler: str
    sleep_s: float | None = None

    @property
    def duration_from_workload(self) -> bool:
        """True when the hook's duration is not in the manifest (exec, httpGet): use ``workloads.<d>.prestop``."""
        return self.sleep_s is None


@dataclass(frozen=True)
class ContainerLifecycle:
    """One container's probe, hook and CPU request (cores; ``None`` when the manifest requests none)."""

    name: str
    readiness_probe: Probe | None = None
    pre_stop: PreStopHook | None = None
    cpu_request_cores: float | None = None


@dataclass(frozen=True)
class PodTemplate:
    """The timing-relevant part of ``spec.template.spec``.

    A pod is Ready when *all* its containers are ready and every readiness gate's
    condition is True; a container without a readinessProbe is ready as soon as it
    runs. On deletion every container's preStop hook runs in parallel, so the
    pod's hook lasts as long as the longest.
    """

    containers: tuple[ContainerLifecycle, ...] = ()
    termination_grace_period_s: float = DEFAULT_TERMINATION_GRACE_PERIOD_S
    readiness_gates: tuple[str, ...] = ()
    """``spec.readinessGates[*].conditionType``, in manifest order."""

    @property
    def readiness_probes(self) -> tuple[Probe, ...]:
        return tuple(c.readiness_probe for c in self.containers if c.readiness_probe is not None)

    @property
    def pre_stop_hooks(self) -> tuple[PreStopHook, ...]:
        return tuple(c.pre_stop for c in self.containers if c.pre_stop is not None)

    @property
    def cpu_request_cores(self) -> float | None:
        """The pod's CPU request: the sum over containers, or ``None`` if any container requests none.

        The HPA computes a Resource metric's utilisation over the pod's containers and
        cannot when one lacks a request (it reports "missing request for cpu").
        """
        if not self.containers or any(c.cpu_request_cores is None for c in self.containers):
            return None
        return sum(c.cpu_request_cores for c in self.containers)  # type: ignore[misc]


@dataclass(frozen=True)
class IntOrPercent:
    """An ``IntOrString`` field such as ``maxSurge``: an absolute count or a percentage of the replicas."""

    value: int
    percent: bool = False

    def scaled(self, total: int, round_up: bool) -> int:
        """The absolute count for ``total`` replicas (Kubernetes' ``GetScaledValueFromIntOrPercent``)."""
        if not self.percent:
            return self.value
        exact = self.value * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


class StrategyType(StrEnum):
    """``spec.strategy.type`` of a Deployment."""

    ROLLING_UPDATE = "RollingUpdate"
    RECREATE = "Recreate"


@dataclass(frozen=True)
class DeploymentStrategy:
    """``spec.strategy``; ``max_surge``/``max_unavailable`` only matter for RollingUpdate."""

    type: StrategyType = StrategyType.ROLLING_UPDATE
    max_surge: IntOrPercent = field(default_factory=lambda: IntOrPercent(25, percent=True))
    max_unavailable: IntOrPercent = field(default_factory=lambda: IntOrPercent(25, percent=True))


# --- reading manifests ---------------------------------------------------------------------------


def read_mapping(doc: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """``doc[key]`` as a mapping (empty when absent); anything else is an error naming ``path.key``."""
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}.{key}", f"expected a mapping, got {value!r:.40}")
    return value


def _int_field(doc: Mapping[str, Any], key: str, path: str, default: int, minimum: int) -> int:
    value = doc.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{path}.{key}", f"must be an integer of at least {minimum}, got {value!r:.40}")
    return value


def read_probe(raw: Any, path: str) -> Probe:
    """A readinessProbe with the API server's defaults (0/10/1/1/3 s and counts)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(path, "a probe must be a mapping with a handler (httpGet, tcpSocket, grpc or exec)")
    handlers = [h for h in PROBE_HANDLERS if h in raw]
    if len(handlers) != 1:
        raise ConfigError(path, f"give exactly one handler of {one_of(PROBE_HANDLERS)}, found {len(handlers)}")
    return Probe(
        handler=handlers[0],
        initial_delay_s=float(_int_field(raw, "initialDelaySeconds", path, 0, 0)),
        period_s=float(_int_field(raw, "periodSeconds", path, 10, 1)),
        timeout_s=float(_int_field(raw, "timeoutSeconds", path, 1, 1)),
        success_threshold=_int_field(raw, "successThreshold", path, 1, 1),
        failure_threshold=_int_field(raw, "failureThreshold", path, 3, 1),
    )


def read_pre_stop(raw: Any, path: str) -> PreStopHook:
    """``lifecycle.preStop``: ``sleep: {seconds: N}`` keeps N; exec/httpGet take their time from the workload."""
    if not isinstance(raw, Mapping):
        raise ConfigError(path, f"a preStop hook must be a mapping with one of {one_of(PRESTOP_HANDLERS)}")
    handlers = [h for h in PRESTOP_HANDLERS if h in raw]
    if len(handlers) != 1:
        raise ConfigError(path, f"give exactly one handler of {one_of(PRESTOP_HANDLERS)}, found {len(handlers)}")
    handler = handlers[0]
    if handler != "sleep":
        return PreStopHook(handler=handler)
    sleep = read_mapping(raw, "sleep", path)
    if "seconds" not in sleep:
        raise ConfigError(f"{path}.sleep.seconds", "required: how long the hook sleeps, in whole seconds")
    return PreStopHook(handler="sleep", sleep_s=float(_int_field(sleep, "seconds", f"{path}.sleep", 0, 0)))


_CPU = re.compile(r"^([0-9]*\.?[0-9]+)(m?)$")


def parse_cpu(value: Any, path: str) -> float:
    """Cores from a CPU quantity: ``100m`` → 0.1, ``"0.5"`` → 0.5, ``2`` → 2.0."""
    if isinstance(value, bool):
        raise ConfigError(path, f"'{value}' is not a CPU quantity: write cores (0.5, 2) or millicores (500m)")
    if isinstance(value, int | float) and value >= 0:
        return float(value)
    match = _CPU.match(str(value).strip())
    if not match:
        raise ConfigError(path, f"'{value}' is not a CPU quantity: write cores (0.5, 2) or millicores (500m)")
    number, milli = match.groups()
    return float(number) / 1000 if milli else float(number)


def read_container_lifecycle(raw: Mapping[str, Any], path: str, index: int) -> ContainerLifecycle:
    """The probe, preStop hook and CPU request of one entry of ``containers``."""
    probe = raw.get("readinessProbe")
    lifecycle = read_mapping(raw, "lifecycle", path)
    pre_stop = lifecycle.get("preStop")
    requests = read_mapping(read_mapping(raw, "resources", path), "requests", f"{path}.resources")
    cpu = requests.get("cpu")
    return ContainerLifecycle(
        name=str(raw.get("name", f"container-{index}")),
        readiness_probe=None if probe is None else read_probe(probe, f"{path}.readinessProbe"),
        pre_stop=None if pre_stop is None else read_pre_stop(pre_stop, f"{path}.lifecycle.preStop"),
        cpu_request_cores=None if cpu is None else parse_cpu(cpu, f"{path}.resources.requests.cpu"),
    )


def read_pod_template(pod_spec: Mapping[str, Any], path: str) -> PodTemplate:
    """The timing-relevant fields of a pod spec (``path`` is that of ``spec.template.spec``)."""
    containers = pod_spec.get("containers") or []
    out = []
    for c, raw in enumerate(containers if isinstance(containers, list) else []):
        if isinstance(raw, Mapping):
            out.append(read_container_lifecycle(raw, f"{path}.containers.{c}", c))
    grace = _int_field(pod_spec, "terminationGracePeriodSeconds", path, int(DEFAULT_TERMINATION_GRACE_PERIOD_S), 0)
    gates = read_readiness_gates(pod_spec.get("readinessGates"), f"{path}.readinessGates")
    return PodTemplate(containers=tuple(out), termination_grace_period_s=float(grace), readiness_gates=gates)


_CONDITION_TYPE = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def read_readiness_gates(raw: Any, path: str) -> tuple[str, ...]:
    """``spec.readinessGates``: a list of ``{conditionType: <qualified name>}``, validated as the API server does."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(path, "must be a list of {conditionType: ...}, e.g. [{conditionType: target-health.elbv2.k8s.aws/web}]")
    gates: list[str] = []
    for i, gate in enumerate(raw):
        condition = gate.get("conditionType") if isinstance(gate, Mapping) else None
        if not isinstance(condition, str) or not _CONDITION_TYPE.match(condition):
            raise ConfigError(f"{path}.{i}.conditionType",
                              f"{condition!r:.60} is not a condition type: give a qualified name such as target-health.elbv2.k8s.aws/web")
        if condition in gates:
            raise ConfigError(f"{path}.{i}.conditionType", f"'{condition}' is listed twice")
        gates.append(condition)
    return tuple(gates)


_PERCENT = re.compile(r"^([0-9]+)%$")


def read_int_or_percent(value: Any, path: str, *, max_percent: int | None = None) -> IntOrPercent:
    """``5`` or ``"25%"``; Kubernetes rejects other strings and negative values."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(path, f"must be 0 or more, got {value}")
        return IntOrPercent(value)
    match = _PERCENT.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise ConfigError(path, f"'{value}' must be a whole number of pods (2) or a percentage of replicas ('25%')")
    percent = int(match.group(1))
    if max_percent is not None and percent > max_percent:
        raise ConfigError(path, f"must not be more than {max_percent}%, got {value}")
    return IntOrPercent(percent, percent=True)


def read_strategy(spec: Mapping[str, Any], path: str) -> DeploymentStrategy:
    """``spec.strategy`` (``path`` is that of ``spec``), validated as the API server validates it."""
    raw = read_mapping(spec, "strategy", path)
    spath = f"{path}.strategy"
    type_name = raw.get("type", "RollingUpdate")
    try:
        kind = StrategyType(type_name)
    except ValueError:
        choices = [t.value for t in StrategyType]
        raise ConfigError(f"{spath}.type", f"unknown strategy '{type_name}'; use one of {one_of(choices)}") from None
    rolling = read_mapping(raw, "rollingUpdate", spath)
    if kind is StrategyType.RECREATE:
        if rolling:
            raise ConfigError(f"{spath}.rollingUpdate", "may not be given when strategy type is 'Recreate'")
        return DeploymentStrategy(type=kind)
    rpath = f"{spath}.rollingUpdate"
    surge = read_int_or_percent(rolling.get("maxSurge", "25%"), f"{rpath}.maxSurge")
    unavailable = read_int_or_percent(rolling.get("maxUnavailable", "25%"), f"{rpath}.maxUnavailable", max_percent=100)
    if surge.value == 0 and unavailable.value == 0:
        raise ConfigError(rpath, "maxSurge and maxUnavailable may not both be 0: the rollout could never make progress")
    return DeploymentStrategy(type=kind, max_surge=surge, max_unavailable=unavailable)


def read_min_ready_seconds(spec: Mapping[str, Any], path: str) -> float:
    """``spec.minReadySeconds``: how long a new pod must stay Ready before it counts as available."""
    return float(_int_field(spec, "minReadySeconds", path, 0, 0))

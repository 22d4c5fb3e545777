"""Config sections for churn, retries and pod lifecycle timing (used by ``schema.py``).

``churn:`` is a list of events, each ``at`` a time or ``every`` a random interval,
with exactly one action:

- ``{at: 60s, rollout: Deployment/web}``: new pod template → the Deployment's strategy replaces all pods;
- ``{at: 90s, scale: Deployment/web, replicas: 10}``;
- ``{at: 30s, kill: Deployment/web, count: 2, how: crash}``: ``crash`` (process exits,
  restarts in place with CrashLoopBackOff), ``hang`` (stops answering; only the
  readiness probe notices), ``delete`` (graceful deletion; the ReplicaSet replaces it);
- ``{every: {distribution: exponential, mean: 120s}, kill: Deployment/web}``: random crashes;
- ``{at: 100s, fail: node/node-2, for: 60s}``: the node goes dark (its pods vanish
  without termination); without ``for`` it stays down;
- ``{at: 100s, drain: node/node-3}``: cordon, then delete its pods gracefully;
- ``{at: 30s, apply: Deployment/api}`` / ``{at: 30s, delete: Service/web}``: Services,
  Deployments and HorizontalPodAutoscalers listed under the top-level ``deferred:``
  (apply), or objects that exist by then (delete); the resolver checks both.

``schema.ExperimentConfig.churn`` is a ``ChurnList`` (the ``apply`` shape is issue 3's).
:class:`RetryConfig` is ``clients[].retries``; ``schema.WorkloadConfig`` carries the
lifecycle timings (``startup``, ``prestop``; defaults :data:`BUILTIN_LIFECYCLE`) beside the
serving ones, so one ``workloads.<d>`` mapping holds both; :class:`ControlPlaneConfig` the
propagation and node-failure knobs (``cluster.control_plane``), with Kubernetes'
defaults where Kubernetes has them (k8s-facts §1.4, §2).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from netsim.config.fields import SECTION_CONFIG, Count, Duration, Latency, PositiveDuration
from netsim.distributions import coerce_distribution

ACTIONS = ("rollout", "scale", "kill", "fail", "drain", "apply", "delete")
APPLYABLE_KINDS = ("Deployment", "Service", "HorizontalPodAutoscaler")


class _Section(BaseModel):
    model_config = SECTION_CONFIG


def _ref(value: Any, kinds: tuple[str, ...], example: str) -> str:
    text = str(value)
    kind, sep, name = text.partition("/")
    if not sep or not name or kind not in kinds:
        raise ValueError(f"'{text}' must be written {' or '.join(k + '/<name>' for k in kinds)}, e.g. {example}")
    return text


def _deployment_ref(value: Any) -> str:
    return _ref(value, ("Deployment",), "Deployment/web")


def _node_ref(value: Any) -> str:
    text = str(value)
    if text.startswith("Node/"):
        text = "node/" + text[len("Node/"):]
    return _ref(text, ("node",), "node/node-2")


def _object_ref(value: Any) -> str:
    return _ref(value, APPLYABLE_KINDS, "Service/web")


DeploymentRef = Annotated[str, BeforeValidator(_deployment_ref)]
NodeRef = Annotated[str, BeforeValidator(_node_ref)]
ObjectRef = Annotated[str, BeforeValidator(_object_ref)]


class _Timed(_Section):
    """When: ``at`` a time, or ``every`` a random interval (first one after one interval)."""

    at: Duration | None = Field(None, description="simulated time of the event (s)")
    every: Latency | None = Field(None, description="interval between repetitions: a duration or a distribution")

    @model_validator(mode="after")
    def _one_time(self) -> _Timed:
        if (self.at is None) == (self.every is None):
            raise ValueError("give exactly one of 'at' (a time) or 'every' (an interval)")
        if self.every is not None and not self.repeatable:
            raise ValueError("'every' is only for kill and fail events; give 'at'")
        if self.every is not None and self.every.is_zero:
            raise ValueError("'every' must be longer than 0")
        return self

    repeatable: ClassVar[bool] = False


class RolloutEvent(_Timed):
    rollout: DeploymentRef = Field(description="Deployment/<name> whose pods are all replaced, per its strategy")


class ScaleEvent(_Timed):
    scale: DeploymentRef
    replicas: Count = Field(ge=0, description="the new spec.replicas")


class KillEvent(_Timed):
    kill: DeploymentRef
    count: Count = Field(1, ge=1, description="how many of its pods, chosen at random among the running ones")
    how: Literal["crash", "hang", "delete"] = Field(
        "crash", description="crash: process exits, restarts in place; hang: stops answering; delete: graceful deletion"
    )
    repeatable: ClassVar[bool] = True


class FailNodeEvent(_Timed):
    fail: NodeRef
    for_: Duration | None = Field(None, alias="for", description="how long the node stays down (default: for good)")
    repeatable: ClassVar[bool] = True


class DrainEvent(_Timed):
    drain: NodeRef


class ApplyEvent(_Timed):
    apply: ObjectRef = Field(description="Kind/name of a manifest under deferred: to create at that time")


class DeleteEvent(_Timed):
    delete: ObjectRef = Field(description="Kind/name of an object to delete at that time")


def _action_of(value: Any) -> str | None:
    if isinstance(value, dict):
        found = [a for a in ACTIONS if a in value]
        return found[0] if len(found) == 1 else None
    return next((a for a in ACTIONS if getattr(value, a, None) is not None), None)


def _one_action(value: Any) -> Any:
    if isinstance(value, dict):
        found = [a for a in ACTIONS if a in value]
        if len(found) != 1:
            what = f"found {', '.join(found)}" if found else "found none"
            raise ValueError(f"each churn event needs exactly one action of {', '.join(ACTIONS)} ({what})")
    return value


ChurnEvent = Annotated[
    Annotated[RolloutEvent, Tag("rollout")]
    | Annotated[ScaleEvent, Tag("scale")]
    | Annotated[KillEvent, Tag("kill")]
    | Annotated[FailNodeEvent, Tag("fail")]
    | Annotated[DrainEvent, Tag("drain")]
    | Annotated[ApplyEvent, Tag("apply")]
    | Annotated[DeleteEvent, Tag("delete")],
    Discriminator(_action_of),
    BeforeValidator(_one_action),
]
"""One entry of ``churn:``."""


def event_action(event: BaseModel) -> str:
    """The action word of a parsed event (``'rollout'``, ``'kill'``, ...), for events.csv."""
    action = _action_of(event)
    assert action is not None
    return action


def event_target(event: BaseModel) -> str:
    """``Kind/name`` or ``node/name`` the event acts on, for events.csv."""
    return str(getattr(event, event_action(event)))


class RetryConfig(_Section):
    """``clients[].retries``: retry a failed request on a new connection (Istio's shape and meaning).

    ``attempts`` counts retries after the first try. Retried requests are
    counted separately; a request's latency runs from its first try.
    """

    attempts: Count = Field(2, ge=0, description="retries after the first try")
    on: list[Literal["refused", "reset", "timeout", "rejected", "upstream", "connect_timeout"]] = Field(
        default_factory=lambda: ["refused", "reset", "connect_timeout"], min_length=1, description="which errors are retried"
    )
    backoff: Latency = Field(
        default_factory=lambda: coerce_distribution("25ms"), validate_default=True, description="wait before each retry"
    )

    @field_validator("on")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("list each error kind once")
        return value


BUILTIN_LIFECYCLE = {"startup": "2s", "prestop": "0s"}
"""netsim's assumptions (not Kubernetes defaults): a 2 s container start, an instant exec/httpGet hook."""


class ControlPlaneConfig(_Section):
    """``cluster.control_plane``: how endpoint changes and node failures travel (k8s-facts §1.4, §2)."""

    endpointslice_batch_period: Duration = Field(0.0, description="--endpointslice-updates-batch-period (default 0)")
    endpointslice_processing: Latency = Field(
        default_factory=lambda: coerce_distribution("10ms"), validate_default=True,
        description="EndpointSlice controller sync time (an assumption)",
    )
    watch_delay: Latency = Field(
        default_factory=lambda: coerce_distribution({"distribution": "exponential", "mean": "100ms"}), validate_default=True,
        description="API server → a node's kube-proxy informer, per node (an assumption)",
    )
    min_sync_period: Duration = Field(1.0, description="kube-proxy minSyncPeriod, --iptables-min-sync-period (default 1s)")
    sync_period: PositiveDuration = Field(3600.0, description="kube-proxy's periodic full sync (FullSyncPeriod, 1 h; older versions 30 s)")
    sync_burst: Count = Field(
        1, ge=1, description="1: current kube-proxy (cooldown after each sync, no burst); 2: the older runner's token bucket"
    )
    node_monitor_grace_period: Duration = Field(
        40.0, description="a silent node is marked NotReady (its pods not-ready) after this (kube-controller-manager)"
    )
    eviction_timeout: Duration = Field(
        300.0, description="NotReady/unreachable toleration: pods on a failed node are deleted and rescheduled after this"
    )


ChurnList = list[ChurnEvent]

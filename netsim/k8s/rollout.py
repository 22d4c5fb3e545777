"""The Deployment controller's decisions during a rollout, as pure functions of pod counts.

Kubernetes (``pkg/controller/deployment``, documented in the Deployment concept
page and the apps/v1 API reference; k8s-facts §2) rolls a Deployment by keeping
two ReplicaSets: the *old* pods (previous template) and the *new* ones.

RollingUpdate, one controller sync (``rolloutRolling``):

1. Fence posts. ``maxSurge`` as a percentage of the desired replicas rounds *up*,
   ``maxUnavailable`` rounds *down*; if both come out 0, maxUnavailable becomes 1
   (``ResolveFenceposts``), so a rollout can always progress. Both given as 0 is
   rejected by validation (:func:`netsim.k8s.pod_template.read_strategy`).
2. Scale up the new ReplicaSet (``reconcileNewReplicaSet``): up to
   ``replicas + maxSurge`` pods in total, never beyond ``replicas`` new ones. If it
   scaled up, the sync ends there.
3. Otherwise scale down old ones (``reconcileOldReplicaSets``): first old pods
   that are not available (they do not count towards availability), then available
   old pods, but only while more than ``replicas − maxUnavailable`` pods are
   available. "Available" means Ready for at least ``minReadySeconds``.

Recreate: scale all old pods down; create the new ones only once no old pod is
left, terminating ones included (so there is an outage of termination + start +
readiness).

A scale event (``replicas`` changed) with no rollout in progress resizes the one
ReplicaSet directly, not limited by surge. Simplified: Kubernetes spreads a scale
event *during* a rollout proportionally over old and new ReplicaSets; here the
rolling step itself absorbs it (it converges to the same end state). Counts here
exclude terminating pods, as ReplicaSet replica counts do.
"""

from __future__ import annotations

from dataclasses import dataclass

from netsim.k8s.pod_template import DeploymentStrategy, IntOrPercent, StrategyType


def resolve_fenceposts(max_surge: IntOrPercent, max_unavailable: IntOrPercent, replicas: int) -> tuple[int, int]:
    """``(surge, unavailable)`` in pods for ``replicas`` desired, rounded as Kubernetes rounds them.

    Raises:
        ValueError: when both are literally 0 (the API server rejects that Deployment).
    """
    if max_surge.value == 0 and max_unavailable.value == 0:
        raise ValueError("maxSurge and maxUnavailable may not both be 0")
    surge = max_surge.scaled(replicas, round_up=True)
    unavailable = max_unavailable.scaled(replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass(frozen=True)
class ReplicaCounts:
    """What the controller sees: desired replicas and, per ReplicaSet, pods (not terminating) and available pods."""

    desired: int
    old_total: int
    old_available: int
    new_total: int
    new_available: int
    old_terminating: int = 0
    """Old pods still shutting down; only Recreate waits for them."""

    def __post_init__(self) -> None:
        if not (0 <= self.old_available <= self.old_total and 0 <= self.new_available <= self.new_total):
            raise ValueError(f"available pods must be between 0 and the total: {self}")
        if self.desired < 0 or self.old_terminating < 0:
            raise ValueError(f"counts must not be negative: {self}")

    @property
    def total(self) -> int:
        return self.old_total + self.new_total

    @property
    def available(self) -> int:
        return self.old_available + self.new_available


@dataclass(frozen=True)
class RolloutStep:
    """One sync's decision. Delete not-available pods before available ones (the ReplicaSet
    controller ranks not-ready pods first for deletion); ``delete_old_unavailable`` of
    ``delete_old`` must be not-available old pods."""

    create_new: int = 0
    delete_new: int = 0
    delete_old: int = 0
    delete_old_unavailable: int = 0

    @property
    def is_noop(self) -> bool:
        return not (self.create_new or self.delete_new or self.delete_old)


def rolling_update_step(counts: ReplicaCounts, max_surge: IntOrPercent, max_unavailable: IntOrPercent) -> RolloutStep:
    """One sync of the Deployment controller under ``strategy: RollingUpdate``.

    Never lets the total exceed ``desired + surge`` through creation, and never
    deletes an available pod when that would leave fewer than
    ``desired − unavailable`` available.
    """
    c = counts
    if c.old_total == 0:  # no rollout in progress: a plain scale of the one ReplicaSet
        if c.new_total < c.desired:
            return RolloutStep(create_new=c.desired - c.new_total)
        if c.new_total > c.desired:
            return RolloutStep(delete_new=c.new_total - c.desired)
        return RolloutStep()
    surge, unavailable = resolve_fenceposts(max_surge, max_unavailable, c.desired)
    # reconcileNewReplicaSet
    if c.new_total > c.desired:
        return RolloutStep(delete_new=c.new_total - c.desired)
    if c.new_total < c.desired:
        room = c.desired + surge - c.total
        scale_up = min(room, c.desired - c.new_total)
        if scale_up > 0:
            return RolloutStep(create_new=scale_up)
    # reconcileOldReplicaSets
    min_available = c.desired - unavailable
    new_unavailable = c.new_total - c.new_available
    max_scaled_down = c.total - min_available - new_unavailable
    if max_scaled_down <= 0:
        return RolloutStep()
    # cleanupUnhealthyReplicas: old pods that are not available cost no availability
    old_unavailable = c.old_total - c.old_available
    cleanup = min(old_unavailable, max_scaled_down)
    # scaleDownOldReplicaSetsForRollingUpdate: available pods above the floor
    scale_down = max(0, min(c.available - min_available, c.old_available))
    return RolloutStep(delete_old=cleanup + scale_down, delete_old_unavailable=cleanup)


def recreate_step(counts: ReplicaCounts) -> RolloutStep:
    """One sync under ``strategy: Recreate``: all old pods go; new ones start when none is left."""
    c = counts
    if c.old_total > 0:
        return RolloutStep(delete_old=c.old_total, delete_old_unavailable=c.old_total - c.old_available)
    if c.old_terminating > 0:
        return RolloutStep()
    if c.new_total < c.desired:
        return RolloutStep(create_new=c.desired - c.new_total)
    if c.new_total > c.desired:
        return RolloutStep(delete_new=c.new_total - c.desired)
    return RolloutStep()


def deployment_step(counts: ReplicaCounts, strategy: DeploymentStrategy) -> RolloutStep:
    """One sync under the Deployment's strategy."""
    if strategy.type is StrategyType.RECREATE:
        return recreate_step(counts)
    return rolling_update_step(counts, strategy.max_surge, strategy.max_unavailable)


def apply_step(counts: ReplicaCounts, step: RolloutStep) -> ReplicaCounts:
    """The counts right after ``step`` (created pods are not yet available; deleted pods start terminating)."""
    old_available_deleted = step.delete_old - step.delete_old_unavailable
    new_unavailable = counts.new_total - counts.new_available
    new_available_deleted = max(0, step.delete_new - new_unavailable)
    return ReplicaCounts(
        desired=counts.desired,
        old_total=counts.old_total - step.delete_old,
        old_available=counts.old_available - old_available_deleted,
        new_total=counts.new_total + step.create_new - step.delete_new,
        new_available=counts.new_available - new_available_deleted,
        old_terminating=counts.old_terminating + step.delete_old,
    )


def reconcile(counts: ReplicaCounts, strategy: DeploymentStrategy, max_syncs: int = 8) -> tuple[RolloutStep, ReplicaCounts]:
    """All the syncs Kubernetes makes at one instant (a scale-up sync requeues at once), merged.

    Returns the combined step and the counts after it. The controller reacts to
    its own ReplicaSet updates within milliseconds, so a simulator calling this on
    every pod event (created, ready, available, gone) sees the same decisions.
    """
    total = RolloutStep()
    for _ in range(max_syncs):
        step = deployment_step(counts, strategy)
        if step.is_noop:
            break
        counts = apply_step(counts, step)
        total = RolloutStep(
            create_new=total.create_new + step.create_new,
            delete_new=total.delete_new + step.delete_new,
            delete_old=total.delete_old + step.delete_old,
            delete_old_unavailable=total.delete_old_unavailable + step.delete_old_unavailable,
        )
    return total, counts


def is_available(ready_since: float | None, now: float, min_ready_seconds: float) -> bool:
    """A pod counts as available once it has been Ready for ``minReadySeconds`` (0: as soon as Ready)."""
    return ready_since is not None and now - ready_since >= min_ready_seconds

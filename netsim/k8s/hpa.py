"""The HorizontalPodAutoscaler's algorithm, fed (time, utilisation) samples.

What the controller does every sync period (``--horizontal-pod-autoscaler-sync-period``,
default 15 s), following the HPA documentation ("Algorithm details") and
``pkg/controller/podautoscaler`` (k8s-facts §2):

1. Out-of-range replicas are corrected first: above ``maxReplicas`` → max, below
   ``minReplicas`` → min; a target at 0 replicas is left alone (autoscaling off).
2. Proposal: ``ratio = currentUtilization / targetUtilization``. Within the
   tolerance (``|1 − ratio| ≤ 0.1``) nothing changes; otherwise
   ``desired = ceil(ratio × readyPods)``. When scaling up, pods that are not Ready
   yet are counted as using 0 % and the ratio is recomputed over all pods; if that
   flips the direction or falls within tolerance, nothing changes.
3. Stabilisation: the controller remembers its recent proposals. A scale down
   goes only as low as the *highest* proposal within ``scaleDown``'s window
   (default 300 s); a scale up only as high as the *lowest* within ``scaleUp``'s
   window (default 0 s, i.e. none). The first sync remembers the current replica
   count as a proposal, so an HPA does not scale down in its first window.
4. Rate limits (``behavior.*.policies``): a scale up may add at most, per policy,
   ``value`` pods or ``value`` % of the pods at the start of the policy's period
   (``selectPolicy: Max`` takes the most permissive); likewise for scale down.
5. Clamp to ``[minReplicas, maxReplicas]``.

Steps 3–4 apply only when the count is in range; an out-of-range count is
corrected at once. Without ``spec.behavior`` in the manifest the controller takes
its legacy path (``normalizeDesiredReplicas``): the same 300 s scale-down
stabilisation (``--horizontal-pod-autoscaler-downscale-stabilization``), a scale
up to at most ``max(2 × current, 4)`` per sync, and no scale-down rate limit.

Utilisation (percent) is the pods' average CPU use relative to their CPU request;
in netsim the lead computes it from the pods' busy time over the metrics window.
Simplified: no CPU initialisation period (a just-started pod's usage counts once it
is Ready), no missing-metric pods, one metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from netsim.k8s.autoscaling import HorizontalPodAutoscaler, PolicyType, ScalingRules, SelectPolicy

SYNC_PERIOD_S = 15.0
"""``--horizontal-pod-autoscaler-sync-period`` default."""
TOLERANCE = 0.1
"""``--horizontal-pod-autoscaler-tolerance`` default: no change while the ratio is within 10 % of 1."""


def proposed_replicas(
    current: int, ready: int, utilization: float, target: float, tolerance: float = TOLERANCE
) -> int:
    """The unstabilised proposal (step 2) for ``current`` pods, ``ready`` of which report ``utilization`` %.

    ``utilization`` is the average over the ready pods.
    """
    if ready <= 0:
        return current
    ratio = utilization / target
    if abs(1.0 - ratio) <= tolerance:
        return current
    unready = max(0, current - ready)
    if ratio > 1.0 and unready > 0:
        # Scale up: not-yet-Ready pods count as using 0 %, which dampens the step.
        new_ratio = utilization * ready / (target * (ready + unready))
        if abs(1.0 - new_ratio) <= tolerance or new_ratio < 1.0:
            return current
        desired = math.ceil(new_ratio * (ready + unready))
        return max(desired, current)
    return math.ceil(ratio * ready)


@dataclass
class _Change:
    time: float
    delta: int  # positive: pods added, negative: pods removed


@dataclass
class HpaController:
    """One HPA's memory (recent proposals and scale events) and its per-sync decision.

    Call :meth:`sync` every :data:`SYNC_PERIOD_S` with the current replica count and
    utilisation; set the Deployment's replicas to the returned value.
    """

    hpa: HorizontalPodAutoscaler
    tolerance: float = TOLERANCE
    _proposals: list[tuple[float, int]] = field(default_factory=list, repr=False)
    _changes: list[_Change] = field(default_factory=list, repr=False)

    def sync(self, now: float, current: int, utilization: float, ready: int | None = None) -> int:
        """The replicas the HPA sets at ``now``.

        Args:
            now: simulated time (s).
            current: the target's current replica count.
            utilization: average CPU utilisation of the ready pods, percent of request.
            ready: how many of ``current`` pods are Ready (default: all).
        """
        hpa = self.hpa
        if current == 0 and hpa.min_replicas != 0:
            return 0
        if current > hpa.max_replicas:
            return hpa.max_replicas
        if current < hpa.min_replicas:
            return hpa.min_replicas
        ready = current if ready is None else ready
        desired = proposed_replicas(current, ready, utilization, hpa.target_cpu_utilization, self.tolerance)
        if not self._proposals:
            self._proposals.append((now, current))
        stabilized = self._stabilize(now, desired, current)
        final = self._rate_limit(now, stabilized, current)
        longest = max((p.period_s for p in (*hpa.scale_up.policies, *hpa.scale_down.policies)), default=0.0)
        self._changes = [c for c in self._changes if c.time > now - longest]
        if final != current:
            self._changes.append(_Change(now, final - current))
        return final

    def _stabilize(self, now: float, proposal: int, current: int) -> int:
        up_cutoff = now - self.hpa.scale_up.stabilization_window_s
        down_cutoff = now - self.hpa.scale_down.stabilization_window_s
        up, down = proposal, proposal
        for time, rec in self._proposals:
            if time > up_cutoff:
                up = min(up, rec)
            if time > down_cutoff:
                down = max(down, rec)
        horizon = min(up_cutoff, down_cutoff)  # the longer window: older proposals can never matter again
        self._proposals = [(t, r) for t, r in self._proposals if t > horizon]
        self._proposals.append((now, proposal))
        return min(max(current, up), down)

    def _in_period(self, now: float, period_s: float) -> tuple[int, int]:
        added = sum(c.delta for c in self._changes if c.delta > 0 and c.time > now - period_s)
        removed = -sum(c.delta for c in self._changes if c.delta < 0 and c.time > now - period_s)
        return added, removed

    def _rate_limit(self, now: float, desired: int, current: int) -> int:
        hpa = self.hpa
        if not hpa.behavior_given:  # legacy limits: x2 (at least 4) up per sync, down freely
            return max(hpa.min_replicas, min(desired, hpa.max_replicas, max(2 * current, 4)))
        if desired > current:
            limit = max(_scale_up_limit(now, current, hpa.scale_up, self._in_period), current)
            return min(desired, hpa.max_replicas, limit)
        if desired < current:
            limit = min(_scale_down_limit(now, current, hpa.scale_down, self._in_period), current)
            return max(desired, hpa.min_replicas, limit)
        return desired


def _scale_up_limit(now: float, current: int, rules: ScalingRules, in_period) -> int:
    if rules.select_policy is SelectPolicy.DISABLED:
        return current
    results = []
    for policy in rules.policies:
        added, removed = in_period(now, policy.period_s)
        start = current - added + removed
        if policy.type is PolicyType.PODS:
            results.append(start + policy.value)
        else:
            results.append(math.ceil(start * (1 + policy.value / 100)))
    return max(results) if rules.select_policy is SelectPolicy.MAX else min(results)


def _scale_down_limit(now: float, current: int, rules: ScalingRules, in_period) -> int:
    if rules.select_policy is SelectPolicy.DISABLED:
        return current
    results = []
    for policy in rules.policies:
        added, removed = in_period(now, policy.period_s)
        start = current + removed - added
        if policy.type is PolicyType.PODS:
            results.append(start - policy.value)
        else:
            results.append(int(start * (1 - policy.value / 100)))
    # Max means "allow the largest change", i.e. the lowest replica count.
    return min(results) if rules.select_policy is SelectPolicy.MAX else max(results)

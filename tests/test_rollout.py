"""Deployment rollouts: Kubernetes' rounding of maxSurge/maxUnavailable and the controller's invariants.

Rules from the apps/v1 API reference (maxSurge percentages round up, maxUnavailable
round down, both 0 invalid) and the Deployment docs (available pods never below
replicas − maxUnavailable, pods never above replicas + maxSurge).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.k8s.pod_template import DeploymentStrategy, IntOrPercent, StrategyType
from netsim.k8s.rollout import ReplicaCounts, is_available, reconcile, resolve_fenceposts

P = lambda v: IntOrPercent(v, percent=True)  # noqa: E731


@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas", "expected"),
    [
        (P(25), P(25), 10, (3, 2)),    # 2.5 → up 3, down 2
        (P(25), P(25), 4, (1, 1)),
        (P(25), P(25), 1, (1, 0)),     # 0.25 → surge 1, unavailable 0
        (P(30), P(30), 10, (3, 3)),
        (P(10), P(10), 3, (1, 0)),
        (IntOrPercent(0), P(10), 3, (0, 1)),  # both round to 0: unavailable becomes 1
        (IntOrPercent(2), IntOrPercent(0), 5, (2, 0)),
    ],
)
def test_fenceposts(surge, unavailable, replicas, expected):
    assert resolve_fenceposts(surge, unavailable, replicas) == expected


def test_both_zero_is_invalid():
    with pytest.raises(ValueError):
        resolve_fenceposts(IntOrPercent(0), P(0), 5)


def rolling(surge, unavailable):
    return DeploymentStrategy(StrategyType.ROLLING_UPDATE, surge, unavailable)


def test_rollout_start_defaults_ten_replicas():
    # 10 replicas, 25 %/25 %: surge 3 → 3 new pods at once, then 2 old ones may go.
    step, after = reconcile(ReplicaCounts(10, 10, 10, 0, 0), rolling(P(25), P(25)))
    assert step.delete_old == 2 and step.delete_old_unavailable == 0
    # The 2 deletions make room for 2 more new pods: 3 + 2 new, total back to 13 = 10 + surge.
    assert step.create_new == 5
    assert after.total == 13 and after.available == 8


def test_max_surge_zero_deletes_first():
    step, _ = reconcile(ReplicaCounts(4, 4, 4, 0, 0), rolling(IntOrPercent(0), IntOrPercent(1)))
    assert step.delete_old == 1 and step.create_new == 1  # delete one, then replace it


def test_unavailable_old_pods_go_first():
    # 5 desired, 2 of the 5 old pods not available. Unavailable pods are deleted first, but
    # at most total − minAvailable − (new unavailable) = 5 − 4 − 0 = 1 of them (cleanupUnhealthyReplicas).
    step, _ = reconcile(ReplicaCounts(5, 5, 3, 0, 0), rolling(IntOrPercent(0), IntOrPercent(1)))
    assert step.delete_old == 1 and step.delete_old_unavailable == 1
    # With surge room the same state deletes both unavailable pods (total 6 − 4 − 0 = 2).
    step, _ = reconcile(ReplicaCounts(5, 5, 3, 1, 1), rolling(IntOrPercent(1), IntOrPercent(1)))
    assert step.delete_old_unavailable == 2


def test_recreate_waits_for_old_pods_to_be_gone():
    recreate = DeploymentStrategy(StrategyType.RECREATE)
    step, after = reconcile(ReplicaCounts(3, 3, 3, 0, 0), recreate)
    assert (step.delete_old, step.create_new) == (3, 0)
    assert after.old_terminating == 3
    step, _ = reconcile(ReplicaCounts(3, 0, 0, 0, 0, old_terminating=1), recreate)
    assert step.is_noop
    step, _ = reconcile(ReplicaCounts(3, 0, 0, 0, 0, old_terminating=0), recreate)
    assert step.create_new == 3


def test_scale_without_rollout_is_not_surge_limited():
    step, _ = reconcile(ReplicaCounts(10, 0, 0, 3, 3), rolling(P(25), P(25)))
    assert step.create_new == 7
    step, _ = reconcile(ReplicaCounts(2, 0, 0, 5, 5), rolling(P(25), P(25)))
    assert step.delete_new == 3


def test_min_ready_seconds():
    assert not is_available(None, 10.0, 0.0)
    assert is_available(5.0, 5.0, 0.0)
    assert not is_available(5.0, 9.0, 5.0) and is_available(5.0, 10.0, 5.0)


int_or_percent = st.one_of(st.integers(0, 5).map(IntOrPercent), st.integers(0, 100).map(P))


@settings(max_examples=300, deadline=None)
@given(
    replicas=st.integers(1, 12),
    surge=int_or_percent,
    unavailable=int_or_percent,
    choices=st.lists(st.integers(0, 10_000), min_size=1, max_size=200),
)
def test_rolling_update_invariants(replicas, surge, unavailable, choices):
    """New pods become available in random batches (``choices`` picks how many at each step, at least one):
    the bounds hold after every step and the rollout completes."""
    if surge.value == 0 and unavailable.value == 0:
        return
    max_surge, max_unavailable = resolve_fenceposts(surge, unavailable, replicas)
    strategy = rolling(surge, unavailable)
    counts = ReplicaCounts(replicas, replicas, replicas, 0, 0)
    _, counts = reconcile(counts, strategy)
    pending = choices + [0] * (3 * replicas)  # enough events to finish
    for choice in pending:
        assert counts.total <= replicas + max_surge
        assert counts.available >= replicas - max_unavailable
        if counts.new_available == counts.new_total:
            break
        batch = 1 + choice % (counts.new_total - counts.new_available)  # 1 .. every new pod not yet available
        counts = ReplicaCounts(replicas, counts.old_total, counts.old_available, counts.new_total,
                               counts.new_available + batch)
        _, counts = reconcile(counts, strategy)
        assert counts.total <= replicas + max_surge
        assert counts.available >= replicas - max_unavailable
    assert counts.old_total == 0 and counts.new_total == replicas and counts.new_available == replicas


@settings(max_examples=200, deadline=None)
@given(replicas=st.integers(1, 12), surge=int_or_percent, unavailable=int_or_percent,
       flips=st.lists(st.booleans(), max_size=100))
def test_availability_never_drops_because_of_the_controller(replicas, surge, unavailable, flips):
    """Pods may also become *un*available on their own; the controller itself never removes
    an available pod when that would leave fewer than replicas − maxUnavailable."""
    if surge.value == 0 and unavailable.value == 0:
        return
    _, max_unavailable = resolve_fenceposts(surge, unavailable, replicas)
    strategy = rolling(surge, unavailable)
    counts = ReplicaCounts(replicas, replicas, replicas, 0, 0)
    for up in flips:
        before = counts.available
        _, after = reconcile(counts, strategy)
        assert after.available >= min(before, replicas - max_unavailable)
        if up and after.new_available < after.new_total:
            counts = ReplicaCounts(replicas, after.old_total, after.old_available, after.new_total, after.new_available + 1)
        elif not up and after.old_available > 0:
            counts = ReplicaCounts(replicas, after.old_total, after.old_available - 1, after.new_total, after.new_available)
        else:
            counts = after

"""CrashLoopBackOff (10 s doubling, 300 s cap, reset after 10 min running) and termination timing."""

from __future__ import annotations

import pytest

from netsim.k8s.lifecycle import CrashLoopBackOff, termination_timeline


def test_backoff_doubles_to_the_cap():
    backoff = CrashLoopBackOff()
    delays = [backoff.on_crash(running_for_s=1.0) for _ in range(9)]
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300, 300]


def test_backoff_resets_after_ten_minutes_of_running():
    backoff = CrashLoopBackOff()
    for _ in range(5):
        backoff.on_crash(running_for_s=5.0)
    assert backoff.on_crash(running_for_s=599.0) == 300  # 10, 20, 40, 80, 160 were used; no reset yet
    assert backoff.on_crash(running_for_s=600.0) == 10
    assert backoff.on_crash(running_for_s=1.0) == 20


def test_termination_with_prestop_shorter_than_grace():
    t = termination_timeline(100.0, pre_stop_s=5.0, grace_period_s=30.0)
    assert (t.sigterm_at, t.kill_at) == (105.0, 130.0)


def test_termination_without_prestop():
    t = termination_timeline(0.0, 0.0, 30.0)
    assert (t.sigterm_at, t.kill_at) == (0.0, 30.0)


def test_prestop_overrunning_grace_gets_two_seconds():
    t = termination_timeline(0.0, pre_stop_s=45.0, grace_period_s=30.0)
    assert (t.sigterm_at, t.kill_at) == (30.0, 32.0)


def test_negative_inputs_rejected():
    with pytest.raises(ValueError):
        termination_timeline(0.0, -1.0, 30.0)

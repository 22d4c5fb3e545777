"""Readiness probe timing: when a pod turns Ready, and when a hung pod is noticed (k8s-facts §8.6)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from netsim.k8s.pod_template import Probe
from netsim.model.probes import failure_detected_at, next_tick, pod_ready_time, ready_time

DEFAULT = Probe()  # 0 / 10 / 1 / 1 / 3


def test_no_probe_ready_at_start():
    assert ready_time(12.5, None) == 12.5


def test_default_probe_ready_at_first_tick():
    assert ready_time(12.0, DEFAULT, phase_s=0.0) == 12.0
    assert ready_time(12.0, DEFAULT, phase_s=3.0) == 15.0


def test_initial_delay_and_success_threshold():
    probe = Probe(initial_delay_s=15, period_s=10, success_threshold=2)
    # ticks at 2, 12, 22, 32 ... ; first at/after 0 + 15 is 22; second success at 32
    assert ready_time(0.0, probe, phase_s=2.0) == 32.0
    # a tick exactly at the initial delay counts
    assert ready_time(0.0, Probe(initial_delay_s=20, period_s=10), phase_s=0.0) == 20.0


def test_pod_ready_when_all_containers_are():
    probes = [Probe(initial_delay_s=5, period_s=5), None, Probe(initial_delay_s=20, period_s=15)]
    assert pod_ready_time(1.0, probes, [0.0, 0.0, 0.0]) == 1.0 + 30.0  # ticks 1, 16, 31 → first ≥ 21 is 31


def test_hang_detection_default_probe():
    # ticks every 10 s from 0; failure at 25 → failing probes at 30, 40, 50; the third times out at 51
    assert failure_detected_at(25.0, DEFAULT, grid_origin=0.0) == 51.0


def test_hang_without_probe_is_never_detected():
    assert failure_detected_at(5.0, None, 0.0) == float("inf")


def test_detection_delay_matches_the_formula_on_average():
    """(F − 1)·period + U(0, period) + timeout: 20–30 s + 1 s, mean 26 s for the defaults."""
    rng = np.random.default_rng(1)
    failed = rng.uniform(0, 1000, 20_000)
    delays = np.array([failure_detected_at(t, DEFAULT, 0.0) - t for t in failed])
    assert delays.min() >= 21.0 - 1e-9 and delays.max() <= 31.0 + 1e-9
    assert abs(delays.mean() - 26.0) < 0.1  # U(0,10) mean 5; sd of the mean ≈ 0.02


@given(t=st.floats(0, 1e4), origin=st.floats(0, 100), period=st.floats(0.5, 60))
def test_next_tick_is_on_grid_and_not_early(t, origin, period):
    tick = next_tick(t, origin, period)
    assert tick >= t - 1e-6
    assert tick - t < period + 1e-6 or t < origin
    k = (tick - origin) / period
    assert abs(k - round(k)) < 1e-6


@given(start=st.floats(0, 1e3), extra=st.floats(0, 100), phase=st.floats(0, 9.99))
def test_ready_time_monotone_in_start_and_delay(start, extra, phase):
    p1 = Probe(initial_delay_s=5, period_s=10)
    p2 = Probe(initial_delay_s=5 + int(extra), period_s=10)
    assert ready_time(start, p1, phase) >= start + 5 - 1e-9
    assert ready_time(start, p2, phase) >= ready_time(start, p1, phase) - 1e-9


def test_phase_must_lie_within_period():
    with pytest.raises(ValueError):
        ready_time(0.0, DEFAULT, phase_s=11.0)

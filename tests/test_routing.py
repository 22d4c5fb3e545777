"""Routing core invariants (hypothesis): pure pickers never route to a non-ready endpoint, rr is fair to
within one pick, batch and one-at-a-time least-connection agree, and nodes never share scheduler state."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.routing import (
    NO_ENDPOINT,
    EndpointTable,
    HashPicker,
    LeastConnectionPicker,
    pick_least_connections,
    pick_random,
    pick_round_robin,
    pick_weighted_round_robin,
    round_robin_picker,
    wrr_cycle,
)

masks = st.lists(st.booleans(), min_size=1, max_size=40).map(lambda m: np.array(m, dtype=bool))


def _table(ready: np.ndarray) -> EndpointTable:
    n = ready.size
    table = EndpointTable.build(list(range(100, 100 + n)), [i % 3 for i in range(n)], [80] * n)
    table.ready[:] = ready
    return table


def _only_ready(ready: np.ndarray, picks: np.ndarray) -> None:
    picks = np.asarray(picks)
    if ready.any():
        assert (picks >= 0).all() and ready[picks].all()
    else:
        assert (picks == NO_ENDPOINT).all()


@given(masks, st.integers(0, 10**6))
def test_stateless_pickers_return_only_ready_endpoints(ready: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    _only_ready(ready, pick_random(ready, rng.random(200)))
    _only_ready(ready, pick_round_robin(ready, seed % 7, 200)[0])
    _only_ready(ready, pick_weighted_round_robin(ready, rng.integers(1, 5, ready.size), seed % 5, 200)[0])
    for scheduler in ("sh", "dh", "mh"):
        picker = HashPicker(_table(ready), scheduler, service=seed % 4)
        pods = [picker(source) for source in range(50)]
        expected_ok = set((100 + np.flatnonzero(ready)).tolist())
        assert all(p in expected_ok for p in pods) if ready.any() else all(p == NO_ENDPOINT for p in pods)


@given(masks, st.sampled_from(["lc", "wlc", "sed", "nq"]), st.integers(0, 10**6))
@settings(max_examples=60)
def test_least_connection_pickers_return_only_ready_endpoints_and_match_the_batch_form(
    ready: np.ndarray, scheduler: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    weights = rng.integers(1, 4, ready.size).astype(float)
    active = rng.integers(0, 3, ready.size)
    picker = LeastConnectionPicker(_table(ready), scheduler, weights)
    picker.active[:] = active
    picker.invalidate()
    sequential = [picker() for _ in range(30)]
    batch = pick_least_connections(scheduler, active, weights, ready, 30)
    _only_ready(ready, batch)
    assert sequential == [(100 + int(b)) if b >= 0 else NO_ENDPOINT for b in batch]


@given(masks, st.integers(0, 1000), st.integers(1, 500))
def test_round_robin_counts_differ_by_at_most_one(ready: np.ndarray, start: int, count: int) -> None:
    picks, _ = pick_round_robin(ready, start, count)
    if ready.any():
        counts = np.bincount(picks, minlength=ready.size)[ready]
        assert counts.max() - counts.min() <= 1


@given(st.lists(st.integers(0, 6), min_size=1, max_size=12))
def test_wrr_serves_each_server_in_proportion_to_its_weight(weights: list[int]) -> None:
    w = np.array(weights)
    cycle = wrr_cycle(w)
    if w.max() == 0:
        assert cycle.size == 0
        return
    g = np.gcd.reduce(w[w > 0])
    assert (np.bincount(cycle, minlength=w.size) == w // g).all()


def test_least_connection_release_lowers_the_count() -> None:
    picker = LeastConnectionPicker(_table(np.ones(3, dtype=bool)), "lc")
    first = [picker() for _ in range(3)]
    assert first == [100, 101, 102]
    picker.release(101)
    assert picker() == 101


class _Clock:
    time = 0.0


def test_lc_weighs_closed_connections_as_the_kernel_does_until_ipvs_drops_them() -> None:
    """``ip_vs_dest_conn_overhead``: activeconns × 256 + inactconns, a closed connection held in TIME_WAIT
    for 120 s (``tcp_timeouts``) before it stops counting."""
    clock = _Clock()
    picker = LeastConnectionPicker(_table(np.ones(2, dtype=bool)), "lc", clock=clock)
    assert picker() == 100  # A: one active connection, cost 256
    for _ in range(255):  # B: 255 connections opened and closed: cost 255 < 256
        assert picker() == 101
        picker.release(101)
    assert picker.inactive.tolist() == [0, 255]
    assert picker() == 101  # 255 < 256
    picker.release(101)  # B: 256 inactive, tied with A's one active: the first minimum (A) wins
    assert picker() == 100
    picker.release(100)
    picker.release(100)  # A: 2 inactive, B: 256 inactive
    clock.time = 119.0
    assert picker() == 100  # nothing has expired yet
    picker.release(100)
    clock.time = 120.0 + 1e-9  # B's closed connections (and A's first two) left TIME_WAIT; A's last is still held
    assert picker() == 101
    assert picker.inactive.tolist() == [1, 0]


def test_lc_without_a_timeout_or_clock_counts_only_open_connections() -> None:
    for picker in (LeastConnectionPicker(_table(np.ones(2, dtype=bool)), "lc"),
                   LeastConnectionPicker(_table(np.ones(2, dtype=bool)), "lc", clock=_Clock(), inactive_timeout=0.0)):
        assert picker() == 100
        picker.release(100)
        assert picker() == 100 and picker.inactive.sum() == 0


@given(st.integers(2, 30), st.integers(0, 10**6), st.integers(1, 200))
def test_per_node_state_is_independent(n: int, seed: int, extra: int) -> None:
    """Picks through one node's kube-proxy never change what another node's would pick."""
    table = _table(np.ones(n, dtype=bool))
    a1 = round_robin_picker(table, np.random.default_rng([seed, 1]))
    b_alone = round_robin_picker(table, np.random.default_rng([seed, 2]))
    b_with_a = round_robin_picker(table, np.random.default_rng([seed, 2]))
    expected = [b_alone() for _ in range(50)]
    got = []
    for _ in range(50):
        for _ in range(extra % 7):
            a1()
        got.append(b_with_a())
    assert got == expected
    lc_a, lc_b = LeastConnectionPicker(table, "lc"), LeastConnectionPicker(table, "lc")
    for _ in range(extra):
        lc_a()
    assert lc_b.active.sum() == 0 and [lc_b() for _ in range(n)] == list(range(100, 100 + n))

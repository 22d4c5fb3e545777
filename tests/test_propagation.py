"""Endpoint propagation timing: EndpointSlice batching → watch delay → kube-proxy's rate-limited syncs.

Properties from the mechanisms (k8s-facts §1.4, §2): latency is never negative and
at least the configured fixed delays; more delay anywhere never makes a change land
sooner; minSyncPeriod merges changes that arrive while a node waits.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.model.propagation import (
    EndpointSliceController,
    NodeProxySync,
    endpointslice_write_times,
    programmed_times,
    programming_latency,
    sync_duration_s,
)


def test_single_change_adds_up_the_delays():
    out = programmed_times(np.array([10.0]), np.array([[0.5, 2.0]]), batch_period_s=1.0, processing_s=0.1,
                           min_sync_period_s=1.0, sync_duration_s=0.2)
    assert out[0] == pytest.approx([10 + 1 + 0.1 + 0.5 + 0.2, 10 + 1 + 0.1 + 2.0 + 0.2])


def test_batch_period_merges_changes_into_one_write():
    writes = endpointslice_write_times(np.array([0.0, 0.3, 0.9, 1.5]), batch_period_s=1.0, processing_s=0.0)
    # the sync queued at 0 starts at 1.0 and carries the changes up to then; 1.5 waits its own batch
    assert list(writes) == [1.0, 1.0, 1.0, 2.5]


def test_a_change_during_a_sync_waits_for_it_to_end():
    controller = EndpointSliceController(batch_period_s=0.0)
    assert controller.on_change(0.0, 2.0) == (2.0, True)
    assert controller.on_change(1.0, 2.0) == (4.0, True)  # next sync starts when the first ends
    assert controller.on_change(1.5, 2.0) == (4.0, False)  # the queued sync has not started yet


def test_min_sync_period_merges_changes_on_a_node():
    changes = np.array([0.0, 0.2, 0.4, 0.6])
    delays = np.zeros((4, 1))
    out = programmed_times(changes, delays, min_sync_period_s=1.0, burst=1)[:, 0]
    # first change syncs at once; the rest arrive while the node waits and share the sync at 1.0
    assert list(out) == [0.0, 1.0, 1.0, 1.0]
    node_syncs = NodeProxySync(min_sync_period_s=1.0, burst=1)
    for t in changes:
        node_syncs.on_seen(t)
    assert node_syncs.sync_starts == [0.0, 1.0]
    # with min_sync_period 0 every change gets its own sync
    assert list(programmed_times(changes, delays, min_sync_period_s=0.0)[:, 0]) == list(changes)


def test_burst_of_two():
    out = programmed_times(np.array([0.0, 0.1, 0.2]), np.zeros((3, 1)), min_sync_period_s=1.0, burst=2)[:, 0]
    assert list(out) == pytest.approx([0.0, 0.1, 1.0])  # two tokens spent; the third waits for a refill


def test_watch_events_arrive_in_order():
    # the second write's small delay cannot overtake the first write on the same node
    out = programmed_times(np.array([0.0, 1.0]), np.array([[5.0], [0.1]]), min_sync_period_s=0.0)[:, 0]
    assert out[1] >= out[0]


def test_periodic_syncs_happen_without_changes():
    node = NodeProxySync(min_sync_period_s=1.0, sync_period_s=30.0)
    node.on_seen(0.0)
    node.on_seen(100.0)
    assert node.sync_starts == [0.0, 30.0, 60.0, 90.0, 100.0]


def test_sync_duration_grows_with_rules_for_iptables():
    assert sync_duration_s("iptables", 100_000) > sync_duration_s("iptables", 1_000) > 0
    assert sync_duration_s("ipvs", 100_000) < sync_duration_s("iptables", 100_000)


changes_st = st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=30).map(sorted)


@settings(max_examples=150, deadline=None)
@given(
    changes=changes_st,
    nodes=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    batch=st.floats(0, 2),
    processing=st.floats(0, 0.5),
    min_sync=st.floats(0, 5),
    burst=st.integers(1, 3),
    duration=st.floats(0, 1),
    extra=st.floats(0, 3),
    which=st.sampled_from(["batch", "processing", "min_sync", "duration", "watch"]),
)
def test_latency_non_negative_and_monotone_in_each_delay(changes, nodes, seed, batch, processing, min_sync, burst,
                                                         duration, extra, which):
    times = np.array(changes)
    watch = np.random.default_rng(seed).exponential(0.5, (times.size, nodes))
    if which in ("batch", "processing"):
        # These change which changes share a slice write. Fewer writes mean fewer kube-proxy
        # syncs, so under sync throttling a *later* change can land sooner with more batching
        # (that is what batching is for; see test_batching_can_help_later_changes). Monotone
        # per change only without node-side throttling, and with one watch delay per node
        # (a write's delay is drawn for its first change).
        watch = np.broadcast_to(watch[:1], watch.shape).copy()
        min_sync, duration = 0.0, 0.0
    base = dict(batch_period_s=batch, processing_s=processing, min_sync_period_s=min_sync, burst=burst,
                sync_duration_s=duration)
    out = programmed_times(times, watch, **base)
    latency = programming_latency(times, out)
    # every change waits at least the processing and one sync; batching may let a change ride along
    assert np.all(latency >= processing + duration - 1e-9)
    more = dict(base)
    more_watch = watch
    if which == "batch":
        more["batch_period_s"] = batch + extra
    elif which == "processing":
        more["processing_s"] = processing + extra
    elif which == "min_sync":
        more["min_sync_period_s"] = min_sync + extra
    elif which == "duration":
        more["sync_duration_s"] = duration + extra
    else:
        more_watch = watch + extra
    later = programmed_times(times, more_watch, **more)
    if which == "batch":
        # a longer batch may let a later change join an earlier, still-waiting write; the
        # first change always waits the whole batch period
        assert np.all(later[0] >= out[0] - 1e-9)
        assert np.all(later[0] >= times[0] + batch + extra + processing - 1e-9)
    elif which in ("min_sync", "duration"):
        # likewise a longer minSyncPeriod, or a longer sync, can let a later change ride along in a
        # sync that it missed before (changes at 1 s and 2 s, minSyncPeriod 1 s: two syncs, the second
        # at ~3.6 s; minSyncPeriod 3 s: one sync at ~3.3 s; a change reaching the node just after a
        # 0.75 s sync began waits for the next, but catches a 1 s sync that began later). The first
        # change never gains.
        assert np.all(later[0] >= out[0] - 1e-9)
    else:
        assert np.all(later >= out - 1e-9)


def test_batching_can_help_later_changes():
    """With minSyncPeriod 2 s, two changes 1 s apart need two syncs (the second waits until 2 s);
    a 1 s batch period puts both in one write and one sync at 1 s."""
    kw = dict(min_sync_period_s=2.0, burst=1)
    unbatched = programmed_times(np.array([0.0, 1.0]), np.zeros((2, 1)), batch_period_s=0.0, **kw)[:, 0]
    batched = programmed_times(np.array([0.0, 1.0]), np.zeros((2, 1)), batch_period_s=1.0, **kw)[:, 0]
    assert list(unbatched) == [0.0, 2.0] and list(batched) == [1.0, 1.0]


def test_bad_shapes_rejected():
    with pytest.raises(ValueError):
        programmed_times(np.array([0.0, 1.0]), np.zeros((3, 2)))
    with pytest.raises(ValueError):
        programmed_times(np.array([1.0, 0.0]), np.zeros((2, 1)))

"""The fast engine's queue kernel against an event-driven reference and against queueing theory.

The reference below is the event engine's pod written as plainly as possible:
a heap of events, a busy-worker count and a deque, departures before arrivals
at equal times (netsim/fast/queues.py, "Ties"). It shares no code and no idea
with the kernel's recursions, so agreement on random and on deterministic
inputs (where ties are everywhere) checks the recursions, the tie rule and the
queue limit. The theory checks use long runs (the kernel does 1e6 requests in
well under a second) and tolerances from batch means.
"""

from __future__ import annotations

import heapq
import itertools
import math
import sys
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim import theory
from netsim.fast import _fifo_loop
from netsim.fast.queues import UNBOUNDED, QueueState, Served, serve_block, serve_fifo, serve_grouped

DEPARTURE, ARRIVAL = 0, 1  # heap order at equal times: departures first


def reference(arrival: np.ndarray, service: np.ndarray, workers: int, queue_limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pod, event by event: (start, departure, rejected)."""
    n = len(arrival)
    start, departure = np.full(n, np.nan), np.full(n, np.nan)
    rejected = np.zeros(n, bool)
    events = [(float(t), ARRIVAL, i, i) for i, t in enumerate(arrival)]
    heapq.heapify(events)
    seq = n
    busy, queue = 0, deque()

    def begin(i: int, now: float) -> None:
        nonlocal seq
        start[i] = now
        departure[i] = now + service[i]
        heapq.heappush(events, (departure[i], DEPARTURE, seq, i))
        seq += 1

    while events:
        now, kind, _, i = heapq.heappop(events)
        if kind == ARRIVAL:
            if busy < workers:
                busy += 1
                begin(i, now)
            elif len(queue) < queue_limit:
                queue.append(i)
            else:
                rejected[i] = True
        elif queue:
            begin(queue.popleft(), now)
        else:
            busy -= 1
    return start, departure, rejected


def rounding(arrival: np.ndarray, service: np.ndarray) -> float:
    """How far the cumulative-maximum form may be from step-by-step sums: a few ulps of the total time."""
    return 64 * np.finfo(float).eps * (float(np.max(np.abs(arrival), initial=0.0)) + float(np.sum(service)) + 1.0)


def assert_same(got, expected, tol: float = 0.0) -> None:  # type: ignore[no-untyped-def]
    start, departure, rejected = expected
    np.testing.assert_array_equal(got.rejected, rejected)
    np.testing.assert_allclose(got.start, start, rtol=0, atol=tol)
    np.testing.assert_allclose(got.departure, departure, rtol=0, atol=tol)


# -- exactness against the reference -----------------------------------------------------------

times = st.one_of(
    st.integers(0, 3).map(float),  # small integers: ties between arrivals and departures everywhere
    st.floats(0, 3, allow_nan=False),
)
limits = st.one_of(st.integers(0, 4), st.just(UNBOUNDED))


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(times, min_size=0, max_size=40),
    data=st.data(),
    workers=st.integers(1, 4),
    queue_limit=limits,
)
def test_one_pod_matches_event_reference(gaps, data, workers, queue_limit) -> None:  # type: ignore[no-untyped-def]
    arrival = np.cumsum(gaps)
    service = np.array(data.draw(st.lists(times, min_size=len(gaps), max_size=len(gaps))))
    got = serve_fifo(arrival, service, workers, queue_limit)
    assert_same(got, reference(arrival, service, workers, queue_limit), rounding(arrival, service) if workers == 1 else 0.0)


def serve_in_blocks(
    state: QueueState, pod: np.ndarray, arrival: np.ndarray, service: np.ndarray, sizes: np.ndarray
) -> tuple[Served, QueueState]:
    """Serve in consecutive blocks of the given sizes, carrying the state; the results put back together."""
    n = arrival.size
    bounds = [0, *(int(b) for b in np.cumsum(sizes) if 0 < b < n), n]
    parts = []
    for lo, hi in itertools.pairwise(bounds):
        served, state = serve_block(state, pod[lo:hi], arrival[lo:hi], service[lo:hi])
        parts.append(served)
    return Served(*(np.concatenate(column) for column in zip(*parts, strict=True))), state


@settings(max_examples=150, deadline=None)
@given(
    pods=st.integers(1, 4),
    requests=st.integers(0, 60),
    cuts=st.lists(st.floats(0, 1), max_size=3),
    integer_times=st.booleans(),
    workers=st.one_of(st.just([1] * 4), st.lists(st.integers(1, 3), min_size=4, max_size=4)),
    queue_limit=st.one_of(st.just([UNBOUNDED] * 4), st.lists(limits, min_size=4, max_size=4)),
    seed=st.integers(0, 2**32 - 1),
)
def test_many_pods_in_blocks_match_event_reference(pods, requests, cuts, integer_times, workers, queue_limit, seed) -> None:  # type: ignore[no-untyped-def]
    """Pods served together, in blocks with the state carried, equal each pod served alone by the reference."""
    rng = np.random.default_rng(seed)
    gaps = rng.integers(0, 3, requests).astype(float) if integer_times else rng.exponential(0.5, requests)
    arrival = np.cumsum(gaps)
    service = rng.integers(0, 5, requests).astype(float) if integer_times else rng.exponential(1.0, requests)
    pod = rng.integers(0, pods, requests)
    state = QueueState.idle(workers[:pods], queue_limit[:pods])
    sizes = np.diff([0, *sorted(int(c * requests) for c in cuts), requests])
    got, state = serve_in_blocks(state, pod, arrival, service, sizes)
    for p in range(pods):
        mine = pod == p
        expected = reference(arrival[mine], service[mine], workers[p], queue_limit[p])
        tol = 0.0 if workers[p] > 1 or integer_times else rounding(arrival, service)
        assert_same(Served(*(column[mine] for column in got)), expected, tol)
    assert (state.waiting() <= np.array(queue_limit[:pods])).all()


@pytest.mark.parametrize(("workers", "queue_limit", "load"), [(1, 3, 0.95), (2, 3, 1.2), (3, 1, 0.9), (1, UNBOUNDED, 1.1)])
def test_small_blocks_carry_the_queue_exactly(workers: int, queue_limit: int, load: float) -> None:
    """Blocks of 1-20 arrivals over 3 pods: workers busy and requests waiting across block boundaries."""
    rng = np.random.default_rng(21)
    n, pods = 3_000, 3
    arrival = np.cumsum(rng.exponential(1.0 / (load * workers * pods), n))
    service = rng.exponential(1.0, n)
    pod = rng.integers(0, pods, n)
    got, state = serve_in_blocks(QueueState.idle(workers, queue_limit, pods=pods), pod, arrival, service, rng.integers(1, 21, n))
    for p in range(pods):
        mine = pod == p
        expected = reference(arrival[mine], service[mine], workers, queue_limit)
        assert_same(Served(*(column[mine] for column in got)), expected, rounding(arrival, service))
    assert state.waiting().sum() > 0 or queue_limit == 0  # the run ends with requests still waiting


def test_one_worker_pods_take_the_vectorised_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many one-worker pods, limits never reached: served by the Lindley pass alone (the loop is off), exactly."""
    def no_loop():  # type: ignore[no-untyped-def]
        raise AssertionError("the compiled loop was used")

    monkeypatch.setattr(_fifo_loop, "compiled", no_loop)
    rng = np.random.default_rng(22)
    n, pods = 20_000, 7
    arrival = np.cumsum(rng.exponential(1.0 / (0.9 * pods), n))
    service = rng.exponential(1.0, n)
    pod = rng.integers(0, pods, n)
    state = QueueState.idle(1, [UNBOUNDED, 10**6, UNBOUNDED, 5_000, UNBOUNDED, UNBOUNDED, 10**6])
    got, state = serve_in_blocks(state, pod, arrival, service, np.full(n, 3_000))
    for p in range(pods):
        mine = pod == p
        expected = reference(arrival[mine], service[mine], 1, UNBOUNDED)
        assert_same(Served(*(column[mine] for column in got)), expected, rounding(arrival, service))


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("queue_limit", [0, 1, 3, UNBOUNDED])
@pytest.mark.parametrize(("gap", "service"), [(1.0, 1.0), (1.0, 2.0), (1.0, 3.0), (0.5, 1.0), (2.0, 1.0), (1.0, 0.0), (0.0, 1.0)])
def test_deterministic_times_match_event_reference(workers, queue_limit, gap, service) -> None:  # type: ignore[no-untyped-def]
    """D/D/c/K: arrivals land exactly on departures; the tie rule decides who is served and who is rejected."""
    arrival = gap * np.arange(30.0)
    needs = np.full(30, service)
    assert_same(serve_fifo(arrival, needs, workers, queue_limit), reference(arrival, needs, workers, queue_limit))


def test_dd1_at_full_load_loses_nothing() -> None:
    """Departures first: with arrivals every second and 1 s of service, one worker and no waiting room keep up."""
    served = serve_fifo(np.arange(100.0), np.ones(100), workers=1, queue_limit=0)
    assert not served.rejected.any()
    np.testing.assert_array_equal(served.departure - np.arange(100.0), 1.0)


def test_one_worker_takes_the_loop_when_the_limit_binds() -> None:
    """One worker, limit reached mid-block: the Lindley pass gives way to the loop, and the result is exact."""
    rng = np.random.default_rng(3)
    arrival = np.cumsum(rng.exponential(1.0, 5_000))
    service = rng.exponential(1.3, 5_000)  # overloaded: the waiting room fills
    got = serve_fifo(arrival, service, 1, 7)
    expected = reference(arrival, service, 1, 7)
    assert expected[2].any()
    assert_same(got, expected)


def test_pure_python_fallback_warns_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without numba the same loop runs as plain Python, with a warning, and gives the same answer."""
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` now raises ImportError
    monkeypatch.setattr(_fifo_loop, "_compiled", {})
    monkeypatch.setattr(_fifo_loop, "PYTHON_BUDGET", 0)  # past the small-run path: the compiled kernel is asked for
    rng = np.random.default_rng(5)
    arrival = np.cumsum(rng.integers(0, 3, 300).astype(float))
    service = rng.integers(0, 6, 300).astype(float)
    with pytest.warns(RuntimeWarning, match="numba is not installed"):
        got = serve_fifo(arrival, service, 2, 2)
    assert _fifo_loop._compiled["serve_segments"] is _fifo_loop.serve_segments
    assert_same(got, reference(arrival, service, 2, 2))


@pytest.mark.parametrize(("workers", "queue_limit", "integer_times"), [(2, 2, True), (3, 1, False), (4, UNBOUNDED, False),
                                                                    (2, 0, True), ([1, 2, 3], [1, 0, UNBOUNDED], False)])
def test_small_runs_python_path_equals_the_compiled_kernel(monkeypatch: pytest.MonkeyPatch, workers, queue_limit,  # type: ignore[no-untyped-def]
                                                           integer_times: bool) -> None:
    """Within the budget the loop runs as Python over lists; its numbers are numba's, bit for bit (ties, limits, carried state)."""
    rng = np.random.default_rng(8)
    n, pods = 4_000, 3
    gaps = rng.integers(0, 3, n).astype(float) if integer_times else rng.exponential(0.3, n)
    service = rng.integers(0, 5, n).astype(float) if integer_times else rng.exponential(1.0, n)
    arrival, pod, sizes = np.cumsum(gaps), rng.integers(0, pods, n), rng.integers(1, 400, n)
    state = QueueState.idle(workers, queue_limit, pods=pods)
    runs = {}
    for path, budget in (("python", 10**9), ("numba", 0)):
        monkeypatch.setattr(_fifo_loop, "PYTHON_BUDGET", budget)
        monkeypatch.setattr(_fifo_loop, "_compiled", {} if path == "python" else _fifo_loop._compiled)
        monkeypatch.setattr(_fifo_loop, "_served_in_python", [0])
        runs[path] = serve_in_blocks(state, pod, arrival, service, sizes)
        assert (_fifo_loop._served_in_python[0] == n) == (path == "python")
    (py, py_state), (nb, nb_state) = runs["python"], runs["numba"]
    assert py.rejected.any() or queue_limit == UNBOUNDED
    for got, want in ((py, nb), (py_state, nb_state)):
        for a, b in zip(vars(got).values() if not isinstance(got, tuple) else got, vars(want).values() if not isinstance(want, tuple) else want,
                        strict=True):
            np.testing.assert_array_equal(a, b)  # NaN where rejected in both; every float identical


def test_the_budget_switches_to_the_compiled_kernel_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ski rental: Python serves blocks until the next would pass the budget; from then on the compiled kernel."""
    monkeypatch.setattr(_fifo_loop, "_compiled", {})
    monkeypatch.setattr(_fifo_loop, "_served_in_python", [0])
    monkeypatch.setattr(_fifo_loop, "PYTHON_BUDGET", 1_000)
    assert _fifo_loop.kernel_for(600) is _fifo_loop.serve_in_python
    assert _fifo_loop.kernel_for(400) is _fifo_loop.serve_in_python
    assert _fifo_loop.kernel_for(1) is not _fifo_loop.serve_in_python
    assert _fifo_loop.kernel_for(1) is not _fifo_loop.serve_in_python  # loaded: no way back


@pytest.mark.parametrize("workers", [1, 3])
def test_arrivals_going_back_in_time_are_refused(workers: int) -> None:
    state = QueueState.idle(workers, UNBOUNDED, pods=2)
    with pytest.raises(ValueError, match="pod 1: arrivals must be in time order"):
        serve_block(state, np.array([0, 1, 1]), np.array([5.0, 2.0, 1.0]), np.ones(3))
    _, later = serve_block(state, np.array([0, 1]), np.array([5.0, 6.0]), np.ones(2))
    with pytest.raises(ValueError, match="pod 1: arrivals go back in time"):
        serve_block(later, np.array([1]), np.array([5.5]), np.ones(1))


def test_the_state_given_is_not_changed() -> None:
    state = QueueState.idle([1, 2], [3, 3])
    pod, arrival, service = np.array([0, 1, 1, 0]), np.array([0.0, 0.1, 0.2, 0.3]), np.ones(4)
    first, _ = serve_block(state, pod, arrival, service)
    again, _ = serve_block(state, pod, arrival, service)
    assert_same(again, first)
    assert np.isneginf(state.free_at).all() and state.waiting().sum() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_grouped_arrivals_give_what_serve_block_gives(workers: int) -> None:
    """serve_grouped on arrivals already grouped by pod equals serve_block on them interleaved."""
    rng = np.random.default_rng(6)
    n, pods = 2_000, 5
    arrival = np.cumsum(rng.exponential(1.0 / (0.9 * workers * pods), n))
    service = rng.exponential(1.0, n)
    pod = rng.integers(0, pods, n)
    state = QueueState.idle(workers, 4, pods=pods)
    interleaved, _ = serve_block(state, pod, arrival, service)
    order = np.argsort(pod, kind="stable")
    seg = np.concatenate([[0], np.cumsum(np.bincount(pod, minlength=pods))])
    grouped, _ = serve_grouped(state, seg, arrival[order], service[order])
    assert_same(grouped, tuple(column[order] for column in interleaved))
    with pytest.raises(ValueError, match="seg must be 6 non-decreasing offsets"):
        serve_grouped(state, seg[:-1], arrival[order], service[order])


# -- queueing theory ----------------------------------------------------------------------------

def poisson_stream(rng: np.random.Generator, rate: float, n: int) -> np.ndarray:
    return np.cumsum(rng.exponential(1.0 / rate, n))


def assert_mean_near(values: np.ndarray, expected: float, z: float = 4.0) -> None:
    """Within z batch-means standard errors (~1 in 16,000 false alarms at z = 4) and 5 % of theory."""
    mean, se = theory.batch_means(values, batches=25)
    assert abs(mean - expected) <= z * se, f"mean {mean:.6g} vs theory {expected:.6g} (se {se:.3g})"
    assert abs(mean - expected) <= 0.05 * expected, f"mean {mean:.6g} far from theory {expected:.6g}"


def mmck(lam: float, mu: float, servers: int, waiting: int) -> tuple[float, float]:
    """M/M/c/K with K waiting places: (blocking probability, mean sojourn of accepted requests).

    The number in system is a birth–death chain on 0..c+K with birth rate lam
    and death rate min(n, c) mu; an arrival sees the stationary law (PASTA), so
    it is blocked with probability p_{c+K}; Little's law on the accepted flow
    lam (1 - p_{c+K}) gives the mean sojourn.
    """
    a = lam / mu
    weights = [1.0]
    for n in range(1, servers + waiting + 1):
        weights.append(weights[-1] * a / min(n, servers))
    p = np.array(weights) / math.fsum(weights)
    blocking = float(p[-1])
    in_system = float(np.dot(np.arange(p.size), p))
    return blocking, in_system / (lam * (1.0 - blocking))


def test_one_worker_is_mm1_mean_and_p99() -> None:
    rng = np.random.default_rng(11)
    lam, mu, n = 800.0, 1000.0, 1_000_000
    arrival = poisson_stream(rng, lam, n)
    served = serve_fifo(arrival, rng.exponential(1 / mu, n))
    sojourn = (served.departure - arrival)[n // 20:]  # the first 5 % are the warm-up from empty
    assert_mean_near(sojourn, theory.mm1_mean_sojourn(lam, mu))
    p99s = np.array([np.percentile(b, 99) for b in np.array_split(sojourn, 25)])
    expected = theory.mm1_sojourn_quantile(lam, mu, 0.99)
    se = p99s.std(ddof=1) / math.sqrt(p99s.size)
    assert abs(p99s.mean() - expected) <= 4 * se + 0.01 * expected


@pytest.mark.parametrize("servers", [2, 4])
def test_c_workers_are_mmc(servers: int) -> None:
    rng = np.random.default_rng(12)
    mu, n = 1000.0, 1_000_000
    lam = 0.85 * servers * mu
    arrival = poisson_stream(rng, lam, n)
    served = serve_fifo(arrival, rng.exponential(1 / mu, n), workers=servers)
    assert_mean_near((served.departure - arrival)[n // 20:], theory.mmc_mean_sojourn(lam, mu, servers))


@pytest.mark.parametrize(("servers", "waiting", "load"), [(1, 0, 0.7), (1, 5, 0.9), (3, 4, 1.1), (4, 0, 0.8)])
def test_queue_limit_is_mmck(servers: int, waiting: int, load: float) -> None:
    """Blocking probability and accepted requests' mean sojourn of M/M/c/K, overloaded or not."""
    rng = np.random.default_rng(13)
    mu, n = 1000.0, 1_000_000
    lam = load * servers * mu
    arrival = poisson_stream(rng, lam, n)
    served = serve_fifo(arrival, rng.exponential(1 / mu, n), workers=servers, queue_limit=waiting)
    blocking, sojourn = mmck(lam, mu, servers, waiting)
    warm = slice(n // 20, None)
    assert_mean_near(served.rejected[warm].astype(float), blocking)
    ok = ~served.rejected[warm]
    assert_mean_near((served.departure - arrival)[warm][ok], sojourn)


def test_constant_service_is_md1() -> None:
    """Pollaczek–Khinchine: M/D/1 waits rho S / (2 (1 - rho)), half of M/M/1's."""
    rng = np.random.default_rng(14)
    s, rho, n = 0.001, 0.8, 1_000_000
    arrival = poisson_stream(rng, rho / s, n)
    served = serve_fifo(arrival, np.full(n, s))
    assert_mean_near((served.departure - arrival)[n // 20:], s + rho * s / (2 * (1 - rho)))


def test_random_choice_over_pods_in_blocks_is_independent_mm1() -> None:
    """Ten pods behind a uniform random choice, served in blocks: each pod is an M/M/1 queue."""
    rng = np.random.default_rng(15)
    pods, mu, rho, n, block = 10, 1000.0, 0.8, 1_000_000, 100_000
    arrival = poisson_stream(rng, rho * mu * pods, n)
    pod = rng.integers(0, pods, n)
    service = rng.exponential(1 / mu, n)
    state = QueueState.idle(1, 1000, pods=pods)
    sojourn = np.empty(n)
    for lo in range(0, n, block):
        served, state = serve_block(state, pod[lo:lo + block], arrival[lo:lo + block], service[lo:lo + block])
        assert not served.rejected.any()
        sojourn[lo:lo + block] = served.departure - arrival[lo:lo + block]
    expected = theory.mm1_mean_sojourn(rho * mu, mu)
    for p in (0, pods - 1):
        assert_mean_near(sojourn[pod == p][n // pods // 20:], expected)

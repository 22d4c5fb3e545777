r"""Pods' FIFO queues computed by recursions over their arrivals, a block at a time.

The model is the event engine's pod (:mod:`netsim.model.pod`): ``c`` identical
workers in front of a FIFO waiting room that holds at most ``K``
(``queue_limit``) waiting requests. A request that finds a free worker starts
at once; otherwise it waits, unless ``K`` requests already wait, in which case it
is rejected at once (``Outcome.REJECTED``) and leaves no trace in the pod. Service is
non-preemptive and a request keeps its worker until it is done. Given the
arrival times :math:`A_1 \le A_2 \le \dots` at one pod and the service times
:math:`S_n`, the start and departure times follow from three recursions.

**One worker: Lindley (1952).** Request *n* starts when it arrives or when
request *n-1* leaves, whichever is later:

.. math:: D_n = \max(A_n, D_{n-1}) + S_n, \qquad D_0 = \text{when the worker is next free}.

Writing :math:`C_n = S_1 + \dots + S_n` (:math:`C_0 = 0`) and unrolling
(induction: substitute :math:`D_{n-1} = C_{n-1} + M_{n-1}`) gives the
cumulative-maximum form

.. math:: D_n = C_n + M_n, \qquad M_n = \max\big(D_0,\ \max_{k \le n}(A_k - C_{k-1})\big),

a cumulative sum and a running maximum: two numpy passes
(``np.cumsum``, ``np.maximum.accumulate``) with no Python loop. Many pods go
through one pass: arrivals are grouped by pod (a stable sort keeps each pod's
time order) and the running maximum restarts at each pod's first arrival
because it runs over complex numbers ``pod + 1j * x``, which numpy orders
lexicographically. It assumes FIFO and one worker, and nothing about the
distributions. The sums are grouped differently from the step-by-step
recursion, so departures agree with it to rounding (tens of ulps of the
block's largest time; the tests allow 64), not bit for bit.

**c workers: Kiefer and Wolfowitz (1955).** Keep the times at which the
workers are next free, :math:`V = (V_{(1)} \le \dots \le V_{(c)})` after
requests 1..n-1 have been placed. Because workers are identical and requests
start in arrival order, request *n* takes the worker that frees first:

.. math:: B_n = \max(A_n, V_{(1)}), \quad D_n = B_n + S_n, \quad
          V \leftarrow \operatorname{sort}(D_n, V_{(2)}, \dots, V_{(c)}).

This is the Kiefer–Wolfowitz workload vector (usually written for waiting
times, :math:`W_{n+1} = R(W_n + S_n e_1 - T_n \mathbf 1)^+`, with R sorting
and :math:`T_n = A_{n+1} - A_n`)
kept as absolute free times, so every departure is ``start + service``, the same
floating-point sum the event engine makes. It is exact for FIFO with identical
workers whatever the distributions: the event engine's pod hands a freed worker
to the head of the queue at once, i.e. the head starts at :math:`V_{(1)}`.
:math:`V` is a binary min-heap, O(log c) per request, in a numba-compiled loop.

**Queue limit.** Request *n* is rejected iff every worker is busy
(:math:`V_{(1)} > A_n`) and *K* requests wait, where a request waits at time *t*
iff it was accepted and starts after *t*. Start times are non-decreasing in
acceptance order (:math:`V_{(1)}` never decreases and neither do the
arrivals), so the requests waiting at :math:`A_n` are the last ones accepted: a
FIFO of start times whose front is popped while it is :math:`\le A_n`. The
pointer only moves forward, O(1) amortised per request. A rejected request
changes nothing (it never takes a worker), so the recursions simply skip it.
With one worker, the Lindley result is kept when no arrival would have met K
waiting (an exact test: arrival *n* meets K waiting iff the request accepted K
places before it has not started by :math:`A_n`; for K = 0, iff arrival *n*
itself would wait); otherwise the block goes through the loop.

**Ties.** An arrival at the very instant a worker frees is served by that worker,
and a request that starts at that instant no longer counts as waiting:
departures come before arrivals at equal times (the textbook convention, and
what Lindley's ``max`` does). Arrivals at equal times are served in array
order. The event engine orders events at equal times by when they were
scheduled, which is no rule of the times alone: a client schedules its next
arrival when the previous one happens, before that request's departure is
scheduled, so with arrivals every second, 1 s of service, one worker and no
waiting room, today's event-engine pod rejects every other request where the
kernel rejects none. With netsim's Poisson arrivals an arrival meets a
departure with probability 0 (departure times are arrival times plus sums of
service times, continuous even when service is constant), so the two agree
request for request (tests/test_fast_queues_vs_pod.py); the convention only
matters for deterministic inputs, like the tests'.

**Service times** are inputs in arrival order: ``service[i]`` is what arrival
*i* needs if it is accepted, and is unused if it is rejected. The event engine
draws a pod's service time when the request starts; starts happen in FIFO order
of accepted requests, so its *k*-th draw goes to the *k*-th accepted request.
The two agree draw for draw when the kernel's accepted requests are given the
pod's draws in order (``service[~rejected]`` = the draws; true of any input
when nothing is rejected), and always in law, because whether a request is rejected does not
depend on its own service time: the accepted requests' service times are i.i.d.
either way.

**Blocks.** The state between blocks (:class:`QueueState`) is what the
recursions carry: each pod's worker free times, the start times of its
requests still waiting after its last arrival (at most ``queue_limit`` of them,
or the queue's length when unbounded) and its last arrival time. Memory is
therefore bounded by pods + workers + queue lengths, whatever the number of
requests. Each pod's arrivals must continue in time order from block to block;
arrival times within a block may interleave across pods.

Client timeouts do not enter: the event engine's pod serves a request whose
client has given up, and the client records TIMEOUT when the answer comes, so a
timeout is applied to ``departure - issue time`` afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from netsim.fast import _fifo_loop

UNBOUNDED = np.iinfo(np.int64).max
"""A queue limit that never binds."""


@dataclass(frozen=True)
class QueueState:
    """Where every pod's queue stands between two blocks of arrivals.

    Per-pod variable-length data is stored flat with offsets (CSR): pod ``p``'s
    part of ``free_at`` is ``free_at[worker_offsets[p]:worker_offsets[p+1]]``.
    Functions return a new state and never change the one they are given, so a
    block can be served again from the same state.

    Attributes:
        workers: workers (``concurrency``) per pod, int64, shape (pods,).
        queue_limit: waiting places per pod (``UNBOUNDED`` for none), int64, shape (pods,).
        worker_offsets: CSR offsets into ``free_at``, shape (pods + 1,).
        free_at: each pod's workers' next-free times, a binary min-heap per pod
            (its first entry is the earliest); ``-inf`` for a worker never used.
        waiting_offsets: CSR offsets into ``waiting_starts``, shape (pods + 1,).
        waiting_starts: per pod, ascending start times of the accepted requests
            that were still waiting just after the pod's last arrival.
        last_arrival: each pod's last arrival time (``-inf`` before any);
            the next block's arrivals at the pod must not come before it.
    """

    workers: np.ndarray
    queue_limit: np.ndarray
    worker_offsets: np.ndarray
    free_at: np.ndarray
    waiting_offsets: np.ndarray
    waiting_starts: np.ndarray
    last_arrival: np.ndarray

    @classmethod
    def idle(cls, workers: np.ndarray | list[int] | int, queue_limit: np.ndarray | list[int] | int, pods: int | None = None) -> QueueState:
        """Empty pods: every worker free, nobody waiting.

        ``workers`` and ``queue_limit`` are per pod, or one value for all
        ``pods``. Any limit at least the number of requests a pod can receive is
        unbounded in effect; ``UNBOUNDED`` says so explicitly.
        """
        w = np.asarray(workers, dtype=np.int64)
        k = np.asarray(queue_limit, dtype=np.int64)
        if pods is None:
            pods = max(w.size if w.ndim else 1, k.size if k.ndim else 1)
        w = np.broadcast_to(w, (pods,)).copy()
        k = np.broadcast_to(k, (pods,)).copy()
        if (w < 1).any():
            raise ValueError("every pod needs at least one worker")
        if (k < 0).any():
            raise ValueError("a queue limit cannot be negative")
        offsets = np.zeros(pods + 1, np.int64)
        np.cumsum(w, out=offsets[1:])
        return cls(
            workers=w,
            queue_limit=k,
            worker_offsets=offsets,
            free_at=np.full(int(offsets[-1]), -np.inf),
            waiting_offsets=np.zeros(pods + 1, np.int64),
            waiting_starts=np.empty(0),
            last_arrival=np.full(pods, -np.inf),
        )

    @property
    def pods(self) -> int:
        return self.workers.size

    def waiting(self) -> np.ndarray:
        """How many requests were waiting at each pod just after its last arrival."""
        return np.diff(self.waiting_offsets)


class Served(NamedTuple):
    """What happened to each arrival, in the order the arrivals were given.

    ``start`` and ``departure`` are NaN where ``rejected`` is True.
    """

    start: np.ndarray
    departure: np.ndarray
    rejected: np.ndarray


def serve_block(state: QueueState, pod: np.ndarray, arrival: np.ndarray, service: np.ndarray) -> tuple[Served, QueueState]:
    """Serve one block of arrivals at many pods at once; returns what happened and the next state.

    ``pod[i]`` is the pod arrival ``i`` reaches at time ``arrival[i]`` needing
    ``service[i]`` seconds. Arrivals at the same pod must be in time order
    (equal times are served in array order), and not before the pod's
    ``state.last_arrival``. The Python overhead is per block: pods are grouped
    by one stable sort and served by one vectorised pass (one worker, the limit
    never reached) or one compiled loop.
    """
    pod = np.asarray(pod)
    arrival = np.asarray(arrival, dtype=np.float64)
    service = np.asarray(service, dtype=np.float64)
    n = arrival.size
    if pod.shape != (n,) or service.shape != (n,):
        raise ValueError("pod, arrival and service must be 1-D arrays of the same length")
    if n == 0:
        return Served(np.empty(0), np.empty(0), np.zeros(0, bool)), state
    if int(pod.min()) < 0 or int(pod.max()) >= state.pods:
        raise ValueError(f"pod indexes must lie in [0, {state.pods})")
    order = group_by_pod(pod, state.pods)
    seg = np.zeros(state.pods + 1, np.int64)
    np.cumsum(np.bincount(pod, minlength=state.pods), out=seg[1:])
    grouped, new_state = serve_grouped(state, seg, arrival[order], service[order])
    start = np.empty(n)
    departure = np.empty(n)
    rejected = np.empty(n, bool)
    start[order] = grouped.start
    departure[order] = grouped.departure
    rejected[order] = grouped.rejected
    return Served(start, departure, rejected), new_state


def serve_grouped(state: QueueState, seg: np.ndarray, arrival: np.ndarray, service: np.ndarray) -> tuple[Served, QueueState]:
    """:func:`serve_block` for arrivals already grouped by pod: pod ``p``'s are ``arrival[seg[p]:seg[p+1]]``.

    Saves the grouping sort and putting the results back in order, for a caller
    that produces arrivals pod by pod. Results come in the same grouped order.
    """
    arrival = np.asarray(arrival, dtype=np.float64)
    service = np.asarray(service, dtype=np.float64)
    seg = np.asarray(seg, dtype=np.int64)
    if seg.shape != (state.pods + 1,) or seg[0] != 0 or seg[-1] != arrival.size or (np.diff(seg) < 0).any():
        raise ValueError(f"seg must be {state.pods + 1} non-decreasing offsets from 0 to the number of arrivals")
    if service.shape != arrival.shape:
        raise ValueError("arrival and service must have the same length")
    if arrival.size == 0:
        return Served(np.empty(0), np.empty(0), np.zeros(0, bool)), state
    result = _lindley(state, seg, arrival, service) if (state.workers == 1).all() else None
    if result is None:
        result = _loop(state, seg, arrival, service)
    return Served(*result[0]), result[1]


def serve_fifo(arrival: np.ndarray, service: np.ndarray, workers: int = 1, queue_limit: int = UNBOUNDED) -> Served:
    """One pod: ``workers`` workers, FIFO, at most ``queue_limit`` waiting; ``arrival`` sorted."""
    arrival = np.asarray(arrival, dtype=np.float64)
    served, _ = serve_block(QueueState.idle(workers, queue_limit, pods=1), np.zeros(arrival.size, np.intp), arrival, service)
    return served


def group_by_pod(pod: np.ndarray, pods: int) -> np.ndarray:
    """The stable order that groups arrivals by pod (each pod's arrivals keep their order).

    numpy sorts 16-bit keys by radix sort, in linear time, five times faster than
    its merge sort of int64 keys; more than 65,536 pods take two radix passes
    (low 16 bits, then high), which is still a stable sort on the whole key.
    """
    if pods <= 1 << 16:
        return np.argsort(pod.astype(np.uint16), kind="stable")
    low = np.argsort((pod & 0xFFFF).astype(np.uint16), kind="stable")
    return low[np.argsort((pod[low] >> 16).astype(np.uint16), kind="stable")]


_Result = tuple[tuple[np.ndarray, np.ndarray, np.ndarray], QueueState]


def _lindley(state: QueueState, seg: np.ndarray, a: np.ndarray, s: np.ndarray) -> _Result | None:
    """One worker per pod by the cumulative-maximum form; None if a queue limit would be reached."""
    n = a.size
    counts = np.diff(seg)
    used = np.flatnonzero(counts)
    first = seg[used]
    last = seg[used + 1] - 1
    pod_of = np.repeat(np.arange(state.pods), counts)
    _check_time_order(a, first, state.last_arrival[used], used)
    cum = np.cumsum(s)  # C_n
    x = np.empty(n)  # A_n - C_{n-1}
    x[0] = a[0]
    np.subtract(a[1:], cum[:-1], out=x[1:])
    free = state.free_at[used]  # one worker: its heap is its free time
    before_first = np.where(first > 0, cum[first - 1], 0.0)  # C_{L-1} at each pod's first arrival L
    x[first] = np.maximum(x[first], free - before_first)  # D_0 enters the maximum at each pod's start
    key = np.empty(n, np.complex128)  # (pod, x) in lexicographic order: the running maximum restarts per pod
    key.real = pod_of
    key.imag = x
    np.maximum.accumulate(key, out=key)
    departure = np.add(key.imag, cum, out=cum)  # D_n = C_n + M_n
    del key
    start = np.empty(n)
    start[1:] = departure[:-1]
    start[first] = free
    np.maximum(start, a, out=start)
    if _limit_reached(state, seg, used, pod_of, a, start):
        return None
    new_free = state.free_at.copy()
    new_free[used] = departure[last]
    last_arrival = state.last_arrival.copy()
    last_arrival[used] = a[last]
    waiting_offsets, waiting_starts = _still_waiting(state, used, last_arrival, pod_of, start)
    new_state = QueueState(
        state.workers, state.queue_limit, state.worker_offsets, new_free, waiting_offsets, waiting_starts, last_arrival
    )
    return (start, departure, np.zeros(n, bool)), new_state


def _limit_reached(state: QueueState, seg: np.ndarray, used: np.ndarray, pod_of: np.ndarray, a: np.ndarray, start: np.ndarray) -> bool:
    """Would an arrival of this rejection-free one-worker trajectory meet ``queue_limit`` waiting?

    Arrival i meets K waiting iff the request accepted K places before it (in
    the pod's FIFO, carried waiting room included) has not started by ``a[i]``
    (starts are non-decreasing). With K = 0 that request is arrival i itself:
    it is rejected iff it would have to wait. Until the first such arrival the
    trajectory is the true one, so if there is none it is exact.
    """
    n = a.size
    counts = np.diff(seg)[used]
    carried = np.diff(state.waiting_offsets)[used]
    limits = np.minimum(state.queue_limit[used], counts + carried)  # a limit this high cannot bind (nor overflow)
    binding = limits < counts + carried
    if not binding.any():
        return False
    distinct = np.unique(limits[binding])
    limit_of = state.queue_limit[pod_of] if distinct.size > 1 else None
    for k in distinct.tolist():
        if k < n:  # arrival i against the request k places ahead in the block, same pod
            meets = (start[: n - k] > a[k:]) & (pod_of[: n - k] == pod_of[k:])
            if limit_of is not None:
                meets &= limit_of[k:] == k
            if meets.any():
                return True
    # the request k places ahead is in the carried waiting room: arrivals i in [lo + k - m, lo + k)
    lo = seg[used]
    first_i = np.maximum(lo, lo + limits - carried)
    end_i = np.minimum(lo + counts, lo + limits)
    span = np.where((limits > 0) & (carried > 0), np.maximum(end_i - first_i, 0), 0)
    if not span.any():
        return False
    owner = np.repeat(np.arange(used.size), span)
    i = np.repeat(first_i - np.cumsum(span) + span, span) + np.arange(owner.size)
    where = state.waiting_offsets[used[owner] + 1] + (i - limits[owner] - lo[owner])
    return bool((state.waiting_starts[where] > a[i]).any())


def _still_waiting(
    state: QueueState, used: np.ndarray, last_arrival: np.ndarray, pod_of: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The carried waiting rooms after a block where nothing was rejected (CSR offsets, starts).

    A pod's waiting requests are those accepted (carried or in the block) that
    start after its last arrival; pods without arrivals keep theirs.
    """
    carried_pod = np.repeat(np.arange(state.pods), np.diff(state.waiting_offsets))
    keep_carried = state.waiting_starts > last_arrival[carried_pod]
    keep_block = start > last_arrival[pod_of]
    if not keep_carried.any() and not keep_block.any():
        return np.zeros(state.pods + 1, np.int64), np.empty(0)
    pods = np.concatenate([carried_pod[keep_carried], pod_of[keep_block]])
    starts = np.concatenate([state.waiting_starts[keep_carried], start[keep_block]])
    order = np.argsort(pods, kind="stable")  # carried first, then the block's, per pod: still ascending
    offsets = np.zeros(state.pods + 1, np.int64)
    np.cumsum(np.bincount(pods, minlength=state.pods), out=offsets[1:])
    return offsets, starts[order]


def _loop(state: QueueState, seg: np.ndarray, a: np.ndarray, s: np.ndarray) -> _Result:
    """Any workers and limits: the compiled loop (Kiefer–Wolfowitz heap, FIFO of waiting starts)."""
    n = a.size
    free = state.free_at.copy()
    last_arrival = state.last_arrival.copy()
    start = np.empty(n)
    departure = np.empty(n)
    rejected = np.empty(n, bool)
    kernel = _fifo_loop.kernel_for(n)
    waiting_starts, waiting_offsets, error = kernel(
        a, s, seg, last_arrival, state.worker_offsets, free, state.queue_limit,
        state.waiting_starts, state.waiting_offsets, start, departure, rejected,
    )
    if error:
        counts = np.diff(seg)
        used = np.flatnonzero(counts)
        _check_time_order(a, seg[used], state.last_arrival[used], used)
    new_state = QueueState(
        state.workers, state.queue_limit, state.worker_offsets, free, waiting_offsets, waiting_starts, last_arrival
    )
    return (start, departure, rejected), new_state


def _check_time_order(a: np.ndarray, first: np.ndarray, previous: np.ndarray, used: np.ndarray) -> None:
    """Each pod's arrivals must not go back in time, within the block or from the last block."""
    early = a[first] < previous
    if early.any():
        p = int(used[np.argmax(early)])
        raise ValueError(f"pod {p}: arrivals go back in time from the previous block; serve blocks in time order")
    back = np.flatnonzero(np.diff(a) < 0)
    if back.size:
        starts = np.zeros(a.size, bool)
        starts[first] = True
        back = back[~starts[back + 1]]  # a drop from one pod's last arrival to the next pod's first is fine
        if back.size:
            p = int(used[np.searchsorted(first, back[0], side="right") - 1])
            raise ValueError(f"pod {p}: arrivals must be in time order")

"""The general c-worker FIFO kernel: one loop over each pod's arrivals, compiled by numba.

The loop is written once, in the subset of Python that numba compiles, and is
compiled on first use (``numba.njit(cache=True)``, so later processes load it
from ``__pycache__`` instead of compiling). Measured on the 2-core dev machine:
compiling costs ~4 s once; afterwards importing numba and loading the cached
kernel costs ~0.8-1.5 s per process, most of it numba's own start-up (its
registries import scipy.linalg), which is why one-worker pods avoid the loop
when they can (:mod:`netsim.fast.queues`). Without numba the very same function
runs in CPython, after a warning, some 20-50 times slower (~0.4 M requests/s).
The recursion it computes, and why it is exact, is in :mod:`netsim.fast.queues`.

Small runs do not load numba at all (:func:`kernel_for`): the same function runs
in CPython over Python lists (~1 µs an arrival), until a process has served
:data:`PYTHON_BUDGET` arrivals that way. Both compute the same IEEE double sums
and comparisons in the same order, so the numbers are identical bit for bit
(tests/test_fast_queues.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

_compiled: dict[str, Callable[..., Any]] = {}
_served_in_python = [0]
"""Arrivals this process has served through :func:`serve_in_python` (a per-process tally, like ``_compiled``)."""

PYTHON_BUDGET = 500_000
"""Arrivals a process serves in plain Python before it loads numba for good.

Loading numba and its cached kernel costs ~0.7 s of CPU per process (measured on
the 2-core dev machine: numba's import pulls in llvmlite and scipy.linalg; then the
cache lookup); the loop costs ~1.1 µs an arrival over Python lists and ~0.03 µs
compiled. Not knowing how many arrivals a process will serve, this is the ski-rental
rule: pay the small price per arrival until it adds up to about the large one
(0.7 s / 1.1 µs ≈ 600k; a little below), then pay that. A one-second run (thousands
of arrivals) never loads numba; a long run pays at most ~0.5 s more than if it had
loaded numba at once, and never more than twice the better choice in hindsight.
"""


def serve_segments(
    arrival: np.ndarray,
    service: np.ndarray,
    seg: np.ndarray,
    last_arrival: np.ndarray,
    worker_seg: np.ndarray,
    free: np.ndarray,
    limit: np.ndarray,
    wait: np.ndarray,
    wait_seg: np.ndarray,
    start: np.ndarray,
    departure: np.ndarray,
    rejected: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Serve every pod's arrivals; returns the new waiting room (starts, offsets) and an error code.

    Pod ``p``'s arrivals are ``arrival[seg[p]:seg[p+1]]`` (in time order, not
    before ``last_arrival[p]``); its workers' free times are the binary min-heap
    ``free[worker_seg[p]:worker_seg[p+1]]`` (updated in place); the start times
    of its requests still waiting are ``wait[wait_seg[p]:wait_seg[p+1]]``
    (ascending). ``start``, ``departure`` and ``rejected`` are written for
    every arrival (NaN times for a rejected one). ``last_arrival`` is updated
    in place. The error code is 0, or 1 when a pod's arrivals go back in time
    (the caller raises: numba's exceptions cannot carry the pod).
    """
    pods = len(seg) - 1
    keep_carried = np.empty(pods, np.int64)  # first carried waiting start still waiting at the end
    keep_block = np.empty(pods, np.int64)  # first arrival of the block the FIFO pointer stopped at
    waiting_at_end = np.empty(pods, np.int64)
    for p in range(pods):
        lo = seg[p]
        hi = seg[p + 1]
        q = wait_seg[p]
        q_end = wait_seg[p + 1]
        waiting = q_end - q  # accepted requests not yet started (the FIFO's length)
        j = lo  # the FIFO's front once the carried part is used up: the oldest accepted arrival not popped
        if lo == hi:
            keep_carried[p] = q
            keep_block[p] = hi
            waiting_at_end[p] = waiting
            continue
        w0 = worker_seg[p]
        c = worker_seg[p + 1] - w0
        cap = limit[p]
        previous = last_arrival[p]
        for i in range(lo, hi):
            t = arrival[i]
            if t < previous:
                return wait[:0].copy(), wait_seg.copy(), 1
            previous = t
            # Requests that have started by t leave the waiting room (departures before arrivals at t).
            while waiting > 0:
                if q < q_end:
                    if wait[q] > t:
                        break
                    q += 1
                else:
                    while rejected[j]:
                        j += 1
                    if start[j] > t:
                        break
                    j += 1
                waiting -= 1
            earliest = free[w0]
            if earliest <= t:
                begin = t
            elif waiting < cap:
                begin = earliest
            else:
                rejected[i] = True
                start[i] = np.nan
                departure[i] = np.nan
                continue
            rejected[i] = False
            start[i] = begin
            done = begin + service[i]
            departure[i] = done
            waiting += 1  # in the FIFO until the next arrival at or after its start pops it
            # heapreplace: the worker that was free earliest is now free at `done`
            pos = 0
            while True:
                child = 2 * pos + 1
                if child >= c:
                    break
                if child + 1 < c and free[w0 + child + 1] < free[w0 + child]:
                    child += 1
                if free[w0 + child] >= done:
                    break
                free[w0 + pos] = free[w0 + child]
                pos = child
            free[w0 + pos] = done
        last_arrival[p] = previous
        # What still waits just after the pod's last arrival: pop what has started by then.
        while waiting > 0:
            if q < q_end:
                if wait[q] > previous:
                    break
                q += 1
            else:
                while rejected[j]:
                    j += 1
                if start[j] > previous:
                    break
                j += 1
            waiting -= 1
        keep_carried[p] = q
        keep_block[p] = j
        waiting_at_end[p] = waiting
    new_seg = np.empty(pods + 1, np.int64)
    new_seg[0] = 0
    for p in range(pods):
        new_seg[p + 1] = new_seg[p] + waiting_at_end[p]
    new_wait = np.empty(new_seg[pods], np.float64)
    for p in range(pods):
        out = new_seg[p]
        for q in range(keep_carried[p], wait_seg[p + 1]):
            new_wait[out] = wait[q]
            out += 1
        for i in range(keep_block[p], seg[p + 1]):
            if not rejected[i]:
                new_wait[out] = start[i]
                out += 1
    return new_wait, new_seg, 0


def kernel_for(arrivals: int) -> Callable[..., Any]:
    """The kernel to serve a block of ``arrivals``: plain Python while within :data:`PYTHON_BUDGET`, else numba's."""
    if "serve_segments" not in _compiled and _served_in_python[0] + arrivals <= PYTHON_BUDGET:
        _served_in_python[0] += arrivals
        return serve_in_python
    return compiled()


def serve_in_python(
    arrival: np.ndarray, service: np.ndarray, seg: np.ndarray, last_arrival: np.ndarray, worker_seg: np.ndarray,
    free: np.ndarray, limit: np.ndarray, wait: np.ndarray, wait_seg: np.ndarray, start: np.ndarray,
    departure: np.ndarray, rejected: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`serve_segments` run by CPython over lists (indexing a list is ~3x faster than a numpy array's items).

    Same arguments and results; the arrays it updates in place (``last_arrival``,
    ``free``, ``start``, ``departure``, ``rejected``) are written back at the end.
    Python floats are IEEE doubles, so every sum and comparison is the compiled one's.
    """
    args = [a.tolist() for a in (arrival, service, seg, last_arrival, worker_seg, free, limit, wait, wait_seg,
                                 start, departure, rejected)]
    new_wait, new_seg, error = serve_segments(*args)
    for array, values in zip((last_arrival, free, start, departure, rejected), (args[3], args[5], args[9], args[10], args[11]),
                             strict=True):
        array[:] = values
    return np.asarray(new_wait, dtype=np.float64), np.asarray(new_seg, dtype=np.int64), error


def compiled() -> Callable[..., Any]:
    """``serve_segments`` compiled by numba (cached on disk), or as plain Python with a warning."""
    kernel = _compiled.get("serve_segments")
    if kernel is None:
        try:
            import numba
        except ImportError:
            warnings.warn(
                "numba is not installed: netsim's fast queue kernel runs as plain Python, "
                "some 20-50x slower; install it with `pip install numba`",
                RuntimeWarning,
                stacklevel=3,
            )
            kernel = serve_segments
        else:
            kernel = numba.njit(cache=True, nogil=True)(serve_segments)
        _compiled["serve_segments"] = kernel
    return kernel

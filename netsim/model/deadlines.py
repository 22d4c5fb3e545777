"""When senders give up: the deadlines of the tries in flight on one route, with one timer.

Every try has a deadline (its sender's per-try timeout, cut to what remains of
the caller's own deadline for a call made while serving another request). A
try that has no answer by then ends as a timeout, whatever happens to it later:
the pod may still be working on it, its packets may have been dropped, its pod
may hang. A timer per try would cost an event per request; most tries end long
before their deadline, so a route keeps its tries in deadline order and one
timer, armed for the earliest deadline still outstanding. A client's first
tries arrive in deadline order (same timeout, increasing start times) and go to
a FIFO (:attr:`Deadlines.pending`, which the route appends to itself on its hot
path); a try whose deadline is earlier than the FIFO's tail (a retry's share, a
cut deadline) goes to a heap. Ended tries are dropped when the timer passes
them, and the FIFO is compacted when it grows past twice what is outstanding,
so memory follows the tries in flight, not the request rate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush
from itertools import count
from math import inf

from netsim.model.events import Environment, Wakeup
from netsim.model.request import Request

COMPACT_AT = 4096
"""The FIFO is compacted when it holds more than this (or twice what was outstanding at the last compaction)."""


class Deadlines:
    """The tries in flight on one route; ``expire(request)`` is called for each whose deadline passes first."""

    __slots__ = ("_env", "_expire", "pending", "_heap", "_order", "timer_at", "_generation", "compact_at")

    def __init__(self, env: Environment, expire: Callable[[Request], None]) -> None:
        self._env = env
        self._expire = expire
        self.pending: deque[Request] = deque()
        """Tries in nondecreasing deadline order (ended ones included until dropped)."""
        self._heap: list[tuple[float, int, Request]] = []
        self._order = count()
        self.timer_at = inf
        """When the timer fires next (inf: none armed)."""
        self._generation = 0
        self.compact_at = COMPACT_AT

    def watch(self, request: Request) -> None:
        """Start watching a try whose deadline may come before the FIFO's tail."""
        pending = self.pending
        deadline = request.deadline
        if not pending or deadline >= pending[-1].deadline:
            pending.append(request)
        else:
            heappush(self._heap, (deadline, next(self._order), request))
        self.maintain(deadline)

    def maintain(self, deadline: float) -> None:
        """After an append: arm the timer for an earlier deadline, and compact a FIFO that has grown."""
        if deadline < self.timer_at:
            self._arm(deadline)
        pending = self.pending
        if len(pending) > self.compact_at:
            keep = [r for r in pending if not r.ended]
            pending.clear()
            pending.extend(keep)
            self.compact_at = max(COMPACT_AT, 2 * len(keep))

    def _arm(self, at: float) -> None:
        self.timer_at = at
        self._generation += 1
        self._env.push(at, Wakeup(self._env, self._fire, self._generation))

    def _fire(self, generation: int) -> None:
        if generation != self._generation:
            return  # an earlier deadline re-armed the timer since
        now = self._env.time
        self.timer_at = inf
        fifo, heap = self.pending, self._heap
        while fifo and (fifo[0].ended or fifo[0].deadline <= now):
            request = fifo.popleft()
            if not request.ended:
                self._expire(request)
        while heap and (heap[0][2].ended or heap[0][0] <= now):
            request = heappop(heap)[2]
            if not request.ended:
                self._expire(request)
        upcoming = min(fifo[0].deadline if fifo else inf, heap[0][0] if heap else inf)
        if upcoming < inf:
            self._arm(upcoming)

"""Cluster DNS for the fast engine: each sender slot's resolver cache over a block of requests.

The model is model/dns.py's: a slot's first request, and its first after the
cached answer expires, sends a lookup (``answer_time`` from CoreDNS) and waits
for it; requests that come while it is in flight wait for the same answer;
requests within ``cache_ttl`` of the answer cost nothing. Lookups are rare (one
per slot per TTL), so they are found one at a time, in time order over every
slot of every route, and draw their latencies from the CoreDNS object of the
event engine's own build: the same draws in the same order as the event engine.
The waits of all other requests follow with one search per slot.
"""

from __future__ import annotations

import bisect
import heapq
from typing import Any

import numpy as np

from netsim.fast.queues import group_by_pod


class SlotCaches:
    """Every route's resolver caches: per (route, slot), when its answer arrives and when it expires."""

    def __init__(self, dns: Any, routes: list[tuple[int, int, int, bool] | None]) -> None:
        """``routes[c]``: (slots, steps, queries, upstream) of client ``c``'s lookups, or None when it does not ask DNS."""
        self._dns = dns
        self._routes = routes
        self._base = np.zeros(len(routes) + 1, dtype=np.int64)
        np.cumsum([r[0] if r is not None else 0 for r in routes], out=self._base[1:])
        self.answer_at = np.full(int(self._base[-1]), -1.0)
        self.expires = np.full(int(self._base[-1]), -1.0)

    def wait(self, client: np.ndarray, slot: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For requests issued at ``t`` (ascending) from ``slot`` of ``client``: (seconds waited for DNS, queries sent)."""
        n = t.size
        wait = np.zeros(n)
        queries = np.zeros(n, dtype=np.int64)
        asks = np.array([r is not None for r in self._routes], dtype=bool)
        if not asks.any() or n == 0:
            return wait, queries
        mine = np.flatnonzero(asks[client])
        if mine.size == 0:
            return wait, queries
        key = self._base[client[mine]] + slot[mine]
        order = group_by_pod(key, int(self._base[-1]))  # a stable (radix) sort: each cache's requests in time order
        rows = mine[order]  # grouped by cache, each group in time order
        keys = key[order]
        cuts = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [keys.size]])
        groups = [(int(keys[a]), rows[a:b]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        # Python lists in the loop below: one lookup per request when nothing caches (the default), and a list
        # index or a bisect costs a fraction of numpy's per-item call; the floats and their order are the same.
        times = [t[r].tolist() for _, r in groups]  # each cache's request times, gathered once (not per lookup)
        senders = [client[r].tolist() for _, r in groups]
        expires = [float(self.expires[k]) for k, _ in groups]
        answers = [float(self.answer_at[k]) for k, _ in groups]
        # the lookups, in time order over every cache (CoreDNS's latency stream is shared)
        lookups: list[list[tuple[float, float]]] = [[(-np.inf, answers[g])] for g in range(len(groups))]
        heap: list[tuple[float, int, int]] = []
        for g, (_, r) in enumerate(groups):
            first = bisect.bisect_left(times[g], expires[g])
            if first < r.size:
                heap.append((times[g][first], g, first))
        heapq.heapify(heap)
        asked: list[tuple[int, int, int]] = []
        routes, dns, ttl = self._routes, self._dns, self._dns.ttl
        while heap:
            now, g, i = heapq.heappop(heap)
            _, steps, count, upstream = routes[senders[g][i]]  # type: ignore[misc]
            delay = dns.answer_time(steps, upstream)
            dns.queries += count
            answers[g] = now + delay
            expires[g] = now + delay + ttl
            asked.append((g, i, count))
            lookups[g].append((now, now + delay))
            # the next request past this answer's life (never this one again: with no cache and an instant
            # answer the answer expires the moment it is asked)
            nxt = max(bisect.bisect_left(times[g], expires[g]), i + 1)
            if nxt < len(times[g]):
                heapq.heappush(heap, (times[g][nxt], g, nxt))
        for g, i, count in asked:
            queries[groups[g][1][i]] = count
        for g, (k, _) in enumerate(groups):
            if len(lookups[g]) > 1:
                self.answer_at[k] = answers[g]
                self.expires[k] = expires[g]
        for g, (_, r) in enumerate(groups):
            at = np.array([a for a, _ in lookups[g]])
            answer = np.array([b for _, b in lookups[g]])
            which = np.searchsorted(at, t[r], side="right") - 1  # the last lookup at or before each request
            wait[r] = np.maximum(answer[which] - t[r], 0.0)
        return wait, queries

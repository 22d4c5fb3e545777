"""The fast engine's random numbers: the event engine's streams, drawn as arrays.

Each stream here is the one the event engine's part draws from (same name in
:class:`~netsim.model.streams.Streams`, same blocks of 4,096, same order of
calls), so a fast run sees the same numbers where the order in which the event
engine consumes them is a property of the requests alone: a client's arrivals
and their sending slots (:class:`PoissonArrivals`), its operations, an external
client's entry nodes, a pod's service times (drawn as its requests arrive, the
event engine draws them as they start: the same while the pod rejects nothing),
a node's first-packet costs. The network's hop delays come from one stream that
the event engine draws from in event order; here they are drawn per locality
(:class:`HopDelays`): the same distribution, other draws, unless the hop's
latency is a constant (the usual configuration), when nothing is drawn at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from netsim.model.client import stepped_gaps

BLOCK = 4096
"""The event engine's block of draws (BlockSampler.BLOCK, Client.BLOCK, FirstPacketCost.BLOCK)."""


class BlockDraws:
    """Values of ``draw(size)`` calls handed out ``n`` at a time, in order (the leftover kept for the next take).

    The batch sizes are the event-engine twin's: ``first`` values, doubling up to ``most`` (a sampler
    that thousands of node × client pairs each hold starts small, as FirstPacketCost does), so both
    engines ask the random stream for the same batches.
    """

    __slots__ = ("_draw", "_rest", "_next", "_most")

    def __init__(self, draw: Callable[[int], np.ndarray], first: int = BLOCK, most: int = BLOCK) -> None:
        self._draw = draw
        self._rest = np.empty(0)
        self._next = first
        self._most = most

    def take(self, n: int) -> np.ndarray:
        rest = self._rest
        if n <= rest.size:
            self._rest = rest[n:]
            return rest[:n]
        parts, have = [rest], rest.size
        while have < n:
            size, self._next = self._next, min(self._next * 2, self._most)
            parts.append(np.asarray(self._draw(size), dtype=np.float64))
            have += size
        values = np.concatenate(parts)
        self._rest = values[n:]
        return values[:n]


def distribution_draws(dist: Any, rng: np.random.Generator) -> BlockDraws:
    """A BlockSampler's values as arrays (a constant draws nothing)."""
    if dist.distribution == "constant":
        value = dist.mean
        return BlockDraws(lambda n: np.full(n, value))
    return BlockDraws(lambda n: dist.sample(rng, n))


class PoissonArrivals:
    """An open-loop client's arrival times and sending slots, as its event-engine twin draws them.

    Per block of 4,096: the gaps (exponential, or :func:`stepped_gaps` from the
    time of the block's first draw), then one uniform per arrival for its slot.
    Arrival times are the running sum of the gaps from 0, added one at a time as
    the event engine adds them.
    """

    def __init__(self, rng: np.random.Generator, rate: float, steps: tuple[tuple[float, float], ...], slots: int,
                 stop: float) -> None:
        self._rng = rng
        self._rate = rate
        self._steps = steps
        self._slots = slots
        self._stop = stop
        self._last = 0.0
        """The time of the last arrival drawn (the event engine refills at it)."""
        self._times: list[np.ndarray] = []
        self._slot: list[np.ndarray] = []
        self.done = slots == 0

    def _refill(self) -> None:
        rng = self._rng
        if self._steps:
            gaps = stepped_gaps(rng, self._rate, self._steps, self._last, BLOCK)
        else:
            gaps = rng.exponential(1.0 / self._rate, BLOCK)
        slots = (rng.random(BLOCK) * self._slots).astype(np.int64)
        times = np.cumsum(np.concatenate([[self._last], gaps]))[1:]
        self._last = float(times[-1])
        self._times.append(times)
        self._slot.append(slots)

    def until(self, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """Arrivals before ``t1`` (and before the client stops) not yet handed out: (times, slots)."""
        if self.done:
            return np.empty(0), np.empty(0, dtype=np.int64)
        while self._last < t1 and self._last < self._stop:
            self._refill()
        end = min(t1, self._stop)
        all_times = np.concatenate(self._times) if self._times else np.empty(0)
        all_slots = np.concatenate(self._slot) if self._slot else np.empty(0, dtype=np.int64)
        k = int(np.searchsorted(all_times, end, side="left"))
        times, slots = all_times[:k], all_slots[:k]
        self._times, self._slot = [all_times[k:]], [all_slots[k:]]
        if end >= self._stop:
            self.done = True
        return times, slots


class OperationDraws:
    """The operation of each request of a client (its event-engine chooser's stream and blocks)."""

    def __init__(self, ops: Sequence[int], weights: Sequence[float], rng: np.random.Generator | None) -> None:
        self._ops = np.asarray(ops, dtype=np.int64)
        self._only = int(ops[0]) if len(ops) == 1 or not weights else None
        if self._only is None:
            w = np.asarray(weights, dtype=float)
            cumulative = np.cumsum(w / w.sum())
            last = len(ops) - 1
            self._draws = BlockDraws(
                lambda n: np.minimum(np.searchsorted(cumulative, rng.random(n), side="right"), last).astype(np.float64))  # type: ignore[union-attr]

    def take(self, n: int) -> np.ndarray:
        if self._only is not None:
            return np.full(n, self._only, dtype=np.int64)
        return self._ops[self._draws.take(n).astype(np.int64)]


class HopDelays:
    """One-way hop delays by locality (model/network.py's distributions), drawn as arrays."""

    def __init__(self, config: Any, rng: np.random.Generator) -> None:
        self._dists = (config.same_node, config.same_zone, config.cross_zone, config.internet)
        self._rng = rng

    def draw(self, locality: np.ndarray) -> np.ndarray:
        out = np.zeros(locality.size)
        for k, dist in enumerate(self._dists):
            if dist.is_zero:
                continue
            mask = locality == k
            count = int(np.count_nonzero(mask))
            if count:
                out[mask] = dist.mean if dist.distribution == "constant" else dist.sample(self._rng, count)
        return out

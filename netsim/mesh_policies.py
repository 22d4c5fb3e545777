"""How a mesh proxy chooses a pod for each request: Envoy's and Linkerd's load-balancing policies.

A proxy holds one :class:`Balancer` per Service it sends to (Envoy: per cluster),
over the endpoints its control plane pushed, and chooses per *request*, not per
connection (docs/config.md, "Data planes", for the sources):

- ``round_robin``: the ready pods in turn, from a random starting place;
- ``random``: uniform over the ready pods;
- ``least_request``: Envoy's default choice count of 2 — two pods drawn uniformly
  (with replacement), the one with fewer requests active *from this proxy* wins,
  the first on a tie (power of two choices, Mitzenmacher's supermarket model);
- ``ring_hash``: a Ketama ring of at least 1024 points (Envoy's minimum ring size),
  the request's key hashed onto it;
- ``maglev``: a Maglev table of 65537 slots (Envoy's default), the key hashed into it;
- ``peak_ewma``: Linkerd's choice — two pods drawn, the lower
  ``rtt_estimate × (active + 1)`` wins; the estimate jumps up to a slower response
  at once and otherwise decays (toward faster responses, and toward 0 each time it is
  read) with a 10 s time constant, starting at 30 ms (tower's ``PeakEwma``).

Pods ejected by outlier detection, and a pod to avoid (a retry's previous host),
are left out while any other pod is ready. The candidate list is cached and
rebuilt only when the endpoints, the ejections or the avoided pod change.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np

from netsim.maglev import DEFAULT_TABLE_SIZE, build_table, mix64
from netsim.routing import EndpointTable

RING_MIN_SIZE = 1024
"""Envoy's ``minimum_ring_size`` default."""
EWMA_DEFAULT_RTT_S = 0.030
"""linkerd2-proxy ``EWMA_DEFAULT_RTT``."""
EWMA_DECAY_S = 10.0
"""linkerd2-proxy ``EWMA_DECAY``."""
HASHING = ("ring_hash", "maglev")


class Balancer:
    """One proxy's per-request choice over one Service's pods (positions in the mesh's endpoint view)."""

    def __init__(self, view: EndpointTable, policy: str, rng: np.random.Generator) -> None:
        self.view = view
        self.policy = policy
        self._rng = rng
        self._u: list[float] = []
        self._iu = 0
        self.active: list[int] = []
        """Requests this proxy has in flight to each endpoint position."""
        self.in_flight = 0
        self.ewma: list[float] = []
        self._seen: list[float] = []
        self.ejected_until: list[float] = []
        self.ejections: dict[int, int] = {}
        """Times each endpoint position has been ejected (its next ejection lasts that much longer)."""
        self.retries_in_flight = 0
        self._ready_seen: object = None
        self._ejections_changed = True
        self._next_return = math.inf
        self._candidates: list[int] = []
        self._rr = -1
        self._hash_lookup: list[int] | np.ndarray = []
        self._ring: tuple[list[int], list[int]] = ([], [])

    # -- randomness, a block at a time ----------------------------------------------------------

    def _uniform(self) -> float:
        i = self._iu
        if i >= len(self._u):
            self._u = self._rng.random(4096).tolist()
            i = 0
        self._iu = i + 1
        return self._u[i]

    # -- the candidates -------------------------------------------------------------------------

    def _grow(self) -> None:
        n = len(self.view)
        extra = n - len(self.active)
        if extra > 0:
            self.active += [0] * extra
            self.ewma += [EWMA_DEFAULT_RTT_S] * extra
            self._seen += [0.0] * extra
            self.ejected_until += [-math.inf] * extra

    def candidates(self, now: float) -> list[int]:
        """The ready, not ejected endpoint positions (all ready ones if every one is ejected)."""
        ready = self.view.ready
        if ready is not self._ready_seen or self._ejections_changed or now >= self._next_return:
            self._grow()
            self._ready_seen = ready
            self._ejections_changed = False
            positions = np.flatnonzero(ready).tolist()
            kept = [p for p in positions if self.ejected_until[p] <= now]
            self._candidates = kept or positions
            later = [self.ejected_until[p] for p in positions if self.ejected_until[p] > now]
            self._next_return = min(later) if later else math.inf
            if self.policy in HASHING:
                self._build_hash()
        return self._candidates

    def eject(self, position: int, until: float) -> None:
        self.ejected_until[position] = until
        self._ejections_changed = True

    def ejected(self, now: float) -> int:
        return sum(1 for t in self.ejected_until if t > now)

    # -- the choice -----------------------------------------------------------------------------

    def pick(self, now: float, key: int, avoid: int = -1) -> int:
        """The endpoint position for a request (-1: no ready endpoint); ``avoid``: a retry's previous host."""
        cands = self.candidates(now)
        if avoid >= 0 and len(cands) > 1 and avoid in cands:
            cands = [c for c in cands if c != avoid]
            if self.policy in HASHING:  # Envoy's previous_hosts predicate: hash again, elsewhere
                return cands[int(self._uniform() * len(cands))]
        n = len(cands)
        if n == 0:
            return -1
        policy = self.policy
        if policy == "least_request":
            a = cands[int(self._uniform() * n)]
            b = cands[int(self._uniform() * n)]
            return b if self.active[b] < self.active[a] else a
        if policy == "random":
            return cands[int(self._uniform() * n)]
        if policy == "round_robin":
            if self._rr < 0:
                self._rr = int(self._uniform() * n)
            self._rr = (self._rr + 1) % n
            return cands[self._rr]
        if policy == "peak_ewma":
            a = cands[int(self._uniform() * n)]
            b = cands[int(self._uniform() * n)]
            return b if self._cost(b, now) < self._cost(a, now) else a
        return self._hashed(key)

    def _cost(self, position: int, now: float) -> float:
        """``estimate × (active + 1)``; reading the estimate decays it toward 0 (tower's ``PeakEwma::load``)."""
        self._observe(position, now, 0.0)
        return self.ewma[position] * (self.active[position] + 1)

    def _observe(self, position: int, now: float, rtt: float) -> None:
        """tower's ``RttEstimate::update``: a slower round trip is taken at once; otherwise the estimate moves
        toward ``rtt`` by ``1 − exp(−elapsed / decay)`` (``rtt`` 0: a plain decay, as on every read)."""
        estimate = self.ewma[position]
        if rtt > estimate:
            self.ewma[position] = rtt
        else:
            w = math.exp(-(now - self._seen[position]) / EWMA_DECAY_S)
            self.ewma[position] = estimate * w + rtt * (1.0 - w)
        self._seen[position] = now

    # -- hashing policies -----------------------------------------------------------------------

    def _build_hash(self) -> None:
        cands = self._candidates
        pods = [int(self.view.pods[p]) for p in cands]
        if self.policy == "maglev":
            slots = build_table([f"pod-{p}" for p in pods], DEFAULT_TABLE_SIZE)
            self._hash_lookup = [cands[s] if s >= 0 else -1 for s in slots.tolist()]
            return
        if not cands:
            self._ring = ([], [])
            return
        per_host = math.ceil(RING_MIN_SIZE / len(cands))
        points = []
        for position, pod in zip(cands, pods, strict=True):
            hashes = mix64(np.uint64(pod) * np.uint64(1 << 20) + np.arange(per_host, dtype=np.uint64))
            points.extend((h, position) for h in hashes.tolist())
        points.sort()
        self._ring = ([h for h, _ in points], [p for _, p in points])

    def _hashed(self, key: int) -> int:
        h = int(mix64(np.uint64(key & 0xFFFFFFFFFFFFFFFF)))
        if self.policy == "maglev":
            lookup = self._hash_lookup
            return lookup[h % len(lookup)] if len(lookup) else -1
        hashes, owners = self._ring
        if not hashes:
            return -1
        i = bisect_left(hashes, h)
        return owners[i if i < len(hashes) else 0]

    # -- bookkeeping ----------------------------------------------------------------------------

    def started(self, position: int) -> None:
        self.active[position] += 1
        self.in_flight += 1

    def finished(self, position: int, now: float, rtt: float | None) -> None:
        """A request to ``position`` ended (``rtt``: its round trip from this proxy, None when it was reset)."""
        self.active[position] -= 1
        self.in_flight -= 1
        if rtt is not None and self.policy == "peak_ewma":
            self._observe(position, now, rtt)

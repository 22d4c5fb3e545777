"""The vectorised routing core: endpoint tables and pickers as pure functions on arrays.

kube-proxy turns a Service's EndpointSlices into rules on every node; a new
connection to the Service is then sent to one *ready* endpoint. Here an
:class:`EndpointTable` is that rule set as numpy arrays, and a picker is a pure
function from the table's ready mask and a batch of pre-drawn uniforms to a
batch of endpoint positions (``-1``: no ready endpoint, the connection is
refused). The model takes picks from a :class:`BatchedPicker`, which computes
them thousands at a time, so the per-request cost is a list lookup.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NO_ENDPOINT = -1


@dataclass
class EndpointTable:
    """One Service port's endpoints as kube-proxy programs them.

    Attributes:
        pods: global pod index of each endpoint.
        nodes: node index of each endpoint's pod (for locality and traffic policies).
        ports: the resolved target port of each endpoint.
        ready: the EndpointSlice ``ready`` condition of each endpoint (in a node's programmed copy: the
            endpoints its rules use, see :meth:`assign`).
        serving: endpoints that are ``serving`` and ``terminating`` (a Terminating pod whose readiness
            probe still passes); never ready at the same time. None: no such endpoint ever.
    """

    pods: np.ndarray
    nodes: np.ndarray
    ports: np.ndarray
    ready: np.ndarray
    serving: np.ndarray | None = None

    @classmethod
    def build(cls, pods: list[int], nodes: list[int], ports: list[int]) -> EndpointTable:
        return cls(
            pods=np.asarray(pods, dtype=np.int32),
            nodes=np.asarray(nodes, dtype=np.int32),
            ports=np.asarray(ports, dtype=np.int32),
            ready=np.ones(len(pods), dtype=bool),
        )

    def __len__(self) -> int:
        return int(self.pods.size)

    def snapshot(self) -> EndpointTable:
        """A copy that later changes to this table do not reach (what one sync of kube-proxy read)."""
        serving = None if self.serving is None else self.serving.copy()
        return EndpointTable(self.pods.copy(), self.nodes.copy(), self.ports.copy(), self.ready.copy(), serving)

    def assign(self, other: EndpointTable) -> None:
        """Take ``other``'s endpoints (a node's kube-proxy programming a newer slice); positions only grow.

        kube-proxy (``CategorizeEndpoints``, ProxyTerminatingEndpoints, GA in 1.28) uses the ready endpoints,
        or, when none is ready anywhere, the serving-and-terminating ones: ``ready`` here becomes that set
        (a ``Local`` view falls back on its own, :class:`EndpointSubset`).
        """
        self.pods, self.nodes, self.ports, self.serving = other.pods, other.nodes, other.ports, other.serving
        serving = other.serving
        self.ready = serving if serving is not None and not other.ready.any() and serving.any() else other.ready

    def any_usable(self) -> bool:
        """kube-proxy's ``hasAnyEndpoints``: an endpoint is ready, or serving and terminating (else: REJECT)."""
        return bool(self.ready.any()) or (self.serving is not None and bool(self.serving.any()))

    def ready_only(self) -> np.ndarray:
        """The ``ready`` condition itself, whatever fallback a node's copy applied (serving never is ready)."""
        return self.ready if self.serving is None else self.ready & ~self.serving


def pick_random(ready: np.ndarray, u: np.ndarray) -> np.ndarray:
    """iptables ``statistic --mode random`` (and nftables ``numgen random``): uniform over ready endpoints.

    iptables walks the chain with probabilities 1/n, 1/(n-1), ..., 1; the product
    gives every endpoint exactly 1/n, which one uniform draw per pick reproduces.
    """
    idx = np.flatnonzero(ready)
    if idx.size == 0:
        return np.full(u.shape, NO_ENDPOINT, dtype=np.intp)
    return idx[np.minimum((u * idx.size).astype(np.intp), idx.size - 1)]


def pick_round_robin(ready: np.ndarray, start: int, count: int) -> tuple[np.ndarray, int]:
    """IPVS ``rr``: ready endpoints in turn, from a pointer that this node's scheduler keeps.

    Returns the picks and the pointer for the next batch (a position in the ready list).
    """
    idx = np.flatnonzero(ready)
    if idx.size == 0:
        return np.full(count, NO_ENDPOINT, dtype=np.intp), start
    turns = (start + np.arange(count)) % idx.size
    return idx[turns], int((start + count) % idx.size)


class BatchedPicker:
    """Hands out one pick at a time from batches computed by a vectorised picker.

    ``refill(n)`` returns ``n`` endpoint positions; the picker translates them to
    pod indices once per batch. Call :meth:`invalidate` when the table changes
    (a pod became ready or went away): the rest of the batch is dropped. Batches
    start at ``FIRST`` picks and double up to ``block`` (at most ``LAST``): a cluster
    has a picker per (node, Service) that traffic uses, tens of thousands of them
    in a large one, so a picker holds a few hundred picks at most (numpy's cost per
    batch is then under 0.1 µs a pick).
    """

    __slots__ = ("_i", "_next", "_picks", "_refill", "block", "table")

    FIRST = 16
    LAST = 256

    def __init__(self, table: EndpointTable, refill: Callable[[int], np.ndarray], block: int = 4096) -> None:
        self.table = table
        self._refill = refill
        self.block = min(block, self.LAST)
        self._next = min(self.FIRST, block)
        self._picks: list[int] = []
        self._i = 0

    stateful = False
    """Stateless: closing a connection changes nothing (see :class:`LeastConnectionPicker`)."""

    def __call__(self, source: int = 0) -> int:
        """The pod index for the next new connection, or -1 when no endpoint is ready.

        ``source`` (the client's address) matters only to hashing schedulers.
        """
        i = self._i
        if i >= len(self._picks):
            size = self._next
            self._next = min(size * 2, self.block)
            positions = self._refill(size)
            if len(self.table) == 0:
                self._picks = [NO_ENDPOINT] * len(positions)
            else:
                self._picks = np.where(positions >= 0, self.table.pods[np.maximum(positions, 0)], NO_ENDPOINT).tolist()
            i = 0
        self._i = i + 1
        return self._picks[i]

    def invalidate(self) -> None:
        self._picks = []
        self._i = 0

    def take(self, n: int, sources: np.ndarray | None = None) -> np.ndarray:
        """The pod indices of the next ``n`` new connections at once (the fast engine's way).

        The same picks, from the same stream, as ``n`` calls: the batches a picker
        computes continue one another whatever their sizes (a uniform per pick, or
        a pointer that moves on), so one batch of ``n`` follows what calls left.
        """
        rest = self._picks[self._i :]
        if n <= len(rest):
            self._i += n
            return np.asarray(rest[:n], dtype=np.int64)
        self._picks, self._i = [], 0
        positions = np.asarray(self._refill(n - len(rest)))
        if len(self.table) == 0:
            fresh = np.full(positions.size, NO_ENDPOINT, dtype=np.int64)
        else:
            fresh = np.where(positions >= 0, self.table.pods[np.maximum(positions, 0)], NO_ENDPOINT).astype(np.int64)
        return np.concatenate([np.asarray(rest, dtype=np.int64), fresh]) if rest else fresh

    def release(self, pod: int) -> None:
        """A connection closed: nothing to do for a stateless picker."""
        return None


def random_picker(table: EndpointTable, rng: np.random.Generator) -> BatchedPicker:
    """A per-node random picker (iptables, nftables) drawing from ``rng``."""
    return BatchedPicker(table, lambda n: pick_random(table.ready, rng.random(n)))


def round_robin_picker(table: EndpointTable, rng: np.random.Generator) -> BatchedPicker:
    """A per-node IPVS rr picker; its pointer starts at a random place, as nodes' do in practice."""
    state = {"next": int(rng.integers(0, max(len(table), 1)))}

    def refill(n: int) -> np.ndarray:
        picks, state["next"] = pick_round_robin(table.ready, state["next"], n)
        return picks

    return BatchedPicker(table, refill, block=max(len(table), 1) * 64)


# --- IPVS schedulers, hashing, and the state-dependent pickers (issue 4) -------------------------
#
# Every scheduler below is a pure function of arrays first; the picker classes
# only keep the state the kernel keeps (a pointer, connection counters, a
# lookup table) and call them. Each node's kube-proxy owns its own pickers, so
# no state is ever shared between nodes (k8s-facts §1.2).

IPVS_SCHEDULERS = ("rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh")
LEAST_CONNECTION_SCHEDULERS = ("lc", "wlc", "sed", "nq")
HASH_SCHEDULERS = ("sh", "dh", "mh")
SH_TABLE_BITS = 8
"""``IP_VS_SH_TAB_BITS``: the sh and dh schedulers hash into 256 buckets."""
MH_TABLE_SIZE = 4093
"""``ip_vs_mh`` default lookup table size (``CONFIG_IP_VS_MH_TAB_INDEX`` = 12 -> primes[4])."""
GOLDEN_RATIO_32 = 0x61C88647
POD_CIDR_BASE = 0x0AF40000
"""10.244.0.0: client pod *i* has source address ``POD_CIDR_BASE + i`` for the hash schedulers."""
IPVS_TIME_WAIT_S = 120.0
"""IPVS's TCP TIME_WAIT (and FIN_WAIT) timeout, ``tcp_timeouts[]`` in ``ip_vs_proto_tcp.c``: how long a closed
connection still counts in ``inactconns``."""
SERVICE_CIDR_BASE = 0x0A600000
"""10.96.0.0: Service *s* has ClusterIP ``SERVICE_CIDR_BASE + s`` (what ``dh`` hashes)."""


def wrr_cycle(weights: np.ndarray) -> np.ndarray:
    """One period of the kernel's ``ip_vs_wrr`` sequence over servers with these integer weights.

    The kernel lowers a current weight ``cw`` from the maximum weight by the gcd
    of the weights, and at each level serves, in list order, every server whose
    weight is at least ``cw``: server *i* appears ``w_i / gcd`` times per period.
    Servers of weight 0 never appear; an all-zero input gives an empty cycle.
    """
    w = np.asarray(weights, dtype=np.int64)
    positive = w[w > 0]
    if positive.size == 0:
        return np.zeros(0, dtype=np.intp)
    g = int(np.gcd.reduce(positive))
    levels = np.arange(int(positive.max()), 0, -g)
    return np.nonzero(w[None, :] >= levels[:, None])[1].astype(np.intp)


def pick_weighted_round_robin(ready: np.ndarray, weights: np.ndarray, start: int, count: int) -> tuple[np.ndarray, int]:
    """IPVS ``wrr``: ``count`` picks from position ``start`` of the weighted cycle over ready endpoints.

    Returns the picks (endpoint positions, -1 when none is ready) and the next start.
    With equal weights this is exactly ``rr``.
    """
    idx = np.flatnonzero(ready)
    cycle = idx[wrr_cycle(np.asarray(weights)[idx])] if idx.size else idx
    if cycle.size == 0:
        return np.full(count, NO_ENDPOINT, dtype=np.intp), start
    turns = (start + np.arange(count)) % cycle.size
    return cycle[turns], int((start + count) % cycle.size)


def least_connection_keys(
    scheduler: str, active: np.ndarray, weights: np.ndarray, ready: np.ndarray, inactive: np.ndarray | None = None
) -> np.ndarray:
    """The kernel's per-server cost; the scheduler sends the next connection to the (first) minimum.

    - ``lc``: overhead = ``active * 256 + inactive`` (``ip_vs_dest_conn_overhead``); weights ignored.
    - ``wlc``: overhead / weight.
    - ``sed`` (shortest expected delay): ``(active + 1) / weight``.
    - ``nq`` (never queue): an idle server (no active connection) first, in list order; else ``sed``.

    Not-ready endpoints and endpoints of weight 0 (except for ``lc``) get ``inf``.
    """
    a = np.asarray(active, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    idle = np.zeros_like(a) if inactive is None else np.asarray(inactive, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if scheduler == "lc":
            key = a * 256.0 + idle
        elif scheduler == "wlc":
            key = np.where(w > 0, (a * 256.0 + idle) / w, np.inf)
        elif scheduler in ("sed", "nq"):
            key = np.where(w > 0, (a + 1.0) / w, np.inf)
            if scheduler == "nq":
                order = np.arange(a.size) / (a.size + 1.0)
                key = np.where((a == 0) & (w > 0), order - 1.0, key)  # idle servers first, in list order
        else:
            raise ValueError(f"not a least-connection scheduler: {scheduler!r}")
    return np.where(ready, key, np.inf)


def pick_least_connections(
    scheduler: str, active: np.ndarray, weights: np.ndarray, ready: np.ndarray, count: int,
    inactive: np.ndarray | None = None,
) -> np.ndarray:
    """``count`` consecutive picks of ``lc``/``wlc``/``sed``/``nq`` while no connection closes.

    Each pick adds one active connection to the chosen server, so server *i*'s
    successive costs form an arithmetic sequence ``(base_i + m·step) / w_i`` and the
    scheduler's picks are the ``count`` smallest terms of all these sequences,
    ties going to the lower position (the kernel keeps the first minimum). The
    merge is found by bisecting on the cost level, so it costs O(n + count) memory
    and one sort, not ``count`` Python steps. Positions of -1 when none is ready.
    """
    ready = np.asarray(ready, dtype=bool)
    a = np.asarray(active, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    idle = np.zeros_like(a) if inactive is None else np.asarray(inactive, dtype=np.float64)
    if scheduler == "lc":
        w = np.ones_like(a)
    eligible = ready & (w > 0)
    if count <= 0:
        return np.zeros(0, dtype=np.intp)
    if not eligible.any():
        return np.full(count, NO_ENDPOINT, dtype=np.intp)
    picks: list[np.ndarray] = []
    if scheduler == "nq":  # idle servers are served first, once each, in list order
        first = np.flatnonzero(eligible & (a == 0))[:count]
        picks.append(first)
        a = a.copy()
        a[first] += 1
        count -= first.size
        scheduler = "sed"
    if count > 0:
        idx = np.flatnonzero(eligible)
        if scheduler in ("lc", "wlc"):
            base, step = a[idx] * 256.0 + idle[idx], 256.0
        else:
            base, step = a[idx] + 1.0, 1.0
        wi = w[idx]

        def terms_at_most(level: float) -> np.ndarray:
            return np.maximum(np.floor((level * wi - base) / step + 1e-9) + 1, 0).astype(np.int64)

        lo, hi = float((base / wi).min()) - 1.0, float((base / wi).max() + count * step / wi.min())
        for _ in range(200):  # bisection to the cost level at which `count` picks are reached
            mid = (lo + hi) / 2
            if terms_at_most(mid).sum() >= count:
                hi = mid
            else:
                lo = mid
            if hi - lo <= 1e-12 * max(1.0, abs(hi)):
                break
        m = terms_at_most(hi + 1e-7 * max(1.0, abs(hi)))  # every term tied at the level, too; the sort keeps `count`
        owner = np.repeat(np.arange(idx.size), m)
        term = np.arange(owner.size) - np.repeat(np.cumsum(m) - m, m)
        cost = (base[owner] + term * step) / wi[owner]
        order = np.lexsort((owner, np.round(cost, 9)))[:count]
        picks.append(idx[owner[order]])
    return np.concatenate(picks).astype(np.intp)


def hash_32(values: np.ndarray, bits: int) -> np.ndarray:
    """The kernel's ``hash_32(val, bits)``: multiply by the 32-bit golden ratio, keep the top ``bits``."""
    v = np.asarray(values, dtype=np.uint64) & np.uint64(0xFFFFFFFF)
    return ((v * np.uint64(GOLDEN_RATIO_32)) & np.uint64(0xFFFFFFFF)) >> np.uint64(32 - bits)


def sh_table(ready: np.ndarray, weights: np.ndarray | None = None, bits: int = SH_TABLE_BITS) -> np.ndarray:
    """``ip_vs_sh_reassign``: 2**bits buckets dealt to the ready endpoints in turn (``weight`` buckets per turn)."""
    idx = np.flatnonzero(ready)
    size = 1 << bits
    if idx.size == 0:
        return np.full(size, NO_ENDPOINT, dtype=np.intp)
    w = np.ones(idx.size, dtype=np.int64) if weights is None else np.maximum(np.asarray(weights)[idx].astype(np.int64), 1)
    turn = np.repeat(idx, w)
    return turn[np.arange(size) % turn.size]


def pick_hashed(lookup: np.ndarray, addresses: np.ndarray) -> np.ndarray:
    """sh/dh: ``lookup[hash_32(address)]`` (source address for ``sh``, destination ClusterIP for ``dh``)."""
    bits = int(lookup.size).bit_length() - 1
    return lookup[hash_32(addresses, bits).astype(np.intp)]


def mh_table(ready: np.ndarray, pods: np.ndarray, size: int = MH_TABLE_SIZE) -> np.ndarray:
    """IPVS ``mh`` (Maglev hashing): the Maglev lookup table over the ready endpoints (keyed by pod)."""
    from netsim.maglev import build_table

    idx = np.flatnonzero(ready)
    table = build_table([f"pod-{int(p)}" for p in np.asarray(pods)[idx]], size)
    return np.where(table >= 0, idx[np.maximum(table, 0)] if idx.size else NO_ENDPOINT, NO_ENDPOINT)


def pick_maglev_source(lookup: np.ndarray, addresses: np.ndarray) -> np.ndarray:
    """mh: the source address hashed onto the (prime-sized) Maglev table."""
    h = hash_32(addresses, 32)
    return lookup[(h % np.uint64(lookup.size)).astype(np.intp)]


class WeightedRoundRobinPicker(BatchedPicker):
    """IPVS ``wrr`` with its own position in the cycle (one per node)."""

    def __init__(self, table: EndpointTable, weights: np.ndarray, rng: np.random.Generator) -> None:
        self.weights = np.asarray(weights, dtype=np.int64)
        cycle = max(int(wrr_cycle(self.weights).size), 1)
        self._next = int(rng.integers(0, cycle))
        super().__init__(table, self._batch, block=cycle * 64)

    def _batch(self, n: int) -> np.ndarray:
        if len(self.table) > self.weights.size:  # endpoints added during the run: weight 1, as kube-proxy sets
            self.weights = np.concatenate([self.weights, np.ones(len(self.table) - self.weights.size, dtype=np.int64)])
        picks, self._next = pick_weighted_round_robin(self.table.ready, self.weights, self._next, n)
        return picks


class LeastConnectionPicker:
    """IPVS ``lc``/``wlc``/``sed``/``nq`` on one node: this node's own connection counters.

    The kernel keeps, per real server of a virtual service, ``activeconns`` (connections
    in ESTABLISHED) and ``inactconns`` (any other state: a closed connection sits in
    FIN_WAIT or TIME_WAIT, each 120 s by default, until IPVS's own timer drops its
    entry; ``net/netfilter/ipvs/ip_vs_proto_tcp.c``, ``set_tcp_state`` and
    ``tcp_timeouts``). ``lc`` and ``wlc`` weigh them as ``activeconns × 256 +
    inactconns`` (``ip_vs_dest_conn_overhead``), so a closed connection goes on
    counting 1/256 of an open one for ``inactive_timeout`` seconds; ``sed`` and ``nq``
    look at active connections only. :meth:`release` (a connection through this node
    closed) moves one connection from active to inactive; it expires ``inactive_timeout``
    later, checked at the next pick (``clock.time``: the simulation's clock). Either way
    a normal close ends in TIME_WAIT (client first: CLOSE_WAIT then TIME_WAIT; server
    first: FIN_WAIT then TIME_WAIT), so one timeout covers both. A reset (CLOSE, 10 s)
    only ends connections whose pod has gone, whose endpoint is no longer a candidate,
    so it is not told apart. Without a clock (``clock=None``) nothing expires.

    The counters live in numpy arrays, with the scheduler's cost per endpoint kept
    up to date incrementally: a pick is one ``argmin`` (the first minimum, as the
    kernel keeps) plus a one-element update, and :meth:`release` another. Measured
    (benchmarks/routing.py, pick + release): plain lists with ``min(range(n), key=...)``
    are ~2.7x faster at n = 10 (2.0M vs 0.74M/s) but ~18x slower at n = 1,000 (36k vs
    665k/s); numpy keeps the cost flat in n, and 1.4 µs is small beside a request's ~3 µs.
    """

    stateful = True

    def __init__(
        self, table: EndpointTable, scheduler: str, weights: np.ndarray | None = None, prefer: np.ndarray | None = None,
        clock: object | None = None, inactive_timeout: float = IPVS_TIME_WAIT_S,
    ) -> None:
        if scheduler not in LEAST_CONNECTION_SCHEDULERS:
            raise ValueError(f"not a least-connection scheduler: {scheduler!r}")
        self.table = table
        self.scheduler = scheduler
        n = len(table)
        self.weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        self.active = np.zeros(n, dtype=np.int64)
        self.inactive = np.zeros(n, dtype=np.int64)
        """Closed connections IPVS still holds (FIN_WAIT/TIME_WAIT), per endpoint."""
        self._clock = clock
        self.inactive_timeout = float(inactive_timeout)
        self._expiring: deque[tuple[float, int]] = deque()
        """(expiry time, position) of each inactive connection, oldest first (one timeout: release order is expiry order)."""
        self._position = {int(p): i for i, p in enumerate(np.asarray(table.pods).tolist())}
        self._key = np.zeros(n)
        self.prefer = None if prefer is None else np.asarray(prefer, dtype=bool)
        """Topology: endpoints to choose among while any of them is ready (one set of counters for both)."""
        self.invalidate()

    def invalidate(self) -> None:
        """Recompute every cost (readiness or weights changed, or endpoints were added)."""
        n, had = len(self.table), self.active.size
        if n > had:  # new endpoints (pods created during the run): no connections, weight 1, not preferred
            self.active = np.concatenate([self.active, np.zeros(n - had, dtype=np.int64)])
            self.inactive = np.concatenate([self.inactive, np.zeros(n - had, dtype=np.int64)])
            self.weights = np.concatenate([self.weights, np.ones(n - had)])
            if self.prefer is not None:
                self.prefer = np.concatenate([self.prefer, np.zeros(n - had, dtype=bool)])
            self._position = {int(p): i for i, p in enumerate(np.asarray(self.table.pods).tolist())}
        self._key = least_connection_keys(self.scheduler, self.active, self.weights, self.table.ready, self.inactive)

    def _update(self, i: int) -> None:
        self._key[i] = least_connection_keys(
            self.scheduler, self.active[i : i + 1], self.weights[i : i + 1], self.table.ready[i : i + 1]
        )[0] if self.scheduler == "nq" else self._cost(i)

    def _cost(self, i: int) -> float:
        if not self.table.ready[i]:
            return np.inf
        a, w = float(self.active[i]), float(self.weights[i])
        if self.scheduler == "lc":
            return a * 256.0 + float(self.inactive[i])
        if w <= 0:
            return np.inf
        return (a * 256.0 + float(self.inactive[i])) / w if self.scheduler == "wlc" else (a + 1.0) / w

    def _expire(self) -> None:
        """IPVS's timer drops the closed connections whose FIN_WAIT/TIME_WAIT timeout has run out."""
        expiring = self._expiring
        now = self._clock.time  # type: ignore[union-attr]
        while expiring and expiring[0][0] <= now:
            i = expiring.popleft()[1]
            self.inactive[i] -= 1
            if self.scheduler in ("lc", "wlc"):
                self._update(i)

    def __call__(self, source: int = 0) -> int:
        """Open a connection: the pod of the cheapest endpoint, or -1 when none is ready."""
        if self._expiring and self._clock is not None:
            self._expire()
        key = self._key
        if self.prefer is not None:
            near = np.where(self.prefer, key, np.inf)
            i = int(near.argmin())
            if near[i] == np.inf:
                i = int(key.argmin())
        else:
            i = int(key.argmin())
        if key[i] == np.inf:
            return NO_ENDPOINT
        self.active[i] += 1
        if self.scheduler == "nq" and self.active[i] == 1:
            self._key[i] = (self.active[i] + 1.0) / self.weights[i]
        else:
            self._update(i)
        return int(self.table.pods[i])

    def release(self, pod: int) -> None:
        """A connection this node opened to ``pod`` closed: active until now, inactive for ``inactive_timeout``."""
        i = self._position.get(pod)
        if i is None or self.active[i] == 0:
            return
        self.active[i] -= 1
        if self._clock is not None and self.inactive_timeout > 0.0:
            self.inactive[i] += 1
            self._expiring.append((self._clock.time + self.inactive_timeout, i))  # type: ignore[attr-defined]
        if self.scheduler == "nq" and self.active[i] == 0:
            self._key[i] = -1.0 + i / (len(self.active) + 1.0) if self.table.ready[i] and self.weights[i] > 0 else np.inf
        else:
            self._update(i)


class HashPicker:
    """IPVS ``sh``/``dh``/``mh``: a lookup table over the ready endpoints, indexed by a hashed address.

    The table is rebuilt when the endpoints change (:meth:`invalidate`); each
    address's answer is cached, so the per-connection cost is a dict lookup.
    ``dh`` hashes the destination (the Service's ClusterIP), so every connection
    through a node goes to the same endpoint: the scheduler is meant for caches.
    """

    stateful = False

    def __init__(self, table: EndpointTable, scheduler: str, service: int = 0) -> None:
        if scheduler not in HASH_SCHEDULERS:
            raise ValueError(f"not a hash scheduler: {scheduler!r}")
        self.table = table
        self.scheduler = scheduler
        self.destination = SERVICE_CIDR_BASE + service
        self._cache: dict[int, int] = {}
        self._lookup = np.zeros(0, dtype=np.intp)
        self.invalidate()

    def invalidate(self) -> None:
        ready = np.asarray(self.table.ready, dtype=bool)
        self._lookup = mh_table(ready, self.table.pods) if self.scheduler == "mh" else sh_table(ready)
        self._cache = {}

    def positions(self, sources: np.ndarray) -> np.ndarray:
        """Endpoint positions for a batch of client pods (vectorised; no caching)."""
        sources = np.asarray(sources, dtype=np.int64)
        if self.scheduler == "dh":
            return pick_hashed(self._lookup, np.full(sources.shape, self.destination))
        addresses = POD_CIDR_BASE + sources
        return pick_maglev_source(self._lookup, addresses) if self.scheduler == "mh" else pick_hashed(self._lookup, addresses)

    def take(self, n: int, sources: np.ndarray | None = None) -> np.ndarray:
        """The pods for ``n`` new connections from ``sources`` (the fast engine's way; what ``n`` calls give)."""
        sources = np.zeros(n, dtype=np.int64) if sources is None else np.asarray(sources, dtype=np.int64)
        positions = self.positions(sources)
        if len(self.table) == 0:
            return np.full(n, NO_ENDPOINT, dtype=np.int64)
        return np.where(positions >= 0, self.table.pods[np.maximum(positions, 0)], NO_ENDPOINT).astype(np.int64)

    def __call__(self, source: int = 0) -> int:
        pod = self._cache.get(source)
        if pod is None:
            position = int(self.positions(np.array([source]))[0])
            pod = int(self.table.pods[position]) if position >= 0 else NO_ENDPOINT
            self._cache[source] = pod
        return pod

    def release(self, pod: int) -> None:
        return None


class FallbackPicker:
    """Topology routing in kube-proxy: same-zone endpoints while any is ready, otherwise all of them.

    ``primary`` picks over the node's zone's endpoints (a :class:`EndpointSubset`),
    ``fallback`` over the whole Service; both belong to the same node.
    """

    def __init__(self, primary: object, fallback: object) -> None:
        self.primary = primary
        self.fallback = fallback
        self.table = getattr(fallback, "table", None)
        self.stateful = False

    def __call__(self, source: int = 0) -> int:
        pod = self.primary(source)  # type: ignore[operator]
        return pod if pod >= 0 else self.fallback(source)  # type: ignore[operator]

    def release(self, pod: int) -> None:
        """Stateless pickers only: a least-connection picker handles topology itself (``prefer``)."""
        return None

    def take(self, n: int, sources: np.ndarray | None = None) -> np.ndarray:
        """``n`` picks at once (the fast engine's way), the same as ``n`` calls while the endpoints do not change.

        With a preferred endpoint ready every pick is the primary's; otherwise the two
        pickers' batches interleave call by call (they may share a stream), so the
        picks are made one by one.
        """
        primary_table = getattr(self.primary, "table", None)
        if primary_table is not None and bool(np.asarray(primary_table.ready).any()):
            return self.primary.take(n, sources)  # type: ignore[attr-defined]
        src = np.zeros(n, dtype=np.int64) if sources is None else np.asarray(sources, dtype=np.int64)
        return np.fromiter((self(int(x)) for x in src.tolist()), dtype=np.int64, count=n)

    def invalidate(self) -> None:
        for picker in (self.primary, self.fallback):
            picker.invalidate()  # type: ignore[attr-defined]


class EndpointSubset:
    """Some endpoints of a table (a zone's, by topology hints), seen through the table's live ``ready`` mask.

    ``prefer`` recomputes the mask from the endpoints' nodes when endpoints are
    added during the run (without it, new endpoints are not in the subset).
    ``terminating``: a ``Local`` traffic policy's view: with none of its own endpoints
    ready, it uses its own serving-and-terminating ones (kube-proxy's Local fallback,
    whatever other nodes have); a topology subset does not (kube-proxy drops the
    topology instead, :class:`FallbackPicker`).
    """

    def __init__(self, table: EndpointTable, mask: np.ndarray, prefer: Callable[[np.ndarray], np.ndarray] | None = None,
                 terminating: bool = False) -> None:
        self.parent = table
        self.mask = np.asarray(mask, dtype=bool)
        self._prefer = prefer
        self._terminating = terminating

    @property
    def pods(self) -> np.ndarray:
        return self.parent.pods

    @property
    def nodes(self) -> np.ndarray:
        return self.parent.nodes

    @property
    def ports(self) -> np.ndarray:
        return self.parent.ports

    @property
    def ready(self) -> np.ndarray:
        if self.mask.size != len(self.parent):
            grown = np.asarray(self._prefer(self.parent.nodes), dtype=bool) if self._prefer is not None else None
            if grown is None or grown.size != len(self.parent):
                grown = np.concatenate([self.mask, np.zeros(len(self.parent) - self.mask.size, dtype=bool)])
            self.mask = grown
        ready = self.parent.ready & self.mask
        serving = self.parent.serving
        if self._terminating and serving is not None and not ready.any():
            return serving & self.mask
        return ready

    @property
    def serving(self) -> np.ndarray | None:
        return self.parent.serving

    def any_usable(self) -> bool:
        return self.parent.any_usable()

    def __len__(self) -> int:
        return len(self.parent)

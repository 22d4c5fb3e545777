"""How long an endpoint change takes to reach each node's kube-proxy rules.

The path, as Kubernetes runs it (k8s-facts §1.4, §2):

1. **EndpointSlice controller** (kube-controller-manager), per Service. A pod
   change queues the Service after ``--endpointslice-updates-batch-period``
   (default 0); changes arriving before the sync starts ride along. A sync reads
   the pods when it starts and writes the slices a processing delay later. A
   Service is never synced twice at once: a change arriving mid-sync is handled
   by the next sync, which starts no earlier than the current one ends.
2. **Watch fan-out**: each node's kube-proxy sees the slice write after its own
   watch delay (a distribution). A watch delivers events in order.
3. **kube-proxy sync** (``BoundedFrequencyRunner``): a seen change asks for a
   sync; syncs run one at a time. Current kube-proxy (the ``pkg/proxy/runner``
   runner; ``burst=1``, the default): at least ``minSyncPeriod`` passes between
   the *end* of one sync and the start of the next, and every change seen
   meanwhile rides on that next sync (no burst). Older kube-proxy (``async``
   runner, to about v1.32; ``burst=2``): a token bucket, at most ``burst`` syncs
   back to back, refilling one token per ``minSyncPeriod``. Without changes it
   still syncs every ``sync_period_s``: current kube-proxy's ``FullSyncPeriod``
   (one hour), older versions' ``--sync-period`` (30 s). A sync reads the
   endpoints when it starts; what it read is programmed when it ends.

   A sync is *full* (every rule rewritten) when it is the node's first, a
   periodic one, or the first after ``sync_period_s`` without a full one
   (``doFullSync := needFullSync || time.Since(lastFullSync) > FullSyncPeriod``
   in ``pkg/proxy/iptables/proxier.go``), or when a node comes back; otherwise
   it is *partial*: since v1.28 (KEP-3453, ``MinimizeIPTablesRestore``) the
   iptables proxier rewrites ``KUBE-SERVICES`` and the other top-level chains but
   only the chains of the Services that changed. ``partial_sync_duration``
   (given the changed Service) prices a partial sync, ``sync_duration`` a full
   one. Simplification: a sync's duration is fixed when it is planned, so changes
   that ride on an already planned sync add nothing to its cost.

Batching cuts both ways: more batching delays the first change of a batch, but
with kube-proxy throttled by ``minSyncPeriod`` fewer writes mean fewer syncs, so a
later change can land sooner. Programming latency is monotone in each node's
watch delay, ``minSyncPeriod`` and the sync duration, not per change in the
batch period.

The **network programming latency** of a change on a node is *programmed −
change time* (SIG-Scalability SLI; SLO p99 ≤ 30 s; k8s-facts §2). Readiness
detection (:mod:`netsim.model.probes`) comes before the change time and is not
part of it.

Two forms: :class:`EndpointSliceController` and :class:`NodeProxySync` are
incremental (the SimPy world calls them as changes happen, in time order);
:func:`programmed_times` runs the same rules over a whole list of changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

SyncDurationFn = Callable[[str, int], float]
"""``(proxy mode, rule count) -> seconds`` of one kube-proxy sync."""


def sync_duration_s(mode: str, rule_count: int, base_s: float = 0.005, per_rule_s: float | None = None) -> float:
    """A simple, parameterised cost of one kube-proxy sync (an assumption, not a measurement).

    The SimPy world uses :func:`netsim.model.kube_proxy.sync_duration` instead (the
    ``cluster.kube_proxy.sync_cost`` settings), so that one cost model is configured in
    one place; this one stays for the stand-alone :func:`programmed_times`.

    iptables rewrites its rules with ``iptables-restore``, whose cost grows with the
    number of rules (k8s-facts §1.5, measurement B, shows the growth of the old
    whole-table rewrite); IPVS and nftables update only what changed, so their cost
    is nearly flat. Defaults: iptables 5 ms + 2 µs per rule; ipvs and nftables
    5 ms + 0.1 µs per rule.
    """
    if per_rule_s is None:
        per_rule_s = 2e-6 if mode == "iptables" else 1e-7
    return base_s + per_rule_s * max(rule_count, 0)


@dataclass
class EndpointSliceController:
    """One Service's EndpointSlice syncs: batching, one sync at a time, processing delay."""

    batch_period_s: float = 0.0
    _last_start: float | None = field(default=None, repr=False)
    _last_write: float = field(default=float("-inf"), repr=False)

    def on_change(self, t: float, processing_s: float) -> tuple[float, bool]:
        """A pod change at ``t``: ``(slice write time that carries it, whether that write is new)``.

        ``processing_s`` is used only when a new sync is started. When the returned
        flag is True, the caller schedules the fan-out at the write time.
        """
        if self._last_start is not None and t <= self._last_start:
            return self._last_write, False  # the queued sync has not read the pods yet
        start = max(t + self.batch_period_s, self._last_write)
        self._last_start, self._last_write = start, start + processing_s
        return self._last_write, True


@dataclass
class NodeProxySync:
    """One node's kube-proxy: ordered watch delivery and rate-limited syncs.

    Call :meth:`on_write` with each slice write (in write order) and this node's
    watch delay; it returns when that write is programmed on this node.
    """

    min_sync_period_s: float = 1.0
    sync_period_s: float = 3600.0
    burst: int = 1
    sync_duration: Callable[[], float] = lambda: 0.0
    """Seconds of the next (full) sync; the world binds mode and rule count (e.g. via :func:`sync_duration_s`)."""
    partial_sync_duration: Callable[[int], float] | None = None
    """Seconds of a partial sync for a change of this Service index; None: every sync costs :attr:`sync_duration`."""
    _last_full: float = field(default=0.0, repr=False)
    """kube-proxy's last full sync: at its start, taken as time 0 (the run starts within its first hour)."""
    full_syncs: int = field(default=0, repr=False)
    """How many syncs were full (the rest were partial)."""
    _last_seen: float = field(default=float("-inf"), repr=False)
    _last_start: float = field(default=float("-inf"), repr=False)
    _last_end: float = field(default=float("-inf"), repr=False)
    _tokens: float = field(default=0.0, repr=False)
    _tokens_at: float = field(default=float("-inf"), repr=False)
    sync_starts: list[float] = field(default_factory=list, repr=False)
    """Start time of every sync (change-driven and periodic), for reporting."""

    def __post_init__(self) -> None:
        if self.burst < 1 or self.min_sync_period_s < 0 or self.sync_period_s <= 0:
            raise ValueError("burst must be >= 1, min_sync_period_s >= 0 and sync_period_s > 0")

    def seen_at(self, write_time: float, watch_delay_s: float) -> float:
        """When this node's informer has the write (watch events arrive in order)."""
        self._last_seen = max(self._last_seen, write_time + watch_delay_s)
        return self._last_seen

    def on_write(self, write_time: float, watch_delay_s: float, service: int = -1) -> float:
        """The time the write (of ``service``'s slice) is programmed on this node."""
        return self.on_seen(self.seen_at(write_time, watch_delay_s), service)

    def on_seen(self, t: float, service: int = -1, full: bool = False) -> float:
        """A change (of ``service``) in the informer at ``t`` asks for a sync; returns the end of the sync that
        programs it. ``full``: the sync must rewrite everything (a node that came back)."""
        if self._last_start >= t:
            return self._last_end  # the sync already planned starts after the change arrived
        self._run_periodic_syncs_before(t)
        return self._start_sync(self._earliest_start(t), service, full)

    def _tokens_at_time(self, t: float) -> float:
        """Tokens in the bucket at ``t`` (``t`` not before the last sync start); no state changes."""
        if self.min_sync_period_s <= 1e-12 or self._tokens_at == float("-inf"):
            return float(self.burst)
        return min(float(self.burst), self._tokens + (t - self._tokens_at) / self.min_sync_period_s)

    def _earliest_start(self, t: float) -> float:
        t = max(t, self._last_end)
        if self.burst == 1:  # the current runner: a cooldown of minSyncPeriod after each sync ends
            return max(t, self._last_end + self.min_sync_period_s)
        tokens = self._tokens_at_time(t)
        if tokens >= 1.0 - 1e-12:
            return t
        return t + (1.0 - tokens) * self.min_sync_period_s

    def _start_sync(self, start: float, service: int = -1, full: bool = True) -> float:
        self._tokens = max(0.0, self._tokens_at_time(start) - 1.0)
        self._tokens_at = start
        self._last_start = start
        full = full or self.partial_sync_duration is None or start - self._last_full > self.sync_period_s
        if full:
            self._last_full = start
            self.full_syncs += 1
            duration = self.sync_duration()
        else:
            duration = self.partial_sync_duration(service)  # type: ignore[misc]
        self._last_end = start + duration
        self.sync_starts.append(start)
        return self._last_end

    def _run_periodic_syncs_before(self, t: float) -> None:
        if self._last_start == float("-inf"):
            return
        while True:
            due = self._earliest_start(self._last_start + self.sync_period_s)
            if due >= t:
                return
            self._start_sync(due)


def endpointslice_write_times(
    change_times: np.ndarray, batch_period_s: float, processing_s: float | np.ndarray
) -> np.ndarray:
    """The slice write that carries each change (``change_times`` sorted ascending)."""
    changes = np.asarray(change_times, dtype=float)
    processing = np.broadcast_to(np.asarray(processing_s, dtype=float), changes.shape)
    controller = EndpointSliceController(batch_period_s)
    return np.array([controller.on_change(t, d)[0] for t, d in zip(changes, processing, strict=True)])


def programmed_times(
    change_times: np.ndarray,
    watch_delays: np.ndarray,
    *,
    batch_period_s: float = 0.0,
    processing_s: float | np.ndarray = 0.0,
    min_sync_period_s: float = 1.0,
    sync_period_s: float = 3600.0,
    burst: int = 1,
    sync_duration_s: float | Callable[[], float] = 0.0,
) -> np.ndarray:
    """Programmed time of every change on every node, shape ``(changes, nodes)``.

    Args:
        change_times: when each endpoint change happened (sorted ascending).
        watch_delays: shape ``(changes, nodes)``: each node's watch delay for the
            slice write that carries the change. A write carrying several changes
            is one watch event: the delay drawn for its first change is used.
        batch_period_s, processing_s: the EndpointSlice controller (processing
            per change, used when that change starts a sync).
        min_sync_period_s, sync_period_s, burst: kube-proxy's sync limits.
        sync_duration_s: seconds per sync, or a function returning the next one.
    """
    changes = np.asarray(change_times, dtype=float)
    delays = np.asarray(watch_delays, dtype=float)
    if delays.ndim != 2 or delays.shape[0] != changes.size:
        raise ValueError(f"watch_delays must have shape (changes, nodes) = ({changes.size}, N), got {delays.shape}")
    if changes.size and (np.any(np.diff(changes) < 0) or np.any(delays < 0)):
        raise ValueError("change times must be sorted and watch delays must not be negative")
    processing = np.broadcast_to(np.asarray(processing_s, dtype=float), changes.shape)
    controller = EndpointSliceController(batch_period_s)
    writes: list[tuple[float, int]] = []  # (write time, index of its first change)
    write_of_change = np.empty(changes.size, dtype=np.intp)
    for i, (t, d) in enumerate(zip(changes, processing, strict=True)):
        w, new = controller.on_change(t, d)
        if new:
            writes.append((w, i))
        write_of_change[i] = len(writes) - 1
    duration = sync_duration_s if callable(sync_duration_s) else (lambda: float(sync_duration_s))
    out = np.empty_like(delays)
    for n in range(delays.shape[1]):
        node = NodeProxySync(min_sync_period_s, sync_period_s, burst, duration)
        programmed = np.array([node.on_write(w, delays[first, n]) for w, first in writes])
        out[:, n] = programmed[write_of_change] if writes else 0.0
    return out


def programming_latency(change_times: np.ndarray, programmed: np.ndarray) -> np.ndarray:
    """Network programming latency, ``programmed − change time``, shape ``(changes, nodes)``."""
    return np.asarray(programmed) - np.asarray(change_times, dtype=float)[:, None]

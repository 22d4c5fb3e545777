"""EndpointSlices in the API server, and how each change reaches every node's kube-proxy.

Kubernetes (k8s-facts §1.4, §2): the EndpointSlice controller keeps one slice
per Service (here: per Service port a client uses) listing the pods its selector
matches, each with a ``ready`` condition (false while the pod is not Ready or is
terminating). Every node's kube-proxy watches the slices and rewrites its rules
in rate-limited syncs, so each node has *its own* view, which lags the API by
its own delay. The timing rules are :mod:`netsim.model.propagation`'s
(:class:`EndpointSliceController`, :class:`NodeProxySync`); this module runs
them in the SimPy world:

pod change at *t* → slice written at *w* (batch period, processing) → node *n*
sees it at *w* + watch delay (a draw per node and write) → its next allowed sync
(``min_sync_period``, burst) → sync duration (:func:`netsim.model.kube_proxy.sync_duration`,
the one cost model: iptables ∝ rules written — every rule in a full sync, the top-level chains and the
changed Service's chains in a partial one — IPVS/nftables per change) → node *n*'s
:class:`~netsim.routing.EndpointTable` takes the slice as written at *w* and its
pickers are invalidated. The network programming latency of the change on *n* is
the programmed time − *t* (recorded for every change on every live node).

Only changes of a Service's *ready set* count as changes (the SLI's definition);
adding a not-yet-ready endpoint rides along with the next one. A Terminating
pod's endpoints stay ``serving`` while its readiness probe passes
(:meth:`EndpointSlices.set_serving`): the slice is written and programmed, so that
kube-proxy can fall back on them (:meth:`~netsim.routing.EndpointTable.assign`),
but that is not a change of the ready set and is not recorded as one. Endpoint
positions only grow (a removed endpoint stays as a not-ready tombstone), so
pickers keep their per-position state. A failed node's client pods send nothing
(:mod:`netsim.model.client_pods`); its rules keep following the API unrecorded
(simpler than freezing them), and it resyncs when it comes back. The cloud load balancer is not
fed from here: it learns through its health checks (and, with ``ip`` targets, deregisters a
Terminating pod's target, :mod:`netsim.model.load_balancer`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import simpy

from netsim.config.churn_events import ControlPlaneConfig
from netsim.config.schema import KubeProxyConfig
from netsim.distributions import BlockSampler
from netsim.model.events import call_later
from netsim.model.kube_proxy import KubeProxy, iptables_partial_rule_count, iptables_rule_count, sync_duration
from netsim.model.propagation import EndpointSliceController, NodeProxySync
from netsim.routing import EndpointTable


class NodeViews(dict):  # type: ignore[type-arg]
    """One node's programmed copies of the slices, ``service -> EndpointTable``, each made on first use.

    Until a node's kube-proxy is asked about a Service, its view is only the slice
    version it programmed last (the one written snapshot, shared by every node that
    programmed it): a cluster of thousands of nodes and Services keeps no (node,
    Service) table that no traffic reads.
    """

    def __init__(self, slices: EndpointSlices, node: int) -> None:
        super().__init__()
        self._slices = slices
        self._node = node

    def __missing__(self, service: int) -> EndpointTable:
        snapshot = self._slices.programmed_snapshot(self._node, service)
        view = self[service] = EndpointTable(snapshot.pods, snapshot.nodes, snapshot.ports, snapshot.ready)
        return view


@dataclass
class _Write:
    """One slice write: the changes it carries (their times)."""

    service: int
    version: int
    changes: list[float] = field(default_factory=list)


class EndpointSlices:
    """The API's endpoints per Service (``tables``), each node's programmed copy (``views``), and the path between.

    Attributes:
        tables: per Service, the slice as the API server has it (positions only grow).
        views: ``views[node][service]``: what that node's kube-proxy has programmed.
        latency: ``(service, node, change_s, programmed_s)`` of every change on every node.
        ready_log: per Service, ``(time, ready endpoints)`` after every change of the ready set.
    """

    def __init__(
        self,
        env: simpy.Environment,
        tables: Sequence[EndpointTable],
        nodes: int,
        kube_proxy: KubeProxyConfig,
        control_plane: ControlPlaneConfig,
        rng: Callable[[str], np.random.Generator],
        node_up: list[bool],
        services_in_cluster: int,
    ) -> None:
        self.env = env
        self.tables = list(tables)
        self._initial = [t.snapshot() for t in tables]
        self._pending: dict[tuple[int, int], EndpointTable] = {}
        """(node, Service) -> the snapshot the node programmed last, for views not made yet."""
        self.views = [NodeViews(self, n) for n in range(nodes)]
        self.proxies: Sequence[KubeProxy] = []
        """Each node's kube-proxy (set by the World once it has built them on :attr:`views`)."""
        self.kube_proxy = kube_proxy
        self.node_up = node_up
        self._services_in_cluster = services_in_cluster
        cp = control_plane
        # One pair of flags: kube-proxy's own section, unless control_plane sets them explicitly.
        min_sync = cp.min_sync_period if "min_sync_period" in cp.model_fields_set else kube_proxy.min_sync_period
        sync_period = cp.sync_period if "sync_period" in cp.model_fields_set else kube_proxy.sync_period
        self.controllers = [EndpointSliceController(cp.endpointslice_batch_period) for _ in tables]
        self._processing = BlockSampler(cp.endpointslice_processing, rng("endpointslice-controller"))
        self._watch = [BlockSampler(cp.watch_delay, rng(f"watch/{n}")) for n in range(nodes)]
        partial = self._partial_sync_duration if kube_proxy.mode != "iptables" or kube_proxy.sync_cost.iptables_partial else None
        self.node_sync = [NodeProxySync(min_sync, sync_period, cp.sync_burst, self._sync_duration, partial) for _ in range(nodes)]
        self.present = [np.ones(len(t), dtype=bool) for t in tables]
        self._last_write: list[_Write | None] = [None] * len(tables)
        self._versions = [0] * len(tables)
        self._programmed: dict[tuple[int, int], int] = {}
        """(node, Service) -> the slice version it programmed (0, the initial one, when absent)."""
        self.latency: list[tuple[int, int, float, float]] = []
        self.ready_log: list[list[tuple[float, int]]] = [[(0.0, int(t.ready.sum()))] for t in tables]
        self.watchers: list[Callable[[int, EndpointTable], None]] = []
        """Told of every slice write as the API server has it (a mesh's control plane watches the slices too)."""
        self.on_programmed: Callable[[int, int], None] | None = None
        """Called with ``(node, service)`` after a node programmed a newer slice (the LB's Local health checks)."""

    # -- the API side ------------------------------------------------------------------------

    def _sync_duration(self) -> float:
        """A full sync: iptables rewrites every rule; IPVS/nftables reconcile every Service (one change each)."""
        endpoints = int(sum(int(p.sum()) for p in self.present))
        rules = iptables_rule_count(self._services_in_cluster, endpoints)
        return sync_duration(self.kube_proxy, rules, max(len(self.tables), 1))

    def _partial_sync_duration(self, service: int) -> float:
        """A partial sync for a change of ``service``: iptables' top-level chains plus that Service's chains."""
        endpoints = int(self.present[service].sum()) if service >= 0 else 0
        rules = iptables_partial_rule_count(self._services_in_cluster, endpoints)
        return sync_duration(self.kube_proxy, rules, 1)

    def add(self, service: int, pod: int, node: int, port: int) -> None:
        """A new pod matches the Service: a not-ready endpoint is appended (no change of the ready set)."""
        t = self.tables[service]
        t.pods = np.append(t.pods, np.int32(pod))
        t.nodes = np.append(t.nodes, np.int32(node))
        t.ports = np.append(t.ports, np.int32(port))
        t.ready = np.append(t.ready, False)
        if t.serving is not None:
            t.serving = np.append(t.serving, False)
        self.present[service] = np.append(self.present[service], True)

    def positions(self, service: int, pod: int) -> np.ndarray:
        return np.flatnonzero(self.tables[service].pods == pod)

    def set_ready(self, pod: int, ready: bool, remove: bool = False) -> None:
        """The pod's endpoints turn (not-)ready, or are removed; a change wherever the ready set changes."""
        now = self.env.now
        if remove:
            self.set_serving(pod, False)
        for s, table in enumerate(self.tables):
            where = table.pods == pod
            if not where.any():
                continue
            if remove:
                self.present[s][where] = False
                ready = False
            if bool(table.ready[where].all()) == ready and bool(table.ready[where].any()) == ready:
                continue
            table.ready[where] = ready
            self.ready_log[s].append((now, int(table.ready.sum())))
            self.change(s, now)

    def set_serving(self, pod: int, serving: bool) -> None:
        """The pod is Terminating and its readiness probe passes (``serving``), or no longer does.

        The slice is written and programmed like any change, but it is not a change of the
        ready set, so the programming-latency SLI does not record it."""
        now = self.env.now
        for s, table in enumerate(self.tables):
            where = table.pods == pod
            if not where.any() or (table.serving is None and not serving):
                continue
            if table.serving is None:
                table.serving = np.zeros(len(table), dtype=bool)
            if bool(table.serving[where].all()) == serving and bool(table.serving[where].any()) == serving:
                continue
            table.serving[where] = serving
            self.change(s, now, counted=False)

    def remove_service(self, service: int) -> None:
        """The Service is deleted: its slice loses every endpoint (one change, propagated to every node)."""
        now = self.env.now
        table = self.tables[service]
        self.present[service][:] = False
        if table.serving is not None:
            table.serving = np.zeros(len(table), dtype=bool)
        if table.ready.any():
            table.ready[:] = False
            self.ready_log[service].append((now, 0))
            self.change(service, now)

    def change(self, service: int, t: float, counted: bool = True) -> None:
        """The ready set of ``service`` changed at ``t``: the controller writes it, the nodes program it.

        ``counted``: a change of the ready set (recorded for the programming-latency SLI)."""
        write_time, new = self.controllers[service].on_change(t, self._processing())
        last = self._last_write[service]
        if new or last is None:
            self._versions[service] += 1
            last = self._last_write[service] = _Write(service, self._versions[service])
            call_later(self.env, max(0.0, write_time - self.env.now), self._fan_out, last)
        if counted:
            last.changes.append(t)

    def _fan_out(self, write: _Write) -> None:
        """The slice write reaches the API: every live node's kube-proxy sees it after its watch delay."""
        s = write.service
        snapshot = self.tables[s].snapshot()
        for watcher in self.watchers:
            watcher(s, snapshot)
        now = self.env.now
        for n in range(len(self.proxies)):
            programmed = self.node_sync[n].on_write(now, self._watch[n](), s)
            if self.node_up[n]:  # a dead node's rules follow along unrecorded (see the module docstring)
                for t in write.changes:
                    self.latency.append((s, n, t, programmed))
            call_later(self.env, max(0.0, programmed - now), self._program, (n, s, write.version, snapshot))

    # -- the node side -----------------------------------------------------------------------

    def programmed_snapshot(self, node: int, service: int) -> EndpointTable:
        """The slice as ``node`` last programmed it (shared arrays: views only ever assign new ones)."""
        snapshot = self._pending.pop((node, service), None)
        return self._initial[service] if snapshot is None else snapshot

    def _program(self, args: tuple[int, int, int, EndpointTable]) -> None:
        node, service, version, snapshot = args
        if version <= self._programmed.get((node, service), 0):
            return
        self._programmed[node, service] = version
        views = self.views[node]
        if service in views:
            views[service].assign(snapshot)
            self.proxies[node].invalidate(service)
        else:  # nobody on this node asked yet: its view is made from this snapshot when someone does
            self._pending[node, service] = snapshot
        if self.on_programmed is not None:
            self.on_programmed(node, service)

    def resync(self, node: int) -> None:
        """A node came back: its kube-proxy lists the slices and programs them in one sync."""
        seen = self.node_sync[node].seen_at(self.env.now, self._watch[node]())
        for s in range(len(self.tables)):
            snapshot = self.tables[s].snapshot()
            self._programmed[node, s] = min(self._programmed.get((node, s), 0), self._versions[s] - 1)
            programmed = self.node_sync[node].on_seen(seen, s, full=True)
            call_later(self.env, max(0.0, programmed - self.env.now), self._program, (node, s, self._versions[s], snapshot))

    def set_everywhere(self, pod: int, ready: bool, remove: bool = False) -> None:
        """Change the API and every node at once (no propagation): the abrupt case tests use."""
        for s, table in enumerate(self.tables):
            where = table.pods == pod
            if not where.any():
                continue
            if remove:
                self.present[s][where] = False
                if table.serving is not None:
                    table.serving[where] = False
            table.ready[where] = ready and not remove
            self.ready_log[s].append((self.env.now, int(table.ready.sum())))
            for watcher in self.watchers:
                watcher(s, table.snapshot())
            for n, views in enumerate(self.views):
                self._pending.pop((n, s), None)
                views[s].assign(table.snapshot())
                self.proxies[n].invalidate(s)
                if self.on_programmed is not None:
                    self.on_programmed(n, s)

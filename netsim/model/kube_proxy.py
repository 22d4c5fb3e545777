"""kube-proxy: on every node, the rules that send a new connection to one endpoint.

kube-proxy balances *connections*, not requests: the endpoint is chosen when a
connection opens and conntrack keeps the connection there. For now every
request opens a new connection. Each node's kube-proxy chooses on its own, with
its own random stream and, for IPVS, its own rr pointer: nodes share no state.

Modes: ``iptables`` (the KUBE-SVC chain's probability cascade, uniform over ready
endpoints), ``nftables`` (``numgen random`` over a verdict map, also uniform),
``ipvs`` (``rr``: ready endpoints in turn).

Traffic policies filter per node (k8s-facts §3): with ``internalTrafficPolicy:
Local`` (in-cluster traffic) or ``externalTrafficPolicy: Local`` (NodePort and
LoadBalancer traffic) a node's rules hold only the ready endpoints on that node,
and a node with none drops the connection. Each node has its own
:class:`EndpointTable` per Service (what it has programmed; see
:mod:`netsim.model.endpoint_slices`), and a ``Local`` policy a
:func:`node_local_view` of it. ``sessionAffinity: ClientIP``
(:class:`ClientIpAffinity`) is per node too, like iptables' ``recent`` lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from netsim.config.schema import KubeProxyConfig
from netsim.routing import (
    HASH_SCHEDULERS,
    LEAST_CONNECTION_SCHEDULERS,
    BatchedPicker,
    EndpointSubset,
    EndpointTable,
    FallbackPicker,
    HashPicker,
    LeastConnectionPicker,
    WeightedRoundRobinPicker,
    random_picker,
    round_robin_picker,
)

__all__ = ["ClientIpAffinity", "KubeProxy", "make_picker", "node_local_view"]


def make_picker(
    config: KubeProxyConfig, table: EndpointTable, rng: np.random.Generator, service: int = 0,
    prefer: np.ndarray | Callable[[np.ndarray], np.ndarray | None] | None = None, clock: object | None = None,
) -> BatchedPicker:
    """The picker kube-proxy's mode implies, for one node (each node calls this for its own state).

    iptables and nftables choose uniformly at random; IPVS runs ``ipvs_scheduler``.
    kube-proxy gives every IPVS real server weight 1, so ``wrr`` behaves as ``rr``
    and ``wlc`` as ``lc`` here. ``prefer`` (topology: the node's zone's endpoints)
    makes the picker choose among those while any is ready, else among all.
    ``clock`` (the simulation's environment) lets least-connection schedulers expire
    closed connections from their inactive counts after ``ipvs_inactive_timeout``.
    """
    scheduler = config.ipvs_scheduler if config.mode == "ipvs" else "random"
    prefer_fn = prefer if callable(prefer) else None  # recomputes the preference for endpoints added later
    if prefer_fn is not None:
        prefer = prefer_fn(table.nodes)
    if scheduler in LEAST_CONNECTION_SCHEDULERS:
        return LeastConnectionPicker(  # type: ignore[return-value]
            table, scheduler, prefer=prefer, clock=clock, inactive_timeout=config.ipvs_inactive_timeout
        )
    if prefer is not None:
        near = make_picker(config, EndpointSubset(table, prefer, prefer_fn), rng, service)  # type: ignore[arg-type]
        return FallbackPicker(near, make_picker(config, table, rng, service))  # type: ignore[return-value]
    if scheduler in HASH_SCHEDULERS:
        return HashPicker(table, scheduler, service)  # type: ignore[return-value]
    if scheduler == "wrr":
        return WeightedRoundRobinPicker(table, np.ones(len(table), dtype=np.int64), rng)
    if scheduler == "rr":
        return round_robin_picker(table, rng)
    return random_picker(table, rng)


# --- What a connection and a sync cost (k8s-facts §1.4-1.5; calibration in docs/config.md) -------

IPTABLES_RULES_PER_SERVICE = 2
"""KUBE-SERVICES jump + KUBE-SVC chain header (per Service port)."""
IPTABLES_RULES_PER_ENDPOINT = 3
"""KUBE-SVC probability rule + KUBE-SEP masquerade and DNAT (2 endpoints/Service gives Huawei's 8 rules)."""


IPTABLES_RULES_ALWAYS_WRITTEN_PER_SERVICE = 1
"""What a partial sync still writes for every Service port: its jump in ``KUBE-SERVICES`` (or ``KUBE-NODEPORTS``)."""


def iptables_rule_count(services: int, endpoints: int) -> int:
    """Rules a full iptables sync writes: proportional to Services plus endpoints."""
    return IPTABLES_RULES_PER_SERVICE * services + IPTABLES_RULES_PER_ENDPOINT * endpoints


def iptables_partial_rule_count(services: int, changed_endpoints: int, changed_services: int = 1) -> int:
    """Rules a partial iptables sync writes (KEP-3453, kube-proxy ≥ v1.28).

    ``syncProxyRules`` always rewrites the top-level chains (``KUBE-SERVICES``,
    ``KUBE-NODEPORTS``, the filter chains): one jump per Service port; it writes the
    ``KUBE-SVC``/``KUBE-SEP`` chains only of the Services whose Service or
    EndpointSlices changed ("If the SVC/SVL/EXT/FW/SEP chains have not changed
    since the last sync then we can omit them from the restore input").
    """
    return (IPTABLES_RULES_ALWAYS_WRITTEN_PER_SERVICE * services
            + (IPTABLES_RULES_PER_SERVICE - IPTABLES_RULES_ALWAYS_WRITTEN_PER_SERVICE) * changed_services
            + IPTABLES_RULES_PER_ENDPOINT * changed_endpoints)


def first_packet_cost(config: KubeProxyConfig, position: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """Extra delay of a new connection's first packet from rule evaluation (seconds).

    iptables: ``iptables + iptables_per_service × position × jitter``, ``position``
    being the number of KUBE-SERVICES rules ahead of this Service's; IPVS and
    nftables: a constant (hash lookup, verdict map), whatever the cluster size.
    """
    fp = config.first_packet
    position = np.asarray(position, dtype=np.float64)
    if config.mode == "iptables":
        return fp.iptables + fp.iptables_per_service * position * np.asarray(jitter, dtype=np.float64)
    constant = fp.ipvs if config.mode == "ipvs" else fp.nftables
    return np.full(position.shape, constant)


def draw_first_packet_jitter(config: KubeProxyConfig, rng: np.random.Generator, size: int) -> np.ndarray:
    """Lognormal jitter with median 1 on the iptables scan (cache and CPU effects)."""
    return np.exp(config.first_packet.jitter_sigma * rng.standard_normal(size))


def draw_rule_position(rng: np.random.Generator, rules: int) -> float:
    """A Service's place in KUBE-SERVICES: kube-proxy writes Services in map order, uniform over the rules."""
    return float(rng.random() * max(rules, 1))


def sync_duration(config: KubeProxyConfig, rules: int, changes: int = 1) -> float:
    """How long one sync takes: iptables writes ``rules`` (all of them in a full sync, the top-level chains and the
    changed Services' chains in a partial one: :func:`iptables_partial_rule_count`); IPVS/nftables apply the changes."""
    cost = config.sync_cost
    if config.mode == "iptables":
        return cost.base + cost.iptables_per_rule * rules
    return cost.base + cost.per_change * changes


def sync_times(config: KubeProxyConfig, changes: np.ndarray, horizon: float, rules: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """When kube-proxy syncs, given the times endpoints changed: (start, end) of every sync up to ``horizon``.

    As current kube-proxy's runner: a change triggers a sync no sooner than
    ``min_sync_period`` after the previous sync *ended* (changes meanwhile are
    batched into it); with no change, a sync still runs every ``sync_period``.
    Every sync is priced as a full one here; the SimPy world
    (:class:`netsim.model.propagation.NodeProxySync`) also prices partial syncs.
    """
    changes = np.sort(np.asarray(changes, dtype=np.float64))
    starts: list[float] = []
    ends: list[float] = []
    last_start, last_end, i = -np.inf, -np.inf, 0
    while True:
        pending = changes[i] if i < changes.size else np.inf
        periodic = (last_start if starts else 0.0) + config.sync_period
        start = max(min(pending, periodic), last_end + config.min_sync_period)
        if start > horizon:
            break
        batched = int(np.searchsorted(changes, start, side="right")) - i
        i += batched
        starts.append(start)
        last_start, last_end = start, start + sync_duration(config, rules, max(batched, 1))
        ends.append(last_end)
    return np.array(starts), np.array(ends)


# --- Topology: PreferClose and topology-aware hints (k8s-facts §3) -------------------------------

OVERLOAD_THRESHOLD = 0.2
"""The EndpointSlice controller gives no hints if a zone would get over 20 % more than its share."""


def allocate_zone_hints(endpoint_zones: list[str], zone_cpu: dict[str, float]) -> list[str] | None:
    """``topology-mode: Auto``: a hinted zone per endpoint, in proportion to zone CPU, or None (no hints).

    As the EndpointSlice controller's topology cache does: a zone's desired share is
    ``n × cpu_zone / cpu_total``; its minimum ``ceil(desired / 1.2)``. Safeguards (no
    hints, cluster-wide routing): fewer endpoints than zones, an endpoint in a zone
    without nodes, or minimums that do not fit. Each endpoint starts hinted for its
    own zone; zones above their desired share (by more than half an endpoint) donate
    endpoints to zones below theirs; if a zone still ends below its minimum, no hints.
    """
    zones = [z for z, c in zone_cpu.items() if c > 0]
    n = len(endpoint_zones)
    if n < len(zones) or any(z not in zones for z in endpoint_zones):
        return None
    total = sum(zone_cpu[z] for z in zones)
    desired = {z: n * zone_cpu[z] / total for z in zones}
    minimum = {z: int(np.ceil(desired[z] / (1 + OVERLOAD_THRESHOLD) - 1e-9)) for z in zones}
    if sum(minimum.values()) > n:
        return None
    hints = list(endpoint_zones)
    count = {z: hints.count(z) for z in zones}
    for receiver in sorted(zones, key=lambda z: count[z] - desired[z]):
        while count[receiver] < desired[receiver] - 0.5:
            giver = max(zones, key=lambda z: count[z] - desired[z])
            if count[giver] - desired[giver] <= 0.5:
                break
            k = max(i for i, h in enumerate(hints) if h == giver)
            hints[k] = receiver
            count[giver] -= 1
            count[receiver] += 1
    if any(count[z] < minimum[z] for z in zones):
        return None
    return hints


def topology_preference(
    traffic_distribution: str | None, topology_mode: str | None, endpoint_nodes: np.ndarray,
    node_zones: list[str], node_cpu: list[float], node: int,
) -> np.ndarray | None:
    """The endpoints node ``node``'s kube-proxy prefers, or None (cluster-wide routing).

    ``PreferClose``: the endpoints in the node's zone. ``PreferSameNode``: the node's
    own endpoints. ``topology-mode: Auto``: the endpoints hinted for the node's zone
    (:func:`allocate_zone_hints`). kube-proxy falls back to all endpoints whenever
    none of the preferred ones is ready (:class:`~netsim.routing.FallbackPicker`).
    """
    if traffic_distribution not in ("PreferSameNode", "PreferClose") and topology_mode != "Auto":
        return None  # cluster-wide routing, the common case: nothing to compute
    endpoint_nodes = np.asarray(endpoint_nodes)
    zone = node_zones[node]
    endpoint_zones = [node_zones[int(k)] for k in endpoint_nodes]
    if traffic_distribution == "PreferSameNode":
        return endpoint_nodes == node
    if traffic_distribution == "PreferClose":
        return np.array([z == zone for z in endpoint_zones], dtype=bool)
    if topology_mode == "Auto":
        cpu: dict[str, float] = {}
        for z, c in zip(node_zones, node_cpu, strict=True):
            cpu[z] = cpu.get(z, 0.0) + c
        hints = allocate_zone_hints(endpoint_zones, cpu)
        return None if hints is None else np.array([h == zone for h in hints], dtype=bool)
    return None


def node_local_view(table: EndpointTable, node: int) -> EndpointSubset:
    """The endpoints of ``table`` that run on ``node``: what a ``Local`` traffic policy leaves.

    An :class:`~netsim.routing.EndpointSubset` seen through the table's live ready
    mask, so readiness changes need only invalidate the pickers; endpoints added
    during the run are placed by their node.
    """
    return EndpointSubset(table, table.nodes == node, lambda nodes: nodes == node, terminating=True)


class ClientIpAffinity:
    """``sessionAffinity: ClientIP`` on one node: a client IP sticks to its endpoint until ``timeout`` idle.

    iptables keeps a ``recent`` list per endpoint (``--rcheck --seconds T --reap``)
    and IPVS a persistence template (``persistent T``); both count the timeout from
    the last connection. The IP is the one this node sees: the client pod's, an
    external client's, or the address that SNAT or a proxying LB left.
    """

    __slots__ = ("_position", "_seen", "_table", "timeout")

    def __init__(self, table: EndpointTable, timeout: float) -> None:
        self._table = table
        self._position = {int(p): i for i, p in enumerate(table.pods.tolist())}
        self._seen: dict[int, list[float]] = {}
        self.timeout = timeout

    def pick(self, ip: int, now: float, picker: BatchedPicker) -> int:
        """The pod for a new connection from ``ip``: its remembered endpoint if still fresh and ready."""
        entry = self._seen.get(ip)
        if entry is not None and len(self._position) != len(self._table):  # endpoints were added: positions only grow
            self._position = {int(p): i for i, p in enumerate(self._table.pods.tolist())}
        if entry is not None and now - entry[1] <= self.timeout and self._table.ready[self._position[int(entry[0])]]:
            entry[1] = now
            return int(entry[0])
        pod = picker()
        if pod >= 0:
            self._seen[ip] = [pod, now]
        return pod


class KubeProxy:
    """One node's kube-proxy: a picker per Service port it has rules for.

    ``pickers`` serve in-cluster traffic (internalTrafficPolicy applied),
    ``external_pickers`` traffic that entered at this node's nodePort
    (externalTrafficPolicy applied); ``affinity`` the ClientIP tables. With
    ``build``, a Service's three are made the first time something asks for them
    (``build(service) -> (picker, external picker or None, affinity or None)``): a
    cluster of thousands of nodes and Services costs for the (node, Service) pairs
    traffic uses, not for all of them. Each picker draws from its own stream, keyed
    by name, so building late changes no number.
    """

    def __init__(
        self,
        node: int,
        config: KubeProxyConfig,
        pickers: Mapping[int, BatchedPicker],
        external_pickers: Mapping[int, BatchedPicker] | None = None,
        affinity: Mapping[int, ClientIpAffinity] | None = None,
        build: Callable[[int], tuple[BatchedPicker, BatchedPicker | None, ClientIpAffinity | None]] | None = None,
    ) -> None:
        self.node = node
        self.mode = config.mode
        self._pickers = dict(pickers)
        self._external = dict(external_pickers or {})
        self.affinity = dict(affinity or {})
        self._build = build

    def _built(self, service: int) -> BatchedPicker:
        picker = self._pickers.get(service)
        if picker is None:
            if self._build is None:
                raise KeyError(service)
            picker, external, affinity = self._build(service)
            self._pickers[service] = picker
            if external is not None:
                self._external[service] = external
            if affinity is not None:
                self.affinity[service] = affinity
        return picker

    def picker(self, service: int) -> BatchedPicker:
        """The picker for ``service``: callers on the hot path keep it and call it directly."""
        return self._built(service)

    def external_picker(self, service: int) -> BatchedPicker:
        """The picker for connections to ``service``'s nodePort on this node."""
        picker = self._built(service)
        return self._external.get(service) or picker

    def affinity_of(self, service: int) -> ClientIpAffinity | None:
        """The ClientIP affinity table of ``service`` on this node (None without ``sessionAffinity: ClientIP``)."""
        self._built(service)
        return self.affinity.get(service)

    def all_pickers(self) -> list[BatchedPicker]:
        """Every picker built so far (to invalidate when endpoints change)."""
        return [*self._pickers.values(), *self._external.values()]

    def invalidate(self, service: int) -> None:
        """This node programmed new endpoints for ``service``: drop pre-computed picks (of pickers built)."""
        picker = self._pickers.get(service)
        if picker is not None:
            picker.invalidate()
        external = self._external.get(service)
        if external is not None:
            external.invalidate()

    def connect(self, service: int) -> int:
        """Choose the pod for a new connection to ``service``; -1 means no ready endpoint (refused)."""
        return self._built(service)()

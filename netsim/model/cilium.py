"""Cilium's eBPF Service load balancing (``cluster.dataplane: cilium``), where it differs from kube-proxy.

What Cilium does (docs/config.md, "Data planes", with sources):

- In-cluster traffic is translated at the socket: the backend is chosen once, at
  ``connect()``, uniformly at random, from a BPF hash map. There is no per-packet
  DNAT, no conntrack NAT entry for the ClusterIP and nothing that grows with the
  number of Services, so a new connection pays nothing above the O(1) floor the
  network hops already model. The balancing consequences are kube-proxy's: one
  choice per connection (gRPC pinning stays). The world builds these parts from
  :attr:`ClusterConfig.node_proxy` (random pickers, no first-packet cost, a BPF map
  update per change without ``minSyncPeriod`` batching); nothing here is needed.
- Traffic entering at a node (NodePort, LoadBalancer): ``random`` by default, or
  Maglev consistent hashing of the flow (:class:`MaglevPicker`, table size 16381);
  replies return through the entry node for reverse SNAT (``snat``, the default),
  or leave the backend's node straight for the client (``dsr``: one hop fewer
  when the backend runs on another node, and the pod sees the client's IP):
  :class:`DsrNodePortEntry`, :class:`DsrLoadBalancerEntry`.

Simplified: a flow's 5-tuple is drawn per connection (a new source port each
time), so Maglev spreads new connections as random choice does; what it adds — the
same backend for a flow whichever node it enters at, and few flows moved when the
backends change — is a property of the table, checked on flows directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netsim.maglev import build_table, pick_maglev
from netsim.model.entry import LoadBalancerEntry, NodePortEntry
from netsim.model.network import Locality
from netsim.model.request import Outcome, Request, add_proxy_cost
from netsim.routing import NO_ENDPOINT, EndpointTable


class MaglevPicker:
    """A node's Maglev table over a Service's ready backends (keyed by pod, so every node builds the same table).

    The table is rebuilt lazily after the backends change (:meth:`invalidate`).
    """

    stateful = False
    BLOCK = 4096

    def __init__(self, table: EndpointTable, size: int, rng: np.random.Generator) -> None:
        self.table = table
        self.size = size
        self._rng = rng
        self._lookup: np.ndarray | None = None
        self._flows: list[int] = []
        self._i = 0

    def invalidate(self) -> None:
        self._lookup = None
        self._flows = []

    def lookup(self) -> np.ndarray:
        """``lookup[slot]``: the pod index that owns each slot (-1 everywhere when no backend is ready)."""
        if self._lookup is None:
            ready = np.flatnonzero(np.asarray(self.table.ready, dtype=bool))
            pods = np.asarray(self.table.pods)[ready]
            slots = build_table([f"pod-{p}" for p in pods.tolist()], self.size)
            self._lookup = np.where(slots >= 0, pods[np.maximum(slots, 0)] if pods.size else -1, NO_ENDPOINT)
        return self._lookup

    def pick_flows(self, hashes: np.ndarray) -> np.ndarray:
        """The pod of each flow (its 5-tuple hash)."""
        return pick_maglev(self.lookup(), hashes)

    def __call__(self, source: int = 0) -> int:
        i = self._i
        if i >= len(self._flows):
            self._flows = self.pick_flows(self._rng.integers(0, 2**63, self.BLOCK, dtype=np.uint64)).tolist()
            i = 0
        self._i = i + 1
        return self._flows[i]

    @staticmethod
    def release(pod: int) -> None:
        return None


class DsrNodePortEntry(NodePortEntry):
    """NodePort with ``loadBalancer.mode: dsr``: a backend on another node answers the client directly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_ip_preserved = 1

    def respond(self, request: Request, outcome: Outcome) -> None:
        pod_node = request.pod.node
        delay = self._network.delay_of(Locality.INTERNET)
        if pod_node == request.node:  # a local backend: nothing to skip
            delay += self._network.delay(pod_node, request.node)
        self._later(delay, self._ended, (request, outcome))


class DsrLoadBalancerEntry(LoadBalancerEntry):
    """Instance-target LB with DSR: the reply leaves the backend's node without the hop back to the entry node."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_ip_preserved = int(self._lb.spec.preserves_client_ip)

    def respond(self, request: Request, outcome: Outcome) -> None:
        network = self._network
        pod_node = request.pod.node
        delay = network.delay(pod_node, request.node) if (self._lb.instance and pod_node == request.node) else 0.0
        delay += network.delay_of(self._lb.leg(request.via, pod_node if self._lb.instance else request.node))
        back = self._lb_latency()
        add_proxy_cost(request, back)
        delay += back + network.delay_of(Locality.INTERNET)
        self._later(delay, self._ended, (request, outcome))


def external_picker(cluster: Any, view: EndpointTable, rng: np.random.Generator) -> MaglevPicker | None:
    """A node's picker for traffic entering at it, when Cilium's Maglev replaces the default (else None)."""
    if cluster.dataplane != "cilium" or cluster.cilium.load_balancer.algorithm != "maglev":
        return None
    return MaglevPicker(view, cluster.cilium.load_balancer.maglev_table_size, rng)


def entry_classes(cluster: Any) -> tuple[type[NodePortEntry], type[LoadBalancerEntry]]:
    """The NodePort and LoadBalancer entries of this data plane (DSR replies under Cilium's ``dsr`` mode)."""
    if cluster.dataplane == "cilium" and cluster.cilium.load_balancer.mode == "dsr":
        return DsrNodePortEntry, DsrLoadBalancerEntry
    return NodePortEntry, LoadBalancerEntry

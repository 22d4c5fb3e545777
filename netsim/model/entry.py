"""Where a request enters the cluster's data plane, by Service type and client location.

The in-cluster ClusterIP path lives in :mod:`netsim.model.client` and stays the
fastest. The paths here replace a client's ``_connect`` (and, for external
clients, its ``respond``) when the World builds it:

- :class:`NodePortEntry`: an external client connects to a node's IP at the
  nodePort (over the internet); that node's kube-proxy applies
  ``externalTrafficPolicy``: ``Cluster`` picks any ready endpoint (a remote one
  costs a hop to its node, and the node SNATs, so the pod never sees the client
  IP and the response returns through the entry node), ``Local`` only this node's
  ready endpoints (none: dropped, :attr:`Outcome.NO_LOCAL_ENDPOINT`; client IP
  kept).
- :class:`LoadBalancerEntry`: external client → cloud LB zone front end
  (:mod:`netsim.model.load_balancer`) → a node at the nodePort, then as above
  (``instance`` targets), or the pod directly (``ip`` targets, no kube-proxy).
- :class:`ExternalNameEntry`: the Service is a CNAME; after DNS (CNAME chased
  upstream), the request crosses the internet to the outside host and back.
- :class:`AffinityEntry`: in-cluster traffic to a ``sessionAffinity: ClientIP``
  Service: the node's kube-proxy remembers which endpoint each client IP got.
- :func:`discovery_guard`: requests fail with :attr:`Outcome.DISCOVERY` while the
  client cannot find the Service (NXDOMAIN, or env vars from before it existed).

Pooled connections of external clients (model/connections.py) open through
``open`` (the entry and endpoint choice, once per connection) and send each
request along the fixed path with ``outbound``; per-request clients keep
``connect``.

Hops (the ``entry_hops`` column) count links crossed before the entry node:
internet = 1, LB → node = 1; metrics add 1 when the pod runs on another node
than the entry node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from simpy.core import NORMAL

from netsim.distributions import BlockSampler
from netsim.model.events import Wakeup
from netsim.model.kube_proxy import ClientIpAffinity, KubeProxy
from netsim.model.load_balancer import NO_TARGET, CloudLoadBalancer
from netsim.model.network import Locality, Network
from netsim.model.pod import time_out
from netsim.model.request import Outcome, Request
from netsim.routing import EndpointTable

EXTERNAL_IP_BASE = 1 << 24
"""Client-IP numbering: in-cluster pods are 0.., external sources EXTERNAL_IP_BASE + client·2^16 + source."""
LB_IP_BASE = 1 << 40
"""A proxying LB's zone front ends (the address nodes see behind an ``aws-clb``)."""


def external_ip(client: int, source: int) -> int:
    return EXTERNAL_IP_BASE + (client << 16) + source


class _Path:
    """What every entry path needs from its client: the clock, the scheduler, the network, the pods."""

    def __init__(self, client: Any, network: Network, pods: Sequence[Any]) -> None:
        self.client = client
        self.env = client.env
        self._network = network
        self._pods = pods
        self._finish = client.finish

    def _later(self, delay: float, fn: Callable[[Any], None], arg: Any) -> None:
        if delay > 0.0:
            self.env.schedule(Wakeup(self.env, fn, arg), NORMAL, delay)
        else:
            fn(arg)

    def _ended(self, args: tuple[Request, Outcome]) -> None:
        self._finish(*args)


def no_endpoint_outcome(table: EndpointTable, local: bool) -> Outcome:
    """Why kube-proxy found no endpoint: a Local policy on a node without one, or none ready at all."""
    return Outcome.NO_LOCAL_ENDPOINT if local and bool(table.ready.any()) else Outcome.REFUSED


class _NodeProxyPath(_Path):
    """The part shared by NodePort and instance-target LB traffic: a node's kube-proxy, then the pod."""

    def __init__(
        self, client: Any, network: Network, pods: Sequence[Any], proxies: Sequence[KubeProxy], service: int,
        table: EndpointTable, local: bool,
    ) -> None:
        super().__init__(client, network, pods)
        self._pickers = [p.external_picker(service) for p in proxies]
        self._affinity: list[ClientIpAffinity | None] = [p.affinity.get(service) for p in proxies]
        self._table = table
        self._local = local

    node_up: list[bool] | None = None
    """Set by the World under churn: a node that is down black-holes what is sent to it."""

    def _at_node(self, request: Request) -> None:
        """The packet reaches ``request.node`` at the nodePort: that node's kube-proxy DNATs it."""
        picked = self._pin(request)
        if picked is None:
            return
        pod = self._pods[picked[0]]
        request.pod = pod
        self._later(self._network.delay(request.node, pod.node), pod.accept, request)


    def _pin(self, request: Request) -> tuple[int, Any] | None:
        """A new connection reaches ``request.node``: its kube-proxy chooses the endpoint once (conntrack).

        Returns ``(pod index, picker)``, or None when the attempt ended the request
        (the node is dark: nobody answers, a timeout; no endpoint: refused or dropped).
        """
        node = request.node
        if self.node_up is not None and not self.node_up[node]:
            time_out(request)
            return None
        affinity = self._affinity[node]
        picker = self._pickers[node]
        pod_index = affinity.pick(request.source, self.env._now, picker) if affinity is not None else picker()
        if pod_index < 0:
            self._finish(request, no_endpoint_outcome(self._table, self._local))
            return None
        return pod_index, picker

    def entry_down(self, node: int) -> bool:
        """Whether the node a connection entered at has gone dark (its conntrack entry with it)."""
        return self.node_up is not None and not self.node_up[node]


class NodePortEntry(_NodeProxyPath):
    """External client → a node IP at the nodePort (uniform over ``entry_nodes``) → kube-proxy → pod."""

    def __init__(
        self, client: Any, network: Network, pods: Sequence[Any], proxies: Sequence[KubeProxy], service: int,
        table: EndpointTable, local: bool, entry_nodes: Sequence[int], rng: np.random.Generator,
    ) -> None:
        super().__init__(client, network, pods, proxies, service, table, local)
        self._entry_nodes = list(entry_nodes)
        self._rng = rng
        self._entries: list[int] = []
        self._i = 0

    def connect(self, request: Request) -> None:
        i = self._i
        if i >= len(self._entries):
            self._entries = np.asarray(self._entry_nodes)[self._rng.integers(0, len(self._entry_nodes), 4096)].tolist()
            i = 0
        self._i = i + 1
        request.node = self._entries[i]
        request.source = external_ip(self.client.index, request.client_pod)
        request.via = -1
        self._later(self._network.delay_of(Locality.INTERNET), self._at_node, request)

    def open(self, request: Request) -> tuple[int, Any, int] | None:
        """A pooled connection opens: an entry node as :meth:`connect` chooses one, then its kube-proxy's pick.

        Sets ``request.node``, ``source`` and ``via``; returns ``(pod index, picker, target)``
        (target -1: no LB), or None when the attempt ended the request.
        """
        i = self._i
        if i >= len(self._entries):
            self._entries = np.asarray(self._entry_nodes)[self._rng.integers(0, len(self._entry_nodes), 4096)].tolist()
            i = 0
        self._i = i + 1
        request.node = self._entries[i]
        request.source = external_ip(self.client.index, request.client_pod)
        request.via = -1
        pinned = self._pin(request)
        return None if pinned is None else (*pinned, -1)

    def outbound(self, request: Request) -> float:
        """A request on an open connection: the internet to its entry node, then on to its pinned pod."""
        return self._network.delay_of(Locality.INTERNET) + self._network.delay(request.node, request.pod.node)

    def respond(self, request: Request, outcome: Outcome) -> None:
        """The response returns through the entry node (SNAT for Cluster; the same node for Local)."""
        delay = self._network.delay(request.pod.node, request.node) + self._network.delay_of(Locality.INTERNET)
        self._later(delay, self._ended, (request, outcome))


class LoadBalancerEntry(_NodeProxyPath):
    """External client → cloud LB → node at the nodePort → kube-proxy → pod, or LB → pod (``ip`` targets)."""

    def __init__(
        self, client: Any, network: Network, pods: Sequence[Any], proxies: Sequence[KubeProxy], service: int,
        table: EndpointTable, local: bool, lb: CloudLoadBalancer, latency: BlockSampler,
    ) -> None:
        super().__init__(client, network, pods, proxies, service, table, local)
        self._lb = lb
        self._lb_latency = latency
        self._seen: list[list[int]] | None = None  # the LB's candidate lists last seen (pooled connections)
        self._serving: list[set[int]] = []

    def connect(self, request: Request) -> None:
        request.source = external_ip(self.client.index, request.client_pod)
        self._later(self._network.delay_of(Locality.INTERNET), self._at_lb, request)

    def _at_lb(self, request: Request) -> None:
        lb = self._lb
        zone, target = lb.route(request.source)
        request.via = zone
        if target == NO_TARGET:
            self._finish(request, Outcome.REFUSED)
            return
        network = self._network
        if lb.instance:
            request.node = target
            if not lb.spec.preserves_client_ip:
                request.source = LB_IP_BASE + zone  # a proxying LB: the node sees the LB's address
            delay = self._lb_latency() + network.delay_of(lb.leg(zone, target))
            self._later(delay, self._at_node, request)
            return
        pod_index = int(self._table.pods[target])
        pod = self._pods[pod_index]
        request.node = pod.node  # ip targets enter the data plane at the pod's own node
        request.pod = pod  # a target the LB still uses may be gone: the pod's state decides (refused, timeout)
        self._later(self._lb_latency() + network.delay_of(lb.leg(zone, pod.node)), pod.accept, request)

    def open(self, request: Request) -> tuple[int, Any, int] | None:
        """A pooled connection opens: the LB's algorithm picks a target for its 5-tuple, once.

        Instance targets: the target node's kube-proxy then picks the endpoint (conntrack);
        ``ip`` targets are the pod itself. Sets ``request.node``, ``source`` and ``via``;
        returns ``(pod index, picker or None, target)``, or None when the attempt ended the request.
        """
        request.source = external_ip(self.client.index, request.client_pod)
        lb = self._lb
        zone, target = lb.route(request.source)
        request.via = zone
        if target == NO_TARGET:
            self._finish(request, Outcome.REFUSED)
            return None
        if not lb.instance:
            pod_index = int(self._table.pods[target])
            request.node = self._pods[pod_index].node
            return pod_index, None, target
        request.node = target
        if not lb.spec.preserves_client_ip:
            request.source = LB_IP_BASE + zone
        pinned = self._pin(request)
        return None if pinned is None else (*pinned, target)

    def target_removed(self, zone: int, target: int) -> bool:
        """Whether zone front end ``zone`` no longer sends to ``target``: health checks (or
        deregistration) took it out of the LB's candidates, so the LB resets the connections it
        had sent there. While it fails open, the LB keeps using unhealthy targets, and so do they."""
        candidates = self._lb._candidates  # the LB's own current choice set, rebuilt on every change
        if candidates is not self._seen:
            self._seen = candidates
            self._serving = [set(c) for c in candidates]
        return target not in self._serving[zone]

    def outbound(self, request: Request) -> float:
        """A request on an open connection: internet, LB, the target node and on to the pod (or the pod)."""
        network = self._network
        lb = self._lb
        delay = network.delay_of(Locality.INTERNET) + self._lb_latency() + network.delay_of(lb.leg(request.via, request.node))
        if lb.instance:
            delay += network.delay(request.node, request.pod.node)
        return delay

    def respond(self, request: Request, outcome: Outcome) -> None:
        network = self._network
        pod_node = request.pod.node
        delay = network.delay(pod_node, request.node) if self._lb.instance else 0.0
        delay += network.delay_of(self._lb.leg(request.via, request.node)) + self._lb_latency()
        delay += network.delay_of(Locality.INTERNET)
        self._later(delay, self._ended, (request, outcome))


class ExternalNameEntry(_Path):
    """A CNAME to a host outside: the internet both ways plus the host's own time; no kube-proxy, no pod."""

    def __init__(self, client: Any, network: Network, pods: Sequence[Any], host_time: BlockSampler) -> None:
        super().__init__(client, network, pods)
        self._host_time = host_time

    def connect(self, request: Request) -> None:
        network = self._network
        delay = network.delay_of(Locality.INTERNET) + self._host_time() + network.delay_of(Locality.INTERNET)
        self._later(delay, self._ended, (request, Outcome.OK))


class AffinityEntry(_Path):
    """In-cluster traffic to a ClientIP-affinity Service: the client pod's node remembers its endpoint."""

    def __init__(
        self, client: Any, network: Network, pods: Sequence[Any], proxies: Sequence[KubeProxy], service: int,
        table: EndpointTable, local: bool,
    ) -> None:
        super().__init__(client, network, pods)
        self._pickers = [p.picker(service) for p in proxies]
        self._affinity = [p.affinity[service] for p in proxies]
        self._table = table
        self._local = local
        self._offset = client.pod_offset

    def connect(self, request: Request) -> None:
        node = request.node
        pod_index = self._affinity[node].pick(self._offset + request.client_pod, self.env._now, self._pickers[node])
        if pod_index < 0:
            self._finish(request, no_endpoint_outcome(self._table, self._local))
            return
        pod = self._pods[pod_index]
        request.pod = pod
        self._later(self._network.delay(node, pod.node), pod.accept, request)


def discovery_guard(client: Any, connect: Callable[[Request], None], nxdomain: list[bool] | None) -> Callable[[Request], None]:
    """Wrap ``connect``: fail with DISCOVERY when the client cannot know the Service.

    ``nxdomain`` (the DNS's per-client-pod flags) for DNS discovery; ``None`` for a
    client whose env vars predate the Service, which can never find it until its
    pods restart.
    """
    finish = client.finish
    offset = client.pod_offset

    if nxdomain is None:
        def unknown(request: Request) -> None:
            finish(request, Outcome.DISCOVERY)
        return unknown

    def guarded(request: Request) -> None:
        if nxdomain[offset + request.client_pod]:
            finish(request, Outcome.DISCOVERY)
        else:
            connect(request)

    return guarded

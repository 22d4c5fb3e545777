"""Where a request enters the cluster's data plane and how it reaches its pod, by Service type and sender.

An entry is the part of a route (model/route.py) between the connection layer
and the pod. It knows how a *new connection* finds its endpoint and what the
way there and back costs; the connection layer (model/connections.py) decides
when a request needs a new connection. Every entry offers the same calls:

- ``connect(request)``: a connection of its own for this one request (the
  ``per-request`` mode): choose the endpoint, travel to the pod;
- ``open(request) -> Connection | None``: open a pooled connection (choose its
  endpoint once; conntrack pins it); None when the attempt ended the try;
- ``deliver(request, conn, first)``: send a request on an open connection;
- ``respond(request, outcome)``: the pod answered; the answer travels back and
  ends the try on the request's route;
- ``broken(conn)``: whether an open connection no longer works.

The entries:

- :class:`ClusterIpEntry`: in-cluster senders (client pods, calling pods): the
  sender node's kube-proxy DNATs the Service's cluster IP to an endpoint
  (internalTrafficPolicy, topology and ``sessionAffinity: ClientIP`` applied by
  that node's rules), and a new connection's first packet pays for rule
  evaluation (model/first_packet.py).
- :class:`NodePortEntry`: an external client connects to a node's IP at the
  nodePort (over the internet); the first packet matches ``KUBE-NODEPORTS``, the
  last rule of ``KUBE-SERVICES`` (model/first_packet.py); that node's kube-proxy applies
  ``externalTrafficPolicy``: ``Cluster`` picks any ready endpoint (a remote one
  costs a hop to its node, and the node SNATs, so the pod never sees the client
  IP and the response returns through the entry node), ``Local`` only this
  node's ready endpoints (none: the SYN is dropped and the sender waits for its
  connect timeout, :attr:`Outcome.NO_LOCAL_ENDPOINT`; client IP kept).
- :class:`LoadBalancerEntry`: external client → cloud LB zone front end
  (:mod:`netsim.model.load_balancer`) → a node at the nodePort, then as above
  (``instance`` targets: the nodePort, or the LB's own address where the LB keeps
  it as destination, whose rule sits at its Service's place), or the pod directly
  (``ip`` targets, no kube-proxy, no rule cost).
- :class:`ExternalNameEntry`: the Service is a CNAME; after DNS (CNAME chased
  upstream), the request crosses the internet to the outside host and back.

Hops (the ``entry_hops`` figure) count links crossed before the entry node:
internet = 1, LB → node = 1; metrics add 1 when the pod runs on another node
than the entry node. A node that is down answers nothing: a new connection to it
waits for the sender's connect timeout (:attr:`Outcome.CONNECT_TIMEOUT`), a
request on an open one for its deadline (model/deadlines.py); the sender is not
told the connection died, so it keeps it (keep-alive closes it when a try times
out) until TCP gives up retransmitting (:data:`TCP_GIVE_UP_S`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heappush
from math import inf
from typing import Any

import numpy as np

from netsim.distributions import BlockSampler
from netsim.model.events import PRIORITY, Environment, Wakeup
from netsim.model.kube_proxy import KubeProxy
from netsim.model.load_balancer import NO_TARGET, CloudLoadBalancer
from netsim.model.network import Locality, Network
from netsim.model.request import Outcome, Request, add_proxy_cost
from netsim.routing import EndpointTable

TCP_GIVE_UP_S = 924.6
"""Linux ``tcp_retries2`` = 15: an established connection whose data goes unacknowledged is given up after about
924.6 s (kernel ip-sysctl.rst); until then nothing tells the sender that its peer died silently."""
EXTERNAL_IP_BASE = 1 << 24
"""Client-IP numbering: in-cluster client pods are 0.., calling pods CALLER_IP_BASE + pod,
external sources EXTERNAL_IP_BASE + client·2^16 + source."""
CALLER_IP_BASE = 1 << 22
LB_IP_BASE = 1 << 40
"""A proxying LB's zone front ends (the address nodes see behind an ``aws-clb``)."""
OK = Outcome.OK


def external_ip(client: int, source: int) -> int:
    return EXTERNAL_IP_BASE + (client << 16) + source


def no_endpoint_outcome(table: EndpointTable, local: bool) -> Outcome:
    """Why kube-proxy found no endpoint: a Local policy on a node without one, or none usable at all.

    kube-proxy's ``hasAnyEndpoints``: an endpoint is usable if ready, or serving and terminating."""
    return Outcome.NO_LOCAL_ENDPOINT if local and table.any_usable() else Outcome.REFUSED


def end_without_endpoint(request: Request, outcome: Outcome) -> None:
    """kube-proxy found no endpoint: none at all is REJECTed (ICMP port unreachable: the sender's connect fails
    at once, refused); a Local policy's empty node DROPs the SYN (the sender waits for its connect timeout)."""
    if outcome is Outcome.NO_LOCAL_ENDPOINT:
        request.route.unanswered(request, outcome)
    else:
        request.route.answered(request, outcome)


class Connection:
    """One TCP connection, pinned by conntrack to ``pod`` through ``picker``'s node."""

    __slots__ = ("id", "pod", "picker", "opened", "requests", "in_flight", "retired", "node", "via", "target", "source",
                 "lost_at")

    def __init__(self, ident: int, pod: Any, picker: Any, opened: float) -> None:
        self.id = ident
        self.pod = pod
        self.picker = picker
        self.opened = opened
        self.requests = 0
        self.in_flight = 0
        self.retired = False
        self.node = -1
        """External connections: the entry node (conntrack lives there)."""
        self.via = -1
        self.target = -1
        self.source = 0
        self.lost_at = inf
        """When a request on it first went unanswered at the transport level (its pod or entry node went
        dark): TCP retransmits from then on and gives up :data:`TCP_GIVE_UP_S` later."""


class _NoProxy:
    """The picker of a connection that no kube-proxy chose (LB ``ip`` targets): nothing to release."""

    @staticmethod
    def release(pod: int) -> None:
        return None


NO_PROXY = _NoProxy()


class Entry:
    """What every entry shares: the clock, the network, the pods, and how a try's answer travels."""

    def __init__(self, env: Environment, network: Network, pods: Sequence[Any]) -> None:
        self.env = env
        self._network = network
        self._pods = pods
        self._hops_free = network.is_free()
        self.connection_ids: Any = None
        """A shared counter of connection ids, set by the route builder."""
        self.entry_hops = 0
        """Links crossed before the entry node (0 in-cluster, 1 NodePort or the internet, 2 via a cloud LB)."""
        self.answers_directly = False
        """The way back costs nothing and does nothing: the route may take the pod's answer itself."""
        self.client_ip_preserved = 1
        """1 when pods see the sender's own IP (no SNAT, no proxying LB on the way)."""

    def _later(self, delay: float, fn: Callable[[Any], None], arg: Any) -> None:
        if delay > 0.0:
            env = self.env
            heappush(env.heap, (env.time + delay, PRIORITY, next(env.ids), Wakeup(env, fn, arg)))
        else:
            fn(arg)

    @staticmethod
    def _ended(args: tuple[Request, Outcome]) -> None:
        request, outcome = args
        request.route.answered(request, outcome)

    @staticmethod
    def _ended_ok(request: Request) -> None:
        """:meth:`_ended` of an answer (the common case: no tuple to build and take apart)."""
        request.route.answered(request, OK)

    def broken(self, conn: Connection) -> bool:
        """The sender knows the connection is dead: its pod's process closed it (FIN or RST), or TCP gave up
        retransmitting to a peer that died silently (then the next use reconnects)."""
        return conn.pod.gone or self.env.time - conn.lost_at >= TCP_GIVE_UP_S


class PerNode(dict):  # type: ignore[type-arg]
    """``node -> what a route needs there`` (a picker, an affinity table, a first-packet sampler), made on first use.

    A route keeps nothing for the nodes its senders never enter from: thousands of
    nodes × Services cost only the pairs traffic touches. A plain dict lookup on the
    hot path once made.
    """

    def __init__(self, make: Callable[[int], Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, node: int) -> Any:
        made = self[node] = self._make(node)
        return made


class ClusterIpEntry(Entry):
    """An in-cluster sender's node DNATs the cluster IP to an endpoint; the request crosses to its pod."""

    def __init__(
        self, env: Environment, network: Network, pods: Sequence[Any], proxies: Sequence[KubeProxy], service: int,
        table: EndpointTable, local: bool, first_packet: Callable[[int], Callable[[], float] | None],
        affinity: bool,
    ) -> None:
        super().__init__(env, network, pods)
        self._pickers = PerNode(lambda node: proxies[node].picker(service))
        self._affinity: PerNode | None = PerNode(lambda node: proxies[node].affinity_of(service)) if affinity else None
        self._table = table
        self._local = local
        self._first_packet = PerNode(first_packet)
        """Per node, the first-packet cost sampler (None: this mode costs nothing), built on first use."""
        self.answers_directly = self._hops_free

    def picker(self, node: int) -> Any:
        return self._pickers[node]

    def _first_packet_cost(self, node: int) -> float:
        cost = self._first_packet[node]
        return cost() if cost is not None else 0.0  # type: ignore[operator]

    @staticmethod
    def _source(request: Request) -> int:
        """The sending pod's IP (what hashing schedulers and session affinity key on)."""
        return request.route.slot_source[request.slot]

    def _pick(self, request: Request) -> int:
        node = request.node
        if self._affinity is not None:
            return self._affinity[node].pick(self._source(request), self.env.time, self._pickers[node])
        return self._pickers[node](self._source(request))

    def no_endpoint(self) -> Outcome:
        return no_endpoint_outcome(self._table, True) if self._local else Outcome.REFUSED

    def connect(self, request: Request) -> None:
        """A new connection for one request: this node's rules pick the endpoint, the first packet pays for them."""
        node = request.node
        if self._affinity is not None:
            pod_index = self._affinity[node].pick(self._source(request), self.env.time, self._pickers[node])
        else:
            pod_index = self._pickers[node]()
        if pod_index < 0:
            end_without_endpoint(request, self.no_endpoint())
            return
        pod = self._pods[pod_index]
        if self._hops_free:
            pod.accept(request)
            return
        request.pod = pod
        hop = self._network.delay(node, pod.node)
        cost = self._first_packet[node]
        if cost is not None:
            paid = cost()  # type: ignore[operator]
            request.proxy = getattr(request, "proxy", 0) + paid  # add_proxy_cost, written out
            request.special = True
            hop += paid
        if hop > 0.0:
            env = self.env
            heappush(env.heap, (env.time + hop, PRIORITY, next(env.ids), Wakeup(env, pod.accept, request)))
        else:
            pod.accept(request)

    def open(self, request: Request) -> Connection | None:
        """A pooled connection opens: the sender node's rules pick its endpoint once (conntrack)."""
        node = request.node
        picker = self._pickers[node]
        pod_index = self._pick(request)
        if pod_index < 0:
            end_without_endpoint(request, self.no_endpoint())
            return None
        return Connection(next(self.connection_ids), self._pods[pod_index], picker, self.env.time)

    def deliver(self, request: Request, conn: Connection, first: bool) -> None:
        """The request travels on ``conn`` to its pinned pod (the first packet pays rule evaluation)."""
        pod = conn.pod
        if self._hops_free:
            pod.accept(request)
            return
        request.pod = pod
        hop = self._network.delay(request.node, pod.node)
        if first:
            paid = self._first_packet_cost(request.node)
            add_proxy_cost(request, paid)
            hop += paid
        self._later(hop, pod.accept, request)

    def respond(self, request: Request, outcome: Outcome) -> None:
        """The pod answered (``OK``) or turned it away; the response crosses back."""
        if not self._hops_free:
            hop = self._network.delay(request.pod.node, request.node)
            if hop > 0.0:
                env = self.env
                heappush(env.heap, (env.time + hop, PRIORITY, next(env.ids),
                                    Wakeup(env, self._ended_ok, request) if outcome is OK
                                    else Wakeup(env, self._ended, (request, outcome))))
                return
        request.route.answered(request, outcome)


class ExternalNameEntry(Entry):
    """A CNAME to a host outside: the internet both ways plus the host's own time; no kube-proxy, no pod."""

    def __init__(self, env: Environment, network: Network, pods: Sequence[Any], host_time: BlockSampler) -> None:
        super().__init__(env, network, pods)
        self._host_time = host_time
        self.entry_hops, self.client_ip_preserved = 1, 0

    def connect(self, request: Request) -> None:
        network = self._network
        out, host, back = network.delay_of(Locality.INTERNET), self._host_time(), network.delay_of(Locality.INTERNET)
        request.t_pod = request.t_start = self.env.time + out  # the outside host's time counts as its work
        request.t_done = request.t_start + host
        self._later(out + host + back, self._ended, (request, Outcome.OK))

    def open(self, request: Request) -> Connection | None:  # pragma: no cover - ExternalName routes are per-request
        raise NotImplementedError("an ExternalName host is reached with a connection per request")

    def respond(self, request: Request, outcome: Outcome) -> None:  # pragma: no cover - no pod answers here
        request.route.answered(request, outcome)


class _NodeProxyEntry(Entry):
    """What NodePort and instance-target LB traffic share: a node's kube-proxy at the nodePort, then the pod."""

    def __init__(
        self, env: Environment, network: Network, pods: Sequence[Any], proxies: Sequence[KubeProxy], service: int,
        table: EndpointTable, local: bool, client: int, node_up: list[bool] | None,
        first_packet: Callable[[int], Callable[[], float] | None] | None = None,
    ) -> None:
        super().__init__(env, network, pods)
        self._pickers = PerNode(lambda node: proxies[node].external_picker(service))
        self._affinity = PerNode(lambda node: proxies[node].affinity_of(service))
        self._table = table
        self._local = local
        self._client = client
        self._node_up = node_up
        """The nodes' state under churn (a node that is down black-holes what is sent to it); None without."""
        self._first_packet_of = first_packet or (lambda node: None)
        self._first_packet: list[Callable[[], float] | bool | None] = [False] * len(proxies)
        """Per entry node, its rules' first-packet cost sampler (False: not built yet; None: costs nothing)."""

    def _first_packet_cost(self, request: Request) -> float:
        """The entry node's rule evaluation for a new connection's first packet (the breakdown's ``proxy``)."""
        if self._hops_free:
            return 0.0  # an exact queueing model: no hop, no rule cost (as in-cluster)
        node = request.node
        cost = self._first_packet[node]
        if cost is False:
            cost = self._first_packet[node] = self._first_packet_of(node)
        if cost is None:
            return 0.0
        paid = cost()  # type: ignore[operator]
        add_proxy_cost(request, paid)
        return paid

    def _at_node(self, request: Request) -> None:
        """The packet reaches ``request.node`` at the nodePort: that node's kube-proxy DNATs it."""
        picked = self._pin(request)
        if picked is None:
            return
        pod = self._pods[picked[0]]
        request.pod = pod
        self._later(self._first_packet_cost(request) + self._network.delay(request.node, pod.node), pod.accept, request)

    def _pin(self, request: Request) -> tuple[int, Any] | None:
        """A new connection reaches ``request.node``: its kube-proxy chooses the endpoint once (conntrack).

        Returns ``(pod index, picker)``, or None when the attempt ended the try here (no
        endpoint: refused or dropped) or will end it at its deadline (a dark node).
        """
        node = request.node
        if self._node_up is not None and not self._node_up[node]:
            request.route.unanswered(request, Outcome.CONNECT_TIMEOUT)  # nobody answers the SYN
            return None
        affinity = self._affinity[node]
        picker = self._pickers[node]
        pod_index = affinity.pick(request.source, self.env.time, picker) if affinity is not None else picker()
        if pod_index < 0:
            end_without_endpoint(request, no_endpoint_outcome(self._table, self._local))
            return None
        return pod_index, picker

    def entry_down(self, node: int) -> bool:
        """Whether the node a connection entered at has gone dark (its conntrack entry with it)."""
        return self._node_up is not None and not self._node_up[node]

    def broken(self, conn: Connection) -> bool:
        """As :meth:`Entry.broken`: an entry node that went dark tells nobody (its requests are lost)."""
        return conn.pod.gone or self.env.time - conn.lost_at >= TCP_GIVE_UP_S

    def _connection(self, request: Request, pod_index: int, picker: Any, target: int) -> Connection:
        conn = Connection(next(self.connection_ids), self._pods[pod_index], picker, self.env.time)
        conn.node, conn.via, conn.source, conn.target = request.node, request.via, request.source, target
        return conn

    def deliver(self, request: Request, conn: Connection, first: bool) -> None:
        """The request takes the connection's fixed path: its entry, its pod."""
        request.node = conn.node
        request.via = conn.via
        request.source = conn.source
        pod = conn.pod
        request.pod = pod
        if self.entry_down(conn.node):  # the entry node died silently: the request is lost, its sender times out
            if first:
                request.route.unanswered(request, Outcome.CONNECT_TIMEOUT)
            elif conn.lost_at > self.env.time:
                conn.lost_at = self.env.time
            return
        delay = self.outbound(request)
        if first and conn.picker is not NO_PROXY:  # a new connection's first packet meets the entry node's rules
            delay += self._first_packet_cost(request)
        self._later(delay, pod.accept, request)

    def outbound(self, request: Request) -> float:  # pragma: no cover - overridden
        raise NotImplementedError


class NodePortEntry(_NodeProxyEntry):
    """External client → a node IP at the nodePort (uniform over ``entry_nodes``) → kube-proxy → pod."""

    def __init__(
        self, env: Environment, network: Network, pods: Sequence[Any], proxies: Sequence[KubeProxy], service: int,
        table: EndpointTable, local: bool, client: int, node_up: list[bool] | None, entry_nodes: Sequence[int],
        rng: np.random.Generator, first_packet: Callable[[int], Callable[[], float] | None] | None = None,
    ) -> None:
        super().__init__(env, network, pods, proxies, service, table, local, client, node_up, first_packet)
        self._entry_nodes = list(entry_nodes)
        self._rng = rng
        self.entry_hops, self.client_ip_preserved = 1, int(local)
        self._entries: list[int] = []
        self._i = 0

    def _enter(self, request: Request) -> None:
        """Choose the node the connection enters at (uniform over the entry nodes)."""
        i = self._i
        if i >= len(self._entries):
            self._entries = np.asarray(self._entry_nodes)[self._rng.integers(0, len(self._entry_nodes), 4096)].tolist()
            i = 0
        self._i = i + 1
        request.node = self._entries[i]
        request.source = external_ip(self._client, request.slot)
        request.via = -1

    def connect(self, request: Request) -> None:
        self._enter(request)
        self._later(self._network.delay_of(Locality.INTERNET), self._at_node, request)

    def open(self, request: Request) -> Connection | None:
        """A pooled connection opens: an entry node as :meth:`connect` chooses one, then its kube-proxy's pick."""
        self._enter(request)
        pinned = self._pin(request)
        return None if pinned is None else self._connection(request, *pinned, -1)

    def outbound(self, request: Request) -> float:
        """A request on an open connection: the internet to its entry node, then on to its pinned pod."""
        return self._network.delay_of(Locality.INTERNET) + self._network.delay(request.node, request.pod.node)

    def respond(self, request: Request, outcome: Outcome) -> None:
        """The response returns through the entry node (SNAT for Cluster; the same node for Local)."""
        delay = self._network.delay(request.pod.node, request.node) + self._network.delay_of(Locality.INTERNET)
        self._later(delay, self._ended, (request, outcome))


class LoadBalancerEntry(_NodeProxyEntry):
    """External client → cloud LB → node at the nodePort → kube-proxy → pod, or LB → pod (``ip`` targets)."""

    def __init__(
        self, env: Environment, network: Network, pods: Sequence[Any], proxies: Sequence[KubeProxy], service: int,
        table: EndpointTable, local: bool, client: int, node_up: list[bool] | None, lb: CloudLoadBalancer,
        latency: BlockSampler, first_packet: Callable[[int], Callable[[], float] | None] | None = None,
    ) -> None:
        super().__init__(env, network, pods, proxies, service, table, local, client, node_up, first_packet)
        self._lb = lb
        self._lb_latency = latency
        self.entry_hops = 2
        self.client_ip_preserved = int(lb.spec.preserves_client_ip and (local or not lb.instance))

    def connect(self, request: Request) -> None:
        request.source = external_ip(self._client, request.slot)
        self._later(self._network.delay_of(Locality.INTERNET), self._at_lb, request)

    def _at_lb(self, request: Request) -> None:
        lb = self._lb
        zone, target = lb.route(request.source)
        request.via = zone
        if target == NO_TARGET:
            request.route.answered(request, Outcome.REFUSED)
            return
        network = self._network
        if lb.instance:
            request.node = target
            if not lb.spec.preserves_client_ip:
                request.source = LB_IP_BASE + zone  # a proxying LB: the node sees the LB's address
            forward = self._lb_latency()
            add_proxy_cost(request, forward)
            self._later(forward + network.delay_of(lb.leg(zone, target)), self._at_node, request)
            return
        pod = self._pods[int(self._table.pods[target])]
        request.node = pod.node  # ip targets enter the data plane at the pod's own node
        request.pod = pod  # a target the LB still uses may be gone: the pod's state decides (refused, timeout)
        forward = self._lb_latency()
        add_proxy_cost(request, forward)
        self._later(forward + network.delay_of(lb.leg(zone, pod.node)), pod.accept, request)

    def open(self, request: Request) -> Connection | None:
        """A pooled connection opens: the LB's algorithm picks a target for its 5-tuple, once.

        Instance targets: the target node's kube-proxy then picks the endpoint (conntrack);
        ``ip`` targets are the pod itself.
        """
        request.source = external_ip(self._client, request.slot)
        lb = self._lb
        zone, target = lb.route(request.source)
        request.via = zone
        if target == NO_TARGET:
            request.route.answered(request, Outcome.REFUSED)
            return None
        if not lb.instance:
            pod_index = int(self._table.pods[target])
            request.node = self._pods[pod_index].node
            return self._connection(request, pod_index, NO_PROXY, target)
        request.node = target
        if not lb.spec.preserves_client_ip:
            request.source = LB_IP_BASE + zone
        pinned = self._pin(request)
        return None if pinned is None else self._connection(request, *pinned, target)

    def broken(self, conn: Connection) -> bool:
        """Also broken when the LB took the connection's target out of service: it resets the connection.

        While it fails open, the LB keeps using unhealthy targets, and so do their connections.
        """
        return super().broken(conn) or not self._lb.serves(conn.via, conn.target)

    def outbound(self, request: Request) -> float:
        """A request on an open connection: internet, LB, the target node and on to the pod (or the pod)."""
        network = self._network
        lb = self._lb
        forward = self._lb_latency()
        add_proxy_cost(request, forward)
        delay = network.delay_of(Locality.INTERNET) + forward + network.delay_of(lb.leg(request.via, request.node))
        if lb.instance:
            delay += network.delay(request.node, request.pod.node)
        return delay

    def respond(self, request: Request, outcome: Outcome) -> None:
        network = self._network
        pod_node = request.pod.node
        delay = network.delay(pod_node, request.node) if self._lb.instance else 0.0
        delay += network.delay_of(self._lb.leg(request.via, request.node))
        back = self._lb_latency()
        add_proxy_cost(request, back)
        delay += back + network.delay_of(Locality.INTERNET)
        self._later(delay, self._ended, (request, outcome))

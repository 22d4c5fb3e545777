"""Client connections: kube-proxy balances connections, not requests.

kube-proxy chooses an endpoint only when a connection opens; conntrack then pins
the connection to it until it closes (k8s-facts §6). How a client reuses
connections therefore decides how its requests spread:

- ``per-request``: every request opens a connection: a new endpoint choice and
  the first-packet rule-evaluation cost each time (the client's default path in
  :mod:`netsim.model.client`; this module only takes over when the node's
  scheduler keeps state, so that closing a connection decrements its counter).
- ``keep-alive`` (HTTP/1.1): each client pod holds up to ``pool`` connections,
  one request in flight on each; a request takes an idle connection, opens one
  while fewer than ``pool`` exist, or waits (FIFO) for one to come free.
- ``multiplexed`` (HTTP/2, gRPC): each client pod opens up to ``pool``
  connections and spreads requests over them in turn, any number in flight.

``max_requests`` and ``max_lifetime`` retire a connection (it closes when its
last request ends; the next request opens a new one: a new endpoint choice).
If the pinned endpoint's pod has gone away (:attr:`Pod.gone`), the next request
on the connection finds it reset: the client drops it and reconnects, a new
endpoint choice, and the request goes on the new connection.
External clients pool the same way (:class:`ExternalConnectionPool`, one pool
per client address): a connection is pinned to its entry (NodePort node, LB
target) as well as to its pod, and also ends when its entry node goes dark or
the LB takes its target out of service.
Simplifications: connections open instantly apart from the first-packet cost
(no handshake round trip), and lifetimes and breakage are checked when a
connection is next used, not by a timer (a reset costs the next request
nothing: it goes on a new connection).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from itertools import count
from typing import Any

from simpy.core import NORMAL

from netsim.config.schema import ConnectionsConfig
from netsim.model.events import Wakeup
from netsim.model.request import Outcome, Request


class Connection:
    """One TCP connection, pinned by conntrack to ``pod`` through ``picker``'s node."""

    __slots__ = ("id", "pod", "picker", "opened", "requests", "in_flight", "retired")

    def __init__(self, ident: int, pod: Any, picker: Any, opened: float) -> None:
        self.id = ident
        self.pod = pod
        self.picker = picker
        self.opened = opened
        self.requests = 0
        self.in_flight = 0
        self.retired = False


class ConnectionPool:
    """The connection layer of one client: between the request's birth and the endpoint choice.

    Installs itself as the client's ``_connect`` and ``finish``.
    """

    def __init__(
        self,
        client: Any,
        config: ConnectionsConfig,
        pods: Sequence[Any],
        ids: count,
        affinity: Callable[[Request, Any], int] | None = None,
    ) -> None:
        self.client = client
        self.env = client.env
        self.mode = config.mode
        self.pool = config.pool
        self.max_requests = config.max_requests
        self.max_lifetime = config.max_lifetime
        self._pods = pods
        self._ids = ids
        self._affinity = affinity
        senders = len(client.pod_nodes)
        self.open: list[list[Connection]] = [[] for _ in range(senders)]
        self._idle: list[deque[Connection]] = [deque() for _ in range(senders)]
        self._waiting: list[deque[Request]] = [deque() for _ in range(senders)]
        self._turn = [0] * senders
        self.opened = 0
        self.reconnects = 0
        self._base_finish = client.finish
        client._connect = self.send
        client.finish = self.finish

    # -- opening and closing ------------------------------------------------------------------

    def _open(self, request: Request) -> Connection | None:
        """A new connection: the client's node's kube-proxy chooses the endpoint (None: refused)."""
        client = self.client
        picker = client._pickers[request.node]
        if self._affinity is not None:
            pod_index = self._affinity(request, picker)
        else:
            pod_index = picker(client.pod_offset + request.client_pod)
        if pod_index < 0:
            request.conn = None
            self._base_finish(request, client.why_no_endpoint(request))
            return None
        conn = Connection(next(self._ids), self._pods[pod_index], picker, self.env._now)
        self.opened += 1
        if self.mode != "per-request":
            self.open[request.client_pod].append(conn)
        return conn

    def _close(self, conn: Connection, sender: int) -> None:
        conn.retired = True
        conn.picker.release(conn.pod.index)
        conns = self.open[sender]
        if conn in conns:
            conns.remove(conn)

    def _broken(self, conn: Connection) -> bool:
        """Conntrack's end of the connection is gone: its pod went away (the next use finds it reset)."""
        return conn.pod.gone

    def _expired(self, conn: Connection) -> bool:
        if self.max_requests is not None and conn.requests >= self.max_requests:
            return True
        return self.max_lifetime is not None and self.env._now - conn.opened >= self.max_lifetime

    # -- the request path ---------------------------------------------------------------------

    def send(self, request: Request) -> None:
        """Put the request on a connection (opening one if the mode allows), or make it wait."""
        sender = request.client_pod
        if self.mode == "per-request":
            conn = self._open(request)
            if conn is not None:
                self._deliver(request, conn, True)
            return
        if self.mode == "keep-alive":
            idle = self._idle[sender]
            while idle:
                conn = idle.popleft()
                if conn.retired:
                    continue
                broken = self._broken(conn)
                if broken or self._expired(conn):
                    self.reconnects += broken
                    self._close(conn, sender)
                    continue
                self._deliver(request, conn, False)
                return
            if len(self.open[sender]) < self.pool:
                conn = self._open(request)
                if conn is not None:
                    self._deliver(request, conn, True)
            else:
                self._waiting[sender].append(request)
            return
        conns = self.open[sender]  # multiplexed
        for conn in [c for c in conns if self._broken(c) or self._expired(c)]:
            self.reconnects += self._broken(conn)
            conns.remove(conn)
            conn.retired = True
            if conn.in_flight == 0:
                conn.picker.release(conn.pod.index)
        if len(conns) < self.pool:
            conn = self._open(request)
            if conn is not None:
                self._deliver(request, conn, True)
            return
        turn = self._turn[sender] % len(conns)
        self._turn[sender] = turn + 1
        self._deliver(request, conns[turn], False)

    def _deliver(self, request: Request, conn: Connection, first: bool) -> None:
        """The request travels on ``conn`` to its pinned pod (the first packet pays rule evaluation)."""
        conn.requests += 1
        conn.in_flight += 1
        request.conn = conn
        pod = conn.pod
        client = self.client
        if client._hops_free:
            pod.accept(request)
            return
        request.pod = pod
        hop = client._network.delay(request.node, pod.node)
        if first and client.first_packet is not None:
            hop += client.first_packet[request.node]()
        if hop > 0.0:
            self.env.schedule(Wakeup(self.env, pod.accept, request), NORMAL, hop)
        else:
            pod.accept(request)

    def finish(self, request: Request, outcome: Outcome) -> None:
        """The request ended: record it with its connection, then free or close the connection."""
        conn = request.conn
        if conn is None:
            self.client.connection = -1
            self._base_finish(request, outcome)
            return
        request.conn = None
        conn.in_flight -= 1
        self.client.connection = conn.id
        self._base_finish(request, outcome)
        sender = request.client_pod
        if self.mode == "per-request":
            conn.picker.release(conn.pod.index)
            return
        if conn.retired:  # a multiplexed connection retired while requests were in flight
            if conn.in_flight == 0:
                conn.picker.release(conn.pod.index)
            return
        if self.mode == "keep-alive":
            if self._expired(conn):
                self._close(conn, sender)
            else:
                self._idle[sender].append(conn)
            waiting = self._waiting[sender]
            # more than one may go: a try that finds the endpoint gone and no other ready ends at once
            # (churn), freeing nothing, and the next waiting request must not wait for ever
            while waiting and (self._idle[sender] or len(self.open[sender]) < self.pool):
                self.send(waiting.popleft())
        elif self._expired(conn) and conn.in_flight == 0:
            self._close(conn, sender)


class ExternalConnection(Connection):
    """A connection from outside: pinned to its entry (node, LB front end and target) as well as its pod."""

    __slots__ = ("node", "via", "target", "source")

    def __init__(self, ident: int, pod: Any, picker: Any, opened: float, request: Request, target: int) -> None:
        super().__init__(ident, pod, picker, opened)
        self.node = request.node
        self.via = request.via
        self.source = request.source
        self.target = target


class _NoProxy:
    """The picker of an LB ``ip``-target connection: no kube-proxy on the path, nothing to release."""

    @staticmethod
    def release(pod: int) -> None:
        return None


class ExternalConnectionPool(ConnectionPool):
    """The connection layer of an external client (NodePort or LoadBalancer; model/entry.py).

    A connection opens to one entry, chosen as a per-request connection's would be:
    a NodePort node (uniform over ``entry_nodes``), or the LB's algorithm on the
    connection's 5-tuple (so the same connection always maps to the same target);
    the entry node's kube-proxy then picks the endpoint once (conntrack). Every
    request on the connection takes that fixed path to the same pod and pays its
    hops. Besides retiring (``max_requests``/``max_lifetime``) the connection ends
    when its pod goes away, its entry node goes dark, or the LB takes its target
    out of service (the LB resets it); the next request then finds it broken and
    reconnects (a new entry and endpoint choice). Each pool belongs to one client
    address (``source_ips``), as each client pod's does in the cluster.
    """

    def __init__(self, client: Any, config: ConnectionsConfig, pods: Sequence[Any], ids: count, entry: Any) -> None:
        super().__init__(client, config, pods, ids)
        self._entry = entry
        self._lb = hasattr(entry, "target_removed")
        entry._finish = self.finish  # the entry's responses and refusals end through the pool

    def _open(self, request: Request) -> Connection | None:
        request.conn = None
        opened = self._entry.open(request)
        if opened is None:
            return None
        pod_index, picker, target = opened
        conn = ExternalConnection(next(self._ids), self._pods[pod_index], picker or _NoProxy, self.env._now, request, target)
        self.opened += 1
        self.open[request.client_pod].append(conn)
        return conn

    def _broken(self, conn: Connection) -> bool:
        entry = self._entry
        return conn.pod.gone or entry.entry_down(conn.node) or (self._lb and entry.target_removed(conn.via, conn.target))  # type: ignore[attr-defined]

    def _deliver(self, request: Request, conn: Connection, first: bool) -> None:
        """The request takes the connection's fixed path: its entry, its pod."""
        conn.requests += 1
        conn.in_flight += 1
        request.conn = conn
        request.node = conn.node  # type: ignore[attr-defined]
        request.via = conn.via  # type: ignore[attr-defined]
        request.source = conn.source  # type: ignore[attr-defined]
        pod = conn.pod
        request.pod = pod
        delay = self._entry.outbound(request)
        if delay > 0.0:
            self.env.schedule(Wakeup(self.env, pod.accept, request), NORMAL, delay)
        else:
            pod.accept(request)

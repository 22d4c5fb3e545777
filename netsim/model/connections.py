"""Connections: kube-proxy balances connections, not requests.

kube-proxy chooses an endpoint only when a connection opens; conntrack then pins
the connection to it until it closes (k8s-facts §6). How a sender reuses
connections therefore decides how its requests spread. A connection layer sits
in a route (model/route.py) between the sender and the entry
(model/entry.py), which opens connections and carries requests on them:

- :class:`PerRequest`: every request opens a connection: a new endpoint choice
  and the first-packet rule-evaluation cost each time. When the node's scheduler
  keeps state (IPVS ``lc``, ``wlc``, ``sed``, ``nq``) it also sees each
  connection close, so that its counts go down.
- :class:`KeepAlivePool` (HTTP/1.1): each sender slot holds up to ``pool``
  connections, one request in flight on each; a request takes an idle
  connection, opens one while fewer than ``pool`` exist, or waits (FIFO) for
  one to come free.
- :class:`MultiplexedPool` (HTTP/2, gRPC): each sender slot opens up to ``pool``
  connections and spreads requests over them in turn, any number in flight.

``max_requests`` and ``max_lifetime`` retire a connection (it closes when its
last request ends; the next request opens a new one: a new endpoint choice).
If the pinned endpoint's pod closed it (:attr:`Pod.gone`: deleted, crashed,
past SIGTERM), or an external connection's LB target was taken out of service,
the next request on the connection finds it broken: the sender drops it and
reconnects (a new endpoint choice), and the request goes on the new connection.
A peer that died silently (its node went dark) tells nobody: requests on the
connection wait for their timeout, and the connection is broken only once TCP
gives up retransmitting (about 15 min, model/entry.py). A try that times out
closes its keep-alive connection (the sender cannot reuse a connection with an
answer still owed on it); on a multiplexed connection only the stream is reset,
and the connection stays (as a gRPC deadline does). A connection whose SYN got no
answer never opened: it is dropped, and the next request opens another.
Simplifications: connections open instantly apart from the first-packet cost
(no handshake round trip), and lifetimes and breakage are checked when a
connection is next used, not by a timer (a reset costs the next request
nothing: it goes on a new connection).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from netsim.config.schema import ConnectionsConfig
from netsim.model.entry import Connection, Entry
from netsim.model.request import Request, part
from netsim.model.slots import slot_objects, slot_values


class PerRequest:
    """A connection of its own for every request.

    ``stateful``: the node's scheduler counts connections (IPVS least-connection
    family), so the connection is opened through :meth:`Entry.open` and its close
    released; otherwise the entry's own single-request path (``connect``) is used.
    """

    pooled = False

    def __init__(self, entry: Entry, stateful: bool) -> None:
        self._entry = entry
        self._stateful = stateful
        self.send = self._send_counted if stateful else entry.connect  # type: ignore[assignment]
        """Put a request on its own connection (chosen once, here: the scheduler decides)."""

    @staticmethod
    def reuses(slot: int) -> bool:
        """Never: every request dials (and so looks the name up)."""
        return False

    def _send_counted(self, request: Request) -> None:
        conn = self._entry.open(request)
        if conn is not None:
            conn.requests = conn.in_flight = 1
            request.conn = conn
            self._entry.deliver(request, conn, True)

    def finished(self, request: Request, conn: Connection, timed_out: bool) -> None:
        """The try ended: its connection closes."""
        conn.picker.release(conn.pod.index)


class _Pool:
    """What keep-alive and multiplexed pools share: per-slot open connections, retirement, breakage."""

    pooled = True

    def __init__(self, entry: Entry, config: ConnectionsConfig, clock: Any) -> None:
        self._entry = entry
        self._clock = clock
        self.pool = config.pool
        self.max_requests = config.max_requests
        self.max_lifetime = config.max_lifetime
        self.open = slot_objects(list)
        """Per slot, its open connections (model/slots.py: only slots that have sent hold a list)."""
        self.opened = 0
        self.reconnects = 0
        self.most_in_flight = 0
        """The most requests ever in flight on one connection (1 for keep-alive: one at a time)."""
        self._ages = self.max_requests is not None or self.max_lifetime is not None
        """Whether connections retire by use or age at all (else :meth:`_expired` is always False)."""

    def _open(self, request: Request) -> Connection | None:
        conn = self._entry.open(request)
        if conn is not None:
            self.opened += 1
            self.open[request.slot].append(conn)
        return conn

    def _close(self, conn: Connection, slot: int) -> None:
        conn.retired = True
        conn.picker.release(conn.pod.index)
        conns = self.open[slot]
        if conn in conns:
            conns.remove(conn)

    def _expired(self, conn: Connection) -> bool:
        if self.max_requests is not None and conn.requests >= self.max_requests:
            return True
        return self.max_lifetime is not None and self._clock.time - conn.opened >= self.max_lifetime

    def _deliver(self, request: Request, conn: Connection, first: bool) -> None:
        conn.requests += 1
        conn.in_flight += 1
        if conn.in_flight > self.most_in_flight:
            self.most_in_flight = conn.in_flight
        request.conn = conn
        self._entry.deliver(request, conn, first)


class KeepAlivePool(_Pool):
    """HTTP/1.1 keep-alive: one request in flight per connection, at most ``pool`` connections per slot."""

    def __init__(self, entry: Entry, config: ConnectionsConfig, clock: Any) -> None:
        super().__init__(entry, config, clock)
        self._idle = slot_objects(deque)
        self._waiting = slot_objects(deque)

    def reuses(self, slot: int) -> bool:
        """Will the slot's next request go on an open connection, or wait for one (no dial, no lookup)?

        Drops idle connections that no longer work or have retired, as :meth:`send` would.
        """
        idle = self._idle[slot]
        while idle:
            conn = idle[0]
            if conn.retired:
                idle.popleft()
                continue
            broken = self._entry.broken(conn)
            if broken or (self._ages and self._expired(conn)):
                idle.popleft()
                self.reconnects += broken
                self._close(conn, slot)
                continue
            return True
        return len(self.open[slot]) >= self.pool

    def send(self, request: Request) -> None:
        """An idle connection that still works, a new one while the pool has room, or wait."""
        slot = request.slot
        idle = self._idle[slot]
        while idle:
            conn = idle.popleft()
            if conn.retired:
                continue
            broken = self._entry.broken(conn)
            if broken or (self._ages and self._expired(conn)):
                self.reconnects += broken
                self._close(conn, slot)
                continue
            self._deliver(request, conn, False)
            return
        if len(self.open[slot]) < self.pool:
            conn = self._open(request)
            if conn is not None:
                self._deliver(request, conn, True)
        else:
            self._waiting[slot].append(request)

    def waiting(self) -> int:
        """Requests waiting for a connection, over every slot."""
        return sum(len(w) for w in self._waiting.values())

    def finished(self, request: Request, conn: Connection, timed_out: bool) -> None:
        """The try ended: the connection goes back to the idle list (or closes), and a waiting request may go."""
        slot = request.slot
        if conn.retired:
            return
        if timed_out or (self._ages and self._expired(conn)):
            self._close(conn, slot)
        else:
            self._idle[slot].append(conn)
        waiting = self._waiting[slot]
        # more than one may go: a try that finds no endpoint ends at once, freeing nothing,
        # and the next waiting request must not wait for ever; tries that timed out while waiting are skipped
        while waiting and (self._idle[slot] or len(self.open[slot]) < self.pool):
            waiter = waiting.popleft()
            if not waiter.ended:
                waiter.conn_wait = self._clock.time - waiter.t_try - part(waiter, "dns_wait")
                waiter.special = True
                self.send(waiter)  # simplified: a new connection for a waiter opens without a lookup of its own


class MultiplexedPool(_Pool):
    """HTTP/2 or gRPC: up to ``pool`` connections per slot, requests spread over them in turn."""

    def __init__(self, entry: Entry, config: ConnectionsConfig, clock: Any) -> None:
        super().__init__(entry, config, clock)
        self._turn = slot_values(0)

    def reuses(self, slot: int) -> bool:
        """Will the slot's next request go on an open connection (the pool is full of working ones)?"""
        self._drop_dead(slot)
        return len(self.open[slot]) >= self.pool

    def _drop_dead(self, slot: int) -> None:
        conns = self.open[slot]
        entry = self._entry
        ages = self._ages
        for conn in conns:  # checked twice per request (reuses, send): most find every connection working
            if entry.broken(conn) or (ages and self._expired(conn)):
                break
        else:
            return
        for conn in [c for c in conns if entry.broken(c) or self._expired(c)]:
            self.reconnects += entry.broken(conn)
            conns.remove(conn)
            conn.retired = True
            if conn.in_flight == 0:
                conn.picker.release(conn.pod.index)

    def send(self, request: Request) -> None:
        slot = request.slot
        conns = self.open[slot]
        self._drop_dead(slot)
        if len(conns) < self.pool:
            conn = self._open(request)
            if conn is not None:
                self._deliver(request, conn, True)
            return
        turn = self._turn[slot] % len(conns)
        self._turn[slot] = turn + 1
        self._deliver(request, conns[turn], False)

    def finished(self, request: Request, conn: Connection, timed_out: bool) -> None:
        """The stream ended (a timed-out one is reset; the connection stays, unless it never opened)."""
        if conn.retired:  # retired while requests were in flight
            if conn.in_flight == 0:
                conn.picker.release(conn.pod.index)
            return
        if part(request, "unanswered"):  # its SYN got no answer: the connection never opened
            conns = self.open[request.slot]
            if conn in conns:
                conns.remove(conn)
            conn.retired = True
            if conn.in_flight == 0:
                conn.picker.release(conn.pod.index)
            return
        if self._ages and self._expired(conn) and conn.in_flight == 0:
            self._close(conn, request.slot)


def connection_layer(entry: Entry, config: ConnectionsConfig, stateful: bool, clock: Any) -> PerRequest | KeepAlivePool | MultiplexedPool:
    """The layer ``config.mode`` asks for; ``stateful``: the kube-proxy scheduler counts connections."""
    if config.mode == "keep-alive":
        return KeepAlivePool(entry, config, clock)
    if config.mode == "multiplexed":
        return MultiplexedPool(entry, config, clock)
    return PerRequest(entry, stateful)

"""A route: the whole way from a group of senders to one Service, built once and used by every sender.

External users, client pods and pods that call other Services all send their
requests along a route (design.md §8)::

    sender slot -> discovery (cluster DNS / env vars / none) -> connection layer (per-request, keep-alive,
    multiplexed) -> entry (the sender node's kube-proxy, a NodePort node, a cloud LB, an ExternalName host)
    -> network -> pod (queue, workers, the operation's steps) -> back the same way

Each stage is an object chosen once, when the world is built (model/world.py),
and handed to the route; nothing is replaced afterwards. Around the path the
route keeps each try's deadline (model/deadlines.py) and its retry policy
(:class:`RetryPolicy`): a try ends exactly once — answered, failed on the way,
or timed out at its deadline, whichever comes first — and then the policy
either sends a new try (a new connection: a new endpoint choice) or hands the
request's end to whoever waits for it, ``request.waiter.done(request, outcome)``
(a client records it; a calling pod's operation goes on, model/operations.py).

A *slot* is one sender: a client pod, an external client address, or a pod of
a calling Deployment. Per-slot state (the resolver's cache, the connection pool)
lives in the stages, indexed by slot.

Timeouts: a try's deadline is its start plus the per-try timeout, cut to the
request's own limit (its first try's start plus the sender's timeout, itself
cut to what remains of a calling pod's own deadline). With retries on
``timeout`` each try gets an equal share of the sender's timeout, so that every
try fits in it; a slow answer is cut at the try's deadline and may be retried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heappush
from typing import Any

from netsim.config.schema import CONNECT_TIMEOUT_S
from netsim.distributions import BlockSampler
from netsim.model.deadlines import Deadlines
from netsim.model.dns import DnsDiscovery
from netsim.model.entry import Entry
from netsim.model.events import PRIORITY, Environment, Wakeup
from netsim.model.request import Outcome, Request, part

RETRYABLE = {"refused": (Outcome.REFUSED,), "reset": (Outcome.RESET,), "timeout": (Outcome.TIMEOUT,),
             "rejected": (Outcome.REJECTED,), "upstream": (Outcome.UPSTREAM,),
             "connect_timeout": (Outcome.CONNECT_TIMEOUT, Outcome.NO_LOCAL_ENDPOINT)}
"""Error kinds a retry policy may name (``retries.on``), as the outcomes they retry. A SYN that a Local policy
dropped is a connect timeout to the sender (Envoy's ``connect-failure``), whatever netsim knows of its cause."""


class RetryPolicy:
    """Retry a failed try (``retries``), as a sidecar proxy does.

    A try that ends with one of ``on`` is sent again, as a new connection (a new
    endpoint choice), after a ``backoff`` draw, up to ``attempts`` times; the
    request keeps its issue time, so its latency spans every try, and it ends
    once, with the outcome of its last try. ``log(time, request)`` is told of each retry.
    """

    def __init__(self, attempts: int, on: set[Outcome], backoff: BlockSampler, log: Callable[[float, Request], None]) -> None:
        self.attempts = attempts
        self.on = on
        self.backoff = backoff
        self.log = log

    def per_try(self, timeout: float) -> float:
        """Each try's share of the sender's ``timeout``: all of it, or an equal share when timeouts are retried."""
        return timeout / (self.attempts + 1) if Outcome.TIMEOUT in self.on else timeout


class Route:
    """The composed path from one group of senders to one Service port (see the module docstring)."""

    def __init__(
        self,
        env: Environment,
        discovery: Any,
        guarded: bool,
        layer: Any,
        entry: Entry,
        timeout: float,
        retry: RetryPolicy | None,
        service: int,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.env = env
        self.connect_timeout = connect_timeout
        """A new connection whose SYN gets no answer fails this long after it was sent."""
        self.discovery = discovery
        self._resolve = discovery.resolve
        self._cache = discovery if isinstance(discovery, DnsDiscovery) else None
        self._guard = discovery if guarded else None
        self.layer = layer
        self._reuses = layer.reuses if layer.pooled and self._cache is not None else None
        """A pooled layer tells whether a request will go on a connection it has (or wait for one): no lookup then."""
        self._send_on_connection = layer.send
        self.entry = entry
        self.respond = self.answered if entry.answers_directly else entry.respond
        """The pod's answer travels back along the entry (pods call ``request.route.respond``); with no hop
        to pay on the way, the route takes it at once (a frame saved per request)."""
        self.timeout = timeout
        """The sender's timeout for a whole request (retries included)."""
        self.try_timeout = retry.per_try(timeout) if retry is not None else timeout
        """Each try's share of ``timeout`` (a retry gets the same share as the try before it)."""
        self._retry = retry
        self.service = service
        self.deadlines = Deadlines(env, self._timed_out)
        self._pending = self.deadlines.pending
        self.slot_node: Sequence[int] = []
        """The node of each sender slot (where its requests enter the data plane, for in-cluster senders)."""
        self.slot_source: Sequence[int] = []
        """The IP address of each sender slot, as kube-proxy's hashing schedulers and session affinity see it."""
        self.pod_slot: dict[int, int] = {}
        """Senders that are pods of a calling Deployment: pod index -> slot (a pod's slot is its own for its life)."""

    def add_slot(self, node: int, source: int) -> int:
        """A new sender (a client pod, an address, a calling pod): its slot number.

        Its resolver cache and connections are made when it first sends (model/slots.py)."""
        self.slot_node.append(node)  # type: ignore[attr-defined]
        self.slot_source.append(source)  # type: ignore[attr-defined]
        return len(self.slot_node) - 1

    def set_slots(self, nodes: Sequence[int], sources: Sequence[int]) -> None:
        """Every sender at once, as sequences: a client pod on every node has the nodes' tuple shared by every
        such client and a range of addresses, not an object per pod (model/slots.py)."""
        self.slot_node = nodes
        self.slot_source = sources

    def slot_of_pod(self, pod: Any, source: int) -> int:
        """The slot of a calling pod (a new one, with an empty resolver cache and pool, the first time it calls)."""
        slot = self.pod_slot.get(pod.index)
        if slot is None:
            slot = self.pod_slot[pod.index] = self.add_slot(pod.node, source)
        return slot

    # -- the way out -----------------------------------------------------------------------------

    def send(self, request: Request) -> None:
        """A new first try from ``request.slot``: look the name up if it opens a connection, then put it on one.

        A client resolves when it dials, not for each request on a connection it
        reuses (model/dns.py): a request the pool will carry on an open
        connection, or keep waiting for one, goes straight to the layer.

        Its deadline must not come before the deadline of any first try sent on this route
        before it (an open-loop client's are now + the same timeout); other senders use
        :meth:`send_any`. The sender calls :meth:`tidy` now and then (a client: once per
        block of arrivals).
        """
        env = self.env
        now = env.time
        pending = self._pending
        if pending:
            pending.append(request)
        else:  # nothing pending: no timer armed
            pending.append(request)
            self.deadlines.maintain(request.deadline)
        slot = request.slot
        cache = self._cache
        if cache is not None and cache.answer_at[slot] <= now < cache.expires[slot]:
            wait = 0.0  # the resolver's cached answer (checked here: a call saved)
        elif self._reuses is not None and self._reuses(slot):
            wait = 0.0  # no new connection, no lookup
        else:
            resolve = self._resolve
            wait, queries = resolve(slot, now, request.node)
            if queries:
                request.dns_queries = queries
        if wait > 0.0:
            request.dns_wait = wait
            request.special = True
            heappush(env.heap, (now + wait, PRIORITY, next(env.ids), Wakeup(env, self._resolved, request)))
        elif self._guard is None:
            send = self._send_on_connection  # an attribute holding a bound method: loaded, then called (specialised)
            send(request)
        else:
            self._resolved(request)

    def tidy(self) -> None:
        """Drop ended tries from the deadline FIFO if it has grown (memory follows the tries in flight)."""
        self.deadlines.maintain(self.deadlines.timer_at)

    def send_any(self, request: Request) -> None:
        """A first try whose deadline may be earlier than others' (a call's, cut by its caller's deadline)."""
        self.deadlines.watch(request)
        if self._reuses is not None and self._reuses(request.slot):
            self._resolved(request)
            return
        wait, queries = self._resolve(request.slot, self.env.time, request.node)
        if queries:
            request.dns_queries = queries
        if wait > 0.0:
            request.dns_wait = wait
            request.special = True
            self.env.push(self.env.time + wait, Wakeup(self.env, self._resolved, request))
        else:
            self._resolved(request)

    def _resolved(self, request: Request) -> None:
        """The sender has its answer: a connection (or a wait for one), unless the name did not resolve."""
        if request.ended:
            return  # timed out while its lookup was in flight
        if self._guard is not None and not self._guard.known(request.slot):
            self.answered(request, Outcome.DISCOVERY)
            return
        send = self._send_on_connection
        send(request)

    # -- the way back ----------------------------------------------------------------------------

    def answered(self, request: Request, outcome: Outcome, timed_out: bool = False) -> None:
        """The try ended: its answer reached the sender (or the way there ended it, or its deadline
        passed: ``timed_out``). A late answer to a try that has ended already is ignored.

        The connection is freed, then the retry policy sends the next try, or whoever
        waits for the request learns how it ended (``request.waiter.done``).
        """
        if request.ended:
            return
        request.ended = True
        conn = request.conn
        if conn is not None:
            conn.in_flight -= 1
        retry = self._retry
        if retry is None or outcome not in retry.on or part(request, "tries") >= retry.attempts or not self._retry_later(request):
            request.waiter.done(request, outcome)
        if conn is not None:
            self.layer.finished(request, conn, timed_out)

    def unanswered(self, request: Request, outcome: Outcome) -> None:
        """Nothing answers the try's SYN (dropped by a rule, or sent to an address nobody answers for): the
        sender retransmits it until its connect timeout or the try's own deadline, whichever comes first, and
        the try ends with ``outcome`` either way (the connection never opened; the cause is kept)."""
        request.unanswered = outcome
        at = self.env.time + self.connect_timeout
        if at < request.deadline:
            self.env.push(at, Wakeup(self.env, self._connect_failed, (request, outcome)))

    def _connect_failed(self, args: tuple[Request, Outcome]) -> None:
        request, outcome = args
        self.answered(request, outcome, True)

    def _timed_out(self, request: Request) -> None:
        """The try's deadline passed with no answer (model/deadlines.py); a SYN still unanswered keeps its cause."""
        self.answered(request, part(request, "unanswered") or Outcome.TIMEOUT, True)

    def _retry_later(self, request: Request) -> bool:
        """Send the next try after a backoff; False when no time is left for it (the request ends now)."""
        retry = self._retry
        env = self.env
        now = env.time
        wait = retry.backoff()  # type: ignore[union-attr]
        start = now + wait
        if start >= request.limit:
            return False
        retry.log(now, request)  # type: ignore[union-attr]
        again = request.retry(start, min(start + (request.deadline - request.t_try), request.limit), wait)
        heappush(env.heap, (start, PRIORITY, next(env.ids), Wakeup(env, self._resend, again)))
        return True

    def _resend(self, request: Request) -> None:
        self.deadlines.watch(request)
        self._resolved(request)

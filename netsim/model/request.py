"""A request in flight, and how it can end.

A request is a small record moved along by callbacks, not a process with its
own generator: the data plane handles hundreds of thousands per second. One
:class:`Request` object is one *try* of one request along one route (model/route.py):
a retry is a new try, a call from a pod to another Service is a new request
whose :attr:`Request.waiter` is the work waiting for it (model/operations.py).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Outcome(IntEnum):
    """How a request ended. Every generated request ends exactly once, with one of these."""

    OK = 0
    REFUSED = 1
    """No ready endpoint (kube-proxy REJECTs), or the Service selects no pod, or nothing listens on the pod's port."""
    REJECTED = 2
    """The pod's waiting room (``queue_limit``) was full: the server answered 503."""
    TIMEOUT = 3
    """The sender gave up after its timeout (per try), with no answer yet."""
    NO_LOCAL_ENDPOINT = 4
    """A traffic policy ``Local`` found no usable endpoint on the node: kube-proxy DROPs the SYN, and the
    sender retransmits it until its ``connect_timeout`` (a connect timeout whose cause is known)."""
    DISCOVERY = 5
    """The sender could not find the Service: NXDOMAIN, or no env var (the pod is older than the Service)."""
    RESET = 6
    """The connection was reset: the pod's process died (crash, SIGKILL at the end of the grace period)
    with the request in flight."""
    CLIENT_DOWN = 7
    """The client pod that would have sent it is down (its node failed) or the client has no Ready pod:
    the request is lost at the source (model/client_pods.py)."""
    UPSTREAM = 8
    """A call the serving pod made to another Service failed (and was not optional): the pod answered
    with an error (model/operations.py)."""
    CONNECT_TIMEOUT = 9
    """Nothing answered the new connection's SYN (stale rules sent it to a deleted pod's IP, or to a node that
    died silently): the sender retransmitted it until its ``connect_timeout``."""

    @property
    def column(self) -> str:
        return f"errors_{self.name.lower()}"


class Request:
    """One try of a request: who sent it, where it entered, which pod took it, when, and what it waits for.

    Times for the latency breakdown (model/operations.py): ``dns_wait`` (lookup before
    the try), ``conn_wait`` (waiting for a pooled connection), ``proxy`` (rule
    evaluation and load-balancer forwarding on the way), ``t_pod``/``t_start``/``t_done``
    (the request reached its pod / a worker took it / the pod answered) and ``served``
    (how the pod's time divides: the breakdown vector of the work it did, calls
    included; None for the plain one-step operation, whose time is queueing then work).

    Every attribute is a slot (measured with callgrind: fewer instructions per request than an instance
    dict with class-level defaults). The constructor sets what every request reads; the rest —
    ``via``, ``source``, ``tries``, ``dns_wait``, ``conn_wait``, ``proxy``, ``t_pod``, ``t_start``,
    ``t_done``, ``served``, ``backoff``, ``unanswered`` (the outcome of a try whose SYN nobody answers,
    model/route.py) — are set only where they apply, and read through
    :func:`part` (default 0) by the rare code that needs them. A request is born hundreds of
    thousands of times a second; every attribute set in the constructor costs.
    """

    __slots__ = (
        "id", "route", "slot", "node", "t_issue", "t_try", "deadline", "limit", "waiter", "root_t", "pod", "conn",
        "dns_queries", "operation", "ended", "special",
        "via", "source", "tries", "dns_wait", "conn_wait", "proxy", "t_pod", "t_start", "t_done", "served", "backoff",
        "unanswered",
    )

    def __init__(self, ident: int, route: Any, slot: int, node: int, t_issue: float, deadline: float, limit: float,
                 waiter: Any, root_t: float | None = None) -> None:
        self.id = ident
        self.route = route
        self.slot = slot  # the sender slot within its route (a client pod, a calling pod, an external address)
        self.node = node  # where it entered the data plane (the sender's node, or the entry node)
        self.t_issue = t_issue
        self.t_try = t_issue  # this try's start (a retry starts later)
        self.deadline = deadline  # when the sender gives up on this try
        self.limit = limit  # when it gives up on the request, retries included (cut to its caller's deadline)
        self.waiter = waiter  # waiter.done(request, outcome): a client, a user, a calling strand
        self.root_t = t_issue if root_t is None else root_t  # the entry request's issue time (is it measured?)
        self.pod: Any = None
        self.conn: Any = None
        self.dns_queries = 0
        self.operation = 0  # index of the operation asked for (the run's interned names)
        self.ended = False  # the try has ended for its sender; a late answer is ignored
        self.special = False
        """Set wherever a breakdown part other than the pod's queueing and work is set (a DNS wait, a connection
        wait, a first-packet or LB cost, a retry, a job's own breakdown): only then is the full breakdown
        computed when it ends; otherwise its latency is network + queueing + work, computed in bulk."""

    def retry(self, t_try: float, deadline: float, backoff: float) -> Request:
        """The next try of the same request (same id), after ``backoff`` seconds: same sender, issue time and
        operation, no new lookup, a new connection."""
        other = Request(self.id, self.route, self.slot, self.node, self.t_issue, deadline, self.limit, self.waiter, self.root_t)
        other.t_try = t_try
        other.tries = part(self, "tries") + 1
        other.operation = self.operation
        other.dns_queries = self.dns_queries
        other.source = part(self, "source")
        other.backoff = part(self, "backoff") + backoff
        other.special = True
        return other


def part(request: Request, name: str) -> Any:
    """A field set only where it applies (see :class:`Request`), or its default: 0 (``served``: None)."""
    return getattr(request, name, None if name == "served" else 0)


def add_proxy_cost(request: Request, seconds: float) -> None:
    """Rule evaluation or a load balancer's forwarding on the request's way (the breakdown's ``proxy``)."""
    request.proxy = getattr(request, "proxy", 0) + seconds  # part(request, "proxy") written out (a frame per request)
    request.special = True

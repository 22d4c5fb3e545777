"""A pod serving requests: ``concurrency`` workers in front of a FIFO waiting room.

A request that finds a free worker starts at once; otherwise it waits its turn,
unless ``queue_limit`` new requests already wait, in which case the pod answers
at once with an error (HTTP 503): an overloaded system must not grow without
bound. What a worker does with a request is its operation (model/operations.py):
the plain operation is one step of work (``service_time``), served here by the
pod itself (the hot path); an operation with calls runs as a :class:`Job`. A job
whose Deployment frees its worker at each call (``hold_worker: false``, an event
loop) takes a worker again to go on after the call: that continuation joins the
tail of the same FIFO, is not counted against ``queue_limit`` and is never
rejected.

What a request meets depends on the pod's process (set by
:mod:`netsim.model.pod_lifecycle`): a serving process takes it; a process that
is not listening (not started yet, crashed, past SIGTERM) refuses it (the pod's
kernel answers RST); a hung process accepts the connection but never answers
(the sender times out at its deadline); and nothing at all answers a *dark*
pod — one on a node that died silently, or one that is gone, whose address
stale rules still send to (Calico drops such packets: projectcalico/calico#7983,
kubernetes#124290) — so a new connection's SYN goes unanswered until the sender's
connect timeout (:attr:`Outcome.CONNECT_TIMEOUT`), and a request on an open one
waits for its own timeout. After SIGTERM the process refuses new connections and
finishes what it has, then exits.

Every worker-second is counted in :attr:`Pod.busy_s` (when the work starts, for
the plain operation; when the worker is freed, for jobs): utilisation and the
HPA's CPU figure come from it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import Any

from netsim.model.events import PRIORITY, Environment, Tick
from netsim.model.request import Outcome, Request

SERVING, REFUSING, BLACKHOLE, DARK = "serving", "refusing", "blackhole", "dark"
OK = Outcome.OK


class Pod:
    __slots__ = (
        "env", "index", "name", "deployment", "node", "labels", "concurrency", "queue_limit",
        "busy", "queue", "service_time", "served", "gone", "process", "on_drained",
        "revision", "created_at", "state", "_spare", "_rearm", "_workers", "_draws", "_next_draw", "_busy_done", "_busy_jobs", "programs", "jobs", "ended_at",
        "continuations",
    )

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        deployment: str,
        node: int,
        labels: dict[str, str],
        concurrency: int,
        queue_limit: int,
        service_time: Callable[[], float],
        programs: Any = None,
    ) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.deployment = deployment
        self.node = node
        self.labels = labels
        self.concurrency = concurrency
        self.queue_limit = queue_limit
        self.busy = 0
        self.queue: deque[Any] = deque()
        """Requests waiting for a worker, and (``hold_worker: false``) jobs waiting to go on."""
        self.continuations = 0
        """Jobs in :attr:`queue` going on after a call (they do not count against ``queue_limit``)."""
        self.service_time = service_time
        """Draws the plain operation's work (the workload's ``service_time``)."""
        self.served = 0
        self._workers: list[Tick] = []
        """The workers' events of the plain operation (at most ``concurrency`` at a time)."""
        self._spare: list[Tick] = []
        """Workers' events that have fired, kept for reuse: an idle pod's next request re-arms one."""
        self._rearm = [self._finish]
        """A worker event's callback list, reused: SimPy's loop only iterates it, nobody else holds it."""
        self._draws: list[float] = []
        self._next_draw = 0
        """The plain operation's work times, a block at a time from ``service_time`` (indexed here: no call per draw)."""
        self._busy_done = 0.0
        """Work of the plain operation in blocks already used up (see :attr:`busy_s`)."""
        self._busy_jobs = 0.0
        """Worker-seconds held by jobs so far."""
        self.programs = programs
        """The Deployment's operations (model/operations.py), or None: every request is one step of work."""
        self.jobs: set[Any] = set()
        """Jobs (operations with calls) this pod is running."""
        self.gone = False
        """The pod's process closed its connections (deleted, crashed, past SIGTERM) and their senders know:
        a sender's pinned connection to it is dropped and re-opened elsewhere (model/connections.py). A pod
        whose node died silently is not ``gone``: its senders learn only by timing out."""
        self.process = SERVING
        """``serving``, ``refusing`` (nothing listens), ``blackhole`` (hung: connects, never answers) or
        ``dark`` (nothing at its address answers)."""
        self.on_drained: Callable[[Pod], None] | None = None
        """After SIGTERM: called once the pod has no request left (the process exits)."""
        self.revision = 0
        """The Deployment template revision the pod was created from (rollouts bump it)."""
        self.created_at = 0.0
        self.ended_at: float | None = None
        """When the pod was gone for good (None while it exists)."""
        self.state = "Running"
        """Lifecycle phase for reports: Pending, Starting, Running, Terminating, Crashed, Hung, Lost, Gone."""

    # -- the serving path ------------------------------------------------------------------

    def accept(self, request: Request) -> None:
        """A request arrives at the pod's port.

        A free worker starts the plain operation here, or hands the request to the
        Deployment's programs (a job).
        """
        request.pod = self
        if self.process is not SERVING:
            self._turn_away(request)
            return
        env = self.env
        now = env.time
        request.t_pod = now
        if self.busy < self.concurrency:
            self.busy += 1
            if self.programs is not None:
                self.programs.start(self, request)
                return
            request.t_start = now
            if self._spare:
                event = self._spare.pop()
                event.callbacks = self._rearm
                event.arg = request
            else:
                event = Tick(env, self._finish, request)
                self._workers.append(event)
            k = self._next_draw
            if k >= len(self._draws):
                self._next_block()
                k = 0
            self._next_draw = k + 1
            heappush(env.heap, (now + self._draws[k], PRIORITY, next(env.ids), event))
        elif len(self.queue) - self.continuations < self.queue_limit:
            self.queue.append(request)
        else:
            request.route.respond(request, Outcome.REJECTED)

    def _finish(self, event: Tick) -> None:
        """A worker is done with the plain operation: answer, and take the next waiting request if any.

        The worker's event is re-armed for the next request it takes (nothing
        else holds it once it has fired), which saves an allocation per request
        while the pod is busy.
        """
        self.served += 1
        request = event.arg
        now = self.env.time
        request.t_done = now
        queue = self.queue
        if queue:
            waiting = queue.popleft()
            waiting.t_start = now
            event.callbacks = self._rearm
            event.arg = waiting
            k = self._next_draw
            if k >= len(self._draws):
                self._next_block()
                k = 0
            self._next_draw = k + 1
            heappush(self.env.heap, (now + self._draws[k], PRIORITY, next(self.env.ids), event))
        else:
            self.busy -= 1
            self._spare.append(event)  # fired and held by nobody else: reusable
        respond = request.route.respond  # an attribute holding a bound method: loaded, then called (specialised)
        respond(request, OK)
        if self.on_drained is not None and self.busy == 0 and not queue:
            self._drained()

    def _next_block(self) -> None:
        self._busy_done += sum(self._draws)
        self._draws = self.service_time.block()
        self._next_draw = 0

    @property
    def busy_s(self) -> float:
        """Worker-seconds spent so far (one busy worker = one CPU core): the plain operation's work, counted
        when it starts, and the time jobs held a worker, counted when they free it."""
        return self._busy_done + sum(self._draws[: self._next_draw]) + self._busy_jobs

    # -- workers for jobs (model/operations.py) ---------------------------------------------

    def take_worker(self, waiter: Any) -> bool:
        """A job goes on after a call (``hold_worker: false``): a free worker now (True), or the queue's tail."""
        if self.busy < self.concurrency:
            self.busy += 1
            return True
        self.queue.append(waiter)
        self.continuations += 1
        return False

    def free_worker(self, held_s: float) -> None:
        """A job's worker is free (its job ended, or it waits on a call): the next in the queue takes it."""
        self._busy_jobs += held_s
        queue = self.queue
        while queue:
            waiting = queue.popleft()
            if isinstance(waiting, Request):
                self.programs.start(self, waiting)  # only jobs free workers this way, so the pod runs programs
                return
            self.continuations -= 1
            if waiting.resume():  # a job going on after a call (False: that job has ended meanwhile)
                return
        self.busy -= 1
        if self.on_drained is not None and self.busy == 0:
            self._drained()

    # -- the other states (rare: only churn gets here) -------------------------------------

    def _turn_away(self, request: Request) -> None:
        """Nothing listens (node up): the kernel answers RST, refused. Hung: the sender times out. Dark: a new
        connection's SYN goes unanswered until the connect timeout; a request on an open connection is lost
        (its sender times out, and the connection is marked: TCP gives up on it later, model/entry.py)."""
        process = self.process
        if process is REFUSING:
            request.route.respond(request, Outcome.REFUSED)
        elif process is DARK:
            conn = request.conn
            if conn is None or conn.requests <= 1:  # this request's SYN opens the connection
                request.route.unanswered(request, Outcome.CONNECT_TIMEOUT)
            elif conn.lost_at > self.env.time:
                conn.lost_at = self.env.time

    def _drained(self) -> None:
        drained, self.on_drained = self.on_drained, None
        drained(self)  # type: ignore[misc]

    def serve(self) -> None:
        """The process listens and answers (started, or restarted after a crash)."""
        self.gone = False
        self.process = SERVING
        self.on_drained = None

    def stop_listening(self, drain: Callable[[Pod], None]) -> None:
        """SIGTERM: refuse new connections, finish what is in flight, then call ``drain``."""
        self.gone = True  # the server closes its idle keep-alive connections; senders reconnect
        self.process = REFUSING
        self.on_drained = drain
        if self.busy == 0 and not self.queue:
            self._drained()

    def die(self, outcome: Outcome) -> int:
        """The process is gone (crash, SIGKILL): what is in flight or queued ends with ``outcome``.

        ``RESET`` sends the RST back to the sender (its connections are ``gone``);
        ``TIMEOUT`` (a node that went dark) leaves the sender waiting until its
        deadline, and nobody tells it its connections are dead. New connections are
        refused, or go unanswered (``dark``) when ``outcome`` is ``TIMEOUT``. Returns
        how many requests it ended.
        """
        if outcome is Outcome.TIMEOUT:
            self.process = DARK
        else:
            self.gone = True
            self.process = REFUSING
        self.on_drained = None
        return self._end_in_flight(outcome)

    def go_dark(self) -> None:
        """The pod is gone and its address unrouted: stale rules' new connections get no answer at all."""
        self.process = DARK

    def hang(self) -> int:
        """The process stops answering: in flight and new requests wait until their senders' deadlines."""
        self.process = BLACKHOLE
        return self._end_in_flight(Outcome.TIMEOUT)

    def _end_in_flight(self, outcome: Outcome) -> int:
        """Stop every worker: the requests it served, those waiting and the jobs end with ``outcome``."""
        ended: list[Request] = []
        spare = set(map(id, self._spare))
        for event in self._workers:
            if id(event) not in spare:
                event.callbacks = []  # on the heap still: it fires, and nothing happens
                ended.append(event.arg)
        self._workers = list(self._spare)
        for job in list(self.jobs):
            ended.append(job.abort())
        self.jobs.clear()
        for waiting in self.queue:
            if isinstance(waiting, Request):
                ended.append(waiting)
        self.queue.clear()
        self.continuations = 0
        self.busy = 0
        if outcome is not Outcome.TIMEOUT:
            for request in ended:
                request.route.respond(request, outcome)
        return len(ended)

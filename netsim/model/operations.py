"""What a pod's worker does with a request: its operation's steps, calls to other Services included.

An operation (``workloads.<d>.operations.<name>``) is a list of steps run in
order by the worker that took the request:

- ``work``: compute on the worker for a drawn duration;
- ``call``: a request to another Service, sent from this pod along a route
  (model/route.py) — DNS from this pod, this node's kube-proxy, the network,
  the callee's queue — ``count`` times one after another, with ``probability``;
- ``parallel``: branches (each a list of steps) run concurrently; the step ends
  when all have (a join);
- ``lookup``: a DNS lookup from the pod (no cache of its own: Go's and glibc's resolvers keep none;
  a NodeLocal DNSCache and CoreDNS's cache of forwarded names apply, model/dns.py).

A :class:`Job` is one request being served by such an operation; each sequence
of steps it runs is a :class:`Strand` (the operation itself, and one per branch
of a ``parallel`` step). With ``hold_worker`` (a thread per request) the job
keeps its worker from start to answer, and work inside parallel branches is
done by that request's own threads (a delay, not another worker). Without it (an
event loop) a strand frees its worker whenever it waits (a call, a join, a
lookup) and takes one again to go on (model/pod.py puts it at the tail of the
queue).

A required call that fails stops the operation and frees the worker: the pod
answers its caller with an error (:attr:`Outcome.UPSTREAM`). In a ``parallel``
step the first such failure fails the step, and the siblings' answers are
ignored. A call that times out is not cancelled at the callee (its work goes
on); an ``optional`` call's failure is only recorded. If the pod itself dies,
its jobs end with it and the answers to their calls are ignored.

Where the time goes: each strand sums a breakdown of its time
(:data:`COMPONENTS`): its own queueing and work, and for each call the call's
own breakdown (network, DNS, kube-proxy/LB, waiting for a connection, the
callee's queueing and work, failed tries, backoff). A ``parallel`` step adds the
breakdown of the branch that finished last: the critical path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heappush
from typing import Any

from netsim.model.events import PRIORITY, Environment, Tick
from netsim.model.request import Outcome, Request

COMPONENTS = ("network", "dns", "proxy", "connection_wait", "queueing", "work", "failed_tries", "retry_backoff")
"""The parts of a latency, in the order of every breakdown vector."""
NET, DNS, PROXY, CONN, QUEUE, WORK, FAILED, BACKOFF = range(len(COMPONENTS))


def breakdown(request: Request, now: float) -> list[float]:
    """Where a finished request's time went (its sender's view, issue to answer), summing to ``now − t_issue``.

    The pod's share is its job's own breakdown (``served``), or for the plain
    operation its queueing then its work; DNS, the wait for a connection and
    rule evaluation or LB forwarding are measured on the way; what remains of the
    last try is the network. Earlier tries of a retried request count as failed
    tries and the waits between them as backoff.
    """
    # getattr with the defaults of ``part`` written out: this runs for every request with a DNS wait or a
    # first-packet cost (most of them, by default), and a frame per field is a tenth of its cost
    served = getattr(request, "served", None)
    t_pod, t_start, t_done = getattr(request, "t_pod", 0), getattr(request, "t_start", 0), getattr(request, "t_done", 0)
    if served is not None:
        vector = list(served)
    else:  # the plain operation (or an outside host): queueing, then work (zeros when nothing served it)
        vector = [0.0] * len(COMPONENTS)
        vector[QUEUE] = t_start - t_pod
        vector[WORK] = t_done - t_start
    dns, wait, proxy = getattr(request, "dns_wait", 0), getattr(request, "conn_wait", 0), getattr(request, "proxy", 0)
    vector[DNS] += dns
    vector[CONN] += wait
    vector[PROXY] += proxy
    vector[NET] += (now - request.t_try) - dns - wait - proxy - (t_done - t_pod)
    retried = request.t_try - request.t_issue
    if retried > 0.0:
        backoff = getattr(request, "backoff", 0)
        vector[BACKOFF] += backoff
        vector[FAILED] += retried - backoff
    return vector


class Step:
    """A compiled step (see the subclasses); ``index`` numbers the Deployment's steps (samplers are keyed by it)."""

    __slots__ = ("index",)


class Work(Step):
    __slots__ = ("duration",)

    def __init__(self, index: int, duration: Any) -> None:
        self.index = index
        self.duration = duration
        """The distribution to draw from; None: the workload's ``service_time`` (the pod's own sampler)."""


class Call(Step):
    __slots__ = ("route", "operation", "count", "probability", "timeout", "try_timeout", "optional", "edge")

    def __init__(self, index: int, route: Any, operation: int, count: Any, probability: float, timeout: float,
                 try_timeout: float, optional: bool, edge: int) -> None:
        self.index = index
        self.route = route
        self.operation = operation
        self.count = count
        """An int, or a callable of a random generator giving one (an integer distribution)."""
        self.probability = probability
        self.timeout = timeout
        self.try_timeout = try_timeout
        self.optional = optional
        self.edge = edge
        """Index of the (caller, callee Service, callee operation) edge this call is counted on."""


class Parallel(Step):
    __slots__ = ("branches",)

    def __init__(self, index: int, branches: tuple[tuple[Step, ...], ...]) -> None:
        self.index = index
        self.branches = branches


class Lookup(Step):
    __slots__ = ("steps", "queries", "upstream", "name")

    def __init__(self, index: int, steps: int, queries: int, upstream: bool, name: str = "") -> None:
        self.index = index
        self.name = name
        self.steps = steps
        self.queries = queries
        self.upstream = upstream


class Programs:
    """One Deployment's operations, compiled: what its pods run when a request is not the plain operation.

    Args:
        hold_worker: the job keeps its worker while it waits (a thread per request).
        work_sampler: ``(pod, step) -> callable`` drawing that step's duration for that pod.
        decisions: ``pod -> numpy Generator`` for the probability and count draws of its calls.
        slot: ``(route, pod) -> slot``: the pod's sender slot on a call route.

    :meth:`load` gives it, once the routes exist, its ``operations``: indexed by
    operation-name id (the run's interned names), None where this Deployment has no
    operation of that name; the cluster DNS (lookup steps) and the run's call ledger.
    """

    def __init__(
        self,
        env: Environment,
        hold_worker: bool,
        work_sampler: Callable[[Any, Work], Callable[[], float]],
        decisions: Callable[[Any], Any],
        slot: Callable[[Any, Any], int],
        ids: Any,
    ) -> None:
        self.env = env
        self.operations: list[tuple[Step, ...] | None] = []
        self.hold_worker = hold_worker
        self._work_sampler = work_sampler
        self._decisions = decisions
        self._slot = slot
        self._ids = ids
        self._dns: Any = None
        self.ledger: Any = None
        """Where calls are counted as they end (netsim.recorder.CallLedger)."""
        self._samplers: dict[tuple[int, int], Callable[[], float]] = {}
        self._rngs: dict[int, Any] = {}

    def load(self, operations: Sequence[tuple[Step, ...] | None], dns: Any, ledger: Any) -> None:
        """The compiled steps (built once the routes of their calls exist), the cluster DNS, the call ledger."""
        self.operations = list(operations)
        self._dns = dns
        self.ledger = ledger

    def start(self, pod: Any, request: Request) -> None:
        """A worker of ``pod`` takes ``request``: run its operation."""
        now = self.env.time
        request.t_start = now
        job = Job(self, pod, request)
        pod.jobs.add(job)
        root = Strand(job, self.operations[request.operation], None)
        root.vector[QUEUE] = now - request.t_pod
        root.worker_since = now
        job.root = root
        root.run()

    def sampler(self, pod: Any, step: Work) -> Callable[[], float]:
        key = (pod.index, step.index)
        sampler = self._samplers.get(key)
        if sampler is None:
            sampler = self._samplers[key] = self._work_sampler(pod, step)
        return sampler

    def rng(self, pod: Any) -> Any:
        rng = self._rngs.get(pod.index)
        if rng is None:
            rng = self._rngs[pod.index] = self._decisions(pod)
        return rng


class Job:
    """One request being served by an operation with steps (see the module docstring)."""

    __slots__ = ("programs", "pod", "request", "root", "dead", "strands")

    def __init__(self, programs: Programs, pod: Any, request: Request) -> None:
        self.programs = programs
        self.pod = pod
        self.request = request
        self.root: Strand | None = None
        self.dead = False
        self.strands: list[Strand] = []
        """Every strand started, for cancelling their timers if the job fails or its pod dies."""

    def complete(self) -> None:
        """Every step is done: free the worker, answer the caller."""
        root = self.root
        assert root is not None
        pod = self.pod
        now = self.programs.env.time
        self.dead = True
        pod.jobs.discard(self)
        pod.served += 1
        request = self.request
        request.t_done = now
        request.served = root.vector
        request.special = True
        if root.worker_since is not None:
            pod.free_worker(now - root.worker_since)
        request.route.respond(request, Outcome.OK)

    def fail(self) -> None:
        """A required call failed: stop every strand, free the workers, answer the caller with an error."""
        now = self.programs.env.time
        self.dead = True
        pod = self.pod
        pod.jobs.discard(self)
        for strand in self.strands:
            strand.cancel()
        request = self.request
        request.t_done = now
        for strand in self.strands:
            if strand.worker_since is not None:
                held, strand.worker_since = now - strand.worker_since, None
                pod.free_worker(held)
        request.route.respond(request, Outcome.UPSTREAM)

    def abort(self) -> Request:
        """The pod's process is gone: stop (its worker count is reset by the pod); returns the request."""
        self.dead = True
        for strand in self.strands:
            strand.cancel()
            strand.worker_since = None
        return self.request


class Strand:
    """A sequence of steps of one job, run in order (the operation itself, or a branch of a parallel step)."""

    __slots__ = ("job", "steps", "pc", "parent", "vector", "worker_since", "event", "calls_left", "remaining",
                 "critical", "waiting_since", "call_started", "call_step")

    def __init__(self, job: Job, steps: tuple[Step, ...], parent: Strand | None) -> None:
        self.job = job
        self.steps = steps
        self.pc = 0
        self.parent = parent
        self.vector = [0.0] * len(COMPONENTS)
        self.worker_since: float | None = None
        """When this strand took the worker it holds (None: it holds none)."""
        self.event: Tick | None = None
        """Its pending timer (a work step or a lookup), cancelled if the job dies."""
        self.calls_left = 0
        self.remaining = 0
        self.critical: list[float] | None = None
        self.waiting_since = 0.0
        self.call_started = 0.0
        self.call_step: Call | None = None
        """The call step whose call is in flight (a strand has at most one)."""
        job.strands.append(self)

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Run steps until one has to wait (work, a call, a join, a lookup), or the strand ends."""
        job = self.job
        programs = job.programs
        steps = self.steps
        while self.pc < len(steps):
            step = steps[self.pc]
            if isinstance(step, Work):
                if not programs.hold_worker and self.worker_since is None:
                    self.waiting_since = programs.env.time
                    if not job.pod.take_worker(self):
                        return  # at the tail of the queue: resume() goes on
                    self.worker_since = programs.env.time
                self._after(programs.sampler(job.pod, step)(), WORK)
                return
            self._free_worker_to_wait()
            if isinstance(step, Call):
                if step.probability < 1.0 and programs.rng(job.pod).random() >= step.probability:
                    self.pc += 1
                    continue
                count = step.count if isinstance(step.count, int) else step.count(programs.rng(job.pod))
                if count <= 0:
                    self.pc += 1
                    continue
                self.calls_left = count
                self._call(step)
                return
            if isinstance(step, Parallel):
                self.remaining = len(step.branches) + 1  # one more until every branch has started
                self.critical = None
                for branch in step.branches:
                    Strand(job, branch, self).run()
                    if job.dead:
                        return
                self.branch_done(None)
                return
            assert isinstance(step, Lookup)
            dns = programs._dns
            dns.queries += step.queries
            self._after(dns.answer_time(step.steps, step.upstream, job.pod.node, step.name, programs.env.time), DNS)
            return
        if self.parent is None:
            job.complete()
        else:
            self._free_worker_to_wait()  # a branch's work is done: its worker goes back to the pod
            self.parent.branch_done(self)

    def _free_worker_to_wait(self) -> None:
        """An event loop frees its worker while it waits; a thread per request keeps it."""
        if not self.job.programs.hold_worker and self.worker_since is not None:
            now = self.job.programs.env.time
            held, self.worker_since = now - self.worker_since, None
            self.job.pod.free_worker(held)

    def resume(self) -> bool:
        """The pod gives this waiting strand a worker (``hold_worker: false``); False if its job has ended."""
        if self.job.dead:
            return False
        now = self.job.programs.env.time
        self.worker_since = now
        self.vector[QUEUE] += now - self.waiting_since
        self.run()
        return True

    def _after(self, delay: float, component: int) -> None:
        env = self.job.programs.env
        event = Tick(env, self._done_waiting, (delay, component))
        self.event = event
        heappush(env.heap, (env.time + delay, PRIORITY, next(env.ids), event))

    def _done_waiting(self, event: Tick) -> None:
        self.event = None
        delay, component = event.arg
        self.vector[component] += delay
        self.pc += 1
        self.run()

    def cancel(self) -> None:
        if self.event is not None:
            self.event.callbacks = []  # still on the heap: it fires, and nothing happens
            self.event = None

    # -- calls ------------------------------------------------------------------------------------

    def _call(self, step: Call) -> None:
        job = self.job
        programs = job.programs
        route = step.route
        now = programs.env.time
        slot = programs._slot(route, job.pod)
        limit = min(now + step.timeout, job.request.limit)
        call = Request(next(programs._ids), route, slot, route.slot_node[slot], now, min(now + step.try_timeout, limit), limit,
                       self, job.request.root_t)
        call.operation = step.operation
        self.call_started = now
        self.call_step = step
        route.send_any(call)

    def done(self, request: Request, outcome: Outcome) -> None:
        """A call this strand made ended (its route hands it back): count it on its edge, then go on."""
        job = self.job
        step = self.call_step
        assert step is not None
        now = job.programs.env.time
        pod = request.pod
        ledger = job.programs.ledger
        ledger.rows.append((step.edge, job.pod.index, -1 if pod is None else pod.index, -1 if pod is None else pod.node,
                            request.node, request.root_t, request.t_issue, now - request.t_issue, outcome))
        if len(ledger.rows) >= ledger.FLUSH_AT:
            ledger.flush()
        if job.dead:
            return  # the job failed or its pod died meanwhile: nobody waits for this answer
        self._answered(step, request, outcome, now)

    def _answered(self, step: Call, request: Request, outcome: Outcome, now: float) -> None:
        if outcome is Outcome.OK:
            net, dns, proxy, conn_wait, queue, work, failed, backoff = breakdown(request, now)  # COMPONENTS, unrolled
            vector = self.vector
            vector[0] += net
            vector[1] += dns
            vector[2] += proxy
            vector[3] += conn_wait
            vector[4] += queue
            vector[5] += work
            vector[6] += failed
            vector[7] += backoff
        elif step.optional:
            self.vector[FAILED] += now - self.call_started
        else:
            self.job.fail()
            return
        self.calls_left -= 1
        if self.calls_left > 0:
            self._call(step)
        else:
            self.pc += 1
            self.run()

    # -- joins ------------------------------------------------------------------------------------

    def branch_done(self, child: Strand | None) -> None:
        """A branch of the current parallel step ended (None: every branch has been started)."""
        if child is not None:
            self.critical = child.vector  # the last to finish is on the critical path
        self.remaining -= 1
        if self.remaining == 0:
            if self.critical is not None:
                for i, part in enumerate(self.critical):
                    self.vector[i] += part
            self.pc += 1
            self.run()

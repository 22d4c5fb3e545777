"""A pod serving requests: ``concurrency`` workers in front of a FIFO waiting room.

A request that finds a free worker starts at once; otherwise it waits its turn,
unless ``queue_limit`` requests already wait, in which case the pod answers at
once with an error (HTTP 503): an overloaded system must not grow without bound.

What a request meets depends on the pod's process (set by
:mod:`netsim.model.pod_lifecycle`): a serving process takes it; a process that
is not listening (not started yet, crashed, past SIGTERM, or the pod is gone
while its node is up) refuses it; a hung process, or a pod on a failed node,
never answers (the client times out). The serving path pays nothing for the
other states: a state change switches the pod's class to one whose ``accept``
and ``_finish`` behave as that state needs (same slots, so Python allows it) and
re-targets the pod's pending events on the heap (a rare, O(heap) step).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.core import NORMAL
from simpy.events import Event

from netsim.distributions import BlockSampler
from netsim.model.events import Tick, Wakeup
from netsim.model.request import Outcome, Request

SERVING, REFUSING, BLACKHOLE = "serving", "refusing", "blackhole"


class Pod:
    __slots__ = (
        "env", "index", "name", "deployment", "node", "labels", "concurrency", "queue_limit",
        "busy", "queue", "_service_time", "_queue", "_eid", "served", "gone",
        "process", "on_drained", "revision", "created_at", "state", "_spare",
    )

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        name: str,
        deployment: str,
        node: int,
        labels: dict[str, str],
        concurrency: int,
        queue_limit: int,
        service_time: BlockSampler,
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
        self.queue: deque[Request] = deque()
        self._service_time = service_time
        self._queue = env._queue  # SimPy's event heap, pushed to directly (see model/events.py)
        self._eid = env._eid
        self.served = 0
        self._spare: list[Tick] = []
        """Workers' events that have fired, kept for reuse: an idle pod's next request re-arms one."""
        self.gone = False
        """Connections to the pod's process are broken (deleted, crashed, past SIGTERM, node lost):
        a client's pinned connection to it is dropped and re-opened elsewhere (model/connections.py)."""
        self.process = SERVING
        """``serving``, ``refusing`` (nothing listens) or ``blackhole`` (nothing answers)."""
        self.on_drained: Callable[[Pod], None] | None = None
        """Called once the pod has no request left after SIGTERM (the process exits)."""
        self.revision = 0
        """The Deployment template revision the pod was created from (rollouts bump it)."""
        self.created_at = 0.0
        self.state = "Running"
        """Lifecycle phase for reports: Pending, Starting, Running, Terminating, Crashed, Hung, Gone."""

    # -- the serving path ------------------------------------------------------------------

    def accept(self, request: Request) -> None:
        """A request arrives at the pod's port."""
        request.pod = self
        if self.busy < self.concurrency:
            self.busy += 1
            env = self.env
            if self._spare:
                event = self._spare.pop()
                event.callbacks = [self._finish]
                event._value = request
            else:
                event = Tick(env, self._finish, request)
            heappush(self._queue, (env._now + self._service_time(), NORMAL, next(self._eid), event))
        elif len(self.queue) < self.queue_limit:
            self.queue.append(request)
        else:
            request.client.respond(request, Outcome.REJECTED)

    def _finish(self, event: Event) -> None:
        """A worker is done: answer, and take the next waiting request if any.

        The worker's event is re-armed for the next request it takes (nothing
        else holds it once it has fired), which saves an allocation per request
        while the pod is busy.
        """
        self.served += 1
        request = event._value
        if self.queue:
            event.callbacks = [self._finish]
            event._value = self.queue.popleft()
            heappush(self._queue, (self.env._now + self._service_time(), NORMAL, next(self._eid), event))
        else:
            self.busy -= 1
            self._spare.append(event)  # fired and held by nobody else: reusable
        request.client.respond(request, Outcome.OK)

    # -- the other states (rare: only churn gets here) -------------------------------------

    def _accept_refusing(self, request: Request) -> None:
        """Nothing listens on the port (node up): the kernel answers RST, connection refused."""
        request.pod = self
        request.client.respond(request, Outcome.REFUSED)

    def _accept_blackhole(self, request: Request) -> None:
        """Nothing answers (a hung process, or a node that is down): the client times out."""
        request.pod = self
        time_out(request)

    def _finish_draining(self, event: Event) -> None:
        """After SIGTERM: finish as usual; when nothing is left, the process exits."""
        Pod._finish(self, event)
        if self.busy == 0 and not self.queue and self.on_drained is not None:
            drained, self.on_drained = self.on_drained, None
            drained(self)

    def serve(self) -> None:
        """The process listens and answers (started, or restarted after a crash)."""
        self.gone = False
        self._switch(SERVING, Pod)

    def stop_listening(self, drain: Callable[[Pod], None]) -> None:
        """SIGTERM: refuse new connections, finish what is in flight, then call ``drain``."""
        self.on_drained = drain
        self.gone = True  # the server closes its idle keep-alive connections; clients reconnect
        self._switch(REFUSING, _DrainingPod)
        if self.busy == 0 and not self.queue:
            self.on_drained = None
            drain(self)

    def die(self, outcome: Outcome) -> int:
        """The process is gone (crash, SIGKILL): what is in flight or queued ends with ``outcome``.

        ``RESET`` sends the RST back to the client; ``TIMEOUT`` (a node that went
        dark) leaves the client waiting until its timeout. New connections are
        refused, or black-holed when ``outcome`` is ``TIMEOUT``. Returns how many
        requests it ended.
        """
        blackhole = outcome is Outcome.TIMEOUT
        self.gone = True
        self._switch(BLACKHOLE if blackhole else REFUSING, _BlackholePod if blackhole else _RefusingPod)
        return self._end_in_flight(outcome)

    def hang(self) -> int:
        """The process stops answering: in flight and new requests wait until the client's timeout."""
        self._switch(BLACKHOLE, _BlackholePod)
        return self._end_in_flight(Outcome.TIMEOUT)

    def _end_in_flight(self, outcome: Outcome) -> int:
        ended = []
        for entry in self._queue:
            event = entry[3]
            callbacks = event.callbacks
            if callbacks and getattr(callbacks[0], "__self__", None) is self and isinstance(event, Tick):
                event.callbacks = []  # the worker never finishes
                ended.append(event._value)
        ended.extend(self.queue)
        self.queue.clear()
        self.busy = 0
        for request in ended:
            if outcome is Outcome.TIMEOUT:
                time_out(request)
            else:
                request.client.respond(request, outcome)
        return len(ended)

    def _switch(self, process: str, cls: type[Pod]) -> None:
        """Become ``cls`` (the state's methods), and point the pod's pending events on the heap at them."""
        self.process = process
        self.__class__ = cls
        accept, finish = self.accept, self._finish
        for entry in self._queue:
            event = entry[3]
            if isinstance(event, Wakeup):
                fn = event.fn
                if getattr(fn, "__self__", None) is self and getattr(fn, "__func__", None) in _ACCEPTS:
                    event.fn = accept
            elif isinstance(event, Tick):
                callbacks = event.callbacks
                if callbacks and getattr(callbacks[0], "__self__", None) is self:
                    event.callbacks = [finish]


class _RefusingPod(Pod):
    """Nothing listens (not started, crashed, gone with its node up)."""

    __slots__ = ()
    accept = Pod._accept_refusing


class _DrainingPod(Pod):
    """After SIGTERM: new connections refused, in-flight work finishing."""

    __slots__ = ()
    accept = Pod._accept_refusing
    _finish = Pod._finish_draining


class _BlackholePod(Pod):
    """Nothing answers (a hung process, a node that is down)."""

    __slots__ = ()
    accept = Pod._accept_blackhole


_ACCEPTS = (Pod.accept, Pod._accept_refusing, Pod._accept_blackhole)


def time_out(request: Request) -> None:
    """End ``request`` with TIMEOUT when its client gives up on the current try."""
    client: Any = request.client
    env = client.env
    started = getattr(request, "t_try", request.t_issue)
    delay = max(0.0, started + client.try_timeout - env._now)
    env.schedule(Wakeup(env, _timed_out, request), NORMAL, delay)


def _timed_out(request: Request) -> None:
    request.client.finish(request, Outcome.TIMEOUT)


class TrackedServiceTime:
    """A pod's service-time sampler that also sums what it handed out: the pod's CPU-busy seconds.

    Used only for Deployments an HPA watches (one busy worker = one core; the
    busy time is counted when service starts), so other pods pay nothing.
    """

    __slots__ = ("_inner", "total")

    def __init__(self, inner: Callable[[], float]) -> None:
        self._inner = inner
        self.total = 0.0

    def __call__(self) -> float:
        value = self._inner()
        self.total += value
        return value

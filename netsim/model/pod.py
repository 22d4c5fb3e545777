"""A pod serving requests: ``concurrency`` workers in front of a FIFO waiting room.

A request that finds a free worker starts at once; otherwise it waits its turn,
unless ``queue_limit`` requests already wait, in which case the pod answers at
once with an error (HTTP 503): an overloaded system must not grow without bound.
"""

from __future__ import annotations

from collections import deque
from heapq import heappush

import simpy
from simpy.core import NORMAL
from simpy.events import Event

from netsim.distributions import BlockSampler
from netsim.model.events import Tick
from netsim.model.request import Outcome, Request


class Pod:
    __slots__ = (
        "env", "index", "name", "deployment", "node", "labels", "concurrency", "queue_limit",
        "busy", "queue", "_service_time", "_queue", "_eid", "served", "gone",
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
        self.gone = False
        """The pod was deleted: connections pinned to it by conntrack fail (model/connections.py)."""

    def accept(self, request: Request) -> None:
        """A request arrives at the pod's port."""
        request.pod = self
        if self.busy < self.concurrency:
            self.busy += 1
            env = self.env
            heappush(self._queue, (env._now + self._service_time(), NORMAL, next(self._eid), Tick(env, self._finish, request)))
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
        request.client.respond(request, Outcome.OK)

"""A pod serving requests: ``concurrency`` workers in front of a FIFO waiting room.

A request that finds a free worker starts at once; otherwise it waits its turn,
unless ``queue_limit`` requests already wait, in which case the pod answers at
once with an error (HTTP 503): an overloaded system must not grow without bound.
"""

from __future__ import annotations

from collections import deque

import simpy

from netsim.distributions import BlockSampler
from netsim.model.events import call_later
from netsim.model.request import Outcome, Request


class Pod:
    __slots__ = (
        "_service_time",
        "busy",
        "concurrency",
        "container_ports",
        "deployment",
        "env",
        "index",
        "labels",
        "name",
        "node",
        "queue",
        "queue_limit",
        "served",
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
        self.served = 0

    def accept(self, request: Request) -> None:
        """A request arrives at the pod's port."""
        request.pod = self
        if self.busy < self.concurrency:
            self.busy += 1
            call_later(self.env, self._service_time(), self._finish, request)
        elif len(self.queue) < self.queue_limit:
            self.queue.append(request)
        else:
            request.client.respond(request, Outcome.REJECTED)

    def _finish(self, request: Request) -> None:
        self.served += 1
        if self.queue:
            call_later(self.env, self._service_time(), self._finish, self.queue.popleft())
        else:
            self.busy -= 1
        request.client.respond(request, Outcome.OK)

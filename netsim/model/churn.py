"""Timed changes to the cluster: ``churn: [{at: 30s, apply: Service/web}]``.

For now one kind of change: applying a manifest held back under ``deferred:``
(only Services so far). Creating a Service publishes its DNS record at once
(CoreDNS watches Services) and kube-proxy programs its rules; a client pod that
started before it has no ``{SVC}_SERVICE_HOST`` env var for it and never will
until it restarts (k8s-facts §5). Pod failures, rollouts and scaling will join
here; each change is one SimPy process step at its time.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:  # netsim.spec imports the config package, which imports the model's users
    from netsim.spec import ChurnEventSpec



class Churn:
    """Runs the scenario's churn events in time order, handing each to ``apply``."""

    def __init__(self, env: simpy.Environment, events: Sequence[ChurnEventSpec], apply: Callable[[ChurnEventSpec], None]) -> None:
        self.env = env
        self.events = sorted(events, key=lambda e: e.at)
        self._apply = apply
        self.applied: list[tuple[float, ChurnEventSpec]] = []

    def start(self) -> None:
        if self.events:
            self.env.process(self._run())

    def _run(self) -> Generator[simpy.Event, None, None]:
        for event in self.events:
            if event.at > self.env.now:
                yield self.env.timeout(event.at - self.env.now)
            self._apply(event)
            self.applied.append((self.env.now, event))

"""Timed changes to the cluster: the ``churn:`` list.

Each event happens ``at`` a time, or ``every`` a random interval (the first one
interval after the start; ``kill`` and ``fail`` only). The World carries out the
action (:meth:`netsim.model.world.World.apply_churn`): a rollout, a scale, killing
pods (crash, hang, delete), failing or draining a node, applying a deferred
object or deleting one. Intervals and every random choice an event makes come
from the ``churn`` random stream (keyed by the event), so churn never shifts the
arrival or service streams (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import simpy

from netsim.distributions import BlockSampler

if TYPE_CHECKING:  # netsim.spec imports the config package, which imports the model's users
    from netsim.spec import ChurnEventSpec


class Churn:
    """Runs the scenario's churn events, handing each to ``apply`` at its time."""

    def __init__(
        self,
        env: simpy.Environment,
        events: Sequence[ChurnEventSpec],
        apply: Callable[[ChurnEventSpec], None],
        rng: Callable[[str], np.random.Generator] | None = None,
    ) -> None:
        self.env = env
        self.timed = sorted((e for e in events if e.at is not None), key=lambda e: e.at)  # type: ignore[arg-type, return-value]
        self.repeating = [e for e in events if e.at is None]
        self.events = list(events)
        self._apply = apply
        self._rng = rng
        self.applied: list[tuple[float, ChurnEventSpec]] = []

    def start(self) -> None:
        if self.timed:
            self.env.process(self._run())
        for i, event in enumerate(self.repeating):
            assert self._rng is not None, "repeating churn events need a random stream"
            interval = BlockSampler(event.event.every, self._rng(f"every/{i}/{event.action}/{event.target}"))
            self.env.process(self._repeat(event, interval))

    def _do(self, event: ChurnEventSpec) -> None:
        self._apply(event)
        self.applied.append((self.env.now, event))

    def _run(self) -> Generator[simpy.Event, None, None]:
        for event in self.timed:
            if event.at > self.env.now:  # type: ignore[operator]
                yield self.env.timeout(event.at - self.env.now)  # type: ignore[operator]
            self._do(event)

    def _repeat(self, event: ChurnEventSpec, interval: BlockSampler) -> Generator[simpy.Event, None, None]:
        while True:
            yield self.env.timeout(interval())
            self._do(event)

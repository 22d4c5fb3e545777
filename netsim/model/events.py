"""The simulation clock and event heap: the one module that knows SimPy's internals.

netsim runs on a SimPy environment. Control-plane processes (health checks,
controllers, churn) are ordinary SimPy processes; the data plane, which moves
hundreds of thousands of requests per simulated second, is not: a request is a
small record moved by callbacks, and every microsecond per request counts.
SimPy's ``Timeout`` checks its arguments and goes through a generic callback
list, and ``Environment.now`` is a Python-level property; a request needs
neither. So this module, and only this module, reaches into SimPy:

- :class:`Environment` keeps the clock as a plain attribute, :attr:`Environment.time`
  (SimPy's own ``now``/``_now`` still work and read the same value), and exposes
  the event heap as :attr:`Environment.heap` with its id counter
  :attr:`Environment.ids`. An entry of the heap is ``(time, PRIORITY, next(ids),
  event)``, exactly what ``Environment.schedule`` pushes; hot code pushes such
  entries itself (``heappush(env.heap, (t, PRIORITY, next(env.ids), event))``),
  which saves a method frame per event. Nothing else of SimPy's is touched.
- :class:`Wakeup` is an already-triggered event that calls ``fn(arg)``;
  :class:`Tick` calls ``fn(event)`` directly (its ``arg`` holds the payload), for
  the hottest callbacks, and can be re-armed: a fired Tick held by nobody else is
  pushed again with new callbacks and payload, saving an allocation. Neither is
  a SimPy ``Event``: each has only what SimPy's loop reads of a fired event
  (``callbacks``, ``_ok``), in slots.
- :func:`run_until` is SimPy's ``Environment.step`` loop, inlined.

SimPy is pinned below its next major version (pyproject.toml) because of this.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from operator import attrgetter
from typing import Any

import simpy
from simpy.core import NORMAL
from simpy.events import PENDING, Event

PRIORITY = NORMAL
"""The priority of every event netsim pushes (SimPy's ``NORMAL``); ties go by insertion order."""


class Environment(simpy.Environment):
    """A SimPy environment whose clock is a plain attribute (``time``) and whose heap is public.

    SimPy reads and writes ``_now``; here ``_now`` is a property over :attr:`time`,
    so SimPy's processes and ``now`` see the same clock that the data plane reads
    for the price of an attribute lookup.
    """

    _now = property(attrgetter("time"), lambda self, value: setattr(self, "time", value))

    def __init__(self, initial_time: float = 0.0) -> None:
        self.time = float(initial_time)
        super().__init__(initial_time)
        self.heap: list[tuple[float, int, int, Event]] = self._queue
        """SimPy's event heap of ``(time, PRIORITY, id, event)`` entries."""
        self.ids = self._eid
        """SimPy's event id counter: ``next(env.ids)`` orders events pushed at the same time."""

    def push(self, time: float, event: Event) -> None:
        """Put ``event`` on the heap at absolute ``time`` (not before now)."""
        heappush(self.heap, (time, PRIORITY, next(self.ids), event))

    def pending(self) -> list[Event]:
        """Every event on the heap (a rare, O(heap) look, for state changes such as a crashing pod)."""
        return [entry[3] for entry in self.heap]


def _fire(event: Wakeup) -> None:
    event.fn(event.arg)


_FIRE = (_fire,)
"""Every Wakeup's callbacks: SimPy's loop only iterates them, so one shared tuple serves (no list per event)."""


class Wakeup:
    """An event that calls ``fn(arg)`` when the simulation clock reaches it.

    Not a :class:`simpy.events.Event`: only what SimPy's ``step`` reads of a fired
    event (``callbacks``, ``_ok``) and slots, so that one costs an allocation and three
    stores. :func:`run_until` calls ``fn(arg)`` itself; SimPy's own ``run``/``step``
    (tests) go through ``callbacks``. Nothing waits on a Wakeup, nor cancels one.
    """

    __slots__ = ("callbacks", "fn", "arg")

    _ok = True
    _value = None

    def __init__(self, env: simpy.Environment, fn: Callable[[Any], None], arg: Any) -> None:
        self.callbacks = _FIRE
        self.fn = fn
        self.arg = arg


class Tick:
    """An event that calls ``fn(self)``; ``fn`` reads its payload from :attr:`arg`.

    As :class:`Wakeup`, only what SimPy's loop reads; its callbacks are a list that
    its owner may swap (re-arm) or empty (cancel: on the heap still, it fires and
    nothing happens).
    """

    __slots__ = ("callbacks", "arg")

    _ok = True
    _value = None

    def __init__(self, env: simpy.Environment, fn: Callable[[Tick], None], arg: Any) -> None:
        self.callbacks = [fn]
        self.arg = arg


def call_later(env: Environment, delay: float, fn: Callable[[Any], None], arg: Any) -> None:
    """Run ``fn(arg)`` after ``delay`` simulated seconds (``delay`` >= 0)."""
    heappush(env.heap, (env.time + delay, PRIORITY, next(env.ids), Wakeup(env, fn, arg)))


def run_until(env: Environment, until: Event) -> None:
    """``env.run(until=until)`` without the per-step method call.

    The loop is SimPy's own ``Environment.step`` inlined: pop the next event, set
    the clock, run its callbacks, and re-raise a failure nobody handled; a
    :class:`Wakeup` is called directly, and a :class:`Tick` never fails.
    """
    queue = env.heap
    while until._value is PENDING and queue:
        env.time, _, _, event = heappop(queue)
        kind = type(event)
        if kind is Tick:  # netsim's own events first: no failure to check
            callbacks = event.callbacks
            event.callbacks = None
            for callback in callbacks:
                callback(event)
        elif kind is Wakeup:  # and no callback list
            fn = event.fn  # a slot read, then a call: specialised, where ``event.fn(...)`` is not
            fn(event.arg)
        else:
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc


def triggered(event: Event) -> bool:
    """Whether ``event`` has been triggered (SimPy's ``Event.triggered``)."""
    return event.triggered

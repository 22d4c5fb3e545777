"""Clients: the load generators, in the cluster or outside it, and the record of each request they sent.

An open-loop client (:class:`Client`) sends Poisson arrivals in total over its
sender slots (client pods, or external addresses): each arrival comes from one
slot chosen uniformly, which splits the stream into independent Poisson streams,
one per slot. Its offered load does not fall when the system slows down. A
closed-loop client (:class:`ClosedLoopClient`) is a set of users, as load
generators such as locust and k6 drive real applications: each user sends a
request, waits for its answer (or its timeout), thinks, and sends the next, so
that offered load falls when the system slows down.

Requests travel along the client's route (model/route.py), which ends each one
exactly once and hands it back here (:meth:`Client.complete`) to be recorded.
This is the hottest code in netsim: numbers come from pre-drawn blocks, and
events are :class:`Tick`/``Wakeup``. Under churn a client's slots may follow the
pods that are up (:class:`~netsim.model.client_pods.LiveSenders`): the same
draws then pick among the client's *current* senders.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heappush
from itertools import count
from typing import Any

import numpy as np

from netsim.distributions import BlockSampler
from netsim.model.client_pods import LiveSenders
from netsim.model.events import PRIORITY, Environment, Tick
from netsim.model.operations import COMPONENTS, breakdown
from netsim.model.request import Outcome, Request
from netsim.recorder import Recorder, pack_row

OK = Outcome.OK


class _Sender:
    """What open and closed clients share: the route, the record, the count of requests in flight."""

    BLOCK = 4096

    def __init__(self, env: Environment, index: int, name: str, route: Any, stop_at: float, ids: count,
                 recorder: Recorder, operation: Callable[[], int] | None) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.route = route
        self.service = route.service
        self.timeout = route.timeout
        self._try_timeout = route.try_timeout
        self._send = route.send
        self.slot_node: Sequence[int] = route.slot_node
        self.stop_at = stop_at
        self._ids = ids
        self._recorder = recorder
        self._record = recorder.rows.append
        self._operation = operation
        """Draws the operation of the next request (weights of the target's operations); None: always the first."""
        self.generated = 0
        self.in_flight = 0
        self.on_idle: Callable[[], None] | None = None
        self._window = (route.env.time, stop_at)  # replaced by the measured window (warm-up excluded) in measure_from
        self.breakdown: dict[int, list[float]] = {}
        """Per operation, over its ``special`` OK measured requests: [count, Σ latency, Σ each breakdown component]
        (seconds); the other requests' breakdown comes from their records."""

    def measure_from(self, start: float) -> None:
        """Requests issued from ``start`` (the end of the warm-up) to the end count in the breakdown."""
        self._window = (start, self.stop_at)

    @property
    def slots(self) -> int:
        return len(self.slot_node)

    def _new_request(self, slot: int, now: float) -> Request:
        request = Request(next(self._ids), self.route, slot, self.slot_node[slot], now, now + self._try_timeout,
                          now + self.timeout, self)
        if self._operation is not None:
            request.operation = self._operation()
        self.generated += 1
        self.in_flight += 1
        return request

    def complete(self, request: Request, outcome: Outcome) -> None:
        """Record the request's one and only end (the route calls it as ``request.waiter.done``).

        The record keeps when the request reached its pod, when a worker took it and
        when the pod answered: for most requests that is all the breakdown of its
        latency needs (network, queueing, work), computed in bulk after the run. A
        request with other parts (``special``: a DNS wait, a connection wait, a rule or
        LB cost, retries, a job's own breakdown) that ends OK in the measured window
        adds its full breakdown (model/operations.py) to :attr:`breakdown` here instead.
        """
        now = self.env.time
        t_issue = request.t_issue
        latency = now - t_issue
        if latency > self.timeout:  # ended at its deadline (rounding): an unanswered SYN keeps its cause
            latency = self.timeout
            if outcome is OK:
                outcome = Outcome.TIMEOUT
        pod = request.pod
        conn = request.conn
        special = request.special
        if special and outcome is OK and self._window[0] <= t_issue < self._window[1]:
            sums = self.breakdown.get(request.operation)
            if sums is None:
                sums = self.breakdown[request.operation] = [0.0] * (2 + len(COMPONENTS))
            sums[0] += 1.0
            sums[1] += latency
            net, dns, proxy, conn_wait, queued, worked, failed, backoff = breakdown(request, now)  # COMPONENTS, unrolled
            sums[2] += net
            sums[3] += dns
            sums[4] += proxy
            sums[5] += conn_wait
            sums[6] += queued
            sums[7] += worked
            sums[8] += failed
            sums[9] += backoff
        if special or outcome is not OK:
            queueing, work = -1.0, 0.0  # (its breakdown, if any, is summed above)
        else:
            t_start = request.t_start
            queueing, work = t_start - request.t_pod, request.t_done - t_start
        record = self._record  # a bound method held in an attribute: loaded as one (CPython 3.11 specialises that)
        record(pack_row(
            request.id, self.index, request.slot, self.service, request.operation, request.node,
            -1 if pod is None else pod.index, t_issue, latency, outcome, request.dns_queries,
            -1 if conn is None else conn.id, queueing, work,
        ))
        self.in_flight -= 1
        if self.in_flight == 0 and now >= self.stop_at:
            self._check_idle()

    done = complete

    def _check_idle(self) -> None:
        if self.in_flight == 0 and self.env.time >= self.stop_at and self.on_idle is not None:
            self.on_idle()
            self.on_idle = None



class Client(_Sender):
    """Open-loop Poisson arrivals over the client's slots (rate steps allowed)."""

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        route: Any,
        rate: float,
        stop_at: float,
        rng: np.random.Generator,
        ids: count,
        recorder: Recorder,
        operation: Callable[[], int] | None = None,
        rate_steps: tuple[tuple[float, float], ...] = (),
        live: LiveSenders | None = None,
    ) -> None:
        super().__init__(env, index, name, route, stop_at, ids, recorder, operation)
        self.rate = rate
        self.rate_steps = rate_steps
        """``(at, rate)`` changes of the arrival rate (a load step); empty: constant ``rate``."""
        self._rng = rng
        self.live = live
        """The slots that can send now, when churn can change them (model/client_pods.py); None: all, always."""
        self._gaps: list[float] = []
        self._senders: list[Any] = []
        self._i = 0
        self._arrival = self._arrive_live if live is not None else self._arrive
        self._rearm = [self._arrival]
        """The arrival event's callback list, reused: SimPy's loop only iterates it, nobody else holds it."""

    def start(self) -> None:
        self._refill()
        env = self.env
        self._i = 1
        heappush(env.heap, (env.time + self._gaps[0], PRIORITY, next(env.ids), Tick(env, self._arrival, self._senders[0])))

    def _refill(self) -> None:
        """The next block of inter-arrival gaps and sending slots, from this client's own stream."""
        if self.rate_steps:
            self._gaps = stepped_gaps(self._rng, self.rate, self.rate_steps, self.env.time, self.BLOCK).tolist()
        else:
            self._gaps = self._rng.exponential(1.0 / self.rate, self.BLOCK).tolist()
        # one uniform per arrival, whoever sends it: churn never shifts this stream (model/client_pods.py)
        u = self._rng.random(self.BLOCK)
        self._senders = u.tolist() if self.live is not None else (u * len(self.slot_node)).astype(np.intp).tolist()
        self._i = 0

    def _next(self, event: Tick, now: float) -> None:
        """Re-arm the arrival event for the next arrival (a client has exactly one pending)."""
        i = self._i
        if i >= self.BLOCK:
            self._refill()
            self._recorder.flush()  # bounded buffers: the recorder catches up once per block
            i = 0
        self._i = i + 1
        event.callbacks = self._rearm
        event.arg = self._senders[i]
        env = self.env
        heappush(env.heap, (now + self._gaps[i], PRIORITY, next(env.ids), event))

    def _arrive(self, event: Tick) -> None:
        """A request is born on the slot ``event.arg``.

        The hottest function of netsim: :meth:`_next` and :meth:`_new_request` are
        written out here, a Python frame saved per request each.
        """
        env = self.env
        now = env.time
        if now >= self.stop_at:
            self._check_idle()
            return
        slot = event.arg
        i = self._i
        if i >= self.BLOCK:
            self._refill()
            self._recorder.flush()
            self.route.tidy()
            i = 0
        self._i = i + 1
        event.callbacks = self._rearm
        event.arg = self._senders[i]
        heappush(env.heap, (now + self._gaps[i], PRIORITY, next(env.ids), event))
        request = Request(next(self._ids), self.route, slot, self.slot_node[slot], now, now + self._try_timeout,
                          now + self.timeout, self)
        if self._operation is not None:
            request.operation = self._operation()
        self.generated += 1
        self.in_flight += 1
        send = self._send  # as ``record`` in complete
        send(request)

    def _arrive_live(self, event: Tick) -> None:
        """``_arrive`` when the client's slots come and go: ``event.arg`` is the arrival's uniform.

        A live sender sends as usual; otherwise the request is counted and ends at
        once as :attr:`Outcome.CLIENT_DOWN` (the arrival stream goes on unchanged).
        """
        now = self.env.time
        if now >= self.stop_at:
            self._check_idle()
            return
        slot, up = self.live.pick(event.arg)  # type: ignore[union-attr]
        self._next(event, now)
        request = self._new_request(slot, now)
        if up:
            self.route.send(request)
            return
        request.node = self.slot_node[slot] if slot >= 0 else -1
        request.ended = True
        self.complete(request, Outcome.CLIENT_DOWN)


class ClosedLoopClient(_Sender):
    """Closed-loop users: send, wait for the answer (or the timeout), think, send the next.

    Users are spread over the client's slots (user *u* sends from slot *u* mod
    slots) and start after one think time each (staggered). A user first runs
    ``on_start`` (a sequence of operations, possibly empty), then repeatedly a task
    drawn by weight; a task is a sequence of operations sent one after another
    without thinking (locust's addToCart: a product page, then ``POST /cart``,
    then the cart page it redirects to), whatever their outcomes.
    """

    def __init__(
        self,
        env: Environment,
        index: int,
        name: str,
        route: Any,
        users: int,
        think_time: BlockSampler,
        tasks: Sequence[tuple[int, ...]],
        weights: Sequence[float],
        on_start: tuple[int, ...],
        stop_at: float,
        rng: np.random.Generator,
        ids: count,
        recorder: Recorder,
    ) -> None:
        super().__init__(env, index, name, route, stop_at, ids, recorder, None)
        self.users = users
        self._think = think_time
        self._tasks = list(tasks)
        cumulative = np.cumsum(np.asarray(weights, dtype=float))
        self._cumulative = (cumulative / cumulative[-1]).tolist()
        self._on_start = on_start
        self._rng = rng
        self._choices: list[float] = []
        self._c = 0
        self._plan: list[list[int]] = [list(on_start) for _ in range(users)]
        """Per user, the operations left in its current task (or in on_start)."""
        self.thinking = 0
        """Users thinking now (the client is idle only when none thinks and nothing is in flight)."""
        self._users = [_User(self, u) for u in range(users)]

    def start(self) -> None:
        for user in range(self.users):
            self._think_then_wake(user, self.env.time)

    def _think_then_wake(self, user: int, now: float) -> None:
        self.thinking += 1
        self.env.push(now + self._think(), Tick(self.env, self._wake, user))

    def _task(self) -> list[int]:
        c = self._c
        if c >= len(self._choices):
            self._choices = self._rng.random(self.BLOCK).tolist()
            c = 0
        self._c = c + 1
        u = self._choices[c]
        k = next((i for i, edge in enumerate(self._cumulative) if u < edge), len(self._tasks) - 1)
        return list(self._tasks[k])

    def _wake(self, event: Tick) -> None:
        """A user's think time is over: the next operation of its task, or a new task (none after the end)."""
        user = event.arg
        now = self.env.time
        self.thinking -= 1
        if now >= self.stop_at:
            self._check_idle()
            return
        plan = self._plan[user]
        if not plan:
            plan.extend(self._task())
        self._send_operation(user, plan.pop(0), now)

    def _send_operation(self, user: int, operation: int, now: float) -> None:
        request = self._new_request(user % len(self.slot_node), now)
        request.operation = operation
        request.waiter = self._users[user]
        self.route.send_any(request)

    def answered(self, user: int, request: Request, outcome: Outcome) -> None:
        """Record the answer; the user sends the rest of its task at once, or thinks."""
        now = self.env.time
        if now < self.stop_at:
            plan = self._plan[user]
            if plan:  # the rest of the task goes at once (a redirect, the next page)
                self._send_operation(user, plan.pop(0), now)
            else:
                self._think_then_wake(user, now)
        self.complete(request, outcome)

    def _check_idle(self) -> None:
        if self.thinking == 0:
            super()._check_idle()


class _User:
    """One closed-loop user: what waits for its requests' answers."""

    __slots__ = ("client", "index")

    def __init__(self, client: ClosedLoopClient, index: int) -> None:
        self.client = client
        self.index = index

    def done(self, request: Request, outcome: Outcome) -> None:
        self.client.answered(self.index, request, outcome)


def stepped_gaps(rng: np.random.Generator, rate: float, steps: Sequence[tuple[float, float]], t0: float, n: int) -> np.ndarray:
    """``n`` inter-arrival gaps from ``t0`` of a Poisson process whose rate steps (time rescaling).

    Arrivals of a unit-rate process, mapped through the inverse of the cumulative
    rate Λ(t) (piecewise linear), are a Poisson process of rate λ(t).
    """
    breaks = np.array([0.0, *[at for at, _ in steps]])
    rates = np.array([rate, *[r for _, r in steps]])
    cumulative = np.concatenate([[0.0], np.cumsum(np.diff(breaks) * rates[:-1])])

    def big_lambda(t: np.ndarray) -> np.ndarray:
        j = np.searchsorted(breaks, t, side="right") - 1
        return cumulative[j] + (t - breaks[j]) * rates[j]

    targets = big_lambda(np.array([t0]))[0] + np.cumsum(rng.standard_exponential(n))
    j = np.searchsorted(cumulative, targets, side="right") - 1
    times = breaks[j] + (targets - cumulative[j]) / rates[j]
    return np.diff(np.concatenate([[t0], times]))

"""The fast queue kernel against the event engine's own pod (netsim/model/pod.py), request by request.

The pod is driven on a bare SimPy environment the way a client drives it
(each arrival schedules the next, zero latencies), and its service-time sampler
hands out draws in the order it asks for them: when a request starts, so the
k-th draw goes to the k-th accepted request. The kernel, given each arrival's
service time, must reject the same requests and produce the same departures,
bit for bit (to rounding where one-worker pods take the cumulative-maximum
form, which sums in another order: see netsim/fast/queues.py). This file depends on Pod's constructor, on the
service-time sampler's ``block()`` and on ``request.route.respond``; when the event engine's pod changes, adapt the
driver, not the expectations.
"""

from __future__ import annotations

from heapq import heappush

import numpy as np
import pytest

from netsim.fast.queues import serve_fifo
from netsim.model.events import PRIORITY, Environment, Tick
from netsim.model.pod import Pod
from netsim.model.request import Outcome


class _Client:
    """The request's route: records each request's outcome and when it came back."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.ended: dict[int, tuple[Outcome, float]] = {}

    def respond(self, request: _Request, outcome: Outcome) -> None:
        self.ended[request.index] = (outcome, self.env.now)


class _Request:
    __slots__ = ("index", "pod", "route", "t_done", "t_pod", "t_start")

    def __init__(self, index: int, route: _Client) -> None:
        self.index, self.route, self.pod = index, route, None


class _Supply:
    """Hands out the given draws a block at a time, in the order the pod asks for them."""

    def __init__(self, draws: np.ndarray) -> None:
        self.draws, self.at = draws.tolist(), 0

    def block(self) -> list[float]:
        chunk = self.draws[self.at : self.at + 64]
        self.at += 64
        return chunk


def event_engine_pod(arrival: np.ndarray, draws: np.ndarray, workers: int, queue_limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(rejected, departure) from netsim's Pod; ``draws`` are handed out as the pod asks for them."""
    env = Environment()
    pod = Pod(env, 0, "pod", "deployment", 0, {}, workers, queue_limit, _Supply(draws))
    client = _Client(env)

    def arrive(event: Tick) -> None:
        i = event.arg
        if i + 1 < arrival.size:  # like Client._arrive: the next arrival is scheduled first
            heappush(env.heap, (float(arrival[i + 1]), PRIORITY, next(env.ids), Tick(env, arrive, i + 1)))
        pod.accept(_Request(i, client))

    heappush(env.heap, (float(arrival[0]), PRIORITY, next(env.ids), Tick(env, arrive, 0)))
    env.run()
    outcome = [client.ended[i] for i in range(arrival.size)]
    rejected = np.array([o is Outcome.REJECTED for o, _ in outcome])
    departure = np.array([np.nan if o is Outcome.REJECTED else t for o, t in outcome])
    return rejected, departure


@pytest.mark.parametrize(("workers", "queue_limit", "load"), [(1, 10**9, 0.9), (1, 3, 1.1), (3, 2, 1.0), (2, 0, 0.8), (4, 10, 1.3)])
def test_kernel_equals_the_event_engine_pod(workers: int, queue_limit: int, load: float) -> None:
    rng = np.random.default_rng(workers * 100 + queue_limit)
    n = 20_000
    arrival = np.cumsum(rng.exponential(1.0 / (load * workers), n))
    service = rng.exponential(1.0, n)
    served = serve_fifo(arrival, service, workers, queue_limit)
    rejected, departure = event_engine_pod(arrival, service[~served.rejected], workers, queue_limit)
    assert (served.rejected.any() or queue_limit > n) and not served.rejected.all()
    np.testing.assert_array_equal(served.rejected, rejected)
    exact = not (workers == 1 and queue_limit > n)  # one worker, limit never reached: the Lindley pass
    tolerance = 0.0 if exact else 64 * np.finfo(float).eps * (arrival[-1] + service.sum())
    np.testing.assert_allclose(served.departure, departure, rtol=0, atol=tolerance)

"""The fast queue kernel against the event engine's own pod (netsim/model/pod.py), request by request.

The pod is driven on a bare SimPy environment the way a client drives it
(each arrival schedules the next, zero latencies), and its service-time sampler
hands out draws in the order it asks for them: when a request starts, so the
k-th draw goes to the k-th accepted request. The kernel, given each arrival's
service time, must reject the same requests and produce the same departures,
bit for bit (to rounding where one-worker pods take the cumulative-maximum
form, which sums in another order: see netsim/fast/queues.py). This file depends on Pod's constructor and on ``client.respond``;
when the event engine's pod changes, adapt the driver, not the expectations.
"""

from __future__ import annotations

from heapq import heappush

import numpy as np
import pytest
import simpy
from simpy.core import NORMAL

from netsim.fast.queues import serve_fifo
from netsim.model.events import Tick
from netsim.model.pod import Pod
from netsim.model.request import Outcome


class _Client:
    """Records each request's outcome and when it came back."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.ended: dict[int, tuple[Outcome, float]] = {}

    def respond(self, request: _Request, outcome: Outcome) -> None:
        self.ended[request.index] = (outcome, self.env.now)


class _Request:
    __slots__ = ("client", "index", "pod")

    def __init__(self, index: int, client: _Client) -> None:
        self.index, self.client, self.pod = index, client, None


def event_engine_pod(arrival: np.ndarray, draws: np.ndarray, workers: int, queue_limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(rejected, departure) from netsim's Pod; ``draws`` are handed out as the pod asks for them."""
    env = simpy.Environment()
    supply = iter(draws.tolist())
    pod = Pod(env, 0, "pod", "deployment", 0, {}, workers, queue_limit, lambda: next(supply))
    client = _Client(env)

    def arrive(event: Tick) -> None:
        i = event._value
        if i + 1 < arrival.size:  # like Client._arrive: the next arrival is scheduled first
            heappush(env._queue, (float(arrival[i + 1]), NORMAL, next(env._eid), Tick(env, arrive, i + 1)))
        pod.accept(_Request(i, client))

    heappush(env._queue, (float(arrival[0]), NORMAL, next(env._eid), Tick(env, arrive, 0)))
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

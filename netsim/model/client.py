"""Clients: pods that send requests to a Service, and the path a request takes.

In-cluster path (ClusterIP, and the ClusterIP of NodePort/LoadBalancer
Services): the client pod resolves the Service name through cluster DNS, opens
a connection that its own node's kube-proxy DNATs to an endpoint, the request
crosses the network to that pod's node, is served, and the response crosses
back. Arrivals are Poisson in total; each request comes from one of the
client's pods chosen uniformly, which splits the stream into independent
Poisson streams, one per pod.

This is the hottest code in netsim: numbers come from pre-drawn blocks, hops
that cost nothing are not scheduled, and events are :class:`Tick`/``Wakeup``.
Under churn the World may install :attr:`Client.live` (model/client_pods.py):
the same draws then pick among the client's *current* pods (``_arrive_live``),
and the fixed-pod path below stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from heapq import heappush

import numpy as np
import simpy
from simpy.core import NORMAL
from simpy.events import Event

from netsim.config.churn_events import RetryConfig
from netsim.model.client_pods import LiveSenders
from netsim.model.dns import ClusterDns
from netsim.model.events import Tick, Wakeup
from netsim.model.kube_proxy import KubeProxy
from netsim.model.network import Network
from netsim.model.pod import Pod
from netsim.model.request import Outcome, Request
from netsim.recorder import Recorder


class Client:
    BLOCK = 4096

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        name: str,
        service: int,
        rate: float,
        timeout: float,
        pod_nodes: Sequence[int],
        pod_offset: int,
        stop_at: float,
        rng: np.random.Generator,
        dns: ClusterDns,
        proxies: Sequence[KubeProxy],
        pods: Sequence[Pod],
        network: Network,
        recorder: Recorder,
    ) -> None:
        self.env = env
        self.index = index
        self.name = name
        self.service = service
        self.rate = rate
        self.timeout = timeout
        self.pod_nodes = list(pod_nodes)
        self.pod_offset = pod_offset
        self.stop_at = stop_at
        self._rng = rng
        self._dns = dns
        self._pickers = [proxy.picker(service) for proxy in proxies]
        self._pods = pods
        self._network = network
        self._hops_free = network.is_free()
        self._recorder = recorder
        self._record = recorder.rows.append
        self._schedule = env.schedule
        self._queue = env._queue  # SimPy's event heap, pushed to directly (see model/events.py)
        self._eid = env._eid
        self._gaps: list[float] = []
        self._senders: list[int] = []
        self._i = 0
        self.generated = 0
        self.in_flight = 0
        self.on_idle: Callable[[], None] | None = None
        # Set by the World for other entry paths (model/entry.py): what the ``entry_hops`` and
        # ``client_ip_preserved`` columns say, and why no endpoint was found (traffic policy Local).
        self.entry_hops = 0
        self.ip_preserved = 1
        self.why_no_endpoint: Callable[[Request], Outcome] = lambda request: Outcome.REFUSED
        # Connections (model/connections.py): the id recorded with the request (-1: a connection of
        # its own, per-request), and per node the first-packet cost of a new connection (None: free).
        self.connection = -1
        self.first_packet: list[Callable[[], float]] | None = None
        self.rate_steps: tuple[tuple[float, float], ...] = ()
        """``(at, rate)`` changes of the arrival rate (a load step); empty: constant ``rate``."""
        self.try_timeout = timeout
        """How long one try waits for an answer that never comes (a hung pod, a dead node)."""
        self.live: LiveSenders | None = None
        """Set by the World when churn can change which of the client's pods send (model/client_pods.py)."""

    def start(self) -> None:
        self._resolve = self._dns.resolve  # bound once, after the World has wired the resolver in
        if self.live is not None:
            self._arrive = self._arrive_live  # type: ignore[method-assign]  # (re-armed events call it too)
        self._rearm = [self._arrive]
        """The arrival event's callback list, reused: SimPy's loop only iterates it, nobody else holds it."""
        self._refill()
        env = self.env
        heappush(self._queue, (env._now + self._gaps[0], NORMAL, next(self._eid), Tick(env, self._arrive, self._senders[0])))
        self._i = 1

    def _refill(self) -> None:
        """The next block of inter-arrival gaps and sending pods, from this client's own stream."""
        if self.rate_steps:
            self._gaps = stepped_gaps(self._rng, self.rate, self.rate_steps, self.env._now, self.BLOCK).tolist()
        else:
            self._gaps = self._rng.exponential(1.0 / self.rate, self.BLOCK).tolist()
        # one uniform per arrival, whoever sends it: churn never shifts this stream (model/client_pods.py)
        u = self._rng.random(self.BLOCK)
        self._senders = u.tolist() if self.live is not None else (u * len(self.pod_nodes)).astype(np.intp).tolist()
        self._i = 0

    def _arrive(self, event: Event) -> None:
        """A request is born on one of the client's pods (``event._value``).

        The same event object is re-armed for the next arrival: a client has
        exactly one arrival pending at a time, so nothing else can hold it.
        """
        env = self.env
        now = env._now
        if now >= self.stop_at:
            self._check_idle()
            return
        sender = event._value
        i = self._i
        if i >= self.BLOCK:
            self._refill()
            self._recorder.flush()  # bounded buffers: the recorder catches up once per block
            i = 0
        self._i = i + 1
        event.callbacks = self._rearm
        event._value = self._senders[i]
        heappush(self._queue, (now + self._gaps[i], NORMAL, next(self._eid), event))
        self.generated += 1
        self.in_flight += 1
        request = Request(self, sender, self.pod_nodes[sender], now)
        wait, request.dns_queries = self._resolve(self.pod_offset + sender, now)
        if wait > 0.0:
            self._schedule(Wakeup(env, self._connect, request), NORMAL, wait)
        else:
            self._connect(request)

    def _arrive_live(self, event: Event) -> None:
        """``_arrive`` when the client's pods come and go: ``event._value`` is the arrival's uniform.

        A live sender sends as usual; otherwise the request is counted and ends at
        once as :attr:`Outcome.CLIENT_DOWN` (the arrival stream goes on unchanged).
        """
        slot, up = self.live.pick(event._value)  # type: ignore[union-attr]
        if up:
            event._value = slot
            Client._arrive(self, event)
            return
        now = self.env._now
        if now >= self.stop_at:
            self._check_idle()
            return
        i = self._i
        if i >= self.BLOCK:
            self._refill()
            self._recorder.flush()
            i = 0
        self._i = i + 1
        event.callbacks = self._rearm
        event._value = self._senders[i]
        heappush(self._queue, (now + self._gaps[i], NORMAL, next(self._eid), event))
        self.generated += 1
        self.in_flight += 1
        request = Request(self, slot, self.pod_nodes[slot] if slot >= 0 else -1, now)
        request.conn = None
        self.finish(request, Outcome.CLIENT_DOWN)

    def _connect(self, request: Request) -> None:
        """The client's node's kube-proxy picks the endpoint; the request crosses to its node."""
        pod_index = self._pickers[request.node]()
        if pod_index < 0:
            self.finish(request, self.why_no_endpoint(request))
            return
        pod = self._pods[pod_index]
        if self._hops_free:
            pod.accept(request)
            return
        request.pod = pod
        hop = self._network.delay(request.node, pod.node)
        if self.first_packet is not None:  # a new connection: its first packet pays for rule evaluation
            hop += self.first_packet[request.node]()
        if hop > 0.0:
            self._schedule(Wakeup(self.env, pod.accept, request), NORMAL, hop)
        else:
            pod.accept(request)

    def respond(self, request: Request, outcome: Outcome) -> None:
        """The pod answered (``OK``) or turned it away; the response crosses back."""
        if not self._hops_free:
            hop = self._network.delay(request.pod.node, request.node)
            if hop > 0.0:
                self._schedule(Wakeup(self.env, self._response_arrives, (request, outcome)), NORMAL, hop)
                return
        self.finish(request, outcome)

    def _response_arrives(self, args: tuple[Request, Outcome]) -> None:
        self.finish(*args)

    def finish(self, request: Request, outcome: Outcome) -> None:
        """Record the request's one and only end."""
        now = self.env._now
        latency = now - request.t_issue
        if latency > self.timeout:
            outcome, latency = Outcome.TIMEOUT, self.timeout
        pod = request.pod
        self._record((
            self.index, request.client_pod, self.service, request.node, -1 if pod is None else pod.index,
            request.t_issue, latency, outcome, request.dns_queries, self.connection,
        ))
        self.in_flight -= 1
        if self.in_flight == 0 and now >= self.stop_at:
            self._check_idle()

    def _check_idle(self) -> None:
        if self.in_flight == 0 and self.env._now >= self.stop_at and self.on_idle is not None:
            self.on_idle()
            self.on_idle = None


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


RETRYABLE = {"refused": Outcome.REFUSED, "reset": Outcome.RESET, "timeout": Outcome.TIMEOUT}


def install_retries(client: Client, config: RetryConfig, rng: np.random.Generator, log: list[tuple[float, int]]) -> None:
    """Make ``client`` retry failed tries (``clients[].retries``), as a sidecar proxy does.

    A try that ends with one of ``config.on`` is sent again, as a new connection
    (a new endpoint choice), after a ``backoff`` draw, up to ``attempts`` times; the
    request keeps its issue time, so its latency spans every try, and it is
    recorded once, with the outcome of its last try. Each retry is logged
    (``(time, client)``) and counted separately. When timeouts are retried, each
    try gets an equal share of the client's ``timeout``, so that all tries fit in it.
    Installed before the entry path and connection pool wrap ``finish``, so every
    way a try can end passes through here; clients without retries are untouched.
    """
    from netsim.distributions import BlockSampler

    retry_on = {RETRYABLE[kind] for kind in config.on}
    attempts = config.attempts
    backoff = BlockSampler(config.backoff, rng)
    base_finish = client.finish
    env = client.env
    if Outcome.TIMEOUT in retry_on:
        client.try_timeout = client.timeout / (attempts + 1)

    def finish(request: Request, outcome: Outcome) -> None:
        if outcome in retry_on:
            tries = getattr(request, "tries", 0)
            if tries < attempts:
                request.tries = tries + 1
                wait = backoff()
                request.t_try = env._now + wait
                request.pod = None
                log.append((env._now, client.index))
                env.schedule(Wakeup(env, lambda r: client._connect(r), request), NORMAL, wait)
                return
        base_finish(request, outcome)

    client.finish = finish  # type: ignore[method-assign]

"""Clients: pods that send requests to a Service, and the path a request takes.

In-cluster path (ClusterIP, and the ClusterIP of NodePort/LoadBalancer
Services): the client pod resolves the Service name through cluster DNS, opens
a connection that its own node's kube-proxy DNATs to an endpoint, the request
crosses the network to that pod's node, is served, and the response crosses
back. Arrivals are Poisson in total; each request comes from one of the
client's pods chosen uniformly, which splits the stream into independent
Poisson streams, one per pod.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import simpy

from netsim.model.dns import ClusterDns
from netsim.model.events import call_later
from netsim.model.kube_proxy import KubeProxy
from netsim.model.network import Network
from netsim.model.pod import Pod
from netsim.model.request import Outcome, Request


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
        record: Callable[[tuple], None],
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
        self._proxies = proxies
        self._pods = pods
        self._network = network
        self._record = record
        self._gaps: list[float] = []
        self._senders: list[int] = []
        self._i = 0
        self.generated = 0
        self.in_flight = 0
        self.on_idle: Callable[[], None] | None = None

    def start(self) -> None:
        call_later(self.env, self._next_gap(), self._arrive, None)

    def _next_gap(self) -> float:
        i = self._i
        if i >= len(self._gaps):
            self._gaps = self._rng.exponential(1.0 / self.rate, self.BLOCK).tolist()
            self._senders = self._rng.integers(0, len(self.pod_nodes), self.BLOCK).tolist()
            i = 0
        self._i = i + 1
        return self._gaps[i]

    def _arrive(self, _: object) -> None:
        env = self.env
        now = env.now
        if now >= self.stop_at:
            self._check_idle()
            return
        sender = self._senders[self._i - 1]
        call_later(env, self._next_gap(), self._arrive, None)
        self.generated += 1
        self.in_flight += 1
        request = Request(self, sender, self.pod_nodes[sender], now)
        wait, queries = self._dns.resolve(self.pod_offset + sender, now)
        request.dns_queries = queries
        if wait > 0.0:
            call_later(env, wait, self._connect, request)
        else:
            self._connect(request)

    def _connect(self, request: Request) -> None:
        """The client's node's kube-proxy picks the endpoint; the request crosses to its node."""
        pod_index = self._proxies[request.node].connect(self.service)
        if pod_index < 0:
            self.finish(request, Outcome.REFUSED)
            return
        pod = self._pods[pod_index]
        request.pod = pod
        hop = self._network.delay(request.node, pod.node)
        if hop > 0.0:
            call_later(self.env, hop, pod.accept, request)
        else:
            pod.accept(request)

    def respond(self, request: Request, outcome: Outcome) -> None:
        """The pod answered (``OK``) or turned it away; the response crosses back."""
        hop = self._network.delay(request.pod.node, request.node)
        if hop > 0.0:
            call_later(self.env, hop, self._response_arrives(outcome), request)
        else:
            self.finish(request, outcome)

    def _response_arrives(self, outcome: Outcome) -> Callable[[Request], None]:
        if outcome is Outcome.OK:
            return self._finish_ok
        return lambda request: self.finish(request, outcome)

    def _finish_ok(self, request: Request) -> None:
        self.finish(request, Outcome.OK)

    def finish(self, request: Request, outcome: Outcome) -> None:
        """Record the request's one and only end."""
        latency = self.env.now - request.t_issue
        if latency > self.timeout:
            outcome, latency = Outcome.TIMEOUT, self.timeout
        pod = request.pod
        self._record((
            self.index, request.client_pod, self.service, request.node, pod.index if pod is not None else -1,
            request.t_issue, latency, int(outcome), request.dns_queries,
        ))
        self.in_flight -= 1
        if self.in_flight == 0:
            self._check_idle()

    def _check_idle(self) -> None:
        if self.in_flight == 0 and self.env.now >= self.stop_at and self.on_idle is not None:
            self.on_idle()
            self.on_idle = None

"""Cluster DNS as a client pod meets it: a lookup costs ``latency`` per query and is cached for ``cache_ttl``.

A pod's resolver (glibc with a caching sidecar, or the app's own cache) answers
from cache until the TTL runs out; then it queries CoreDNS, and requests that
arrive while the lookup is in flight wait for the same answer.

A lookup is one query when the name resolves at the first try (a short
same-namespace name); a name the search list expands (``ndots:5``, see
:mod:`netsim.k8s.dns_names`) costs one NXDOMAIN query per miss first, the tries
being sequential (A and AAAA go in parallel, so they double the queries, not the
time). An ExternalName Service answers with a CNAME that CoreDNS chases
upstream (``upstream_latency``). A Service that does not exist yet answers
NXDOMAIN after every try; the negative answer is cached like a positive one.
"""

from __future__ import annotations

import numpy as np

from netsim.config.schema import DnsConfig
from netsim.distributions import BlockSampler

_CACHED = (0.0, 0)


class ClusterDns:
    def __init__(self, config: DnsConfig, rng: np.random.Generator, client_pods: int) -> None:
        self._latency = BlockSampler(config.latency, rng)
        self._upstream_latency = BlockSampler(config.upstream_latency, rng)
        self._ttl = config.cache_ttl
        self._answer_at = [-1.0] * client_pods
        self._expires = [-1.0] * client_pods
        self._steps = [1] * client_pods
        self._queries = [1] * client_pods
        self._nx_steps = [1] * client_pods
        self._nx_queries = [1] * client_pods
        self._upstream = [False] * client_pods
        self._service = [-1] * client_pods
        self.exists: list[bool] = []
        """Per Service index: does its DNS record exist yet (churn creates deferred Services)."""
        self.nxdomain = [False] * client_pods
        """Per client pod: was its last answer NXDOMAIN."""
        self.queries = 0

    def register(
        self, pods: range, queries: int, nx_queries: int, per_try: int, upstream: bool, service: int
    ) -> None:
        """How ``pods`` look their target up: queries per lookup (and when NXDOMAIN), CNAME chase, which Service."""
        for pod in pods:
            self._queries[pod] = queries
            self._steps[pod] = max(queries // per_try, 1)
            self._nx_queries[pod] = nx_queries
            self._nx_steps[pod] = max(nx_queries // per_try, 1)
            self._upstream[pod] = upstream
            self._service[pod] = service

    def resolve(self, client_pod: int, now: float) -> tuple[float, int]:
        """``(wait, queries)``: how long until ``client_pod`` has an answer, and queries it sent."""
        if now < self._expires[client_pod]:
            wait = self._answer_at[client_pod] - now
            return (wait, 0) if wait > 0.0 else _CACHED  # hot path: no tuple built for a plain cache hit
        return self._lookup(client_pod, now)

    def _lookup(self, client_pod: int, now: float) -> tuple[float, int]:
        service = self._service[client_pod]
        missing = service >= 0 and not self.exists[service]
        self.nxdomain[client_pod] = missing
        if missing:
            steps, queries = self._nx_steps[client_pod], self._nx_queries[client_pod]
        else:
            steps, queries = self._steps[client_pod], self._queries[client_pod]
        delay = self._latency()
        for _ in range(steps - 1):
            delay += self._latency()
        if self._upstream[client_pod] and not missing:
            delay += self._upstream_latency()
        self._answer_at[client_pod] = now + delay
        self._expires[client_pod] = now + delay + self._ttl
        self.queries += queries
        return delay, queries


    def forget(self, client_pod: int) -> None:
        """A new pod took over this client-pod slot: its resolver starts with an empty cache."""
        self._expires[client_pod] = -1.0


class NoDns:
    """The resolver of a client that does not ask cluster DNS (env-var discovery, external users)."""

    @staticmethod
    def resolve(client_pod: int, now: float) -> tuple[float, int]:
        return 0.0, 0

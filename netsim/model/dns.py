"""Cluster DNS as a client pod meets it: a lookup costs ``latency`` and is cached for ``cache_ttl``.

A pod's resolver (glibc with a caching sidecar, or the app's own cache) answers
from cache until the TTL runs out; then one query goes to CoreDNS, and requests
that arrive while it is in flight wait for the same answer.
"""

from __future__ import annotations

import numpy as np

from netsim.config.schema import DnsConfig
from netsim.distributions import BlockSampler


class ClusterDns:
    def __init__(self, config: DnsConfig, rng: np.random.Generator, client_pods: int) -> None:
        self._latency = BlockSampler(config.latency, rng)
        self._ttl = config.cache_ttl
        self._answer_at = [-1.0] * client_pods
        self._expires = [-1.0] * client_pods
        self.queries = 0

    def resolve(self, client_pod: int, now: float) -> tuple[float, int]:
        """``(wait, queries)``: how long until ``client_pod`` has an answer, and queries it sent."""
        if now < self._expires[client_pod]:
            return max(self._answer_at[client_pod] - now, 0.0), 0
        delay = self._latency()
        self._answer_at[client_pod] = now + delay
        self._expires[client_pod] = now + delay + self._ttl
        self.queries += 1
        return delay, 1

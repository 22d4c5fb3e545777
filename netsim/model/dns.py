"""How a sender finds a Service: cluster DNS (with its cache) or the environment variables kubelet injected.

Cluster DNS as a pod meets it: a lookup costs ``latency`` per query and its
answer is reused for ``cache_ttl``. The pod's resolver answers from cache
until the TTL runs out; then it queries CoreDNS, and requests that arrive while
the lookup is in flight wait for the same answer.

A lookup is one query when the name resolves at the first try (a short
same-namespace name); a name the search list expands (``ndots:5``, see
:mod:`netsim.k8s.dns_names`) costs one NXDOMAIN query per miss first, the tries
being sequential (A and AAAA go in parallel, so they double the queries, not the
time). An ExternalName Service answers with a CNAME that CoreDNS chases
upstream (``upstream_latency``). A Service that does not exist yet answers
NXDOMAIN after every try; the negative answer is cached like a positive one.

:class:`CoreDns` is the server every lookup goes to (one latency stream, one
query count, which Services have a record). Each route (model/route.py) has its
own resolver state per sender slot: :class:`DnsDiscovery`. Senders that do not
ask DNS use :class:`EnvDiscovery` (env vars: a Service created after the pod
started is unknown to it) or :class:`NoDiscovery` (external users, whose own
resolver is outside the model).
"""

from __future__ import annotations

import numpy as np

from netsim.config.schema import DnsConfig
from netsim.distributions import BlockSampler

_CACHED = (0.0, 0)


class CoreDns:
    """Cluster DNS: query latency, the upstream chase of CNAMEs, and which Service records exist."""

    def __init__(self, config: DnsConfig, rng: np.random.Generator, services: int) -> None:
        self.latency = BlockSampler(config.latency, rng)
        self.upstream_latency = BlockSampler(config.upstream_latency, rng)
        self.ttl = config.cache_ttl
        self.exists = [True] * services
        """Per Service index: does its DNS record exist (churn creates deferred Services and deletes others)."""
        self.queries = 0

    def answer_time(self, steps: int, upstream: bool) -> float:
        """How long a lookup of ``steps`` sequential tries takes (plus the upstream chase of a CNAME)."""
        delay = self.latency()
        for _ in range(steps - 1):
            delay += self.latency()
        if upstream:
            delay += self.upstream_latency()
        return delay


class DnsDiscovery:
    """One route's senders resolving one Service name: a cache entry per sender slot."""

    __slots__ = ("_dns", "answer_at", "expires", "_steps", "_queries", "_nx_steps", "_nx_queries", "_upstream",
                 "_service", "nxdomain")

    def __init__(self, dns: CoreDns, queries: int, nx_queries: int, per_try: int, upstream: bool, service: int) -> None:
        """``queries``: queries one lookup sends; ``nx_queries``: when every try is NXDOMAIN; ``per_try``: 2 with AAAA."""
        self._dns = dns
        self.answer_at: list[float] = []
        """Per slot: when its cached answer arrived (or will: a lookup in flight)."""
        self.expires: list[float] = []
        """Per slot: when its cached answer expires. A sender whose ``answer_at <= now < expires`` has its
        answer at no cost: routes check that themselves (model/route.py) before calling :meth:`resolve`."""
        self._steps = max(queries // per_try, 1)
        self._queries = queries
        self._nx_steps = max(nx_queries // per_try, 1)
        self._nx_queries = nx_queries
        self._upstream = upstream
        self._service = service
        self.nxdomain: list[bool] = []
        """Per slot: was its last answer NXDOMAIN (the Service did not exist)."""

    def add_slot(self) -> None:
        self.answer_at.append(-1.0)
        self.expires.append(-1.0)
        self.nxdomain.append(False)

    def resolve(self, slot: int, now: float) -> tuple[float, int]:
        """``(wait, queries)``: how long until ``slot`` has an answer, and the queries it sent."""
        if now < self.expires[slot]:
            wait = self.answer_at[slot] - now
            return (wait, 0) if wait > 0.0 else _CACHED  # hot path: no tuple built for a plain cache hit
        return self._lookup(slot, now)

    def _lookup(self, slot: int, now: float) -> tuple[float, int]:
        dns = self._dns
        missing = not dns.exists[self._service]
        self.nxdomain[slot] = missing
        if missing:
            steps, queries = self._nx_steps, self._nx_queries
        else:
            steps, queries = self._steps, self._queries
        delay = dns.answer_time(steps, self._upstream and not missing)
        self.answer_at[slot] = now + delay
        self.expires[slot] = now + delay + dns.ttl
        dns.queries += queries
        return delay, queries

    def known(self, slot: int) -> bool:
        """Whether the slot's last answer found the Service."""
        return not self.nxdomain[slot]

    def forget(self, slot: int) -> None:
        """A new pod took over this slot: its resolver starts with an empty cache."""
        self.expires[slot] = -1.0


class EnvDiscovery:
    """Env-var discovery: the Service is known only if it existed when the sender's pods started (t = 0 here)."""

    __slots__ = ("existed",)

    def __init__(self, existed: bool) -> None:
        self.existed = existed

    def add_slot(self) -> None:
        return None

    @staticmethod
    def resolve(slot: int, now: float) -> tuple[float, int]:
        return _CACHED

    def known(self, slot: int) -> bool:
        return self.existed

    def forget(self, slot: int) -> None:
        return None


class NoDiscovery(EnvDiscovery):
    """A sender that does not resolve the name in the cluster (external users): always finds the Service."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(True)

"""How a sender finds a Service: cluster DNS (where answers are cached, if anywhere) or the env vars kubelet injected.

Who caches a DNS answer in a Kubernetes pod (docs/config.md, *DNS*, has the sources):

- **The pod's resolver: nobody, by default.** glibc's and musl's stub resolvers
  keep no cache, nor does Go's ``net`` package; the JVM does (30 s by default,
  ``networkaddress.cache.ttl``). ``cluster.dns.cache_ttl`` is that per-pod cache
  (default 0: none): every lookup is a query.
- **NodeLocal DNSCache** (``cluster.dns.node_cache``), when a cluster runs it: a
  per-node cache the pods query at ``node_cache.latency``; a miss is forwarded to
  CoreDNS. It keeps answers ``ttl`` (30 s) and NXDOMAINs ``negative_ttl`` (5 s),
  its shipped Corefile's ``cache { success 9984 30  denial 9984 5 }``.
- **CoreDNS** answers cluster names from the kubernetes plugin's watch-fed index
  (``latency``): kubeadm's Corefile disables CoreDNS's cache for the cluster domain
  (``cache 30 { disable success cluster.local; disable denial cluster.local }``),
  so there is nothing to miss. Names outside it (an ExternalName's CNAME target)
  are forwarded upstream (``upstream_latency``) and cached 30 s
  (``upstream_cache_ttl``) by each CoreDNS replica on its own (``coredns_replicas``;
  a query reaches one of them at random through the kube-dns Service).

*When* a sender looks up matters as much: a client resolves the name when it
opens a connection (a dial), not for each request on a connection it reuses; a
gRPC channel resolves once and again only when it loses its connection. So the
route (model/route.py) asks its connection layer whether the request will open
a connection, and only then resolves. Requests that arrive while a lookup is in
flight wait for the same answer.

A lookup is one query when the name resolves at the first try (a short
same-namespace name); a name the search list expands (``ndots:5``, see
:mod:`netsim.k8s.dns_names`) costs one NXDOMAIN query per miss first, the tries
being sequential (A and AAAA go in parallel, so they double the queries, not the
time). A Service that does not exist yet answers NXDOMAIN after every try; a
pod's cache keeps the negative answer like a positive one.

:class:`CoreDns` is the cluster's DNS (CoreDNS, and the node caches in front of
it): latencies, caches, query counts, which Services have a record. Each route
has its own resolver state per sender slot: :class:`DnsDiscovery`. Senders that
do not ask DNS use :class:`EnvDiscovery` (env vars: a Service created after the
pod started is unknown to it) or :class:`NoDiscovery` (external users, whose
own resolver is outside the model).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netsim.config.schema import DnsConfig
from netsim.distributions import BlockSampler
from netsim.model.slots import slot_values

_CACHED = (0.0, 0)
_EMPTY = (-1.0, True, -1.0)


class CoreDns:
    """Cluster DNS: CoreDNS's query latency and upstream cache, the node caches, which Service records exist."""

    def __init__(self, config: DnsConfig, rng: np.random.Generator, services: int) -> None:
        self.latency = BlockSampler(config.latency, rng)
        self.upstream_latency = BlockSampler(config.upstream_latency, rng)
        self.ttl = config.cache_ttl
        """The pods' own resolver cache (0: none)."""
        self.exists = [True] * services
        """Per Service index: does its DNS record exist (churn creates deferred Services and deletes others)."""
        self.queries = 0
        """Queries the pods sent (to the node cache when there is one, else to CoreDNS)."""
        self.coredns_queries = 0
        """Queries that reached CoreDNS (node-cache misses, or every query without a node cache)."""
        node = config.node_cache
        self._node_cache: dict[tuple[int, Any], tuple[float, float]] | None = {} if node.enabled else None
        """Per (node, name): when its cached positive and negative answers expire."""
        self._node_latency = BlockSampler(node.latency, rng) if node.enabled else None
        self._node_ttl, self._node_negative_ttl = node.ttl, node.negative_ttl
        self._upstream_ttl = config.upstream_cache_ttl
        self._replicas = config.coredns_replicas
        self._upstream_cache: dict[tuple[int, Any], float] = {}
        """Per (CoreDNS replica, name): when its cached upstream answer expires."""
        self._rng = rng

    def answer_time(self, steps: int, upstream: bool, node: int = -1, name: Any = None, now: float = 0.0) -> float:
        """How long a lookup of a name that exists takes: ``steps`` sequential tries, the last one answered."""
        return self.lookup(node, name, True, steps, steps, upstream, now)[0]

    def lookup(self, node: int, name: Any, exists: bool, steps: int, nx_steps: int, upstream: bool,
               now: float) -> tuple[float, bool]:
        """``(delay, found)`` of one lookup from a pod on ``node``.

        The name answers at try ``steps`` when its record ``exists``; otherwise every
        one of ``nx_steps`` tries is an NXDOMAIN. ``upstream``: its answer needs
        CoreDNS to forward a name upstream (a CNAME's target). ``name`` keys the
        caches (None: none applies). A node cache may still hold an older answer
        for the name, positive or NXDOMAIN, and gives that.
        """
        cache = self._node_cache
        if cache is None or name is None:
            tries = steps if exists else nx_steps
            delay = 0.0
            if not upstream:  # every try answered by CoreDNS's index (the common case): _coredns written out
                latency = self.latency
                self.coredns_queries += tries
                for _ in range(tries):
                    delay += latency()
                return delay, exists
            for i in range(tries):  # only the answered last try is forwarded upstream
                delay += self._coredns(upstream and exists and i == tries - 1, name, now)
            return delay, exists
        return self._through_node_cache(cache, node, name, exists, steps, nx_steps, upstream, now)

    def _coredns(self, upstream: bool, name: Any, now: float) -> float:
        """One query answered by CoreDNS (one replica, at random): the plugin's index, or the upstream chase."""
        self.coredns_queries += 1
        delay = self.latency()
        if upstream:
            replica = int(self._rng.integers(self._replicas)) if self._replicas > 1 else 0
            key = (replica, name)
            if name is None or self._upstream_cache.get(key, -1.0) <= now:
                delay += self.upstream_latency()
                if name is not None and self._upstream_ttl > 0.0:
                    self._upstream_cache[key] = now + delay + self._upstream_ttl
        return delay

    def _through_node_cache(self, cache: dict, node: int, name: Any, exists: bool, steps: int, nx_steps: int,
                            upstream: bool, now: float) -> tuple[float, bool]:
        """NodeLocal DNSCache: every try costs its latency; a try it holds no fresh answer for goes on to CoreDNS.

        Cached per node and name: the answer for the name itself (``ttl`` when
        positive, ``negative_ttl`` when NXDOMAIN) and the search list's NXDOMAINs
        before it (``negative_ttl``).
        """
        final_until, final_found, search_until = cache.get((node, name), _EMPTY)
        node_latency = self._node_latency
        delay = 0.0
        searched = False
        for _ in range(steps - 1):  # the search domains tried before the one that answers
            delay += node_latency()  # type: ignore[misc]
            if search_until <= now:
                delay += self._coredns(False, name, now)
                searched = True
        delay += node_latency()  # type: ignore[misc]
        if final_until > now:
            found = final_found
        else:
            found = exists
            delay += self._coredns(upstream and exists, name, now)
            final_until, final_found = now + delay + (self._node_ttl if found else self._node_negative_ttl), found
        if not found:
            for _ in range(nx_steps - steps):  # the rest of the search list, then the name as given
                delay += node_latency()  # type: ignore[misc]
                if search_until <= now:
                    delay += self._coredns(False, name, now)
                    searched = True
        if searched:
            search_until = now + delay + self._node_negative_ttl
        cache[(node, name)] = (final_until, final_found, search_until)
        return delay, found


class DnsDiscovery:
    """One route's senders resolving one Service name: a cache entry per sender slot."""

    __slots__ = ("_dns", "answer_at", "expires", "_steps", "_queries", "_nx_steps", "_nx_queries", "_upstream",
                 "_service", "nxdomain")

    def __init__(self, dns: CoreDns, queries: int, nx_queries: int, per_try: int, upstream: bool, service: int) -> None:
        """``queries``: queries one lookup sends; ``nx_queries``: when every try is NXDOMAIN; ``per_try``: 2 with AAAA."""
        self._dns = dns
        self.answer_at = slot_values(-1.0)
        """Per slot: when its cached answer arrived (or will: a lookup in flight). Only slots that have looked
        up hold an entry (model/slots.py): a client pod on every node costs nothing until it sends."""
        self.expires = slot_values(-1.0)
        """Per slot: when its cached answer expires. A sender whose ``answer_at <= now < expires`` has its
        answer at no cost: routes check that themselves (model/route.py) before calling :meth:`resolve`."""
        self._steps = max(queries // per_try, 1)
        self._queries = queries
        self._nx_steps = max(nx_queries // per_try, 1)
        self._nx_queries = nx_queries
        self._upstream = upstream
        self._service = service
        self.nxdomain = slot_values(False)
        """Per slot: was its last answer NXDOMAIN (the Service did not exist)."""

    def resolve(self, slot: int, now: float, node: int = 0) -> tuple[float, int]:
        """``(wait, queries)``: how long until ``slot`` (a pod on ``node``) has an answer, and the queries it sent."""
        if now < self.expires[slot]:
            wait = self.answer_at[slot] - now
            return (wait, 0) if wait > 0.0 else _CACHED  # hot path: no tuple built for a plain cache hit
        # a lookup (every new connection, with no resolver cache: the default), written out here, a frame saved
        dns = self._dns
        service = self._service
        delay, found = dns.lookup(node, service, dns.exists[service], self._steps, self._nx_steps, self._upstream, now)
        self.nxdomain[slot] = not found
        queries = self._queries if found else self._nx_queries
        self.answer_at[slot] = now + delay
        self.expires[slot] = now + delay + dns.ttl
        dns.queries += queries
        return delay, queries

    def known(self, slot: int) -> bool:
        """Whether the slot's last answer found the Service."""
        return not self.nxdomain[slot]

    def forget(self, slot: int) -> None:
        """A new pod took over this slot: its resolver starts with an empty cache."""
        self.expires.pop(slot, None)


class EnvDiscovery:
    """Env-var discovery: the Service is known only if it existed when the sender's pods started (t = 0 here)."""

    __slots__ = ("existed",)

    def __init__(self, existed: bool) -> None:
        self.existed = existed

    @staticmethod
    def resolve(slot: int, now: float, node: int = 0) -> tuple[float, int]:
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

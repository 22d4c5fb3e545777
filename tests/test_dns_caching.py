"""Who caches DNS answers, and when a client looks a name up (model/dns.py; docs/config.md, DNS).

Kubernetes semantics checked here, none of them produced by the code under test:
glibc, musl and Go resolvers keep no cache, so a pod that opens a connection per
request queries for every one; a client resolves when it dials, so a pooled or
multiplexed connection costs one lookup, not one per request; NodeLocal DNSCache
answers a node's repeated queries from its cache for its TTL (30 s; NXDOMAIN 5 s)
and only its misses reach CoreDNS; a per-pod cache (``cache_ttl``, e.g. the JVM's
30 s) keeps the pod from asking at all until it expires.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import experiment

from netsim import metrics
from netsim.config import load_experiment
from netsim.model.request import Outcome
from netsim.model.world import World

DNS = 0.001


WORK = 1e-6


def _config(dns: dict | None = None, connections: dict | None = None, nodes: int = 2, rate: float = 200.0,
            duration: float = 10.0) -> dict:
    """A request costs its DNS wait plus a constant 1 µs of work (no network, no queue worth the name)."""
    config = experiment(nodes={"count": nodes}, duration=duration, warmup=0.0, rate=rate,
                        service_time={"distribution": "constant", "value": WORK})
    config["cluster"]["dns"] = {"latency": f"{DNS * 1000:g}ms", **(dns or {})}
    if connections is not None:
        config["clients"][0]["connections"] = connections
    return config


def _run(config: dict) -> tuple[World, dict]:
    world = World(load_experiment(config).runs()[0])
    world.start()
    world.env.run(until=world.drained)
    return world, world.recorder.columns()


def test_by_default_pods_cache_nothing_so_every_new_connection_queries() -> None:
    """Per-request connections, no ``cache_ttl`` given: a request either sends its own query or arrived
    while its pod's lookup was in flight (and shares it), never reuses an older answer."""
    _, req = _run(_config())
    assert (req["outcome"] == Outcome.OK).all()
    for slot in np.unique(req["client_pod"]):
        mine = req["client_pod"] == slot
        t, queried = req["t_issue_s"][mine], req["dns_queries"][mine] > 0
        order = np.argsort(t, kind="stable")
        t, queried = t[order], queried[order]
        last_lookup = np.maximum.accumulate(np.where(queried, t, -np.inf))
        assert queried[0] and (queried | (t < last_lookup + DNS + 1e-12)).all()
        assert queried.mean() > 0.5


@pytest.mark.parametrize("mode", ["keep-alive", "multiplexed"])
def test_a_pooled_client_looks_up_when_it_dials_not_per_request(mode: str) -> None:
    """One connection per client pod (no pod cache): each pod resolves once, for its one dial, however many
    requests the connection then carries; a multiplexed connection retired after 50 requests dials again,
    and each new dial looks the name up again."""
    _, req = _run(_config({"cache_ttl": "0s"}, {"mode": mode, "pool": 1}))
    assert (req["outcome"] == Outcome.OK).all()
    for slot in np.unique(req["client_pod"]):
        mine = req["client_pod"] == slot
        assert int((req["dns_queries"][mine] > 0).sum()) == 1 < int(mine.sum())
    if mode == "multiplexed":
        _, req = _run(_config({"cache_ttl": "0s"}, {"mode": mode, "pool": 1, "max_requests": 50}))
        for slot in np.unique(req["client_pod"]):
            mine = req["client_pod"] == slot
            lookups, connections = int((req["dns_queries"][mine] > 0).sum()), np.unique(req["connection"][mine]).size
            assert lookups == connections > 1


def test_node_local_dns_cache_answers_repeats_and_sends_only_misses_to_coredns() -> None:
    """NodeLocal DNSCache: a lookup costs the node cache's latency; only the first per node and per 30 s
    (its success TTL) also pays CoreDNS's. Two nodes, 70 s: at most 2 × ceil(70 / 30) = 6 misses."""
    node_latency = 0.0002
    world, req = _run(_config({"node_cache": {"enabled": True, "latency": f"{node_latency * 1e6:g}us"}}, duration=70.0,
                              rate=100.0))
    own = req["dns_queries"] > 0
    latency = req["latency_s"][own] - WORK
    hit = np.isclose(latency, node_latency, rtol=0, atol=1e-9)
    miss = np.isclose(latency, node_latency + DNS, rtol=0, atol=1e-9)
    assert (hit | miss).all()
    assert 2 <= int(miss.sum()) <= 2 * int(np.ceil(70 / 30)) < int(hit.sum())
    assert world.dns.coredns_queries == int(miss.sum())
    assert world.dns.queries == int(own.sum())  # every lookup still reaches the node cache


def test_node_local_dns_cache_keeps_an_nxdomain_for_its_denial_ttl() -> None:
    """A Service created at 7 s: its pods' lookups fail until then; the node cache keeps the NXDOMAIN up to
    5 s (``cache denial 9984 5``: the one cached just after 5 s lasts until just after 10 s), so requests
    fail until at most 5 s after the creation, and succeed after."""
    from builders import deployment, service

    config = experiment(manifests=[deployment()], duration=15, warmup=0, rate=200,
                        client={"name": "c", "target": "web", "arrival": {"rate": 200}})
    config["cluster"]["dns"] = {"latency": "1ms", "node_cache": True}
    config["deferred"] = [service()]
    config["churn"] = [{"at": "7s", "apply": "Service/web"}]
    _, req = _run(config)
    t, failed = req["t_issue_s"], req["outcome"] == Outcome.DISCOVERY
    assert failed[t < 7.0].all()
    assert not failed[t > 7.0 + 5.0 + 0.01].any()
    assert failed[(t > 7.0) & (t < 10.0)].all()  # the NXDOMAIN the node cached at ~5 s outlives the creation


def test_a_pod_cache_asks_once_per_ttl() -> None:
    """``cache_ttl`` is the pod's own cache (the JVM's 30 s): two pods, 20 s, TTL 5 s -> 4 or 5 lookups each."""
    _, req = _run(_config({"cache_ttl": "5s"}, duration=20.0, rate=400.0))
    queries = int(req["dns_queries"].sum())
    assert 2 * 4 <= queries <= 2 * 5


def test_dns_queries_per_request_reports_the_uncached_default() -> None:
    from netsim.engine import simulate

    result = simulate(load_experiment(_config(rate=50.0)).runs()[0])
    row = metrics.run_rows(result)[0]
    assert row["dns_queries_per_request"] > 0.9  # sparse requests: nearly every one sends its own query

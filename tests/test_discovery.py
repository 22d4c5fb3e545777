"""Service discovery: env vars fixed at pod start vs cluster DNS, and the timed apply of a deferred Service."""

from __future__ import annotations

import pytest
from builders import deployment, experiment, service

from netsim import metrics
from netsim.config import load_experiment
from netsim.engine import simulate
from netsim.errors import ConfigError
from netsim.k8s.dns_names import lookup_sequence, resolve_name
from netsim.model.request import Outcome

CREATED_AT, TTL, DNS_LATENCY = 5.0, 2.0, 0.001


def late_service(discovery: str) -> dict:
    """Service/web is applied at 5 s; the client's pods started at 0 s."""
    config = experiment(manifests=[deployment()], duration=15, warmup=0, rate=200,
                        client={"name": "c", "target": "web", "discovery": discovery, "arrival": {"rate": 200}})
    config["cluster"]["dns"] = {"latency": DNS_LATENCY, "cache_ttl": TTL}
    config["deferred"] = [service()]
    config["churn"] = [{"at": f"{CREATED_AT}s", "apply": "Service/web"}]
    return config


def test_env_discovery_fails_for_a_service_created_after_the_pod() -> None:
    result = simulate(load_experiment(late_service("env")).runs()[0])
    outcome = result.requests["outcome"]
    assert outcome.size > 0 and (outcome == Outcome.DISCOVERY).all()
    assert (result.requests["dns_queries"] == 0).all()
    row = metrics.run_rows(result)[0]
    assert row["errors_discovery"] == row["requests"]


def test_dns_discovery_finds_the_service_once_it_exists() -> None:
    result = simulate(load_experiment(late_service("dns")).runs()[0])
    req = result.requests
    before = req["t_issue_s"] < CREATED_AT
    settled = req["t_issue_s"] > CREATED_AT + TTL + 4 * DNS_LATENCY  # a cached NXDOMAIN lasts one TTL at most
    assert (req["outcome"][before] == Outcome.DISCOVERY).all()
    assert (req["outcome"][settled] == Outcome.OK).all()
    # a miss tries the three search domains and the name itself: four NXDOMAIN queries
    assert set(req["dns_queries"][before].tolist()) <= {0, 4}


def test_env_discovery_of_an_existing_service_needs_no_dns() -> None:
    config = experiment(duration=5, warmup=0, client={"name": "c", "target": "web", "discovery": "env", "arrival": {"rate": 100}})
    config["cluster"]["dns"] = {"latency": "1ms", "cache_ttl": "1s"}
    row = metrics.run_rows(simulate(load_experiment(config).runs()[0]))[0]
    assert row["errors"] == 0 and row["dns_queries_per_request"] == 0


def test_dns_cache_gives_about_one_query_per_ttl_per_client_pod() -> None:
    config = experiment(nodes={"count": 2}, duration=20, warmup=0, rate=400)
    config["cluster"]["dns"] = {"latency": "1ms", "cache_ttl": "5s"}
    result = simulate(load_experiment(config).runs()[0])
    queries = int(result.requests["dns_queries"].sum())
    # 2 client pods, each re-resolving when its answer expires: 20 s / (5 s + 1 ms) -> 4 or 5 lookups
    assert 2 * 4 <= queries <= 2 * 5


def test_churn_must_apply_a_deferred_manifest() -> None:
    config = late_service("dns")
    config["churn"] = [{"at": "5s", "apply": "Service/wbe"}]
    with pytest.raises(ConfigError, match="did you mean 'Service/web'") as info:
        load_experiment(config)
    assert info.value.path == "churn.0.apply"


def test_search_path_order_follows_ndots() -> None:
    assert lookup_sequence("web", "default")[0] == "web.default.svc.cluster.local"
    assert lookup_sequence("a.b.c.d.e.f", "default")[0] == "a.b.c.d.e.f"  # 5 dots: absolute first
    records = {"web.prod.svc.cluster.local": "web"}
    assert resolve_name("web", "default", records) == (None, 4)
    assert resolve_name("web.prod", "default", records) == ("web", 2)
    assert resolve_name("api.example.com", "default", {"api.example.com": "x"}, extra=["ec2.internal"]) == ("x", 5)

"""Cost limits, runs that cannot measure, and overload said, not hidden (issue 11).

References: the scale targets of issue 12 (5,000 nodes, 10,000 Services, 150,000 pods, 1e8
requests per run) must be admitted; work no machine finishes must be refused with its
estimate and the way to raise the limit. The overload warning and ``throughput_rps`` are
checked against queueing theory: a pool of c workers with mean service time S serves at
most c/S requests per second, whatever is offered.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from builders import experiment, simulate_one

from netsim import limits, metrics
from netsim.config import load_experiment
from netsim.errors import ConfigError
from netsim.runstore import run_hash


def refused(config: dict, sets: list[tuple[str, object]] = ()) -> ConfigError:  # type: ignore[assignment]
    with pytest.raises(ConfigError) as info:
        load_experiment(config, sets)
    return info.value


def test_the_scale_targets_are_admitted():
    """Kubernetes' envelope and issue 12's targets: 5,000 nodes, 10,000 Services, 150,000 pods, 1e8 requests per run."""
    config = experiment(replicas=150_000, duration=100.0, warmup=0.0, rate=1e6, nodes={"count": 5_000, "zones": ["a", "b", "c"]})
    config["cluster"]["background_services"] = 9_999
    spec = load_experiment(config)
    cost = limits.estimate(spec.scenarios[0])
    assert cost.requests == pytest.approx(1e8)
    assert (cost.nodes, cost.services, cost.pods) == (5_000, 10_000, 150_000)


@pytest.mark.parametrize("sets, path, estimate", [
    ([("run.replications", 1e9)], "run.replications", "1e+09"),
    ([("clients.load.arrival.rate", 1e12)], "clients.load.arrival.rate", "6e+13"),
    ([("run.duration", "1e15s")], "clients.load.arrival.rate", "1e+18"),
    ([("Deployment/web.spec.replicas", 1e6)], "Deployment/web.spec.replicas", "1e+06"),
    ([("cluster.nodes.count", 1e6)], "cluster.nodes.count", "1e+06"),
    ([("cluster.load_balancer.maglev_table_size", 1_000_000_007)], "cluster.load_balancer.maglev_table_size", "1e+09"),
    ([("churn", [{"every": "1ns", "kill": "Deployment/web"}])], "churn.0.every", "6e+10"),
    ([("vary", {"run.seed": list(range(1000)), "run.warmup": list(range(1, 201))})], "run.replications", "2e+05"),
])
def test_work_no_machine_finishes_is_refused_with_its_estimate_and_the_way_to_raise_the_limit(sets, path, estimate):
    error = refused(experiment(duration=60.0, warmup=0.0, rate=1000.0), sets)
    assert error.path == path
    assert f"about {estimate}" in error.message
    assert "run.limits." in error.message and "--set run.limits." in error.message


def test_a_limit_is_raised_deliberately_in_the_file_or_with_set():
    config = experiment(duration=60.0, warmup=0.0, rate=5e6)  # 3e8 requests per run
    assert refused(config).path == "clients.load.arrival.rate"
    raised = load_experiment(config, [("run.limits.requests", 1e9), ("run.limits.events", 1e11)])
    assert limits.estimate(raised.scenarios[0]).requests == pytest.approx(3e8)
    config["run"]["limits"] = {"requests": 1e9, "events": 1e11}
    assert load_experiment(config).scenarios[0].run.limits.requests == 1e9


def test_limits_are_not_part_of_a_runs_identity():
    base = load_experiment(experiment(duration=1.0))
    raised = load_experiment(experiment(duration=1.0), [("run.limits.requests", 1e12)])
    assert base.config_hash == raised.config_hash
    assert run_hash(base.runs()[0]) == run_hash(raised.runs()[0])


def test_every_default_limit_is_documented_with_its_value():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text(encoding="utf-8")
    for name in limits.DEFAULT_LIMITS:
        assert f"| `{name}` |" in docs, name


def test_a_client_without_requests_in_the_measured_window_is_refused():
    error = refused(experiment(duration=1.0, warmup=0.0, rate=0.5))
    assert error.path == "clients.load.arrival.rate" and "0.5 requests" in error.message
    load_experiment(experiment(duration=2.0, warmup=0.0, rate=0.5))  # one expected request: fine


def test_rate_steps_count_toward_the_requests_a_client_expects():
    config = experiment(duration=10.0, warmup=0.0, rate=0.01)
    config["clients"][0]["arrival"]["steps"] = [{"at": "5s", "rate": 100}]
    spec = load_experiment(config)
    assert limits.client_requests(spec.scenarios[0].clients[0], 0.0, 10.0) == pytest.approx(0.05 + 500)


def test_a_lognormal_too_wide_for_the_run_is_refused_with_the_reason():
    """RSE of the mean of n lognormal draws = sqrt((exp(sigma^2)-1)/n); refused above 1."""
    # 50 req/s for 10 s: n = 500 draws. sigma 2.4: exp(5.76)-1 = 316 -> RSE 0.79 (kept); sigma 2.6: 860 -> 1.31 (refused).
    ok = {"distribution": "lognormal", "mean": "10ms", "sigma": 2.4}
    wide = {"distribution": "lognormal", "mean": "10ms", "sigma": 2.6}
    load_experiment(experiment(duration=10.0, warmup=0.0, rate=50.0, concurrency=8, service_time=ok))
    error = refused(experiment(duration=10.0, warmup=0.0, rate=50.0, concurrency=8, service_time=wide))
    assert error.path == "workloads.default.service_time.sigma"  # where the builder gives every Deployment its service time
    assert "relative standard error" in error.message and "1.31" in error.message
    error = refused(experiment(duration=10.0, service_time={"distribution": "lognormal", "mean": "10ms", "sigma": 100}))
    assert "sigma" in error.path and "exp(sigma^2)" in error.message


def capacity_config(rate: float) -> dict:
    # 3 pods x 2 workers, mean service 5 ms: capacity c/S = 6 / 0.005 = 1200 req/s.
    return experiment(replicas=3, concurrency=2, mean_service=0.005, rate=rate, duration=20.0, warmup=2.0,
                      nodes={"count": 3})


def test_offered_load_above_capacity_is_warned_below_it_not():
    over = load_experiment(capacity_config(1300.0)).warnings
    under = load_experiment(capacity_config(1100.0)).warnings
    assert any("capacity of 1200 req/s" in w and "Deployment/web" in w for w in over), over
    assert not any("capacity" in w for w in under), under


def test_throughput_counts_what_completed_in_the_window_not_what_was_offered():
    """An unbounded queue offered 1.5x its capacity serves c/S per second; issuing more does not serve more."""
    result = simulate_one(capacity_config(1800.0))
    row = metrics.run_rows(result)[0]
    capacity = 1200.0
    served = row["throughput_rps"]
    # Departures of a saturated M/M/6 are Poisson at 1200/s: over 20 s the count's sd is sqrt(24000) = 155, 0.65 %.
    assert served == pytest.approx(capacity, rel=0.03), served
    assert row["requests"] / 20.0 == pytest.approx(1800.0, rel=0.03)  # what was issued in the window


def test_throughput_under_capacity_is_the_offered_rate():
    result = simulate_one(capacity_config(600.0))
    row = metrics.run_rows(result)[0]
    assert row["throughput_rps"] == pytest.approx(600.0, rel=0.03)


def test_churn_after_the_end_and_kills_of_pods_that_do_not_exist_are_warned():
    config = experiment(replicas=2, duration=10.0, warmup=1.0)
    config["churn"] = [{"at": "5s", "kill": "Deployment/web", "count": 5}, {"at": "60s", "rollout": "Deployment/web"}]
    warnings = load_experiment(config).warnings
    assert any("kill 5 pods" in w and "has 2" in w for w in warnings), warnings
    assert any("rollout Deployment/web at 60s" in w and "never happens" in w for w in warnings), warnings


def test_requests_per_second_averages_the_rate_steps_over_the_run():
    config = experiment(duration=8.0, warmup=2.0, rate=100.0)
    config["clients"][0]["arrival"]["steps"] = [{"at": "5s", "rate": 300}]
    scenario = load_experiment(config).scenarios[0]
    assert limits.requests_per_second(scenario) == pytest.approx((100 * 5 + 300 * 5) / 10)
    assert limits.run_length(scenario) == 10.0


def test_maglev_tables_count_per_zone_without_cross_zone():
    config = experiment(nodes={"count": 3, "zones": ["a", "b", "c"]}, duration=1.0)
    config["manifests"][1]["spec"]["type"] = "LoadBalancer"
    config["clients"][0]["location"] = "external"
    config["cluster"]["load_balancer"] = {"provider": "gcp", "cross_zone": False, "maglev_table_size": 65537}
    scenario = load_experiment(config).scenarios[0]
    assert limits.lookup_table_entries(scenario) == 3 * 65537
    assert math.isclose(limits.estimate(scenario).lookup_table_entries, 3 * 65537)
    assert np.isfinite(limits.estimate(scenario).events)

"""The fast engine (netsim/fast/) against queueing theory and against the event engine.

- M/M/c/K: blocking and admitted mean latency from the birth-death chain
  (netsim.theory), the default finite ``queue_limit`` and several workers: the
  configuration the fast engine's compiled kernel serves;
- request for request: with constant hops the two engines draw the same numbers
  in the same order (arrivals, slots, DNS, picks, first-packet costs, service
  times while nothing is rejected), so every request must get the same id, pod,
  outcome and, to rounding, latency — on bundled experiments, shortened;
- in law: with random hop delays (drawn in another order) the engines' mean and
  p99 latencies and pod shares agree within their confidence intervals;
- eligibility: each state-dependent feature names its config path, and
  ``engine: fast`` on it is a configuration error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders import deployment, experiment, service, simulate_one

from netsim import theory
from netsim.config import load_experiment
from netsim.engine import simulate_events
from netsim.errors import ConfigError
from netsim.fast.eligibility import choose_engine, why_not_fast
from netsim.fast.engine import simulate_fast
from netsim.model.request import Outcome
from netsim.regression import engine_warnings

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def by_id(result) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    order = np.argsort(result.requests["id"])
    return {k: v[order] for k, v in result.requests.items()}


def test_mmck_blocking_and_latency_on_fast() -> None:
    servers, capacity, lam, mu = 2, 6, 1800.0, 1000.0
    result = simulate_one(experiment(rate=lam, mean_service=1 / mu, concurrency=servers, duration=60.0, warmup=1.0,
                                     engine="fast") | {"workloads": {"default": {
                              "service_time": {"distribution": "exponential", "mean": 1 / mu},
                              "concurrency": servers, "queue_limit": capacity - servers}}})
    req = result.requests
    measured = result.measured()
    n = int(measured.sum())
    blocked = (req["outcome"][measured] == Outcome.REJECTED).mean()
    p = theory.mmck_blocking(lam, mu, servers, capacity)
    assert abs(blocked - p) <= 5 * np.sqrt(p * (1 - p) / n) * 3  # ×3: blocking is correlated in time
    ok = measured & (req["outcome"] == Outcome.OK)
    latencies = req["latency_s"][ok][np.argsort(req["t_issue_s"][ok])]
    mean, se = theory.batch_means(latencies, batches=25)
    expected = theory.mmck_mean_sojourn(lam, mu, servers, capacity)
    assert abs(mean - expected) <= 4 * se and abs(mean - expected) / expected < 0.1


@pytest.mark.parametrize("name", ["quickstart", "service-types", "topology", "proxy-modes", "traffic-policy"])
def test_engines_agree_request_for_request(name: str) -> None:
    base = [("run.duration", 2.0), ("run.warmup", 0.5), ("run.replications", 1)]
    spec = load_experiment(EXPERIMENTS / f"{name}.yaml", base)
    compared = 0
    for scenario in spec.scenarios:
        if why_not_fast(scenario) is not None or compared == 3:
            continue
        run = next(r for r in spec.runs() if r.scenario is scenario)
        events, fast = by_id(simulate_events(run)), by_id(simulate_fast(run))
        assert events["id"].size == fast["id"].size > 100
        for column in ("id", "client", "client_pod", "entry_node", "pod", "t_issue_s", "outcome", "dns_queries",
                       "connection", "operation"):
            assert np.array_equal(events[column], fast[column]), f"{scenario.name}: {column} differs"
        for column in ("latency_s", "queueing_s", "work_s"):
            np.testing.assert_allclose(fast[column], events[column], rtol=1e-9, atol=1e-12, err_msg=f"{scenario.name}: {column}")
        compared += 1
    assert compared


def test_ipvs_hashing_and_its_connection_ids_agree() -> None:
    config = experiment(replicas=4, rate=800.0, nodes={"count": 3}, duration=3.0, warmup=0.5,
                        network={"same_node": "20us", "same_zone": "100us", "cross_zone": "400us", "internet": "10ms"})
    config["cluster"]["kube_proxy"] = {"mode": "ipvs", "ipvs_scheduler": "sh"}
    run = load_experiment(config).runs()[0]
    events, fast = by_id(simulate_events(run)), by_id(simulate_fast(run))
    for column in ("pod", "connection", "outcome"):
        assert np.array_equal(events[column], fast[column]), column
    assert (fast["connection"] >= 0).all()  # sh opens every connection through the scheduler


def _summary(result) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Per replication: mean and p99 latency of OK measured requests, and the pods' shares."""
    req = result.requests
    ok = result.measured() & (req["outcome"] == Outcome.OK)
    lat = req["latency_s"][ok]
    return lat.mean(), np.percentile(lat, 99), np.bincount(req["pod"][ok], minlength=len(result.pods)) / ok.sum()


def test_engines_agree_in_law_with_random_hops() -> None:
    """Random hop delays are drawn in another order by each engine: compare the replications' figures."""
    network = {"same_node": {"distribution": "exponential", "mean": "50us"},
               "same_zone": {"distribution": "exponential", "mean": "200us"},
               "cross_zone": {"distribution": "exponential", "mean": "1ms"}, "internet": "10ms"}
    config = experiment(replicas=4, concurrency=2, rate=3000.0, mean_service=0.001, nodes={"count": 4, "zones": ["a", "b"]},
                        network=network, duration=4.0, warmup=0.5, replications=8)
    spec = load_experiment(config)
    figures = {"events": [], "fast": []}  # type: ignore[var-annotated]
    for run in spec.runs():
        figures["events"].append(_summary(simulate_events(run)))
        figures["fast"].append(_summary(simulate_fast(run)))
    for k, what in enumerate(("mean", "p99", "shares")):
        e = np.array([f[k] for f in figures["events"]])
        f = np.array([f[k] for f in figures["fast"]])
        se = np.sqrt(e.var(axis=0, ddof=1) / e.shape[0] + f.var(axis=0, ddof=1) / f.shape[0])
        assert np.all(np.abs(e.mean(axis=0) - f.mean(axis=0)) <= 4 * se), (what, e.mean(axis=0), f.mean(axis=0), se)


@pytest.mark.parametrize(("change", "path"), [
    ({"clients": [{"name": "load", "target": "web", "arrival": {"rate": 10}, "retries": {"attempts": 2}}]},
     "clients.load.retries"),
    ({"clients": [{"name": "load", "target": "web", "arrival": {"rate": 10}, "connections": {"mode": "keep-alive"}}]},
     "clients.load.connections.mode"),
    ({"clients": [{"name": "load", "target": "web", "arrival": {"process": "closed", "users": 2, "think_time": "1s"}}]},
     "clients.load.arrival.process"),
    ({"cluster": {"nodes": {"count": 1}, "kube_proxy": {"mode": "ipvs", "ipvs_scheduler": "lc"}}},
     "cluster.kube_proxy.ipvs_scheduler"),
    ({"churn": [{"at": "1s", "scale": "Deployment/web", "replicas": 2}]}, "churn"),
    ({"cluster": {"nodes": {"count": 1}, "dataplane": "cilium"}}, "cluster.dataplane"),
    ({"cluster": {"nodes": {"count": 1}, "mesh": {"mode": "sidecar"}}}, "cluster.mesh.mode"),
    ({"cluster": {"nodes": {"count": 1}, "dns": {"node_cache": True}}}, "cluster.dns.node_cache"),
])
def test_ineligible_features_name_their_path(change: dict, path: str) -> None:  # type: ignore[type-arg]
    config = experiment(duration=1.0)
    for key, value in change.items():
        config[key] = value
    scenario = load_experiment(config).scenarios[0]
    reason = why_not_fast(scenario)
    assert reason is not None and reason.startswith(path + ":"), reason
    assert choose_engine(scenario) == ("events", reason)
    config["run"]["engine"] = "fast"
    with pytest.raises(ConfigError) as error:
        load_experiment(config)
    assert error.value.path == "run.engine" and path in error.value.message


def test_call_graphs_and_session_affinity_run_on_events() -> None:
    calls = load_experiment(EXPERIMENTS / "online-boutique.yaml").scenarios[0]
    assert why_not_fast(calls).startswith("workloads.")
    svc = service()
    svc["spec"]["sessionAffinity"] = "ClientIP"
    sticky = load_experiment(experiment(manifests=[deployment(), svc])).scenarios[0]
    assert why_not_fast(sticky).startswith("manifests: Service/web spec.sessionAffinity")
    assert all(why_not_fast(s) is None for s in load_experiment(EXPERIMENTS / "service-types.yaml").scenarios)
    assert choose_engine(load_experiment(experiment(engine="events")).scenarios[0]) == ("events", "run.engine: events")


def test_check_warns_when_the_engines_differ() -> None:
    manifest = {"scenarios": {"a": {"engine": "fast"}, "b": {"engine": "events"}}}
    assert engine_warnings({"engines": {"a": "fast", "b": "events"}}, manifest) == []
    assert len(engine_warnings({"engines": {"a": "events", "b": "events"}}, manifest)) == 1
    assert "scenario 'a'" in engine_warnings({}, manifest)[0]  # a baseline from before run.engine: the event engine's


def test_nodeport_local_drops_on_nodes_without_endpoints() -> None:
    """externalTrafficPolicy: Local on a node without a ready endpoint: NO_LOCAL_ENDPOINT, as in the event engine."""
    svc = service(type_="NodePort")
    svc["spec"]["externalTrafficPolicy"] = "Local"
    config = experiment(replicas=1, nodes={"count": 3}, duration=2.0, warmup=0.0,
                        manifests=[deployment(replicas=1), svc],
                        client={"name": "load", "location": "external", "target": "web", "arrival": {"rate": 300}, "timeout": "1h"})
    run = load_experiment(config).runs()[0]
    events, fast = by_id(simulate_events(run)), by_id(simulate_fast(run))
    assert np.array_equal(events["outcome"], fast["outcome"])
    dropped = fast["outcome"] == Outcome.NO_LOCAL_ENDPOINT
    assert 0.5 < dropped.mean() < 0.85  # two of three entry nodes have no endpoint


@pytest.mark.parametrize(("provider", "target_type", "policy"), [
    ("aws-clb", "instance", "Cluster"),  # round robin per zone front end, no cross-zone, proxying
    ("aws-nlb", "ip", "Cluster"),        # flow hash straight to the pods
    ("gcp", "instance", "Local"),        # maglev; nodes without a ready endpoint are out of service
])
def test_cloud_load_balancers_agree_request_for_request(provider: str, target_type: str, policy: str) -> None:
    svc = service(type_="LoadBalancer")
    svc["spec"]["externalTrafficPolicy"] = policy
    config = experiment(replicas=3, nodes={"count": 4, "zones": ["a", "b"]}, duration=2.0, warmup=0.5, rate=600.0,
                        network={"same_node": "20us", "same_zone": "100us", "cross_zone": "400us", "internet": "10ms"},
                        manifests=[deployment(replicas=3), svc],
                        client={"name": "load", "location": "external", "target": "web", "arrival": {"rate": 600},
                                "timeout": "1h", "source_ips": 50})
    config["cluster"]["load_balancer"] = {"provider": provider, "target_type": target_type}
    run = load_experiment(config).runs()[0]
    assert why_not_fast(run.scenario) is None
    events, fast = by_id(simulate_events(run)), by_id(simulate_fast(run))
    for column in ("id", "pod", "entry_node", "outcome"):
        assert np.array_equal(events[column], fast[column]), column
    np.testing.assert_allclose(fast["latency_s"], events["latency_s"], rtol=1e-9, atol=1e-12)
    assert np.unique(fast["pod"]).size == 3


def test_dns_waits_and_timeouts_agree_request_for_request() -> None:
    """Slow DNS with a short TTL and a timeout shorter than a lookup: waits, lookups and timeouts as the event engine has them."""
    config = experiment(replicas=2, nodes={"count": 2}, duration=3.0, warmup=0.0, rate=300.0,
                        dns={"latency": "50ms", "cache_ttl": "1s"},
                        network={"same_node": "20us", "same_zone": "100us", "cross_zone": "400us", "internet": "10ms"},
                        client={"name": "load", "target": "web", "arrival": {"rate": 300}, "timeout": "30ms"})
    run = load_experiment(config).runs()[0]
    events, fast = by_id(simulate_events(run)), by_id(simulate_fast(run))
    for column in ("pod", "outcome", "dns_queries", "connection", "entry_node"):
        assert np.array_equal(events[column], fast[column]), column
    np.testing.assert_allclose(fast["latency_s"], events["latency_s"], rtol=1e-9, atol=1e-12)
    assert (fast["outcome"] == Outcome.TIMEOUT).any() and (fast["dns_queries"] > 0).any()


def test_validate_names_the_engine_and_fast_on_an_ineligible_scenario_is_exit_2(capsys) -> None:  # type: ignore[no-untyped-def]
    from netsim.cli import main

    assert main(["validate", str(EXPERIMENTS / "quickstart.yaml")]) == 0
    assert "  engine: fast\n" in capsys.readouterr().out
    assert main(["validate", str(EXPERIMENTS / "quickstart.yaml"), "--set", "run.engine=events"]) == 0
    assert "  engine: events (run.engine: events)" in capsys.readouterr().out
    code = main(["validate", str(EXPERIMENTS / "quickstart.yaml"), "--set", "run.engine=fast",
                 "--set", "clients.users.connections.mode=keep-alive"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("netsim: error: run.engine: fast cannot simulate") and "Traceback" not in err


def test_the_manifest_and_a_baseline_record_the_engines() -> None:
    from netsim.experiment import manifest
    from netsim.regression import engines

    spec = load_experiment(EXPERIMENTS / "service-types.yaml", [("run.engine", "auto")])
    written = manifest(spec, [], 0.0, None)
    assert {k: v["engine"] for k, v in written["scenarios"].items()} == {"clusterip": "fast", "nodeport": "fast", "loadbalancer": "fast"}
    assert all(v["engine_reason"] is None for v in written["scenarios"].values())
    assert engines(written) == {"clusterip": "fast", "nodeport": "fast", "loadbalancer": "fast"}
    keep_alive = manifest(load_experiment(EXPERIMENTS / "keepalive-imbalance.yaml"), [], 0.0, None)["scenarios"]
    assert keep_alive["keep-alive-4"]["engine"] == "events"
    assert keep_alive["keep-alive-4"]["engine_reason"].startswith("clients.frontend.connections.mode:")

"""Call graphs against queueing theory (issue 9): tandems, held workers, fork–join, closed loops, pinning.

Zero network and DNS latencies make each model an exact queueing network. Means
are compared with the run's own variability (batch means, or the spread over
replications): |simulation − theory| within 4 standard errors.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from builders import ZERO_NETWORK, deployment, service, simulate_one

from netsim import theory
from netsim.config import load_experiment
from netsim.edges import edge_rows
from netsim.engine import simulate
from netsim.metrics import pod_rows
from netsim.model.request import Outcome


def graph(workloads: dict[str, dict], entry: str, rate: float, *, replicas: dict[str, int] | None = None,
          duration: float = 200.0, warmup: float = 10.0, seed: int = 1, client: dict | None = None) -> dict:
    """One Deployment and ClusterIP Service per workload name; a Poisson client (one pod) calls ``entry``."""
    replicas = replicas or {}
    manifests = []
    for name in workloads:
        manifests += [deployment(name, replicas=replicas.get(name, 1)), service(name)]
    return copy.deepcopy({
        "name": "graph",
        "run": {"duration": duration, "warmup": warmup, "replications": 1, "seed": seed},
        "cluster": {"nodes": {"count": 1}, "network": ZERO_NETWORK, "dns": {"latency": "0s", "cache_ttl": "1h"}},
        "manifests": manifests,
        "workloads": {name: {"queue_limit": 100000, **w} for name, w in workloads.items()},
        "clients": [client or {"name": "load", "target": entry, "arrival": {"rate": rate}, "timeout": "1h"}],
    })


def exp(mean: float) -> dict:
    return {"distribution": "exponential", "mean": mean}


def ok_latencies(result) -> np.ndarray:  # type: ignore[no-untyped-def]
    req = result.requests
    mask = result.measured() & (req["outcome"] == Outcome.OK)
    return req["latency_s"][mask]


def assert_mean(values: np.ndarray, expected: float, batches: int = 25) -> None:
    mean, se = theory.batch_means(values, batches)
    assert abs(mean - expected) <= 4 * se, (mean, expected, se)
    assert abs(mean - expected) < 0.1 * expected, (mean, expected)


def test_tandem_with_the_worker_freed_at_the_call_is_two_mm1_queues() -> None:
    """A: [work, call B] with hold_worker false, 1 worker each: mean = 1/(μA − λ) + 1/(μB − λ) (Burke)."""
    lam, mean_a, mean_b = 50.0, 0.010, 0.008
    config = graph({
        "a": {"concurrency": 1, "hold_worker": False, "operations": {"serve": [{"work": exp(mean_a)}, {"call": "b"}]}},
        "b": {"concurrency": 1, "service_time": exp(mean_b)},
    }, "a", lam, duration=400.0)
    result = simulate_one(config)
    assert_mean(ok_latencies(result), theory.tandem_mean_sojourn(lam, [1 / mean_a, 1 / mean_b]))


def test_holding_the_worker_through_a_call_makes_the_caller_mg1() -> None:
    """A holds its one worker through exponential work then a call to B (constant d, no queue at B):
    A is M/G/1 with S = Exp(μA) + d (Pollaczek–Khinchine)."""
    lam, mean_a, d = 40.0, 0.010, 0.005
    config = graph({
        "a": {"concurrency": 1, "operations": {"serve": [{"work": exp(mean_a)}, {"call": "b"}]}},
        "b": {"concurrency": 64, "service_time": d},
    }, "a", lam, duration=400.0)
    result = simulate_one(config)
    es, es2 = mean_a + d, 2 * mean_a**2 + 2 * d * mean_a + d**2
    assert_mean(ok_latencies(result), theory.mg1_mean_sojourn(lam, es, es2))


def test_releasing_instead_of_holding_is_not_mg1() -> None:
    """The same system with the worker freed at the call is two queues, noticeably faster: the two
    semantics are told apart (a check that the held-worker test can fail)."""
    lam, mean_a, d = 40.0, 0.010, 0.005
    held = simulate_one(graph({"a": {"concurrency": 1, "operations": {"serve": [{"work": exp(mean_a)}, {"call": "b"}]}},
                               "b": {"concurrency": 64, "service_time": d}}, "a", lam, duration=200.0))
    freed = simulate_one(graph({"a": {"concurrency": 1, "hold_worker": False,
                                      "operations": {"serve": [{"work": exp(mean_a)}, {"call": "b"}]}},
                                "b": {"concurrency": 64, "service_time": d}}, "a", lam, duration=200.0))
    assert ok_latencies(freed).mean() < 0.85 * ok_latencies(held).mean()


def test_fork_join_of_k_exponential_calls_is_the_harmonic_number() -> None:
    """parallel of k calls to Services with the same Exp(μ) work, workers everywhere: mean = H_k / μ."""
    k, mean = 3, 0.010
    workloads = {"a": {"concurrency": 256, "operations": {"fan": [{"parallel": [{"call": f"b{i}"} for i in range(k)]}]}}}
    workloads.update({f"b{i}": {"concurrency": 256, "service_time": exp(mean)} for i in range(k)})
    result = simulate_one(graph(workloads, "a", 100.0, duration=200.0))
    assert_mean(ok_latencies(result), theory.fork_join_mean(k, 1 / mean))


@pytest.mark.parametrize(("count", "probability", "per_request"), [
    (3, 0.5, 1.5),
    ({"distribution": "uniform", "low": 1, "high": 5}, 1.0, 3.0),
    ({"distribution": "choice", "values": [0, 4], "weights": [3, 1]}, 0.5, 0.5),
])
def test_count_and_probability_set_the_callee_rate(count, probability, per_request) -> None:  # type: ignore[no-untyped-def]
    """The callee's request rate is the caller's × mean count × probability (binomial/Poisson-free check)."""
    config = graph({
        "a": {"concurrency": 64, "operations": {"serve": [{"call": "b", "count": count, "probability": probability}]}},
        "b": {"concurrency": 64, "service_time": exp(0.001)},
    }, "a", 200.0, duration=100.0)
    result = simulate_one(config)
    rows = {(r["caller"], r["service"]): r for r in edge_rows(result)}
    entry = rows[("load", "a")]["calls"]
    calls = rows[("a", "b")]["calls"]
    # each entry request makes X calls, X with variance at most E[X^2] <= 25: the mean of n draws has SE <= 5/sqrt(n)
    assert abs(calls / entry - per_request) <= 4 * 5 / np.sqrt(entry)
    assert rows[("a", "b")]["calls_per_request"] == pytest.approx(calls / entry)


def test_grpc_pinning_leaves_idle_pods_like_balls_into_bins() -> None:
    """P caller pods, each one multiplexed connection to a Service of N pods (iptables random):
    idle callee pods average N(1 − 1/N)^P over replications."""
    callers, pods = 4, 8
    idle = []
    for seed in range(40):
        config = graph({
            "front": {"concurrency": 64, "operations": {"page": [{"call": "back"}]},
                      "calls": {"connections": {"mode": "multiplexed", "pool": 1}}},
            "back": {"concurrency": 64, "service_time": exp(0.001)},
        }, "front", 400.0, replicas={"front": callers, "back": pods}, duration=2.0, warmup=0.0, seed=seed)
        config["cluster"]["nodes"] = {"count": 4}
        result = simulate_one(config)
        served = [r["requests"] for r in pod_rows(result) if r["service"] == "back"]
        assert len(served) == pods
        idle.append(sum(1 for n in served if n == 0))
    x = np.array(idle, dtype=float)
    expected = theory.balls_into_bins_idle(pods, callers)
    assert abs(x.mean() - expected) <= 4 * x.std(ddof=1) / np.sqrt(x.size), (x.mean(), expected)


def test_closed_loop_users_match_mean_value_analysis() -> None:
    """N users with think time Z (uniform: any distribution) in front of one exponential single-worker pod:
    throughput X and response time R match the exact MVA recursion."""
    users, service_s, think = 10, 0.020, 0.15
    client = {"name": "users", "target": "web", "timeout": "1h",
              "arrival": {"process": "closed", "users": users, "think_time": {"distribution": "uniform", "low": 0.1, "high": 0.2}}}
    xs, rs = [], []
    for seed in range(8):
        config = graph({"web": {"concurrency": 1, "service_time": exp(service_s)}}, "web", 0.0, duration=100.0,
                       seed=seed, client=client)
        result = simulate_one(config)
        latency = ok_latencies(result)
        xs.append(latency.size / (result.window[1] - result.window[0]))
        rs.append(latency.mean())
    expected_x, expected_r = theory.mva_single_station(users, service_s, think)
    for values, expected in ((xs, expected_x), (rs, expected_r)):
        v = np.array(values)
        assert abs(v.mean() - expected) <= 4 * v.std(ddof=1) / np.sqrt(v.size) + 1e-12, (v.mean(), expected)
        assert abs(v.mean() - expected) < 0.05 * expected


def test_leaving_operations_out_equals_the_explicit_default() -> None:
    """``operations`` omitted and ``{default: [{work: service_time}]}`` simulate the same requests, draw for draw."""
    implicit = graph({"web": {"concurrency": 2, "service_time": exp(0.01)}}, "web", 150.0, duration=20.0)
    explicit = copy.deepcopy(implicit)
    explicit["workloads"]["web"]["operations"] = {"default": [{"work": "service_time"}]}
    a, b = simulate_one(implicit), simulate_one(explicit)
    for column in a.requests:
        np.testing.assert_array_equal(a.requests[column], b.requests[column], err_msg=column)


def test_a_one_step_operation_through_the_job_path_matches_the_plain_path() -> None:
    """An operation [work] named otherwise, with hold_worker, runs as a job: same draws, same results
    as the plain path (the job interpreter adds no event and no draw)."""
    plain = graph({"web": {"concurrency": 2, "service_time": exp(0.01)}}, "web", 150.0, duration=20.0)
    plain["run"]["engine"] = "events"  # the event engine's plain path (the fast engine records rows in another order)
    job = copy.deepcopy(plain)
    job["workloads"]["web"]["operations"] = {"serve": [{"work": "service_time"}], "other": [{"work": "1ms"}]}
    a, b = simulate_one(plain), simulate_one(job)
    np.testing.assert_array_equal(a.requests["latency_s"], b.requests["latency_s"])
    np.testing.assert_array_equal(a.requests["pod"], b.requests["pod"])


def test_per_try_timeouts_cut_slow_answers_and_retries_take_over() -> None:
    """Service U(0, 100 ms), plenty of workers, client timeout 100 ms, one retry on timeout, no backoff:
    each try waits 50 ms, so a try fails with probability 1/2 and a request with 1/4; a slow answer is
    cut at its try's deadline (docs/config.md), not recorded late."""
    config = graph({"web": {"concurrency": 512, "service_time": {"distribution": "uniform", "low": 0, "high": 0.1}}},
                   "web", 400.0, duration=60.0)
    config["clients"][0].update(timeout="100ms", retries={"attempts": 1, "on": ["timeout"], "backoff": "0s"})
    result = simulate_one(config)
    req = result.requests
    measured = result.measured()
    n = int(measured.sum())
    timed_out = float(((req["outcome"] == Outcome.TIMEOUT) & measured).sum()) / n
    assert abs(timed_out - 0.25) <= 4 * np.sqrt(0.25 * 0.75 / n)
    retries = sum(1 for t, _ in result.retries if result.window[0] <= t < result.window[1])
    assert abs(retries / n - 0.5) <= 4 * np.sqrt(0.25 / n)
    ok = measured & (req["outcome"] == Outcome.OK)
    assert req["latency_s"][ok].max() <= 0.1 + 1e-9
    failed = measured & (req["outcome"] == Outcome.TIMEOUT)
    np.testing.assert_allclose(req["latency_s"][failed], 0.1, atol=1e-9)


def test_every_request_and_call_ends_exactly_once_by_id() -> None:
    """Each generated entry request id appears once in the records; every call is counted once on its edge."""
    config = graph({
        "a": {"concurrency": 2, "hold_worker": False, "operations": {"serve": [
            {"work": exp(0.002)}, {"parallel": [{"call": "b", "count": 2}, [{"call": "c", "timeout": "5ms"}, {"work": "1ms"}]]}]}},
        "b": {"concurrency": 1, "service_time": exp(0.003), "queue_limit": 3},
        "c": {"concurrency": 1, "service_time": exp(0.004)},
    }, "a", 150.0, duration=20.0)
    config["clients"][0]["timeout"] = "50ms"
    spec = load_experiment(config)
    result = simulate(spec.runs()[0])
    ids = result.requests["id"]
    assert ids.size == result.generated
    assert np.unique(ids).size == ids.size
    rows = {(r["caller"], r["service"]): r for r in edge_rows(result)}
    for edge in (("a", "b"), ("a", "c")):
        row = rows[edge]
        kinds = sum(row[o.column] for o in Outcome if o is not Outcome.OK)
        assert row["errors"] == kinds
    assert rows[("a", "c")]["errors_timeout"] > 0  # a 5 ms timeout on 4 ms work queued at one worker
    assert (result.requests["outcome"] == Outcome.UPSTREAM).any()  # a failed required call fails the request


def test_a_failed_optional_call_does_not_fail_the_request() -> None:
    config = graph({
        "a": {"concurrency": 8, "operations": {"serve": [{"call": "ads", "optional": True, "timeout": "1ms"}, {"work": "1ms"}]}},
        "ads": {"concurrency": 1, "service_time": 0.005},
    }, "a", 100.0, duration=10.0)
    result = simulate_one(config)
    measured = result.measured()
    assert (result.requests["outcome"][measured] == Outcome.OK).all()
    rows = {(r["caller"], r["service"]): r for r in edge_rows(result)}
    assert rows[("a", "ads")]["errors_timeout"] == rows[("a", "ads")]["calls"]


def test_breakdown_adds_up_to_the_mean_latency() -> None:
    from netsim.edges import breakdown_rows

    config = graph({
        "a": {"concurrency": 2, "operations": {"serve": [{"work": exp(0.002)}, {"call": "b"}, {"lookup": "api.example.com"}]}},
        "b": {"concurrency": 1, "service_time": exp(0.003)},
    }, "a", 100.0, duration=20.0)
    config["cluster"]["network"] = {"same_node": "50us", "same_zone": "100us", "cross_zone": "400us", "internet": "5ms"}
    config["cluster"]["dns"] = {"latency": "200us", "cache_ttl": "30s"}
    result = simulate_one(config)
    rows = breakdown_rows(result)
    total = sum(r["ms"] for r in rows)
    assert total == pytest.approx(rows[0]["latency_mean_ms"], rel=1e-9)
    parts = {r["component"]: r["ms"] for r in rows}
    assert parts["dns"] > 4 * 0.2 - 1e-9  # the lookup of an outside name: three NXDOMAIN tries and the answer
    assert parts["network"] > 4 * 0.05 - 1e-9  # two hops out and two back, at least
    assert parts["work"] == pytest.approx(2.0 + 3.0, rel=0.15)


def test_saved_requests_hold_every_call_of_every_measured_request(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--save-requests: a request whose operation makes exactly two calls leaves two call rows, each served by the
    callee's pod, issued from the caller's pod; calls of warm-up requests are not kept."""
    from netsim import run_experiment

    config = graph({
        "a": {"concurrency": 4, "operations": {"serve": [{"call": "b"}, {"work": 0.001}, {"call": "c"}]}},
        "b": {"service_time": 0.001}, "c": {"service_time": 0.001},
    }, "a", 50.0, duration=4.0, warmup=1.0)
    results = run_experiment(config, output=tmp_path, save_requests=True, report=False)
    table = results.requests
    requests, calls = table[table["kind"] == "request"], table[table["kind"] == "call"]
    assert len(requests) > 100 and requests["id"].is_unique
    assert sorted(calls["service"].value_counts().to_dict().items()) == [("b", len(requests)), ("c", len(requests))]
    assert set(calls["client"]) == {"a"} and set(calls["caller_pod"]) == {"a-1"}
    assert (calls.loc[calls["service"] == "b", "pod"] == "b-1").all() and (calls["outcome"] == "ok").all()



def test_calls_to_a_silently_dead_node_fail_with_their_own_kinds_on_the_edge() -> None:
    """a (node-1) calls b, whose only pod is on node-2; node-2 dies silently at 3 s. The calls after it are not
    answered: per-request connections' SYNs time out (connect_timeout), and the edge counts them by that kind;
    the entry requests they served fail upstream."""
    config = graph({"a": {"concurrency": 8, "operations": {"serve": [{"call": "b"}]},
                          "calls": {"connect_timeout": "50ms", "timeout": "1s"}},
                    "b": {"service_time": 0.001}}, "a", 20.0, duration=6.0, warmup=0.0)
    config["cluster"]["nodes"] = {"count": 2}
    config["manifests"] = [deployment("a", node_name="node-1"), service("a"), deployment("b", node_name="node-2"), service("b")]
    config["churn"] = [{"at": "3s", "fail": "node/node-2"}]
    result = simulate_one(config)
    calls = {(r["caller"], r["service"]): r for r in edge_rows(result)}[("a", "b")]
    assert calls["errors_connect_timeout"] > 20 and calls["errors"] == calls["errors_connect_timeout"]
    req = result.requests
    late = result.measured() & (req["t_issue_s"] > 3.01)
    upstream = req["outcome"][late] == Outcome.UPSTREAM
    # the client's pod on node-2 died with it (client_down); every request of the one on node-1 failed upstream
    assert (upstream | (req["outcome"][late] == Outcome.CLIENT_DOWN)).all()
    assert upstream.sum() == calls["errors_connect_timeout"]

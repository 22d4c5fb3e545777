"""`vary:` sweeps, `compare_to:`, and the statistics of summary.csv and comparison.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from builders import deployment, experiment, service
from scipy import stats

from netsim import metrics
from netsim.cli import main
from netsim.config import load_experiment
from netsim.errors import ConfigError
from netsim.experiment import run_experiment


def sweep(**vary: list) -> dict:
    config = experiment(replicas=2, rate=400.0, mean_service=0.002, duration=2.0, warmup=0.5, replications=3, nodes={"count": 2})
    config["vary"] = vary
    return config


def test_vary_is_a_cartesian_product_named_by_its_values() -> None:
    spec = load_experiment(sweep(**{"cluster.kube_proxy.mode": ["iptables", "ipvs"], "Deployment/web.spec.replicas": [1, 2, 4]}))
    names = [s.name for s in spec.scenarios]
    assert names == [f"mode={m},replicas={r}" for m in ("iptables", "ipvs") for r in (1, 2, 4)]
    last = spec.scenarios[-1]
    assert last.cluster.kube_proxy.mode == "ipvs"
    assert last.deployments[0].replicas == 4
    assert last.parameters == {"cluster.kube_proxy.mode": "ipvs", "Deployment/web.spec.replicas": 4}
    assert spec.compare_to == names[0]
    assert len(spec.runs()) == 6 * 3
    # common random numbers: every scenario's replication k has the same seed
    assert {(r.replication, r.seed) for r in spec.runs()} == {(k, 1) for k in range(3)}


def test_vary_crosses_scenarios_and_compare_to_picks_the_reference() -> None:
    config = sweep(**{"Deployment/web.spec.replicas": [1, 2]})
    config["scenarios"] = [{"name": "fast", "set": {"workloads.default.service_time.mean": "1ms"}},
                           {"name": "slow", "set": {"workloads.default.service_time.mean": "3ms"}}]
    config["compare_to"] = "slow,replicas=2"
    spec = load_experiment(config)
    assert [s.name for s in spec.scenarios] == ["fast,replicas=1", "fast,replicas=2", "slow,replicas=1", "slow,replicas=2"]
    assert spec.compare_to == "slow,replicas=2"
    assert spec.scenarios[2].parameters == {"workloads.default.service_time.mean": "3ms", "Deployment/web.spec.replicas": 1}


def test_growing_a_sweep_keeps_the_existing_scenarios_configs() -> None:
    """vary and compare_to stay out of each scenario's config, so a grown sweep can reuse stored runs."""
    small = load_experiment(sweep(**{"Deployment/web.spec.replicas": [1, 2]}))
    grown = load_experiment({**sweep(**{"Deployment/web.spec.replicas": [1, 2, 4]}), "compare_to": "replicas=2"})
    assert small.scenarios[1].config == grown.scenarios[1].config


@pytest.mark.parametrize(("vary", "path", "fix"), [
    ({"Deployment/wbe.spec.replicas": [1, 2]}, "vary.Deployment/wbe.spec.replicas", "did you mean 'Deployment/web'"),
    ({"cluster.kube_proxy.mode": ["iptables", "ipvsx"]}, "cluster.kube_proxy.mode", "'ipvsx' is not allowed"),
    ({"cluster.kube_proxy.mode": []}, "vary.cluster.kube_proxy.mode", "at least 1 item"),
    ({"Deployment/web.spec.replicas": 3}, "vary.Deployment/web.spec.replicas", "expected a list"),
])
def test_bad_vary_names_the_path_and_the_fix(vary: dict, path: str, fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(sweep(**vary))
    assert str(info.value).startswith(path)
    assert fix in str(info.value)


def test_unknown_compare_to_is_one_line_exit_2(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import yaml

    config = sweep(**{"Deployment/web.spec.replicas": [1, 2]})
    config["compare_to"] = "replicas=3"
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path), "-o", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("netsim: error: compare_to: no scenario named 'replicas=3' (did you mean 'replicas=2'?)")


def test_parameters_appear_as_columns_in_every_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    results = run_experiment(sweep(**{"Deployment/web.spec.replicas": [1, 2]}), output=tmp_path, report=False)
    for name in ("summary", "runs", "pods", "latency", "comparison"):
        frame = getattr(results, name)
        assert "Deployment/web.spec.replicas" in frame, name
    assert set(results.summary["Deployment/web.spec.replicas"]) == {1, 2}
    assert list(results.summary.columns[: len(metrics.SUMMARY_COLUMNS)]) == metrics.SUMMARY_COLUMNS


def test_summary_ci_is_the_student_t_half_width_and_counts_are_totals(tmp_path) -> None:  # type: ignore[no-untyped-def]
    results = run_experiment(sweep(**{"Deployment/web.spec.replicas": [1, 2]}), report=False)
    runs, summary = results.runs, results.summary
    for _, row in summary.iterrows():
        group = runs[runs["scenario"] == row["scenario"]]
        x = group["latency_mean_ms"].to_numpy()
        assert row["latency_mean_ms"] == pytest.approx(x.mean())
        assert row["latency_mean_ms_ci95"] == pytest.approx(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
        assert row["requests"] == group["requests"].sum()
        assert row["errors_timeout"] == group["errors_timeout"].sum()  # a count the summary picks up generically
        assert row["replications"] == 3


def test_summarize_picks_up_new_run_columns_generically() -> None:
    runs = pd.DataFrame({
        "scenario": ["a", "a"], "replication": [0, 1], "client": ["c", "c"], "service": ["s", "s"], "service_type": ["ClusterIP"] * 2,
        "requests": [10, 20], "latency_mean_ms": [1.0, 3.0], "retries": [1, 2], "cross_zone_gb": [0.5, 1.5],
    })
    summary = metrics.summarize(runs)
    assert summary.loc[0, "retries"] == 3  # integer: a count, summed
    assert summary.loc[0, "cross_zone_gb"] == 1.0  # float: averaged
    assert list(summary.columns[: len(metrics.SUMMARY_COLUMNS)]) == metrics.SUMMARY_COLUMNS


def test_comparison_is_the_paired_difference_to_the_reference() -> None:
    config = experiment(replicas=1, rate=300.0, mean_service=0.002, duration=3.0, warmup=0.5, replications=4)
    config["scenarios"] = [
        {"name": "base", "set": {}},
        {"name": "same", "set": {"description": "identical config: same seeds give identical runs"}},
        {"name": "slower", "set": {"workloads.default.service_time.mean": "2.6ms"}},
    ]
    results = run_experiment(config, report=False)
    comparison = results.comparison.set_index(["scenario", "metric"])
    same = comparison.loc[("same", "latency_mean_ms")]
    assert same["difference"] == 0 and not same["significant"]  # common random numbers: zero, exactly
    slower = comparison.loc[("slower", "latency_mean_ms")]
    runs = results.runs.set_index(["scenario", "replication"])["latency_mean_ms"]
    d = runs["slower"].to_numpy() - runs["base"].to_numpy()
    assert slower["difference"] == pytest.approx(d.mean())
    assert slower["difference_ci95"] == pytest.approx(metrics.ci95_halfwidth(d))
    assert slower["significant"] and slower["difference"] > 0
    assert slower["pairs"] == 4
    assert set(results.comparison["reference"]) == {"base"}
    assert "base" not in set(results.comparison["scenario"])


def test_latency_histogram_counts_every_ok_request(tmp_path) -> None:  # type: ignore[no-untyped-def]
    results = run_experiment(sweep(**{"Deployment/web.spec.replicas": [1, 2]}), report=False)
    counted = results.latency.groupby(["scenario", "replication"])["count"].sum()
    ok = results.runs.set_index(["scenario", "replication"]).eval("requests - errors")
    pd.testing.assert_series_equal(counted.sort_index(), ok.sort_index(), check_names=False)
    assert (results.latency["count"] > 0).all()  # sparse: empty bins are left out


def test_second_service_gets_its_own_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = experiment(duration=1.0, warmup=0.2, replications=2, manifests=[deployment(), service(), service(name="web2", selector={"app": "web"})])
    config["clients"].append({"name": "other", "target": "web2", "arrival": {"rate": 100.0}, "timeout": "1h"})
    results = run_experiment(config, report=False)
    assert set(map(tuple, results.summary[["client", "service"]].to_numpy())) == {("load", "web"), ("other", "web2")}

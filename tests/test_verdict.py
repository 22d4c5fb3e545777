"""The verdict cannot be misread: errors first, significance stated plainly, differences taken apart.

Tables are built directly (as runs.csv and summary.csv would hold them), so each trap
is reproduced exactly: a scenario that drops a third of its requests looks fastest on
the ones it kept; two scenarios whose paired interval includes zero; a 0.04 % difference
that a one-decimal format would print as "0.0 %"; an external NodePort client compared
with an in-cluster ClusterIP one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from netsim.metrics import summarize
from netsim.verdict import verdict


def runs_table(values: dict[str, dict[str, list[float]]], parameters: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    """runs.csv rows: ``values[scenario][column]`` lists one value per replication."""
    rows = []
    for scenario, columns in values.items():
        n = len(next(iter(columns.values())))
        for r in range(n):
            row = {"scenario": scenario, "replication": r, "client": "users", "service": "web", "service_type": "NodePort",
                   "requests": 1000, "errors": 0, "error_rate": 0.0}
            row.update({c: v[r] for c, v in columns.items()})
            row["errors"] = round(row["error_rate"] * row["requests"])
            row.update((parameters or {}).get(scenario, {}))
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame["errors"] = frame["errors"].astype(int)
    return frame


def say(runs: pd.DataFrame, reference: str, parameters: list[str] = (), **kwargs: Any) -> list[str]:
    summary = summarize(runs, list(parameters))
    manifest = {"parameters": list(parameters), **kwargs.pop("manifest", {})}
    return verdict(summary, pd.DataFrame(), reference, runs, manifest, **kwargs)


def test_a_scenario_that_drops_requests_cannot_win_on_the_latency_of_those_it_kept() -> None:
    # issue 14: NodePort + Local named "86 % lower, significant" because it dropped 25 % of the traffic
    runs = runs_table({
        "cluster": {"latency_mean_ms": [26.0, 26.2, 25.9], "latency_p99_ms": [44.0, 45.0, 43.0], "error_rate": [0.0, 0.0, 0.0]},
        "cluster-b": {"latency_mean_ms": [27.0, 27.1, 26.8], "latency_p99_ms": [46.0, 46.5, 45.0], "error_rate": [0.0, 0.0, 0.0]},
        "local": {"latency_mean_ms": [3.0, 3.1, 2.9], "latency_p99_ms": [6.0, 6.2, 6.1], "error_rate": [0.25, 0.26, 0.24],
                  "errors_no_local_endpoint": [250, 260, 240]},
    })
    lines = say(runs, "cluster")
    assert lines[0].startswith("Errors first: **local** lost 25 % of its requests (all errors_no_local_endpoint)")
    winners = [line for line in lines if "has the lowest" in line]
    assert winners and all(line.startswith("**cluster**") for line in winners), lines
    assert not any("**local** has the lowest" in line for line in lines)
    assert any(line.startswith("Ranked after them") and "**local** (dropped 25 %)" in line for line in lines)


def test_when_only_one_scenario_keeps_its_requests_latency_is_not_compared() -> None:
    runs = runs_table({
        "cluster": {"latency_mean_ms": [26.0, 26.2], "latency_p99_ms": [44.0, 45.0], "error_rate": [0.0, 0.0]},
        "local": {"latency_mean_ms": [3.0, 3.1], "latency_p99_ms": [6.0, 6.2], "error_rate": [0.33, 0.33]},
    })
    lines = say(runs, "cluster")
    assert any("not compared across error rates: only **cluster** has the lowest error rate" in line for line in lines)
    assert not any("has the lowest mean latency" in line for line in lines)


def test_no_significant_difference_is_said_when_the_paired_interval_includes_zero() -> None:
    runs = runs_table({
        "a": {"latency_mean_ms": [10.0, 10.2, 9.9, 10.1], "latency_p99_ms": [40.0, 41.0, 39.0, 40.5]},
        "b": {"latency_mean_ms": [10.1, 10.0, 10.05, 10.0], "latency_p99_ms": [40.5, 40.0, 40.0, 41.0]},
    })
    lines = say(runs, "a")
    d = np.array([10.0, 10.2, 9.9, 10.1]) - np.array([10.1, 10.0, 10.05, 10.0])
    assert abs(d.mean()) < 3.182 * d.std(ddof=1) / 2  # the paired t interval (df 3) includes zero: nothing wins
    assert any(line.startswith("No significant difference in mean latency between **") for line in lines), lines
    assert not any("has the lowest mean latency" in line for line in lines)


def test_a_tiny_significant_difference_is_never_printed_as_zero_percent() -> None:
    base = np.array([10.0, 10.3, 9.8, 10.1])
    runs = runs_table({"a": {"latency_mean_ms": list(base), "latency_p99_ms": list(base * 4)},
                       "b": {"latency_mean_ms": list(base - 0.004 + np.array([0, 1e-4, -1e-4, 0])), "latency_p99_ms": list(base * 4)}})
    line = next(line for line in say(runs, "a") if "mean latency" in line)
    assert "**b** has the lowest mean latency" in line and "significant at 95 %" in line
    assert "0.04 % lower than the reference **a**" in line
    assert "0.0 %" not in line


def test_one_replication_says_that_significance_is_unknown() -> None:
    runs = runs_table({"a": {"latency_mean_ms": [10.0], "latency_p99_ms": [40.0]}, "b": {"latency_mean_ms": [12.0], "latency_p99_ms": [45.0]}})
    line = say(runs, "a")[0]
    assert "**a** (the reference) has the lowest mean latency" in line and "no confidence interval" in line


def external_vs_in_cluster() -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    parameters = ["Service/web.spec.type", "clients.users.location"]
    runs = runs_table(
        {"clusterip": {"latency_mean_ms": [11.6, 11.7, 11.5], "latency_p99_ms": [48.0, 48.5, 47.9], "hops_mean": [0.83, 0.84, 0.83]},
         "nodeport": {"latency_mean_ms": [31.5, 31.6, 31.4], "latency_p99_ms": [68.0, 68.5, 67.9], "hops_mean": [1.83, 1.84, 1.83]}},
        {"clusterip": {"Service/web.spec.type": "ClusterIP", "clients.users.location": "in-cluster"},
         "nodeport": {"Service/web.spec.type": "NodePort", "clients.users.location": "external"}},
    )
    network = {"internet": {"distribution": "constant", "value": 0.01}}
    manifest = {"scenarios": {
        s: {"config": {"clients": [{"name": "users", "location": loc}], "cluster": {"network": network}}}
        for s, loc in (("clusterip", "in-cluster"), ("nodeport", "external"))}}
    return runs, parameters, manifest


def test_a_difference_made_of_several_settings_says_what_it_is_made_of() -> None:
    runs, parameters, manifest = external_vs_in_cluster()
    line = next(line for line in say(runs, "clusterip", parameters, manifest=manifest) if "mean latency" in line)
    assert "**clusterip** (the reference) has the lowest mean latency" in line
    assert "differ in more than one setting (Service/web.spec.type: ClusterIP vs NodePort; clients.users.location: in-cluster vs external)" in line
    assert "0.833 network link(s) on average against 1.83" in line
    assert "pays the internet both ways (20 ms a round trip here)" in line  # 2 × cluster.network.internet


def test_the_breakdown_names_the_components_of_the_difference_when_present() -> None:
    runs, parameters, manifest = external_vs_in_cluster()
    breakdown = pd.DataFrame([
        {"scenario": s, "client": "users", "component": c, "mean_ms": v}
        for s, parts in (("clusterip", {"network": 0.5, "queueing": 1.1, "work": 10.0}), ("nodeport", {"network": 20.6, "queueing": 0.9, "work": 10.0}))
        for c, v in parts.items()
    ])
    line = next(line for line in say(runs, "clusterip", parameters, manifest=manifest, breakdown=breakdown) if "mean latency" in line)
    assert "by component (breakdown.csv, clusterip − nodeport), network -20.1 ms, queueing +0.2 ms." in line


def test_one_differing_setting_needs_no_breakdown() -> None:
    runs = runs_table({"a": {"latency_mean_ms": [10.0, 10.1, 10.2], "latency_p99_ms": [40.0, 41.0, 42.0]},
                       "b": {"latency_mean_ms": [12.0, 12.1, 12.2], "latency_p99_ms": [44.0, 45.0, 46.0]}},
                      {"a": {"cluster.kube_proxy.mode": "ipvs"}, "b": {"cluster.kube_proxy.mode": "iptables"}})
    lines = say(runs, "a", ["cluster.kube_proxy.mode"])
    assert not any("differ in" in line for line in lines)


def test_in_a_sweep_each_setting_is_also_shown_alone() -> None:
    """A 2 × 2 sweep with additive effects (ipvs −0.5 ms, 6 replicas −2.5 ms): the winner differs from the reference
    in both settings, and the scenarios that differ in one of them give each effect alone."""
    noise = np.array([0.0, 0.05, -0.05])
    base = 15.0 + noise
    values = {("iptables", 4): base, ("iptables", 6): base - 2.5, ("ipvs", 4): base - 0.5, ("ipvs", 6): base - 3.0}
    runs = runs_table(
        {f"mode={m},replicas={r}": {"latency_mean_ms": list(v), "latency_p99_ms": list(v * 4)} for (m, r), v in values.items()},
        {f"mode={m},replicas={r}": {"cluster.kube_proxy.mode": m, "Deployment/web.spec.replicas": r} for m, r in values},
    )
    line = next(line for line in say(runs, "mode=iptables,replicas=4", ["cluster.kube_proxy.mode", "Deployment/web.spec.replicas"])
                if "mean latency" in line)
    assert line.startswith("**mode=ipvs,replicas=6** has the lowest mean latency")
    assert "cluster.kube_proxy.mode alone (iptables → ipvs, against **mode=iptables,replicas=6**): -0.5 ms" in line
    assert "Deployment/web.spec.replicas alone (4 → 6, against **mode=ipvs,replicas=4**): -2.5 ms" in line

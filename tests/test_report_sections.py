"""The report's sections and figures say what they show: errors by kind, where requests went, pod placement,
every event on the timeline, fair shares under churn, error bars only with replications, numbers for people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from netsim import plots
from netsim.cli import main
from netsim.humanize import integer, number, percent, value
from netsim.ready_time import fair_shares, ready_seconds
from netsim.report_tables import local_drop_lines, parameters_table, placement_table

ROOT = Path(__file__).resolve().parents[1]


def test_numbers_are_formatted_for_people() -> None:
    assert number(180.4) == "180" and number(1804.0) == "1804" and number(10000.0) == "10000"
    assert number(25.73) == "25.7" and number(0.00765) == "0.00765" and number(2.0) == "2" and number(-4.64) == "-4.64"
    assert integer(10000.0) == "10000" and percent(0.3342) == "33.4 %" and number(float("nan")) == "–"
    assert value("{'distribution': 'gamma', 'mean': '5ms', 'shape': 2}") == "{distribution: gamma, mean: 5ms, shape: 2}"
    assert value(3.0) == "3" and value(["a", 1]) == "[a, 1]"


def test_parameter_tables_hold_no_python_dicts() -> None:
    summary = pd.DataFrame({"scenario": ["a", "b"], "workloads.web.service_time": [None, "{'distribution': 'gamma', 'mean': '5ms'}"],
                            "run.replications": [10000.0, 10000.0]})
    table = parameters_table(summary, ["workloads.web.service_time", "run.replications"])
    assert table["workloads.web.service_time"].tolist() == ["(base)", "{distribution: gamma, mean: 5ms}"]
    assert "run.replications" not in table  # the same in every scenario: it says nothing


def test_a_local_drop_explains_itself_with_the_node_that_has_no_pod() -> None:
    """Kubernetes: with externalTrafficPolicy Local a node without a ready local endpoint drops what enters there;
    users spread evenly over 3 nodes, one of them empty, lose 1/3."""
    summary = pd.DataFrame({"scenario": ["local"], "client": ["users"], "service": ["web"], "requests": [9000],
                            "errors_no_local_endpoint": [3018]})
    pods = pd.DataFrame({"scenario": "local", "replication": 0, "service": "web", "pod": ["web-a-1", "web-a-2", "web-b-1"],
                         "node": ["node-1", "node-1", "node-2"], "zone": ["zone-a", "zone-a", "zone-b"]})
    manifest = {"scenarios": {"local": {"config": {"cluster": {"nodes": {"count": 3, "zones": ["zone-a", "zone-b", "zone-c"]}},
                                                   "clients": [{"name": "users", "location": "external", "entry_nodes": None}]}}}}
    (line,) = local_drop_lines(summary, pods, manifest)
    assert "node-3 (zone-c) runs no pod of Service web" in line
    assert "1 of 3 entry node(s), ≈ 33 % of the requests" in line and "measured 33.5 %" in line
    table, same = placement_table(pods, manifest)
    assert same and table.to_dict("records")[-1] == {"node": "node-3", "zone": "zone-c", "pods": "–", "serving": "–"}


@pytest.fixture(scope="module")
def traffic_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tp") / "results"
    sets = ["run.duration=2s", "run.warmup=0.5s", "run.replications=2"]
    assert main(["run", str(ROOT / "experiments" / "traffic-policy.yaml"), "-o", str(out), "--quiet",
                 *[a for s in sets for a in ("--set", s)]]) == 0
    return out


def test_traffic_policy_report_ranks_the_dropping_scenario_last_and_explains_the_drop(traffic_policy: Path) -> None:
    md = (traffic_policy / "report.md").read_text()
    verdict = md.split("## Verdict")[1].split("\n## ")[0]
    assert verdict.strip().startswith("Errors first: **nodeport-local** lost")
    assert "**nodeport-local** has the lowest" not in verdict
    assert "Ranked after them, because they lost requests: **nodeport-local**" in verdict
    errors = md.split("## Errors")[1].split("\n## ")[0]
    assert "| scenario | requests | errors | error % | no_local_endpoint |" in errors
    assert "node-3 (zone-c) runs no pod of Service web" in errors
    assert "## Where requests went" in md and "## Pod placement" in md
    placement = md.split("## Pod placement")[1].split("\n## ")[0]
    assert "| node-1 | zone-a | web-a-1, web-a-2 | web |" in placement and "| node-3 | zone-c | – | – |" in placement


def test_the_timeline_marks_every_event_that_changes_the_system() -> None:
    events = pd.DataFrame({"scenario": "s", "replication": 0, "t_s": [20.0, 20.0, 23.9, 23.9, 24.5],
                           "action": ["rollout", "pod-created", "pod-ready", "pod-deleted", "pod-gone"],
                           "target": ["Deployment/web", "pod/web-7", "pod/web-7", "pod/web-1", "pod/web-1"]})
    timeline = pd.DataFrame({"scenario": "s", "replication": 0, "service": "web", "t_s": np.arange(30.0), "requests": 100,
                             "errors_refused": 0, "latency_p50_ms": 2.0, "latency_p99_ms": 9.0, "ready_endpoints": 3})
    figure = plots.timeline(timeline, events)
    top = figure.subfigs[0].axes[0]
    marked = sorted(round(line.get_xdata()[0], 1) for line in top.lines if len(set(line.get_xdata())) == 1)
    assert marked == [20.0, 20.0, 23.9, 23.9, 24.5]  # the rollout, and the pods it created, readied, deleted, removed
    assert {t.get_text() for t in figure.legends[0].get_texts()} >= {"pod ready", "pod deleted (not ready)", "pod gone / killed"}


def test_fair_share_under_churn_is_weighted_by_ready_time() -> None:
    """Window [10, 30): a pod ready throughout (20 s), one ready from 20 s (10 s), one deleted at 15 s (5 s)."""
    events = pd.DataFrame({"t_s": [0.0, 15.0, 20.0, 16.0], "action": ["pod-created", "pod-deleted", "pod-ready", "pod-gone"],
                           "target": ["pod/b", "pod/c", "pod/b", "pod/c"]})
    assert ready_seconds(["a", "b", "c"], {}, events, (10.0, 30.0)) == {"a": 20.0, "b": 10.0, "c": 5.0}
    pods = pd.DataFrame({"scenario": "s", "replication": 0, "service": "web", "pod": ["a", "b", "c"], "node": "n", "zone": "z",
                         "requests": [1, 1, 1], "share": [0.5, 0.3, 0.2]})
    fair = fair_shares(pods, events.assign(scenario="s", replication=0), {"s": (10.0, 30.0)})
    assert fair["fair_share"].tolist() == pytest.approx([20 / 35, 10 / 35, 5 / 35])
    node_failure = pd.DataFrame({"t_s": [12.0], "action": ["fail"], "target": ["node/n1"]})
    assert ready_seconds(["a", "b"], {"a": "n1", "b": "n2"}, node_failure, (10.0, 30.0)) == {"a": 2.0, "b": 20.0}


def test_error_bars_only_where_there_is_an_interval() -> None:
    summary = pd.DataFrame({"scenario": ["a", "b"], "client": "u", "service": "web", "error_rate": 0.0,
                            "latency_mean_ms": [10.0, 12.0], "latency_p99_ms": [40.0, 45.0],
                            "latency_mean_ms_ci95": [np.nan, np.nan], "latency_p99_ms_ci95": [np.nan, np.nan]})
    for ax in plots.latency_bars(summary).axes:
        assert not any(isinstance(c, ErrorbarContainer) for c in ax.containers)
        assert all(getattr(c, "errorbar", None) is None for c in ax.containers)
    summary[["latency_mean_ms_ci95", "latency_p99_ms_ci95"]] = [[0.5, 1.0], [0.6, 1.1]]
    assert any(isinstance(c, ErrorbarContainer) for c in plots.latency_bars(summary).axes[0].containers)

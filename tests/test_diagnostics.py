"""Warnings a reader must not miss: saturated pods, rejected requests, clients whose every request failed,
and one meaning per column name (``errors`` is a count in the console as in summary.csv)."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import pandas as pd
import pytest
from test_cli import EXPERIMENT, netsim, write

from netsim.diagnostics import deployment_of, failed_client_warnings, saturation_warnings
from netsim.report_tables import saturation_table

MANIFEST = {"scenarios": {"s": {"config": {"manifests": [
    {"kind": "Deployment", "metadata": {"name": "web"}}, {"kind": "Deployment", "metadata": {"name": "web-api"}}]}}}}


def pods_table(utilization: dict[str, float], replications: int = 2) -> pd.DataFrame:
    """pods.csv as the lead's model writes it: utilisation = busy time / (workers × window)."""
    return pd.DataFrame([
        {"scenario": "s", "replication": r, "service": "web", "pod": pod, "node": f"node-{i + 1}", "zone": "zone-a",
         "requests": 1000, "share": 0.5, "connections": 1000, "utilization": u, "workers": 1}
        for r in range(replications) for i, (pod, u) in enumerate(utilization.items())
    ])


def test_a_pod_above_90_percent_utilisation_is_warned_about() -> None:
    lines = saturation_warnings(pods_table({"web-1": 0.97, "web-2": 0.5, "web-api-1": 0.3}), pd.DataFrame(), MANIFEST)
    assert lines == ["pod web-1 of Deployment web at 97 % utilisation: the queue grows and latency measures it; "
                     "add replicas or workers (workloads.web.concurrency, 1 now)"]


def test_below_the_threshold_nothing_is_said() -> None:
    assert saturation_warnings(pods_table({"web-1": 0.89, "web-2": 0.5}), pd.DataFrame(), MANIFEST) == []


def test_pods_are_attributed_to_the_longest_deployment_name_that_matches() -> None:
    assert deployment_of("web-api-1", ["web", "web-api"]) == "web-api"
    assert deployment_of("web-12", ["web", "web-api"]) == "web"


def test_saturation_table_marks_the_saturated_pods() -> None:
    table = saturation_table(pods_table({"web-1": 0.97, "web-2": 0.5}), MANIFEST)
    assert list(table["pod"]) == ["web-1", "web-2"]
    assert table["utilisation"].tolist() == ["97 % **saturated**", "50 %"]


def test_rejected_requests_are_warned_about() -> None:
    runs = pd.DataFrame({"scenario": ["s", "s"], "replication": [0, 1], "client": "u", "service": "web",
                         "requests": [1000, 1000], "errors_rejected": [12, 8]})
    (line,) = saturation_warnings(pd.DataFrame(), runs, MANIFEST)
    assert line.startswith("Service web: its pods rejected 20 request(s) (1 %) in scenario 's'")
    assert "add replicas or workers" in line


def test_a_client_whose_every_request_failed_is_named() -> None:
    summary = pd.DataFrame({"scenario": ["s", "s"], "client": ["shop", "pay"], "service": ["shop", "payments"],
                            "requests": [500, 300], "errors": [0, 300], "errors_discovery": [0, 300]})
    assert failed_client_warnings(summary) == [
        "client pay → payments: all 300 requests failed in scenario 's' (errors_discovery 300); it has no latency figures "
        "(see errors_<kind> in runs.csv and the report's Errors section)"]


def test_console_errors_is_a_count_like_summary_csv_and_all_failed_clients_are_warned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """issue 14: `errors` was a rate on the console and a count in summary.csv; a Service whose every request
    failed showed `errors 1` with no word. Exit 0: only failed runs make `netsim run` exit 1."""
    data = copy.deepcopy(EXPERIMENT)
    data["run"].update(duration="0.5s", warmup="0.1s")
    data["manifests"].append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ghost"},
                              "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]}})
    data["clients"].append({"name": "lost", "target": "ghost", "arrival": {"process": "poisson", "rate": 200}})
    code, out, err = netsim(capsys, "run", write(tmp_path, data), "-o", tmp_path / "out", "--no-report")
    assert code == 0, err
    header, *rows = out.strip().splitlines()
    assert header.split()[5:8] == ["errors", "error", "%"]
    with open(tmp_path / "out" / "summary.csv", newline="") as handle:
        summary = {(r["client"], r["service"]): r for r in csv.DictReader(handle)}
    lost = next(r for r in rows if r.split()[1] == "lost")
    assert lost.split()[5] == summary[("lost", "ghost")]["errors"] == summary[("lost", "ghost")]["requests"]
    assert lost.split()[6:8] == ["100", "%"]
    assert "warning: client lost → ghost: all" in err and "errors_refused" in err


def test_run_warns_about_rejections(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = copy.deepcopy(EXPERIMENT)
    data["run"].update(duration="0.5s", warmup="0.1s", replications=1)
    data["workloads"]["web"].update(concurrency=1, queue_limit=0)  # any request that finds its pod busy is turned away
    code, _, err = netsim(capsys, "run", write(tmp_path, data), "-o", tmp_path / "out", "--no-report")
    assert code == 0, err
    assert "warning: Service web: its pods rejected" in err and "add replicas or workers" in err

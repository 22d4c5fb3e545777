"""report.md, report.html (plots embedded) and plots/*.png, from the stored tables."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from builders import experiment

from netsim.cli import main
from netsim.experiment import run_experiment
from netsim.report import write_report
from netsim.results import load_results

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = experiment(replicas=3, rate=900.0, mean_service=0.002, duration=2.0, warmup=0.5, replications=3,
                        nodes={"count": 3, "zones": ["zone-a", "zone-b", "zone-c"]},
                        network={"same_node": "25us", "same_zone": "100us", "cross_zone": "400us", "internet": "5ms"})
    config["scenarios"] = [{"name": "iptables", "set": {"cluster.kube_proxy.mode": "iptables"}},
                           {"name": "slow-pods", "set": {"workloads.default.service_time.mean": "3ms"}}]
    out = tmp_path_factory.mktemp("report") / "results"
    run_experiment(config, output=out)
    return out


def test_html_is_self_contained_with_its_plots_embedded(folder: Path) -> None:
    html = (folder / "report.html").read_text()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 3
    assert 'src="plots/' not in html and "http" not in html.split("<body>")[1]  # nothing to fetch
    for name in ("latency.png", "latency_cdf.png", "load_share.png", "cross_zone.png"):
        assert (folder / "plots" / name).read_bytes().startswith(PNG)


def test_markdown_says_which_scenario_wins_and_by_how_much(folder: Path) -> None:
    md = (folder / "report.md").read_text()
    assert md.startswith("# netsim report: test")
    verdict = md.split("## Verdict")[1].split("##")[0]
    assert "**iptables** (the reference) has the lowest mean latency" in verdict
    assert re.search(r"[\d.]+ % lower than the next best \*\*slow-pods\*\*", verdict)
    assert "significant at 95 %" in verdict
    for heading in ("## Latency", "## Compared with iptables", "## Load across pods", "## Cross-zone traffic"):
        assert heading in md
    assert "## Timeline" not in md  # no timeline table: the section is left out
    for link in re.findall(r"\]\((plots/[^)]+)\)", md):
        assert (folder / link).is_file()
    assert re.search(r"\| iptables \| \d+ \| 0 % \| [\d.]+ ± [\d.]+ \|", md)  # percentile table with CIs
    assert not re.search(r"\d\.\d+e[+-]\d", md.split("## Compared with")[0]), "numbers for people: no 1.8e+02 in the verdict or tables"


def test_report_command_rebuilds_from_tables_and_draws_a_timeline_when_present(folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("summary.csv", "runs.csv", "pods.csv", "latency.csv", "comparison.csv", "manifest.json"):
        (copy / name).write_bytes((folder / name).read_bytes())
    rows = [{"scenario": s, "replication": r, "t_s": t, "requests": 900, "ok": 900 - (t == 3), "errors_refused": int(t == 3),
             "latency_p50_ms": 2.0 + (s == "slow-pods"), "latency_p99_ms": 9.0 + t % 2, "ready_endpoints": 3 - (t == 3)}
            for s in ("iptables", "slow-pods") for r in range(3) for t in range(6)]
    pd.DataFrame(rows).to_csv(copy / "timeline.csv", index=False)
    pd.DataFrame([{"scenario": "iptables", "replication": 0, "t_s": 3.0, "kind": "kill", "target": "Deployment/web"}]).to_csv(
        copy / "events.csv", index=False)
    assert main(["report", str(copy)]) == 0
    assert (copy / "plots" / "timeline.png").read_bytes().startswith(PNG)
    md = (copy / "report.md").read_text()
    assert "## Timeline" in md
    assert md.count("![") == 5
    assert load_results(copy).timeline.shape[0] == len(rows)

    (copy / "timeline.csv").unlink()
    assert main(["report", str(copy)]) == 0
    assert not (copy / "plots" / "timeline.png").exists()  # no stale figure from the earlier report


def test_single_scenario_report(tmp_path: Path) -> None:
    results = run_experiment(experiment(duration=1.0, warmup=0.2, replications=2), output=tmp_path, report=False)
    write_report(results, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "One scenario: mean latency" in md
    assert "## Compared with" not in md
    assert not (tmp_path / "plots" / "cross_zone.png").exists()  # one zone: nothing crosses zones


def test_report_of_a_missing_folder_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a netsim results folder" in capsys.readouterr().err



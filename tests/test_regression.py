"""Baselines and `netsim check`: a regression is worse by more than the factor AND significant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netsim.check_limits import parse_limit
from netsim.cli import main
from netsim.errors import ConfigError
from netsim.regression import IMPROVED, REGRESSED, better, check, format_check, judge, make_baseline, read_baseline
from netsim.results import Results

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "experiments" / "quickstart.yaml"
BASELINE = ROOT / "results" / "baselines" / "quickstart.json"


def normal(mean: float, sd: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, n)


# The rule, on synthetic samples -------------------------------------------------------------------


def test_same_distribution_is_ok() -> None:
    assert judge(normal(10, 0.2, 5, 1), normal(10, 0.2, 5, 2), "lower").verdict == "ok"


def test_worse_beyond_the_factor_and_significant_regresses() -> None:
    v = judge(normal(10, 0.2, 5, 1), normal(13, 0.2, 5, 2), "lower")
    assert v.verdict == REGRESSED
    assert v.change == pytest.approx(0.3, abs=0.03)
    assert v.p_value < 0.001


def test_worse_beyond_the_factor_but_noisy_is_not_a_regression() -> None:
    v = judge(np.array([5.0, 15.0, 10.0]), np.array([20.0, 4.0, 15.0]), "lower")
    assert v.change > 0.1
    assert v.verdict == "worse, not significant"


def test_significant_but_within_the_factor_is_ok() -> None:
    v = judge(normal(10, 0.01, 10, 1), normal(10.5, 0.01, 10, 2), "lower")
    assert v.p_value < 1e-6
    assert v.verdict == "ok"


def test_direction_matters() -> None:
    base, now = normal(1000, 5, 5, 1), normal(700, 5, 5, 2)
    assert judge(base, now, "higher").verdict == REGRESSED  # throughput fell 30 %
    assert judge(base, now, "lower").verdict == IMPROVED


def test_factor_and_alpha_are_the_thresholds() -> None:
    base, now = normal(10, 0.2, 5, 1), normal(11.5, 0.2, 5, 2)  # 15 % worse
    assert judge(base, now, "lower", factor=1.1).verdict == REGRESSED
    assert judge(base, now, "lower", factor=1.2).verdict == "ok"
    noisy_now = normal(11.5, 2.0, 5, 3)
    assert judge(base, noisy_now, "lower", alpha=0.5).verdict == REGRESSED
    assert judge(base, noisy_now, "lower", alpha=1e-6).verdict == "worse, not significant"


def test_zero_baselines_and_constant_samples() -> None:
    zeros = np.zeros(3)
    assert judge(zeros, zeros, "lower").verdict == "ok"
    assert judge(zeros, np.full(3, 0.02), "lower").verdict == REGRESSED  # errors appeared in every replication
    assert judge(np.full(3, 2.0), np.full(3, 2.0), "lower").verdict == "ok"


def test_one_replication_cannot_be_significant() -> None:
    v = judge(np.array([10.0]), np.array([20.0]), "lower")
    assert v.verdict == "worse, not significant"


def test_every_metric_of_the_summary_knows_its_direction() -> None:
    from netsim.metrics import SUMMARY_COLUMNS

    figures = SUMMARY_COLUMNS[SUMMARY_COLUMNS.index("error_rate"):SUMMARY_COLUMNS.index("cross_zone_fraction") + 1]
    assert all(better(m) for m in figures)
    assert better("throughput_rps") == "higher" and better("jain_index") == "higher"
    assert better("latency_p99_ms") == "lower" and better("cross_zone_cost_usd") == "lower"


def synthetic(latencies: list[float], config_hash: str = "abc") -> Results:
    n = len(latencies)
    runs = pd.DataFrame({
        "scenario": ["s"] * n, "replication": range(n), "client": ["c"] * n, "service": ["web"] * n,
        "service_type": ["ClusterIP"] * n, "requests": [1000] * n, "latency_mean_ms": latencies, "pod_load_cv": [0.1] * n,
    })
    return Results(summary=pd.DataFrame(), runs=runs, pods=pd.DataFrame(),
                   manifest={"experiment": "x", "config_hash": config_hash, "parameters": []})


def test_check_against_a_synthetic_baseline() -> None:
    baseline = make_baseline(synthetic([10.0, 10.2, 9.9, 10.1]))
    assert {e["metric"] for e in baseline["metrics"]} == {"latency_mean_ms", "pod_load_cv"}  # counts are not checked
    same = check(synthetic([10.1, 9.95, 10.05, 10.0]), baseline)
    assert same.regressed == [] and same.warnings == []
    slow = check(synthetic([13.0, 13.1, 12.9, 13.2], config_hash="def"), baseline)
    assert slow.regressed == ["latency_mean_ms"]
    assert "config hash def differs" in slow.warnings[0]
    other = synthetic([10.0, 10.0])
    other.runs["scenario"] = "other"
    with pytest.raises(ConfigError, match="no scenario, client and service of the baseline"):
        check(other, baseline)
    with pytest.raises(ConfigError, match="--factor"):
        check(synthetic([10.0, 10.0]), baseline, factor=0.9)


# The CLI against the committed quickstart baseline ------------------------------------------------


@pytest.fixture(scope="module")
def quickstart_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The quickstart as committed, rerun with another seed, and with pods 30 % slower."""
    folder = tmp_path_factory.mktemp("check")
    variants = {"same": [], "other_seed": ["--set", "run.seed=7"], "slower": ["--set", "workloads.web.service_time.mean=13ms"]}
    out = {}
    for name, sets in variants.items():
        out[name] = folder / name
        assert main(["run", str(QUICKSTART), "-o", str(out[name]), "--quiet", "--no-report", *sets]) == 0
    return out


def test_committed_baseline_matches_the_quickstart(quickstart_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Fails when a change moves the quickstart's figures. If that change is intended, renew the baseline:
    netsim run experiments/quickstart.yaml -o results/quickstart && netsim baseline results/quickstart -o results/baselines/quickstart.json
    """
    baseline = read_baseline(BASELINE)
    assert main(["check", str(quickstart_runs["same"]), "--baseline", str(BASELINE)]) == 0
    assert "no regression" in capsys.readouterr().out
    # The config hash covers every resolved default, so a new config field changes it without changing the
    # figures: check warns about it and this test does not insist.
    assert baseline["experiment"] == "quickstart" and baseline["schema_version"] == 1
    assert baseline["netsim_version"]
    assert all(len(entry["samples"]) == 3 for entry in baseline["metrics"])


def test_check_passes_a_rerun_with_another_seed(quickstart_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(quickstart_runs["other_seed"]), "--baseline", str(BASELINE)]) == 0
    captured = capsys.readouterr()
    assert "no regression" in captured.out
    assert "warning: config hash" in captured.err  # the seed is part of the config: a warning, not a failure


def test_check_fails_when_pods_are_30_percent_slower(quickstart_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(quickstart_runs["slower"]), "--baseline", str(BASELINE)]) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("latency_mean_ms"))
    assert REGRESSED in line
    assert "metric(s) regressed: latency_mean_ms" in out


def test_markdown_format_is_a_job_summary(quickstart_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(quickstart_runs["slower"]), "--baseline", str(BASELINE), "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("### netsim check")
    assert "| metric | baseline | now | change | verdict |" in out
    assert "**REGRESSED" in out


def test_baseline_command_round_trips(quickstart_runs: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    assert main(["baseline", str(quickstart_runs["slower"]), "-o", str(path)]) == 0
    assert json.loads(path.read_text())["kind"] == "netsim-baseline"
    assert main(["check", str(quickstart_runs["slower"]), "--baseline", str(path)]) == 0


@pytest.mark.parametrize(("args", "message"), [
    (["check", "{results}", "--baseline", "{tmp}/missing.json"], "--baseline: {tmp}/missing.json: file not found; make one with `netsim baseline"),
    (["check", "{results}", "--baseline", "{tmp}/bad.json"], "not a netsim baseline"),
    (["check", "{results}", "--baseline", "{baseline}", "--factor", "0.5"], "--factor: must be 1 or more"),
    (["check", "{results}", "--baseline", "{baseline}", "--alpha", "2"], "--alpha: must be between 0 and 1"),
    (["check", "{tmp}/nothing", "--baseline", "{baseline}"], "not a netsim results folder"),
    (["baseline", "{tmp}/nothing", "-o", "{tmp}/x.json"], "not a netsim results folder"),
])
def test_bad_input_is_one_line_exit_2(quickstart_runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      args: list[str], message: str) -> None:
    (tmp_path / "bad.json").write_text('{"hello": 1}')
    fill = {"results": str(quickstart_runs["same"]), "tmp": str(tmp_path), "baseline": str(BASELINE)}
    assert main([a.format(**fill) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert message.format(**fill) in err


def test_every_bundled_experiment_has_a_committed_baseline() -> None:
    """results/baselines/ holds a readable baseline for each experiment in experiments/ (issue 6)."""
    for experiment in sorted((ROOT / "experiments").glob("*.yaml")):
        path = ROOT / "results" / "baselines" / f"{experiment.stem}.json"
        assert path.is_file(), f"no baseline for {experiment.name}: netsim run it, then netsim baseline RESULTS -o {path}"
        baseline = read_baseline(path)
        assert baseline["metrics"], f"{path.name} holds no metric"


# Too few replications, absolute limits, rows that matter (issue 14) ------------------------------


def two_scenarios(error_rates: list[float], latencies: list[float], config_hash: str = "abc") -> Results:
    results = synthetic(latencies, config_hash)
    results.runs["error_rate"] = error_rates
    return results


def test_too_few_replications_are_said_and_the_number_needed_is_given() -> None:
    """issue 14: with 2 replications, errors 0 → 0.39 % was 'not significant' and the check passed without a word."""
    baseline = make_baseline(two_scenarios([0.0, 0.0], [10.0, 10.1]))
    outcome = check(two_scenarios([0.0, 0.0078], [10.05, 10.0]), baseline)
    assert not outcome.failed
    (warning,) = outcome.warnings
    assert warning.startswith("too few replications: with 2 replication(s), a change of ×1.1 at alpha 0.01 shows as significant "
                              "less than 80% of the time in 1 metric(s): error_rate (")
    row = outcome.table.set_index("metric").loc["error_rate"]
    assert row["verdict"] == "worse, not significant" and row["replications_needed"] > 2
    text = format_check(outcome, 1.1, 0.01)
    assert "error_rate" in text and "too few replications (needs" in text
    assert "latency_mean_ms" not in text  # ok rows are hidden by default in text
    assert "row(s) hidden (ok); --all shows them" in text
    assert "latency_mean_ms" in format_check(outcome, 1.1, 0.01, show="all")


def test_a_baseline_of_one_replication_is_refused_with_how_many_it_needs() -> None:
    with pytest.raises(ConfigError, match=r"has 1 replication\(s\); a baseline needs 2 or more per metric"):
        make_baseline(synthetic([10.0]))


def test_an_exceeded_limit_fails_whatever_the_baseline_says() -> None:
    results = synthetic([250.0, 251.0, 249.0])
    baseline = make_baseline(results)  # the baseline is this very run: no regression possible
    outcome = check(results, baseline, limits=[parse_limit("latency_mean_ms<=200"), parse_limit("pod_load_cv<=0.5")])
    assert outcome.regressed == [] and outcome.breached == ["latency_mean_ms"] and outcome.failed
    text = format_check(outcome, 1.1, 0.01, show="failures")
    assert "limit latency_mean_ms<=200" in text and "LIMIT EXCEEDED" in text and "pod_load_cv" not in text
    assert "1 limit(s) exceeded: latency_mean_ms" in text
    assert not check(results, None, limits=[parse_limit("latency_mean_ms>=200")]).failed


@pytest.mark.parametrize("text", ["latency<200", "latency_p99_ms<=fast", "<=3", "latency_p99_ms<=nan", "latency_p99_ms==1"])
def test_limit_syntax(text: str) -> None:
    with pytest.raises(ConfigError, match="--limit"):
        parse_limit(text)


def test_limits_on_the_command_line(quickstart_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    same = str(quickstart_runs["same"])
    assert main(["check", same, "--limit", "error_rate<=0"]) == 0  # no baseline needed for limits alone
    assert "every limit held" in capsys.readouterr().out
    assert main(["check", same, "--baseline", str(BASELINE), "--limit", "latency_p99_ms<=1"]) == 1
    out = capsys.readouterr().out
    assert "LIMIT EXCEEDED" in out and "limit(s) exceeded: latency_p99_ms" in out
    assert main(["check", same, "--limit", "latency_p99<=200"]) == 2
    assert "no metric 'latency_p99' in these results (did you mean 'latency_p99_ms'?)" in capsys.readouterr().err
    assert main(["check", same]) == 2
    assert "give a baseline file, a --limit, or both" in capsys.readouterr().err


def test_only_failures_and_all(quickstart_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    slower = str(quickstart_runs["slower"])
    assert main(["check", slower, "--baseline", str(BASELINE), "--only-failures"]) == 1
    failures = [line for line in capsys.readouterr().out.splitlines()[2:] if line and not line.startswith(("no regression", "1 metric", "2 metric", "3 metric"))]
    assert failures and all(REGRESSED in line or "hidden" in line or "regressed" in line for line in failures), failures
    assert main(["check", slower, "--baseline", str(BASELINE), "--all"]) == 1
    everything = capsys.readouterr().out
    assert everything.count("\n") > len(failures) + 3 and "hidden" not in everything


def test_baseline_command_says_whether_its_replications_suffice(quickstart_runs: dict[str, Path], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", str(quickstart_runs["same"]), "-o", str(tmp_path / "b.json")]) == 0
    err = capsys.readouterr().err
    assert "with 3 replication(s), a change of ×1.1 at alpha 0.01" in err or "detect a change of ×1.1 at alpha 0.01 in every metric" in err


# Malformed baselines and results folders: exit 2, one line, never 0 or 1 (issue 11) ---------------


def _entry(**change: object) -> dict[str, object]:
    entry: dict[str, object] = {"scenario": "quickstart", "client": "users", "service": "web", "metric": "latency_mean_ms",
                                "better": "lower", "samples": [11.6, 11.7, 11.5]}
    entry.update(change)
    return entry


BAD_BASELINES = {
    "no metrics": [],
    "text samples": [_entry(samples=["11.6", "11.7"])],
    "empty samples": [_entry(samples=[])],
    "one sample": [_entry(samples=[11.6])],
    "nan samples": "NAN",
    "only nulls": [_entry(samples=[None, None, None])],
    "bool sample": [_entry(samples=[True, 11.0])],
    "metric a number": [_entry(metric=3)],
    "bad direction": [_entry(better="smaller")],
    "entry not an object": [["quickstart", "latency_mean_ms"]],
    "unknown metric": [_entry(metric="latency_p42_ms")],
    "unknown scenario": [_entry(), _entry(scenario="gone")],
}


@pytest.mark.parametrize("case", list(BAD_BASELINES))
def test_a_malformed_baseline_is_exit_2(case: str, quickstart_runs: dict[str, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    head = json.loads(BASELINE.read_text())
    metrics = BAD_BASELINES[case]
    path = tmp_path / "b.json"
    if metrics == "NAN":
        path.write_text(json.dumps({**head, "metrics": [_entry()]}).replace("[11.6, 11.7, 11.5]", "[NaN, NaN, NaN]"))
    else:
        path.write_text(json.dumps({**head, "metrics": metrics}))
    assert main(["check", str(quickstart_runs["same"]), "--baseline", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("netsim: error: ") and "\n" not in err and "Traceback" not in err


def _copy(folder: Path, to: Path) -> Path:
    to.mkdir()
    for item in folder.iterdir():
        if item.is_file():
            (to / item.name).write_bytes(item.read_bytes())
    return to


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _drop_column(path: Path, column: str) -> None:
    frame = pd.read_csv(path)
    frame.drop(columns=column).to_csv(path, index=False)


def _text_in(path: Path, column: str) -> None:
    frame = pd.read_csv(path)
    frame[column] = frame[column].astype(object)
    frame.loc[0, column] = "fast"
    frame.to_csv(path, index=False)


DAMAGE = {
    "runs.csv truncated": lambda f: _truncate(f / "runs.csv"),
    "runs.csv empty": lambda f: (f / "runs.csv").write_text(""),
    "runs.csv binary": lambda f: (f / "runs.csv").write_bytes(b"\xff\xfe\x00garbage\x00\x01"),
    "runs.csv ragged": lambda f: (f / "runs.csv").write_text((f / "runs.csv").read_text() + "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z,1,2,3,4,5,6,7,8,9,0,1,2,3\n"),
    "metric column missing": lambda f: _drop_column(f / "runs.csv", "latency_mean_ms"),
    "key column missing": lambda f: _drop_column(f / "runs.csv", "client"),
    "text in a metric": lambda f: _text_in(f / "runs.csv", "latency_p99_ms"),
    "summary.csv missing a column": lambda f: _drop_column(f / "summary.csv", "error_rate"),
    "manifest.json broken": lambda f: (f / "manifest.json").write_text("{not json"),
    "pods.csv header only of another table": lambda f: (f / "pods.csv").write_text("x,y\n1,2\n"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_results_folder_is_exit_2_for_check_report_and_baseline(case: str, quickstart_runs: dict[str, Path], tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    folder = _copy(quickstart_runs["same"], tmp_path / "damaged")
    DAMAGE[case](folder)
    for argv in (["check", str(folder), "--baseline", str(BASELINE)], ["report", str(folder)],
                 ["baseline", str(folder), "-o", str(tmp_path / "b.json")]):
        assert main(argv) == 2, (case, argv)
        err = capsys.readouterr().err.strip()
        assert err.startswith("netsim: error: ") and "\n" not in err and "Traceback" not in err, (case, argv, err)
    assert not (folder / "report.md").exists() and not (tmp_path / "b.json").exists()

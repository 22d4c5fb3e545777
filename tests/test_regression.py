"""Baselines and `netsim check`: a regression is worse by more than the factor AND significant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netsim.cli import main
from netsim.errors import ConfigError
from netsim.regression import IMPROVED, REGRESSED, better, check, judge, make_baseline, read_baseline
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

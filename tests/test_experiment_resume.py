"""Every finished run is stored as it completes: reruns reuse them, interruptions lose only runs in flight,
and a run that raises is recorded while the others continue."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from builders import experiment

from netsim import engine
from netsim.cli import main
from netsim.experiment import run_experiment

SIMULATE = engine.simulate


def config(replications: int = 3) -> dict:
    c = experiment(replicas=2, rate=400.0, mean_service=0.002, duration=1.5, warmup=0.3, replications=replications)
    c["vary"] = {"Deployment/web.spec.replicas": [1, 2]}
    return c


class Counting:
    """Stands in for engine.simulate: counts calls, and can fail or be interrupted on chosen runs."""

    def __init__(self, fail: set[str] = frozenset(), interrupt_at: int | None = None) -> None:
        self.real = SIMULATE
        self.calls: list[str] = []
        self.fail = fail
        self.interrupt_at = interrupt_at

    def __call__(self, run, **options):  # type: ignore[no-untyped-def]
        self.calls.append(run.key)
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        if run.key in self.fail:
            raise RuntimeError("pod exploded")
        return self.real(run, **options)


def stored(folder: Path) -> list[Path]:
    return sorted((folder / "runs").rglob("rep-*.json"))


def test_interrupted_sweep_resumes_without_redoing_finished_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    monkeypatch.setattr(engine, "simulate", Counting(interrupt_at=4))
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config(), output=out)
    assert len(stored(out)) == 3  # the three finished runs; the one in flight is lost
    assert not (out / "summary.csv").exists()

    counting = Counting()
    monkeypatch.setattr(engine, "simulate", counting)
    resumed = run_experiment(config(), output=out, report=False)
    assert len(counting.calls) == 3
    assert sum(r["reused"] for r in resumed.manifest["runs"]) == 3

    run_experiment(config(), output=tmp_path / "fresh", report=False)
    for table in ("summary.csv", "runs.csv", "pods.csv", "latency.csv", "comparison.csv"):
        assert (out / table).read_bytes() == (tmp_path / "fresh" / table).read_bytes(), table


def test_rerun_reuses_unchanged_runs_and_reruns_changed_or_new_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    counting = Counting()
    monkeypatch.setattr(engine, "simulate", counting)
    run_experiment(config(replications=2), output=out, report=False)
    assert len(counting.calls) == 4

    counting.calls.clear()
    run_experiment(config(replications=3), output=out, report=False)  # one more replication each
    assert sorted(counting.calls) == ["replicas=1/rep-2", "replicas=2/rep-2"]

    counting.calls.clear()
    changed = config(replications=3)
    changed["vary"]["Deployment/web.spec.replicas"] = [1, 4]  # replicas=4 is new; replicas=1 unchanged
    run_experiment(changed, output=out, report=False)
    assert sorted(counting.calls) == ["replicas=4/rep-0", "replicas=4/rep-1", "replicas=4/rep-2"]

    counting.calls.clear()
    run_experiment(config(replications=3), sets=[("workloads.default.service_time.mean", "3ms")], output=out, report=False)
    assert len(counting.calls) == 6  # every scenario's config changed

    counting.calls.clear()
    run_experiment(config(replications=3), sets=[("workloads.default.service_time.mean", "3ms")], output=out, force=True, report=False)
    assert len(counting.calls) == 6


def test_a_failing_run_is_recorded_and_the_rest_continue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config()))
    out = tmp_path / "out"
    monkeypatch.setattr(engine, "simulate", Counting(fail={"replicas=2/rep-1"}))
    assert main(["run", str(path), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "1 of 6 run(s) failed" in err and "replicas=2/rep-1: RuntimeError: pod exploded" in err
    error_file = out / "runs" / "replicas=2" / "rep-1.error.txt"
    assert "RuntimeError: pod exploded" in error_file.read_text()
    summary = (out / "summary.csv").read_text()
    assert "replicas=2" in summary and "replicas=1" in summary  # the others made it into the tables
    assert "pod exploded" in (out / "report.md").read_text()

    counting = Counting()
    monkeypatch.setattr(engine, "simulate", counting)
    assert main(["run", str(path), "-o", str(out), "--quiet"]) == 0
    assert counting.calls == ["replicas=2/rep-1"]  # only the failed run is retried
    assert not error_file.exists()


def test_ctrl_c_says_how_to_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config()))
    monkeypatch.setattr(engine, "simulate", Counting(interrupt_at=2))
    assert main(["run", str(path), "-o", str(tmp_path / "out"), "--quiet"]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err


def test_save_requests_is_honoured_on_reuse(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_experiment(config(replications=1), output=out, report=False)
    assert not (out / "requests.parquet").exists()
    with_requests = run_experiment(config(replications=1), output=out, save_requests=True, report=False)
    assert (out / "requests.parquet").is_file()
    assert len(with_requests.requests) == with_requests.runs["requests"].sum()
    assert "Deployment/web.spec.replicas" in with_requests.requests
    run_experiment(config(replications=1), output=out, report=False)
    assert not (out / "requests.parquet").exists()  # no stale table from an earlier invocation

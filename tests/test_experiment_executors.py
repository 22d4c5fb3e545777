"""Results do not depend on where runs execute: serial, a process pool, or Dask."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from builders import experiment

from netsim.cli import _progress, main
from netsim.experiment import run_experiment

TABLES = ("summary.csv", "runs.csv", "pods.csv", "latency.csv", "comparison.csv")


def sweep_file(folder: Path) -> Path:
    config = experiment(replicas=2, rate=600.0, mean_service=0.002, duration=2.0, warmup=0.5, replications=2,
                        nodes={"count": 2, "zones": ["a", "b"]}, network={"same_node": "25us", "same_zone": "100us", "cross_zone": "400us", "internet": "5ms"})
    config["vary"] = {"cluster.kube_proxy.mode": ["iptables", "ipvs"], "Deployment/web.spec.replicas": [1, 3]}
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_serial_jobs_and_dask_give_identical_tables(tmp_path: Path) -> None:
    path = sweep_file(tmp_path)
    outputs = {}
    for name, options in {"serial": [], "jobs2": ["--jobs", "2"], "dask": ["--executor", "dask", "--jobs", "2"]}.items():
        out = tmp_path / name
        assert main(["run", str(path), "-o", str(out), "--quiet", "--no-report", *options]) == 0
        outputs[name] = {t: (out / t).read_bytes() for t in TABLES}
    assert outputs["jobs2"] == outputs["serial"]
    assert outputs["dask"] == outputs["serial"]


def test_dask_scheduler_address(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        remote = run_experiment(sweep_file(tmp_path), executor="dask", address=cluster.scheduler_address, report=False)
    local = run_experiment(sweep_file(tmp_path), report=False)
    assert remote.summary.equals(local.summary)


@pytest.mark.parametrize(("options", "message"), [
    (["--jobs", "0"], "--jobs: must be 1 or more"),
    (["--address", "tcp://scheduler:8786"], "--address: a scheduler address needs --executor dask"),
    (["--executor", "dask", "--address", "scheduler"], "--address: 'scheduler' is not a Dask scheduler address; write it like tcp://"),
    (["--executor", "spark"], "argument --executor: invalid choice: 'spark'"),
])
def test_bad_executor_options_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str) -> None:
    try:
        code = main(["run", str(sweep_file(tmp_path)), "-o", str(tmp_path / "out"), *options])
    except SystemExit as exit_:  # argparse's own errors exit from parse_args
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_progress_bar_only_on_a_terminal_outside_ci(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from netsim.config import load_experiment

    runs = load_experiment(experiment(duration=10.0, warmup=2.0, replications=3)).runs()

    class Terminal:
        def __init__(self) -> None:
            self.text = ""

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.delenv("CI", raising=False)
    assert _progress(runs, quiet=True) is None
    bar = _progress(runs, quiet=False)
    assert bar is not None
    from netsim.runstore import empty_record

    for run in runs:
        bar(empty_record(run))
    bar.close()
    assert "3/3" in terminal.text and "simulated 36s of 36s" in terminal.text
    monkeypatch.setenv("CI", "true")
    assert _progress(runs, quiet=False) is None
    monkeypatch.setattr("sys.stderr", open(os.devnull, "w"))  # noqa: SIM115 - closed with the test's process
    monkeypatch.delenv("CI")
    assert _progress(runs, quiet=False) is None  # not a terminal

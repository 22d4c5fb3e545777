"""Process and disk faults lose nothing and say one line (issue 11).

Real ``netsim run`` processes are interrupted (SIGINT to the process group, as a
terminal's Ctrl-C sends it; SIGKILL to the parent), records are damaged, the output
folder is unwritable, full, or in use by another run. The reference for "nothing was
lost" is an uninterrupted run: the resumed ``summary.csv`` must be byte-identical to it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from builders import experiment

from netsim import engine
from netsim.cli import main
from netsim.experiment import run_experiment
from netsim.runstore import PER_RUN_TABLES

REPO = Path(__file__).resolve().parents[1]


def sweep(duration: float = 200.0) -> dict:
    """Six runs of a third of a second each on the event engine: long enough to interrupt in the middle.

    The fast engine would finish each in milliseconds, before a signal could arrive, so the event engine is named.
    """
    config = experiment(replicas=2, rate=300.0, mean_service=0.002, duration=duration, warmup=0.2, replications=2,
                        engine="events")
    config["vary"] = {"Deployment/web.spec.replicas": [1, 2, 3]}
    return config


def write(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1", "CI": "1"}
    return subprocess.Popen([sys.executable, "-m", "netsim.cli", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def records(folder: Path) -> list[Path]:
    return sorted((folder / "runs").rglob("rep-*.json")) if (folder / "runs").exists() else []


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def descendants(pid: int) -> set[int]:
    """Live (non-zombie) processes whose parent chain leads to ``pid``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("reference")
    path = write(folder, sweep())
    assert main(["run", str(path), "-o", str(folder / "out"), "--no-report", "--quiet"]) == 0
    return (folder / "out" / "summary.csv").read_bytes()


def finish(folder: Path) -> bytes:
    """Run the same command again, to the end; its summary."""
    assert main(["run", str(folder / "experiment.yaml"), "-o", str(folder / "out"), "--no-report", "--quiet"]) == 0
    return (folder / "out" / "summary.csv").read_bytes()


def test_ctrl_c_mid_sweep_says_one_line_and_the_resumed_summary_is_identical(tmp_path, uninterrupted):
    write(tmp_path, sweep())
    proc = start(["run", "experiment.yaml", "-o", "out", "--jobs", "2", "--no-report", "--quiet"], tmp_path)
    wait_for(lambda: len(records(tmp_path / "out")) >= 1)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends: the parent and its workers alike
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    assert 1 <= len(records(tmp_path / "out")) < 6
    assert finish(tmp_path) == uninterrupted


def test_ctrl_c_while_workers_start_says_one_line_and_leaves_no_worker(tmp_path):
    write(tmp_path, sweep(duration=5000.0))  # several seconds a run: the signal always arrives before the end
    proc = start(["run", "experiment.yaml", "-o", "out", "--jobs", "2", "--no-report", "--quiet"], tmp_path)
    wait_for(lambda: len(descendants(proc.pid)) >= 2, timeout=60)  # the workers (and the resource tracker) are starting
    workers = descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    wait_for(lambda: not alive(workers), timeout=20)


def test_sigkill_of_the_parent_leaves_no_worker_and_the_sweep_resumes(tmp_path, uninterrupted):
    write(tmp_path, sweep())
    proc = start(["run", "experiment.yaml", "-o", "out", "--jobs", "2", "--no-report", "--quiet"], tmp_path)
    wait_for(lambda: len(records(tmp_path / "out")) >= 1)
    workers = descendants(proc.pid)
    assert workers, "the workers should be running"
    proc.kill()  # SIGKILL: no cleanup code of the parent runs
    proc.communicate(timeout=30)
    wait_for(lambda: not alive(workers), timeout=20)
    assert finish(tmp_path) == uninterrupted


class Counting:
    """Stands in for engine.simulate and counts the runs it really simulates."""

    def __init__(self) -> None:
        self.real = engine.simulate
        self.calls: list[str] = []

    def __call__(self, run, **options):  # type: ignore[no-untyped-def]
        self.calls.append(run.key)
        return self.real(run, **options)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "no tables": lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "tables": {}})),
    "a table missing": lambda p: p.write_text(json.dumps({**json.loads(p.read_text()),
                                                          "tables": {k: v for k, v in json.loads(p.read_text())["tables"].items() if k != "pods"}})),
    "rows that are not rows": lambda p: p.write_text(json.dumps({**json.loads(p.read_text()),
                                                                 "tables": {k: [1, 2] for k in PER_RUN_TABLES}})),
    "no runs rows": lambda p: p.write_text(json.dumps({**json.loads(p.read_text()),
                                                       "tables": {**json.loads(p.read_text())["tables"], "runs": []}})),
    "a wrong type": lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "replication": "0"})),
    "truncated": lambda p: p.write_text(p.read_text()[: len(p.read_text()) // 2]),
    "not JSON": lambda p: p.write_bytes(b"\x00\xff garbage"),
    "a list": lambda p: p.write_text("[]"),
    "a folder in its place": lambda p: (p.unlink(), p.mkdir(), (p / "x").write_text("{}")),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_record_is_rerun_not_reused(tmp_path, monkeypatch, damage):
    config = experiment(replicas=2, rate=300.0, mean_service=0.002, duration=0.5, warmup=0.1, replications=2)
    out = tmp_path / "out"
    first = run_experiment(config, output=out, report=False)
    reference = (out / "summary.csv").read_bytes()
    victim = records(out)[0]
    DAMAGE[damage](victim)

    counting = Counting()
    monkeypatch.setattr(engine, "simulate", counting)
    again = run_experiment(config, output=out, report=False)
    assert len(counting.calls) == 1, "exactly the damaged run is simulated again"
    assert sum(r["reused"] for r in again.manifest["runs"]) == 1
    assert (out / "summary.csv").read_bytes() == reference
    assert len(again.runs) == len(first.runs)
    assert victim.is_file() and json.loads(victim.read_text())["tables"]["runs"]


def _never_simulate(run, **options):  # type: ignore[no-untyped-def]
    raise AssertionError("nothing may be simulated for an unwritable output")


def test_an_output_under_a_file_is_refused_before_simulating(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(engine, "simulate", _never_simulate)
    path = write(tmp_path, experiment(duration=0.5, warmup=0.1))
    (tmp_path / "afile").write_text("x")
    code = main(["run", str(path), "-o", str(tmp_path / "afile" / "out"), "--no-report", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "part of the path is a file" in err, err


def test_an_output_that_is_a_file_is_refused_before_simulating(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(engine, "simulate", _never_simulate)
    path = write(tmp_path, experiment(duration=0.5, warmup=0.1))
    (tmp_path / "out").write_text("x")
    code = main(["run", str(path), "-o", str(tmp_path / "out"), "--no-report", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "is a file" in err, err


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 1 MiB tmpfs mounted at tmp_path/mnt (root and mount(8) needed; skipped where they are not)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root and mount(8) to make a small file system")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path, leave: int) -> None:
    """Fill the file system at ``mnt`` until about ``leave`` bytes are free."""
    stats = os.statvfs(mnt)
    free = stats.f_bavail * stats.f_frsize
    with open(mnt / "filler", "wb") as handle:
        try:
            handle.write(b"\0" * max(free - leave, 0))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_read_only_output_is_refused_before_simulating(small_tmpfs, tmp_path, monkeypatch, capsys):
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    monkeypatch.setattr(engine, "simulate", _never_simulate)
    path = write(tmp_path / "exp", experiment(duration=0.5, warmup=0.1))
    code = main(["run", str(path), "-o", str(small_tmpfs / "out"), "--no-report", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "read-only" in err.lower(), err


def test_a_full_output_is_refused_before_simulating(small_tmpfs, tmp_path, monkeypatch, capsys):
    _fill(small_tmpfs, leave=0)
    monkeypatch.setattr(engine, "simulate", _never_simulate)
    path = write(tmp_path / "exp", experiment(duration=0.5, warmup=0.1))
    code = main(["run", str(path), "-o", str(small_tmpfs / "out"), "--no-report", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "space" in err.lower(), err


def test_a_disk_that_fills_while_writing_leaves_the_old_tables_whole(small_tmpfs, tmp_path, capsys):
    out = small_tmpfs / "out"
    config = experiment(replicas=2, rate=200.0, mean_service=0.002, duration=0.5, warmup=0.1, replications=1)
    path = write(tmp_path / "exp", config)
    assert main(["run", str(path), "-o", str(out), "--no-report", "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()

    config["run"]["seed"] = 99  # another run, whose record and tables no longer fit
    write(tmp_path / "exp", config)
    _fill(small_tmpfs, leave=8 << 10)  # room for the folder check, not for the record and the tables
    code = main(["run", str(path), "-o", str(out), "--no-report", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "no space" in err.lower(), err
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before, "the tables are the previous ones, whole"
    assert not [p for p in out.rglob(".*.*") if p.name not in (".lock",)], "no temporary file is left behind"


def test_a_failure_while_writing_the_tables_replaces_none_of_them(tmp_path, monkeypatch):
    """The tables are a set: written in full beside their names first, then renamed together."""
    from netsim import results as results_module

    out = tmp_path / "out"
    config = experiment(replicas=2, rate=200.0, mean_service=0.002, duration=0.5, warmup=0.1)
    run_experiment(config, output=out, report=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real_stage = results_module._stage
    staged: list[str] = []

    def stage_then_fail(path: Path, data: bytes) -> str:
        if len(staged) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        staged.append(path.name)
        return real_stage(path, data)

    config["run"]["seed"] = 5
    monkeypatch.setattr(results_module, "_stage", stage_then_fail)
    with pytest.raises(OSError):
        run_experiment(config, output=out, report=False)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert len(staged) == 3
    assert after == before
    assert not list(out.glob(".*.csv.*")), "temporary files are removed"


def test_a_second_run_into_a_folder_in_use_is_refused(tmp_path):
    write(tmp_path, sweep(duration=3600.0))  # long enough to still be running when the second one starts
    first = start(["run", "experiment.yaml", "-o", "out", "--no-report", "--quiet"], tmp_path)
    lock = tmp_path / "out" / ".lock"
    wait_for(lambda: lock.exists() and lock.read_text().strip().isdigit())
    second = start(["run", "experiment.yaml", "-o", "out", "--no-report", "--quiet"], tmp_path)
    _, err = second.communicate(timeout=60)
    still_running = first.poll() is None
    os.killpg(first.pid, signal.SIGINT)
    _, first_err = first.communicate(timeout=60)
    assert still_running, first_err
    assert second.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "in use by another netsim run" in err and f"pid {first.pid}" in err, err
    assert first.returncode == 130, first_err

    assert main(["run", str(tmp_path / "experiment.yaml"), "-o", str(tmp_path / "out"), "--no-report", "--quiet",
                 "--set", "run.duration=0.5"]) == 0, "the lock is released when its holder ends"

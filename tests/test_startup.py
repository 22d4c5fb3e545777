"""A short ``netsim run --no-report`` imports none of the heavy libraries it does not need (issue 12, fixed cost).

pandas, scipy, numba and matplotlib cost a short run most of its time before the
first event (benchmarks/startup.py measures it); the run's tables are written
without pandas (netsim/table.py), small fast-engine runs serve their queues without
numba (netsim/fast/_fifo_loop.py), and scipy comes only with numba or with the
report. ``python -X importtime`` names every module a process imports, whoever
imported it, so the check needs no hook inside netsim. Not a timing test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"pandas", "scipy", "numba", "matplotlib", "pyarrow"}


def imported_modules(args: list[str], cwd: Path) -> set[str]:
    """Every module ``python -X importtime -m netsim.cli ARGS`` imported (the run must succeed)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "netsim.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {m.group(1) for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", done.stderr, re.MULTILINE)}


@pytest.mark.parametrize(("experiment", "sets", "quiet"), [
    ("quickstart.yaml", ["run.warmup=0.5s"], True),  # the fast engine, 4-worker pods: the loop kernel without numba
    ("quickstart.yaml", ["run.warmup=0.5s"], False),  # the console summary table too
    ("rolling-update.yaml", ["run.warmup=0s", "run.duration=2s"], True),  # the event engine, churn: timeline and events
])
def test_a_short_run_without_report_imports_no_heavy_library(tmp_path: Path, experiment: str, sets: list[str], quiet: bool) -> None:
    sets = [s for pair in (["--set", s] for s in ["run.duration=1s", "run.replications=2", *sets]) for s in pair]
    modules = imported_modules(["run", str(ROOT / "experiments" / experiment), "--no-report", *(["--quiet"] if quiet else []),
                                *sets, "-o", str(tmp_path / "out")], tmp_path)
    assert "netsim.experiment" in modules and "numpy" in modules  # the parse sees the run's imports
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, f"a short run imported {heavy[:8]}"
    assert (tmp_path / "out" / "summary.csv").read_text().startswith("scenario,client,service,")

"""What a process pays before (and around) a short simulation: median wall and CPU of whole commands.

    python benchmarks/startup.py [N]      # N runs of each command (default 7)

Prints, for each command, the median wall time and the median CPU time (user + system
of the child) over N runs:

- ``python -c pass``: the interpreter's own start-up, the floor;
- ``python -c "import netsim.cli"``: the command line's import;
- ``netsim run experiments/quickstart.yaml --no-report --quiet`` for a one-second,
  one-replication run (issue 12's fixed-cost target: under 0.6 s wall).

Run from anywhere; the repository this file belongs to is put first on PYTHONPATH.
``python -X importtime -m netsim.cli run ...`` shows where the time goes. A
benchmark, not a test: timings depend on the machine and on what else runs.

Python's bytecode cache counts: where ``PYTHONDONTWRITEBYTECODE`` is set and netsim's
folders hold no ``__pycache__`` yet (a fresh clone there), every process compiles
netsim's ~85 modules from source, about 0.3 s of CPU more; the line printed first says
whether the variable is set.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(command: list[str], runs: int, cwd: Path) -> tuple[float, float]:
    """Median wall and CPU seconds of ``command`` over ``runs`` runs (each must succeed)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)}
    walls, cpus = [], []
    for _ in range(runs):
        shutil.rmtree(cwd / "out", ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "import netsim.cli": [sys.executable, "-c", "import netsim.cli"],
        "netsim run quickstart 1 s --no-report": [
            sys.executable, "-m", "netsim.cli", "run", str(ROOT / "experiments" / "quickstart.yaml"), "--no-report", "--quiet",
            "--set", "run.duration=1s", "--set", "run.replications=1", "-o", "out",
        ],
    }
    print(f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")
    with tempfile.TemporaryDirectory() as folder:
        print(f"median of {runs} runs                 wall s   CPU s")
        for name, command in commands.items():
            wall, cpu = measure(command, runs, Path(folder))
            print(f"{name:38} {wall:6.3f}  {cpu:6.3f}")


if __name__ == "__main__":
    main()

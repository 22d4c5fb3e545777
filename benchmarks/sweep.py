"""How much a sweep gains from workers: ``--jobs 2`` and a running Dask cluster against one process.

    python benchmarks/sweep.py [--runs 12] [--engine events] [--repeats 3] [--dask]

The sweep is experiments/quickstart.yaml (72,000 requests a run) with ``replications`` set
to ``--runs``, so every run is the same size. Each variant is a whole ``netsim run
--no-report`` process, as a user waits for it (imports, workers starting, records and
tables written); the variants alternate, ``--repeats`` times, and the median wall time
of each is compared with serial. With ``--dask`` a 2-worker ``distributed.LocalCluster``
(one thread per worker, as a cluster of single-core machines) is started first and kept
running, and the sweep is sent to its address twice: the first sweep pays the workers'
imports of netsim, every later one finds them imported — what a user of a long-lived
cluster sees.

The speed-up cannot reach the number of workers: the parent's imports, config and
tables are serial, and each worker process imports netsim once (a spawned process
shares nothing with its parent). Runs of the fast engine last a fraction of a second,
so their sweeps are dominated by those fixed costs; ``--engine events`` gives runs long
enough for workers to pay off.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def sweep_file(folder: Path, runs: int, engine: str) -> Path:
    config = yaml.safe_load((REPO / "experiments" / "quickstart.yaml").read_text())
    config["run"].update(replications=runs, engine=engine)
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def wall(command: list[str], folder: Path) -> float:
    """Seconds for one whole ``netsim run`` into a fresh output folder (so nothing is resumed)."""
    out = Path(tempfile.mkdtemp(dir=folder))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "netsim.cli", *command, "-o", str(out / "out"), "--no-report", "--quiet"],
                   check=True, cwd=folder)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--engine", default="events", choices=["auto", "events", "fast"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dask", action="store_true", help="also send the sweep to a running 2-worker Dask cluster")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = str(sweep_file(folder, args.runs, args.engine))
        variants = {"serial (--jobs 1)": ["run", path, "--jobs", "1"], "--jobs 2": ["run", path, "--jobs", "2"]}
        cluster = None
        if args.dask:
            from distributed import LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", processes=True)
            dask = ["run", path, "--executor", "dask", "--address", cluster.scheduler_address]
            first = wall(dask, folder)  # the workers import netsim here
            print(f"dask, first sweep on a fresh cluster: {first:.2f} s")
            variants["dask, 2 workers (warm)"] = dask
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, command in variants.items():
                times[name].append(wall(command, folder))
        if cluster is not None:
            cluster.close()

    serial = statistics.median(times["serial (--jobs 1)"])
    print(f"{args.runs} runs of quickstart (72,000 requests each), engine {args.engine}, median of {args.repeats}:")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"  {name:26s} {median:7.2f} s   speed-up {serial / median:4.2f}x   (all: {', '.join(f'{s:.2f}' for s in seconds)})")


if __name__ == "__main__":
    main()

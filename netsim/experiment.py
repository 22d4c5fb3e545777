"""Run an experiment: every scenario × replication, then tables and files.

Runs are independent, so they can run anywhere; each gets its seeds from its
own :class:`~netsim.spec.RunSpec`, so results do not depend on the executor or
on the number of workers. ``jobs > 1`` uses a local process pool (spawned, so
no state leaks from the parent).
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from netsim import metrics
from netsim.config import load_experiment
from netsim.engine import simulate
from netsim.recorder import RunResult
from netsim.results import Results, versions, write_results
from netsim.spec import ExperimentSpec, RunSpec


def execute(runs: list[RunSpec], jobs: int = 1, progress: Callable[[RunResult], None] | None = None) -> list[RunResult]:
    """Simulate ``runs`` (serially, or on ``jobs`` processes) and return results in run order."""
    results: list[RunResult] = []
    if jobs <= 1 or len(runs) <= 1:
        for run in runs:
            results.append(simulate(run))
            if progress:
                progress(results[-1])
        return results
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        for result in pool.map(simulate, runs):
            results.append(result)
            if progress:
                progress(result)
    return results


def collect(spec: ExperimentSpec, results: list[RunResult], save_requests: bool, wall_time_s: float) -> Results:
    """Turn RunResults into the experiment's tables and manifest."""
    parameters = sorted({p for s in spec.scenarios for p in s.parameters})
    runs = metrics.runs_frame(results, parameters)
    requests = pd.concat([metrics.requests_frame(r) for r in results], ignore_index=True) if save_requests and results else pd.DataFrame()
    manifest = {
        "experiment": spec.name,
        "source": spec.source,
        "config_hash": spec.config_hash,
        "scenarios": {s.name: {"parameters": s.parameters, "config": s.config} for s in spec.scenarios},
        "runs": [
            {"scenario": r.scenario, "replication": r.replication, "seed": r.seed, "generated": r.generated,
             "wall_time_s": round(r.wall_time_s, 3)}
            for r in results
        ],
        "seed_derivation": "numpy.random.SeedSequence([run.seed, replication]) spawned per concern, then per entity name",
        "versions": versions(),
        "warnings": list(spec.warnings) + sorted({w for r in results for w in r.warnings}),
        "wall_time_s": round(wall_time_s, 3),
        "argv": sys.argv,
    }
    return Results(
        summary=metrics.summarize(runs, parameters),
        runs=runs,
        pods=metrics.pods_frame(results, parameters),
        requests=requests,
        manifest=manifest,
    )


def run_experiment(
    source: str | Path | Mapping[str, Any] | ExperimentSpec,
    sets: Iterable[tuple[str, Any]] = (),
    *,
    output: str | Path | None = None,
    jobs: int = 1,
    save_requests: bool = False,
    progress: Callable[[RunResult], None] | None = None,
    **overrides: Any,
) -> Results:
    """Run an experiment from a file, a mapping or a spec; write its files when ``output`` is given.

    Keyword ``overrides`` are dotted paths with ``__`` for dots, for notebooks:
    ``run_experiment("experiments/quickstart.yaml", run__duration="10s")``.
    """
    sets = [*sets, *((k.replace("__", "."), v) for k, v in overrides.items())]
    spec = source if isinstance(source, ExperimentSpec) else load_experiment(source, sets)
    started = time.perf_counter()
    results = execute(spec.runs(), jobs=jobs, progress=progress)
    out = collect(spec, results, save_requests, time.perf_counter() - started)
    if output is not None:
        write_results(out, Path(output))
    return out

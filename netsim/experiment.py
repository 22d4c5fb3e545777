"""Run an experiment: every scenario × replication, then tables, files and the report.

Runs are independent, so they can run anywhere (:mod:`netsim.executors`); each
gets its seeds from its own :class:`~netsim.spec.RunSpec`, and tables are built
in the spec's run order, so results do not depend on the executor or on the
number of workers. With an output folder, every finished run is stored as it
completes (:mod:`netsim.runstore`): rerunning reuses what is there and runs
only what is missing, and a run that raises is recorded without stopping the
others.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netsim import edges, metrics
from netsim.config import load_experiment
from netsim.executors import check_options, run_all
from netsim.recorder import RunResult
from netsim.results import Results, versions, write_results
from netsim.runstore import RunRecord, RunStore, empty_record, failed_record, fill_record, measure, requests_frame
from netsim.spec import ExperimentSpec, RunSpec, ScenarioSpec
from netsim.table import Table

if TYPE_CHECKING:
    import pandas as pd


class RunFailedWarning(UserWarning):
    """Some runs raised; their errors are in ``Results.failed`` and the tables use the runs that finished."""


KNOWN_COLUMNS = {"runs": metrics.RUN_COLUMNS, "pods": metrics.POD_COLUMNS, "latency": metrics.LATENCY_COLUMNS,
                 "timeline": metrics.TIMELINE_COLUMNS, "events": metrics.EVENT_COLUMNS, "edges": edges.EDGE_COLUMNS,
                 "operations": edges.OPERATION_COLUMNS, "breakdown": edges.BREAKDOWN_COLUMNS_OUT}


def execute(runs: list[RunSpec], jobs: int = 1, progress: Callable[[RunResult], None] | None = None) -> list[RunResult]:
    """Simulate ``runs`` (serially, or on ``jobs`` processes) and return their raw results in run order."""
    from netsim.engine import simulate

    results: list[RunResult | None] = [None] * len(runs)
    for i, value in run_all(simulate, runs, jobs=jobs):
        if isinstance(value, BaseException):
            raise value
        results[i] = value
        if progress:
            progress(value)
    return [r for r in results if r is not None]


def collect(spec: ExperimentSpec, results: list[RunResult], save_requests: bool, wall_time_s: float) -> Results:
    """Turn raw RunResults (from :func:`execute`) into the experiment's tables and manifest."""
    runs = {(r.scenario.name, r.replication): r for r in spec.runs()}
    records = []
    for result in results:
        run = runs.get((result.scenario, result.replication))
        record = empty_record(run) if run else RunRecord(result.scenario, result.replication, result.seed, "", 0.0)
        records.append(fill_record(record, result, save_requests))
    return build_results(spec, records, save_requests, wall_time_s)


def run_experiment(
    source: str | Path | Mapping[str, Any] | ExperimentSpec,
    sets: Iterable[tuple[str, Any]] = (),
    *,
    output: str | Path | None = None,
    jobs: int | None = 1,
    save_requests: bool = False,
    progress: Callable[[RunRecord], None] | None = None,
    executor: str = "local",
    address: str | None = None,
    force: bool = False,
    report: bool = True,
    **overrides: Any,
) -> Results:
    """Run an experiment from a file, a mapping or a spec; with ``output``, store runs and write files.

    Keyword ``overrides`` are dotted paths with ``__`` for dots, for notebooks:
    ``run_experiment("experiments/quickstart.yaml", run__duration="10s")``.
    ``executor`` is ``"local"`` (``jobs`` processes) or ``"dask"`` (the scheduler at
    ``address``, or a local cluster of ``jobs`` workers). With ``output``, runs already
    stored there with an unchanged config are reused unless ``force``; ``report`` also
    writes report.md, report.html and plots/. Runs that raised are listed in
    ``Results.failed``; ``progress`` is called with each run's record as it finishes.
    """
    check_options(executor, jobs, address)
    sets = [*sets, *((k.replace("__", "."), v) for k, v in overrides.items())]
    spec = source if isinstance(source, ExperimentSpec) else load_experiment(source, sets)
    started = time.perf_counter()
    runs = spec.runs()
    store = RunStore(Path(output)) if output is not None else None
    records: list[RunRecord | None] = [None] * len(runs)
    if store is not None and not force:
        for i, run in enumerate(runs):
            records[i] = store.load(run, with_requests=save_requests)
            if records[i] is not None and progress:
                progress(records[i])  # type: ignore[arg-type]
    todo = [i for i, record in enumerate(records) if record is None]
    task = partial(measure, save_requests=save_requests)
    for j, value in run_all(task, [runs[i] for i in todo], executor=executor, jobs=jobs, address=address):
        run = runs[todo[j]]
        record = value if isinstance(value, RunRecord) else failed_record(run, value)
        if store is not None:
            store.save(record)
        records[todo[j]] = record
        if progress:
            progress(record)
    out = build_results(spec, [r for r in records if r is not None], save_requests, time.perf_counter() - started, store)
    if out.failed:
        first = out.failed[0]
        warnings.warn(f"{len(out.failed)} of {len(runs)} run(s) failed (Results.failed lists them); first: "
                      f"{first['scenario']}/rep-{first['replication']}: {first['error']}", RunFailedWarning, stacklevel=2)
    if output is not None:
        write_results(out, Path(output))
        if report:
            from netsim.report import write_report

            write_report(out, Path(output))
    return out


def build_results(
    spec: ExperimentSpec, records: Sequence[RunRecord], save_requests: bool, wall_time_s: float, store: RunStore | None = None
) -> Results:
    """The experiment's tables from its run records (in run order) and its manifest."""
    ok = [r for r in records if r.ok]
    parameters = spec.parameters
    settings = {s.name: s.parameters for s in spec.scenarios}
    frames = {name: table(ok, name, KNOWN_COLUMNS.get(name, []), parameters, settings) for name in {*KNOWN_COLUMNS, *_tables(ok)}}
    runs = frames.pop("runs")
    requests = None  # pandas only for --save-requests
    if save_requests and ok:
        import pandas as pd

        pieces = [_with_parameters(requests_frame(r), parameters, settings.get(r.scenario, {})) for r in ok]
        requests = pd.concat(pieces, ignore_index=True)
    return Results(
        summary=metrics.summarize(runs, parameters),
        runs=runs,
        pods=frames.pop("pods"),
        requests=requests,
        manifest=manifest(spec, records, wall_time_s, store),
        latency=frames.pop("latency"),
        edges=edges.average(frames.pop("edges"), edges.EDGE_KEYS, parameters),
        operations=edges.average(frames.pop("operations"), edges.OPERATION_KEYS, parameters),
        breakdown=edges.average(frames.pop("breakdown"), edges.BREAKDOWN_KEYS, parameters),
        comparison=metrics.compare(runs, spec.compare_to, parameters),
        **{name: frame for name, frame in frames.items() if name in ("timeline", "events")},
    )


def table(
    records: Sequence[RunRecord], name: str, known: Sequence[str], parameters: Sequence[str], settings: Mapping[str, Mapping[str, Any]]
) -> Table:
    """One per-run table over all records: the known columns first, then any new ones, then parameters."""
    rows = [
        {**row, **{p: metrics.parameter_value(settings.get(r.scenario, {}).get(p)) for p in parameters}}
        for r in records
        for row in r.tables.get(name, [])
    ]
    seen = dict.fromkeys(k for row in rows for k in row if k not in parameters)
    columns = list(dict.fromkeys([*known, *seen, *parameters]))
    return Table(columns, rows)


def _tables(records: Sequence[RunRecord]) -> set[str]:
    return {name for r in records for name in r.tables}


def _with_parameters(frame: pd.DataFrame, parameters: Sequence[str], values: Mapping[str, Any]) -> pd.DataFrame:
    for p in parameters:
        frame[p] = metrics.parameter_value(values.get(p))
    return frame


def manifest(spec: ExperimentSpec, records: Sequence[RunRecord], wall_time_s: float, store: RunStore | None) -> dict[str, Any]:
    """What ran: the resolved config of each scenario, every run's seed, versions, failures."""
    failed = []
    for r in records:
        if not r.ok:
            entry = {"scenario": r.scenario, "replication": r.replication, "error": r.error}
            if store is not None:
                entry["error_file"] = str(store.error_file(r))
            failed.append(entry)
    return {
        "experiment": spec.name,
        "source": spec.source,
        "config_hash": spec.config_hash,
        "compare_to": spec.compare_to,
        "parameters": spec.parameters,
        "scenarios": {s.name: {"parameters": s.parameters, "config": s.config, **engine_of(s)} for s in spec.scenarios},
        "runs": [
            {"scenario": r.scenario, "replication": r.replication, "seed": r.seed, "generated": r.generated,
             "wall_time_s": round(r.wall_time_s, 3), "run_hash": r.run_hash, "reused": r.reused, "ok": r.ok}
            for r in records
        ],
        "failed_runs": failed,
        "seed_derivation": "numpy.random.SeedSequence([run.seed, replication]) spawned per concern, then per entity name",
        "versions": versions(),
        "warnings": list(spec.warnings) + sorted({w for r in records for w in r.warnings}),
        "wall_time_s": round(wall_time_s, 3),
        "argv": sys.argv,
    }


def engine_of(scenario: ScenarioSpec) -> dict[str, Any]:
    """Which engine runs ``scenario`` (``run.engine``) and, when not the fast one, why (netsim/fast/eligibility.py)."""
    from netsim.fast.eligibility import choose_engine

    engine, reason = choose_engine(scenario)
    return {"engine": engine, "engine_reason": reason}

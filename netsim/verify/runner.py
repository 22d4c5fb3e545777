"""Run the validation cases through the simulator and judge every line.

Each case is one experiment given to :func:`netsim.run_experiment` (in this
process, or spread over ``jobs`` processes, one case per task); its seed comes
from the case's name (:func:`netsim.verify.registry.case_seed`), its
replications from ``run.replications`` and the run's SeedSequence machinery.
"""

from __future__ import annotations

import copy
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from netsim.errors import ConfigError, did_you_mean
from netsim.verify.registry import Case, Entry, Size, Table, case_seed, entries
from netsim.verify.statistics import Verdict, judge

TABLE_TITLES: dict[str, str] = {"analytic": "Queueing theory", "published": "Published measurements"}


@dataclass(frozen=True)
class Row:
    """One line of a validation table: a case's figure, its reference and the simulator's answer."""

    table: Table
    key: str
    case: str
    parameters: str
    quantity: str
    reference: float
    relation: str
    replications: int
    duration_s: float
    verdict: Verdict | None = None
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed and not self.error


@dataclass
class Report:
    size: Size
    seed: int
    rows: list[Row] = field(default_factory=list)
    wall_time_s: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.passed for r in self.rows)

    def table(self, name: Table) -> list[Row]:
        return [r for r in self.rows if r.table == name]


def select(size: Size, tables: Sequence[Table], keys: Sequence[str] = ()) -> list[tuple[Entry, Case]]:
    """The cases to run: every case of ``tables`` (the quick ones for ``quick``), or exactly ``keys``."""
    every = entries()
    if keys:
        known = {e.key: e for e in every}
        for key in keys:
            if key not in known:
                raise ConfigError("--case", f"no validation case '{key}'{did_you_mean(key, known)}; cases: {', '.join(known)}")
        chosen = [known[k] for k in dict.fromkeys(keys)]
    else:
        chosen = [e for e in every if e.table in tables and (e.quick or size == "full")]
    return [(e, e.build(size)) for e in chosen]


def planned_rows(size: Size, tables: Sequence[Table], keys: Sequence[str] = ()) -> list[Row]:
    """The lines a run would produce, without simulating (the case list and the reference column)."""
    return [
        Row(e.table, e.key, c.name, c.parameters, chk.quantity, chk.reference, chk.relation, c.replications, c.duration_s)
        for e, c in select(size, tables, keys)
        for chk in c.checks
    ]


def simulate_case(task: tuple[str, Size, int]) -> tuple[list[list[float]] | None, str]:
    """Run one case's experiment (in a worker process, possibly) and read its per-replication values."""
    from netsim.experiment import RunFailedWarning, run_experiment
    from netsim.verify.registry import entry

    key, size, seed = task
    try:
        case = entry(key).build(size)
        experiment = copy.deepcopy(dict(case.experiment))
        experiment["run"] = {**experiment["run"], "seed": case_seed(key, seed)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RunFailedWarning)
            results = run_experiment(experiment, report=False)
        if results.failed:
            first = results.failed[0]
            return None, f"{len(results.failed)} run(s) failed; first: rep-{first['replication']}: {first['error']}"
        values = [np.asarray(v, dtype=float) for v in case.measure(results)]
        if len(values) != len(case.checks) or any(v.size != case.replications for v in values):
            return None, f"case '{key}' measured {[v.size for v in values]} values for {len(case.checks)} checks of {case.replications} replications"
        return [v.tolist() for v in values], ""
    except Exception as exc:  # a broken case is a failed line with its reason, not a crash of the whole table
        return None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"


def verify(
    size: Size = "full",
    tables: Sequence[Table] = ("analytic",),
    keys: Sequence[str] = (),
    *,
    jobs: int = 1,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
) -> Report:
    """Simulate the chosen cases and judge each line (the library behind ``netsim verify``)."""
    from netsim.executors import run_all

    started = time.perf_counter()
    chosen = select(size, tables, keys)
    # Longest first, so that the processes finish together.
    order = sorted(range(len(chosen)), key=lambda i: -_cost(chosen[i][1]))
    tasks = [(chosen[i][0].key, size, seed) for i in order]
    outcomes: dict[str, tuple[list[list[float]] | None, str]] = {}
    for j, value in run_all(simulate_case, tasks, jobs=jobs):
        key = tasks[j][0]
        outcomes[key] = value if isinstance(value, tuple) else (None, f"{type(value).__name__}: {value}")
        if progress:
            progress(key, time.perf_counter() - started)
    report = Report(size, seed)
    lines = {t: sum(len(c.checks) for e, c in chosen if e.table == t) for t in {e.table for e, _ in chosen}}
    for e, c in chosen:
        values, error = outcomes[e.key]
        for i, chk in enumerate(c.checks):
            verdict = None if values is None else judge(np.asarray(values[i]), chk.reference, chk.relation, lines[e.table], chk.reference_sd)
            report.rows.append(Row(e.table, e.key, c.name, c.parameters, chk.quantity, chk.reference, chk.relation,
                                   c.replications, c.duration_s, verdict, error))
    report.wall_time_s = time.perf_counter() - started
    return report


def _cost(case: Case) -> float:
    """Requests the case simulates, roughly: what its run time grows with."""
    run = case.experiment["run"]
    rate = sum(float(c["arrival"].get("rate", 0.0)) or 100.0 * c["arrival"].get("users", 1)
               for c in case.experiment["clients"])  # a closed loop: ~100 requests/s per user
    scenarios = max(1, len(case.experiment.get("scenarios", [])))
    return rate * (float(run["duration"]) + float(run["warmup"])) * int(run["replications"]) * scenarios

"""One record per finished run, kept on disk so that a sweep can stop and resume.

A run's record holds what the experiment's tables need from it — its rows of
``runs.csv``, ``pods.csv`` and ``latency.csv`` — not the raw request columns:
records are small enough to send back from a Dask worker and to keep for
thousands of runs. Under a results folder::

    runs/<scenario>/rep-<k>.json               the record (written last: its presence marks a finished run)
    runs/<scenario>/rep-<k>.requests.parquet   one row per request, only with --save-requests
    runs/<scenario>/rep-<k>.error.txt          the traceback of a run that raised

A rerun reuses a record whose *run hash* is unchanged: the hash covers the
scenario's resolved config (all but the replication count, so adding
replications keeps the old ones), the seed, the replication index, the
netsim version and a digest of netsim's own source code (a model change must not
be answered with numbers the old model made). Failed runs are never reused.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import shutil
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netsim import edges, metrics
from netsim.recorder import RunResult
from netsim.results import parquet_bytes, write_atomic

if TYPE_CHECKING:  # a worker unpickling measure() imports this module first: keep it free of the config package (and pandas)
    import pandas as pd

    from netsim.spec import RunSpec

RECORD_FORMAT = 1

PER_RUN_TABLES: dict[str, Callable[[RunResult], list[dict[str, Any]]]] = {
    "runs": metrics.run_rows,
    "pods": metrics.pod_rows,
    "latency": metrics.latency_rows,
    "timeline": metrics.timeline_rows,
    "events": metrics.event_rows,
    "edges": edges.edge_rows,
    "operations": edges.operation_rows,
    "breakdown": edges.breakdown_rows,
}
"""The tables each run contributes rows to; a new per-run table (e.g. a timeline) is one entry here."""


@dataclass
class RunRecord:
    """What one run left behind: its tables' rows, or the error it raised."""

    scenario: str
    replication: int
    seed: int
    run_hash: str
    sim_time_s: float
    """Simulated seconds (warm-up + measured): what the progress bar counts."""
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    generated: int = 0
    wall_time_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    requests: bytes | None = field(default=None, repr=False)
    """Parquet bytes of the run's requests, when they were asked for."""
    reused: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> str:
        return f"{self.scenario}/rep-{self.replication}"


@functools.cache
def code_digest() -> str:
    """A digest of every netsim source file: stored runs are reused only by the code that made them."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def run_hash(run: RunSpec) -> str:
    """What must be unchanged for a stored run to stand in for this one."""
    from netsim import __version__

    config = json.loads(json.dumps(run.scenario.config, default=str))
    config.get("run", {}).pop("replications", None)
    config.get("run", {}).pop("limits", None)  # what a run may cost does not change what it computes
    config.pop("description", None)
    payload = {"config": config, "seed": run.seed, "replication": run.replication, "netsim": __version__, "code": code_digest(),
               "format": RECORD_FORMAT}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def empty_record(run: RunSpec) -> RunRecord:
    return RunRecord(
        scenario=run.scenario.name, replication=run.replication, seed=run.seed, run_hash=run_hash(run),
        sim_time_s=run.scenario.run.warmup + run.scenario.run.duration,
    )


def measure(run: RunSpec, save_requests: bool = False) -> RunRecord:
    """Simulate ``run`` and reduce it to its record; an exception is recorded, not raised.

    This is what workers execute: a module-level function of picklable arguments.
    """
    from netsim import engine  # looked up at call time, so tests can stand in for the engine

    record = empty_record(run)
    try:
        result = engine.simulate(run, keep_calls=True, keep_requests=True) if save_requests \
            else engine.simulate(run, keep_requests=False)
        fill_record(record, result, save_requests)
    except Exception as exc:  # one bad run must not sink the sweep; KeyboardInterrupt still stops it
        record.error = f"{type(exc).__name__}: {exc}"
        record.traceback = traceback.format_exc()
    return record


def fill_record(record: RunRecord, result: RunResult, save_requests: bool) -> RunRecord:
    """Put ``result``'s table rows (and requests, when asked) into ``record``."""
    rows = {name: rows_of(result) for name, rows_of in PER_RUN_TABLES.items()}
    # Through JSON here, so that a fresh record and one read back from disk give identical tables.
    record.tables = json.loads(_dumps(rows))
    record.generated = int(result.generated)
    record.wall_time_s = float(result.wall_time_s)
    record.warnings = list(result.warnings)
    if save_requests:
        record.requests = parquet_bytes(metrics.requests_frame(result))
    return record


def failed_record(run: RunSpec, error: BaseException) -> RunRecord:
    """The record of a run whose worker failed outside :func:`measure` (a worker process that died)."""
    record = empty_record(run)
    record.error = f"{type(error).__name__}: {error}"
    record.traceback = "".join(traceback.format_exception(error))
    return record


class RunStore:
    """The ``runs/`` folder of a results folder."""

    def __init__(self, folder: Path) -> None:
        self.root = Path(folder) / "runs"

    def base(self, scenario: str, replication: int) -> Path:
        return self.root / scenario_dirname(scenario) / f"rep-{replication}"

    def load(self, run: RunSpec, with_requests: bool = False) -> RunRecord | None:
        """The stored record of ``run`` if it finished with the same run hash and is whole, else None (it is rerun)."""
        base = self.base(run.scenario.name, run.replication)
        try:
            data = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not well_formed(data) or data.get("run_hash") != run_hash(run) or data.get("error") is not None:
            return None
        if (data["scenario"], data["replication"], data["seed"]) != (run.scenario.name, run.replication, run.seed):
            return None
        requests = None
        if with_requests:
            try:
                requests = base.with_suffix(".requests.parquet").read_bytes()
            except OSError:
                return None
        data.pop("format")
        try:
            return RunRecord(**data, requests=requests, reused=True)
        except TypeError:  # written by another version of the record
            return None

    def save(self, record: RunRecord) -> Path:
        """Write ``record`` atomically; returns the path of its JSON."""
        base = self.base(record.scenario, record.replication)
        error_file = base.with_suffix(".error.txt")
        if record.ok:
            if record.requests is not None:
                write_atomic(base.with_suffix(".requests.parquet"), record.requests)
            error_file.unlink(missing_ok=True)
        else:
            write_atomic(error_file, f"{record.key}: {record.error}\n\n{record.traceback or ''}".encode())
        data = {"format": RECORD_FORMAT, **asdict(record)}
        for transient in ("requests", "reused"):
            data.pop(transient)
        path = base.with_suffix(".json")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)  # something that is not a record stands where it belongs (load() ignored it)
        write_atomic(path, (_dumps(data) + "\n").encode())
        return path

    def error_file(self, record: RunRecord) -> Path:
        return self.base(record.scenario, record.replication).with_suffix(".error.txt")


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "scenario": str, "replication": int, "seed": int, "run_hash": str, "sim_time_s": (int, float), "tables": dict,
    "generated": int, "wall_time_s": (int, float), "warnings": list,
}


def well_formed(data: Any) -> bool:
    """A stored record that can stand in for a run: this format, every field of its type, every per-run table present.

    A record can be valid JSON and still not a finished run (``tables: {}``, a table missing,
    rows that are not rows); reusing it would silently drop that run from every table.
    """
    if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
        return False
    for name, kind in _FIELD_TYPES.items():
        if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
            return False
    tables = data["tables"]
    if set(PER_RUN_TABLES) - set(tables):
        return False
    if not all(isinstance(rows, list) and all(isinstance(row, dict) for row in rows) for rows in tables.values()):
        return False
    return bool(tables["runs"])  # every finished run has at least one row per client


def requests_frame(record: RunRecord) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(record.requests)) if record.requests else pd.DataFrame()


def scenario_dirname(name: str) -> str:
    """A folder name for a scenario: its name when that is safe, else a safe form plus a short hash."""
    safe = re.sub(r"[^A-Za-z0-9._=,+-]", "_", name)[:100]
    if safe == name and not name.startswith("."):
        return name
    return f"{safe.lstrip('.')}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    """numpy scalars and other strays as plain JSON values."""
    return value.item() if hasattr(value, "item") else str(value)

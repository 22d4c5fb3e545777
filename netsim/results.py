"""Results on disk and in memory: the files of design.md §4 and the :class:`Results` a notebook gets.

``summary.csv``, ``runs.csv``, ``pods.csv``, ``latency.csv`` and
``comparison.csv`` are tidy tables (one row per observation, parameters as
columns); ``timeline.csv`` and ``events.csv`` appear when a run produces them;
``requests.parquet`` has one row per measured request when asked for;
``manifest.json`` records what ran: the resolved config, seeds, versions, wall
time and the runs that failed. Files are written to a temporary name and
renamed, so a reader never sees half a file; the tables of one run are all
written first and only then renamed into place, so a disk that fills up while
writing leaves the previous tables whole rather than a mix of old and new.

:func:`claim_output` checks, before anything is simulated, that the results folder
can be created and written, and locks it (``.lock``, ``flock``) for the duration of
one ``netsim run``: a second run into the same folder is refused instead of the last
writer silently winning.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netsim.errors import ConfigError
from netsim.table import Table, as_table

if TYPE_CHECKING:
    import pandas as pd

TABLES = ("summary", "runs", "pods")
"""Written by every run, present in every results folder."""
ALWAYS = ("latency", "comparison", "edges", "operations", "breakdown")
"""Written by every run (possibly header-only); absent only from folders of older versions."""
WHEN_PRESENT = ("timeline", "events")
"""Written only when non-empty."""


FRAMES = ("summary", "runs", "pods", "requests", "latency", "comparison", "timeline", "events", "edges", "operations",
          "breakdown")
"""The tables of :class:`Results`."""


def _frame(name: str, doc: str) -> property:
    def get(self: Results) -> pd.DataFrame:
        value = self._tables.get(name)
        if isinstance(value, Table):
            return value.to_frame()
        if value is None:
            import pandas as pd

            value = self._tables[name] = pd.DataFrame()
        return value

    def set_(self: Results, value: pd.DataFrame | Table | None) -> None:
        self._tables[name] = value

    return property(get, set_, doc=doc)


class Results:
    """An experiment's tables as DataFrames; an optional table is empty when the folder lacks it.

    A run builds its tables as :class:`netsim.table.Table` s and writes them without
    pandas; each attribute turns its table into a DataFrame when first read
    (notebooks, the report), so a ``netsim run --no-report`` never imports pandas.
    :meth:`table` gives the Table itself.
    """

    summary = _frame("summary", "One row per scenario × client × Service, over replications: summary.csv.")
    runs = _frame("runs", "The same figures per replication: runs.csv.")
    pods = _frame("pods", "Per scenario × replication × Service × pod: pods.csv.")
    requests = _frame("requests", "One row per measured request (and call), with --save-requests: requests.parquet.")
    latency = _frame("latency", "Per-run latency histograms: latency.csv.")
    comparison = _frame("comparison", "Paired differences to the reference scenario: comparison.csv.")
    timeline = _frame("timeline", "Per Service × 1 s of runs with churn: timeline.csv.")
    events = _frame("events", "Churn events and what the controllers did: events.csv.")
    edges = _frame("edges", "Calls between Services (and from clients), over replications: edges.csv (netsim/edges.py).")
    operations = _frame("operations", "Clients' entry operations, over replications: operations.csv.")
    breakdown = _frame("breakdown", "Where the mean latency goes, per client and operation: breakdown.csv.")

    def __init__(self, summary: pd.DataFrame | Table, runs: pd.DataFrame | Table, pods: pd.DataFrame | Table,
                 requests: pd.DataFrame | Table | None = None, manifest: dict[str, Any] | None = None, folder: Path | None = None,
                 **tables: pd.DataFrame | Table | None) -> None:
        unknown = set(tables) - set(FRAMES)
        if unknown:
            raise TypeError(f"Results got unexpected table(s): {', '.join(sorted(unknown))}")
        self._tables: dict[str, pd.DataFrame | Table | None] = {"summary": summary, "runs": runs, "pods": pods,
                                                               "requests": requests, **tables}
        self.manifest: dict[str, Any] = manifest if manifest is not None else {}
        self.folder = folder

    def table(self, name: str) -> Table:
        """Table ``name`` without pandas when the run built it (a DataFrame's rows otherwise; no rows when absent)."""
        value = self._tables.get(name)
        return Table([], []) if value is None else as_table(value)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The runs that raised: scenario, replication, error (and the error file, when written)."""
        return list(self.manifest.get("failed_runs", []))

    @property
    def parameters(self) -> list[str]:
        """The dotted paths the scenarios set: the parameter columns of every table."""
        return list(self.manifest.get("parameters", []))


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that the file is either the old one or the whole new one."""
    tmp = _stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(results: Results, folder: Path) -> None:
    """Write every table of ``results`` under ``folder``: all to temporary files first, then renamed together."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[Path, bytes | None] = {}  # None: remove (a table this run does not have)
    for name in (*TABLES, *ALWAYS, *WHEN_PRESENT):
        value = results._tables.get(name)
        if value is None or isinstance(value, Table):  # a run's own tables: written without pandas, the same bytes
            table = results.table(name)
            empty, write = table.empty, table.to_csv
        else:
            empty, write = value.empty, lambda frame=value: frame.to_csv(index=False, lineterminator="\n").encode()
        # an optional table this run lacks: an old one is left by an earlier run of a different config
        files[folder / f"{name}.csv"] = None if empty and name in WHEN_PRESENT else write()
    requests = results._tables.get("requests")
    files[folder / "requests.parquet"] = None if requests is None or requests.empty else parquet_bytes(results.requests)
    files[folder / "manifest.json"] = (json.dumps(results.manifest, indent=2, sort_keys=True, default=str) + "\n").encode()
    write_all_atomic(files)
    results.folder = folder


def write_all_atomic(files: dict[Path, bytes | None]) -> None:
    """Write several files so that either all are replaced or none is (``None`` removes a file).

    Every file is first written in full to a temporary name beside it; only when all
    are written are they renamed into place (renames need no space). If writing fails
    (a full disk), the temporary files are removed and the old files stay as they were.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            if data is not None:
                staged.append((_stage(path, data), path))
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, path in staged:
        os.replace(tmp, path)
    for path, data in files.items():
        if data is None:
            path.unlink(missing_ok=True)


def _stage(path: Path, data: bytes) -> str:
    """``data`` written in full (flushed to disk) to a temporary file beside ``path``; returns its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # a full disk shows here, not after the rename
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.ENOTDIR}
"""Errors of writing that are the output folder's state, not a bug: reported in one line, exit code 2."""


@contextlib.contextmanager
def claim_output(folder: Path) -> Iterator[Path]:
    """Create ``folder`` if needed, check it can be written, and hold its lock while the block runs.

    Raises:
        ConfigError: the folder cannot be created or written, or another ``netsim run`` holds it.
    """
    import fcntl

    where = str(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(where, "is a file, not a folder; choose another results folder with -o FOLDER") from None
    except NotADirectoryError:
        raise ConfigError(where, "cannot be created: a part of the path is a file; choose another results folder with -o FOLDER") from None
    except OSError as exc:
        raise ConfigError(where, f"cannot create the results folder: {exc.strerror}; choose another with -o FOLDER") from None
    lock_path = folder / ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        raise ConfigError(where, f"cannot write in the results folder: {exc.strerror}; choose another with -o FOLDER") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise ConfigError(where, f"is in use by another netsim run{f' (pid {holder})' if holder.isdigit() else ''}; "
                                     "wait for it to finish, or write elsewhere with -o FOLDER") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            os.fsync(fd)
            _stage_probe(folder)
        except OSError as exc:
            raise ConfigError(where, f"cannot write in the results folder: {exc.strerror}; free space or choose another with -o FOLDER") from None
        yield folder
    finally:
        os.close(fd)  # releases the lock; the empty-ish .lock file stays, harmless


def _stage_probe(folder: Path) -> None:
    """Write and remove a small file: a read-only or full file system shows now, not after the simulation."""
    Path(_stage(folder / ".write-check", b"netsim\n" * 512)).unlink()


def load_results(folder: str | Path) -> Results:
    """Read a results folder back into DataFrames (what notebooks and ``netsim check`` use)."""
    import pandas as pd

    folder = Path(folder)
    if not (folder / "summary.csv").is_file():
        raise ConfigError(str(folder), "not a netsim results folder (no summary.csv); run `netsim run` first")
    frames = {name: pd.read_csv(folder / f"{name}.csv") for name in TABLES}
    for name in (*ALWAYS, *WHEN_PRESENT):
        path = folder / f"{name}.csv"
        frames[name] = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    requests = pd.read_parquet(folder / "requests.parquet") if (folder / "requests.parquet").is_file() else pd.DataFrame()
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    return Results(**frames, requests=requests, manifest=manifest, folder=folder)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as Parquet file contents."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return bytes(sink.getvalue().to_pybytes())


def versions() -> dict[str, str]:
    """Versions that can change numbers: recorded with every result (pandas' from its metadata: not imported for it)."""
    from importlib.metadata import version

    import numpy
    import simpy

    from netsim import __version__

    return {
        "netsim": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "simpy": simpy.__version__,
        "pandas": version("pandas"),
    }

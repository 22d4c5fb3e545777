"""Results on disk and in memory: the files of design.md §4 and the :class:`Results` a notebook gets.

``summary.csv``, ``runs.csv``, ``pods.csv``, ``latency.csv`` and
``comparison.csv`` are tidy tables (one row per observation, parameters as
columns); ``timeline.csv`` and ``events.csv`` appear when a run produces them;
``requests.parquet`` has one row per measured request when asked for;
``manifest.json`` records what ran: the resolved config, seeds, versions, wall
time and the runs that failed. Files are written to a temporary name and
renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from netsim.errors import ConfigError

TABLES = ("summary", "runs", "pods")
"""Written by every run, present in every results folder."""
ALWAYS = ("latency", "comparison", "edges", "operations", "breakdown")
"""Written by every run (possibly header-only); absent only from folders of older versions."""
WHEN_PRESENT = ("timeline", "events")
"""Written only when non-empty."""


@dataclass
class Results:
    """An experiment's tables as DataFrames; an optional table is empty when the folder lacks it."""

    summary: pd.DataFrame
    runs: pd.DataFrame
    pods: pd.DataFrame
    requests: pd.DataFrame = field(default_factory=pd.DataFrame)
    manifest: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None
    latency: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)
    timeline: pd.DataFrame = field(default_factory=pd.DataFrame)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    edges: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Calls between Services (and from clients), over replications: edges.csv (netsim/edges.py)."""
    operations: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Clients' entry operations, over replications: operations.csv."""
    breakdown: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Where the mean latency goes, per client and operation: breakdown.csv."""

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(results: Results, folder: Path) -> None:
    """Write every table of ``results`` under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*TABLES, *ALWAYS, *WHEN_PRESENT):
        frame: pd.DataFrame = getattr(results, name)
        path = folder / f"{name}.csv"
        if name in WHEN_PRESENT and frame.empty:
            path.unlink(missing_ok=True)  # left by an earlier run of a different config
            continue
        write_atomic(path, frame.to_csv(index=False, lineterminator="\n").encode())
    if not results.requests.empty:
        write_atomic(folder / "requests.parquet", parquet_bytes(results.requests))
    else:
        (folder / "requests.parquet").unlink(missing_ok=True)
    write_atomic(folder / "manifest.json", (json.dumps(results.manifest, indent=2, sort_keys=True, default=str) + "\n").encode())
    results.folder = folder


def load_results(folder: str | Path) -> Results:
    """Read a results folder back into DataFrames (what notebooks and ``netsim check`` use)."""
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
    """Versions that can change numbers: recorded with every result."""
    import numpy
    import simpy

    from netsim import __version__

    return {
        "netsim": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "simpy": simpy.__version__,
        "pandas": pd.__version__,
    }

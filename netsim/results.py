"""Results on disk and in memory: the files of design.md §4 and the :class:`Results` a notebook gets.

``summary.csv``, ``runs.csv`` and ``pods.csv`` are tidy tables (one row per
observation, parameters as columns); ``requests.parquet`` has one row per
measured request when asked for; ``manifest.json`` records what ran: the
resolved config, seeds, versions and wall time. Files are written to a
temporary name and renamed, so a reader never sees half a file.
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


@dataclass
class Results:
    """An experiment's tables as DataFrames; ``requests`` is empty unless requests were saved."""

    summary: pd.DataFrame
    runs: pd.DataFrame
    pods: pd.DataFrame
    requests: pd.DataFrame = field(default_factory=pd.DataFrame)
    manifest: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that the file is either the old one or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(results: Results, folder: Path) -> None:
    """Write every table of ``results`` under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        frame: pd.DataFrame = getattr(results, name)
        write_atomic(folder / f"{name}.csv", frame.to_csv(index=False, lineterminator="\n").encode())
    if not results.requests.empty:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(results.requests, preserve_index=False)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        write_atomic(folder / "requests.parquet", sink.getvalue().to_pybytes())
    write_atomic(folder / "manifest.json", (json.dumps(results.manifest, indent=2, sort_keys=True, default=str) + "\n").encode())
    results.folder = folder


def load_results(folder: str | Path) -> Results:
    """Read a results folder back into DataFrames (what notebooks and ``netsim check`` use)."""
    folder = Path(folder)
    if not (folder / "summary.csv").is_file():
        raise ConfigError(str(folder), "not a netsim results folder (no summary.csv); run `netsim run` first")
    frames = {name: pd.read_csv(folder / f"{name}.csv") for name in TABLES}
    requests = pd.read_parquet(folder / "requests.parquet") if (folder / "requests.parquet").is_file() else pd.DataFrame()
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    return Results(**frames, requests=requests, manifest=manifest, folder=folder)


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

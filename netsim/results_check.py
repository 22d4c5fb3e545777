"""A results folder read for ``netsim report``, ``baseline`` and ``check``: damage refused in one line.

CI reads ``netsim check``'s exit code: 1 means "regressed", 0 "passed". A folder
that is half-written, hand-edited or truncated must give neither — a report or a
verdict built from garbage is worse than none — so every damage this module can
see ends in a :class:`~netsim.errors.ConfigError` naming the file and what is
wrong with it (exit 2): a file that does not parse, a missing column, text where
numbers belong, empty keys, tables that disagree with each other or with
``manifest.json`` (a truncated ``runs.csv`` loses rows the manifest says ran).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from netsim.errors import ConfigError
from netsim.metrics import KEYS, RUN_COLUMNS
from netsim.results import ALWAYS, TABLES, WHEN_PRESENT, Results, load_results

FIX = "the folder is damaged or was written by hand; rerun `netsim run` into it (finished runs are reused)"
LATENCY = ["latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_p999_ms"]
REQUIRED = {
    "summary": [*KEYS, "requests", "errors", "error_rate", "latency_mean_ms", "latency_p99_ms"],
    "runs": [*KEYS, "replication", "requests", "errors", "error_rate", *LATENCY],
    "pods": ["scenario", "replication", "service", "pod", "node", "zone", "requests", "share"],
}
NUMERIC_RUNS = [c for c in RUN_COLUMNS if c not in (*KEYS, "replication", "service_type")]


def load_checked(folder: str | Path) -> Results:
    """:func:`netsim.results.load_results`, then every check below; raises ConfigError naming the damage."""
    folder = Path(folder)
    try:
        results = load_results(folder)
    except ConfigError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _unreadable(folder, exc) from None
    check_results(results, folder)
    return results


def _unreadable(folder: Path, exc: BaseException) -> ConfigError:
    """Name the file that does not parse (load_results does not say which)."""
    for name in (*TABLES, *ALWAYS, *WHEN_PRESENT):
        path = folder / f"{name}.csv"
        if path.is_file():
            try:
                pd.read_csv(path)
            except Exception as inner:  # whatever the parser says, this file is the one that does not parse
                return ConfigError(str(path), f"cannot be read as a table ({_first_line(inner)}); {FIX}")
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            json.loads(manifest.read_text())
        except (ValueError, UnicodeDecodeError) as inner:
            return ConfigError(str(manifest), f"not valid JSON ({_first_line(inner)}); {FIX}")
    return ConfigError(str(folder), f"cannot be read ({_first_line(exc)}); {FIX}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def check_results(results: Results, folder: Path) -> None:
    """Columns present, keys filled, numbers numeric, summary and manifest agreeing with runs.csv."""
    if not isinstance(results.manifest, dict):
        raise ConfigError(str(folder / "manifest.json"), f"must hold a JSON object, not {type(results.manifest).__name__}; {FIX}")
    for name, columns in REQUIRED.items():
        frame: pd.DataFrame = getattr(results, name)
        missing = [c for c in columns if c not in frame]
        if missing and not (name == "pods" and frame.empty and not len(frame.columns)):
            raise ConfigError(str(folder / f"{name}.csv"), f"has no column {', '.join(repr(c) for c in missing)}; {FIX}")
        _keys_filled(frame, [c for c in columns if c in (*KEYS, "replication", "pod", "node")], folder / f"{name}.csv")
    runs = results.runs
    for column in [c for c in NUMERIC_RUNS if c in runs]:
        _numeric(runs, column, folder / "runs.csv")
    for column in ("requests", "errors", "error_rate"):
        _numeric(results.summary, column, folder / "summary.csv")
    if not runs.empty:
        replication = pd.to_numeric(runs["replication"], errors="coerce")
        if replication.isna().any() or (replication % 1 != 0).any() or (replication < 0).any():
            raise ConfigError(str(folder / "runs.csv"), f"column 'replication' must hold whole numbers ≥ 0; {FIX}")
        if runs["requests"].isna().any():
            raise ConfigError(str(folder / "runs.csv"), f"a row has no 'requests' (a truncated line?); {FIX}")
    summary_keys = set(map(tuple, results.summary[KEYS].astype(str).to_numpy())) if not results.summary.empty else set()
    run_keys = set(map(tuple, runs[KEYS].astype(str).to_numpy())) if not runs.empty else set()
    if summary_keys != run_keys:
        extra = sorted(summary_keys ^ run_keys)[0]
        raise ConfigError(str(folder), f"summary.csv and runs.csv disagree on scenario/client/service {'/'.join(extra)}; {FIX}")
    _runs_match_manifest(results, folder)


def _keys_filled(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    for column in columns:
        if column in frame and not frame.empty and frame[column].isna().any():
            row = int(frame[column].isna().to_numpy().nonzero()[0][0]) + 2  # 1-based, after the header line
            raise ConfigError(str(path), f"line {row} has no '{column}' (a truncated or edited line?); {FIX}")


def _numeric(frame: pd.DataFrame, column: str, path: Path) -> None:
    if column not in frame or frame.empty or pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
        return
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    row = int(bad.to_numpy().nonzero()[0][0]) if bad.any() else 0
    raise ConfigError(str(path), f"column '{column}' holds text ({frame[column].iloc[row]!r} on line {row + 2}), not numbers; {FIX}")


def _runs_match_manifest(results: Results, folder: Path) -> None:
    """Every run the manifest says finished has its rows in runs.csv, and no others."""
    listed = results.manifest.get("runs")
    if not isinstance(listed, list) or results.runs.empty:
        return
    try:
        expected = {(str(r["scenario"]), int(r["replication"])) for r in listed if r.get("ok", True)}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ConfigError(str(folder / "manifest.json"), f"'runs' entries need a scenario and a replication; {FIX}") from None
    present = {(str(s), int(r)) for s, r in results.runs[["scenario", "replication"]].drop_duplicates().to_numpy()}
    if expected and present != expected:
        lost = sorted(expected - present)
        what = f"has no rows of run {lost[0][0]}/rep-{lost[0][1]}" if lost else f"has rows of run(s) the manifest does not list ({sorted(present - expected)[0][0]})"
        raise ConfigError(str(folder / "runs.csv"), f"{what} (manifest.json lists {len(expected)} finished run(s), runs.csv {len(present)}); {FIX}")

"""A run's files, written without pandas, are the bytes pandas made of the same rows (the code before netsim/table.py).

The reference functions below are netsim's aggregation as it was written with pandas
(groupby, Series.mean, merge, to_csv); the run's per-run tables, read back as DataFrames,
go through them, and every CSV the run wrote must equal theirs byte for byte. The
experiment has what makes pandas' dtypes matter: a parameter one scenario does not set
(a float column with NaN), counts and figures, several replications, a comparison.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from builders import experiment

from netsim import edges, metrics
from netsim.experiment import run_experiment


def _summarize(runs: pd.DataFrame, parameters: Sequence[str]) -> pd.DataFrame:
    figures = [c for c in runs.columns if c not in {*metrics.KEYS, "service_type", "replication", *parameters}
               and pd.api.types.is_numeric_dtype(runs[c])]
    columns = [*metrics.SUMMARY_COLUMNS, *[c for c in figures if c not in metrics.SUMMARY_COLUMNS], *parameters]
    out = []
    for key, group in runs.groupby(metrics.KEYS, sort=False):
        row: dict[str, Any] = dict(zip(metrics.KEYS, key, strict=True))
        row["service_type"] = group["service_type"].iloc[0]
        row["replications"] = int(group["replication"].nunique())
        for column in figures:
            values = group[column]
            row[column] = int(values.sum()) if pd.api.types.is_integer_dtype(runs[column]) else float(values.astype(float).mean())
        for column, ci in {"latency_mean_ms": "latency_mean_ms_ci95", "latency_p99_ms": "latency_p99_ms_ci95",
                           "error_rate": "error_rate_ci95"}.items():
            row[ci] = metrics.ci95_halfwidth(group[column].to_numpy()) if column in group else np.nan
        for p in parameters:
            row[p] = group[p].iloc[0]
        out.append(row)
    return pd.DataFrame(out, columns=columns)


def _compare(runs: pd.DataFrame, reference: str, parameters: Sequence[str]) -> pd.DataFrame:
    figures = [c for c in runs.columns if c not in {*metrics.KEYS, "service_type", "replication", *parameters}
               and pd.api.types.is_numeric_dtype(runs[c]) and not pd.api.types.is_integer_dtype(runs[c])]
    base = runs[runs["scenario"] == reference]
    out = []
    for (scenario, client, service), group in runs.groupby(metrics.KEYS, sort=False):
        if scenario == reference:
            continue
        ref = base[(base["client"] == client) & (base["service"] == service)]
        pairs = group.merge(ref, on="replication", suffixes=("", "_ref"))
        for metric in figures:
            x, y = pairs[metric].to_numpy(dtype=float), pairs[f"{metric}_ref"].to_numpy(dtype=float)
            keep = ~(np.isnan(x) | np.isnan(y))
            d = x[keep] - y[keep]
            mean_d = float(d.mean()) if d.size else np.nan
            ci = metrics.ci95_halfwidth(d)
            ref_mean = float(y[keep].mean()) if d.size else np.nan
            out.append({
                "scenario": scenario, "reference": reference, "client": client, "service": service, "metric": metric,
                "reference_mean": ref_mean, "mean": float(x[keep].mean()) if d.size else np.nan, "difference": mean_d,
                "difference_ci95": ci, "relative_difference": mean_d / ref_mean if ref_mean else np.nan,
                "significant": bool(d.size >= 2 and not np.isnan(ci) and abs(mean_d) > ci), "pairs": int(d.size),
                **{p: group[p].iloc[0] for p in parameters},
            })
    return pd.DataFrame(out, columns=[*metrics.COMPARISON_COLUMNS, *parameters])


def _average(frame: pd.DataFrame, keys: Sequence[str], parameters: Sequence[str]) -> pd.DataFrame:
    keys = [*keys, *[p for p in parameters if p not in keys]]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "replications"])
    figures = [c for c in frame.columns if c not in (*keys, "replication") and pd.api.types.is_numeric_dtype(frame[c])]
    out = []
    for key, group in frame.groupby(list(keys), sort=False, dropna=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        row["replications"] = int(group["replication"].nunique())
        for column in figures:
            values = group[column]
            row[column] = int(values.sum()) if pd.api.types.is_integer_dtype(values) else float(values.astype(float).mean())
        out.append(row)
    return pd.DataFrame(out)


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode()


def test_a_runs_files_are_the_bytes_pandas_made(tmp_path: Path) -> None:
    config = experiment(replicas=3, concurrency=2, rate=900.0, mean_service=0.002, duration=1.0, warmup=0.2, replications=3,
                        nodes={"count": 3, "zones": ["a", "b", "c"]}, network={"same_node": "20us", "same_zone": "100us",
                                                                                "cross_zone": "400us", "internet": "5ms"})
    config["scenarios"] = [{"name": "base", "set": {}},
                           {"name": "more-workers", "set": {"workloads.default.concurrency": 4, "clients.load.arrival.rate": 1200}}]
    results = run_experiment(config, output=tmp_path, report=False)
    parameters = results.parameters
    assert parameters and results.runs[parameters[0]].isna().any()  # a parameter one scenario does not set: NaN in a float column
    runs = pd.DataFrame(results.table("runs").rows, columns=results.table("runs").columns)
    expected = {
        "runs": runs, "pods": results.pods, "latency": results.latency,
        "summary": _summarize(runs, parameters),
        "comparison": _compare(runs, results.manifest["compare_to"], parameters),
        "edges": _average(_per_run(results, "edges"), edges.EDGE_KEYS, parameters),
        "operations": _average(_per_run(results, "operations"), edges.OPERATION_KEYS, parameters),
        "breakdown": _average(_per_run(results, "breakdown"), edges.BREAKDOWN_KEYS, parameters),
    }
    assert not expected["comparison"].empty and not expected["edges"].empty
    for name, frame in expected.items():
        assert (tmp_path / f"{name}.csv").read_bytes() == _csv(frame), name
        assert _csv(getattr(results, name)) == _csv(frame), name  # the DataFrame a notebook gets writes the same


def _per_run(results: Any, name: str) -> pd.DataFrame:
    """The per-run rows of a table (as the run records hold them), with parameter columns, as a DataFrame."""
    from netsim.runstore import RunStore

    store = RunStore(results.folder)
    parameters = results.parameters
    settings = {s: v["parameters"] for s, v in results.manifest["scenarios"].items()}
    rows = []
    for run in results.manifest["runs"]:
        record = json.loads(store.base(run["scenario"], run["replication"]).with_suffix(".json").read_text())
        rows += [{**row, **{p: metrics.parameter_value(settings[run["scenario"]].get(p)) for p in parameters}}
                 for row in record["tables"][name]]
    known = {"edges": edges.EDGE_COLUMNS, "operations": edges.OPERATION_COLUMNS, "breakdown": edges.BREAKDOWN_COLUMNS_OUT}[name]
    seen = dict.fromkeys(k for row in rows for k in row if k not in parameters)
    return pd.DataFrame(rows, columns=list(dict.fromkeys([*known, *seen, *parameters])))

"""RunResults to tidy DataFrames: per-run figures, per-pod load, and the summary across replications.

Definitions (design.md §4):

- latency is what the client saw, issue to response, in milliseconds; only
  requests that ended ``OK`` enter latency figures; errors count in
  ``errors`` and ``error_rate``.
- only requests issued inside the measurement window count.
- ``cross_node_fraction``: share of served requests whose pod ran on another
  node than the one where the request entered the data plane; likewise zones.
- pod load figures use requests served per endpoint pod of the Service:
  ``pod_load_cv`` (std/mean), ``pod_load_max_mean`` (max/mean), ``jain_index``
  ((Σx)² / (n·Σx²)).
- in ``summary``, counts (``requests``, ``errors``) are totals over
  replications; every other figure is the mean of the per-replication values,
  and ``*_ci95`` is the Student-t 95 % half-width of that mean (NaN with one
  replication).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from netsim.model.request import Outcome
from netsim.recorder import RunResult

KEYS = ["scenario", "client", "service"]
RUN_COLUMNS = [
    "scenario", "replication", "client", "service", "service_type", "requests", "errors", "error_rate",
    "throughput_rps", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_p999_ms",
    "pod_load_cv", "pod_load_max_mean", "jain_index", "cross_node_fraction", "cross_zone_fraction",
    *[o.column for o in Outcome if o is not Outcome.OK],
]
SUMMARY_COLUMNS = [
    "scenario", "client", "service", "service_type", "replications", *RUN_COLUMNS[5:19],
    "latency_mean_ms_ci95", "latency_p99_ms_ci95", "error_rate_ci95",
]
POD_COLUMNS = ["scenario", "replication", "service", "pod", "node", "zone", "requests", "share"]
_TOTALS = ["requests", "errors"]
_CI = {"latency_mean_ms": "latency_mean_ms_ci95", "latency_p99_ms": "latency_p99_ms_ci95", "error_rate": "error_rate_ci95"}


def load_figures(served_per_pod: np.ndarray) -> dict[str, float]:
    """Spread of served requests over a Service's pods (zeros included: an idle pod is imbalance)."""
    x = np.asarray(served_per_pod, dtype=float)
    if x.size == 0 or x.sum() == 0:
        return {"pod_load_cv": np.nan, "pod_load_max_mean": np.nan, "jain_index": np.nan}
    mean = x.mean()
    return {
        "pod_load_cv": float(x.std() / mean),
        "pod_load_max_mean": float(x.max() / mean),
        "jain_index": float(x.sum() ** 2 / (x.size * (x**2).sum())),
    }


def latency_figures(latency_s: np.ndarray) -> dict[str, float]:
    if latency_s.size == 0:
        return {k: np.nan for k in ("latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_p999_ms")}
    ms = latency_s * 1000.0
    p50, p90, p99, p999 = np.percentile(ms, [50, 90, 99, 99.9])
    return {
        "latency_mean_ms": float(ms.mean()),
        "latency_p50_ms": float(p50),
        "latency_p90_ms": float(p90),
        "latency_p99_ms": float(p99),
        "latency_p999_ms": float(p999),
    }


def run_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per (client, service) of one run: the figures of ``runs.csv``."""
    req = result.requests
    measured = result.measured()
    duration = result.window[1] - result.window[0]
    pod_node = np.array([_node_index(result, p["node"]) for p in result.pods] + [-1], dtype=np.int32)
    node_zone = np.array([n["zone"] for n in result.nodes] + [""], dtype=object)
    rows = []
    for c, client in enumerate(result.clients):
        for s, service in enumerate(result.services):
            mask = measured & (req["client"] == c) & (req["service"] == s)
            if not mask.any() and not _targets(result, c, s):
                continue
            outcome = req["outcome"][mask]
            ok = outcome == Outcome.OK
            n = int(mask.sum())
            errors = int((~ok).sum())
            pods = req["pod"][mask][ok]
            entry = req["entry_node"][mask][ok]
            served_nodes = pod_node[pods]
            endpoints = np.asarray(service["endpoints"], dtype=np.int64)
            served = np.bincount(pods, minlength=len(result.pods))[endpoints] if endpoints.size else np.zeros(0)
            row = {
                "scenario": result.scenario, "replication": result.replication, "client": client,
                "service": service["name"], "service_type": service["type"], "requests": n, "errors": errors,
                "error_rate": errors / n if n else np.nan, "throughput_rps": int(ok.sum()) / duration,
                **latency_figures(req["latency_s"][mask][ok]),
                **load_figures(served),
                "cross_node_fraction": float(np.mean(served_nodes != entry)) if pods.size else np.nan,
                "cross_zone_fraction": float(np.mean(node_zone[served_nodes] != node_zone[entry])) if pods.size else np.nan,
            }
            for kind in Outcome:
                if kind is not Outcome.OK:
                    row[kind.column] = int((outcome == kind).sum())
            rows.append(row)
    return rows


def _targets(result: RunResult, client: int, service: int) -> bool:
    return bool(((result.requests["client"] == client) & (result.requests["service"] == service)).any())


def _node_index(result: RunResult, name: str) -> int:
    return next(i for i, n in enumerate(result.nodes) if n["name"] == name)


def pod_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per (service, endpoint pod) of one run: the figures of ``pods.csv``."""
    req = result.requests
    measured = result.measured() & (req["outcome"] == Outcome.OK)
    rows = []
    for s, service in enumerate(result.services):
        mask = measured & (req["service"] == s)
        served = np.bincount(req["pod"][mask], minlength=len(result.pods))
        total = int(mask.sum())
        for p in service["endpoints"]:
            pod = result.pods[p]
            rows.append({
                "scenario": result.scenario, "replication": result.replication, "service": service["name"],
                "pod": pod["name"], "node": pod["node"], "zone": pod["zone"], "requests": int(served[p]),
                "share": served[p] / total if total else np.nan,
            })
    return rows


def ci95_halfwidth(values: Sequence[float] | np.ndarray) -> float:
    """Student-t 95 % half-width of the mean of independent replications (NaN below two)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))


def runs_frame(results: Iterable[RunResult], parameters: Sequence[str] = ()) -> pd.DataFrame:
    rows = []
    for result in results:
        for row in run_rows(result):
            rows.append({**row, **{p: _cell(result.parameters.get(p)) for p in parameters}})
    return pd.DataFrame(rows, columns=[*RUN_COLUMNS, *parameters])


def pods_frame(results: Iterable[RunResult], parameters: Sequence[str] = ()) -> pd.DataFrame:
    rows = []
    for result in results:
        for row in pod_rows(result):
            rows.append({**row, **{p: _cell(result.parameters.get(p)) for p in parameters}})
    return pd.DataFrame(rows, columns=[*POD_COLUMNS, *parameters])


def summarize(runs: pd.DataFrame, parameters: Sequence[str] = ()) -> pd.DataFrame:
    """Aggregate ``runs`` over replications: totals, means and 95 % half-widths."""
    if runs.empty:
        return pd.DataFrame(columns=[*SUMMARY_COLUMNS, *parameters])
    out = []
    for key, group in runs.groupby(KEYS, sort=False):
        row: dict[str, Any] = dict(zip(KEYS, key, strict=True))
        row["service_type"] = group["service_type"].iloc[0]
        row["replications"] = int(group["replication"].nunique())
        for column in SUMMARY_COLUMNS[5:19]:
            values = group[column].astype(float)
            row[column] = int(values.sum()) if column in _TOTALS else float(values.mean())
        for column, ci in _CI.items():
            row[ci] = ci95_halfwidth(group[column].to_numpy())
        for p in parameters:
            row[p] = group[p].iloc[0]
        out.append(row)
    return pd.DataFrame(out, columns=[*SUMMARY_COLUMNS, *parameters])


def requests_frame(result: RunResult) -> pd.DataFrame:
    """The measured requests of one run, one row each, with names instead of indices."""
    req = result.requests
    mask = result.measured()
    pods = np.array([p["name"] for p in result.pods] + [""], dtype=object)
    nodes = np.array([n["name"] for n in result.nodes], dtype=object)
    frame = pd.DataFrame({
        "scenario": result.scenario,
        "replication": result.replication,
        "client": np.array(result.clients, dtype=object)[req["client"][mask]],
        "service": np.array([s["name"] for s in result.services], dtype=object)[req["service"][mask]],
        "t_issue_s": req["t_issue_s"][mask],
        "latency_ms": req["latency_s"][mask] * 1000.0,
        "outcome": np.array([o.name.lower() for o in Outcome], dtype=object)[req["outcome"][mask]],
        "pod": pods[req["pod"][mask]],
        "entry_node": nodes[req["entry_node"][mask]],
        "dns_queries": req["dns_queries"][mask],
    })
    return frame


def _cell(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)

"""An application's figures: its call graph's edges, its entry operations, and where the time goes.

Per run (rows of ``edges``, ``operations`` and ``breakdown`` in each run record),
then over replications (``edges.csv``, ``operations.csv``, ``breakdown.csv``):

- an **edge** is a caller (a client, ``caller_kind: client``, or a Deployment,
  ``caller_kind: Deployment``), a callee Service and the callee's operation:
  ``calls`` (measured: their entry request was issued in the window),
  ``calls_per_request`` (÷ the scenario's measured entry requests), ``errors``
  (any outcome but OK) and ``errors_<kind>``, the latency of OK calls (mean, and
  p50/p99 from a log histogram, within ±0.5 %, netsim/histogram.py),
  ``cross_node_fraction`` and ``cross_zone_fraction`` of the OK calls a pod served,
  and ``retries``;
- an **operation** row is a client's entry operation: its requests, errors and
  end-to-end latency (exact percentiles of the recorded requests);
- a **breakdown** row splits a client operation's mean end-to-end latency (OK
  requests) along its critical path into components (netsim/model/operations.py
  COMPONENTS) that add up to ``latency_mean_ms``: one row per component, tidy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from netsim import histogram
from netsim.model.operations import COMPONENTS
from netsim.model.request import Outcome
from netsim.recorder import RunResult

EDGE_KEYS = ["scenario", "caller", "caller_kind", "service", "operation"]
EDGE_COLUMNS = [
    *EDGE_KEYS[:1], "replication", *EDGE_KEYS[1:], "calls", "calls_per_request", "errors", "error_rate",
    "latency_mean_ms", "latency_p50_ms", "latency_p99_ms", "cross_node_fraction", "cross_zone_fraction", "retries",
    *[o.column for o in Outcome if o is not Outcome.OK],
]
OPERATION_KEYS = ["scenario", "client", "service", "operation"]
OPERATION_COLUMNS = [
    "scenario", "replication", "client", "service", "operation", "requests", "errors", "error_rate", "throughput_rps",
    "latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
]
BREAKDOWN_KEYS = ["scenario", "client", "operation", "component"]
BREAKDOWN_COLUMNS_OUT = ["scenario", "replication", "client", "operation", "component", "ms", "share", "latency_mean_ms"]


def _zone_of_node(result: RunResult) -> np.ndarray:
    zones = sorted({n["zone"] for n in result.nodes})
    return np.asarray([zones.index(n["zone"]) for n in result.nodes] + [-1], dtype=np.int64)


def _pod_node(result: RunResult) -> np.ndarray:
    names = [n["name"] for n in result.nodes]
    return np.asarray([names.index(p["node"]) if p["node"] in names else -1 for p in result.pods] + [-1], dtype=np.int64)


def entry_requests(result: RunResult) -> int:
    """Measured entry requests of the run (the denominator of ``calls_per_request``)."""
    return int(result.measured().sum())


def edge_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per edge of one run: clients' requests to their Services, then calls between Services."""
    req = result.requests
    measured = result.measured()
    total = entry_requests(result)
    zone = _zone_of_node(result)
    pod_node = _pod_node(result)
    base = {"scenario": result.scenario, "replication": result.replication}
    rows = []
    ops = req["operation"]
    for c, client in enumerate(result.clients):
        for s, service in enumerate(result.services):
            mine = measured & (req["client"] == c) & (req["service"] == s)
            for op in np.unique(ops[mine]).tolist():
                mask = mine & (ops == op)
                outcome = req["outcome"][mask]
                ok = outcome == Outcome.OK
                latency = req["latency_s"][mask][ok]
                pods = req["pod"][mask][ok]
                served = pods >= 0
                entry = req["entry_node"][mask][ok][served]
                nodes = pod_node[pods[served]]
                rows.append({
                    **base, "caller": client, "caller_kind": "client", "service": service["name"],
                    "operation": result.operation_names[op],
                    **_figures(int(mask.sum()), total, np.bincount(outcome, minlength=len(Outcome)), latency.sum(),
                               histogram.counts(latency), int(served.sum()), int((nodes != entry).sum()),
                               int((zone[nodes] != zone[entry]).sum()),
                               sum(1 for t, k in result.retries if k == c and result.window[0] <= t < result.window[1])),
                })
    calls = result.calls
    for e, edge in enumerate(result.edges):
        rows.append({
            **base, "caller": edge["caller"], "caller_kind": edge["caller_kind"], "service": edge["service"],
            "operation": edge["operation"],
            **_figures(int(calls["calls"][e]), total, np.asarray(calls["outcomes"][e]), float(calls["latency_sum_s"][e]),
                       np.asarray(calls["histogram"][e]), int(calls["served"][e]), int(calls["cross_node"][e]),
                       int(calls["cross_zone"][e]), int(calls["retries"][e])),
        })
    return rows


def _figures(n: int, entry: int, outcomes: np.ndarray, latency_sum: float, hist: np.ndarray, served: int, cross_node: int,
             cross_zone: int, retries: int) -> dict[str, Any]:
    ok = int(outcomes[Outcome.OK])
    p50, p99 = histogram.quantiles(hist, [0.5, 0.99]) * 1000.0 if ok else (np.nan, np.nan)
    row = {
        "calls": n, "calls_per_request": n / entry if entry else np.nan, "errors": n - ok,
        "error_rate": (n - ok) / n if n else np.nan, "latency_mean_ms": latency_sum / ok * 1000.0 if ok else np.nan,
        "latency_p50_ms": float(p50), "latency_p99_ms": float(p99),
        "cross_node_fraction": cross_node / served if served else np.nan,
        "cross_zone_fraction": cross_zone / served if served else np.nan, "retries": retries,
    }
    for kind in Outcome:
        if kind is not Outcome.OK:
            row[kind.column] = int(outcomes[kind]) if kind < len(outcomes) else 0
    return row


def operation_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per client × Service × entry operation of one run: its requests and end-to-end latency."""
    req = result.requests
    measured = result.measured()
    duration = result.window[1] - result.window[0]
    rows = []
    for c, client in enumerate(result.clients):
        for s, service in enumerate(result.services):
            mine = measured & (req["client"] == c) & (req["service"] == s)
            for op in np.unique(req["operation"][mine]).tolist():
                mask = mine & (req["operation"] == op)
                ok = req["outcome"][mask] == Outcome.OK
                n = int(mask.sum())
                ms = req["latency_s"][mask][ok] * 1000.0
                p50, p90, p99 = np.percentile(ms, [50, 90, 99]) if ms.size else (np.nan,) * 3
                rows.append({
                    "scenario": result.scenario, "replication": result.replication, "client": client, "service": service["name"],
                    "operation": result.operation_names[op], "requests": n, "errors": n - int(ok.sum()),
                    "error_rate": (n - int(ok.sum())) / n if n else np.nan, "throughput_rps": int(ok.sum()) / duration,
                    "latency_mean_ms": float(ms.mean()) if ms.size else np.nan, "latency_p50_ms": float(p50),
                    "latency_p90_ms": float(p90), "latency_p99_ms": float(p99),
                })
    return rows


def breakdown_sums(result: RunResult, client: int) -> dict[int, np.ndarray]:
    """Per operation of one client: [OK measured requests, Σ latency, Σ each component] in seconds.

    Requests whose latency is network + queueing + work only are summed from their
    records (queueing = start − arrival at the pod, work = answer − start, the network
    the rest); the others were summed as they ended (``RunResult.breakdown``).
    """
    req = result.requests
    ok = result.measured() & (req["outcome"] == Outcome.OK) & (req["client"] == client)
    plain = ok & (req["queueing_s"] >= 0)
    out: dict[int, np.ndarray] = {}
    for op, sums in (result.breakdown[client] if client < len(result.breakdown) else {}).items():
        out[int(op)] = np.asarray(sums, dtype=float)
    ops = req["operation"][plain]
    for op in np.unique(ops).tolist():
        mask = plain & (req["operation"] == op)
        latency = req["latency_s"][mask]
        queue = req["queueing_s"][mask]
        work = req["work_s"][mask]
        sums = out.setdefault(int(op), np.zeros(2 + len(COMPONENTS)))
        sums[0] += mask.sum()
        sums[1] += latency.sum()
        sums[2 + COMPONENTS.index("network")] += (latency - queue - work).sum()
        sums[2 + COMPONENTS.index("queueing")] += queue.sum()
        sums[2 + COMPONENTS.index("work")] += work.sum()
    return out


def breakdown_rows(result: RunResult) -> list[dict[str, Any]]:
    """Per client and entry operation of one run: the mean of each latency component over its OK requests."""
    rows = []
    for c, client in enumerate(result.clients):
        for op, sums in sorted(breakdown_sums(result, c).items()):
            n = sums[0]
            if not n:
                continue
            mean = sums[1] / n * 1000.0
            for i, name in enumerate(COMPONENTS):
                ms = sums[2 + i] / n * 1000.0
                rows.append({
                    "scenario": result.scenario, "replication": result.replication, "client": client,
                    "operation": result.operation_names[int(op)], "component": name, "ms": float(ms),
                    "share": float(ms / mean) if mean else np.nan, "latency_mean_ms": float(mean),
                })
    return rows


def average(frame: pd.DataFrame, keys: Sequence[str], parameters: Sequence[str] = ()) -> pd.DataFrame:
    """Over replications: integer columns (counts) summed, the other figures averaged; ``replications`` added."""
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

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
  end-to-end latency (percentiles from the run's log histograms, within ±0.5 %);
- a **breakdown** row splits a client operation's mean end-to-end latency (OK
  requests) along its critical path into components (netsim/model/operations.py
  COMPONENTS) that add up to ``latency_mean_ms``: one row per component, tidy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from netsim import histogram
from netsim.model.operations import COMPONENTS
from netsim.model.request import Outcome
from netsim.recorder import RunResult
from netsim.table import INT, Table, as_table, group_rows, is_missing, nanmean
from netsim.tally import TallyView

if TYPE_CHECKING:
    import pandas as pd

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


def entry_requests(result: RunResult) -> int:
    """Measured entry requests of the run (the denominator of ``calls_per_request``)."""
    return int(TallyView(result.figures()).scalars["measured"].sum())


def edge_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per edge of one run: clients' requests to their Services, then calls between Services."""
    view = TallyView(result.figures())
    total = entry_requests(result)
    base = {"scenario": result.scenario, "replication": result.replication}
    rows = []
    for c, s in view.pairs():
        client, service = result.clients[c], result.services[s]
        retries = sum(1 for t, k in result.retries if k == c and result.window[0] <= t < result.window[1])
        for g in view.groups(c, s):
            n = int(view.scalars["measured"][g])
            if not n:
                continue
            rows.append({
                **base, "caller": client, "caller_kind": "client", "service": service["name"],
                "operation": result.operation_names[int(view.operation[g])],
                **_figures(n, total, view.total([g], "outcomes"), view.total([g], "ok_latency_s"),
                           view.total([g], "histogram"), int(view.scalars["served"][g]), int(view.scalars["cross_node"][g]),
                           int(view.scalars["cross_zone"][g]), retries),
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
    view = TallyView(result.figures())
    duration = result.window[1] - result.window[0]
    rows = []
    for c, s in view.pairs():
        for g in view.groups(c, s):
            n = int(view.scalars["measured"][g])
            if not n:
                continue
            ok = int(view.figures["outcomes"][g][Outcome.OK])
            hist = np.asarray(view.figures["histogram"][g])
            p50, p90, p99 = histogram.quantiles(hist, [0.5, 0.9, 0.99]) * 1000.0 if ok else (np.nan,) * 3
            rows.append({
                "scenario": result.scenario, "replication": result.replication, "client": result.clients[c],
                "service": result.services[s]["name"], "operation": result.operation_names[int(view.operation[g])],
                "requests": n, "errors": n - ok, "error_rate": (n - ok) / n, "throughput_rps": ok / duration,
                "latency_mean_ms": view.scalars["ok_latency_s"][g] / ok * 1000.0 if ok else np.nan,
                "latency_p50_ms": float(p50), "latency_p90_ms": float(p90), "latency_p99_ms": float(p99),
            })
    return rows


def breakdown_sums(result: RunResult, client: int, view: TallyView | None = None) -> dict[int, np.ndarray]:
    """Per operation of one client: [OK measured requests, Σ latency, Σ each component] in seconds.

    Requests whose latency is network + queueing + work only were summed by the tally
    as they ended (queueing = start − arrival at the pod, work = answer − start, the
    network the rest); the others by their client (``RunResult.breakdown``).
    """
    view = view or TallyView(result.figures())
    out: dict[int, np.ndarray] = {}
    for op, sums in (result.breakdown[client] if client < len(result.breakdown) else {}).items():
        out[int(op)] = np.asarray(sums, dtype=float)
    sc = view.scalars
    for g in view.of_client(client):
        if not sc["plain"][g]:
            continue
        sums = out.setdefault(int(view.operation[g]), np.zeros(2 + len(COMPONENTS)))
        latency, queue, work = sc["plain_latency_s"][g], sc["plain_queueing_s"][g], sc["plain_work_s"][g]
        sums[0] += sc["plain"][g]
        sums[1] += latency
        sums[2 + COMPONENTS.index("network")] += latency - queue - work
        sums[2 + COMPONENTS.index("queueing")] += queue
        sums[2 + COMPONENTS.index("work")] += work
    return out


def breakdown_rows(result: RunResult) -> list[dict[str, Any]]:
    """Per client and entry operation of one run: the mean of each latency component over its OK requests."""
    rows = []
    view = TallyView(result.figures())
    for c, client in enumerate(result.clients):
        for op, sums in sorted(breakdown_sums(result, c, view).items()):
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


def average(frame: Table | pd.DataFrame, keys: Sequence[str], parameters: Sequence[str] = ()) -> Table | pd.DataFrame:
    """Over replications: integer columns (counts) summed, the other figures averaged; ``replications`` added.

    Groups in order of first appearance, missing keys grouped together (``groupby(sort=False, dropna=False)``).
    A Table gives a Table (a run's tables), a DataFrame a DataFrame.
    """
    table = as_table(frame)
    keys = [*keys, *[p for p in parameters if p not in keys]]
    if table.empty:
        out = Table([*keys, "replications"], [])
        return out if isinstance(frame, Table) else out.to_frame()
    figures = [c for c in table.columns if c not in (*keys, "replication") and table.is_numeric(c)]
    counts = {c for c in figures if table.kind(c) == INT}
    rows = []
    for group in group_rows(table.rows, keys, dropna=False).values():
        row = {k: table.cell(group[0], k) for k in keys}
        row["replications"] = len({r.get("replication") for r in group if not is_missing(r.get("replication"))})
        for column in figures:
            values = [r.get(column) for r in group]
            row[column] = int(sum(values)) if column in counts else nanmean(values)
        rows.append(row)
    out = Table(list(rows[0]), rows)
    return out if isinstance(frame, Table) else out.to_frame()

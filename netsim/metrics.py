"""RunResults to tidy DataFrames: per-run figures, per-pod load, and the summary across replications.

Definitions (design.md §4):

- latency is what the client saw, issue to response, in milliseconds; only
  requests that ended ``OK`` enter latency figures; errors count in
  ``errors`` and ``error_rate``.
- only requests issued inside the measurement window count.
- ``hops_mean``: links an OK request crossed to reach its pod: the internet
  (external clients), LB → node, and one more when the pod runs on another
  node than the entry node; ``client_ip_preserved_fraction``: share of OK
  requests whose pod saw the client's own IP (no SNAT, no proxying LB);
  ``dns_queries_per_request``: DNS queries sent per request (cache hits 0;
  search-path expansion and AAAA make a lookup cost more than one).
- ``cross_node_fraction``: share of served requests whose pod ran on another
  node than the one where the request entered the data plane; likewise zones.
- pod load figures use requests served per endpoint pod of the Service:
  ``pod_load_cv`` (std/mean), ``pod_load_max_mean`` (max/mean), ``jain_index``
  ((Σx)² / (n·Σx²)).
- in ``summary``, counts (``requests``, ``errors``) are totals over
  replications; every other figure is the mean of the per-replication values,
  and ``*_ci95`` is the Student-t 95 % half-width of that mean (NaN with one
  replication). Any numeric column a later version adds to ``runs.csv`` is
  summarized the same way: integer columns are counts and are summed, other
  numeric columns are averaged.
- ``latency.csv`` is a compact per-run latency histogram (counts of OK
  requests per log-spaced bin, ``le_ms`` its upper edge, 40 bins a decade from
  1 µs to 1000 s): latency CDFs without keeping every request.
- ``comparison.csv`` holds, per scenario, client, service and averaged metric,
  the paired difference to the reference scenario: replications with the same
  index share their seeds (common random numbers), so the difference of each
  pair is one observation, and ``difference_ci95`` is the Student-t half-width
  of their mean; ``significant`` when that interval excludes zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from netsim.model.request import Outcome
from netsim.recorder import RunResult
from netsim.table import INT, Table, as_table, group_rows, is_missing, nanmean
from netsim.tally import LATENCY_EDGES_MS, TallyView

if TYPE_CHECKING:  # pandas only for DataFrame callers (notebooks, the report): a run's tables are netsim.table.Tables
    import pandas as pd

KEYS = ["scenario", "client", "service"]
RUN_COLUMNS = [
    "scenario", "replication", "client", "service", "service_type", "requests", "errors", "error_rate",
    "throughput_rps", "latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_p999_ms",
    "pod_load_cv", "pod_load_max_mean", "jain_index", "cross_node_fraction", "cross_zone_fraction",
    "hops_mean", "client_ip_preserved_fraction", "dns_queries_per_request",
    *[o.column for o in Outcome if o is not Outcome.OK],
    "cross_zone_gb", "cross_zone_cost_usd",
    "retries", "programming_latency_p50_s", "programming_latency_p99_s",
]
SUMMARY_COLUMNS = [
    "scenario", "client", "service", "service_type", "replications", *RUN_COLUMNS[5:19],
    "latency_mean_ms_ci95", "latency_p99_ms_ci95", "error_rate_ci95",
]
POD_COLUMNS = ["scenario", "replication", "service", "pod", "node", "zone", "requests", "share", "connections",
               "deployment", "workers", "utilization"]
LATENCY_COLUMNS = ["scenario", "replication", "client", "service", "le_ms", "count"]
COMPARISON_COLUMNS = [
    "scenario", "reference", "client", "service", "metric", "reference_mean", "mean", "difference",
    "difference_ci95", "relative_difference", "significant", "pairs",
]
TIMELINE_COLUMNS = [
    "scenario", "replication", "service", "t_s", "requests", "ok",
    *[o.column for o in Outcome if o is not Outcome.OK],
    "retries", "latency_p50_ms", "latency_p99_ms", "ready_endpoints", "ready_endpoints_min",
]
EVENT_COLUMNS = ["scenario", "replication", "t_s", "action", "target", "detail"]
TIMELINE_BUCKET_S = 1.0
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


def latency_figures(histogram_counts: np.ndarray, ok: int, latency_sum_s: float) -> dict[str, float]:
    """Mean (exact) and percentiles (from the log histogram, within ±0.5 %) of a pair's OK latencies."""
    from netsim import histogram

    if not ok:
        return {k: np.nan for k in ("latency_mean_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_p999_ms")}
    p50, p90, p99, p999 = histogram.quantiles(histogram_counts, [0.5, 0.9, 0.99, 0.999]) * 1000.0
    return {
        "latency_mean_ms": latency_sum_s / ok * 1000.0,
        "latency_p50_ms": float(p50),
        "latency_p90_ms": float(p90),
        "latency_p99_ms": float(p99),
        "latency_p999_ms": float(p999),
    }


def run_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per (client, service) of one run: the figures of ``runs.csv``, from the run's tally."""
    view = TallyView(result.figures())
    duration = result.window[1] - result.window[0]
    rows = []
    for c, s in view.pairs():
        client, service = result.clients[c], result.services[s]
        groups = view.groups(c, s)
        outcomes = view.total(groups, "outcomes")
        n = int(view.total(groups, "measured"))
        ok = int(outcomes[Outcome.OK])
        errors = n - ok
        served_n = int(view.total(groups, "served"))
        cross_node = int(view.total(groups, "cross_node"))
        cross_zone = int(view.total(groups, "cross_zone"))
        endpoints = np.asarray(service["endpoints"], dtype=np.int64)
        served = view.served_by_pod(c, s, len(result.pods))[endpoints] if endpoints.size else np.zeros(0)
        row = {
            "scenario": result.scenario, "replication": result.replication, "client": client,
            "service": service["name"], "service_type": service["type"], "requests": n, "errors": errors,
            "error_rate": errors / n if n else np.nan, "throughput_rps": view.total(groups, "completed_ok") / duration,
            **latency_figures(view.total(groups, "histogram"), ok, view.total(groups, "ok_latency_s")),
            **load_figures(served),
            "cross_node_fraction": cross_node / served_n if served_n else np.nan,
            "cross_zone_fraction": cross_zone / served_n if served_n else np.nan,
            # links crossed: the client's way in, and one more when the pod is on another node than the entry
            "hops_mean": (ok * result.client_entry_hops[c] + cross_node) / ok if ok else np.nan,
            "client_ip_preserved_fraction": float(result.client_ip_preserved[c]) if ok else np.nan,
            "dns_queries_per_request": view.total(groups, "dns_queries") / n if n else np.nan,
        }
        for kind in Outcome:
            if kind is not Outcome.OK:
                row[kind.column] = int(outcomes[kind])
        row.update(cross_zone_cost(result, c, cross_zone))
        row["retries"] = sum(1 for t, k in result.retries if k == c and result.window[0] <= t < result.window[1])
        row["proxy_cpu_cores"] = result.traffic.get("proxy_cpu_s", 0.0) / duration  # the whole run's mesh proxies
        row.update(programming_figures(result, s))
        rows.append(row)
    return rows


def programming_figures(result: RunResult, service: int) -> dict[str, float]:
    """p50/p99 of the network programming latency of ``service``'s endpoint changes, over every node.

    Latency = programmed on the node − the change (k8s-facts §2; the SLO is p99 ≤ 30 s);
    all changes of the run count (they are rare; the warm-up has none unless churn puts some there).
    """
    prog = result.programming
    if not prog or "service" not in prog:
        return {"programming_latency_p50_s": np.nan, "programming_latency_p99_s": np.nan}
    mask = prog["service"] == service
    if not mask.any():
        return {"programming_latency_p50_s": np.nan, "programming_latency_p99_s": np.nan}
    p50, p99 = np.percentile(prog["programmed_s"][mask] - prog["change_s"][mask], [50, 99])
    return {"programming_latency_p50_s": float(p50), "programming_latency_p99_s": float(p99)}


def _step_values(log: Sequence[tuple[float, int]], edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A step function given by ``(time, value)`` changes: its value at each bucket's end and its minimum inside it."""
    times = np.array([t for t, _ in log], dtype=float)
    values = np.array([v for _, v in log], dtype=float)
    n = edges.size - 1
    if times.size == 0:
        return np.full(n, np.nan), np.full(n, np.nan)
    at_start = values[np.maximum(np.searchsorted(times, edges[:-1], side="right") - 1, 0)]
    at_end = values[np.maximum(np.searchsorted(times, edges[1:], side="left") - 1, 0)]
    lowest = at_start.copy()
    inside = np.searchsorted(edges, times, side="right") - 1
    for b, v in zip(inside.tolist(), values.tolist(), strict=True):
        if 0 <= b < n:
            lowest[b] = min(lowest[b], v)
    return at_end, lowest


def timeline_rows(result: RunResult, bucket_s: float = TIMELINE_BUCKET_S) -> list[dict[str, Any]]:
    """Per service and 1 s bucket of issue time (warm-up included): requests, outcomes, latency, ready endpoints.

    Only for runs with churn or an autoscaler (empty otherwise).

    Latency percentiles are of the successful requests issued in the bucket (from
    log histograms, within ±0.5 %); ``ready_endpoints`` is the number of ready
    endpoints in the EndpointSlice at the bucket's end and ``ready_endpoints_min``
    the fewest during it (what kube-proxy is told; each node's own view lags it).
    """
    from netsim import histogram

    if not result.ready_endpoints:
        return []  # nothing churned in this run: no timeline
    tally = result.figures()
    n = int(tally.get("timeline_bins", 0))
    if n < 1 or "timeline_keys" not in tally:
        return []
    bucket_s = float(tally.get("timeline_bin_s", bucket_s))
    edges = np.arange(n + 1) * bucket_s
    keys, values = np.asarray(tally["timeline_keys"], dtype=np.int64), np.asarray(tally["timeline_values"], dtype=np.int64)
    hist_keys, hist_values = np.asarray(tally["timeline_hist_keys"], dtype=np.int64), np.asarray(tally["timeline_hist_values"])
    client_service = {c: s for c, s in TallyView(tally).pairs()}
    rows = []
    for s, service in enumerate(result.services):
        lo, hi = np.searchsorted(keys, [s * n, (s + 1) * n])
        counts = np.zeros((n, values.shape[1]), dtype=np.int64)
        counts[keys[lo:hi] - s * n] = values[lo:hi]
        retry_times = np.array([t for t, c in result.retries if client_service.get(c) == s], dtype=float)
        retries = np.bincount(np.minimum((retry_times / bucket_s).astype(np.int64), n), minlength=n + 1)[:n]
        h_lo, h_hi = np.searchsorted(hist_keys, [s * n * histogram.BUCKETS, (s + 1) * n * histogram.BUCKETS])
        mine_keys, mine_counts = hist_keys[h_lo:h_hi] - s * n * histogram.BUCKETS, hist_values[h_lo:h_hi]
        log = result.ready_endpoints[s]
        ready_end, ready_min = _step_values(log, edges)
        for k in range(n):
            a, b = np.searchsorted(mine_keys, [k * histogram.BUCKETS, (k + 1) * histogram.BUCKETS])
            hist = np.zeros(histogram.BUCKETS, dtype=np.int64)
            hist[mine_keys[a:b] - k * histogram.BUCKETS] = mine_counts[a:b]
            p50, p99 = histogram.quantiles(hist, [0.5, 0.99]) * 1000.0 if b > a else (np.nan, np.nan)
            row: dict[str, Any] = {
                "scenario": result.scenario, "replication": result.replication, "service": service["name"],
                "t_s": float(edges[k]), "requests": int(counts[k].sum()), "ok": int(counts[k, Outcome.OK]),
            }
            for kind in Outcome:
                if kind is not Outcome.OK:
                    row[kind.column] = int(counts[k, kind])
            row.update({
                "retries": int(retries[k]), "latency_p50_ms": float(p50), "latency_p99_ms": float(p99),
                "ready_endpoints": float(ready_end[k]), "ready_endpoints_min": float(ready_min[k]),
            })
            rows.append(row)
    return rows


def event_rows(result: RunResult) -> list[dict[str, Any]]:
    """The run's churn events and what the controllers did about them, in time order (events.csv)."""
    return [
        {"scenario": result.scenario, "replication": result.replication, "t_s": t, "action": action, "target": target, "detail": detail}
        for t, action, target, detail in sorted(result.churn_log, key=lambda e: e[0])
    ]


def timeline_frame(results: Iterable[RunResult], parameters: Sequence[str] = ()) -> pd.DataFrame:
    """``timeline.csv`` of some runs: :func:`timeline_rows` for each, with parameter columns."""
    rows = [
        {**row, **{p: parameter_value(result.parameters.get(p)) for p in parameters}}
        for result in results
        for row in timeline_rows(result)
    ]
    return Table([*TIMELINE_COLUMNS, *parameters], rows).to_frame()


def events_frame(results: Iterable[RunResult], parameters: Sequence[str] = ()) -> pd.DataFrame:
    """``events.csv`` of some runs, with parameter columns."""
    rows = [
        {**row, **{p: parameter_value(result.parameters.get(p)) for p in parameters}}
        for result in results
        for row in event_rows(result)
    ]
    return Table([*EVENT_COLUMNS, *parameters], rows).to_frame()


def pod_rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per (service, endpoint pod) of one run: the figures of ``pods.csv``.

    ``requests`` counts the OK measured requests the pod served for that Service,
    from clients and from other pods' calls alike; ``utilization`` is the pod's busy
    worker-seconds in the measured window over its capacity there (workers × its time
    alive in the window), whatever Service the work was for.
    """
    tally = result.figures()
    n_pods = len(result.pods)
    service_of, pod_of, served_of, own_of = TallyView(tally).by_service_pod(n_pods)
    connections = np.asarray(tally.get("connections", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
    pod_served = (result.calls or {}).get("pod_served", {})
    rows = []
    for s, service in enumerate(result.services):
        lo, hi = np.searchsorted(service_of, [s, s + 1])
        served = np.zeros(n_pods, dtype=np.int64)
        served[pod_of[lo:hi]] = served_of[lo:hi]
        by_calls = np.asarray(pod_served.get(s, np.zeros(0, dtype=np.int64)))
        served[: by_calls.size] += by_calls
        conns = np.zeros(n_pods, dtype=np.int64)
        conns[pod_of[lo:hi]] = own_of[lo:hi]  # a connection per request
        conns += np.bincount(connections[connections[:, 0] == s, 1], minlength=n_pods)[:n_pods]
        total = int(served[np.asarray(service["endpoints"], dtype=np.int64)].sum()) if service["endpoints"] else 0
        for p in service["endpoints"]:
            pod = result.pods[p]
            rows.append({
                "scenario": result.scenario, "replication": result.replication, "service": service["name"],
                "pod": pod["name"], "node": pod["node"], "zone": pod["zone"], "requests": int(served[p]),
                "share": served[p] / total if total else np.nan, "connections": int(conns[p]),
                "deployment": pod["deployment"], **utilization(result, p),
            })
    return rows


def utilization(result: RunResult, pod: int) -> dict[str, float]:
    """A pod's workers and its utilisation in the measured window: busy worker-seconds / (workers × time alive)."""
    if pod >= len(result.pod_busy):
        return {"workers": np.nan, "utilization": np.nan}
    busy = result.pod_busy[pod]
    capacity = busy["workers"] * busy["alive_s"]
    return {"workers": int(busy["workers"]), "utilization": busy["busy_s"] / capacity if capacity > 0 else np.nan}


def connections_per_pod(pods: np.ndarray, connections: np.ndarray, n_pods: int) -> np.ndarray:
    """Distinct connections that carried requests to each pod (``-1``: a connection per request)."""
    own = connections < 0
    counts = np.bincount(pods[own], minlength=n_pods)
    pairs = np.unique(np.stack([pods[~own], connections[~own]]), axis=1) if (~own).any() else np.zeros((2, 0), dtype=np.int64)
    return counts + np.bincount(pairs[0].astype(np.intp), minlength=n_pods)


def cross_zone_cost(result: RunResult, client: int, crossings: int) -> dict[str, float]:
    """Bytes moved between zones by ``crossings`` served requests, and what they cost.

    Each crossing moves the request one way and the response back; cloud providers
    bill inter-zone traffic on both sides (AWS: $0.01/GB out of one zone and $0.01/GB
    into the other), so a GB crossing costs twice ``cost_per_gb``.
    """
    traffic = result.traffic
    if not traffic:
        return {"cross_zone_gb": np.nan, "cross_zone_cost_usd": np.nan}
    size = traffic["request_bytes"][client] + traffic["response_bytes"][client]
    gb = crossings * size / 1e9
    return {"cross_zone_gb": gb, "cross_zone_cost_usd": gb * 2 * traffic["cost_per_gb"]}


def latency_rows(result: RunResult) -> list[dict[str, Any]]:
    """The latency histogram of one run's OK measured requests, per (client, service): ``latency.csv``."""
    view = TallyView(result.figures())
    labels = [float(f"{edge:.6g}") for edge in LATENCY_EDGES_MS]
    rows = []
    for c, s in view.pairs():
        counts = view.total(view.groups(c, s), "latency_bins")
        for i in np.flatnonzero(counts):
            rows.append({
                "scenario": result.scenario, "replication": result.replication, "client": result.clients[c],
                "service": result.services[s]["name"], "le_ms": labels[i], "count": int(counts[i]),
            })
    return rows


def ci95_halfwidth(values: Sequence[float] | np.ndarray) -> float:
    """Student-t 95 % half-width of the mean of independent replications (NaN below two)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size < 2:
        return float("nan")
    return float(t975(x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))


T975 = (12.706204736174694, 4.302652729749462, 3.1824463052837078, 2.7764451051977934, 2.5705818356363146,
        2.4469118511449786, 2.364624251592784, 2.306004135204166, 2.262157162798205, 2.228138851986274,
        2.200985160091639, 2.1788128296672284, 2.1603686564627913, 2.144786687917804, 2.131449545559776,
        2.1199052992212546, 2.1098155778333156, 2.1009220402410382, 2.0930240544083087, 2.085963447265864,
        2.0796138447276795, 2.0738730679040254, 2.0686576104190486, 2.0638985616280245, 2.0595385527532972,
        2.0555294386428735, 2.0518305164802846, 2.0484071417952454, 2.045229642132703, 2.0422724563012378)
"""Student-t 0.975 quantiles for 1..30 degrees of freedom (scipy.stats.t.ppf's values): the usual replication
counts need no scipy import (half a second of a short run's start-up)."""


def t975(df: int) -> float:
    """The Student-t 0.975 quantile with ``df`` degrees of freedom."""
    if 1 <= df <= len(T975):
        return T975[df - 1]
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


def runs_frame(results: Iterable[RunResult], parameters: Sequence[str] = ()) -> pd.DataFrame:
    rows = []
    for result in results:
        for row in run_rows(result):
            rows.append({**row, **{p: parameter_value(result.parameters.get(p)) for p in parameters}})
    return Table([*RUN_COLUMNS, *parameters], rows).to_frame()


def pods_frame(results: Iterable[RunResult], parameters: Sequence[str] = ()) -> pd.DataFrame:
    rows = []
    for result in results:
        for row in pod_rows(result):
            rows.append({**row, **{p: parameter_value(result.parameters.get(p)) for p in parameters}})
    return Table([*POD_COLUMNS, *parameters], rows).to_frame()


def metric_columns(runs: Table | pd.DataFrame, parameters: Sequence[str] = ()) -> list[str]:
    """The figures of a per-run table: its numeric columns other than keys, replication and parameters."""
    skip = {*KEYS, "service_type", "replication", *parameters}
    table = as_table(runs)
    return [c for c in table.columns if c not in skip and table.is_numeric(c)]


def is_count(runs: Table | pd.DataFrame, column: str) -> bool:
    """Integer figures are counts (summed over replications); the rest are averaged."""
    return as_table(runs).kind(column) == INT


def _same_kind(given: Table | pd.DataFrame, result: Table) -> Table | pd.DataFrame:
    """A Table for a Table (a run's tables), a DataFrame for a DataFrame (notebooks, tests)."""
    return result if isinstance(given, Table) else result.to_frame()


def summarize(runs: Table | pd.DataFrame, parameters: Sequence[str] = ()) -> Table | pd.DataFrame:
    """Aggregate ``runs`` over replications: totals of counts, means of the rest, and 95 % half-widths.

    The columns are :data:`SUMMARY_COLUMNS`, then any other figure ``runs`` has, then the parameters.
    Groups come in order of first appearance (``groupby(sort=False)``); means skip NaN as pandas'.
    """
    table = as_table(runs)
    figures = metric_columns(table, parameters)
    extra = [c for c in figures if c not in SUMMARY_COLUMNS]
    columns = [*SUMMARY_COLUMNS, *extra, *parameters]
    if table.empty:
        return _same_kind(runs, Table(columns, []))
    counts = {c for c in figures if table.kind(c) == INT}
    out = []
    for group in group_rows(table.rows, KEYS).values():
        row: dict[str, Any] = {k: table.cell(group[0], k) for k in KEYS}
        row["service_type"] = table.cell(group[0], "service_type")
        row["replications"] = len({r.get("replication") for r in group if not is_missing(r.get("replication"))})
        for column in figures:
            values = [r.get(column) for r in group]
            row[column] = int(sum(values)) if column in counts else nanmean(values)
        for column, ci in _CI.items():
            row[ci] = ci95_halfwidth(np.array([_number(r.get(column)) for r in group], dtype=float)) if column in table else np.nan
        for p in parameters:
            row[p] = table.cell(group[0], p)
        out.append(row)
    return _same_kind(runs, Table(columns, out))


def compare(runs: Table | pd.DataFrame, reference: str, parameters: Sequence[str] = ()) -> Table | pd.DataFrame:
    """Each scenario's paired difference to ``reference``, per (client, service) and averaged figure."""
    table = as_table(runs)
    columns = [*COMPARISON_COLUMNS, *parameters]
    figures = [c for c in metric_columns(table, parameters) if table.kind(c) != INT]
    base = [r for r in table.rows if r.get("scenario") == reference]
    out = []
    for group in group_rows(table.rows, KEYS).values():
        scenario, client, service = (table.cell(group[0], k) for k in KEYS)
        if scenario == reference:
            continue
        ref = [r for r in base if r.get("client") == client and r.get("service") == service]
        pairs = [(g, r) for g in group for r in ref if g.get("replication") == r.get("replication")]  # inner merge, left order
        if not pairs:
            continue
        for metric in figures:
            x = np.array([_number(g.get(metric)) for g, _ in pairs], dtype=float)
            y = np.array([_number(r.get(metric)) for _, r in pairs], dtype=float)
            keep = ~(np.isnan(x) | np.isnan(y))
            d = x[keep] - y[keep]
            mean_d = float(d.mean()) if d.size else np.nan
            ci = ci95_halfwidth(d)
            ref_mean = float(y[keep].mean()) if d.size else np.nan
            out.append({
                "scenario": scenario, "reference": reference, "client": client, "service": service, "metric": metric,
                "reference_mean": ref_mean, "mean": float(x[keep].mean()) if d.size else np.nan,
                "difference": mean_d, "difference_ci95": ci,
                "relative_difference": mean_d / ref_mean if ref_mean else np.nan,
                # A zero-width interval (identical pairs but for a constant shift) is significant too.
                "significant": bool(d.size >= 2 and not np.isnan(ci) and abs(mean_d) > ci),
                "pairs": int(d.size),
                **{p: table.cell(group[0], p) for p in parameters},
            })
    return _same_kind(runs, Table(columns, out))


def _number(value: Any) -> float:
    """A figure for a numpy array: NaN where the row has none."""
    return np.nan if value is None else value


def requests_frame(result: RunResult) -> pd.DataFrame:
    """The measured requests of one run, one row each, with names instead of indices; then its calls.

    ``kind`` says which a row is: ``request`` (a client's, end to end) or ``call``
    (one Service calling another, kept when the run was simulated with ``keep_calls``:
    ``--save-requests``), so one long table holds both. A call's ``client`` is its
    caller (the Deployment), and ``caller_pod`` names the calling pod.
    """
    import pandas as pd

    req = result.requests
    mask = result.measured()
    pods = np.array([p["name"] for p in result.pods] + [""], dtype=object)
    nodes = np.array([n["name"] for n in result.nodes] + [""], dtype=object)  # -1: no node (a client without pods)
    frame = pd.DataFrame({
        "scenario": result.scenario,
        "replication": result.replication,
        "kind": "request",
        "id": req["id"][mask],
        "client": np.array(result.clients, dtype=object)[req["client"][mask]],
        "service": np.array([s["name"] for s in result.services], dtype=object)[req["service"][mask]],
        "operation": np.array(result.operation_names, dtype=object)[req["operation"][mask]],
        "t_issue_s": req["t_issue_s"][mask],
        "latency_ms": req["latency_s"][mask] * 1000.0,
        "outcome": np.array([o.name.lower() for o in Outcome], dtype=object)[req["outcome"][mask]],
        "pod": pods[req["pod"][mask]],
        "entry_node": nodes[req["entry_node"][mask]],
        "dns_queries": req["dns_queries"][mask],
        "entry_hops": np.asarray(result.client_entry_hops, dtype=np.int8)[req["client"][mask]],
        "client_ip_preserved": np.asarray(result.client_ip_preserved, dtype=np.int8)[req["client"][mask]],
    })
    calls = calls_frame(result, pods, nodes)
    return frame if calls.empty else pd.concat([frame, calls], ignore_index=True)


def calls_frame(result: RunResult, pods: np.ndarray, nodes: np.ndarray) -> pd.DataFrame:
    """The measured calls between Services (those of measured entry requests), when the run kept them."""
    import pandas as pd

    rows = result.calls.get("rows") if isinstance(result.calls, dict) else None
    if not rows or not len(rows["edge"]):
        return pd.DataFrame()
    edge = rows["edge"].astype(np.int64)
    named = {key: np.array([e[key] for e in result.edges], dtype=object)[edge] for key in ("caller", "service", "operation")}
    return pd.DataFrame({
        "scenario": result.scenario,
        "replication": result.replication,
        "kind": "call",
        "client": named["caller"],
        "caller_pod": pods[rows["caller_pod"]],
        "service": named["service"],
        "operation": named["operation"],
        "t_issue_s": rows["t_issue_s"],
        "latency_ms": rows["latency_s"] * 1000.0,
        "outcome": np.array([o.name.lower() for o in Outcome], dtype=object)[rows["outcome"]],
        "pod": pods[rows["pod"]],
        "entry_node": nodes[rows["entry_node"]],
    })


def parameter_value(value: Any) -> Any:
    """A scenario parameter as a table cell: scalars as they are, anything else as text."""
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)

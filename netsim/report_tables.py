"""The report's tables, as DataFrames of strings formatted for people (:mod:`netsim.humanize`).

Each function takes result tables and returns what one section shows; an empty
frame means the section has nothing to say and is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from netsim.diagnostics import SATURATED, pod_utilization
from netsim.humanize import integer, number, percent, value
from netsim.metrics import KEYS, ci95_halfwidth

PERCENTILES = {"latency_mean_ms": "mean", "latency_p50_ms": "p50", "latency_p90_ms": "p90", "latency_p99_ms": "p99",
               "latency_p999_ms": "p99.9"}
COMPARED = ["latency_mean_ms", "latency_p99_ms", "error_rate", "pod_load_cv",
            "cross_zone_fraction", "cross_zone_gb", "cross_zone_cost_usd"]
ERROR_KINDS = {
    "errors_refused": "no ready endpoint (or the Service selects no pod): the connection was refused",
    "errors_rejected": "the pod's waiting room (queue_limit) was full: the server answered 503",
    "errors_timeout": "the client gave up after its timeout (a failed node, a hung process, or a queue too long)",
    "errors_no_local_endpoint": "a traffic policy Local found no ready endpoint on the node the request entered: kube-proxy dropped its SYN (a connect timeout)",
    "errors_connect_timeout": "nothing answered the connection's SYN (stale rules sent it to a gone pod's address, or to a dead node)",
    "errors_discovery": "the client could not find the Service: NXDOMAIN, or no environment variable (the pod is older than the Service)",
    "errors_reset": "the connection was reset: the pod's process died (crash, SIGKILL at the end of the grace period) with the request in flight",
    "errors_client_down": "the client pod that would have sent it was down (its node failed) or had no Ready pod",
}
ROUTES = {"hops_mean": "links crossed (hops_mean)", "cross_node_fraction": "served on another node",
          "cross_zone_fraction": "served in another zone", "client_ip_preserved_fraction": "client IP kept",
          "dns_queries_per_request": "DNS queries / request"}
FRACTIONS = {"cross_node_fraction", "cross_zone_fraction", "client_ip_preserved_fraction"}


def percentile_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Latency percentiles per scenario: mean over replications ± 95 % CI half-width (no ± with one replication)."""
    rows = []
    for key, group in runs.groupby(KEYS, sort=False):
        row = dict(zip(KEYS, key, strict=True))
        row["requests"] = integer(group["requests"].sum())
        row["error rate"] = percent(group["error_rate"].mean())
        for column, name in PERCENTILES.items():
            values = group[column].to_numpy(dtype=float)
            row[name] = _pm(np.nanmean(values), ci95_halfwidth(values)) if np.isfinite(values).any() else "–"
        rows.append(row)
    return drop_single_keys(pd.DataFrame(rows))


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """The headline metrics of ``comparison.csv``: significant only where the paired interval excludes zero."""
    part = comparison[comparison["metric"].isin(COMPARED)].copy()
    part["order"] = part["metric"].map({m: i for i, m in enumerate(COMPARED)})
    part = part.sort_values(["order"], kind="stable").sort_values(["scenario"], key=_first_seen(comparison), kind="stable")
    rows = []
    for _, r in part.iterrows():
        ci = r["difference_ci95"]
        rows.append({
            "scenario": r["scenario"], "client": r["client"], "service": r["service"], "metric": r["metric"],
            "reference": number(r["reference_mean"], 4), "this": number(r["mean"], 4),
            "difference": _signed(r["difference"]) + ("" if pd.isna(ci) else f" ± {number(ci, 2)}"),
            "relative": (_signed(r["relative_difference"] * 100, 2) + " %") if np.isfinite(r["relative_difference"]) else "–",
            "significant": "**yes**" if r["significant"] else ("no" if pd.notna(ci) else "– (1 replication)"),
        })
    return drop_single_keys(pd.DataFrame(rows))


def errors_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Requests lost per scenario, by kind (``errors_<kind>`` of runs.csv, totals over replications); empty without errors."""
    if summary.empty or "errors" not in summary or not (summary["errors"].fillna(0) > 0).any():
        return pd.DataFrame()
    kinds = [k for k in ERROR_KINDS if k in summary and (summary[k].fillna(0) > 0).any()]
    kinds += [c for c in summary.columns if c.startswith("errors_") and c not in ERROR_KINDS and not c.endswith("_ci95")
              and (summary[c].fillna(0) > 0).any()]
    rows = []
    for _, r in summary.iterrows():
        row = {k: r[k] for k in KEYS}
        row["requests"] = integer(r["requests"])
        row["errors"] = integer(r["errors"])
        row["error %"] = percent(r["error_rate"])
        for kind in kinds:
            count = r.get(kind, np.nan)
            row[kind.removeprefix("errors_")] = "0" if not count else f"{integer(count)} ({percent(count / r['requests'] if r['requests'] else np.nan, 2)})"
        rows.append(row)
    return drop_single_keys(pd.DataFrame(rows))


def error_kinds_present(summary: pd.DataFrame) -> list[str]:
    return [k for k in ERROR_KINDS if k in summary and (summary[k].fillna(0) > 0).any()]


def routes_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Where requests went: links crossed, other node or zone, client IP kept, DNS queries."""
    present = {c: name for c, name in ROUTES.items() if c in summary and summary[c].notna().any()}
    if summary.empty or not present:
        return pd.DataFrame()
    table = summary[[*KEYS, *present]].copy()
    for column in present:
        fmt: Callable[[Any], str] = percent if column in FRACTIONS else number
        table[column] = table[column].map(fmt)
    return drop_single_keys(table.rename(columns=present))


def node_list(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(name, zone)`` of every node of a resolved config, as netsim names them."""
    nodes = (config.get("cluster") or {}).get("nodes") or {}
    if isinstance(nodes, Mapping):
        zones = nodes.get("zones") or ["zone-a"]
        return [(f"node-{i + 1}", str(zones[i % len(zones)])) for i in range(int(nodes.get("count") or 0))]
    return [(str(n.get("name")), str(n.get("zone", "zone-a"))) for n in nodes if isinstance(n, Mapping)]


def placement_table(pods: pd.DataFrame, manifest: Mapping[str, Any]) -> tuple[pd.DataFrame, bool]:
    """Which pods ran on which node and zone (first replication), nodes without pods included.

    Returns the table and whether every scenario had the same placement (then one is shown).
    """
    if pods.empty or not {"pod", "node", "zone"} <= set(pods):
        return pd.DataFrame(), True
    first = pods[pods["replication"] == pods["replication"].min()] if "replication" in pods else pods
    layouts: dict[str, list[dict[str, str]]] = {}
    for scenario, part in first.groupby("scenario", sort=False):
        config = (manifest.get("scenarios", {}).get(scenario) or {}).get("config", {})
        nodes = node_list(config) or list(dict.fromkeys(zip(part["node"].astype(str), part["zone"].astype(str), strict=True)))
        where = part.drop_duplicates(["pod"])
        rows = []
        for node, zone in nodes:
            here = where[where["node"].astype(str) == node]
            services = sorted(set(here["service"].astype(str))) if "service" in here else []
            rows.append({"scenario": scenario, "node": node, "zone": zone, "pods": ", ".join(here["pod"].astype(str)) or "–",
                         "serving": ", ".join(services) or "–"})
        layouts[str(scenario)] = rows
    signatures = {tuple((r["node"], r["pods"]) for r in rows) for rows in layouts.values()}
    same = len(signatures) == 1
    rows = next(iter(layouts.values())) if same else [r for rows in layouts.values() for r in rows]
    table = pd.DataFrame(rows)
    if same:
        table = table.drop(columns="scenario")
    return table, same


def local_drop_lines(summary: pd.DataFrame, pods: pd.DataFrame, manifest: Mapping[str, Any]) -> list[str]:
    """Why a traffic policy ``Local`` dropped requests: the nodes where requests entered that run no pod of the Service."""
    if summary.empty or "errors_no_local_endpoint" not in summary or pods.empty:
        return []
    lines = []
    first = pods[pods["replication"] == pods["replication"].min()] if "replication" in pods else pods
    for _, row in summary[summary["errors_no_local_endpoint"].fillna(0) > 0].iterrows():
        scenario, service = row["scenario"], row["service"]
        config = (manifest.get("scenarios", {}).get(scenario) or {}).get("config", {})
        nodes = node_list(config)
        serving = set(first[(first["scenario"] == scenario) & (first["service"] == service)]["node"].astype(str))
        client = next((c for c in config.get("clients") or [] if c.get("name") == row["client"]), {})
        entry = client.get("entry_nodes") or [n for n, _ in nodes]
        empty = [f"{n} ({z})" for n, z in nodes if n in entry and n not in serving]
        if not empty:
            continue
        share = len(empty) / len(entry) if entry else np.nan
        lines.append(
            f"In **{scenario}**, requests of {row['client']} enter on {len(entry)} node(s); {', '.join(empty)} "
            f"run{'s' if len(empty) == 1 else ''} no pod of Service {service}. With a traffic policy `Local`, kube-proxy there has "
            f"no local endpoint and drops what enters (`errors_no_local_endpoint`): {len(empty)} of {len(entry)} entry node(s), "
            f"≈ {percent(share, 2)} of the requests if they enter evenly; measured {percent(row['errors_no_local_endpoint'] / row['requests'], 3)}."
        )
    return lines


def saturation_table(pods: pd.DataFrame, manifest: Mapping[str, Any]) -> pd.DataFrame:
    """Per scenario and pod: utilisation (busy time / capacity) and workers, busiest first, marking those above 90 %."""
    table = pod_utilization(pods, manifest)
    if table.empty:
        return table
    table = table.sort_values(["scenario", "utilization"], ascending=[True, False], key=_scenario_then_value(table), kind="stable")
    out = pd.DataFrame({
        "scenario": table["scenario"], "pod": table["pod"], "Deployment": table["deployment"], "node": table["node"],
        "workers": table["workers"].map(integer),
        "utilisation": [percent(u, 2) + (" **saturated**" if u > SATURATED else "") for u in table["utilization"]],
    })
    return out if out["scenario"].nunique() > 1 else out.drop(columns="scenario")


def _scenario_then_value(table: pd.DataFrame) -> Callable[[pd.Series], pd.Series]:
    rank = {s: i for i, s in enumerate(dict.fromkeys(table["scenario"]))}
    return lambda column: column.map(rank) if column.name == "scenario" else column


def figures_table(summary: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    present = {c: name for c, name in columns.items() if c in summary}
    table = summary[[*KEYS, *present]].rename(columns=present)
    for name in present.values():
        table[name] = table[name].map(lambda v: number(v, 4))
    return drop_single_keys(table)


def parameters_table(summary: pd.DataFrame, parameters: list[str]) -> pd.DataFrame:
    """The settings that make scenarios differ; unset is the base file's value; mappings as YAML, not Python."""
    table = summary.drop_duplicates("scenario")[["scenario", *[p for p in parameters if p in summary]]]
    table = table.apply(lambda column: column.map(lambda v: "(base)" if pd.isna(v) else value(v)))
    varying = [p for p in parameters if p in table and table[p].nunique() > 1]  # constant ones say nothing
    return table[["scenario", *varying]]


def drop_single_keys(table: pd.DataFrame) -> pd.DataFrame:
    """Scenario, client and service columns only when there is more than one of them."""
    if table.empty:
        return table
    drop = [c for c in ("scenario", "client", "service") if c in table and table[c].nunique() <= 1 and len(table.columns) > 1]
    return table.drop(columns=drop)


def _first_seen(frame: pd.DataFrame) -> Callable[[pd.Series], pd.Series]:
    rank = {s: i for i, s in enumerate(dict.fromkeys(frame["scenario"]))}
    return lambda column: column.map(rank)


def _pm(mean: float, ci: float) -> str:
    return number(mean) + ("" if pd.isna(ci) else f" ± {number(ci, 2)}")


def _signed(x: float, digits: int = 3) -> str:
    if pd.isna(x):
        return "–"
    text = number(x, digits)
    return text if text.startswith("-") or text == "0" else f"+{text}"


EDGE_COLUMNS = {"calls_per_request": "calls per request", "error_rate": "error %", "latency_mean_ms": "mean ms",
                "latency_p50_ms": "p50 ms", "latency_p99_ms": "p99 ms", "cross_node_fraction": "cross-node"}
MAX_EDGE_ROWS = 60


def edges_table(edges: pd.DataFrame, scenarios: list[str]) -> tuple[pd.DataFrame, bool]:
    """Calls between Services (edges.csv) for people: every scenario's when they fit, else the first's.

    Returns the table and whether it was cut to the first scenario.
    """
    if edges.empty or not {"scenario", "caller", "service", "operation"} <= set(edges):
        return pd.DataFrame(), False
    calls = edges[edges["caller_kind"] != "client"] if "caller_kind" in edges else edges
    if calls.empty:
        return pd.DataFrame(), False
    cut = len(calls) > MAX_EDGE_ROWS and len(scenarios) > 1
    if cut:
        calls = calls[calls["scenario"] == scenarios[0]]
    present = {c: name for c, name in EDGE_COLUMNS.items() if c in calls}
    table = calls[["scenario", "caller", "service", "operation", *present]].copy()
    for column in present:
        fmt: Callable[[Any], str] = percent if column in ("error_rate", "cross_node_fraction") else number
        table[column] = table[column].map(fmt)
    table = table.rename(columns=present)
    if table["scenario"].nunique() == 1:
        table = table.drop(columns="scenario")
    return table.reset_index(drop=True), cut

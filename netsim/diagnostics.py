"""What in a finished experiment's tables a reader must be warned about before reading its numbers.

A pod busy more than 90 % of the time has a queue that grows with every burst, so
its p99 measures the queue, not the network; a pod that rejects requests
(``queue_limit`` full) is past saturation; a client whose every request failed has
no latency at all. None of this is an error of the experiment — it may be the point
of it — but a reader who misses it draws the wrong conclusion. ``netsim run`` prints
these lines after its summary table and the report opens its *Saturation* and
*Errors* sections with them; both come from here, from the tables alone.

``utilization`` in ``pods.csv`` is the pod's busy time over its capacity in the
measured window (busy worker-seconds / (workers × window)); ``workers`` its
worker count. Folders written before those columns existed get only the
rejection and all-failed checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from netsim.humanize import integer, percent
from netsim.table import Table, as_table, group_rows, is_missing, nanmean

if TYPE_CHECKING:  # the tables may be DataFrames (the report) or a run's own Tables (netsim run: no pandas)
    import pandas as pd

SATURATED = 0.9
"""Utilisation above which a pod's queue grows noticeably (M/M/1: mean wait 9 × the service time at 0.9)."""


def deployment_names(manifest: Mapping[str, Any]) -> list[str]:
    """Every Deployment named in any scenario's resolved config (manifests and deferred)."""
    names: dict[str, None] = {}
    for scenario in manifest.get("scenarios", {}).values():
        config = scenario.get("config", {}) if isinstance(scenario, Mapping) else {}
        for doc in [*(config.get("manifests") or []), *(config.get("deferred") or [])]:
            if isinstance(doc, Mapping) and doc.get("kind") == "Deployment":
                name = (doc.get("metadata") or {}).get("name")
                if isinstance(name, str):
                    names[name] = None
    return list(names)


def deployment_of(pod: str, deployments: Iterable[str]) -> str:
    """The Deployment a pod belongs to: pods are named ``<deployment>-<n>``; the longest matching name wins."""
    matches = [d for d in deployments if re.fullmatch(re.escape(d) + r"-\d+", str(pod))]
    if matches:
        return max(matches, key=len)
    return str(pod).rsplit("-", 1)[0]


UTILIZATION_COLUMNS = ["scenario", "pod", "deployment", "node", "zone", "utilization", "workers"]


def pod_utilization(pods: pd.DataFrame | Table, manifest: Mapping[str, Any]) -> pd.DataFrame:
    """Per scenario and pod: mean utilisation over replications, its Deployment, node and workers (a DataFrame).

    Empty when ``pods`` has no ``utilization`` column. A pod behind two Services appears
    once (its utilisation does not depend on the Service).
    """
    return Table(UTILIZATION_COLUMNS, utilization_rows(as_table(pods), manifest)).to_frame()


def utilization_rows(pods: Table, manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`pod_utilization`'s rows, without pandas: a pod's first row per replication, then per scenario and pod
    the mean utilisation (NaN skipped), the first node, zone and Deployment given, the most workers."""
    if pods.empty or "utilization" not in pods:
        return []
    once = group_rows(pods.rows, ["scenario", "replication", "pod"], dropna=False)  # drop_duplicates
    names = None if "deployment" in pods else deployment_names(manifest)
    rows = []
    for (scenario, pod), group in group_rows([g[0] for g in once.values()], ["scenario", "pod"]).items():
        workers = [r.get("workers") for r in group if not is_missing(r.get("workers"))] if "workers" in pods else []
        rows.append({
            "scenario": scenario, "pod": pod,
            "deployment": _first(group, "deployment") if names is None else deployment_of(pod, names),
            "node": _first(group, "node"), "zone": _first(group, "zone"),
            "utilization": nanmean(r.get("utilization") for r in group),
            "workers": max(workers) if workers else np.nan,
        })
    return rows


def _first(rows: list[Mapping[str, Any]], column: str) -> Any:
    """The first value given (groupby ``first``: missing ones skipped)."""
    return next((r[column] for r in rows if not is_missing(r.get(column))), np.nan)


def saturated(pods: pd.DataFrame | Table, manifest: Mapping[str, Any], threshold: float = SATURATED) -> pd.DataFrame:
    """Pods whose mean utilisation exceeds ``threshold``, busiest first (a DataFrame)."""
    return Table(UTILIZATION_COLUMNS, saturated_rows(as_table(pods), manifest, threshold)).to_frame()


def saturated_rows(pods: Table, manifest: Mapping[str, Any], threshold: float = SATURATED) -> list[dict[str, Any]]:
    """:func:`saturated`'s rows: busiest first, ties in table order."""
    hot = [r for r in utilization_rows(pods, manifest) if _number(r["utilization"]) > threshold]
    return sorted(hot, key=lambda r: -r["utilization"])


def _total(values: Iterable[Any]) -> Any:
    """A sum skipping missing values (as pandas' ``sum``)."""
    return sum(v for v in values if not is_missing(v))


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def saturation_warnings(pods: pd.DataFrame | Table, runs: pd.DataFrame | Table, manifest: Mapping[str, Any]) -> list[str]:
    """One line per Deployment with a pod above 90 % utilisation, and per Service whose pods rejected requests."""
    lines = []
    hot = saturated_rows(as_table(pods), manifest)
    for deployment, group in group_rows(hot, ["deployment"]).items():
        worst = group[0]
        scenarios = list(dict.fromkeys(r["scenario"] for r in group))
        total = manifest.get("scenarios", {})
        where = f" in scenario '{worst['scenario']}'" if len(total) > 1 else ""
        more = ""
        if len(group) > 1:
            more = f" ({len(group)} pods above {percent(SATURATED)}" + (f" in {len(scenarios)} scenarios" if len(scenarios) > 1 else "") + ")"
        workers = worst["workers"]
        now = f", {integer(workers)} now" if not is_missing(workers) else ""
        lines.append(
            f"pod {worst['pod']} of Deployment {deployment[0]} at {percent(worst['utilization'], 2)} utilisation{where}{more}: "
            f"the queue grows and latency measures it; add replicas or workers (workloads.{deployment[0]}.concurrency{now})"
        )
    lines += rejection_warnings(runs, pods)
    return lines


def rejection_warnings(runs: pd.DataFrame | Table, pods: pd.DataFrame | Table | None = None) -> list[str]:
    """Services whose pods turned requests away because their waiting room (``queue_limit``) was full."""
    table = as_table(runs)
    if table.empty or "errors_rejected" not in table:
        return []
    by_service: dict[Any, list[tuple[Any, int, int]]] = {}
    for (service, scenario), group in group_rows(table.rows, ["service", "scenario"]).items():
        count = _total(r.get("errors_rejected") for r in group)
        if count > 0:
            by_service.setdefault(service, []).append((scenario, count, _total(r.get("requests") for r in group)))
    lines = []
    for service, found in by_service.items():
        worst, count, requests = max(found, key=lambda f: f[1])  # the first of the largest, as idxmax
        where = f"scenario '{worst}'" + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
        lines.append(
            f"Service {service}: its pods rejected {integer(count)} request(s) ({percent(count / requests if requests else np.nan, 2)}) "
            f"in {where}: their queue (queue_limit) was full, the pods are past saturation; add replicas or workers"
        )
    return lines


def failed_client_warnings(summary: pd.DataFrame | Table) -> list[str]:
    """Clients every one of whose measured requests failed: their latency figures are empty, not fast."""
    table = as_table(summary)
    if table.empty or not {"requests", "errors"} <= set(table.columns):
        return []
    kinds = [c for c in table.columns if c.startswith("errors_") and not c.endswith("_ci95")]
    lines = []
    for row in table.rows:
        requests, errors = row.get("requests"), row.get("errors")
        if not (not is_missing(requests) and requests > 0 and errors == requests):
            continue
        by_kind = [f"{c} {integer(row.get(c))}" for c in kinds if not is_missing(row.get(c)) and row.get(c) > 0]
        lines.append(
            f"client {row['client']} → {row['service']}: all {integer(requests)} requests failed in scenario '{row['scenario']}'"
            + (f" ({', '.join(by_kind)})" if by_kind else "")
            + "; it has no latency figures (see errors_<kind> in runs.csv and the report's Errors section)"
        )
    return lines


def run_warnings(results: Any) -> list[str]:
    """Everything a reader of ``results`` (a :class:`~netsim.results.Results`) must be told: for ``netsim run``."""
    return [*failed_client_warnings(results.table("summary")),
            *saturation_warnings(results.table("pods"), results.table("runs"), results.manifest)]

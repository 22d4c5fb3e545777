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
from typing import Any

import numpy as np
import pandas as pd

from netsim.humanize import integer, percent

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


def pod_utilization(pods: pd.DataFrame, manifest: Mapping[str, Any]) -> pd.DataFrame:
    """Per scenario and pod: mean utilisation over replications, its Deployment, node and workers.

    Empty when ``pods`` has no ``utilization`` column. A pod behind two Services appears
    once (its utilisation does not depend on the Service).
    """
    columns = ["scenario", "pod", "deployment", "node", "zone", "utilization", "workers"]
    if pods.empty or "utilization" not in pods:
        return pd.DataFrame(columns=columns)
    keep = [c for c in ("scenario", "replication", "pod", "node", "zone", "utilization", "workers", "deployment") if c in pods]
    once = pods[keep].drop_duplicates(subset=["scenario", "replication", "pod"])
    agg: dict[str, tuple[str, Any]] = {"utilization": ("utilization", "mean"), "node": ("node", "first"), "zone": ("zone", "first")}
    if "workers" in once:
        agg["workers"] = ("workers", "max")
    if "deployment" in once:
        agg["deployment"] = ("deployment", "first")
    table = once.groupby(["scenario", "pod"], sort=False).agg(**agg).reset_index()
    if "deployment" not in table:
        names = deployment_names(manifest)
        table["deployment"] = [deployment_of(p, names) for p in table["pod"]]
    if "workers" not in table:
        table["workers"] = np.nan
    return table[columns]


def saturated(pods: pd.DataFrame, manifest: Mapping[str, Any], threshold: float = SATURATED) -> pd.DataFrame:
    """Pods whose mean utilisation exceeds ``threshold``, busiest first."""
    table = pod_utilization(pods, manifest)
    hot = table[pd.to_numeric(table["utilization"], errors="coerce") > threshold]
    return hot.sort_values("utilization", ascending=False, kind="stable")


def saturation_warnings(pods: pd.DataFrame, runs: pd.DataFrame, manifest: Mapping[str, Any]) -> list[str]:
    """One line per Deployment with a pod above 90 % utilisation, and per Service whose pods rejected requests."""
    lines = []
    hot = saturated(pods, manifest)
    for deployment, group in hot.groupby("deployment", sort=False):
        worst = group.iloc[0]
        scenarios = list(dict.fromkeys(group["scenario"]))
        total = manifest.get("scenarios", {})
        where = f" in scenario '{worst['scenario']}'" if len(total) > 1 else ""
        more = ""
        if len(group) > 1:
            more = f" ({len(group)} pods above {percent(SATURATED)}" + (f" in {len(scenarios)} scenarios" if len(scenarios) > 1 else "") + ")"
        workers = worst["workers"]
        now = f", {integer(workers)} now" if pd.notna(workers) else ""
        lines.append(
            f"pod {worst['pod']} of Deployment {deployment} at {percent(worst['utilization'], 2)} utilisation{where}{more}: "
            f"the queue grows and latency measures it; add replicas or workers (workloads.{deployment}.concurrency{now})"
        )
    lines += rejection_warnings(runs, pods)
    return lines


def rejection_warnings(runs: pd.DataFrame, pods: pd.DataFrame | None = None) -> list[str]:
    """Services whose pods turned requests away because their waiting room (``queue_limit``) was full."""
    if runs.empty or "errors_rejected" not in runs:
        return []
    rejected = runs.groupby(["service", "scenario"], sort=False)[["errors_rejected", "requests"]].sum()
    rejected = rejected[rejected["errors_rejected"] > 0]
    lines = []
    for service, group in rejected.groupby(level="service", sort=False):
        scenarios = [s for _, s in group.index]
        worst = group["errors_rejected"].idxmax()[1]
        count, requests = group.loc[(service, worst), ["errors_rejected", "requests"]]
        where = f"scenario '{worst}'" + (f" (and {len(scenarios) - 1} more)" if len(scenarios) > 1 else "")
        lines.append(
            f"Service {service}: its pods rejected {integer(count)} request(s) ({percent(count / requests if requests else np.nan, 2)}) "
            f"in {where}: their queue (queue_limit) was full, the pods are past saturation; add replicas or workers"
        )
    return lines


def failed_client_warnings(summary: pd.DataFrame) -> list[str]:
    """Clients every one of whose measured requests failed: their latency figures are empty, not fast."""
    if summary.empty or not {"requests", "errors"} <= set(summary):
        return []
    kinds = [c for c in summary.columns if c.startswith("errors_") and not c.endswith("_ci95")]
    lines = []
    for _, row in summary.iterrows():
        requests, errors = row["requests"], row["errors"]
        if not (pd.notna(requests) and requests > 0 and errors == requests):
            continue
        by_kind = [f"{c} {integer(row[c])}" for c in kinds if pd.notna(row[c]) and row[c] > 0]
        lines.append(
            f"client {row['client']} → {row['service']}: all {integer(requests)} requests failed in scenario '{row['scenario']}'"
            + (f" ({', '.join(by_kind)})" if by_kind else "")
            + "; it has no latency figures (see errors_<kind> in runs.csv and the report's Errors section)"
        )
    return lines


def run_warnings(results: Any) -> list[str]:
    """Everything a reader of ``results`` (a :class:`~netsim.results.Results`) must be told: for ``netsim run``."""
    return [*failed_client_warnings(results.summary), *saturation_warnings(results.pods, results.runs, results.manifest)]

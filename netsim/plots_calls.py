"""Figures of applications: where the mean latency goes, and the call graph between Services.

Drawn from ``breakdown.csv`` and ``edges.csv`` alone (netsim/edges.py writes them),
like every figure of :mod:`netsim.plots`: each function returns a Figure, or
None when the tables hold nothing to draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from netsim.humanize import number

COMPONENT_LABELS = {
    "network": "network", "dns": "DNS", "proxy": "kube-proxy / LB / proxies", "connection_wait": "waiting for a connection",
    "queueing": "queueing for a worker", "work": "work", "failed_tries": "failed tries", "retry_backoff": "retry backoff",
}
MAX_BARS = 40
MAX_GRAPH_NODES = 40


def breakdown_bars(breakdown: pd.DataFrame, scenarios: Sequence[str] | None = None) -> Figure | None:
    """One stacked bar per scenario × client × operation: the mean latency split along its critical path.

    The components add up to the mean latency of successful requests (netsim/edges.py
    checks it), so the bar's length is that mean and each colour says what it is made of.
    Components that are zero in every bar are left out of the legend.
    """
    if breakdown is None or breakdown.empty or not {"scenario", "client", "operation", "component", "ms"} <= set(breakdown):
        return None
    keys = ["scenario", "client", "operation"]
    wide = breakdown.pivot_table(index=keys, columns="component", values="ms", aggfunc="sum", sort=False).fillna(0.0)
    if scenarios:
        rank = {s: i for i, s in enumerate(scenarios)}
        wide = wide.iloc[sorted(range(len(wide)), key=lambda i: rank.get(wide.index[i][0], len(rank)))]
    wide = wide.iloc[:MAX_BARS]
    components = [c for c in COMPONENT_LABELS if c in wide.columns and (wide[c] > 0).any()]
    if not components:
        return None
    several_clients = wide.index.droplevel(0).nunique() > 1
    labels = [f"{s} · {c} {o}" if several_clients else s for s, c, o in wide.index]
    y = np.arange(len(wide))[::-1]
    fig = Figure(figsize=(11, 1.6 + 0.42 * len(wide)), layout="constrained")
    ax = fig.subplots()
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    left = np.zeros(len(wide))
    for i, component in enumerate(components):
        values = wide[component].to_numpy(dtype=float)
        ax.barh(y, values, left=left, color=cmap(i), label=COMPONENT_LABELS[component])
        left += values
    for yi, total in zip(y, left, strict=True):
        ax.text(total, yi, f"  {number(total)} ms", va="center", ha="left", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlim(0, max(left.max(), 1e-9) * 1.18)
    ax.set_xlabel("mean latency of successful requests (ms)")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", fontsize=8, ncols=min(len(components), 4))
    fig.suptitle("Where the time goes: the mean latency split along the critical path")
    return fig


def call_rates(edges: pd.DataFrame, durations: dict[str, float]) -> pd.Series:
    """Calls per second on each edge: ``calls`` is a total over replications, each ``duration`` long."""
    seconds = edges["scenario"].map(durations).astype(float)
    if "replications" in edges:
        seconds = seconds * edges["replications"].astype(float)
    return edges["calls"].astype(float) / seconds.where(seconds > 0)


def layers(edges: pd.DataFrame) -> dict[str, int]:
    """Each node's column in the drawing: the longest chain of calls that reaches it from an entry client.

    Call graphs are acyclic (netsim refuses cycles), so the longest path is finite;
    a caller that nothing calls starts a chain at column 0.
    """
    callers = edges.groupby("service")["caller"].apply(set).to_dict()
    nodes = list(dict.fromkeys([*edges["caller"], *edges["service"]]))
    depth: dict[str, int] = {}

    def of(node: str, seen: frozenset[str]) -> int:
        if node not in depth:
            parents = [p for p in callers.get(node, ()) if p != node and p not in seen]
            depth[node] = 1 + max((of(p, seen | {node}) for p in parents), default=-1)
        return depth[node]

    for node in nodes:
        of(node, frozenset())
    return depth


def call_graph(edges: pd.DataFrame, scenario: str, durations: dict[str, float]) -> Figure | None:
    """The scenario's Services as nodes, calls as arrows labelled with calls/s and p99 (ms) (the highest p99
    over the callee's operations when a caller calls several).

    Entry clients sit in the first column, each Service in the column of the longest
    chain of calls reaching it, so a request reads left to right. Graphs of a single
    edge (a client calling one Service) are not drawn: the tables say all there is.
    """
    if edges is None or edges.empty or not {"scenario", "caller", "service", "calls", "latency_p99_ms"} <= set(edges):
        return None
    mine = edges[edges["scenario"] == scenario]
    if "operation" in mine:
        mine = mine.groupby(["scenario", "caller", "caller_kind", "service"], as_index=False, sort=False).agg(
            calls=("calls", "sum"), latency_p99_ms=("latency_p99_ms", "max"), replications=("replications", "max"))
    if len(mine) < 2:
        return None
    depth = layers(mine)
    if len(depth) > MAX_GRAPH_NODES:
        return None
    columns: dict[int, list[str]] = {}
    for node, d in depth.items():
        columns.setdefault(d, []).append(node)
    position = {}
    for d, members in columns.items():
        for i, node in enumerate(members):
            position[node] = (float(d), (len(members) - 1) / 2.0 - i)
    tall = max(len(m) for m in columns.values())
    fig = Figure(figsize=(3.2 * (max(columns) + 1) + 1, 0.9 * tall + 1.5), layout="constrained")
    ax = fig.subplots()
    clients = set(mine.loc[mine.get("caller_kind", pd.Series("", index=mine.index)) == "client", "caller"])
    rates = call_rates(mine, durations)
    for (caller, service, p99), rate in zip(mine[["caller", "service", "latency_p99_ms"]].itertuples(index=False), rates, strict=True):
        (x0, y0), (x1, y1) = position[caller], position[service]
        ax.annotate("", xy=(x1 - 0.12, y1), xytext=(x0 + 0.12, y0),
                    arrowprops={"arrowstyle": "-|>", "color": "0.45", "lw": 1.0, "shrinkA": 0, "shrinkB": 0})
        label = (f"{number(rate)}/s" if np.isfinite(rate) else "") + (f"\np99 {number(p99)} ms" if np.isfinite(p99) else "")
        ax.text(x0 + 0.62 * (x1 - x0), y0 + 0.62 * (y1 - y0), label, fontsize=7, ha="center", va="center",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    for node, (x, y) in position.items():
        ax.text(x, y, node, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.35", "fc": "#fde9c9" if node in clients else "#dce9f7", "ec": "0.35"})
    ax.set_xlim(-0.5, max(columns) + 0.5)
    ax.set_ylim(-tall / 2.0 - 0.2, tall / 2.0 + 0.2)
    ax.set_axis_off()
    fig.suptitle(f"Call graph of {scenario}: calls per second and p99 latency of each call (orange: load generators)")
    return fig

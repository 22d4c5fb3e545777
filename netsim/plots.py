"""The report's figures, drawn from the result tables (matplotlib only reads DataFrames).

Each function takes tables and returns a :class:`matplotlib.figure.Figure`, or
None when the tables hold nothing to draw. Figures are built without pyplot, so
no global state and no GUI backend: :func:`png` renders with Agg.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from netsim.humanize import number, percent
from netsim.metrics import KEYS, ci95_halfwidth
from netsim.verdict import ERROR_TOLERANCE, RELATIVE_TOLERANCE

MAX_PANELS = 12


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def colors(scenarios: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """One colour per scenario, the same in every figure."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(scenarios) <= 10 else "tab20" if len(scenarios) <= 20 else "viridis"]
    n = len(scenarios)
    return {s: cmap(i if n <= 20 else i / max(n - 1, 1)) for i, s in enumerate(scenarios)}


def _label(scenario: str, client: str, service: str, several_keys: bool) -> str:
    return f"{scenario} ({client}→{service})" if several_keys else scenario


def latency_bars(summary: pd.DataFrame, reference: str | None = None) -> Figure | None:
    """Mean and p99 latency per scenario with 95 % CIs: which configuration is faster, and by how much.

    A scenario that lost requests is hatched and its label says how many: its latency
    counts only the requests it kept, so a short bar there is no win.
    """
    if summary.empty or summary["latency_mean_ms"].isna().all():
        return None
    several = summary[["client", "service"]].drop_duplicates().shape[0] > 1
    lowest = summary.groupby(["client", "service"], sort=False)["error_rate"].transform("min").fillna(0)
    lossy = (summary["error_rate"].fillna(0) > lowest + np.maximum(ERROR_TOLERANCE, RELATIVE_TOLERANCE * lowest)).to_numpy()
    labels = [_label(*k, several) + (" (reference)" if k[0] == reference else "") + (f"\n{percent(rate, 2)} failed" if bad else "")
              for k, rate, bad in zip(summary[KEYS].itertuples(index=False), summary["error_rate"], lossy, strict=True)]
    palette = colors(list(dict.fromkeys(summary["scenario"])))
    bar_colors = [palette[s] for s in summary["scenario"]]
    y = np.arange(len(summary))[::-1]
    fig = Figure(figsize=(11, 1.4 + 0.45 * len(summary)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    any_ci = False
    for ax, column, title in ((axes[0], "latency_mean_ms", "mean latency"), (axes[1], "latency_p99_ms", "p99 latency")):
        values = summary[column].to_numpy(dtype=float)
        ci = summary.get(f"{column}_ci95", pd.Series(np.nan, index=summary.index)).to_numpy(dtype=float)
        bars = ax.barh(y, values, color=bar_colors, alpha=0.85)
        for bar, bad in zip(bars, lossy, strict=True):
            if bad:
                bar.set_hatch("//")
                bar.set_alpha(0.45)
        shown = np.isfinite(ci) & np.isfinite(values)  # one replication has no interval: no bar rather than a zero-width one
        if shown.any():
            any_ci = True
            ax.errorbar(values[shown], y[shown], xerr=ci[shown], fmt="none", ecolor="black", capsize=3, linewidth=1)
        for yi, v, c in zip(y, values, np.nan_to_num(ci), strict=True):
            if np.isfinite(v):
                ax.text(v + c, yi, f"  {number(v)}", va="center", ha="left", fontsize=8)
        ax.set_title(f"{title} (ms)")
        ax.set_xlabel("latency (ms)")
        top = np.nanmax(values + np.nan_to_num(ci)) if np.isfinite(values).any() else 1.0
        ax.set_xlim(0, top * 1.2 if top > 0 else 1.0)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels)
    note = "; hatched: lost requests, latency of the rest only" if lossy.any() else ""
    fig.suptitle("Latency by scenario (lower is better)" + ("; error bars: 95 % CI over replications" if any_ci else "; one replication: no CI") + note)
    return fig


def latency_cdf(latency: pd.DataFrame, scenarios: Sequence[str] | None = None) -> Figure | None:
    """Latency CDF per scenario (log x), and the tail (1 − CDF, log y) where p99 and p99.9 differ."""
    if latency.empty:
        return None
    pooled = latency.groupby([*KEYS, "le_ms"], sort=False)["count"].sum().reset_index()
    order = list(scenarios) if scenarios else list(dict.fromkeys(pooled["scenario"]))
    palette = colors(order)
    several = pooled[["client", "service"]].drop_duplicates().shape[0] > 1
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    cdf_ax, tail_ax = fig.subplots(1, 2)
    styles = ["-", "--", ":", "-."]
    keys = list(dict.fromkeys(map(tuple, pooled[["client", "service"]].to_numpy())))
    for scenario in order:
        for k, (client, service) in enumerate(keys):
            part = pooled[(pooled["scenario"] == scenario) & (pooled["client"] == client) & (pooled["service"] == service)]
            if part.empty:
                continue
            part = part.sort_values("le_ms")
            x = part["le_ms"].to_numpy(dtype=float)
            counts = part["count"].to_numpy(dtype=float)
            cdf = np.cumsum(counts) / counts.sum()
            style = dict(color=palette[scenario], linestyle=styles[k % len(styles)], label=_label(scenario, client, service, several))
            cdf_ax.plot(x, cdf, **style)
            tail = 1.0 - cdf
            keep = tail > 0
            tail_ax.plot(x[keep], tail[keep], **style)
    cdf_ax.set_xscale("log")
    cdf_ax.set_ylim(0, 1.01)
    cdf_ax.set_xlabel("latency (ms, log scale)")
    cdf_ax.set_ylabel("fraction of requests ≤ latency")
    cdf_ax.set_title("Latency CDF")
    tail_ax.set_xscale("log")
    tail_ax.set_yscale("log")
    for q, name in ((0.5, "p50"), (0.01, "p99"), (0.001, "p99.9")):
        tail_ax.axhline(q, color="grey", linewidth=0.7, linestyle=":")
        tail_ax.text(1.0, q, f" {name}", transform=tail_ax.get_yaxis_transform(), va="center", fontsize=8, color="grey")
    tail_ax.set_xlabel("latency (ms, log scale)")
    tail_ax.set_ylabel("fraction of requests slower (log scale)")
    tail_ax.set_title("Tail: 1 − CDF")
    for ax in (cdf_ax, tail_ax):
        ax.grid(which="both", alpha=0.25)
    cdf_ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Latency distribution, all replications pooled (OK requests)")
    return fig


def load_share(pods: pd.DataFrame, scenarios: Sequence[str] | None = None, fair: pd.DataFrame | None = None) -> Figure | None:
    """Per-pod share of requests per scenario, coloured by zone, against each pod's fair share.

    ``fair`` (scenario, service, pod, fair_share) is the time-weighted fair share under
    churn (:func:`netsim.ready_time.fair_shares`); without it, 1/n. Error bars (95 % CI
    over replications) only where there are two or more replications.
    """
    if pods.empty or pods["share"].isna().all():
        return None
    groups = list(dict.fromkeys(map(tuple, pods[["scenario", "service"]].to_numpy())))
    if scenarios:
        rank = {s: i for i, s in enumerate(scenarios)}
        groups.sort(key=lambda g: rank.get(g[0], len(rank)))
    shown = groups[:MAX_PANELS]
    several_services = len({g[1] for g in groups}) > 1
    columns = 2 if len(shown) == 4 else min(len(shown), 3)
    rows = -(-len(shown) // columns)
    zones = sorted(pods["zone"].astype(str).unique())
    from matplotlib import colormaps

    zone_color = {z: colormaps["Set2"](i % 8) for i, z in enumerate(zones)}
    most_pods = max(pods.groupby(["scenario", "service"])["pod"].nunique().max(), 1)
    width = max(4.2, min(0.32 * most_pods + 1.5, 12.0))  # room for the pod names under the bars
    fig = Figure(figsize=(width * columns, 3.4 * rows + (0.6 if most_pods > 6 else 0)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False, sharey=True)).ravel()  # one scale: shares compare across panels
    weighted = fair is not None and not fair.empty and fair["fair_share"].notna().any()
    top = 0.0
    for i, (ax, (scenario, service)) in enumerate(zip(axes, shown, strict=False)):
        part = pods[(pods["scenario"] == scenario) & (pods["service"] == service)]
        per_pod = part.groupby("pod", sort=False).agg(
            share=("share", "mean"), ci=("share", ci95_halfwidth), zone=("zone", "first")
        )
        x = np.arange(len(per_pod))
        ci = per_pod["ci"].to_numpy(dtype=float) * 100
        ax.bar(x, per_pod["share"] * 100, color=[zone_color[str(z)] for z in per_pod["zone"]])
        if np.isfinite(ci).any():
            keep = np.isfinite(ci)
            ax.errorbar(x[keep], (per_pod["share"].to_numpy(dtype=float) * 100)[keep], yerr=ci[keep], fmt="none",
                        ecolor="black", capsize=2, linewidth=0.8)
        expected = np.full(len(per_pod), 100 / max(len(per_pod), 1))
        if weighted:
            mine = fair[(fair["scenario"] == scenario) & (fair["service"] == service)].set_index("pod")["fair_share"]
            expected = per_pod.index.to_series().map(mine).to_numpy(dtype=float) * 100
        ax.hlines(expected, x - 0.45, x + 0.45, colors="black", linestyles="--", linewidth=1)
        names = [str(n) for n in per_pod.index]
        # A 7-point character is about 0.058 in wide; a tick has 85 % of the panel width / n: rotate before labels touch.
        crowded = max(map(len, names)) * 0.058 > 0.85 * width / len(names)
        rotation = 0 if not crowded else 90 if len(names) > 12 else 30
        ax.set_xticks(x, names, rotation=rotation, ha="right" if rotation == 30 else "center", fontsize=7, rotation_mode="anchor")
        top = max(top, _finite_max(per_pod["share"].to_numpy(dtype=float) * 100 + np.nan_to_num(ci)), _finite_max(expected))
        if i % columns == 0:
            ax.set_ylabel("share of requests (%)")
        # The CV of each run's spread, averaged: what summary.csv calls pod_load_cv.
        cv = part.groupby("replication")["requests"].agg(lambda x: np.std(x) / np.mean(x) if np.mean(x) else np.nan).mean()
        ax.set_title(f"{scenario}" + (f" · {service}" if several_services else "") + f"\nload CV {number(cv, 2)} (mean over runs)", fontsize=9)
    axes[0].set_ylim(0, top * 1.08 if np.isfinite(top) and top > 0 else 1.0)  # shared; a share is never negative
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    handles = [_patch(zone_color[z], z) for z in zones]
    handles.append(_line("fair share: the pod's ready time / all pods' ready time" if weighted else "fair share (1/pods)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize=8)
    extra = f" (first {MAX_PANELS} of {len(groups)})" if len(groups) > MAX_PANELS else ""
    bars = "; error bars: 95 % CI" if pods["replication"].nunique() > 1 else ""
    fig.suptitle(f"Requests per pod, mean over replications, bars coloured by zone{bars}{extra}")
    return fig


def cross_zone(summary: pd.DataFrame) -> Figure | None:
    """Share of requests served in another zone (and its cost, when measured), per scenario."""
    columns = [c for c in ("cross_zone_fraction", "cross_zone_gb", "cross_zone_cost_usd") if c in summary and summary[c].notna().any()]
    if summary.empty or "cross_zone_fraction" not in columns:
        return None
    several = summary[["client", "service"]].drop_duplicates().shape[0] > 1
    labels = [_label(*k, several) for k in summary[KEYS].itertuples(index=False)]
    palette = colors(list(dict.fromkeys(summary["scenario"])))
    y = np.arange(len(summary))[::-1]
    fig = Figure(figsize=(4 + 3.5 * len(columns), 1.4 + 0.45 * len(summary)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(columns), sharey=True))
    titles = {"cross_zone_fraction": "requests served in another zone (%)", "cross_zone_gb": "cross-zone traffic (GB per run)",
              "cross_zone_cost_usd": "cross-zone cost (USD per run)"}
    for ax, column in zip(axes, columns, strict=True):
        values = summary[column].to_numpy(dtype=float) * (100 if column == "cross_zone_fraction" else 1)
        ax.barh(y, values, color=[palette[s] for s in summary["scenario"]], alpha=0.85)
        for yi, v in zip(y, values, strict=True):
            if np.isfinite(v):
                ax.text(v, yi, f" {v:.3g}", va="center", ha="left", fontsize=8)
        ax.set_xlim(0, np.nanmax(values) * 1.2 if np.isfinite(values).any() and np.nanmax(values) > 0 else 1)
        ax.set_title(titles[column])
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels)
    fig.suptitle("Cross-zone traffic (lower is cheaper)")
    return fig


TIME_COLUMNS = ("t_s", "time_s", "bucket_s", "start_s", "t_start_s", "bucket_start_s")


def time_column(frame: pd.DataFrame) -> str | None:
    """The time column of a timeline or events table (seconds)."""
    for name in (*TIME_COLUMNS, "at_s"):
        if name in frame:
            return name
    return next((c for c in frame.columns if c.endswith("_s") and pd.api.types.is_numeric_dtype(frame[c])), None)


EVENT_STYLES = {
    # what the experiment's churn: asked for (labelled), then what the controllers and pods did because of it
    "churn": ("black", "--", 0.9, "churn event"),
    "hpa-scale": ("tab:blue", "--", 0.9, "HPA scales"),
    "pod-created": ("tab:gray", ":", 0.6, "pod created"),
    "pod-ready": ("tab:green", "-", 0.7, "pod ready"),
    "readiness-gate": ("tab:olive", ":", 0.7, "readiness gate set"),
    "pod-deleted": ("tab:orange", "-", 0.7, "pod deleted (not ready)"),
    "pod-gone": ("tab:red", "-", 0.7, "pod gone / killed"),
    "node": ("tab:purple", "-.", 0.8, "node status"),
}
MAX_EVENT_LABELS = 10


def _event_style(action: str) -> str:
    if action in EVENT_STYLES:
        return action
    if action in ("sigkill", "pod-pending") or action.startswith("kill-"):
        return "pod-gone" if action != "pod-pending" else "pod-created"
    if action.startswith("node-"):
        return "node"
    return "churn"


def timeline(timeline: pd.DataFrame, events: pd.DataFrame | None = None) -> Figure | None:
    """Per scenario (small multiples): latency and errors over simulated time, mean over replications,
    with ready endpoints and every event that changed the system marked (of the first replication:
    pod timings differ a little between replications)."""
    t = time_column(timeline) if not timeline.empty else None
    if t is None or "scenario" not in timeline:
        return None
    latency = [c for c in ("latency_p99_ms", "latency_p50_ms") if c in timeline]
    errors = [c for c in timeline.columns if c.startswith("errors")]
    ready = "ready_endpoints" if "ready_endpoints" in timeline else None
    if not latency and not errors:
        return None
    scenarios = list(dict.fromkeys(timeline["scenario"]))
    shown = scenarios[:MAX_PANELS]
    columns = 1 if len(shown) == 1 else 2 if len(shown) <= 4 else 3
    rows = -(-len(shown) // columns)
    fig = Figure(figsize=(6.5 * columns if columns > 1 else 11, 4.6 * rows + 0.8), layout="constrained")
    cells = np.atleast_1d(fig.subfigures(rows, columns, squeeze=False)).ravel()
    # Sum over services per replication and bucket, then the mean over replications.
    per_run = timeline.groupby(["scenario", "replication", t], sort=False)[[*errors, *([ready] if ready else [])]].sum()
    if latency:
        per_run = per_run.join(timeline.groupby(["scenario", "replication", t], sort=False)[latency].max())
    mean = per_run.groupby(level=["scenario", t], sort=False).mean().reset_index()
    seen_styles: set[str] = set()
    for cell, scenario in zip(cells, shown, strict=False):
        part = mean[mean["scenario"] == scenario].sort_values(t)
        top, bottom = cell.subplots(2, 1, sharex=True)
        # Buckets: a value holds from its bucket's start to the next one.
        for column, style in zip(latency, ("-", ":"), strict=False):
            top.step(part[t], part[column], where="post", color="tab:blue", linestyle=style, label=column.split("_")[1])
        top.set_ylabel("latency (ms)")
        if latency:
            top.legend(fontsize=7, loc="upper left")
        error_counts = part[errors].sum(axis=1) if errors else pd.Series(0.0, index=part.index)
        bottom.step(part[t], error_counts, where="post", color="tab:red", label="errors")
        bottom.set_ylabel("errors per bucket", color="tab:red")
        bottom.set_ylim(0, max(float(error_counts.max()) * 1.1, 1.0))  # counts: never below 0
        if ready:
            twin = bottom.twinx()
            twin.step(part[t], part[ready], where="post", color="grey", linewidth=1, label="ready endpoints")
            twin.set_ylabel("ready endpoints", color="grey")
            from matplotlib.ticker import MaxNLocator

            twin.yaxis.set_major_locator(MaxNLocator(integer=True))  # endpoints are whole: no 7.6, 7.8 ticks
            top_ready = float(np.nanmax(part[ready])) if part[ready].notna().any() else 1.0
            twin.set_ylim(0, max(top_ready * 1.15, 1.0))
        bottom.set_xlabel("simulated time (s)")
        scenario_events = _events_of(events, scenario)
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            seen_styles |= _mark_events(ax, scenario_events, label=ax is top)
        cell.suptitle(scenario, fontsize=10)
    for cell in cells[len(shown):]:
        cell.set_visible(False)
    if seen_styles:
        handles = [_line(EVENT_STYLES[k][3], EVENT_STYLES[k][0], EVENT_STYLES[k][1]) for k in EVENT_STYLES if k in seen_styles]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8)
    extra = f" (first {MAX_PANELS} of {len(scenarios)} scenarios)" if len(scenarios) > MAX_PANELS else ""
    several = "replication" in timeline and timeline["replication"].nunique() > 1
    marks = "; vertical lines: events of the first replication" if several else "; vertical lines: events"
    fig.suptitle(f"Timeline, mean over replications{marks if seen_styles else ''}{extra}")
    return fig


def _events_of(events: pd.DataFrame | None, scenario: str) -> pd.DataFrame | None:
    """The scenario's events of its first replication: the churn asked for and every pod and node change it caused."""
    if events is None or events.empty:
        return None
    part = events[events["scenario"] == scenario] if "scenario" in events else events
    if "replication" in part and not part.empty:
        part = part[part["replication"] == part["replication"].min()]
    return part


def _event_kind(events: pd.DataFrame) -> str | None:
    return next((c for c in ("action", "kind", "event", "type") if c in events), None)


def _mark_events(ax: object, events: pd.DataFrame | None, label: bool = True) -> set[str]:
    """Vertical lines for the events, styled by what they did; text labels for the configured ones
    when there are few enough not to overlap. Returns the styles used (for the legend)."""
    if events is None or events.empty:
        return set()
    t = time_column(events)
    if t is None:
        return set()
    kind = _event_kind(events)
    seen = events.drop_duplicates(subset=[t, kind, *(["target"] if "target" in events else [])] if kind else [t])
    styles = set()
    labelled = [row for _, row in seen.iterrows() if kind and _event_style(str(row[kind])) in ("churn", "hpa-scale")]
    lo, hi = ax.get_xlim()  # type: ignore[attr-defined]
    span = max(hi - lo, 1e-9)
    last_label = -np.inf
    for _, event in seen.iterrows():
        style = _event_style(str(event[kind])) if kind else "churn"
        color, linestyle, width, _ = EVENT_STYLES[style]
        ax.axvline(event[t], color=color, linestyle=linestyle, linewidth=width, alpha=0.7)  # type: ignore[attr-defined]
        styles.add(style)
        if label and kind and style in ("churn", "hpa-scale") and len(labelled) <= MAX_EVENT_LABELS:
            if event[t] - last_label < 0.03 * span:
                continue  # too close to the previous label to be read
            last_label = event[t]
            ax.annotate(_event_label(event, kind), (event[t], 1.0), xycoords=("data", "axes fraction"), rotation=90,  # type: ignore[attr-defined]
                        fontsize=7, va="top", ha="right", bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1})
    return styles


def _event_label(event: pd.Series, kind: str) -> str:
    """``rollout web``, ``fail node-2``, ``hpa-scale 3 -> 7 replicas``: short enough to sit beside its line."""
    action = str(event[kind])
    detail = str(event["detail"]) if "detail" in event and pd.notna(event["detail"]) else ""
    if action == "hpa-scale" and detail:
        return f"{action} {detail.split(' at ')[0]}"
    target = str(event["target"]).split("/", 1)[-1] if "target" in event and pd.notna(event["target"]) else ""
    return f"{action} {target}".strip()


def _patch(color: tuple[float, ...], label: str) -> object:
    from matplotlib.patches import Patch

    return Patch(color=color, label=label)


def _line(label: str, color: str = "black", linestyle: str = "--") -> object:
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, linestyle=linestyle, label=label)


def _finite_max(values: np.ndarray) -> float:
    """The largest finite value, 0 when there is none (a Service whose pods served nothing, or no fair share)."""
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else 0.0

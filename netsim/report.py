"""report.md, a self-contained report.html and plots/*.png, from the result tables alone.

A reader should learn which configuration wins and by how much without opening
a CSV: the report opens with that verdict (paired differences to the reference
scenario, with their 95 % CIs), then the figures and tables behind it. Sections
whose tables are absent (a timeline without churn, cross-zone cost before it is
measured) are left out. ``netsim report RESULTS`` rebuilds everything from the
stored tables, so the same function serves a fresh run and an old folder.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from netsim import plots
from netsim.metrics import KEYS, ci95_halfwidth
from netsim.results import Results, write_atomic

Block = tuple[str, Any]
"""("h1" | "h2" | "p", text), ("table", DataFrame of strings) or ("img", (file name, caption))."""

PLOT_FILES = ("latency.png", "latency_cdf.png", "load_share.png", "cross_zone.png", "timeline.png")
PERCENTILES = {"latency_mean_ms": "mean", "latency_p50_ms": "p50", "latency_p90_ms": "p90", "latency_p99_ms": "p99",
               "latency_p999_ms": "p99.9"}
HEADLINE = {"latency_mean_ms": "mean latency", "latency_p99_ms": "p99 latency"}
COMPARED = ["latency_mean_ms", "latency_p99_ms", "error_rate", "pod_load_cv",
            "cross_zone_fraction", "cross_zone_gb", "cross_zone_cost_usd"]


def write_report(results: Results, folder: str | Path) -> Path:
    """Write report.md, report.html and plots/ under ``folder``; returns the HTML's path."""
    folder = Path(folder)
    figures = render_plots(results)
    for name in PLOT_FILES:
        path = folder / "plots" / name
        if name in figures:
            write_atomic(path, figures[name])
        else:
            path.unlink(missing_ok=True)  # from an earlier run whose tables had it
    blocks = build(results, figures)
    write_atomic(folder / "report.md", to_markdown(blocks).encode())
    write_atomic(folder / "report.html", to_html(blocks, figures, _title(results)).encode())
    return folder / "report.html"


def render_plots(results: Results) -> dict[str, bytes]:
    """PNG bytes of every figure the tables allow, by file name."""
    order = list(dict.fromkeys(results.summary["scenario"])) if not results.summary.empty else None
    reference = results.manifest.get("compare_to")
    makers: dict[str, Callable[[], Any]] = {
        "latency.png": lambda: plots.latency_bars(results.summary, reference if order and len(order) > 1 else None),
        "latency_cdf.png": lambda: plots.latency_cdf(results.latency, order),
        "load_share.png": lambda: plots.load_share(results.pods, order),
        "cross_zone.png": lambda: plots.cross_zone(results.summary) if _multi_zone(results) else None,
        "timeline.png": lambda: plots.timeline(results.timeline, results.events),
    }
    out = {}
    for name, make in makers.items():
        figure = make()
        if figure is not None:
            out[name] = plots.png(figure)
    return out


def build(results: Results, figures: dict[str, bytes]) -> list[Block]:
    """The report's content, independent of its format."""
    summary, manifest = results.summary, results.manifest
    scenarios = list(dict.fromkeys(summary["scenario"])) if not summary.empty else []
    reference = manifest.get("compare_to") or (scenarios[0] if scenarios else "")
    blocks: list[Block] = [("h1", _title(results)), ("p", _about(results))]
    for failure in results.failed[:5]:
        blocks.append(("p", f"**Run failed:** {failure['scenario']} replication {failure['replication']}: {failure['error']}"))
    if len(results.failed) > 5:
        blocks.append(("p", f"… and {len(results.failed) - 5} more failed run(s); see `manifest.json` (`failed_runs`)."))
    if summary.empty:
        blocks.append(("p", "No run finished, so there is nothing to report."))
        return blocks
    blocks += [("h2", "Verdict"), *[("p", line) for line in verdict(summary, results.comparison, reference)]]
    if len(scenarios) > 1 and _parameters(summary, results.parameters).shape[1] > 1:
        blocks += [("h2", "Scenarios"), ("table", _parameters(summary, results.parameters))]
    blocks.append(("h2", "Latency"))
    for name, caption in (("latency.png", "Mean and p99 latency per scenario, 95 % CIs across replications"),
                          ("latency_cdf.png", "Latency CDF (log x) and tail")):
        if name in figures:
            blocks.append(("img", (name, caption)))
    if not results.runs.empty:
        blocks += [("p", "Percentiles in ms, mean over replications ± 95 % CI half-width:"), ("table", percentile_table(results.runs))]
    if len(scenarios) > 1 and not results.comparison.empty:
        blocks += [("h2", f"Compared with {reference}"),
                   ("p", "Paired differences (same seeds, replication by replication) to the reference scenario, "
                         "with 95 % CIs; **yes** when the CI excludes zero."),
                   ("table", comparison_table(results.comparison))]
    blocks.append(("h2", "Load across pods"))
    if "load_share.png" in figures:
        blocks.append(("img", ("load_share.png", "Share of requests per pod")))
    blocks.append(("table", _figures(summary, {"pod_load_cv": "load CV", "pod_load_max_mean": "max/mean", "jain_index": "Jain index"})))
    if "cross_zone.png" in figures:
        cost = {"cross_zone_fraction": "cross-zone share", "cross_node_fraction": "cross-node share",
                "cross_zone_gb": "cross-zone GB", "cross_zone_cost_usd": "cross-zone cost (USD)"}
        blocks += [("h2", "Cross-zone traffic"), ("img", ("cross_zone.png", "Cross-zone traffic")), ("table", _figures(summary, cost))]
    if "timeline.png" in figures:
        blocks += [("h2", "Timeline"), ("img", ("timeline.png", "Latency and errors over time"))]
    tables = [f"`{n}.csv`" for n in ("summary", "runs", "pods", "latency", "comparison", "timeline", "events")
              if not getattr(results, n).empty]
    blocks += [("h2", "Files"), ("p", "Tables: " + ", ".join(tables) + "; what ran: `manifest.json`.")]
    return blocks


def verdict(summary: pd.DataFrame, comparison: pd.DataFrame, reference: str) -> list[str]:
    """Plain sentences: which scenarios lose requests, which wins on mean and p99 latency, and by how much."""
    lines = []
    for (client, service), group in summary.groupby(["client", "service"], sort=False):
        where = f" for {client} → {service}" if summary[["client", "service"]].drop_duplicates().shape[0] > 1 else ""
        if len(group) == 1:
            row = group.iloc[0]
            lines.append(
                f"One scenario{where}: mean latency {_pm(row, 'latency_mean_ms')} ms, p99 {_pm(row, 'latency_p99_ms')} ms, "
                f"error rate {_percent(row['error_rate'])}, over {int(row['replications'])} replication(s)."
            )
            continue
        if group["error_rate"].fillna(0).gt(0).any():
            lines.append(_errors_line(group, where))  # lost requests first: they matter more than milliseconds
        for metric, name in HEADLINE.items():
            if group[metric].isna().all():
                continue
            best = group.loc[group[metric].idxmin()]
            text = f"**{best['scenario']}** has the lowest {name}{where}: {_pm(best, metric)} ms"
            if best["scenario"] == reference:
                others = group[group["scenario"] != reference]
                runner = others.loc[others[metric].idxmin()]
                text += f" (the reference); the next best, **{runner['scenario']}**, is " + _difference(comparison, runner["scenario"], client, service, metric, reference)
            else:
                text += ", " + _difference(comparison, best["scenario"], client, service, metric, reference)
            if best["error_rate"] > 0:
                text += f" — but {_percent(best['error_rate'])} of its requests failed (latency counts successful requests only)"
            lines.append(text + ".")
    return lines


def _errors_line(group: pd.DataFrame, where: str) -> str:
    """Which scenarios lose requests: often the point of a comparison (churn, traffic policies)."""
    worst = group.loc[group["error_rate"].idxmax()]
    clean = list(group.loc[group["error_rate"].fillna(0) == 0, "scenario"])
    text = f"Most errors{where}: **{worst['scenario']}**, error rate {_percent(worst['error_rate'])}"
    if clean:
        names = ", ".join(f"**{s}**" for s in clean[:4]) + (f" and {len(clean) - 4} more" if len(clean) > 4 else "")
        text += f"; no errors in {names}"
    else:
        best = group.loc[group["error_rate"].idxmin()]
        text += f"; fewest in **{best['scenario']}**, {_percent(best['error_rate'])}"
    return text + "."


def _difference(comparison: pd.DataFrame, scenario: str, client: str, service: str, metric: str, reference: str) -> str:
    row = _comparison_row(comparison, scenario, client, service, metric)
    if row is None:
        return f"compared with the reference **{reference}**"
    change = row["relative_difference"]
    direction = "higher" if row["difference"] > 0 else "lower"
    size = f"{abs(change) * 100:.1f} % {direction} than" if np.isfinite(change) else "different from"
    significance = "significant" if row["significant"] else "not significant"
    return (f"{size} the reference **{reference}** (paired difference {row['difference']:+.3g} ms "
            f"± {_ci(row['difference_ci95'])}, {significance} at 95 %)")


def _comparison_row(comparison: pd.DataFrame, scenario: str, client: str, service: str, metric: str) -> pd.Series | None:
    if comparison.empty:
        return None
    match = comparison[(comparison["scenario"] == scenario) & (comparison["client"] == client)
                       & (comparison["service"] == service) & (comparison["metric"] == metric)]
    return None if match.empty else match.iloc[0]


def percentile_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Latency percentiles per scenario: mean over replications ± 95 % CI half-width."""
    rows = []
    for key, group in runs.groupby(KEYS, sort=False):
        row = dict(zip(KEYS, key, strict=True))
        row["requests"] = f"{int(group['requests'].sum()):,}"
        row["error rate"] = _percent(group["error_rate"].mean())
        for column, name in PERCENTILES.items():
            values = group[column].to_numpy(dtype=float)
            row[name] = f"{np.nanmean(values):.3g} ± {_ci(ci95_halfwidth(values))}" if np.isfinite(values).any() else "–"
        rows.append(row)
    return _drop_single_keys(pd.DataFrame(rows))


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """The headline metrics of ``comparison.csv``, formatted."""
    part = comparison[comparison["metric"].isin(COMPARED)].copy()
    part["order"] = part["metric"].map({m: i for i, m in enumerate(COMPARED)})
    part = part.sort_values(["order"], kind="stable").sort_values(["scenario"], key=_first_seen(comparison), kind="stable")
    rows = []
    for _, r in part.iterrows():
        rows.append({
            "scenario": r["scenario"], "client": r["client"], "service": r["service"], "metric": r["metric"],
            "reference": f"{r['reference_mean']:.4g}", "this": f"{r['mean']:.4g}",
            "difference": f"{r['difference']:+.3g} ± {_ci(r['difference_ci95'])}",
            "relative": f"{r['relative_difference'] * 100:+.1f} %" if np.isfinite(r["relative_difference"]) else "–",
            "significant": "**yes**" if r["significant"] else "no",
        })
    return _drop_single_keys(pd.DataFrame(rows))


def _first_seen(frame: pd.DataFrame) -> Callable[[pd.Series], pd.Series]:
    rank = {s: i for i, s in enumerate(dict.fromkeys(frame["scenario"]))}
    return lambda column: column.map(rank)


def _figures(summary: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    present = {c: name for c, name in columns.items() if c in summary}
    table = summary[[*KEYS, *present]].rename(columns=present)
    for name in present.values():
        table[name] = table[name].map(lambda v: "–" if pd.isna(v) else f"{v:.4g}")
    return _drop_single_keys(table)


def _parameters(summary: pd.DataFrame, parameters: list[str]) -> pd.DataFrame:
    table = summary.drop_duplicates("scenario")[["scenario", *[p for p in parameters if p in summary]]]
    table = table.apply(lambda column: column.map(lambda v: "(base)" if pd.isna(v) else str(v)))  # unset: the base file's value
    varying = [p for p in parameters if p in table and table[p].nunique() > 1]  # constant ones say nothing
    return table[["scenario", *varying]]


def _drop_single_keys(table: pd.DataFrame) -> pd.DataFrame:
    """Client and service columns only when there is more than one of them."""
    if table.empty:
        return table
    drop = [c for c in ("client", "service") if c in table and table[c].nunique() <= 1]
    return table.drop(columns=drop)


def _multi_zone(results: Results) -> bool:
    return not results.pods.empty and results.pods["zone"].nunique() > 1


def _title(results: Results) -> str:
    return f"netsim report: {results.manifest.get('experiment', results.folder.name if results.folder else 'experiment')}"


def _about(results: Results) -> str:
    m = results.manifest
    scenarios = m.get("scenarios", {})
    first = next(iter(scenarios.values()), {}).get("config", {})
    run = first.get("run", {})
    description = first.get("description", "")
    runs = m.get("runs", [])
    reused = sum(1 for r in runs if r.get("reused"))
    parts = [
        f"{len(scenarios)} scenario(s) × {run.get('replications', '?')} replication(s) of {run.get('duration', '?'):g} s "
        f"measured after a {run.get('warmup', 0):g} s warm-up, seed {run.get('seed', '?')}" if run else "",
        f"config hash `{m.get('config_hash', '?')}`, netsim {m.get('versions', {}).get('netsim', '?')}",
        f"{m.get('wall_time_s', 0):.1f} s wall time" + (f" ({reused} run(s) reused from an earlier invocation)" if reused else ""),
    ]
    return (description.rstrip(". ") + ". " if description else "") + "; ".join(p for p in parts if p) + "."


def _pm(row: pd.Series, metric: str) -> str:
    ci = row.get(f"{metric}_ci95", np.nan)
    return f"{row[metric]:.3g}" + (f" ± {_ci(ci)}" if pd.notna(ci) else "")


def _ci(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.2g}"


def _percent(value: float) -> str:
    return "–" if pd.isna(value) else f"{value * 100:.3g} %"


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for kind, content in blocks:
        if kind == "h1":
            out.append(f"# {content}")
        elif kind == "h2":
            out.append(f"## {content}")
        elif kind == "p":
            out.append(content)
        elif kind == "img":
            name, caption = content
            out.append(f"![{caption}](plots/{name})")
        elif kind == "table":
            out.append(_markdown_table(content))
    return "\n\n".join(out) + "\n"


def _markdown_table(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    rows = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:1em 0}
code{background:#f3f3f3;padding:0 .2em}"""


def to_html(blocks: list[Block], figures: dict[str, bytes], title: str) -> str:
    """One HTML file with every figure embedded (base64), readable offline and attachable to a CI run."""
    body = []
    for kind, content in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{html.escape(content)}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(content)}</p>")
        elif kind == "img":
            name, caption = content
            data = base64.b64encode(figures[name]).decode()
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}"></figure>')
        elif kind == "table":
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in content.columns)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(str(v))}</td>" for v in row) + "</tr>" for row in content.itertuples(index=False))
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _inline(text: str) -> str:
    """The little Markdown the report uses inline (**bold**, `code`) as HTML."""
    import re

    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)

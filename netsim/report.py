"""report.md, a self-contained report.html and plots/*.png, from the result tables alone.

A reader should learn which configuration wins and by how much without opening
a CSV, and should not be able to misread it: the report opens with the verdict
(:mod:`netsim.verdict`: errors first, significance stated plainly, what a
difference is made of), then the warnings a reader must not miss (saturated
pods, clients whose every request failed), then the figures and tables behind
them. Sections whose tables are absent or empty (a timeline without churn,
errors when nothing failed, utilisation before pods.csv has it) are left out.
``netsim report RESULTS`` rebuilds everything from the stored tables, so the same
function serves a fresh run and an old folder.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from netsim import plots, plots_calls
from netsim.diagnostics import failed_client_warnings, saturation_warnings
from netsim.humanize import number, percent
from netsim.report_tables import (
    ERROR_KINDS,
    comparison_table,
    edges_table,
    error_kinds_present,
    errors_table,
    figures_table,
    local_drop_lines,
    parameters_table,
    percentile_table,
    placement_table,
    routes_table,
    saturation_table,
)
from netsim.results import Results, write_atomic
from netsim.verdict import ERROR_TOLERANCE, RELATIVE_TOLERANCE, verdict

Block = tuple[str, Any]
"""("h1" | "h2" | "p", text), ("table", DataFrame of strings) or ("img", (file name, caption))."""

PLOT_FILES = ("latency.png", "latency_cdf.png", "breakdown.png", "call_graph.png", "load_share.png", "cross_zone.png",
              "timeline.png")


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
        "breakdown.png": lambda: plots_calls.breakdown_bars(breakdown_table(results), order),
        "call_graph.png": lambda: plots_calls.call_graph(results.edges, (reference or order[0]) if order else "",
                                                         measured_seconds(results)),
        "load_share.png": lambda: plots.load_share(results.pods, order, fair_share_table(results)),
        "cross_zone.png": lambda: plots.cross_zone(results.summary) if _multi_zone(results) else None,
        "timeline.png": lambda: plots.timeline(results.timeline, results.events),
    }
    out = {}
    for name, make in makers.items():
        figure = make()
        if figure is not None:
            out[name] = plots.png(figure)
    return out


def measured_seconds(results: Results) -> dict[str, float]:
    """Each scenario's measured window (``run.duration``) in seconds, from manifest.json."""
    out = {}
    for name, entry in results.manifest.get("scenarios", {}).items():
        run = (entry.get("config") or {}).get("run") or {}
        if isinstance(run.get("duration"), int | float):
            out[name] = float(run["duration"])
    return out


def fair_share_table(results: Results) -> pd.DataFrame | None:
    """Each pod's time-weighted fair share when the run has events (churn), else None (1/n)."""
    if results.events.empty or results.pods.empty or not {"scenario", "replication", "t_s", "action", "target"} <= set(results.events):
        return None
    from netsim.ready_time import fair_shares

    windows = {}
    for name, entry in results.manifest.get("scenarios", {}).items():
        run = (entry.get("config") or {}).get("run") or {}
        if isinstance(run.get("warmup"), int | float) and isinstance(run.get("duration"), int | float):
            windows[name] = (float(run["warmup"]), float(run["warmup"]) + float(run["duration"]))
    return fair_shares(results.pods, results.events, windows)


def breakdown_table(results: Results) -> pd.DataFrame | None:
    """``breakdown.csv`` (components of the mean latency per scenario × client) when the folder has one."""
    frame = getattr(results, "breakdown", None)
    if isinstance(frame, pd.DataFrame) and not frame.empty:
        return frame
    path = results.folder / "breakdown.csv" if results.folder else None
    return pd.read_csv(path) if path is not None and path.is_file() else None


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
    lines = verdict(summary, results.comparison, reference, results.runs, manifest, breakdown_table(results))
    blocks += [("h2", "Verdict"), *[("p", line) for line in lines]]
    if len(scenarios) > 1:
        blocks.append(("p", f"How to read it: scenarios that lost more requests (an error rate above the lowest by more than "
                            f"{number(ERROR_TOLERANCE * 100)} percentage point or {percent(RELATIVE_TOLERANCE)} of it, whichever is more) "
                            "are ranked after the others, since "
                            "latency counts successful requests only; a difference "
                            "is called significant when its paired 95 % interval (same seeds, replication by replication) excludes zero."))
    warnings = [*failed_client_warnings(summary), *saturation_warnings(results.pods, results.runs, manifest)]
    blocks += [("p", f"**Warning:** {w}") for w in warnings]
    params = parameters_table(summary, results.parameters)
    if len(scenarios) > 1 and params.shape[1] > 1:
        blocks += [("h2", "Scenarios"), ("p", "What each scenario sets (`(base)`: the experiment file's value):"), ("table", params)]
    blocks += _latency_blocks(results, figures, scenarios, reference)
    blocks += _call_blocks(results, figures, scenarios, reference)
    blocks += _error_blocks(results)
    blocks += _saturation_blocks(results)
    blocks += _route_blocks(results)
    blocks.append(("h2", "Load across pods"))
    if "load_share.png" in figures:
        caption = "Share of requests per pod against its fair share" + (" (time-weighted by how long each pod was ready)" if not results.events.empty else "")
        blocks.append(("img", ("load_share.png", caption)))
    blocks.append(("table", figures_table(summary, {"pod_load_cv": "load CV", "pod_load_max_mean": "max/mean", "jain_index": "Jain index"})))
    if "cross_zone.png" in figures:
        cost = {"cross_zone_fraction": "cross-zone share", "cross_node_fraction": "cross-node share",
                "cross_zone_gb": "cross-zone GB", "cross_zone_cost_usd": "cross-zone cost (USD)"}
        blocks += [("h2", "Cross-zone traffic"), ("img", ("cross_zone.png", "Cross-zone traffic")), ("table", figures_table(summary, cost))]
    if "timeline.png" in figures:
        blocks += [("h2", "Timeline"), ("img", ("timeline.png", "Latency, errors and ready endpoints over time, with every event that changed the system"))]
    tables = [f"`{n}.csv`" for n in ("summary", "runs", "pods", "latency", "comparison", "timeline", "events", "edges",
                                      "operations", "breakdown")
              if not getattr(results, n).empty]
    blocks += [("h2", "Files"), ("p", "Tables: " + ", ".join(tables) + "; what ran: `manifest.json`.")]
    return blocks


def _latency_blocks(results: Results, figures: dict[str, bytes], scenarios: list[str], reference: str) -> list[Block]:
    blocks: list[Block] = [("h2", "Latency")]
    several = results.runs["replication"].nunique() > 1 if not results.runs.empty else False
    for name, caption in (("latency.png", "Mean and p99 latency per scenario" + (", 95 % CIs across replications" if several else "")),
                          ("latency_cdf.png", "Latency CDF (log x) and tail")):
        if name in figures:
            blocks.append(("img", (name, caption)))
    if not results.runs.empty:
        intro = "Percentiles of successful requests in ms, mean over replications" + (" ± 95 % CI half-width:" if several else ":")
        blocks += [("p", intro), ("table", percentile_table(results.runs))]
    if len(scenarios) > 1 and not results.comparison.empty:
        blocks += [("h2", f"Compared with {reference}"),
                   ("p", "Paired differences (same seeds, replication by replication) to the reference scenario, "
                         "with 95 % CIs; **yes** when the CI excludes zero."),
                   ("table", comparison_table(results.comparison))]
    return blocks


def _call_blocks(results: Results, figures: dict[str, bytes], scenarios: list[str], reference: str) -> list[Block]:
    """Where the time goes (breakdown), and the calls between Services (call graph, edges table)."""
    blocks: list[Block] = []
    if "breakdown.png" in figures:
        blocks += [("h2", "Where the time goes"),
                   ("img", ("breakdown.png", "Mean latency of successful requests split along the critical path")),
                   ("p", "Each bar adds up to the mean latency; a `parallel` step counts the branch that finished last. "
                         "Per component and operation: `breakdown.csv`.")]
    table, cut = edges_table(results.edges, scenarios)
    if "call_graph.png" not in figures and table.empty:
        return blocks
    blocks.append(("h2", "Calls between Services"))
    if "call_graph.png" in figures:
        blocks.append(("img", ("call_graph.png", f"Call graph of {reference or scenarios[0]}")))
    if not table.empty:
        scope = f" ({scenarios[0]} only; every scenario in `edges.csv`)" if cut else ""
        blocks += [("p", f"Each caller's calls to each Service and operation{scope}: calls per entry request, the share "
                         "that failed, latency of the calls as the caller saw them (ms), and the share served on another node:"),
                   ("table", table)]
    return blocks


def _error_blocks(results: Results) -> list[Block]:
    table = errors_table(results.summary)
    if table.empty:
        return []
    blocks: list[Block] = [("h2", "Errors"), ("p", "Requests that failed, by kind (totals over replications; % of requests issued):"),
                           ("table", table)]
    kinds = error_kinds_present(results.summary)
    if kinds:
        blocks.append(("p", " ".join(f"`{k.removeprefix('errors_')}`: {ERROR_KINDS[k]}." for k in kinds)))
    blocks += [("p", line) for line in local_drop_lines(results.summary, results.pods, results.manifest)]
    return blocks


def _saturation_blocks(results: Results) -> list[Block]:
    table = saturation_table(results.pods, results.manifest)
    rejected = saturation_warnings(pd.DataFrame(), results.runs, results.manifest)
    if table.empty and not rejected:
        return []
    blocks: list[Block] = [("h2", "Saturation")]
    if not table.empty:
        blocks += [("p", "Utilisation of each pod: busy worker time / (workers × measured time), mean over replications. "
                         "Above 90 % the queue grows with every burst and the tail latency measures the queue."),
                   ("table", table)]
    blocks += [("p", line) for line in rejected]
    return blocks


def _route_blocks(results: Results) -> list[Block]:
    blocks: list[Block] = []
    routes = routes_table(results.summary)
    if not routes.empty:
        blocks += [("h2", "Where requests went"),
                   ("p", "Network links a successful request crossed to reach its pod (the internet for external clients, the load "
                         "balancer, one more to another node), the share served on another node or zone than where it entered, "
                         "the share whose pod saw the client's own address, and DNS queries per request:"),
                   ("table", routes)]
    placement, same = placement_table(results.pods, results.manifest)
    if not placement.empty:
        note = "the same in every scenario" if same else "per scenario"
        blocks += [("h2", "Pod placement"), ("p", f"Which endpoint pod ran on which node and zone ({note}; first replication):"),
                   ("table", placement)]
    return blocks


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
        f"{len(scenarios)} scenario(s) × {run.get('replications', '?')} replication(s) of {number(run.get('duration'))} s "
        f"measured after a {number(run.get('warmup', 0))} s warm-up, seed {run.get('seed', '?')}" if run else "",
        f"config hash `{m.get('config_hash', '?')}`, netsim {m.get('versions', {}).get('netsim', '?')}",
        f"{number(m.get('wall_time_s', 0), 2)} s wall time" + (f" ({reused} run(s) reused from an earlier invocation)" if reused else ""),
    ]
    return (description.rstrip(". ") + ". " if description else "") + "; ".join(p for p in parts if p) + "."


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

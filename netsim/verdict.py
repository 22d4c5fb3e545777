"""The report's opening sentences: which scenario wins, on what, by how much, and what the win is made of.

Three rules keep the verdict from misleading:

1. **Errors first.** Latency counts only the requests that succeeded, so a scenario
   that drops a third of its traffic can look fast on what it kept. Scenarios are
   ranked by error rate first; latency is compared only among those whose error rates
   are comparable (within :data:`ERROR_TOLERANCE` of the lowest), and the others are
   named with what they dropped.
2. **Significance, stated plainly.** Winners are named only when the paired 95 %
   interval (same seeds, replication by replication) excludes zero; otherwise the
   verdict says there is no significant difference. With one replication there is no
   interval, and it says so.
3. **What a difference is made of.** When the two scenarios compared differ in more
   than one setting (an in-cluster ClusterIP client vs an external NodePort one), the
   verdict names the settings and the parts of the path that differ: the network
   links crossed (``hops_mean``), the internet round trip of external clients and,
   when ``breakdown.csv`` is there, the components of the mean latency.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from netsim.humanize import number, percent, value
from netsim.metrics import ci95_halfwidth

HEADLINE = {"latency_mean_ms": "mean latency", "latency_p99_ms": "p99 latency"}
ERROR_TOLERANCE = 0.001
RELATIVE_TOLERANCE = 0.05
"""Error rates within 0.1 percentage point or 5 % of the lowest (whichever is more) are comparable: latency is
compared among them (when every scenario loses about the same share, say a node's, its latency still compares)."""
BREAKDOWN_VALUE_COLUMNS = ("mean_ms", "latency_ms", "time_ms", "value_ms", "ms")


def verdict(
    summary: pd.DataFrame,
    comparison: pd.DataFrame,
    reference: str,
    runs: pd.DataFrame | None = None,
    manifest: Mapping[str, Any] | None = None,
    breakdown: pd.DataFrame | None = None,
) -> list[str]:
    """Plain sentences, per client and Service: errors first, then mean and p99 latency among comparable scenarios."""
    manifest = manifest or {}
    parameters = [p for p in manifest.get("parameters", []) if p in summary]
    several_keys = summary[["client", "service"]].drop_duplicates().shape[0] > 1
    lines = []
    for (client, service), group in summary.groupby(["client", "service"], sort=False):
        where = f" for {client} → {service}" if several_keys else ""
        if len(group) == 1:
            row = group.iloc[0]
            lines.append(
                f"One scenario{where}: mean latency {_pm(row, 'latency_mean_ms')} ms, p99 {_pm(row, 'latency_p99_ms')} ms, "
                f"error rate {percent(row['error_rate'])}, over {int(row['replications'])} replication(s)."
            )
            continue
        rates = group["error_rate"].fillna(0)
        limit = rates.min() + max(ERROR_TOLERANCE, RELATIVE_TOLERANCE * rates.min())
        comparable = group[rates <= limit]
        dropping = group[rates > limit].sort_values("error_rate", kind="stable")
        if rates.gt(0).any():
            lines.append(_errors_line(group, where))
        context = _Context(client, service, reference, runs, comparison, manifest, breakdown, parameters, summary)
        context.comparable = list(comparable["scenario"])
        if len(comparable) == 1 and len(dropping):
            only = comparable.iloc[0]
            lines.append(
                f"Latency{where} is not compared across error rates: only **{only['scenario']}** has the lowest error rate "
                f"({percent(only['error_rate'])}); its mean latency is {_pm(only, 'latency_mean_ms')} ms, p99 {_pm(only, 'latency_p99_ms')} ms. "
                "The others' latency counts only the requests they kept."
            )
        else:
            for metric, name in HEADLINE.items():
                line = _latency_line(comparable, metric, name, where, context)
                if line:
                    lines.append(line)
        if len(dropping) and len(comparable) > 1:
            names = ", ".join(f"**{r['scenario']}** (dropped {percent(r['error_rate'])})" for _, r in dropping.iterrows())
            lines.append(
                f"Ranked after them{where}, because they lost requests: {names}; their latency counts only the requests they kept, "
                "so it is not compared with the scenarios above."
            )
    return lines


class _Context:
    """What a latency sentence needs besides the scenarios it compares."""

    def __init__(self, client: str, service: str, reference: str, runs: pd.DataFrame | None, comparison: pd.DataFrame,
                 manifest: Mapping[str, Any], breakdown: pd.DataFrame | None, parameters: list[str], summary: pd.DataFrame) -> None:
        self.client, self.service, self.reference = client, service, reference
        self.runs, self.comparison, self.manifest = runs, comparison, manifest
        self.breakdown, self.parameters, self.summary = breakdown, parameters, summary
        self.comparable: list[str] = []
        """Scenarios whose error rates are comparable: the only ones latency is compared among."""
        self.explained: set[tuple[str, str]] = set()
        """Pairs whose difference was already taken apart (once per pair is enough)."""


def _errors_line(group: pd.DataFrame, where: str) -> str:
    """Which scenarios lose requests, how many and of what kind: often the point of a comparison."""
    kinds = [c for c in group.columns if c.startswith("errors_") and not c.endswith("_ci95")]
    failing = group[group["error_rate"].fillna(0) > 0].sort_values("error_rate", ascending=False, kind="stable")
    parts = []
    for _, row in failing.head(4).iterrows():
        main = _main_kinds(row, kinds)
        parts.append(f"**{row['scenario']}** lost {percent(row['error_rate'])} of its requests" + (f" ({main})" if main else ""))
    if len(failing) > 4:
        parts.append(f"{len(failing) - 4} more scenario(s) lost some")
    clean = list(group.loc[group["error_rate"].fillna(0) == 0, "scenario"])
    text = f"Errors first{where}: " + "; ".join(parts)
    if clean:
        text += "; no errors in " + ", ".join(f"**{s}**" for s in clean[:4]) + (f" and {len(clean) - 4} more" if len(clean) > 4 else "")
    return text + "."


def _main_kinds(row: pd.Series, kinds: list[str]) -> str:
    """``errors_no_local_endpoint: all`` or ``errors_timeout 70 %, errors_refused 30 %``."""
    counts = {k: float(row[k]) for k in kinds if pd.notna(row.get(k)) and row[k] > 0}
    total = sum(counts.values())
    if not total:
        return ""
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    if len(ordered) == 1:
        return f"all {ordered[0][0]}"
    return ", ".join(f"{k} {percent(v / total, 2)}" for k, v in ordered[:3])


def _latency_line(comparable: pd.DataFrame, metric: str, name: str, where: str, ctx: _Context) -> str | None:
    candidates = comparable[comparable[metric].notna()]
    if len(candidates) < 2:
        return None
    best = candidates.loc[candidates[metric].idxmin()]
    others = candidates[candidates["scenario"] != best["scenario"]]
    if ctx.reference in set(others["scenario"]):
        other = others[others["scenario"] == ctx.reference].iloc[0]
        role = "the reference"
    else:
        other = others.loc[others[metric].idxmin()]
        role = "the next best"
    diff, ci, pairs = paired_difference(ctx, best["scenario"], other["scenario"], metric)
    a, b = best["scenario"], other["scenario"]
    ref_note = " (the reference)" if a == ctx.reference else ""
    if pairs < 2 or not np.isfinite(ci):
        text = (f"**{a}**{ref_note} has the lowest {name}{where}, {number(best[metric])} ms against {number(other[metric])} ms "
                f"for {role} **{b}**; with {pairs} paired replication(s) there is no confidence interval, so whether the "
                "difference is real is unknown (run 2 or more replications)")
    elif abs(diff) <= ci:
        text = (f"No significant difference in {name}{where} between **{a}** ({_pm(best, metric)} ms) and "
                f"{role} **{b}** ({_pm(other, metric)} ms): paired difference {_signed(diff)} ms ± {number(ci, 2)} at 95 %, "
                "an interval that includes zero")
    else:
        relative = diff / other[metric] if other[metric] else np.nan
        size = f"{number(abs(relative) * 100, 2)} % lower than" if np.isfinite(relative) else "lower than"
        text = (f"**{a}**{ref_note} has the lowest {name}{where}: {_pm(best, metric)} ms, {size} {role} **{b}** "
                f"(paired difference {_signed(diff)} ms ± {number(ci, 2)}, significant at 95 %)")
    pair = (a, b)
    if abs(diff) <= ci or pair in ctx.explained:
        return text + "."
    ctx.explained.add(pair)
    made_of = composition(ctx, best, other, metric)
    return text + "." + (f" {made_of}" if made_of else "")


def paired_difference(ctx: _Context, a: str, b: str, metric: str) -> tuple[float, float, int]:
    """Mean of ``a − b`` over replications with the same index (common random numbers), its 95 % half-width, pairs."""
    runs = ctx.runs
    if runs is not None and not runs.empty and metric in runs:
        mine = runs[(runs["client"] == ctx.client) & (runs["service"] == ctx.service)]
        left = mine[mine["scenario"] == a][["replication", metric]]
        right = mine[mine["scenario"] == b][["replication", metric]]
        pairs = left.merge(right, on="replication", suffixes=("_a", "_b"))
        d = (pairs[f"{metric}_a"] - pairs[f"{metric}_b"]).to_numpy(dtype=float)
        d = d[np.isfinite(d)]
        return (float(d.mean()) if d.size else np.nan), ci95_halfwidth(d), int(d.size)
    for scenario, sign in ((a, 1.0), (b, -1.0)):  # comparison.csv holds differences to the reference only
        other = b if scenario == a else a
        if other != ctx.reference or ctx.comparison.empty:
            continue
        c = ctx.comparison
        match = c[(c["scenario"] == scenario) & (c["client"] == ctx.client) & (c["service"] == ctx.service) & (c["metric"] == metric)]
        if not match.empty:
            row = match.iloc[0]
            return sign * float(row["difference"]), float(row["difference_ci95"]), int(row.get("pairs", 0))
    return np.nan, np.nan, 0


def composition(ctx: _Context, best: pd.Series, other: pd.Series, metric: str) -> str:
    """When two scenarios differ in more than one setting, what their latency difference is made of."""
    settings = differing_settings(ctx, best["scenario"], other["scenario"])
    locations = [_client_location(ctx.manifest, s, ctx.client) for s in (best["scenario"], other["scenario"])]
    types_differ = best.get("service_type") != other.get("service_type")
    if len(settings) < 2 and not types_differ and locations[0] == locations[1]:
        return ""
    a, b = best["scenario"], other["scenario"]
    listed = "; ".join(f"{path}: {va} vs {vb}" for path, va, vb in settings[:4]) or "their Service type and path"
    if len(settings) >= 2:
        text = f"**{a}** and **{b}** differ in more than one setting ({listed}), so the difference is not due to one of them alone"
    else:
        text = f"**{a}** and **{b}** differ in {listed}, which changes more than one part of the request's path"
    parts = _components(ctx, a, b)
    if parts:
        return text + f": by component (breakdown.csv, {a} − {b}), " + ", ".join(parts) + "."
    alone = one_at_a_time(ctx, a, settings, metric) if len(settings) >= 2 else []
    if alone:
        text += ". One setting at a time (paired differences, 95 %): " + "; ".join(alone)
    reasons = []
    if "hops_mean" in best and pd.notna(best["hops_mean"]) and pd.notna(other.get("hops_mean")) and abs(best["hops_mean"] - other["hops_mean"]) >= 0.05:
        reasons.append(f"a request of **{a}** crosses {number(best['hops_mean'])} network link(s) on average against "
                       f"{number(other['hops_mean'])} for **{b}** (hops_mean), each paid both ways")
    if locations[0] != locations[1] and "external" in locations:
        internet = _mean_seconds((_scenario_config(ctx.manifest, a).get("cluster") or {}).get("network", {}).get("internet"))
        rtt = f" ({number(2 * internet * 1000)} ms a round trip here)" if internet is not None else ""
        outside = a if locations[0] == "external" else b
        reasons.append(f"the external client of **{outside}** pays the internet both ways{rtt}, an in-cluster client does not")
    if types_differ:
        reasons.append(f"the Service type ({best.get('service_type')} vs {other.get('service_type')}) changes the entry path "
                       "(node port, load balancer hop)")
    if not reasons:
        return text + "."
    return text + (". Along the path: " if alone else ": ") + "; ".join(reasons) + "."


def differing_settings(ctx: _Context, a: str, b: str) -> list[tuple[str, str, str]]:
    """``(path, value in a, value in b)`` for every scenario parameter whose values differ.

    A scenario that does not set a path has the experiment file's value, read from its
    resolved config in manifest.json (``(base)`` when that is not there either).
    """
    out = []
    for path in ctx.parameters:
        sa, sb = setting(ctx, a, path), setting(ctx, b, path)
        if sa != sb:
            out.append((path, sa, sb))
    return out


def setting(ctx: _Context, scenario: str, path: str) -> str:
    """The value of a scenario parameter as text: what the scenario set, else what its config holds."""
    rows = ctx.summary.drop_duplicates("scenario").set_index("scenario")
    given = rows.at[scenario, path] if scenario in rows.index and path in rows else np.nan
    if not (isinstance(given, float) and np.isnan(given)) and given is not None:
        return value(given)
    from netsim.config import MISSING, value_at

    found = value_at(dict(_scenario_config(ctx.manifest, scenario)), path)
    return "(not set)" if found is MISSING else value(found)


def one_at_a_time(ctx: _Context, a: str, settings: list[tuple[str, str, str]], metric: str) -> list[str]:
    """In a sweep, the effect of each differing setting alone: ``a`` against the scenario that differs from it only there."""
    scenarios = ctx.comparable  # latency of a scenario that lost requests is no reference
    out = []
    for path, _, vb in settings:
        def matches(c: str, path: str = path, vb: str = vb) -> bool:
            return setting(ctx, c, path) == vb and all(setting(ctx, c, p) == setting(ctx, a, p) for p in ctx.parameters if p != path)
        other = next((c for c in scenarios if c != a and matches(c)), None)
        if other is None:
            continue
        diff, ci, _ = paired_difference(ctx, a, other, metric)
        if not np.isfinite(diff):
            continue
        interval = f" ± {number(ci, 2)}" if np.isfinite(ci) else ""
        out.append(f"{path} alone ({vb} → {setting(ctx, a, path)}, against **{other}**): {_signed(diff)} ms{interval}")
    return out


def _components(ctx: _Context, a: str, b: str) -> list[str]:
    """Components of the mean latency from ``breakdown.csv`` (long: a ``component`` column; wide: ``*_ms`` columns)."""
    frame = ctx.breakdown
    if frame is None or frame.empty or "scenario" not in frame:
        return []
    part = frame[frame["client"] == ctx.client] if "client" in frame else frame
    if "component" in part:
        column = next((c for c in BREAKDOWN_VALUE_COLUMNS if c in part), None)
        if column is None:
            return []
        table = part.groupby(["scenario", "component"], sort=False)[column].mean().unstack("component")
    else:
        columns = [c for c in part.columns if c.endswith("_ms") and not c.startswith("latency_") and pd.api.types.is_numeric_dtype(part[c])]
        if not columns:
            return []
        table = part.groupby("scenario", sort=False)[columns].mean()
        table.columns = [c.removesuffix("_ms") for c in columns]
    if a not in table.index or b not in table.index:
        return []
    diff = (table.loc[a] - table.loc[b]).dropna()
    diff = diff.reindex(diff.abs().sort_values(ascending=False).index)
    return [f"{name} {_signed(v)} ms" for name, v in diff.items() if abs(v) > 0][:5]


def _scenario_config(manifest: Mapping[str, Any], scenario: str) -> Mapping[str, Any]:
    entry = manifest.get("scenarios", {}).get(scenario, {})
    return entry.get("config", {}) if isinstance(entry, Mapping) else {}


def _client_location(manifest: Mapping[str, Any], scenario: str, client: str) -> str | None:
    for c in _scenario_config(manifest, scenario).get("clients") or []:
        if isinstance(c, Mapping) and c.get("name") == client:
            return c.get("location")
    return None


def _mean_seconds(distribution: Any) -> float | None:
    """The mean of a distribution as manifest.json stores it (seconds)."""
    if isinstance(distribution, int | float):
        return float(distribution)
    if not isinstance(distribution, Mapping):
        return None
    for key in ("mean", "value"):
        if isinstance(distribution.get(key), int | float):
            return float(distribution[key])
    if isinstance(distribution.get("low"), int | float) and isinstance(distribution.get("high"), int | float):
        return (distribution["low"] + distribution["high"]) / 2
    return None


def _pm(row: pd.Series, metric: str) -> str:
    ci = row.get(f"{metric}_ci95", np.nan)
    return number(row[metric]) + (f" ± {number(ci, 2)}" if pd.notna(ci) else "")


def _signed(x: float) -> str:
    text = number(x)
    return text if text.startswith(("-", "−")) else f"+{text}"

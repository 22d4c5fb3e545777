"""Baselines and the regression rule: a metric regresses when it is worse by more than a factor
*and* the difference is statistically significant across replications.

Both halves matter (as in asv): a large change seen in noisy replications is not
evidence, and a tiny significant change is not worth failing a build for. The
test is Welch's one-sided t-test on the per-replication values (unequal
variances, so a baseline and a run of different lengths compare fairly);
each metric knows whether lower or higher is better.

A baseline file holds per-replication samples, not just means, so that the test
can be run against it later::

    {"schema_version": 1, "kind": "netsim-baseline", "netsim_version": "0.1.0",
     "experiment": "quickstart", "config_hash": "…", "created": "…",
     "metrics": [{"scenario": "quickstart", "client": "users", "service": "web",
                  "metric": "latency_mean_ms", "better": "lower", "samples": [11.6, 11.7, 11.5]}, …]}
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from netsim.check_limits import BREACHED, Limit, apply_limits
from netsim.errors import ConfigError
from netsim.humanize import number
from netsim.metrics import KEYS, ci95_halfwidth, is_count, metric_columns
from netsim.power import MAX_REPLICATIONS, POWER, assess
from netsim.results import Results

SCHEMA_VERSION = 1
KIND = "netsim-baseline"
HIGHER_IS_BETTER = {"throughput_rps", "jain_index", "client_ip_preserved_fraction"}
LOWER_IS_BETTER = {
    "error_rate", "pod_load_cv", "pod_load_max_mean", "cross_node_fraction", "cross_zone_fraction", "cross_zone_gb",
    "cross_zone_cost_usd", "hops_mean", "dns_queries_per_request",
}
REGRESSED, IMPROVED = "REGRESSED", "improved"


def better(metric: str) -> str | None:
    """``"lower"`` or ``"higher"`` when the metric has a better direction, else None (not checked)."""
    if metric in HIGHER_IS_BETTER:
        return "higher"
    if metric in LOWER_IS_BETTER or metric.startswith(("latency_", "errors_", "programming_latency_")):
        return "lower"
    return None


MIN_REPLICATIONS = 2
"""Fewer replications per metric give no variance, so the t-test cannot run: such a baseline is refused."""


def make_baseline(results: Results) -> dict[str, Any]:
    """A baseline of every directed, averaged metric in ``results.runs``, per replication.

    Refused (ConfigError) when a metric would have fewer than :data:`MIN_REPLICATIONS` values:
    such a baseline could never show a regression.
    """
    from netsim import __version__

    runs = results.runs
    if runs.empty:
        raise ConfigError(str(results.folder or "results"), "no finished runs to make a baseline of; run `netsim run` first")
    metrics = [m for m in metric_columns(runs, results.parameters) if not is_count(runs, m) and better(m)]
    entries = []
    for key, group in runs.sort_values("replication", kind="stable").groupby(KEYS, sort=False):
        for metric in metrics:
            samples = [None if pd.isna(v) else float(v) for v in group[metric]]
            if any(s is not None for s in samples):
                entries.append({**dict(zip(KEYS, key, strict=True)), "metric": metric, "better": better(metric), "samples": samples})
    if not entries:
        raise ConfigError(str(results.folder or "results"), "no metric has a value in these results; nothing to make a baseline of")
    fewest = min(entries, key=lambda e: sum(s is not None for s in e["samples"]))
    have = sum(s is not None for s in fewest["samples"])
    if have < MIN_REPLICATIONS:
        raise ConfigError(
            str(results.folder or "results"),
            f"{fewest['scenario']}/{fewest['metric']} has {have} replication(s); a baseline needs {MIN_REPLICATIONS} or more per metric "
            "for the t-test (3 or more for most latency figures; `netsim baseline` says what each metric needs): rerun with --set run.replications=3",
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "netsim_version": __version__,
        "experiment": results.manifest.get("experiment"),
        "config_hash": results.manifest.get("config_hash"),
        "engines": engines(results.manifest),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "metrics": entries,
    }


def dump_baseline(baseline: dict[str, Any]) -> str:
    """The baseline as JSON with one metric a line: short, and diffs well when a baseline is renewed."""
    head = {k: v for k, v in baseline.items() if k != "metrics"}
    lines = json.dumps(head, indent=1)[:-2] + ',\n "metrics": [\n'
    lines += ",\n".join("  " + json.dumps(entry) for entry in baseline["metrics"])
    return lines + "\n ]\n}\n"


def read_baseline(path: str | Path) -> dict[str, Any]:
    """Read and check a baseline file; bad input is a ConfigError naming ``--baseline``.

    Every entry must name its scenario, client, service and metric as text, say which
    direction is better, and hold at least :data:`MIN_REPLICATIONS` finite samples:
    a baseline with nothing to compare cannot pass a check.
    """
    path = Path(path)
    fix = f"make one with `netsim baseline RESULTS -o {path}`"
    try:
        data = json.loads(path.read_text(), parse_constant=_no_constant)
    except FileNotFoundError:
        raise ConfigError("--baseline", f"{path}: file not found; {fix}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError("--baseline", f"{path}: not a readable JSON file ({str(exc).splitlines()[0] if str(exc) else exc!r}); {fix}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND or not isinstance(data.get("metrics"), list):
        raise ConfigError("--baseline", f"{path}: not a netsim baseline; {fix}")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError("--baseline", f"{path}: baseline schema version {data.get('schema_version')}, this netsim reads {SCHEMA_VERSION}; {fix}")
    if not data["metrics"]:
        raise ConfigError("--baseline", f"{path}: holds no metric, so nothing could regress; {fix}")
    for i, entry in enumerate(data["metrics"]):
        _check_entry(entry, f"{path}: metrics.{i}", fix)
    return data


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a baseline may hold")


def _check_entry(entry: Any, where: str, fix: str) -> None:
    if not isinstance(entry, dict):
        raise ConfigError("--baseline", f"{where}: must be an object with scenario, client, service, metric, better, samples; {fix}")
    for key in ("scenario", "client", "service", "metric"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigError("--baseline", f"{where}.{key}: must be a non-empty text, got {entry.get(key)!r}; {fix}")
    if entry.get("better") not in ("lower", "higher"):
        raise ConfigError("--baseline", f"{where}.better: must be 'lower' or 'higher', got {entry.get('better')!r}; {fix}")
    samples = entry.get("samples")
    if not isinstance(samples, list) or any(s is not None and (isinstance(s, bool) or not isinstance(s, int | float)) for s in samples):
        raise ConfigError("--baseline", f"{where}.samples: must be a list of numbers (null for a missing one); {fix}")
    finite = [s for s in samples if s is not None and math.isfinite(s)]
    if len(finite) < MIN_REPLICATIONS:
        raise ConfigError(
            "--baseline", f"{where}.samples: {len(finite)} finite replication(s) of {entry['metric']}; a baseline needs {MIN_REPLICATIONS} or more "
            f"per metric for the t-test (3 or more for most latency figures); {fix} after a run with --set run.replications=3",
        )


@dataclass
class Verdict:
    """The rule applied to one metric."""

    verdict: str
    change: float
    """Relative change of the mean, now vs baseline (+0.3 = 30 % higher)."""
    p_value: float
    """One-sided: how likely a difference this large in the *worse* (or, if improved, better) direction is by chance."""


def judge(baseline: np.ndarray, now: np.ndarray, direction: str, factor: float = 1.1, alpha: float = 0.01) -> Verdict:
    """Regressed when worse by more than ``factor`` and significant at ``alpha``; improved likewise."""
    base = np.asarray(baseline, dtype=float)
    cur = np.asarray(now, dtype=float)
    base, cur = base[~np.isnan(base)], cur[~np.isnan(cur)]
    if not base.size or not cur.size:
        return Verdict("missing", math.nan, math.nan)
    mb, mn = float(base.mean()), float(cur.mean())
    change = (mn - mb) / abs(mb) if mb else (0.0 if mn == mb else math.copysign(math.inf, mn - mb))
    worse_ratio = _ratio(mn, mb) if direction == "lower" else _ratio(mb, mn)
    p_worse = _p_greater(cur, base) if direction == "lower" else _p_greater(base, cur)
    p_better = _p_greater(base, cur) if direction == "lower" else _p_greater(cur, base)
    if worse_ratio > factor:
        return Verdict(REGRESSED if p_worse < alpha else "worse, not significant", change, p_worse)
    if worse_ratio < 1 / factor:
        return Verdict(IMPROVED if p_better < alpha else "better, not significant", change, p_better)
    return Verdict("ok", change, min(p_worse, p_better))


def _ratio(a: float, b: float) -> float:
    """a / b for non-negative figures, with 0/0 = 1 and x/0 = inf."""
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def _p_greater(x: np.ndarray, y: np.ndarray) -> float:
    """One-sided Welch p-value for mean(x) > mean(y); deterministic samples decide by their means."""
    if x.size < 2 or y.size < 2:
        return math.nan  # one replication cannot show significance
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return 0.0 if x[0] > y[0] else 1.0
    return float(stats.ttest_ind(x, y, equal_var=False, alternative="greater").pvalue)


@dataclass
class CheckResult:
    """The rule applied to every baseline metric, and the limits to every row, in one table.

    Columns: scenario, client, service, metric, better, baseline_mean, baseline_ci95,
    now_mean, now_ci95, change, p_value, verdict, limit, detectable_change,
    replications_needed (None when the replications suffice to detect a change of ``factor``).
    """

    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> list[str]:
        return list(self.table.loc[self.table["verdict"] == REGRESSED, "metric"])

    @property
    def breached(self) -> list[str]:
        return list(self.table.loc[self.table["verdict"].astype(str).str.startswith(BREACHED), "metric"])

    @property
    def failed(self) -> bool:
        """Exit 1: a metric regressed or a limit was exceeded."""
        return bool(self.regressed or self.breached)


def check(results: Results, baseline: dict[str, Any] | None, factor: float = 1.1, alpha: float = 0.01,
          limits: list[Limit] | None = None) -> CheckResult:
    """Apply the rule to every metric of ``baseline`` and every limit to ``results``.

    Raises ConfigError (exit 2, never a pass or a regression) when the results cannot
    be compared: a baseline metric absent from runs.csv, a scenario/client/Service of
    the baseline that did not run, a metric column that holds no numbers.
    """
    if not factor >= 1 or not math.isfinite(factor):
        raise ConfigError("--factor", f"must be 1 or more (1.1 means 10 % worse), got {factor}")
    if not 0 < alpha < 1:
        raise ConfigError("--alpha", f"must be between 0 and 1 (e.g. 0.01), got {alpha}")
    if baseline is None and not limits:
        raise ConfigError("--baseline", "give a baseline, a --limit, or both; with neither there is nothing to check")
    runs = results.runs.sort_values("replication", kind="stable") if not results.runs.empty else results.runs
    if runs.empty:
        raise ConfigError(str(results.folder or "results"), "runs.csv has no finished run, so nothing can be checked; run `netsim run` first")
    warnings: list[str] = []
    rows = _baseline_rows(runs, baseline, factor, alpha, results, warnings) if baseline is not None else []
    table = pd.DataFrame(rows, columns=COLUMNS)
    if limits:
        limited = apply_limits(runs, limits)
        limited = limited.assign(better=None, baseline_mean=np.nan, baseline_ci95=np.nan, now_ci95=np.nan, change=np.nan,
                                 p_value=np.nan, detectable_change=np.nan, replications_needed=None)
        table = pd.concat([table, limited[COLUMNS]], ignore_index=True) if not table.empty else limited[COLUMNS]
    weak = table[table["replications_needed"].notna()] if not table.empty else table
    if not weak.empty:
        needs = {str(m): int(n) for m, n in weak.groupby("metric", sort=False)["replications_needed"].max().items()}
        warnings.append("too few replications: " + advice(needs, int(runs["replication"].nunique()), factor, alpha))
    return CheckResult(table, warnings)


COLUMNS = ["scenario", "client", "service", "metric", "better", "baseline_mean", "baseline_ci95", "now_mean", "now_ci95",
           "change", "p_value", "verdict", "limit", "detectable_change", "replications_needed"]


def _baseline_rows(runs: pd.DataFrame, baseline: dict[str, Any], factor: float, alpha: float, results: Results,
                   warnings: list[str]) -> list[dict[str, Any]]:
    if baseline.get("config_hash") != results.manifest.get("config_hash"):
        warnings.append(
            f"config hash {results.manifest.get('config_hash')} differs from the baseline's {baseline.get('config_hash')}: "
            "the experiment changed since the baseline was made, so a difference may be intended"
        )
    warnings.extend(engine_warnings(baseline, results.manifest))
    keys = set(map(tuple, runs[KEYS].astype(str).to_numpy()))
    entries = baseline["metrics"]
    if not any((e["scenario"], e["client"], e["service"]) in keys for e in entries):
        raise ConfigError(
            "--baseline", f"no scenario, client and service of the baseline (experiment '{baseline.get('experiment')}') "
            f"is in these results (experiment '{results.manifest.get('experiment')}'); check that both come from the same experiment"
        )
    where = str(results.folder / "runs.csv") if results.folder else "runs.csv"
    rows = []
    for entry in entries:
        key = (entry["scenario"], entry["client"], entry["service"])
        if key not in keys:
            raise ConfigError(where, f"has no rows of {'/'.join(key)}, which the baseline checks; run the whole experiment, "
                                     "or renew the baseline if the scenario was removed on purpose")
        if entry["metric"] not in runs:
            raise ConfigError(where, f"has no column '{entry['metric']}', which the baseline checks; rerun with this netsim, or renew the baseline")
        if not pd.api.types.is_numeric_dtype(runs[entry["metric"]]):
            raise ConfigError(where, f"column '{entry['metric']}' holds text, not numbers; the folder is damaged: rerun `netsim run`")
        mask = (runs["scenario"].astype(str) == key[0]) & (runs["client"].astype(str) == key[1]) & (runs["service"].astype(str) == key[2])
        now = _finite(runs.loc[mask, entry["metric"]].to_numpy(dtype=float))
        base = _finite(np.array([np.nan if v is None else v for v in entry["samples"]], dtype=float))
        # The baseline has values and these runs none (no successful request, so no latency): worse than any value.
        v = judge(base, now, entry["better"], factor, alpha) if now.size else Verdict(REGRESSED, math.nan, math.nan)
        relative, needed = assess(base, now, factor, alpha)
        rows.append({
            "scenario": key[0], "client": key[1], "service": key[2], "metric": entry["metric"], "better": entry["better"],
            "baseline_mean": float(base.mean()), "baseline_ci95": ci95_halfwidth(base),
            "now_mean": float(now.mean()) if now.size else np.nan, "now_ci95": ci95_halfwidth(now), "change": v.change,
            "p_value": v.p_value, "verdict": v.verdict, "limit": "",
            "detectable_change": relative, "replications_needed": needed,
        })
    return rows


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def _count(n: float) -> str:
    return f"{MAX_REPLICATIONS}+" if n >= MAX_REPLICATIONS else str(int(n))


PRACTICAL = 30
"""Replications beyond this are not a recommendation but a sign the metric is too noisy for the factor."""


def advice(needs: dict[str, int], have: int, factor: float, alpha: float) -> str:
    """One sentence: which metrics need more replications and how many, and which are too noisy for ``factor`` at all."""
    head = f"with {have} replication(s), a change of ×{factor:g} at alpha {alpha:g} shows as significant less than {POWER:.0%} of the time in"
    fixable = {m: n for m, n in needs.items() if n <= PRACTICAL}
    noisy = {m: n for m, n in needs.items() if n > PRACTICAL}
    parts = []
    if fixable:
        listed = ", ".join(f"{m} (needs {n})" for m, n in sorted(fixable.items(), key=lambda kv: -kv[1]))
        parts.append(f"{listed}: rerun the baseline and the checked runs with --set run.replications={max(fixable.values())}")
    if noisy:
        listed = ", ".join(f"{m} (would need {_count(n)})" for m, n in sorted(noisy.items(), key=lambda kv: -kv[1]))
        parts.append(f"{listed}: too noisy between replications for ×{factor:g}; check these with an absolute --limit or a larger --factor")
    return f"{head} {len(needs)} metric(s): " + "; ".join(parts) + "; 'no regression' there means 'could not tell'"


def baseline_advice(baseline: dict[str, Any], factor: float = 1.1, alpha: float = 0.01) -> list[str]:
    """What ``netsim baseline`` prints: whether its replications can detect a change of ``factor`` in each metric."""
    have = min(sum(s is not None for s in e["samples"]) for e in baseline["metrics"])
    needs: dict[str, int] = {}
    for entry in baseline["metrics"]:
        base = _finite(np.array([np.nan if v is None else v for v in entry["samples"]], dtype=float))
        _, needed = assess(base, base, factor, alpha)  # a rerun assumed to vary as the baseline does
        if needed is not None:
            needs[entry["metric"]] = max(needs.get(entry["metric"], 0), needed)
    if not needs:
        return [f"{have} replication(s) per metric detect a change of ×{factor:g} at alpha {alpha:g} in every metric "
                f"({POWER:.0%} of the time or more); run the checked results with as many"]
    return [advice(needs, have, factor, alpha)]


def format_check(result: CheckResult, factor: float, alpha: float, style: str = "text", title: str = "", show: str = "matter") -> str:
    """The table of metric, baseline, now, change, verdict: for a CI log (text) or a job summary (markdown).

    ``show``: ``all`` rows; ``matter`` (regressions, improvements, limits exceeded, changes
    that were not significant, too few replications); ``failures`` (regressions and limits exceeded).
    """
    table = result.table
    shown = table[_rows_to_show(table, show)] if not table.empty else table
    several = table[["scenario", "client", "service"]].drop_duplicates().shape[0] > 1 if not table.empty else False
    rows = []
    for _, r in shown.iterrows():
        row = {"scenario": f"{r['scenario']} ({r['client']}→{r['service']})"} if several else {}
        p = "" if pd.isna(r["p_value"]) or r["verdict"] in ("ok", "missing") else f" (p={r['p_value']:.2g})"
        verdict = str(r["verdict"]) + p
        if pd.notna(r["replications_needed"]):
            verdict += f"; too few replications (needs {_count(r['replications_needed'])})"
        failing = r["verdict"] == REGRESSED or str(r["verdict"]).startswith(BREACHED)
        baseline_text = f"limit {r['limit']}" if r["limit"] else _pm(r["baseline_mean"], r["baseline_ci95"])
        rows.append({**row, "metric": r["metric"], "baseline": baseline_text,
                     "now": _pm(r["now_mean"], r["now_ci95"]), "change": _change(r["change"]),
                     "verdict": f"**{verdict}**" if style == "markdown" and failing else verdict})
    frame = pd.DataFrame(rows, columns=[*(["scenario"] if several else []), "metric", "baseline", "now", "change", "verdict"])
    hidden = len(table) - len(shown)
    note = f"{hidden} of {len(table)} row(s) hidden (ok); --all shows them" if hidden else ""
    regressed, breached = result.regressed, result.breached
    parts = []
    if regressed:
        parts.append(f"{len(regressed)} metric(s) regressed: {', '.join(dict.fromkeys(regressed))}")
    if breached:
        parts.append(f"{len(breached)} limit(s) exceeded: {', '.join(dict.fromkeys(breached))}")
    outcome = "; ".join(parts) if parts else ("no regression" if (table["limit"] == "").any() else "every limit held")
    rule = f"worse by more than ×{factor:g} and significant at alpha {alpha:g} (Welch t-test over replications)"
    if style == "markdown":
        lines = [f"### {title or 'netsim check'}", "", f"**{outcome}**; a regression is {rule}.", ""]
        lines += [f"> warning: {w}" for w in result.warnings] + ([""] if result.warnings else [])
        if not frame.empty:
            lines.append("| " + " | ".join(frame.columns) + " |")
            lines.append("| " + " | ".join("---" for _ in frame.columns) + " |")
            lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
        lines += ["", note] if note else []
        return "\n".join(lines) + "\n"
    text = ""
    if not frame.empty:
        widths = {c: max(len(c), *(len(str(v)) for v in frame[c])) for c in frame.columns}
        lines = ["  ".join(c.ljust(widths[c]) for c in frame.columns).rstrip()]
        lines += ["  ".join(str(v).ljust(widths[c]) for c, v in zip(frame.columns, row, strict=True)).rstrip() for row in frame.itertuples(index=False)]
        text = "\n".join(lines) + "\n"
    return f"{title + chr(10) if title else ''}{text}{note + chr(10) if note else ''}{outcome}; a regression is {rule}.\n"


def _rows_to_show(table: pd.DataFrame, show: str) -> pd.Series:
    verdict = table["verdict"].astype(str)
    failing = (verdict == REGRESSED) | verdict.str.startswith(BREACHED)
    if show == "failures":
        return failing
    if show == "matter":
        return failing | (verdict == IMPROVED) | verdict.str.contains("not significant") | table["replications_needed"].notna()
    return pd.Series(True, index=table.index)


def _pm(mean: float, ci: float) -> str:
    if pd.isna(mean):
        return "–"
    return number(mean, 4) + ("" if pd.isna(ci) else f" ± {number(ci, 2)}")


def _change(change: float) -> str:
    if pd.isna(change):
        return "–"
    if not math.isfinite(change):
        return "+inf" if change > 0 else "-inf"
    text = number(change * 100, 2)
    return (text if text.startswith("-") or text == "0" else f"+{text}") + " %"


def engines(manifest: dict[str, Any]) -> dict[str, str]:
    """Per scenario, the engine that ran it (``events`` for results made before ``run.engine`` existed)."""
    return {name: str(entry.get("engine", "events")) for name, entry in manifest.get("scenarios", {}).items()}


def engine_warnings(baseline: dict[str, Any], manifest: dict[str, Any]) -> list[str]:
    """A warning per scenario whose engine differs from the baseline's: the engines agree in law, not draw for draw."""
    before = baseline.get("engines") or {}
    now = engines(manifest)
    out = []
    for name, engine in now.items():
        was = before.get(name, "events")  # baselines made before run.engine existed came from the event engine
        if was != engine:
            out.append(f"scenario '{name}' ran on the {engine} engine, the baseline's on the {was} engine: the engines agree "
                       "within their confidence intervals, not draw for draw, so a small difference may come from the engine; "
                       f"set run.engine: {was} to compare like with like, or renew the baseline")
    return out

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

from netsim.errors import ConfigError
from netsim.metrics import KEYS, ci95_halfwidth, is_count, metric_columns
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


def make_baseline(results: Results) -> dict[str, Any]:
    """A baseline of every directed, averaged metric in ``results.runs``, per replication."""
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
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "netsim_version": __version__,
        "experiment": results.manifest.get("experiment"),
        "config_hash": results.manifest.get("config_hash"),
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
    """Read and check a baseline file; bad input is a ConfigError naming ``--baseline``."""
    path = Path(path)
    fix = f"make one with `netsim baseline RESULTS -o {path}`"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("--baseline", f"{path}: file not found; {fix}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError("--baseline", f"{path}: not a readable JSON file ({exc}); {fix}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND or not isinstance(data.get("metrics"), list):
        raise ConfigError("--baseline", f"{path}: not a netsim baseline; {fix}")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError("--baseline", f"{path}: baseline schema version {data.get('schema_version')}, this netsim reads {SCHEMA_VERSION}; {fix}")
    return data


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
    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> list[str]:
        return list(self.table.loc[self.table["verdict"] == REGRESSED, "metric"])


def check(results: Results, baseline: dict[str, Any], factor: float = 1.1, alpha: float = 0.01) -> CheckResult:
    """Apply the rule to every metric of ``baseline`` that ``results`` has."""
    if not factor >= 1:
        raise ConfigError("--factor", f"must be 1 or more (1.1 means 10 % worse), got {factor}")
    if not 0 < alpha < 1:
        raise ConfigError("--alpha", f"must be between 0 and 1 (e.g. 0.01), got {alpha}")
    warnings = []
    if baseline.get("config_hash") != results.manifest.get("config_hash"):
        warnings.append(
            f"config hash {results.manifest.get('config_hash')} differs from the baseline's {baseline.get('config_hash')}: "
            "the experiment changed since the baseline was made, so a difference may be intended"
        )
    runs = results.runs.sort_values("replication", kind="stable") if not results.runs.empty else results.runs
    rows, matched = [], 0
    for entry in baseline["metrics"]:
        key = (entry["scenario"], entry["client"], entry["service"])
        now = _samples(runs, key, entry["metric"])
        matched += now.size > 0
        base = np.array([np.nan if v is None else v for v in entry["samples"]], dtype=float)
        v = judge(base, now, entry["better"], factor, alpha)
        rows.append({
            "scenario": key[0], "client": key[1], "service": key[2], "metric": entry["metric"], "better": entry["better"],
            "baseline_mean": np.nanmean(base) if np.isfinite(base).any() else np.nan,
            "baseline_ci95": ci95_halfwidth(base), "now_mean": now.mean() if now.size else np.nan,
            "now_ci95": ci95_halfwidth(now), "change": v.change, "p_value": v.p_value, "verdict": v.verdict,
        })
    if not matched:
        raise ConfigError(
            "--baseline", f"no scenario, client and service of the baseline (experiment '{baseline.get('experiment')}') "
            f"is in these results (experiment '{results.manifest.get('experiment')}'); check that both come from the same experiment"
        )
    missing = sorted({f"{r['scenario']}/{r['metric']}" for r in rows if r["verdict"] == "missing"})
    if missing:
        warnings.append(f"{len(missing)} baseline metric(s) not in these results: {', '.join(missing[:5])}")
    return CheckResult(pd.DataFrame(rows), warnings)


def _samples(runs: pd.DataFrame, key: tuple[str, str, str], metric: str) -> np.ndarray:
    if runs.empty or metric not in runs:
        return np.zeros(0)
    mask = (runs["scenario"] == key[0]) & (runs["client"] == key[1]) & (runs["service"] == key[2])
    values = runs.loc[mask, metric].to_numpy(dtype=float)
    return values[~np.isnan(values)]


def format_check(result: CheckResult, factor: float, alpha: float, style: str = "text", title: str = "") -> str:
    """The table of metric, baseline, now, change, verdict: for a CI log (text) or a job summary (markdown)."""
    table = result.table
    several = table[["scenario", "client", "service"]].drop_duplicates().shape[0] > 1
    rows = []
    for _, r in table.iterrows():
        row = {"scenario": f"{r['scenario']} ({r['client']}→{r['service']})"} if several else {}
        p = "" if pd.isna(r["p_value"]) or r["verdict"] in ("ok", "missing") else f" (p={r['p_value']:.2g})"
        verdict = r["verdict"] + p
        rows.append({**row, "metric": r["metric"], "baseline": _pm(r["baseline_mean"], r["baseline_ci95"]),
                     "now": _pm(r["now_mean"], r["now_ci95"]), "change": _change(r["change"]),
                     "verdict": f"**{verdict}**" if style == "markdown" and r["verdict"] == REGRESSED else verdict})
    frame = pd.DataFrame(rows)
    regressed = result.regressed
    rule = f"worse by more than ×{factor:g} and significant at alpha {alpha:g} (Welch t-test over replications)"
    outcome = f"{len(regressed)} metric(s) regressed: {', '.join(dict.fromkeys(regressed))}" if regressed else "no regression"
    if style == "markdown":
        lines = [f"### {title or 'netsim check'}", "", f"**{outcome}**; a regression is {rule}.", ""]
        lines += [f"> warning: {w}" for w in result.warnings] + ([""] if result.warnings else [])
        lines.append("| " + " | ".join(frame.columns) + " |")
        lines.append("| " + " | ".join("---" for _ in frame.columns) + " |")
        lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
        return "\n".join(lines) + "\n"
    widths = {c: max(len(c), *(len(str(v)) for v in frame[c])) for c in frame.columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in frame.columns).rstrip()]
    lines += ["  ".join(str(v).ljust(widths[c]) for c, v in zip(frame.columns, row, strict=True)).rstrip() for row in frame.itertuples(index=False)]
    text = "\n".join(lines)
    return f"{title + chr(10) if title else ''}{text}\n{outcome}; a regression is {rule}.\n"


def _pm(mean: float, ci: float) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.4g}" + ("" if pd.isna(ci) else f" ± {ci:.2g}")


def _change(change: float) -> str:
    if pd.isna(change):
        return "–"
    return f"{change * 100:+.1f} %" if math.isfinite(change) else ("+inf" if change > 0 else "-inf")

"""validation.md and validation.csv: the tables with the method, the formulas and the sources.

The markdown file is self-contained: docs/validation.md is this file, written by
``netsim verify --published -o docs/``, and a test fails when its case list or
reference column no longer matches the registry.
"""

from __future__ import annotations

from pathlib import Path

from netsim import __version__
from netsim.verify.registry import Case, entry
from netsim.verify.runner import TABLE_TITLES, Report
from netsim.verify.statistics import FAMILY_ALPHA
from netsim.verify.tables import frame_rows, markdown

METHOD = """\
## How a line is judged

- **Runs.** Each case is one experiment given to `netsim.run_experiment` (the path `netsim run` takes),
  replicated R times with independent seeds (`run.replications`; seeds from
  `SeedSequence([seed, replication])`, the run's root seed derived from the case's name). The analytic
  cases set every network and DNS latency to zero, so a request's latency is its time in the pod: one
  pod with c workers and a waiting room of `queue_limit` is exactly an M/G/c/(c + `queue_limit`) queue.
  Each figure is read per replication from the public tables (`runs`: `latency_mean_ms`,
  `latency_p99_ms`, `requests`, `errors_*`; `pods`: `share`).
- **Simulation ± 95 % CI.** The mean of the R per-replication values and its Student-t 95 % half-width,
  t(0.975, R − 1) · s/√R.
- **z.** (mean − reference) / SE with SE = s/√R; for a published figure its own uncertainty is added in
  quadrature (and the limit's degrees of freedom follow Welch–Satterthwaite).
- **Limit.** A line passes when |z| ≤ t(1 − α/(2m), R − 1), α = {alpha:g}, m the number of lines in its
  table (Bonferroni; the `limit` column): a correct simulator fails a whole table with probability at most
  {percent:g} %. A fixed
  3-sigma rule would fail a correct simulator on some line of a 25-line table in 7 % of runs with normal
  errors and 17 % with 20 replications; this limit is about 3.9 for 25 lines of 40 replications. A bound
  ("≤") passes when the upper end of the 95 % interval is within it.
- **Published measurements** are not exact: each carries its own uncertainty (a value read off a chart),
  added to the standard error, and the model may be calibrated to them (then agreement checks the path
  from configuration to figure, not a prediction); each case below says which.
- **Finite-run bias.** The tolerance comes from the run, so bias must be small against it. Warm-ups are
  at least 20 relaxation times of the queue (the reflected-Brownian-motion time constant
  2ρE[S](1 + c_s²)/(1 − ρ)², Abate & Whitt 1987; exact for M/M/c/K from the spectral gap of its chain),
  which leaves under 1e-8 of the empty start. A per-replication p99 of a correlated queue is biased low
  roughly in proportion to 1/T for a window of T seconds while its standard error falls like 1/√(RT), so
  the ratio grows like √(R/T) (M/M/1 at ρ = 0.8: −6 % at T = 3 s, under 1 % at 30 s): cases with a p99
  use windows of at least R seconds, keeping that bias under about a quarter of the standard error.
  Fractions (blocking, timeouts, shares) are means of per-request indicators over the window and carry
  no such bias.
"""


def document(report: Report) -> str:
    """The whole validation.md for ``report``."""
    size = "full" if report.size == "full" else "quick (the CI subset)"
    failed = [r for r in report.rows if not r.passed]
    verdict = (f"All {len(report.rows)} lines pass." if not failed
               else f"{len(failed)} of {len(report.rows)} lines fail: " + ", ".join(f"{r.case}: {r.quantity}" for r in failed) + ".")
    parts = [
        "# Validation: the simulator against queueing theory and published measurements",
        "",
        "netsim is checked here against references it did not produce: exact results of queueing theory for the",
        "configurations that have one, and published measurements of kube-proxy. Every line runs the real",
        "simulator and compares the figure users read from its tables with the reference, within the run's own",
        "statistical error. Rerun it with `netsim verify` (add `--published` for the second table, `--quick` for",
        "the CI-sized subset the test suite runs, `--jobs N` for N processes); this file is written by",
        "`netsim verify --published -o docs/`, which also writes `validation.csv`.",
        "",
        f"This run: {size} size, seed {report.seed}, netsim {__version__}, {report.wall_time_s / 60:.1f} min. {verdict}",
        "",
        METHOD.format(alpha=FAMILY_ALPHA, percent=FAMILY_ALPHA * 100),
    ]
    keys: list[str] = []
    for table in ("analytic", "published"):
        rows = report.table(table)  # type: ignore[arg-type]
        if not rows:
            continue
        parts += [f"## {TABLE_TITLES[table]}", "", markdown(rows), ""]
        keys += list(dict.fromkeys(r.key for r in rows))
    parts += ["## References", ""]
    cases = [entry(key).build(report.size) for key in keys]
    for group in _same_reference(cases):
        first = group[0]
        parts += [f"### {'; '.join(c.name for c in group)}", "", f"- Reference: {first.formula}.", f"- Source: {first.source}."]
        if first.notes:
            parts.append(f"- {first.notes}")
        parts.append("")
    return "\n".join(parts)


def _same_reference(cases: list[Case]) -> list[list[Case]]:
    """Consecutive cases with the same formula, source and notes, together (one section in the doc)."""
    groups: list[list[Case]] = []
    for case in cases:
        if groups and (groups[-1][0].formula, groups[-1][0].source, groups[-1][0].notes) == (case.formula, case.source, case.notes):
            groups[-1].append(case)
        else:
            groups.append([case])
    return groups


def write(report: Report, folder: Path) -> list[Path]:
    """Write validation.md and validation.csv into ``folder``; returns the paths."""
    import pandas as pd

    from netsim.results import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    md, csv = folder / "validation.md", folder / "validation.csv"
    write_atomic(md, document(report).encode())
    write_atomic(csv, pd.DataFrame(frame_rows(report.rows)).to_csv(index=False).encode())
    return [md, csv]

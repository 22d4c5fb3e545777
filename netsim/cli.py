"""The ``netsim`` command: a thin layer over the library.

Bad input ends in one line naming the field and the fix, exit code 2, and no
traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netsim.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors are bad input too
        self.print_usage(sys.stderr)
        print(f"netsim: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="netsim", description="Simulate Kubernetes Service networking: latency, load spread, errors.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run an experiment file and write its results")
    run.add_argument("file", help="experiment YAML file")
    _add_set(run)
    run.add_argument("-o", "--output", help="results folder (default: results/<experiment name>)")
    run.add_argument("--save-requests", action="store_true", help="also write requests.parquet (one row per request)")
    run.add_argument("--jobs", type=int, default=None,
                     help="run replications and sweep points in N processes (default 1; with --executor dask, workers of the local cluster)")
    run.add_argument("--executor", choices=["local", "dask"], default="local",
                     help="local: this machine (N processes with --jobs); dask: a Dask cluster (--address, or a local one)")
    run.add_argument("--address", help="Dask scheduler address, e.g. tcp://scheduler:8786 (with --executor dask)")
    run.add_argument("--force", action="store_true", help="rerun every run, even those already stored in the results folder")
    run.add_argument("--no-report", action="store_true", help="skip report.md, report.html and plots/")
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")

    report = sub.add_parser("report", help="rebuild report.md, report.html and plots/ from a results folder")
    report.add_argument("results", help="results folder (from netsim run)")

    baseline = sub.add_parser("baseline", help="store a results folder's per-replication metrics as a baseline")
    baseline.add_argument("results", help="results folder (from netsim run)")
    baseline.add_argument("-o", "--output", required=True, help="baseline file to write, e.g. results/baselines/quickstart.json")
    baseline.add_argument("--factor", type=float, default=1.1, help="say whether the replications can detect a change of this factor (default 1.1)")
    baseline.add_argument("--alpha", type=float, default=0.01, help="at this significance level (default 0.01, as netsim check)")

    check = sub.add_parser("check", help="compare a results folder with a baseline and limits; exit 1 if a metric regressed or a limit was exceeded")
    check.add_argument("results", help="results folder (from netsim run)")
    check.add_argument("--baseline", help="baseline file (from netsim baseline); optional when --limit is given")
    check.add_argument("--limit", action="append", default=[], metavar="METRIC<=VALUE",
                       help="an absolute limit on a metric's mean over replications, e.g. --limit error_rate<=0 --limit latency_p99_ms<=200 "
                            "(also >=; repeatable); exceeding it fails the check whatever the baseline says")
    check.add_argument("--factor", type=float, default=1.1, help="worse by more than this factor counts (default 1.1 = 10 %%)")
    check.add_argument("--alpha", type=float, default=0.01, help="significance level of the one-sided Welch t-test (default 0.01)")
    check.add_argument("--format", choices=["text", "markdown"], default="text", help="text for a CI log, markdown for a job summary")
    rows = check.add_mutually_exclusive_group()
    rows.add_argument("--only-failures", action="store_true", help="show only regressions and exceeded limits")
    rows.add_argument("--all", action="store_true",
                      help="show every row (text shows by default only rows that matter: regressions, improvements, limits exceeded, "
                           "changes that were not significant, too few replications; markdown shows all)")

    validate = sub.add_parser("validate", help="check an experiment file and print the resolved scenarios")
    validate.add_argument("file")
    _add_set(validate)

    init = sub.add_parser("init", help="write a commented experiment file for your own manifests")
    init.add_argument("manifests", nargs="+", help="YAML files of Kubernetes manifests (Deployments, Services, ...)")
    init.add_argument("-o", "--output", default="experiment.yaml", help="experiment file to write (default experiment.yaml; never overwritten)")

    sub.add_parser("schema", help="print the JSON schema of experiment files")

    verify = sub.add_parser("verify", help="run the simulator against queueing theory (and published measurements); exit 1 if a line fails")
    verify.add_argument("--quick", action="store_true", help="the CI-sized subset (under a minute on 2 cores)")
    verify.add_argument("--published", action="store_true", help="also compare with published measurements (first-packet RTT, programming SLO)")
    verify.add_argument("--case", action="append", default=[], metavar="NAME", help="run only this case (repeatable), e.g. --case mm1")
    verify.add_argument("-o", "--output", help="also write validation.md and validation.csv into this folder (docs/ regenerates docs/validation.md)")
    verify.add_argument("--jobs", type=int, default=1, help="run cases in N processes (default 1)")
    verify.add_argument("--seed", type=int, default=0, help="root seed of every case (default 0)")
    return parser


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", action="append", default=[], metavar="PATH=VALUE",
        help="override a value by dotted path, e.g. --set clients.users.arrival.rate=500 (repeatable)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {"run": cmd_run, "validate": cmd_validate, "schema": cmd_schema, "report": cmd_report,
                    "baseline": cmd_baseline, "check": cmd_check, "init": cmd_init,
                    "verify": cmd_verify}
        return commands[args.command](args)
    except ConfigError as exc:
        if args.debug:
            raise
        print(f"netsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("netsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `netsim check ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from netsim.config import load_experiment, parse_set

    spec = load_experiment(args.file, [parse_set(s) for s in args.set])
    for warning in spec.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return spec


def cmd_run(args: argparse.Namespace) -> int:
    from netsim.executors import check_options

    check_options(args.executor, args.jobs, args.address)
    spec = _load(args)
    # Imported once the input is checked: they bring pandas and scipy, a second of start-up a refused input need not pay.
    from netsim.experiment import RunFailedWarning, run_experiment
    from netsim.results import DISK_ERRNOS, claim_output
    output = Path(args.output) if args.output else Path("results") / spec.name
    bar = None
    try:
        with claim_output(output):  # writable, and not in use by another run: checked before simulating
            bar = _progress(spec.runs(), args.quiet)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RunFailedWarning)  # reported below, in one line
                results = run_experiment(spec, output=output, jobs=args.jobs, save_requests=args.save_requests, progress=bar,
                                         executor=args.executor, address=args.address, force=args.force, report=not args.no_report)
    except KeyboardInterrupt:
        if bar:
            bar.close()
        print(f"{chr(10) if bar else ''}netsim: interrupted; finished runs are kept in {output}/runs: run the same command again "
              "to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS or not _inside(exc.filename, output):
            raise
        raise ConfigError(str(output), f"cannot write the results: {exc.strerror}; free space or choose another folder with -o "
                                       f"(finished runs are kept in {output}/runs; tables are never left half-written)") from None
    finally:
        if bar:
            bar.close()
    for warning in results.manifest.get("warnings", [])[len(spec.warnings):]:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet and not results.table("summary").empty:  # the console table is pandas' to_string
        print(format_summary(results.table("summary")))
    reused = sum(1 for r in results.manifest.get("runs", []) if r.get("reused"))
    if reused:
        print(f"reused {reused} finished run(s) from {output}/runs (--force reruns them)", file=sys.stderr)
    print(f"results written to {output}/" + ("" if args.no_report else f" (report: {output / 'report.html'})"), file=sys.stderr)
    _print_warnings(results)
    if results.failed:
        first = results.failed[0]
        print(f"netsim: {len(results.failed)} of {len(results.manifest.get('runs', []))} run(s) failed; first: "
              f"{first['scenario']}/rep-{first['replication']}: {first['error']} (traceback in {first.get('error_file', 'the manifest')})",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _inside(filename: Any, folder: Path) -> bool:
    """An OSError about ``folder``'s files (a write error often names no file: that too)."""
    if filename is None:
        return True
    return os.path.abspath(str(filename)).startswith(os.path.abspath(folder))


def _print_warnings(results: Any) -> None:
    """Saturated pods, rejections, clients whose every request failed: said, but not an exit code (exit 1 is for failed runs)."""
    from netsim.diagnostics import run_warnings

    for warning in run_warnings(results):
        print(f"warning: {warning}", file=sys.stderr)


class _ProgressBar:
    """Runs done, simulated time and ETA on a terminal (tqdm)."""

    def __init__(self, runs: list[Any]) -> None:
        from tqdm import tqdm

        self.total_s = sum(r.scenario.run.warmup + r.scenario.run.duration for r in runs)
        self.done_s = 0.0
        self.failed = 0
        self.bar = tqdm(total=len(runs), unit="run", desc="simulating", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, record: Any) -> None:
        self.done_s += record.sim_time_s
        self.failed += not record.ok
        postfix = f"simulated {_duration(self.done_s)} of {_duration(self.total_s)}" + (f", {self.failed} failed" if self.failed else "")
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}min"
    return f"{seconds / 3600:.1f}h"


def _progress(runs: list[Any], quiet: bool) -> _ProgressBar | None:
    if quiet or len(runs) < 2 or not sys.stderr.isatty() or os.environ.get("CI"):
        return None
    return _ProgressBar(runs)


def cmd_report(args: argparse.Namespace) -> int:
    from netsim.report import write_report
    from netsim.results_check import load_checked

    path = write_report(load_checked(args.results), Path(args.results))
    print(f"report written to {path} and {path.with_suffix('.md')}", file=sys.stderr)
    return EXIT_OK


def cmd_baseline(args: argparse.Namespace) -> int:
    from netsim.regression import baseline_advice, dump_baseline, make_baseline
    from netsim.results import write_atomic
    from netsim.results_check import load_checked

    baseline = make_baseline(load_checked(args.results))
    write_atomic(Path(args.output), dump_baseline(baseline).encode())
    print(f"baseline of {len(baseline['metrics'])} metric(s) written to {args.output}", file=sys.stderr)
    for line in baseline_advice(baseline, args.factor, args.alpha):
        print(line, file=sys.stderr)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 passed, 1 regressed or a limit exceeded, 2 anything that could not be compared (never 0 or 1 then)."""
    from netsim.check_limits import parse_limit
    from netsim.regression import check, format_check, read_baseline
    from netsim.results_check import load_checked

    limits = [parse_limit(text) for text in args.limit]
    if args.baseline is None and not limits:
        raise ConfigError("--baseline", "give a baseline file, a --limit, or both; with neither there is nothing to check")
    baseline = read_baseline(args.baseline) if args.baseline is not None else None
    results = load_checked(args.results)
    outcome = check(results, baseline, factor=args.factor, alpha=args.alpha, limits=limits)
    for warning in outcome.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    title = f"netsim check: {args.results}" + (f" against {args.baseline}" if args.baseline else "")
    show = "failures" if args.only_failures else "all" if args.all or args.format == "markdown" else "matter"
    print(format_check(outcome, args.factor, args.alpha, style=args.format, title=title, show=show), end="")
    return EXIT_FAILED if outcome.failed else EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from netsim.verify.document import write
    from netsim.verify.runner import TABLE_TITLES, verify
    from netsim.verify.tables import console

    if args.jobs < 1:
        raise ConfigError("--jobs", f"must be 1 or more, got {args.jobs}")
    if args.seed < 0:
        raise ConfigError("--seed", f"must be 0 or more, got {args.seed}")
    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not output.is_dir():
        raise ConfigError("--output", f"'{output}' is a file; give a folder for validation.md and validation.csv")
    tables = ("analytic", "published") if args.published else ("analytic",)

    def done(key: str, elapsed: float) -> None:
        print(f"verify: {key} done ({elapsed:.0f}s)", file=sys.stderr)

    report = verify("quick" if args.quick else "full", tables, args.case, jobs=args.jobs, seed=args.seed, progress=done)
    for table in ("analytic", "published"):
        rows = report.table(table)  # type: ignore[arg-type]
        if rows:
            print(console(rows, TABLE_TITLES[table]) + "\n")
    failed = [r for r in report.rows if not r.passed]
    print(f"{len(report.rows) - len(failed)} of {len(report.rows)} lines pass ({report.wall_time_s:.0f}s)")
    for row in failed:
        if row.error:
            print(f"netsim: {row.key}: {row.error.splitlines()[0]}", file=sys.stderr)
    if output is not None:
        paths = write(report, output)
        print("written: " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def format_summary(summary: Any) -> str:
    """A short console table of the summary (a Table or a DataFrame): what a person reads first.

    ``errors`` is a count, as in summary.csv, and ``error %`` the rate: one meaning per name.
    Laid out as pandas' ``to_string(index=False)`` lays out text (each column right-aligned to
    its widest cell, one space between columns), without importing pandas for it.
    """
    from netsim.humanize import integer, number, percent
    from netsim.table import as_table, is_missing

    columns = {
        "scenario": "scenario", "client": "client", "service": "service", "service_type": "type",
        "requests": "requests", "errors": "errors", "error_rate": "error %", "latency_mean_ms": "mean ms",
        "latency_p50_ms": "p50 ms", "latency_p99_ms": "p99 ms", "pod_load_cv": "load cv",
    }
    formats = {"requests": integer, "errors": integer, "error_rate": percent, "latency_mean_ms": number,
               "latency_p50_ms": number, "latency_p99_ms": number, "pod_load_cv": number}
    table = as_table(summary)
    shown = [c for c in columns if c in table]
    cells = [[columns[c], *(formats[c](v) if c in formats else "NaN" if is_missing(v) else str(v) for v in table.column(c))]
             for c in shown]
    widths = [max(len(text) for text in column) for column in cells]
    return "\n".join(" ".join(column[i].rjust(width) for column, width in zip(cells, widths, strict=True))
                     for i in range(len(table) + 1))


def cmd_validate(args: argparse.Namespace) -> int:
    from netsim.describe import describe

    spec = _load(args)
    print(f"{args.file}: valid; experiment '{spec.name}', {len(spec.scenarios)} scenario(s), "
          f"{len(spec.runs())} run(s), config hash {spec.config_hash}")
    if len(spec.scenarios) > 1:
        print(f"comparisons are paired differences to scenario '{spec.compare_to}'")
    from netsim.limits import estimate

    for scenario in spec.scenarios:
        print(f"\nscenario {scenario.name}")
        cost = estimate(scenario)
        print(f"  cost per run: ~{cost.requests:.3g} requests, ~{cost.events:.3g} events; up to {cost.pods} pods")
        from netsim.experiment import engine_of

        engine = engine_of(scenario)
        print(f"  engine: {engine['engine']}" + (f" ({engine['engine_reason']})" if engine["engine_reason"] else ""))
        print("\n".join(describe(scenario)))
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from netsim.scaffold import write_experiment

    path, summary = write_experiment([Path(m) for m in args.manifests], Path(args.output))
    print(f"{path} written: {summary}; check it with `netsim validate {path}`, then `netsim run {path}`", file=sys.stderr)
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from netsim.config.schema import ExperimentConfig

    print(json.dumps(ExperimentConfig.model_json_schema(by_alias=True), indent=2))
    return EXIT_OK


def entry() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    entry()

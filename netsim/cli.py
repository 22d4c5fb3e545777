"""The ``netsim`` command: a thin layer over the library.

Bad input ends in one line naming the field and the fix, exit code 2, and no
traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netsim.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


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
    run.add_argument("--jobs", type=int, default=1, help="run replications in N local processes (default 1)")
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")

    validate = sub.add_parser("validate", help="check an experiment file and print the resolved scenarios")
    validate.add_argument("file")
    _add_set(validate)

    sub.add_parser("schema", help="print the JSON schema of experiment files")
    return parser


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", action="append", default=[], metavar="PATH=VALUE",
        help="override a value by dotted path, e.g. --set clients.users.arrival.rate=500 (repeatable)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"run": cmd_run, "validate": cmd_validate, "schema": cmd_schema}[args.command](args)
    except ConfigError as exc:
        if args.debug:
            raise
        print(f"netsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("netsim: interrupted", file=sys.stderr)
        return 130


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from netsim.config import load_experiment, parse_set

    spec = load_experiment(args.file, [parse_set(s) for s in args.set])
    for warning in spec.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return spec


def cmd_run(args: argparse.Namespace) -> int:
    from netsim.experiment import run_experiment

    if args.jobs < 1:
        raise ConfigError("--jobs", f"must be 1 or more, got {args.jobs}")
    spec = _load(args)
    output = Path(args.output) if args.output else Path("results") / spec.name
    runs = spec.runs()
    bar = _progress(len(runs), args.quiet)
    results = run_experiment(spec, output=output, jobs=args.jobs, save_requests=args.save_requests,
                             progress=(lambda _r: bar.update(1)) if bar else None)
    if bar:
        bar.close()
    for warning in results.manifest.get("warnings", [])[len(spec.warnings):]:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet:
        print(format_summary(results.summary))
    print(f"results written to {output}/", file=sys.stderr)
    return EXIT_OK


def _progress(total: int, quiet: bool) -> Any:
    if quiet or total < 2 or not sys.stderr.isatty() or os.environ.get("CI"):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="run", desc="simulating", file=sys.stderr)


def format_summary(summary: Any) -> str:
    """A short console table of the summary: what a person reads first."""
    columns = {
        "scenario": "scenario", "client": "client", "service": "service", "service_type": "type",
        "requests": "requests", "error_rate": "errors", "latency_mean_ms": "mean ms",
        "latency_p50_ms": "p50 ms", "latency_p99_ms": "p99 ms", "pod_load_cv": "load cv",
    }
    table = summary[list(columns)].rename(columns=columns)
    return table.to_string(index=False, float_format=lambda v: f"{v:.3g}")


def cmd_validate(args: argparse.Namespace) -> int:
    spec = _load(args)
    print(f"{args.file}: valid; experiment '{spec.name}', {len(spec.scenarios)} scenario(s), "
          f"{len(spec.runs())} run(s), config hash {spec.config_hash}")
    for scenario in spec.scenarios:
        print(f"\nscenario {scenario.name}")
        if scenario.parameters:
            print("  set: " + ", ".join(f"{k}={v}" for k, v in scenario.parameters.items()))
        run = scenario.run
        print(f"  run: {run.duration:g}s measured after {run.warmup:g}s warm-up, {run.replications} replication(s), seed {run.seed}")
        print(f"  nodes: {len(scenario.nodes)} in zones {sorted({n.zone for n in scenario.nodes})}; kube-proxy {scenario.cluster.kube_proxy.mode}")
        for d in scenario.deployments:
            w = scenario.workloads[d.name]
            print(f"  Deployment/{d.name}: {d.replicas} replica(s), service time mean {w.service_time.mean * 1000:g} ms, "
                  f"concurrency {w.concurrency}, queue_limit {w.queue_limit}")
        for s in scenario.services:
            ports = ", ".join(f"{p.port}->{p.target_port}" + (f" (nodePort {p.node_port})" if p.node_port else "") for p in s.ports)
            print(f"  Service/{s.name}: {s.type.value}, selector {s.selector}, ports {ports}")
        for c in scenario.clients:
            origin = f"Deployment/{c.from_deployment}" if c.from_deployment else "one pod per node"
            print(f"  client {c.name}: {c.location} ({origin}) -> {c.service}:{c.port.port}, {c.rate:g} req/s, timeout {c.timeout:g}s")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from netsim.config.schema import ExperimentConfig

    print(json.dumps(ExperimentConfig.model_json_schema(by_alias=True), indent=2))
    return EXIT_OK


def entry() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    entry()

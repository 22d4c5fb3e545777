"""Simulated requests per wall-second: netsim's full path against a plain SimPy model.

The system (issue 2): Poisson arrivals, 10 single-worker FIFO pods, exponential
service, rho = 0.8, random endpoint choice, zero latencies. netsim runs it from
an experiment mapping through config -> spec -> engine -> RunResult; the plain
SimPy model is the textbook one (a process per request, ``simpy.Resource`` per
pod), run in the same process so the ratio is fair on a noisy machine.

Both netsim engines are measured (``run.engine: events`` and ``fast``), in-process
(config to RunResult) and, with ``--whole-process``, as whole processes: ``netsim
run FILE --no-report`` against a process running only the plain SimPy model, each
with its peak RSS. ``--workers`` and ``--queue-limit`` give every pod several
workers and a finite waiting room (netsim's defaults are 1 and 1000), in both models.

    python benchmarks/throughput.py [--requests 1000000] [--whole-process] [--workers 1] [--queue-limit 1000000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import simpy

PODS, MEAN_SERVICE_S, RHO = 10, 0.010, 0.8


WORKERS, QUEUE_LIMIT = 1, 10**9


def netsim_experiment(requests: int, engine: str = "auto") -> dict:
    rate = RHO * PODS * WORKERS / MEAN_SERVICE_S
    zero = "0s"
    return {
        "name": "throughput",
        "run": {"duration": requests / rate, "warmup": 0, "replications": 1, "seed": 1, "engine": engine,
                "limits": {"requests": 1e9, "events": 1e10}},
        "cluster": {
            "nodes": {"count": 1},
            "network": {"same_node": zero, "same_zone": zero, "cross_zone": zero, "internet": zero},
            "dns": {"latency": zero, "cache_ttl": "1h"},
        },
        "manifests": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"replicas": PODS, "selector": {"matchLabels": {"app": "web"}},
                      "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web"}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
             "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
        ],
        "workloads": {"web": {"service_time": {"distribution": "exponential", "mean": MEAN_SERVICE_S},
                              "concurrency": WORKERS, "queue_limit": QUEUE_LIMIT}},
        "clients": [{"name": "load", "target": "web", "arrival": {"rate": rate}, "timeout": "1h"}],
    }


def run_netsim(requests: int, engine: str = "auto") -> tuple[int, float, float]:
    """(requests simulated, wall seconds, mean sojourn s) through the full netsim path."""
    from netsim.config import load_experiment
    from netsim.engine import simulate

    started = time.perf_counter()
    spec = load_experiment(netsim_experiment(requests, engine))
    result = simulate(spec.runs()[0])
    wall = time.perf_counter() - started
    return result.generated, wall, float(result.requests["latency_s"].mean())


def run_plain_simpy(requests: int, seed: int = 1) -> tuple[int, float, float]:
    """The same system as a plain SimPy model: one process per request, a Resource per pod."""
    rng = np.random.default_rng(seed)
    rate = RHO * PODS * WORKERS / MEAN_SERVICE_S
    env = simpy.Environment()
    pods = [simpy.Resource(env, capacity=WORKERS) for _ in range(PODS)]
    sojourn = []

    def request(env: simpy.Environment, pod: simpy.Resource, service: float):
        start = env.now
        with pod.request() as slot:
            yield slot
            yield env.timeout(service)
        sojourn.append(env.now - start)

    def arrivals(env: simpy.Environment):
        for _ in range(requests):
            yield env.timeout(rng.exponential(1 / rate))
            env.process(request(env, pods[rng.integers(PODS)], rng.exponential(MEAN_SERVICE_S)))

    started = time.perf_counter()
    env.process(arrivals(env))
    env.run()
    return len(sojourn), time.perf_counter() - started, float(np.mean(sojourn))


def cpu_s() -> float:
    """This process's CPU seconds so far (user + system): steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def whole_process(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MB) of a child process running ``argv``.

    The peak is the child's own ``VmHWM``, read while it runs: the ``ru_maxrss`` that
    ``wait4`` reports would include the copy of this (large) parent the child was
    forked from before it exec'd.
    """
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    peak_kb = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak_kb = max(peak_kb, _high_water_kb(child.pid))
        time.sleep(0.01)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({status})")
    return wall, usage.ru_utime + usage.ru_stime, peak_kb / 1024


def _high_water_kb(pid: int) -> int:
    """A live process's peak resident set so far (Linux ``/proc``); 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    global WORKERS, QUEUE_LIMIT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=1, help="workers per pod (both models)")
    parser.add_argument("--queue-limit", type=int, default=10**9, help="netsim's queue_limit (never reached at rho 0.8)")
    parser.add_argument("--engines", default="fast,events", help="netsim engines to measure, in order")
    parser.add_argument("--whole-process", action="store_true", help="also time whole processes (netsim run vs a SimPy script)")
    parser.add_argument("--plain-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    WORKERS, QUEUE_LIMIT = args.workers, args.queue_limit
    if args.plain_only:  # the whole-process SimPy run
        run_plain_simpy(args.requests)
        return 0
    theory = MEAN_SERVICE_S / (1 - RHO) if WORKERS == 1 else float("nan")
    rates, cpus = {}, {}
    for engine in args.engines.split(","):
        cpu = cpu_s()
        n, wall, mean = run_netsim(args.requests, engine)
        cpus[engine] = cpu_s() - cpu
        rates[engine] = n / wall
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"netsim {engine:6s} {n:>10,} requests in {wall:7.2f} s = {n / wall:>10,.0f} req/s   mean sojourn {mean * 1e3:.2f} ms "
              f"(M/M/1: {theory * 1e3:.2f})   peak RSS so far {peak_mb:.0f} MB")
    cpu = cpu_s()
    m, wall_b, mean_b = run_plain_simpy(args.requests)
    cpu_b = cpu_s() - cpu
    print(f"plain SimPy   {m:>10,} requests in {wall_b:7.2f} s = {m / wall_b:>10,.0f} req/s   mean sojourn {mean_b * 1e3:.2f} ms")
    for engine, rate in rates.items():
        print(f"ratio in-process     netsim {engine} / plain SimPy = {rate / (m / wall_b):.2f}x wall, "
              f"{cpu_b / cpus[engine]:.2f}x CPU ({cpus[engine]:.2f} s vs {cpu_b:.2f} s)")
    if args.whole_process:
        import yaml

        with tempfile.TemporaryDirectory() as tmp:
            walls = {}
            for engine in args.engines.split(","):
                path = Path(tmp) / f"throughput-{engine}.yaml"
                path.write_text(yaml.safe_dump(json.loads(json.dumps(netsim_experiment(args.requests, engine)))))
                wall, cpu, peak = whole_process([sys.executable, "-m", "netsim.cli", "run", str(path), "--no-report",
                                                 "-o", str(Path(tmp) / f"out-{engine}")])
                walls[engine] = (wall, cpu)
                print(f"whole process netsim run ({engine:6s}) {wall:7.2f} s wall, {cpu:7.2f} s CPU   peak RSS {peak:6.0f} MB")
            wall_p, cpu_p, peak_p = whole_process([sys.executable, __file__, "--plain-only", "--requests", str(args.requests),
                                                   "--workers", str(WORKERS)])
            print(f"whole process plain SimPy          {wall_p:7.2f} s wall, {cpu_p:7.2f} s CPU   peak RSS {peak_p:6.0f} MB")
            for engine, (wall, cpu) in walls.items():
                print(f"ratio whole-process  netsim {engine} / plain SimPy = {wall_p / wall:.2f}x wall, {cpu_p / cpu:.2f}x CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())

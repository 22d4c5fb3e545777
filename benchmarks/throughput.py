"""Simulated requests per wall-second: netsim's full path against a plain SimPy model.

The system (issue 2): Poisson arrivals, 10 single-worker FIFO pods, exponential
service, rho = 0.8, random endpoint choice, zero latencies. netsim runs it from
an experiment mapping through config -> spec -> engine -> RunResult; the plain
SimPy model is the textbook one (a process per request, ``simpy.Resource`` per
pod), run in the same process so the ratio is fair on a noisy machine.

    python benchmarks/throughput.py [--requests 1000000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import simpy

PODS, MEAN_SERVICE_S, RHO = 10, 0.010, 0.8


def netsim_experiment(requests: int) -> dict:
    rate = RHO * PODS / MEAN_SERVICE_S
    zero = "0s"
    return {
        "name": "throughput",
        "run": {"duration": requests / rate, "warmup": 0, "replications": 1, "seed": 1},
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
                              "concurrency": 1, "queue_limit": 10**9}},
        "clients": [{"name": "load", "target": "web", "arrival": {"rate": rate}, "timeout": "1h"}],
    }


def run_netsim(requests: int) -> tuple[int, float, float]:
    """(requests simulated, wall seconds, mean sojourn s) through the full netsim path."""
    from netsim.config import load_experiment
    from netsim.engine import simulate

    started = time.perf_counter()
    spec = load_experiment(netsim_experiment(requests))
    result = simulate(spec.runs()[0])
    wall = time.perf_counter() - started
    return result.generated, wall, float(result.requests["latency_s"].mean())


def run_plain_simpy(requests: int, seed: int = 1) -> tuple[int, float, float]:
    """The same system as a plain SimPy model: one process per request, a Resource per pod."""
    rng = np.random.default_rng(seed)
    rate = RHO * PODS / MEAN_SERVICE_S
    env = simpy.Environment()
    pods = [simpy.Resource(env, capacity=1) for _ in range(PODS)]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    theory = MEAN_SERVICE_S / (1 - RHO)
    n, wall, mean = run_netsim(args.requests)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"netsim       {n:>9,} requests in {wall:6.2f} s = {n / wall:>9,.0f} req/s   mean sojourn {mean * 1e3:.2f} ms (M/M/1: {theory * 1e3:.2f})")
    print(f"             peak memory (process max RSS so far) {peak_mb:.0f} MB")
    m, wall_b, mean_b = run_plain_simpy(args.requests)
    print(f"plain SimPy  {m:>9,} requests in {wall_b:6.2f} s = {m / wall_b:>9,.0f} req/s   mean sojourn {mean_b * 1e3:.2f} ms")
    print(f"ratio        netsim / plain SimPy = {(n / wall) / (m / wall_b):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

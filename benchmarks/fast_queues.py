"""Requests per wall-second of the fast engine's queue kernel, beside plain SimPy.

The system is benchmarks/throughput.py's (issue 2): Poisson arrivals, 10 FIFO
pods, exponential service of mean 10 ms, rho = 0.8 per worker, uniform random
choice of pod, zero latencies. Three figures per configuration:

- ``kernel``: :func:`netsim.fast.queues.serve_block` alone, on blocks drawn beforehand;
- ``fast end-to-end``: a minimal fast simulation, block by block (arrivals, routing
  and service drawn by numpy, the kernel, latency = departure - arrival, mean
  and p99 accumulated online in a log-bucket histogram), memory bounded by the block;
- ``plain SimPy``: throughput.py's ``run_plain_simpy``, in the same process.

numba's import and compile (or cache load) is timed on its own, once, before
the first configuration that needs it, and is included in that configuration's
end-to-end wall time. ``--cold`` points numba at an empty cache directory.

    python benchmarks/fast_queues.py [--requests 1000000 10000000] [--whole-process]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PODS, MEAN_SERVICE_S, RHO = 10, 0.010, 0.8
CONFIGS = {  # name: (workers per pod, queue_limit)
    "c=1 unbounded": (1, 10**9),
    "c=1 K=1000": (1, 1000),
    "c=1 K=10": (1, 10),
    "c=4 K=1000": (4, 1000),
}
BUCKETS_PER_DECADE = 2000  # log buckets: relative width 10**(1/2000) - 1 = 0.12 %, p99 to within 0.12 %


class LatencyHistogram:
    """Counts of latencies in log-spaced buckets from 1 ns to 1e6 s: a quantile to within one bucket."""

    LOW_S, DECADES = 1e-9, 15

    def __init__(self) -> None:
        self.counts = np.zeros(self.DECADES * BUCKETS_PER_DECADE + 1, np.int64)
        self.total = 0.0
        self.n = 0

    def add(self, latency: np.ndarray) -> None:
        self.total += float(latency.sum())
        self.n += latency.size
        index = (np.log10(np.maximum(latency, self.LOW_S) / self.LOW_S) * BUCKETS_PER_DECADE).astype(np.int64)
        self.counts += np.bincount(np.minimum(index, self.counts.size - 1), minlength=self.counts.size)

    def quantile(self, p: float) -> float:
        bucket = int(np.searchsorted(np.cumsum(self.counts), p * self.n))
        return self.LOW_S * 10 ** ((bucket + 0.5) / BUCKETS_PER_DECADE)  # the bucket's geometric middle

    @property
    def mean(self) -> float:
        return self.total / self.n


def rate_for(workers: int) -> float:
    return RHO * PODS * workers / MEAN_SERVICE_S


def warm_numba() -> dict:
    """Import numba and compile (or load from cache) the kernel: wall seconds, and whether the cache hit."""
    from netsim.fast import _fifo_loop
    from netsim.fast.queues import serve_fifo

    started = time.perf_counter()
    serve_fifo(np.arange(4.0), np.ones(4), workers=2, queue_limit=1)
    wall = time.perf_counter() - started
    kernel = _fifo_loop.compiled()
    stats = getattr(kernel, "stats", None)
    hits = sum(stats.cache_hits.values()) if stats is not None else 0
    return {"numba_s": wall, "cache": "hit" if hits else "miss (compiled)", "numba": stats is not None}


def kernel_alone(requests: int, workers: int, queue_limit: int, block: int, seed: int = 1) -> dict:
    """serve_block on one pre-drawn block, repeated (shifted in time) until ``requests``; only serving is timed."""
    from netsim.fast.queues import QueueState, serve_block

    arrivals, routing, service = (np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(3))
    m = min(block, requests)
    a = np.cumsum(arrivals.exponential(1 / rate_for(workers), m))
    pod = routing.integers(PODS, size=m)
    s = service.exponential(MEAN_SERVICE_S, m)
    span = a[-1] + 1 / rate_for(workers)
    state = QueueState.idle(workers, queue_limit, pods=PODS)
    wall, done, k = 0.0, 0, 0
    while done < requests:
        size = min(m, requests - done)
        shifted = a[:size] + k * span
        started = time.perf_counter()
        _, state = serve_block(state, pod[:size], shifted, s[:size])
        wall += time.perf_counter() - started
        done += size
        k += 1
    return {"requests": done, "wall_s": wall}


def fast_end_to_end(requests: int, workers: int, queue_limit: int, block: int, seed: int = 1) -> dict:
    """The throughput system simulated block by block; memory is O(block), not O(requests)."""
    from netsim.fast.queues import QueueState, serve_block

    started = time.perf_counter()
    arrivals, routing, service = (np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(3))
    rate = rate_for(workers)
    state = QueueState.idle(workers, queue_limit, pods=PODS)
    histogram = LatencyHistogram()
    clock, done, rejected = 0.0, 0, 0
    while done < requests:
        m = min(block, requests - done)
        t = np.cumsum(arrivals.exponential(1 / rate, m))
        t += clock
        clock = float(t[-1])
        pod = routing.integers(PODS, size=m)
        served, state = serve_block(state, pod, t, service.exponential(MEAN_SERVICE_S, m))
        ok = ~served.rejected
        histogram.add((served.departure - t)[ok])
        rejected += m - int(ok.sum())
        done += m
    wall = time.perf_counter() - started
    return {"requests": done, "wall_s": wall, "mean_s": histogram.mean, "p99_s": histogram.quantile(0.99),
            "rejected": rejected / done}


def theory_for(workers: int, queue_limit: int) -> str:
    from netsim import theory

    lam, mu = rate_for(workers) / PODS, 1 / MEAN_SERVICE_S
    if queue_limit > 100:
        return f"M/M/{workers}: {theory.mmc_mean_sojourn(lam, mu, workers) * 1e3:.2f} ms"
    a = lam / mu  # M/M/c/K: birth-death chain on 0..c+K
    weights = [1.0]
    for k in range(1, workers + queue_limit + 1):
        weights.append(weights[-1] * a / min(k, workers))
    p = np.array(weights) / math.fsum(weights)
    mean = float(np.dot(np.arange(p.size), p)) / (lam * (1 - p[-1]))
    return f"M/M/{workers}/{queue_limit}: {mean * 1e3:.2f} ms, blocking {p[-1]:.4f}"


def peak_rss_mb() -> float:
    """The process's peak resident set (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_simpy(requests: int) -> dict:
    sys.path.insert(0, str(HERE))
    from throughput import run_plain_simpy

    n, wall, mean = run_plain_simpy(requests)
    return {"requests": n, "wall_s": wall, "mean_s": mean}


def whole_process(argv: list[str]) -> float:
    """Wall seconds of a fresh interpreter running this script with ``argv`` (imports and all)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--block", type=int, default=1_000_000, help="arrivals per block")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--simpy-max", type=float, default=float("inf"),
                        help="run plain SimPy at most this many requests (its rate is flat in the count)")
    parser.add_argument("--cold", action="store_true", help="numba compiles from scratch (an empty cache directory)")
    parser.add_argument("--whole-process", action="store_true",
                        help="also time fresh processes: the fast simulation vs plain SimPy, for c=1 unbounded")
    parser.add_argument("--child", choices=["fast", "simpy"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cold:
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-cold-")
    sizes = [int(r) for r in args.requests]

    if args.child:  # one measurement in a fresh process (--whole-process)
        workers, limit = CONFIGS[args.configs[0]]
        if args.child == "fast":
            result = fast_end_to_end(sizes[0], workers, limit, args.block)
        else:
            result = plain_simpy(sizes[0])
        print(json.dumps(result))
        return 0

    print(f"fast queue kernel vs plain SimPy: {PODS} pods, exponential service {MEAN_SERVICE_S * 1e3:g} ms, "
          f"rho {RHO} per worker, random routing, blocks of {args.block:,}")
    numba_info = None
    fast_rate: dict[tuple[int, str], float] = {}
    for n in sizes:
        print(f"\n== {n:,} requests")
        for name in args.configs:
            workers, limit = CONFIGS[name]
            compile_s = 0.0
            if numba_info is None and (workers > 1 or limit <= 100):  # these take the compiled loop
                numba_info = warm_numba()
                compile_s = numba_info["numba_s"]
                print(f"   numba import + {'cache load' if numba_info['cache'] == 'hit' else 'compile'}: "
                      f"{compile_s:.2f} s ({numba_info['cache']}; counted in this configuration's end-to-end time)")
            fast_end_to_end(min(n, args.block), workers, limit, args.block)  # warm caches and allocator
            k = kernel_alone(n, workers, limit, args.block)
            e2e = fast_end_to_end(n, workers, limit, args.block)
            e2e_wall = e2e["wall_s"] + compile_s
            print(f"   {name:14s} kernel {n / k['wall_s']:>12,.0f} req/s   "
                  f"end-to-end {n / e2e_wall:>11,.0f} req/s ({e2e_wall:6.2f} s)   "
                  f"mean {e2e['mean_s'] * 1e3:6.2f} ms  p99 {e2e['p99_s'] * 1e3:6.1f} ms  "
                  f"rejected {e2e['rejected']:.4f}   [{theory_for(workers, limit)}]   peak RSS {peak_rss_mb():.0f} MB")
            fast_rate[n, name] = n / e2e_wall
        m = int(min(n, args.simpy_max))
        base = plain_simpy(m)
        rate = base["requests"] / base["wall_s"]
        print(f"   plain SimPy    {base['requests']:,} requests in {base['wall_s']:.1f} s = {rate:,.0f} req/s "
              f"(c=1 unbounded; mean {base['mean_s'] * 1e3:.2f} ms)   peak RSS {peak_rss_mb():.0f} MB")
        for name in args.configs:
            print(f"   ratio {name:14s} fast end-to-end / plain SimPy = {fast_rate[n, name] / rate:6.1f}x")

    if args.whole_process:
        print("\n== whole process (a fresh interpreter each: imports, numba, simulation)")
        for n in sizes:
            simpy = whole_process(["--requests", str(n), "--child", "simpy"]) if n <= args.simpy_max else None
            for name in args.configs:
                fast = whole_process(["--requests", str(n), "--block", str(args.block), "--configs", name, "--child", "fast"])
                versus = f"plain SimPy {simpy:7.1f} s, ratio {simpy / fast:6.1f}x" if simpy else "plain SimPy not run"
                print(f"   {n:>11,} requests {name:14s}: fast {fast:6.2f} s, {versus}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

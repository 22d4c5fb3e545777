"""Routing decisions per second: 1e6 picks over 1,000 endpoints, per policy.

Vectorised batch forms (what the model's BatchedPicker refills with) and, for the
state-dependent IPVS schedulers, the one-pick-at-a-time picker the model calls on
every new connection (numpy counters, incremental argmin) against a plain-list
``min`` over the same costs.

    python benchmarks/routing.py [--picks 1000000] [--endpoints 1000]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from netsim.routing import (
    EndpointTable,
    HashPicker,
    LeastConnectionPicker,
    mh_table,
    pick_hashed,
    pick_least_connections,
    pick_maglev_source,
    pick_random,
    pick_round_robin,
    pick_weighted_round_robin,
    sh_table,
)


def _rate(fn, picks: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return picks / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picks", type=int, default=1_000_000)
    parser.add_argument("--endpoints", type=int, default=1000)
    args = parser.parse_args(argv)
    n, k = args.endpoints, args.picks
    rng = np.random.default_rng(1)
    ready = rng.random(n) < 0.95
    weights = np.ones(n)
    zeros = np.zeros(n)
    sources = rng.integers(0, 1 << 20, k)
    table = EndpointTable.build(list(range(n)), [0] * n, [80] * n)
    table.ready[:] = ready
    lookup_sh, lookup_mh = sh_table(ready), mh_table(ready, table.pods)
    batch = {
        "random (iptables, nftables)": lambda: pick_random(ready, rng.random(k)),
        "rr": lambda: pick_round_robin(ready, 0, k),
        "wrr": lambda: pick_weighted_round_robin(ready, rng.integers(1, 4, n), 0, k),
        "lc (batch, no closes)": lambda: pick_least_connections("lc", zeros, weights, ready, k),
        "wlc (batch)": lambda: pick_least_connections("wlc", zeros, rng.integers(1, 4, n), ready, k),
        "sed (batch)": lambda: pick_least_connections("sed", zeros, weights, ready, k),
        "nq (batch)": lambda: pick_least_connections("nq", zeros, weights, ready, k),
        "sh": lambda: pick_hashed(lookup_sh, sources),
        "dh": lambda: pick_hashed(lookup_sh, np.full(k, 0x0A600000)),
        "mh": lambda: pick_maglev_source(lookup_mh, sources),
    }
    print(f"{k:,} picks over {n:,} endpoints ({int(ready.sum())} ready)")
    print("vectorised batch")
    for name, fn in batch.items():
        print(f"  {name:<30} {_rate(fn, k):>14,.0f} decisions/s")
    print("one pick per new connection, with a release per close (what the model calls)")
    m = min(k, 200_000)
    for size in (10, n):
        t = EndpointTable.build(list(range(size)), [0] * size, [80] * size)
        for scheduler in ("lc", "nq"):
            picker = LeastConnectionPicker(t, scheduler)

            def numpy_loop(picker=picker) -> None:  # type: ignore[no-untyped-def]
                for _ in range(m):
                    picker.release(picker())

            print(f"  {scheduler} numpy counters, n={size:<5}      {_rate(numpy_loop, m):>14,.0f} decisions/s")
        counts = [0] * size

        def list_loop(counts=counts, size=size) -> None:  # type: ignore[no-untyped-def]
            for _ in range(m):
                i = min(range(size), key=counts.__getitem__)
                counts[i] += 1
                counts[i] -= 1

        print(f"  lc plain lists, n={size:<5}         {_rate(list_loop, m):>14,.0f} decisions/s")
    hp = HashPicker(table, "sh")
    few = sources[:m] % 5000
    print(f"  sh cached per source              {_rate(lambda: [hp(int(s)) for s in few], m):>14,.0f} decisions/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

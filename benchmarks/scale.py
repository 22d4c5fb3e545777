"""What a cluster's size costs: set-up time, µs per request, table time and peak memory.

    python benchmarks/scale.py NODES SERVICES PODS REQUESTS [--calls]

The cluster: NODES nodes over 3 zones; SERVICES ClusterIP Services, each in front of a
Deployment of PODS/SERVICES pods (one worker each, exponential 1 ms work); one client
per Service, sending from a client pod on every node (netsim's default), the clients'
rates adding up to REQUESTS over 10 simulated seconds. With ``--calls`` each
even-numbered Deployment's pods also call the next Service (pairs: a chain through
all SERVICES would multiply the last Services' load by SERVICES and overload them),
so half the pods are clients too and each request makes one call. The run goes through the library path of ``netsim run`` (config → spec →
engine → per-run tables) without ``--save-requests``: the requests are folded as they
finish and not kept. Peak RSS is the process's high-water mark (``ru_maxrss``), so run
one size per process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from typing import Any

DURATION_S = 10.0


def experiment(nodes: int, services: int, pods: int, requests: float, calls: bool) -> dict[str, Any]:
    replicas = max(pods // services, 1)
    rate = requests / DURATION_S / services
    manifests: list[dict[str, Any]] = []
    workloads: dict[str, Any] = {}
    for i in range(services):
        name = f"s{i}"
        manifests.append({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name}]}}},
        })
        manifests.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                          "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}})
        workload: dict[str, Any] = {"service_time": {"distribution": "exponential", "mean": 0.001}, "concurrency": 1}
        if calls and i % 2 == 0 and i + 1 < services:
            workload["operations"] = {"default": [{"work": "service_time"}, {"call": f"s{i + 1}"}]}
        workloads[name] = workload
    return {
        "name": "scale",
        "run": {"duration": DURATION_S, "warmup": 0, "replications": 1, "seed": 1},
        "cluster": {"nodes": {"count": nodes, "zones": ["a", "b", "c"]},
                    "network": {"same_node": "25us", "same_zone": "125us", "cross_zone": "500us", "internet": "10ms"}},
        "manifests": manifests,
        "workloads": workloads,
        "clients": [{"name": f"c{i}", "target": f"s{i}", "arrival": {"rate": rate}} for i in range(services)],
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nodes", type=int)
    parser.add_argument("services", type=int)
    parser.add_argument("pods", type=int)
    parser.add_argument("requests", type=float)
    parser.add_argument("--calls", action="store_true", help="each Deployment's pods call the next Service")
    args = parser.parse_args(argv)

    from netsim import engine
    from netsim.config import load_experiment
    from netsim.model.events import run_until
    from netsim.model.world import World
    from netsim.runstore import PER_RUN_TABLES

    print(f"nodes={args.nodes} services={args.services} pods={args.pods} calls={args.calls}", flush=True)
    started = time.perf_counter()
    config = experiment(args.nodes, args.services, args.pods, args.requests, args.calls)
    run = load_experiment(config).runs()[0]
    loaded = time.perf_counter()
    print(f"  config+spec {loaded - started:7.2f} s", flush=True)  # each phase as it ends: a big size runs for minutes
    with engine.cyclic_gc_paused():  # as netsim run's event engine does (engine.simulate_events)
        world = World(run, keep_requests=False)
        world.start()
        built = time.perf_counter()
        print(f"  build       {built - loaded:7.2f} s   (peak RSS after build {peak_rss_mb():,.0f} MB)", flush=True)
        run_until(world.env, world.drained)
    simulated = time.perf_counter()
    requests = sum(c.generated for c in world.clients)
    print(f"  simulate    {simulated - built:7.2f} s   {1e6 * (simulated - built) / max(requests, 1):.1f} µs/request"
          f"   ({requests:,} requests, peak RSS {peak_rss_mb():,.0f} MB)", flush=True)
    result = engine.run_result(world, started, generated=requests, pod_busy=world.pod_busy(),
                               breakdown=[c.breakdown for c in world.clients])
    for rows_of in PER_RUN_TABLES.values():
        rows_of(result)
    tabled = time.perf_counter()
    print(f"  tables      {tabled - simulated:7.2f} s")
    print(f"  peak RSS    {peak_rss_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

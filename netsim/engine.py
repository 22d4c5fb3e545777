"""``simulate(RunSpec) -> RunResult``: one replication of one scenario.

The engine builds the world, runs SimPy until every request issued before the
end of the measurement window has finished (no request is cut off or counted
twice), and hands back numpy columns. No pandas here: tables are made later by
:mod:`netsim.metrics`.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator

import numpy as np

from netsim.model.events import run_until
from netsim.model.world import World
from netsim.recorder import RunResult
from netsim.spec import RunSpec


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the world is built and the event loop runs.

    The data plane allocates a few short-lived objects per request (a Request, heap
    entries, packed records) and none of them form reference cycles, so reference
    counting frees them all; the cyclic collector would only rescan them every few
    hundred allocations (about a tenth of the run time). The build makes long-lived
    objects only (a third of a large cluster's build time went to rescanning them).
    It runs again afterwards, with everything made so far moved to its oldest
    generation first (``gc.freeze`` then ``gc.unfreeze``, no scan): otherwise the
    millions of objects a large cluster's run made (node × Service pickers, samplers)
    sit in the young generations and every young collection while the tables are
    written rescans them (three quarters of the table time at 2,000 Services).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def simulate(run: RunSpec, keep_calls: bool = False, keep_requests: bool = True) -> RunResult:
    """Simulate one run; deterministic for a given ``run`` (seed, replication, scenario).

    The engine is chosen here, once per run (``run.engine``, netsim/fast/eligibility.py):
    the vectorised fast engine for an eligible scenario under ``auto`` or ``fast``,
    otherwise the event engine. ``keep_calls`` keeps one row per measured call
    between Services (``--save-requests``); scenarios with calls never run fast. ``keep_requests``
    keeps one row per request in ``RunResult.requests`` (a library caller's default; ``netsim run``
    keeps them only with ``--save-requests``). The tables never need them: they come from the tally
    folded during the run (netsim/tally.py).
    """
    from netsim.fast.eligibility import choose_engine

    engine, _ = choose_engine(run.scenario)
    if engine == "fast":
        from netsim.fast.engine import simulate_fast

        return simulate_fast(run, keep_requests)
    return simulate_events(run, keep_calls, keep_requests)


def simulate_events(run: RunSpec, keep_calls: bool = False, keep_requests: bool = True) -> RunResult:
    """Simulate one run with the event engine (any scenario)."""
    started = time.perf_counter()
    with cyclic_gc_paused():
        world = World(run, keep_calls, keep_requests)
        world.start()
        run_until(world.env, world.drained)
    return run_result(world, started, generated=sum(c.generated for c in world.clients), pod_busy=world.pod_busy(),
                      breakdown=[c.breakdown for c in world.clients])


def run_result(world: World, started: float, generated: int, pod_busy: list[dict[str, float]],
               breakdown: list[dict[int, list[float]]]) -> RunResult:
    """The RunResult of a finished run of ``world``: what its recorder holds, and what the build and run left.

    Both engines end here: the fast engine feeds the same recorder and passes the
    figures it keeps itself (requests generated, pods' busy time, breakdown sums).
    """
    run = world.run
    scenario = run.scenario
    cluster = world.cluster
    window = world.window
    pods = [
        {"name": p.name, "deployment": p.deployment, "node": scenario.nodes[p.node].name if p.node >= 0 else "",
         "zone": scenario.nodes[p.node].zone if p.node >= 0 else ""}
        for p in cluster.pods  # every pod that ever existed (churn adds some), index = pod id
    ]
    latency = np.array(world.slices.latency, dtype=np.float64).reshape(-1, 4)
    services = [
        {"name": s.name, "type": s.type.value, "endpoints": table.pods.tolist(), "ports": table.ports.tolist()}
        for s, table in zip(cluster.services, cluster.tables, strict=True)
    ]
    return RunResult(
        scenario=scenario.name,
        replication=run.replication,
        seed=run.seed,
        parameters=dict(scenario.parameters),
        window=window,
        requests=world.recorder.columns(),
        tally=world.recorder.tally.figures(),
        clients=[c.name for c in scenario.clients],
        client_entry_hops=[c.route.entry.entry_hops for c in world.clients],
        client_ip_preserved=[c.route.entry.client_ip_preserved for c in world.clients],
        services=services,
        pods=pods,
        nodes=[{"name": n.name, "zone": n.zone} for n in scenario.nodes],
        generated=generated,
        wall_time_s=time.perf_counter() - started,
        warnings=list(cluster.warnings),
        traffic={
            "request_bytes": [c.request_bytes for c in scenario.clients],
            "response_bytes": [c.response_bytes for c in scenario.clients],
            "cost_per_gb": scenario.cluster.cross_zone_cost_per_gb,
            "proxy_cpu_s": world.traffic.mesh.measured_busy_s() if world.traffic.mesh is not None else 0.0,
        },
        programming={
            "service": latency[:, 0].astype(np.int16), "node": latency[:, 1].astype(np.int16),
            "change_s": latency[:, 2], "programmed_s": latency[:, 3],
        },
        # a timeline only where something churns (the report leaves the section out otherwise)
        ready_endpoints=[list(log) for log in world.slices.ready_log] if scenario.churn or scenario.autoscalers else [],
        churn_log=list(cluster.log),
        retries=list(world.retry_log),
        operation_names=list(world.operation_names),
        edges=list(world.edges),
        calls=world.ledger.figures() if world.ledger is not None else {},
        pod_busy=pod_busy,
        breakdown=breakdown,
    )

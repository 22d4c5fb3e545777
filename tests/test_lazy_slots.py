"""A client pod on every node costs nothing until it sends: state exists only for the senders traffic used.

Kubernetes' scalability envelope is 5,000 nodes and 10,000 Services; one client per
Service sending from a pod on every node (netsim's default) is 5e7 sender slots, of
which a run of 1e6 requests uses at most 1e6. Here a cluster of 400 nodes and 12
clients (4,800 slots) sends a few dozen requests: every per-slot resolver cache and
connection pool, and every per-node kube-proxy picker, must belong to a slot (or a
node × Service) that sent one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

NODES = 400
SERVICES = 12


def _config(mode: str) -> dict[str, Any]:
    manifests: list[dict[str, Any]] = []
    for i in range(SERVICES):
        labels = {"app": f"s{i}"}
        manifests += [
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"s{i}"},
             "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c"}]}}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}"},
             "spec": {"selector": labels, "ports": [{"port": 80}]}},
        ]
    return {
        "name": "lazy", "run": {"duration": 1.0, "warmup": 0, "replications": 1, "seed": 3, "engine": "events"},
        "cluster": {"nodes": {"count": NODES, "zones": ["a", "b"]}},
        "manifests": manifests,
        "workloads": {f"s{i}": {"service_time": {"distribution": "exponential", "mean": 0.001}} for i in range(SERVICES)},
        "clients": [{"name": f"c{i}", "target": f"s{i}", "arrival": {"rate": 6.0}, "connections": {"mode": mode}}
                    for i in range(SERVICES)],
    }


@pytest.mark.parametrize("mode", ["per-request", "keep-alive", "multiplexed"])
def test_only_slots_that_sent_hold_state(mode: str) -> None:
    from netsim.config import load_experiment
    from netsim.model.events import run_until
    from netsim.model.world import World

    world = World(load_experiment(_config(mode)).runs()[0])
    world.start()
    run_until(world.env, world.drained)
    requests = world.recorder.columns()
    client, slot, node = requests["client"], requests["client_pod"], requests["entry_node"]
    assert 0 < client.size < NODES  # most of the 4,800 slots never send
    for c, sender in enumerate(world.clients):
        sent = set(slot[client == c].tolist())
        route = sender.route
        assert sender.slots == NODES
        assert set(route.discovery.expires) == sent  # a resolver cache only where a pod looked the name up
        if mode != "per-request":
            assert set(route.layer.open) == sent  # a connection pool only where a pod sent
    pickers = sum(len(proxy.all_pickers()) for proxy in world.proxies)
    services = np.asarray([world.clients[c].service for c in client.tolist()])
    used = set(zip(node.tolist(), services.tolist(), strict=True))
    asked = {(0, s) for s in range(SERVICES)}  # the build asks node 0's picker whether the scheduler counts connections
    assert pickers == len(used | asked)  # one per node × Service used

"""Cilium's eBPF Service load balancing against what its documentation says it does.

- socket-level translation: a new connection costs nothing that grows with the number
  of Services (a hash-map lookup), unlike iptables' linear KUBE-SERVICES scan;
- DSR: a reply from a backend on another node skips exactly the hop back to the entry node;
- Maglev (16381 slots): one of N backends leaving moves 1/N of the flows (± 1 %), and every
  node maps a flow to the same backend.
"""

from __future__ import annotations

import numpy as np
import pytest

from netsim.model.cilium import MaglevPicker
from netsim.routing import EndpointTable
from tests.builders import deployment, experiment, service, simulate_one

SERVICE_S = 0.001


def _extra_latency_s(dataplane: str, background: int, mode: str = "iptables") -> float:
    """Mean latency above the constant service time at a light load: hops, a little queueing, the first packet."""
    config = experiment(rate=50.0, duration=20.0, warmup=0.0, service_time=f"{SERVICE_S}s",
                        network={"same_node": "10us", "same_zone": "0s", "cross_zone": "0s", "internet": "0s"})
    config["cluster"].update({"dataplane": dataplane, "background_services": background, "kube_proxy": {"mode": mode}})
    result = simulate_one(config)
    latency = result.requests["latency_s"][result.requests["outcome"] == 0]
    assert latency.size > 500
    return float(latency.mean() - SERVICE_S)


def test_cilium_first_packet_is_flat_in_the_number_of_services():
    flat = [_extra_latency_s("cilium", n, mode="iptables") for n in (0, 30_000)]
    assert flat[0] == pytest.approx(flat[1], abs=1e-12)
    # the same arrivals and work under nftables' O(1) verdict map: what is left is queueing, nothing per connection
    assert flat[1] == pytest.approx(_extra_latency_s("kube-proxy", 30_000, mode="nftables"), abs=1e-12)
    # the same measurement sees iptables' scan grow (published p50 ≈ 0.27 ms above nftables at 30k Services)
    assert _extra_latency_s("kube-proxy", 30_000) > 1e-4 + _extra_latency_s("kube-proxy", 0)


def _nodeport_latencies(mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Latency of requests served on the entry node and on the other node (constant hops, constant work)."""
    config = experiment(
        rate=40.0, duration=30.0, warmup=0.0, service_time=f"{SERVICE_S}s", nodes={"count": 2}, concurrency=64,
        network={"same_node": "0s", "same_zone": "2ms", "cross_zone": "2ms", "internet": "10ms"},
        manifests=[deployment(replicas=2), service(type_="NodePort")],
        client={"name": "users", "location": "external", "target": "web", "arrival": {"rate": 40.0}, "timeout": "1h"},
    )
    config["cluster"].update({"dataplane": "cilium", "cilium": {"load_balancer": {"mode": mode}}})
    result = simulate_one(config)
    req = result.requests
    ok = req["outcome"] == 0
    node_names = [n["name"] for n in result.nodes]
    pod_node = np.array([node_names.index(result.pods[p]["node"]) for p in req["pod"][ok]])
    same = pod_node == req["entry_node"][ok]
    latency = req["latency_s"][ok]
    assert same.sum() > 100 and (~same).sum() > 100
    return latency[same], latency[~same]


def test_dsr_removes_exactly_one_hop_from_replies_served_on_another_node():
    snat_local, snat_remote = _nodeport_latencies("snat")
    dsr_local, dsr_remote = _nodeport_latencies("dsr")
    internet, hop = 0.010, 0.002
    assert snat_local == pytest.approx(2 * internet + SERVICE_S, abs=1e-9)
    assert dsr_local == pytest.approx(2 * internet + SERVICE_S, abs=1e-9)
    assert snat_remote == pytest.approx(2 * internet + 2 * hop + SERVICE_S, abs=1e-9)
    assert dsr_remote == pytest.approx(2 * internet + hop + SERVICE_S, abs=1e-9)


def _table(n: int) -> EndpointTable:
    return EndpointTable.build(list(range(100, 100 + n)), [i % 3 for i in range(n)], [8080] * n)


@pytest.mark.parametrize(("backends", "size"), [(10, 16381), (20, 16381), (40, 16381), (150, 65521)])
def test_maglev_moves_one_nth_of_flows_when_a_backend_leaves(backends: int, size: int):
    """Measured: the extra share moved grows with N/M (≈ 1 % at N = 50, 1.4 % at N = 100 for M = 16381)."""
    table = _table(backends)
    picker = MaglevPicker(table, size, np.random.default_rng(0))
    flows = np.random.default_rng(1).integers(0, 2**63, 200_000, dtype=np.uint64)
    before = picker.pick_flows(flows)
    table.ready[backends // 2] = False
    picker.invalidate()
    after = picker.pick_flows(flows)
    moved = float(np.mean(before != after))
    assert abs(moved - 1 / backends) <= 0.01
    assert not np.any(after == 100 + backends // 2)
    # flows that were not on the leaving backend mostly stay where they were
    stayed = before != 100 + backends // 2
    assert np.mean(before[stayed] == after[stayed]) > 0.99


def test_maglev_maps_a_flow_to_the_same_backend_on_every_node():
    flows = np.random.default_rng(2).integers(0, 2**63, 10_000, dtype=np.uint64)
    node_a = MaglevPicker(_table(30), 16381, np.random.default_rng(3)).pick_flows(flows)
    node_b = MaglevPicker(_table(30), 16381, np.random.default_rng(4)).pick_flows(flows)
    assert np.array_equal(node_a, node_b)


def test_cilium_maglev_is_used_at_the_node_for_external_traffic_only():
    from netsim.config import load_experiment
    from netsim.model.world import World

    config = experiment(manifests=[deployment(replicas=3), service(type_="NodePort")],
                        client={"name": "users", "location": "external", "target": "web", "arrival": {"rate": 10.0}})
    config["cluster"].update({"dataplane": "cilium", "cilium": {"load_balancer": {"algorithm": "maglev"}}})
    world = World(next(iter(load_experiment(config).runs())))
    assert isinstance(world.proxies[0].external_picker(0), MaglevPicker)
    assert not isinstance(world.proxies[0].picker(0), MaglevPicker)


def test_cilium_agents_program_each_write_after_their_watch_delay_without_batching():
    """kube-proxy batches changes into syncs at most every minSyncPeriod (1 s); a Cilium agent writes its BPF
    maps as each change arrives: a write seen at t is programmed at t + map_update, however close the last one."""
    from netsim.config import load_experiment
    from netsim.model.world import World

    config = experiment(replicas=3)
    config["cluster"].update({"dataplane": "cilium", "cilium": {"map_update": "2ms"}})
    world = World(next(iter(load_experiment(config).runs())))
    sync = world.slices.node_sync[0]
    for t in (10.0, 10.1, 10.2, 10.3):
        assert sync.on_write(t, 0.05) == pytest.approx(t + 0.052)

    config["cluster"]["dataplane"] = "kube-proxy"
    sync = World(next(iter(load_experiment(config).runs()))).slices.node_sync[0]
    sync.on_write(10.0, 0.05)
    sync.on_write(10.1, 0.05)
    assert sync.on_write(10.2, 0.05) >= 10.05 + 1.0  # the burst of 2 is spent: the next sync waits for minSyncPeriod

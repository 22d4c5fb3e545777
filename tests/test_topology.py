"""Topology: PreferClose keeps traffic in-zone while the zone has ready endpoints and falls back when it has none;
topology hints follow zone CPU with their safeguards; cross-zone traffic is priced."""

from __future__ import annotations

import numpy as np
import pytest
from builders import deployment, experiment, service, simulate_one

from netsim.config import load_experiment
from netsim.metrics import run_rows
from netsim.model.kube_proxy import allocate_zone_hints
from netsim.model.request import Outcome
from netsim.model.world import World

NET = {"same_node": "10us", "same_zone": "50us", "cross_zone": "200us", "internet": "1ms"}


def _config(distribution: str | None = None, annotation: str | None = None) -> dict:
    svc = service()
    if distribution:
        svc["spec"]["trafficDistribution"] = distribution
    if annotation:
        svc["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": annotation}
    return experiment(manifests=[deployment(replicas=6), svc], nodes={"count": 6, "zones": ["a", "b", "c"]},
                      network=NET, rate=600.0, duration=4.0, warmup=0.0)


@pytest.mark.parametrize(("distribution", "annotation"), [("PreferClose", None), (None, "Auto")])
def test_prefer_close_and_hints_keep_traffic_in_zone(distribution: str | None, annotation: str | None) -> None:
    result = simulate_one(_config(distribution, annotation))
    row = run_rows(result)[0]
    assert row["cross_zone_fraction"] == 0.0
    assert row["cross_zone_gb"] == 0.0 and row["cross_zone_cost_usd"] == 0.0


def test_without_topology_two_thirds_cross_zones_and_are_priced() -> None:
    result = simulate_one(_config())
    row = run_rows(result)[0]
    served = row["requests"] - row["errors"]
    se = np.sqrt(2 / 9 / served)  # binomial standard error of the fraction around 2/3
    assert abs(row["cross_zone_fraction"] - 2 / 3) <= 4 * se
    crossings = round(row["cross_zone_fraction"] * served)
    assert row["cross_zone_gb"] == pytest.approx(crossings * 11_000 / 1e9)
    assert row["cross_zone_cost_usd"] == pytest.approx(row["cross_zone_gb"] * 2 * 0.01)


def test_prefer_close_falls_back_when_the_zone_has_no_ready_endpoint() -> None:
    world = World(load_experiment(_config("PreferClose")).runs()[0])
    zone_a = [p.index for p in world.pods if world.nodes[p.node].zone == "a"]
    world.start()
    world.env.run(until=1.0)
    for pod in zone_a:
        world.set_endpoint_ready(pod, False)
    world.env.run(until=world.drained)
    req = world.recorder.columns()
    node_zone = np.array([n.zone for n in world.nodes])
    pod_zone = np.array([node_zone[p.node] for p in world.pods])
    before, after = req["t_issue_s"] < 1.0, req["t_issue_s"] > 1.0
    assert (pod_zone[req["pod"][before]] == node_zone[req["entry_node"][before]]).all()
    from_a = after & (node_zone[req["entry_node"]] == "a")
    assert from_a.any() and (pod_zone[req["pod"][from_a]] != "a").all()  # fell back to the other zones
    others = after & (node_zone[req["entry_node"]] != "a")
    assert (pod_zone[req["pod"][others]] == node_zone[req["entry_node"][others]]).all()
    assert (req["outcome"] == Outcome.OK).all()


def test_zone_hints_follow_cpu_with_safeguards() -> None:
    assert allocate_zone_hints(["a", "a", "a", "b", "c", "c"], {"a": 4, "b": 4, "c": 4}) == ["a", "a", "b", "b", "c", "c"]
    hints = allocate_zone_hints(["a"] * 4 + ["b"] * 4, {"a": 12, "b": 4})
    assert hints is not None and hints.count("a") == 6 and hints.count("b") == 2
    assert allocate_zone_hints(["a", "b"], {"a": 4, "b": 4, "c": 4}) is None  # fewer endpoints than zones
    assert allocate_zone_hints(["a", "d", "b"], {"a": 4, "b": 4, "c": 4}) is None  # an endpoint outside the zones
    assert allocate_zone_hints(["a", "b", "c"], {"a": 1, "b": 1, "c": 20}) is None  # c would be overloaded > 20 %


def test_hints_without_safeguards_route_cluster_wide() -> None:
    config = _config(annotation="Auto")
    config["manifests"][0]["spec"]["replicas"] = 2  # 2 endpoints, 3 zones: no hints
    row = run_rows(simulate_one(config))[0]
    assert row["cross_zone_fraction"] > 0.3

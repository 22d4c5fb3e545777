"""Mesh retries, retry budgets, outlier detection and the mesh's own endpoint propagation, by their semantics.

One of four pods stops listening while every endpoint list still has it (nothing told
the control plane): each request sent to it is refused.

- no retries: a quarter of the requests fail (each pod is chosen uniformly);
- retries on ``refused`` never go back to the pod that just failed (Envoy's
  ``previous_hosts``), so with ``random`` every request succeeds;
- a retry budget that allows nothing refuses every retry;
- outlier detection ejects the pod after ``consecutive_errors`` errors in a row seen by
  one proxy, for ``base_ejection_time``: exactly that many errors per proxy within it.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import experiment

from netsim.config import load_experiment
from netsim.model.events import Wakeup, run_until
from netsim.model.request import Outcome
from netsim.model.world import World

BROKEN_AT = 2.0


def _run(mesh: dict, nodes: int = 1, remove_at: float | None = None) -> tuple[World, dict]:
    config = experiment(replicas=4, rate=400.0, duration=10.0, warmup=0.0, concurrency=4, nodes={"count": nodes})
    config["cluster"]["mesh"] = {"mode": "sidecar", "lb_policy": "random", **mesh}
    world = World(load_experiment(config).runs()[0])
    pod = next(p for p in world.pods if p.deployment == "web")

    def breaks(_: object) -> None:
        pod.stop_listening(lambda _: None)  # refuses; no endpoint update
        if remove_at is not None:
            world.env.push(remove_at, Wakeup(world.env, lambda _: world.slices.set_everywhere(pod.index, False), None))

    world.env.push(BROKEN_AT, Wakeup(world.env, breaks, None))
    world.start()
    run_until(world.env, world.drained)
    world.recorder.flush()
    return world, world.recorder.columns()


def _refused(req: dict) -> np.ndarray:
    return req["outcome"] == Outcome.REFUSED


def test_without_retries_a_quarter_of_requests_meet_the_broken_pod():
    _, req = _run({})
    after = req["t_issue_s"] >= BROKEN_AT
    share = _refused(req)[after].mean()
    n = after.sum()
    assert abs(share - 0.25) <= 4 * np.sqrt(0.25 * 0.75 / n)


def test_mesh_retries_go_to_another_pod():
    world, req = _run({"retries": {"attempts": 1, "on": ["refused"]}})
    assert not _refused(req).any()
    assert world.traffic.mesh.retries > 0


def test_a_retry_budget_that_allows_nothing_refuses_every_retry():
    world, req = _run({"retries": {"attempts": 2, "on": ["refused"], "budget": {"percent": 0.0, "min_concurrency": 0}}})
    assert world.traffic.mesh.retries == 0
    assert world.traffic.mesh.retries_refused == _refused(req).sum() > 0


@pytest.mark.parametrize("nodes", [1, 3])
def test_outlier_detection_ejects_after_consecutive_errors(nodes: int):
    """One client pod per node, so one proxy per node: each sees the pod fail five times, then ejects it."""
    world, req = _run({"outlier_detection": {"consecutive_errors": 5, "base_ejection_time": "60s", "max_ejection_percent": 50}},
                      nodes=nodes)
    assert _refused(req).sum() == 5 * nodes
    assert world.traffic.mesh.ejections == nodes


def test_proxies_learn_of_a_removed_endpoint_after_the_mesh_propagation_delay():
    """The pod is removed from the endpoints 1 s after it broke; proxies hear of it 3 s later (propagation)."""
    _, req = _run({"propagation": "3s"}, remove_at=BROKEN_AT + 1.0)
    t = req["t_issue_s"][_refused(req)]
    assert t.min() >= BROKEN_AT
    assert t.max() < BROKEN_AT + 1.0 + 3.0
    assert t.max() > BROKEN_AT + 1.0 + 2.9  # still sent there until the push arrived


@pytest.mark.parametrize("mesh", [
    {"mode": "sidecar", "retries": {"attempts": 2, "on": ["refused", "reset", "rejected"], "budget": {}},
     "outlier_detection": {}, "timeout": "1s"},
    {"mode": "ambient"},
    {"mode": "ambient", "waypoint": True, "retries": {"on": ["refused", "reset"]}},
])
def test_every_request_ends_exactly_once_through_a_mesh_under_churn(mesh: dict):
    """A rollout, crashes and hangs while the proxies balance, retry and eject: nothing lost, nothing twice."""
    from builders import churn_experiment, simulate_one

    config = churn_experiment(replicas=4, rate=300.0, duration=20.0, churn=[
        {"at": "3s", "rollout": "Deployment/web"}, {"at": "9s", "kill": "Deployment/web", "how": "crash"},
        {"at": "13s", "kill": "Deployment/web", "how": "hang"}])
    config["cluster"]["mesh"] = mesh
    config["clients"][0]["connections"] = {"mode": "multiplexed", "pool": 1}
    result = simulate_one(config)
    req = result.requests
    assert len(req["outcome"]) == result.generated
    assert len(np.unique(req["id"])) == result.generated
    assert (req["outcome"] == Outcome.OK).mean() > 0.8

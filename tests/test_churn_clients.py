"""Client pods under churn: a failed node's client pods cannot send; ``from: Deployment/x`` follows x's Ready pods.

The arrival stream is the same with and without churn (common random numbers); requests a down client pod
would have sent are counted as ``client_down`` errors. Bounds come from the configured node-controller,
startup and probe timings; shares from binomial tolerances.
"""

from __future__ import annotations

import math

import numpy as np
from builders import churn_experiment, deployment, simulate_one

from netsim import metrics
from netsim.model.request import Outcome

GRACE_S, EVICTION_S, STARTUP_S, PERIOD_S, T0 = 6.0, 4.0, 1.0, 2, 5.0
CONTROL = {"watch_delay": "0.1s", "min_sync_period": "0s",
           "node_monitor_grace_period": f"{GRACE_S}s", "eviction_timeout": f"{EVICTION_S}s"}
Z = 4.5


def _share_ok(hits: int, n: int, p: float) -> bool:
    return n > 0 and abs(hits / n - p) <= Z * math.sqrt(p * (1 - p) / n)


def test_a_failed_nodes_client_pod_loses_its_share_and_the_arrivals_stay_the_same() -> None:
    fail = [{"at": f"{T0}s", "fail": "node/node-2", "for": "6s"}]
    quiet = simulate_one(churn_experiment(control_plane=CONTROL, duration=20.0, churn=[]))
    busy = simulate_one(churn_experiment(control_plane=CONTROL, duration=20.0, churn=fail))
    assert busy.generated == quiet.generated
    assert np.array_equal(np.sort(busy.requests["t_issue_s"]), np.sort(quiet.requests["t_issue_s"]))
    req = busy.requests
    t, node, lost = req["t_issue_s"], req["entry_node"], req["outcome"] == Outcome.CLIENT_DOWN
    down = (t >= T0) & (t < T0 + 6.0)
    # exactly the requests of node-2's client pod while node-2 is down, about a third of all then
    assert np.array_equal(lost, down & (node == 1))
    assert _share_ok(int(lost.sum()), int(down.sum()), 1 / 3)
    # the same requests come from the same client pods with and without churn
    order_b, order_q = np.argsort(req["t_issue_s"], kind="stable"), np.argsort(quiet.requests["t_issue_s"], kind="stable")
    assert np.array_equal(req["client_pod"][order_b], quiet.requests["client_pod"][order_q])
    assert metrics.run_rows(busy)[0]["errors_client_down"] == int(lost[busy.measured()].sum())


def _from_load(churn: list, load_replicas: int = 3) -> dict:
    """Client ``c`` sends from Deployment/load's pods to Service/web."""
    config = churn_experiment(replicas=3, control_plane=CONTROL, churn=churn, duration=30.0, rate=300,
                              probe={"periodSeconds": PERIOD_S}, startup=f"{STARTUP_S}s")
    load = deployment("load", replicas=load_replicas)
    load["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": PERIOD_S}
    config["manifests"].append(load)
    config["clients"][0]["from"] = "Deployment/load"
    return config


def _senders(result, lo: float, hi: float) -> tuple[set[int], set[int]]:  # type: ignore[no-untyped-def]
    """Client-pod slots and their nodes that sent (and were not lost) in [lo, hi)."""
    req = result.requests
    sent = (req["t_issue_s"] >= lo) & (req["t_issue_s"] < hi) & (req["outcome"] != Outcome.CLIENT_DOWN)
    return set(req["client_pod"][sent].tolist()), set(req["entry_node"][sent].tolist())


def test_a_from_client_follows_its_deployments_ready_pods_through_a_node_failure() -> None:
    result = simulate_one(_from_load([{"at": f"{T0}s", "fail": "node/node-2"}]))
    req = result.requests
    t, lost = req["t_issue_s"], req["outcome"] == Outcome.CLIENT_DOWN
    not_ready_at, evicted_at = T0 + GRACE_S, T0 + GRACE_S + EVICTION_S
    # load's pod on node-2 is Ready to the API until the node controller says NotReady: its share is lost
    window = (t >= T0) & (t < not_ready_at)
    assert np.all(lost[window] == (req["entry_node"][window] == 1)) and _share_ok(int(lost[window].sum()), int(window.sum()), 1 / 3)
    assert not lost[(t < T0) | (t >= not_ready_at)].any()  # then the two others take it over
    assert _senders(result, not_ready_at, evicted_at) == ({0, 2}, {0, 2})
    # the replacement pod, Ready after startup and one probe period at most, sends from a live node
    replaced = evicted_at + STARTUP_S + PERIOD_S
    slots, nodes = _senders(result, replaced, 30.0)
    assert len(slots) == 3 and 1 not in nodes


def test_a_from_client_sends_from_pods_that_a_scale_up_or_an_apply_creates() -> None:
    result = simulate_one(_from_load([{"at": f"{T0}s", "scale": "Deployment/load", "replicas": 6}]))
    assert len(_senders(result, 0.0, T0)[0]) == 3
    slots, _ = _senders(result, T0 + STARTUP_S + PERIOD_S, 30.0)
    assert len(slots) == 6
    config = _from_load([{"at": f"{T0}s", "apply": "Deployment/load"}])
    config["deferred"] = [config["manifests"].pop()]
    late = simulate_one(config)
    req = late.requests
    t, lost = req["t_issue_s"], req["outcome"] == Outcome.CLIENT_DOWN
    assert late.generated == simulate_one(_from_load([])).generated  # the arrival stream does not depend on the pods
    assert lost[t < T0 + STARTUP_S].all()  # no Ready pod yet: nothing can be sent
    assert not lost[t > T0 + STARTUP_S + PERIOD_S].any()
    assert len(_senders(late, T0 + STARTUP_S + PERIOD_S, 30.0)[0]) == 3

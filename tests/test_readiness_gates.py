"""Pod readiness gates set by an ``ip``-target load balancer (netsim/model/readiness_gates.py).

A gated pod is Ready, an endpoint and available only once its containers are
ready *and* the LB has seen its target healthy: ``healthy_threshold`` passing
checks, the first at the LB's next tick after the process starts, so between
(healthy_threshold − 1) and healthy_threshold intervals after the container is
ready. The bounds come from the configured health check, not from seeded runs.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from builders import deployment, experiment, simulate_one

from netsim.config import load_experiment
from netsim.errors import ConfigError
from netsim.k8s.pod_template import read_pod_template
from netsim.model.events import run_until
from netsim.model.request import Outcome
from netsim.model.world import World

INTERVAL_S, HEALTHY = 10.0, 3  # the aws-nlb preset's checks (k8s-facts §4)
LAG_S = 5.0
GATE = [{"conditionType": "target-health.elbv2.k8s.aws/web"}]


def lb_rollout(*, gates: bool, prestop_s: int | None, probe: bool = True, replicas: int = 4, duration: float = 70.0,
               target_type: str = "ip", service_type: str = "LoadBalancer") -> dict[str, Any]:
    """A Deployment behind an aws-nlb (``ip`` targets) with external clients, rolled out at 10 s."""
    d = deployment(replicas=replicas)
    d["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    pod = d["spec"]["template"]["spec"]
    container = pod["containers"][0]
    if probe:
        container["readinessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": 2}
    if prestop_s is not None:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": prestop_s}}}
    if gates:
        pod["readinessGates"] = copy.deepcopy(GATE)
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"type": service_type, "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    config = experiment(replicas=replicas, rate=200.0, duration=duration, warmup=0.0, concurrency=4, mean_service=0.005,
                        nodes={"count": 4, "zones": ["zone-a", "zone-b"]}, manifests=[d, svc],
                        client={"name": "users", "location": "external", "target": "web", "arrival": {"rate": 200.0},
                                "timeout": "2s"})
    config["cluster"]["load_balancer"] = {"provider": "aws-nlb", "target_type": target_type, "deregistration_lag": f"{LAG_S}s"}
    config["workloads"]["default"]["startup"] = "1s"
    config["churn"] = [{"at": "10s", "rollout": "Deployment/web"}]
    return config


def _world(config: dict[str, Any]) -> World:
    spec = load_experiment(config)
    world = World(next(iter(spec.runs())))
    world.start()
    run_until(world.env, world.drained)
    return world


def _outcomes(result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    o = result.requests["outcome"]
    return {Outcome(k).name: int((o == k).sum()) for k in np.unique(o)}


# -- reading the manifest ------------------------------------------------------------------------


def test_readiness_gates_are_read_in_order_and_default_to_none() -> None:
    template = read_pod_template({"containers": [], "readinessGates": [*GATE, {"conditionType": "example.com/ready"}]}, "t")
    assert template.readiness_gates == ("target-health.elbv2.k8s.aws/web", "example.com/ready")
    assert read_pod_template({"containers": []}, "t").readiness_gates == ()


@pytest.mark.parametrize(("gates", "path"), [
    ({"conditionType": "x"}, "t.readinessGates"),
    ([{"type": "x"}], "t.readinessGates.0.conditionType"),
    ([{"conditionType": "not a name!"}], "t.readinessGates.0.conditionType"),
    ([*GATE, *GATE], "t.readinessGates.1.conditionType"),
])
def test_bad_readiness_gates_name_the_path(gates: Any, path: str) -> None:
    with pytest.raises(ConfigError) as error:
        read_pod_template({"containers": [], "readinessGates": gates}, "t")
    assert path in str(error.value)


# -- when a gated pod becomes Ready ----------------------------------------------------------------


@pytest.mark.parametrize("probe", [False, True])
def test_gated_pod_is_ready_only_after_the_lb_has_seen_it_healthy(probe: bool) -> None:
    world = _world(lb_rollout(gates=True, prestop_s=10, probe=probe, duration=130.0))
    lb = next(iter(world.load_balancers.values()))
    in_service = {int(lb.table.pods[t]): at for at, t, up in lb.changes if up}
    new = [p for p in world.pods if p.revision == 1]
    assert len(new) == 4  # the rollout completed
    for pod in new:
        status = world.status[pod.index]
        assert status.ready and status.ready_since is not None and status.containers_ready_at is not None
        # Ready exactly when the LB put the target in service, never before the containers were ready
        assert status.ready_since == pytest.approx(in_service[pod.index])
        waited = status.ready_since - status.containers_ready_at
        if not probe:  # the containers are ready when the process starts, where the LB's first pass can come
            assert (HEALTHY - 1) * INTERVAL_S - 1e-9 <= waited <= HEALTHY * INTERVAL_S + 1e-9
        else:
            assert 0.0 <= waited <= HEALTHY * INTERVAL_S + 1e-9
    # and the endpoint turned ready in the API only then: the API's ready count never exceeded replicas + surge
    log = world.slices.ready_log[0]
    assert max(n for _, n in log) <= 4 + 1
    events = [e for e in world.cluster.log if e[1] == "readiness-gate"]
    assert len(events) == 4 and all("target-health.elbv2.k8s.aws/web True" in e[3] for e in events)


def test_without_gates_the_pod_is_ready_when_its_containers_are() -> None:
    world = _world(lb_rollout(gates=False, prestop_s=10, probe=False, duration=40.0))
    for pod in (p for p in world.pods if p.revision == 1 and world.status[p.index].ready):
        status = world.status[pod.index]
        assert status.ready_since == status.containers_ready_at


def test_the_gate_paces_the_rollout_by_the_lb_health_checks() -> None:
    """Each new pod counts available only after ≥ (healthy − 1) intervals, so 4 replacements take ≥ 4 × that."""
    world = _world(lb_rollout(gates=True, prestop_s=10, probe=False, duration=130.0))
    deleted = sorted(e[0] for e in world.cluster.log if e[1] == "pod-deleted")
    assert len(deleted) == 4
    assert deleted[-1] - 10.0 >= 4 * (HEALTHY - 1) * INTERVAL_S


# -- what the gate buys ----------------------------------------------------------------------


def _failed(result) -> int:  # type: ignore[no-untyped-def]
    return sum(n for kind, n in _outcomes(result).items() if kind != "OK")


def test_gates_with_prestop_lose_nothing_where_prestop_alone_and_no_prestop_lose_requests() -> None:
    gated = simulate_one(lb_rollout(gates=True, prestop_s=10))
    prestop = simulate_one(lb_rollout(gates=False, prestop_s=10))
    bare = simulate_one(lb_rollout(gates=False, prestop_s=None))
    assert gated.generated == prestop.generated == bare.generated  # same seed, same arrivals
    assert set(_outcomes(gated)) == {"OK"}, _outcomes(gated)
    # without the gate the rollout outruns the LB: every old target is deregistered before a new one is healthy
    assert _failed(prestop) > 0, _outcomes(prestop)
    # without preStop, the LB still sends to a stopped pod (refused) or a gone one (no answer) for the deregistration lag
    assert _failed(bare) > _failed(prestop)


# -- gates nothing can set -------------------------------------------------------------------


@pytest.mark.parametrize(("target_type", "service_type", "why"), [
    ("instance", "LoadBalancer", "instance targets"),
    ("ip", "ClusterIP", "no type: LoadBalancer Service selects its pods"),
])
def test_a_gate_that_can_never_be_true_warns_and_keeps_pods_not_ready(target_type: str, service_type: str, why: str) -> None:
    config = lb_rollout(gates=True, prestop_s=None, target_type=target_type, service_type=service_type, duration=5.0)
    config["churn"] = []
    if service_type == "ClusterIP":
        config["clients"][0].pop("location")
    spec = load_experiment(config)
    warning = next(w for w in spec.warnings if "readiness gate" in w)
    assert "can never become True" in warning and why in warning and "Deployment/web" in warning
    world = _world(config)
    assert not any(s.ready for s in world.status)
    assert not world.tables[0].ready.any()
    result = simulate_one(config)
    assert set(_outcomes(result)) <= {"REFUSED"}


def test_gate_naming_another_service_is_set_by_every_lb_selecting_the_pod() -> None:
    config = lb_rollout(gates=True, prestop_s=10, probe=False, duration=130.0)
    config["manifests"][0]["spec"]["template"]["spec"]["readinessGates"] = [{"conditionType": "target-health.elbv2.k8s.aws/k8s-default-web-1a2b3c"}]
    assert not [w for w in load_experiment(config).warnings if "readiness gate" in w]
    world = _world(config)
    assert sum(world.status[p.index].ready for p in world.pods if p.revision == 1) == 4

"""Sidecar mesh balancing against queueing theory, and gRPC spread against per-request random choice.

- ``least_request`` (power of two choices) from one proxy over N single-worker exponential
  pods, proxy cost zero, so the proxy's active counts are the pods' queues: the fraction of
  pods with at least i requests is Mitzenmacher's supermarket fixed point λ^(2^i − 1);
  with ``random`` every pod is an M/M/1 queue: λ^i.
- gRPC (one multiplexed connection per client pod): under kube-proxy the connections land
  like balls into bins; through sidecars the requests spread as per-request random choice.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import deployment, experiment, service, simulate_one

from netsim import theory
from netsim.config import load_experiment
from netsim.model.events import Wakeup, run_until
from netsim.model.world import World

PODS = 500
LOAD = 0.8
MEAN_S = 0.01


def _queue_tails(policy: str, seed: int = 1) -> np.ndarray:
    """Time-averaged fraction of pods with at least 1, 2, 3 requests (sampled every half service time)."""
    warmup, duration = 0.5, 2.5
    config = experiment(replicas=PODS, rate=LOAD * PODS / MEAN_S, mean_service=MEAN_S, duration=duration, warmup=warmup,
                        seed=seed)
    config["cluster"]["mesh"] = {"mode": "sidecar", "lb_policy": policy, "cost": "0s"}
    world = World(load_experiment(config).runs()[0])
    pods = [p for p in world.pods if p.deployment == "web"]
    samples: list[np.ndarray] = []

    def sample(_: object) -> None:
        counts = np.fromiter((p.busy + len(p.queue) for p in pods), dtype=np.int64, count=len(pods))
        samples.append(np.array([(counts >= i).mean() for i in (1, 2, 3)]))

    world.start()
    for t in np.arange(warmup, warmup + duration, MEAN_S / 2):
        world.env.push(float(t), Wakeup(world.env, sample, None))
    run_until(world.env, world.drained)
    return np.mean(samples, axis=0)


def test_least_request_follows_the_supermarket_model():
    tails = _queue_tails("least_request")
    expected = np.array([LOAD ** (2**i - 1) for i in (1, 2, 3)])
    assert np.allclose(tails, expected, rtol=0.05), (tails, expected)


def test_random_choice_makes_each_pod_an_mm1_queue():
    tails = _queue_tails("random")
    expected = np.array([LOAD**i for i in (1, 2, 3)])
    assert np.allclose(tails, expected, rtol=0.05), (tails, expected)


def _grpc_spread(mesh: dict | None, pods: int = 200, client_pods: int = 8) -> tuple[np.ndarray, int]:
    """Requests served per pod, and connections opened, for gRPC clients (one HTTP/2 connection per client pod)."""
    rate = 4000.0
    config = experiment(replicas=pods, rate=rate, mean_service=0.001, concurrency=8, duration=10.0, warmup=0.0,
                        nodes={"count": client_pods})
    config["clients"][0]["connections"] = {"mode": "multiplexed", "pool": 1}
    if mesh is not None:
        config["cluster"]["mesh"] = mesh
    result = simulate_one(config)
    req = result.requests
    ok = req["outcome"] == 0
    return np.bincount(req["pod"][ok], minlength=pods)[:pods], int(ok.sum())


def _cv(x: np.ndarray) -> float:
    return float(x.std() / x.mean())


@pytest.mark.parametrize("policy", ["random", "least_request", "round_robin"])
def test_grpc_through_sidecars_spreads_like_per_request_random_choice(policy: str):
    per_pod, requests = _grpc_spread({"mode": "sidecar", "lb_policy": policy})
    random_cv = theory.balls_into_bins_cv(per_pod.size, requests)  # requests as balls: sqrt((N-1)/R)
    if policy == "random":
        assert abs(_cv(per_pod) - random_cv) <= 0.2 * random_cv
    else:  # policies that look at the pods do at least as well
        assert _cv(per_pod) <= 1.2 * random_cv


def test_grpc_under_kube_proxy_pins_connections_like_balls_into_bins():
    per_pod, _ = _grpc_spread(None)
    meshed, _ = _grpc_spread({"mode": "sidecar", "lb_policy": "random"})
    assert (per_pod > 0).sum() <= 8  # eight connections, eight pods at most
    assert _cv(per_pod) > 10 * _cv(meshed)
    assert _cv(per_pod) >= 0.8 * theory.balls_into_bins_cv(per_pod.size, 8)


def test_ambient_without_a_waypoint_keeps_grpc_pinned_and_a_waypoint_spreads_it():
    pinned, _ = _grpc_spread({"mode": "ambient"})
    assert (pinned > 0).sum() <= 8
    spread, requests = _grpc_spread({"mode": "ambient", "waypoint": True})
    assert _cv(spread) <= 1.2 * theory.balls_into_bins_cv(spread.size, requests)


def _slow_pod_share(policy: str) -> float:
    """Share of requests the one slow pod (20× slower) of ten serves, through sidecars with ``policy``."""
    slow = deployment("web-slow", replicas=1, labels={"app": "web", "track": "slow"})
    fast = deployment("web", replicas=9, labels={"app": "web", "track": "fast"})
    config = experiment(rate=1000.0, duration=20.0, warmup=2.0, concurrency=4, nodes={"count": 2},
                        manifests=[fast, slow, service(selector={"app": "web"})])
    config["workloads"]["web"] = {"service_time": {"distribution": "exponential", "mean": "1ms"}}
    config["workloads"]["web-slow"] = {"service_time": {"distribution": "exponential", "mean": "20ms"}}
    config["cluster"]["mesh"] = {"mode": "sidecar", "lb_policy": policy}
    result = simulate_one(config)
    req = result.requests
    ok = req["outcome"] == 0
    slow_pods = [i for i, p in enumerate(result.pods) if p["deployment"] == "web-slow"]
    return float(np.isin(req["pod"][ok], slow_pods).mean())


def test_peak_ewma_steers_away_from_a_slow_pod():
    assert _slow_pod_share("random") == pytest.approx(0.1, abs=0.01)
    assert _slow_pod_share("peak_ewma") < 0.05

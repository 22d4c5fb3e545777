"""Invariants: every generated request ends exactly once; pickers never return a non-ready endpoint."""

from __future__ import annotations

import numpy as np
from builders import experiment, simulate_one
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from netsim import theory
from netsim.model.request import Outcome
from netsim.routing import NO_ENDPOINT, pick_random, pick_round_robin


@settings(max_examples=25, deadline=None)
@given(
    replicas=st.integers(0, 4),
    concurrency=st.integers(1, 3),
    rho=st.floats(0.1, 2.5),
    queue_limit=st.integers(0, 20),
    timeout_ms=st.sampled_from([5, 50, 3_600_000]),
    nodes=st.integers(1, 3),
    retries=st.booleans(),
)
def test_every_request_ends_exactly_once(replicas, concurrency, rho, queue_limit, timeout_ms, nodes, retries) -> None:  # type: ignore[no-untyped-def]
    """Each generated request is recorded once, by its id (retries keep the id of their request): ids come
    from the run's one counter, 0, 1, 2, ... (this experiment has no calls between Services, which draw
    from it too), so the recorded ids must be exactly 0 .. generated − 1: no duplicate, none missing."""
    mean_service = 0.002
    rate = rho * max(replicas, 1) * concurrency / mean_service
    config = experiment(replicas=replicas, concurrency=concurrency, rate=rate, mean_service=mean_service,
                        duration=1.0, warmup=0.2, nodes={"count": nodes},
                        network={"same_node": "10us", "same_zone": "100us", "cross_zone": "1ms", "internet": "0s"})
    config["workloads"]["default"]["queue_limit"] = queue_limit
    config["clients"][0]["timeout"] = f"{timeout_ms}ms"
    if retries:
        config["clients"][0]["retries"] = {"attempts": 2, "on": ["refused", "rejected", "timeout"], "backoff": "1ms"}
    result = simulate_one(config)
    req = result.requests
    assert len(req["outcome"]) == result.generated  # nothing lost, nothing counted twice
    assert np.array_equal(np.sort(req["id"]), np.arange(result.generated))  # and by id: each request once
    assert set(np.unique(req["outcome"])) <= {int(o) for o in Outcome}
    ok = req["outcome"] == Outcome.OK
    assert np.all(req["pod"][ok] >= 0)
    assert np.all(req["latency_s"] >= 0)
    assert np.all(req["latency_s"] <= timeout_ms / 1000 + 1e-12)
    if replicas == 0:
        assert np.all(req["outcome"] == Outcome.REFUSED)


def test_overload_is_bounded_and_counted() -> None:
    """rho = 2 on one pod: the waiting room fills and overflow is rejected, as often as M/M/1/K says
    (K = 1 in service + 50 waiting), within 4 batch-means standard errors of the run itself."""
    lam, mu, limit = 2000.0, 1000.0, 50
    config = experiment(rate=lam, mean_service=1 / mu, duration=20.0, warmup=0.0)
    config["workloads"]["default"]["queue_limit"] = limit
    result = simulate_one(config)
    req = result.requests
    assert len(req["outcome"]) == result.generated
    order = np.argsort(req["t_issue_s"], kind="stable")
    rejected, se = theory.batch_means((req["outcome"][order] == Outcome.REJECTED).astype(float), batches=25)
    expected = theory.mmck_blocking(lam, mu, 1, 1 + limit)
    assert abs(rejected - expected) <= 4 * se, (rejected, expected, se)


ready_masks = arrays(bool, st.integers(0, 40))


@given(ready=ready_masks, u=arrays(float, st.integers(1, 200), elements=st.floats(0, 1, exclude_max=True)))
def test_random_picker_returns_only_ready_endpoints(ready: np.ndarray, u: np.ndarray) -> None:
    picks = pick_random(ready, u)
    if not ready.any():
        assert np.all(picks == NO_ENDPOINT)
    else:
        assert np.all(ready[picks])


@given(ready=ready_masks, start=st.integers(0, 100), count=st.integers(1, 300))
def test_round_robin_returns_only_ready_endpoints_evenly(ready: np.ndarray, start: int, count: int) -> None:
    picks, _ = pick_round_robin(ready, start, count)
    if not ready.any():
        assert np.all(picks == NO_ENDPOINT)
        return
    assert np.all(ready[picks])
    counts = np.bincount(picks, minlength=ready.size)[ready]
    assert counts.max() - counts.min() <= 1

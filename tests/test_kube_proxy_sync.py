"""kube-proxy's sync cadence and cost as current kube-proxy runs them (netsim/model/propagation.py).

Semantics from kube-proxy's source (``pkg/proxy/runner/bounded_frequency_runner.go``,
``pkg/proxy/iptables/proxier.go``; docs/config.md, *kube-proxy syncs*):

- the runner waits ``minSyncPeriod`` after a sync *ends* before the next starts, and
  batches every change seen meanwhile into that one sync (no burst);
- with no change it syncs only every ``FullSyncPeriod`` (1 h), not every 30 s;
- a change-driven iptables sync is partial (KEP-3453): it rewrites ``KUBE-SERVICES``
  (one rule per Service port) and the changed Service's chains only, so its cost grows
  with the number of Services but not with the endpoints of Services that did not change.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import churn_experiment, deployment, service, simulate_one

from netsim.config.churn_events import ControlPlaneConfig
from netsim.model.propagation import NodeProxySync


def test_min_sync_period_counts_from_the_end_of_a_sync_and_changes_ride_on_one_sync() -> None:
    cp = ControlPlaneConfig()
    node = NodeProxySync(cp.min_sync_period, cp.sync_period, cp.sync_burst, lambda: 0.5)
    assert node.on_seen(0.0) == pytest.approx(0.5)  # syncs at once, takes 0.5 s
    # seen during the sync and the cooldown: one sync at 0.5 + 1 s, carrying all three
    assert [node.on_seen(t) for t in (0.2, 0.9, 1.4)] == pytest.approx([2.0, 2.0, 2.0])
    assert node.sync_starts == pytest.approx([0.0, 1.5])


def test_without_changes_kube_proxy_syncs_hourly_not_every_30_seconds() -> None:
    cp = ControlPlaneConfig()
    node = NodeProxySync(cp.min_sync_period, cp.sync_period, cp.sync_burst, lambda: 0.0, lambda service: 0.0)
    node.on_seen(10.0)
    node.on_seen(1000.0)
    assert node.sync_starts == [10.0, 1000.0]  # nothing periodic in between
    node.on_seen(1000.0 + 3600.0 + 100.0)
    assert node.sync_starts[2] == pytest.approx(1000.0 + 3600.0)  # an hour without a sync: a periodic one
    assert node.full_syncs == 1  # ... and it was full; the change-driven ones were partial


def _programming_s(big_replicas: int, background: int) -> float:
    """The time one endpoint change of Service ``web`` takes to be programmed, with nothing else in the way:
    no watch delay, no controller time, so it is the sync's own duration."""
    config = churn_experiment(replicas=2, rate=20.0, duration=6.0, nodes=1,
                              control_plane={"watch_delay": "0s", "endpointslice_processing": "0s"},
                              churn=[{"at": "3s", "kill": "Deployment/web", "count": 1, "how": "delete"}])
    config["manifests"] += [deployment("big", big_replicas), service("big")]
    config["clients"].append({"name": "other", "target": "big", "arrival": {"rate": 1.0}})  # big's endpoints are programmed
    config["cluster"]["background_services"] = background
    config["cluster"]["kube_proxy"] = {"mode": "iptables"}
    programming = simulate_one(config).programming
    first = int(np.argmin(programming["change_s"]))  # the kill (the replacement's readiness comes later)
    return float(programming["programmed_s"][first] - programming["change_s"][first])


def test_a_partial_iptables_sync_costs_with_services_not_with_unchanged_endpoints() -> None:
    small, many_endpoints = _programming_s(5, 2000), _programming_s(100, 2000)
    assert many_endpoints == pytest.approx(small, abs=1e-12)  # big's chains are not rewritten
    more_services = _programming_s(5, 4000)
    per_rule = 10e-6  # cluster.kube_proxy.sync_cost.iptables_per_rule (default)
    assert more_services - small == pytest.approx(2000 * per_rule, rel=1e-9)  # one KUBE-SERVICES rule per Service

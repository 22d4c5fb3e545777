"""What a sender sees when kube-proxy has no endpoint for it, or its packets go nowhere (issue 10).

References are Kubernetes' and Linux's own behaviour (kube-proxy ``pkg/proxy/iptables/proxier.go``
and ``pkg/proxy/topology.go``; Linux ``tcp_syn_retries``), never seeded numbers:

- a ``Local`` traffic policy on a node with no usable endpoint DROPs the SYN: the sender waits
  exactly its connect timeout (or its own timeout, if shorter), and the try ends as
  ``no_local_endpoint``; IPVS instead programs the cluster's endpoints for in-cluster senders;
- with no endpoint ready, kube-proxy uses the serving-and-terminating ones (ProxyTerminatingEndpoints):
  for ``Cluster`` when none is ready anywhere, for ``Local`` among the node's own.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import churn_experiment, deployment, experiment, service, simulate_one

from netsim.model.request import Outcome

NETWORK = {"same_node": "50us", "same_zone": "100us", "cross_zone": "100us", "internet": "1ms"}


def _local_split(policy_field: str, type_: str = "ClusterIP", mode: str = "iptables", client: dict | None = None) -> dict:
    """One pod, pinned to node-1, of a Service with a Local policy; node-2 has none."""
    svc = service(type_=type_)
    svc["spec"][policy_field] = "Local"
    config = experiment(nodes={"count": 2}, network=NETWORK, duration=6.0, warmup=0.0, rate=200.0,
                        manifests=[deployment(replicas=1, node_name="node-1"), svc], client=client)
    config["cluster"]["kube_proxy"] = {"mode": mode}
    return config


@pytest.mark.parametrize(("connect_s", "timeout_s"), [(2.0, 10.0), (127.0, 3.0)])
def test_a_local_drop_waits_for_the_connect_timeout_or_the_request_timeout(connect_s: float, timeout_s: float) -> None:
    client = {"name": "load", "target": "web", "arrival": {"rate": 200.0}, "timeout": f"{timeout_s}s",
              "connect_timeout": f"{connect_s}s"}
    result = simulate_one(_local_split("internalTrafficPolicy", client=client))
    req = result.requests
    dropped = req["outcome"] == Outcome.NO_LOCAL_ENDPOINT
    from_node_2 = req["entry_node"] == 1
    assert np.array_equal(dropped, from_node_2)  # every try from the empty node, and only those, is dropped
    assert 0.3 < dropped.mean() < 0.7  # one client pod per node: about half
    assert np.allclose(req["latency_s"][dropped], min(connect_s, timeout_s))


def test_a_retry_policy_on_connect_timeout_retries_a_local_drop() -> None:
    client = {"name": "load", "target": "web", "arrival": {"rate": 200.0}, "timeout": "10s", "connect_timeout": "1s",
              "retries": {"attempts": 1, "on": ["connect_timeout"], "backoff": "10ms"}}
    result = simulate_one(_local_split("internalTrafficPolicy", client=client))
    req = result.requests
    dropped = req["outcome"] == Outcome.NO_LOCAL_ENDPOINT
    assert len(result.retries) == int(dropped.sum()) > 0  # each retried once (its node drops it again)
    assert np.allclose(req["latency_s"][dropped], 2 * 1.0 + 0.010)


def test_ipvs_sends_in_cluster_local_traffic_to_remote_endpoints_but_drops_external() -> None:
    """kube-proxy's IPVS proxier gives a Local Service with no local endpoint the cluster's endpoints
    (kubernetes#97081): in-cluster senders are served; an external client's SYN reaches the pod but the
    pod's reply, from its own address, is discarded: the client sees no answer."""
    inside = simulate_one(_local_split("internalTrafficPolicy", mode="ipvs"))
    assert (inside.requests["outcome"] == Outcome.OK).all()
    assert (inside.requests["entry_node"] == 1).any()
    client = {"name": "users", "location": "external", "target": "web", "arrival": {"rate": 200.0}, "timeout": "10s",
              "connect_timeout": "2s"}
    outside = simulate_one(_local_split("externalTrafficPolicy", "NodePort", "ipvs", client))
    req = outside.requests
    dropped = req["outcome"] == Outcome.NO_LOCAL_ENDPOINT
    assert np.array_equal(dropped, req["entry_node"] == 1)
    assert np.allclose(req["latency_s"][dropped], 2.0 + 2 * 1e-3, atol=1e-3)  # plus the internet hop out


# -- terminating endpoints --------------------------------------------------------------------------


def test_cluster_policy_falls_back_to_terminating_pods_while_none_is_ready() -> None:
    """Recreate deletes every pod at t0; with a 5 s preStop they serve until SIGTERM. No endpoint is ready
    anywhere, so kube-proxy uses the serving-terminating ones: every request sent before SIGTERM is served."""
    t0, prestop = 10.0, 5.0
    config = churn_experiment(strategy={"type": "Recreate"}, prestop_s=prestop, startup="10s",
                              churn=[{"at": f"{t0}s", "rollout": "Deployment/web"}], duration=20.0)
    result = simulate_one(config)
    req = result.requests
    t = req["t_issue_s"]
    before_sigterm = (t >= t0) & (t < t0 + prestop - 0.1)
    assert before_sigterm.sum() > 1000
    assert (req["outcome"][before_sigterm] == Outcome.OK).all()
    assert (req["outcome"][(t > t0 + prestop + 8.0) & (t < t0 + 12.0)] != Outcome.OK).all()  # then nothing serves


def test_local_policy_falls_back_to_its_own_terminating_pod_though_others_are_ready() -> None:
    """node-1's only pod is deleted (5 s preStop); node-2's stays ready. Traffic entering node-1 with
    externalTrafficPolicy Local uses node-1's serving-terminating pod, not a drop."""
    t0, prestop = 5.0, 5.0
    web = deployment("web", replicas=1, node_name="node-1")
    container = web["spec"]["template"]["spec"]["containers"][0]
    container["lifecycle"] = {"preStop": {"sleep": {"seconds": prestop}}}
    container["readinessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    svc = service(type_="NodePort")
    svc["spec"]["externalTrafficPolicy"] = "Local"
    config = experiment(nodes={"count": 2}, network=NETWORK, duration=12.0, warmup=0.0, rate=400.0,
                        manifests=[web, deployment("web-b", replicas=1, labels={"app": "web"}, node_name="node-2"), svc],
                        client={"name": "users", "location": "external", "target": "web", "arrival": {"rate": 400.0},
                                "timeout": "3s"})
    config["workloads"]["default"]["startup"] = "20s"  # the replacement is not ready in this window
    config["churn"] = [{"at": f"{t0}s", "kill": "Deployment/web", "how": "delete"}]
    result = simulate_one(config)
    req = result.requests
    t = req["t_issue_s"]
    node_1 = (req["entry_node"] == 0) & (t >= t0) & (t < t0 + prestop - 0.1)
    assert node_1.sum() > 200
    assert (req["outcome"][node_1] == Outcome.OK).all()
    assert set(req["pod"][node_1].tolist()) == {0}  # the terminating pod itself (node-2's pod is index 1)


# -- connections and failures -------------------------------------------------------------------------


def _dead_node(mode: str, t0: float = 5.0) -> tuple:  # type: ignore[type-arg]
    """A client pod on node-1 keeps ``mode`` connections to the one web pod, on node-2, which dies at ``t0``."""
    client = {"name": "load", "target": "web", "from": "Deployment/client", "arrival": {"rate": 50.0}, "timeout": "2s",
              "connect_timeout": "500ms", "connections": {"mode": mode, "pool": 4}}
    config = experiment(nodes={"count": 2}, network=NETWORK, duration=12.0, warmup=0.0, client=client,
                        manifests=[deployment("web", replicas=1, node_name="node-2"), service(),
                                   deployment("client", replicas=1, node_name="node-1")])
    config["churn"] = [{"at": f"{t0}s", "fail": "node/node-2"}]
    result = simulate_one(config)
    req = result.requests
    order = np.argsort(req["t_issue_s"], kind="stable")
    return {k: v[order] for k, v in req.items()}, t0


def test_a_keep_alive_connection_to_a_silently_dead_node_times_out_before_the_client_reconnects() -> None:
    """Nothing tells the client its peer died: the request on the open connection waits for its timeout
    (the connection is then closed); the new connections that follow get no answer to their SYN."""
    req, t0 = _dead_node("keep-alive")
    before = set(req["connection"][req["t_issue_s"] < t0].tolist())
    after = req["t_issue_s"] >= t0
    first = int(np.flatnonzero(after)[0])
    assert req["connection"][first] in before  # not reconnected for free
    assert req["outcome"][first] == Outcome.TIMEOUT and req["latency_s"][first] == pytest.approx(2.0)
    assert not (req["outcome"][after] == Outcome.OK).any()
    syn = req["outcome"] == Outcome.CONNECT_TIMEOUT
    assert syn.any() and set(req["connection"][syn].tolist()).isdisjoint(before)  # only new connections' SYNs


def test_a_multiplexed_connection_to_a_silently_dead_node_keeps_its_connection_and_times_out_each_stream() -> None:
    """A gRPC deadline resets the stream, not the connection; TCP gives up only after ~15 min (tcp_retries2)."""
    req, t0 = _dead_node("multiplexed")
    before = set(req["connection"][req["t_issue_s"] < t0].tolist())
    after = req["t_issue_s"] >= t0
    assert set(req["connection"][after].tolist()) <= before
    assert (req["outcome"][after] == Outcome.TIMEOUT).all()


@pytest.mark.parametrize("mode", ["keep-alive", "multiplexed"])
def test_a_request_to_a_hung_pod_times_out_and_keep_alive_closes_its_connection(mode: str) -> None:
    """A hung process accepts connections and never answers: each request times out. HTTP/1.1 cannot reuse a
    connection with an answer owed, so the client closes it (the next request opens another); an HTTP/2
    stream reset leaves the connection open."""
    client = {"name": "load", "target": "web", "arrival": {"rate": 20.0}, "timeout": "1s",
              "connections": {"mode": mode, "pool": 1}}
    config = experiment(nodes={"count": 1}, network=NETWORK, duration=10.0, warmup=0.0, client=client)
    config["churn"] = [{"at": "3s", "kill": "Deployment/web", "how": "hang"}]
    req = simulate_one(config).requests
    order = np.argsort(req["t_issue_s"], kind="stable")
    t, outcome, conn = req["t_issue_s"][order], req["outcome"][order], req["connection"][order]
    hung = (t > 3.0) & (outcome == Outcome.TIMEOUT)
    assert hung.sum() > 10
    hung_conns = conn[hung]
    if mode == "keep-alive":
        assert np.unique(hung_conns).size == hung_conns.size  # one timed-out request per connection: then closed
    else:
        assert np.unique(hung_conns).size == 1


def test_stale_rules_to_a_deleted_pods_address_get_no_answer_not_a_reset() -> None:
    """A rollout without preStop: until every node has heard, stale rules send new connections to the old
    pods' addresses. The pods are gone, so nothing answers (Calico drops them): the client's connect times
    out at its connect_timeout; it is not refused."""
    config = churn_experiment(churn=[{"at": "10s", "rollout": "Deployment/web"}], duration=20.0,
                              control_plane={"watch_delay": {"distribution": "uniform", "low": "200ms", "high": "1s"}})
    config["clients"][0]["connect_timeout"] = "300ms"
    req = simulate_one(config).requests
    syn = req["outcome"] == Outcome.CONNECT_TIMEOUT
    assert syn.sum() > 10
    assert np.allclose(req["latency_s"][syn], 0.3)
    assert syn.sum() > 10 * (req["outcome"] == Outcome.REFUSED).sum()  # refused only while a pod drains

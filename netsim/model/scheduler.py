"""Where pods land: a small kube-scheduler.

Filters as the real one does for what netsim models (``nodeName`` pins a pod,
``nodeSelector`` keeps nodes whose labels match), then scores the way the
default spreading plugins behave in effect: fewest pods of the same Deployment
first, then fewest pods in total, then node order. A pod with no feasible node
stays Pending and serves nothing (a warning says so).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from netsim.k8s.objects import Deployment
from netsim.spec import NodeSpec


@dataclass(frozen=True)
class Placement:
    deployment: str
    name: str
    node: int


def feasible_nodes(deployment: Deployment, nodes: Sequence[NodeSpec]) -> list[int]:
    """Indices of nodes that pass ``nodeName`` and ``nodeSelector``."""
    return [
        i
        for i, node in enumerate(nodes)
        if (deployment.node_name is None or deployment.node_name == node.name)
        and all(node.labels.get(k) == v for k, v in deployment.node_selector.items())
    ]


def place_pods(deployments: Sequence[Deployment], nodes: Sequence[NodeSpec]) -> tuple[list[Placement], list[str]]:
    """Place every replica of every Deployment; returns placements and warnings for Pending pods.

    A Deployment that may use every node and has no more replicas than nodes takes,
    replica by replica, the node with the fewest pods (then the lowest index) among
    those it has no pod on yet: exactly the scoring below, read off a heap of
    ``(pods, node)`` shared by all Deployments instead of a scan of every node per pod.
    """
    total = [0] * len(nodes)
    placements: list[Placement] = []
    warnings: list[str] = []
    heap = [(0, i) for i in range(len(nodes))]  # (pods on the node when pushed, node); stale entries fixed when popped
    for deployment in deployments:
        if deployment.node_name is None and not deployment.node_selector and deployment.replicas <= len(nodes):
            chosen: list[int] = []
            while len(chosen) < deployment.replicas:
                pods, node = heapq.heappop(heap)
                if pods != total[node]:  # another Deployment's pods landed there since: its place in the heap moved
                    heapq.heappush(heap, (total[node], node))
                    continue
                chosen.append(node)
            for replica, node in enumerate(chosen):
                total[node] += 1
                heapq.heappush(heap, (total[node], node))
                placements.append(Placement(deployment=deployment.name, name=deployment.pod_name(replica + 1), node=node))
            continue
        own = [0] * len(nodes)
        candidates = feasible_nodes(deployment, nodes)
        for replica in range(deployment.replicas):
            name = deployment.pod_name(replica + 1)
            if not candidates:
                why = f"nodeName '{deployment.node_name}'" if deployment.node_name else f"nodeSelector {deployment.node_selector}"
                warnings.append(f"Deployment/{deployment.name}: {deployment.replicas - replica} pod(s) Pending, no node matches {why}")
                break
            node = min(candidates, key=lambda i: (own[i], total[i], i))
            own[node] += 1
            total[node] += 1
            placements.append(Placement(deployment=deployment.name, name=name, node=node))
    return placements, warnings

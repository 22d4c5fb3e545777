"""Client pods that come and go: which pod sends each request when churn touches the clients.

An in-cluster client is a set of pods, one per node or the pods of its ``from:``
Deployment; its Poisson arrivals are split uniformly over them. Without churn the
set is fixed and :class:`netsim.model.client.Client` draws the sender with the
gap (its hot path). Under churn the World installs :class:`LiveSenders`:

- the arrival stream is unchanged (common random numbers): each arrival still
  draws one uniform ``u`` from the client's own stream, at the same point;
- ``u`` picks one of the *current* senders: every client pod (one per node), or
  the ``from:`` Deployment's pods that are Ready now, so pods created during the
  run take over a share and pods that are gone or not Ready stop sending;
- a sender whose node has failed cannot send: the request is counted and ends at
  once as :attr:`Outcome.CLIENT_DOWN` (its share of the load is lost at the
  source, and visible), as is a request when the Deployment has no Ready pod.
  A pod on a failed node counts as Ready until the node controller says otherwise
  (``node_monitor_grace_period``), so for that long its share is lost too.

A client pod is a *slot* (its DNS cache, its connection pool, its client IP). A
``from:`` client reserves slots for up to :data:`SLOTS_PER_REPLICA` × the most
replicas its Deployment may have; a pod takes a free slot when it turns Ready and
gives it back when it stops being Ready (the next pod in that slot starts with an
empty DNS cache). Simplified: a reused slot keeps the old pod's idle pooled
connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SLOTS_PER_REPLICA = 2
"""Slots reserved per replica of the ``from:`` Deployment's largest size (surge pods need slots too)."""


def sender_slots(deployment: str, replicas: int, churn: Sequence, autoscalers: Sequence) -> int:  # type: ignore[type-arg]
    """Slots a ``from: Deployment/<deployment>`` client reserves: :data:`SLOTS_PER_REPLICA` × its largest size."""
    sizes = [replicas, 1]
    sizes += [e.event.replicas for e in churn if e.action == "scale" and e.name == deployment]
    sizes += [h.max_replicas for h in autoscalers if h.target_name == deployment]
    return SLOTS_PER_REPLICA * max(sizes)


class LiveSenders:
    """The current senders of one in-cluster client: ``pick(u)`` gives ``(slot, node up)``; slot -1: none."""

    def __init__(self, pod_nodes: list[int], node_up: Sequence[bool], discovery: Any,
                 pods: Sequence[int] | None = None) -> None:
        """``pods``: the World pod in each slot (a ``from:`` client), or None for one fixed pod per node."""
        self.pod_nodes = pod_nodes
        """Shared with the client's route: the node of each slot."""
        self.node_up = node_up
        self._discovery = discovery
        self.per_node = pods is None
        self.slot_pod = [] if pods is None else list(pods) + [-1] * (len(pod_nodes) - len(pods))
        self.ready = [] if pods is None else [k for k in range(len(pods))]
        """Slots whose pod is Ready now (``from:`` clients), in slot order."""
        self.overflow = 0

    def pick(self, u: float) -> tuple[int, bool]:
        if self.per_node:
            slot = int(u * len(self.pod_nodes))
        elif self.ready:
            slot = self.ready[int(u * len(self.ready))]
        else:
            return -1, False
        return slot, self.node_up[self.pod_nodes[slot]]

    def update(self, pod: int, node: int, ready: bool) -> None:
        """A pod of the ``from:`` Deployment changed: it takes a slot when Ready, gives it back when not."""
        slot = self.slot_pod.index(pod) if pod in self.slot_pod else -1
        if ready and slot < 0:
            if -1 not in self.slot_pod:
                self.overflow += 1  # more Ready pods than slots: this one does not send
                return
            slot = self.slot_pod.index(-1)
            self.slot_pod[slot] = pod
            self.pod_nodes[slot] = node
            self._discovery.forget(slot)
        elif not ready and slot >= 0:
            self.slot_pod[slot] = -1
        else:
            return
        self.ready = [k for k, p in enumerate(self.slot_pod) if p >= 0]

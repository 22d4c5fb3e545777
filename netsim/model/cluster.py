"""The shared state of one run: nodes, pods and what the API knows of them, Services, and what happened.

The parts that act on the cluster — the kubelet (model/pod_lifecycle.py), the
controllers (model/controllers.py), the EndpointSlice propagation
(model/endpoint_slices.py), the traffic (model/traffic.py) — each receive this
object and the other parts they need when the world is built (model/world.py),
and change the state through their own methods. :class:`PodEvents` carries
"a pod changed" from the kubelet to whoever follows pods (Deployment
controllers, client slots, load balancers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from netsim.model.events import Environment

if TYPE_CHECKING:
    from netsim.k8s.objects import Deployment, Service
    from netsim.model.dns import CoreDns
    from netsim.model.endpoint_slices import EndpointSlices
    from netsim.model.pod import Pod
    from netsim.model.pod_lifecycle import PodStatus
    from netsim.routing import EndpointTable
    from netsim.spec import NodeSpec


class Cluster:
    """What every part of the model reads and changes: see the attributes."""

    def __init__(self, env: Environment, nodes: Sequence[NodeSpec], deployments: Sequence[Deployment],
                 services: Sequence[Service]) -> None:
        self.env = env
        self.nodes = tuple(nodes)
        self.node_up = [True] * len(nodes)
        self.cordoned = [False] * len(nodes)
        self.deployments = {d.name: d for d in deployments}
        self.services = list(services)
        """The Services some client or call targets (index = Service id in tables and results)."""
        self.pods: list[Pod] = []
        """Every pod that ever existed in the run (index = pod id); churn appends."""
        self.status: list[PodStatus] = []
        """What the kubelet and the API know of each pod besides its serving state."""
        self.pending: list[Pod] = []
        """Pods no node could take yet."""
        self.tables: list[EndpointTable] = []
        """Per Service, the EndpointSlice as the API server has it (each node programs its own copy)."""
        self.slices: EndpointSlices | None = None
        self.dns: CoreDns | None = None
        self.deleted_services: set[int] = set()
        """Services deleted by churn: pods created later do not join them."""
        self.log: list[tuple[float, str, str, str]] = []
        """``(time, action, target, detail)``: events.csv."""
        self.warnings: list[str] = []

    def record(self, action: str, target: str, detail: str) -> None:
        """One line of events.csv."""
        self.log.append((self.env.time, action, target, detail))

    def node_index(self, name: str) -> int:
        return next(i for i, n in enumerate(self.nodes) if n.name == name)

    def live_pods(self, deployment: str) -> list[Pod]:
        """The Deployment's pods that still exist (terminating ones included)."""
        return [p for p in self.pods if p.deployment == deployment and p.state != "Gone"]


class PodEvents:
    """Who hears that a pod changed: ``changed(pod, ready, gone)`` and ``terminating(pod)`` subscribers."""

    def __init__(self) -> None:
        self._changed: list[Callable[[Any, bool, bool], None]] = []
        self._terminating: list[Callable[[Any], None]] = []

    def on_changed(self, fn: Callable[[Any, bool, bool], None]) -> None:
        self._changed.append(fn)

    def on_terminating(self, fn: Callable[[Any], None]) -> None:
        self._terminating.append(fn)

    def changed(self, pod: Any, ready: bool = False, gone: bool = False) -> None:
        """The pod's readiness or existence changed (``ready``: it just turned Ready)."""
        for fn in self._changed:
            fn(pod, ready, gone)

    def terminating(self, pod: Any) -> None:
        """The pod turned Terminating (deleted, grace period running)."""
        for fn in self._terminating:
            fn(pod)

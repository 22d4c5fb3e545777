"""Controllers that change which pods exist: Deployments, HorizontalPodAutoscalers, nodes.

- :class:`DeploymentController` (kube-controller-manager's Deployment and
  ReplicaSet controllers): on every pod event it counts old and new pods (by
  template revision; terminating pods excluded, as ReplicaSet counts are) and
  applies :func:`netsim.k8s.rollout.reconcile` — RollingUpdate within
  maxSurge/maxUnavailable with minReadySeconds, Recreate, scaling, and replacing
  pods that were deleted. Deletion picks not-available pods first, then the
  newest. New pods are placed like :mod:`netsim.model.scheduler` places them,
  on nodes that are up and not cordoned. A Deployment under ``deferred:`` has a
  controller that does nothing until applied; deleting one stops it and deletes
  its pods gracefully (:func:`netsim.model.churn.apply_object`).
- :class:`HpaLoop`: every 15 s, CPU utilisation of the target's ready pods from
  their busy time over the last period (one busy worker = one core) relative to
  the CPU request, fed to :class:`netsim.k8s.hpa.HpaController` (tolerance,
  stabilisation window, rate limits); started when applied, stopped when deleted.
- :class:`NodeController`: a failed node's pods vanish at once; after
  ``node_monitor_grace_period`` the node is NotReady and its pods' endpoints turn
  not-ready; after a further ``eviction_timeout`` the pods are evicted (deleted; the
  Deployment controller replaces them elsewhere). A node that returns before
  eviction restarts its pods' containers; its kube-proxy resyncs. Draining cordons
  the node and deletes its pods gracefully (PodDisruptionBudgets are not modelled).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import numpy as np
import simpy

from netsim.k8s.hpa import SYNC_PERIOD_S, HpaController
from netsim.k8s.objects import Deployment
from netsim.k8s.rollout import ReplicaCounts, is_available, reconcile
from netsim.model.events import call_later
from netsim.model.pod import Pod
from netsim.model.request import Outcome
from netsim.model.scheduler import feasible_nodes

if TYPE_CHECKING:
    from netsim.config.churn_events import ControlPlaneConfig
    from netsim.k8s.autoscaling import HorizontalPodAutoscaler
    from netsim.model.cluster import Cluster
    from netsim.model.pod_lifecycle import Kubelet


class ReplicaSets:
    """Pods that Deployments create during the run: a new pod, scheduled on a node that is up and not cordoned.

    ``new_pod(deployment, name, node, revision)`` builds the pod (model/world.py knows its
    workload); once scheduled, ``on_scheduled(pod)`` subscribers learn of it (the
    EndpointSlices, an LB with ``ip`` targets) and the kubelet starts it.
    """

    def __init__(self, cluster: Cluster, new_pod: Callable[[Deployment, str, int, int], Pod], kubelet: Kubelet,
                 names: dict[str, int]) -> None:
        self.cluster = cluster
        self._new_pod = new_pod
        self.kubelet = kubelet
        self._names = names
        """Per Deployment, the last pod number used (pods are named ``<deployment>-<n>``)."""
        self.on_scheduled: list[Callable[[Pod], None]] = []

    def create(self, deployment: Deployment, revision: int) -> Pod:
        self._names[deployment.name] += 1
        pod = self._new_pod(deployment, deployment.pod_name(self._names[deployment.name]), -1, revision)
        status = self.cluster.status[pod.index]
        status.ready, status.ready_since, status.running = False, None, False
        pod.die(Outcome.REFUSED)
        pod.state = "Pending"
        if not self._schedule(pod):
            self.cluster.pending.append(pod)
            self.cluster.record("pod-pending", f"pod/{pod.name}", "no node fits")
        return pod

    def _schedule(self, pod: Pod) -> bool:
        cluster = self.cluster
        deployment = cluster.deployments[pod.deployment]
        live = [p for p in cluster.pods if p.node >= 0 and p.state != "Gone"]
        candidates = [n for n in feasible_nodes(deployment, cluster.nodes) if cluster.node_up[n] and not cluster.cordoned[n]]
        if not candidates:
            return False
        own = [0] * len(cluster.nodes)
        total = [0] * len(cluster.nodes)
        for p in live:
            total[p.node] += 1
            own[p.node] += p.deployment == pod.deployment
        pod.node = min(candidates, key=lambda n: (own[n], total[n], n))
        for fn in self.on_scheduled:
            fn(pod)
        cluster.record("pod-created", f"pod/{pod.name}", f"on {cluster.nodes[pod.node].name}, revision {pod.revision}")
        self.kubelet.start(pod)
        return True

    def schedule_pending(self) -> None:
        """A node came back or was uncordoned: try the Pending pods again."""
        waiting, self.cluster.pending = self.cluster.pending, []
        for pod in waiting:
            if not self._schedule(pod):
                self.cluster.pending.append(pod)


class DeploymentController:
    """One Deployment's desired replicas, template revision, and the reconcile loop."""

    def __init__(self, cluster: Cluster, deployment: Deployment, exists: bool, kubelet: Kubelet, replicasets: ReplicaSets) -> None:
        self.cluster = cluster
        self.kubelet = kubelet
        self.replicasets = replicasets
        self.deployment = deployment
        self.exists = exists
        """False for a Deployment under ``deferred:`` until applied, and after it is deleted."""
        self.desired = deployment.replicas if self.exists else 0
        self.revision = 0
        self._queued = False

    def create(self) -> None:
        """The Deployment is applied: its ReplicaSet creates ``spec.replicas`` pods."""
        self.exists = True
        self.desired = self.deployment.replicas
        self.notify()

    def delete(self) -> None:
        """The Deployment is deleted: the controller stops and every pod is deleted gracefully."""
        self.exists = False
        self.desired = 0
        cluster = self.cluster
        cluster.pending = [p for p in cluster.pending if p.deployment != self.deployment.name]
        for pod in self.pods():
            self.kubelet.delete(pod)

    def pods(self) -> list[Pod]:
        """This Deployment's pods that still exist (terminating ones included)."""
        return self.cluster.live_pods(self.deployment.name)

    def pod_changed(self, pod: Pod, ready: bool, gone: bool) -> None:
        """A pod of this Deployment changed: reconcile (again after minReadySeconds when it became Ready)."""
        self.notify()
        if ready and self.deployment.min_ready_seconds > 0:
            self.notify(self.deployment.min_ready_seconds)
        if ready:
            self.cluster.record("pod-ready", f"pod/{pod.name}", "")

    def counts(self) -> tuple[ReplicaCounts, list[Pod], list[Pod], set[int]]:
        now = self.cluster.env.time
        old, new, available = [], [], set()
        old_terminating = 0
        for pod in self.pods():
            status = self.cluster.status[pod.index]
            if status.deleted_at is not None:
                old_terminating += pod.revision < self.revision
                continue
            # (a hair of slack: the re-check scheduled minReadySeconds after Ready must see the pod available)
            if status.ready and is_available(status.ready_since, now + 1e-9, self.deployment.min_ready_seconds):
                available.add(pod.index)
            (new if pod.revision == self.revision else old).append(pod)
        counts = ReplicaCounts(
            desired=self.desired,
            old_total=len(old), old_available=sum(p.index in available for p in old),
            new_total=len(new), new_available=sum(p.index in available for p in new),
            old_terminating=old_terminating,
        )
        return counts, old, new, available

    def notify(self, delay: float = 0.0) -> None:
        """Something changed: reconcile once, after the events of this instant (or ``delay`` later)."""
        if delay > 0.0:
            call_later(self.cluster.env, delay, lambda _: self.notify(), None)
            return
        if not self._queued:
            self._queued = True
            call_later(self.cluster.env, 0.0, self._reconcile, None)

    def _reconcile(self, _: object) -> None:
        self._queued = False
        if not self.exists:
            return
        counts, old, new, available = self.counts()
        step, _after = reconcile(counts, self.deployment.strategy)
        if step.is_noop:
            return
        kubelet = self.kubelet
        for pod in self._deletion_order(old, available)[: step.delete_old]:
            kubelet.delete(pod)
        for pod in self._deletion_order(new, available)[: step.delete_new]:
            kubelet.delete(pod)
        for _ in range(step.create_new):
            self.replicasets.create(self.deployment, self.revision)

    def _deletion_order(self, pods: list[Pod], available: set[int]) -> list[Pod]:
        """Not-available pods first, then not-ready, then the newest (the ReplicaSet controller's ranking)."""
        status = self.cluster.status
        return sorted(pods, key=lambda p: (p.index in available, status[p.index].ready, -p.created_at, -p.index))


class HpaLoop:
    """One HPA: a sync every 15 s from the target's pods' busy time."""

    def __init__(self, cluster: Cluster, hpa: HorizontalPodAutoscaler, target: DeploymentController,
                 log: list[tuple[float, str, int, int, float]]) -> None:
        self.cluster = cluster
        self.log = log
        self.hpa = hpa
        self.target = target
        self.controller = HpaController(hpa)
        self._last: dict[int, float] = {}
        self._running = False
        self.cpu_request = target.deployment.template.cpu_request_cores
        if not self.cpu_request:
            cluster.warnings.append(
                f"HorizontalPodAutoscaler/{hpa.name}: Deployment/{target.deployment.name} requests no CPU, "
                "so CPU utilisation is undefined and the HPA never scales (as in Kubernetes)"
            )

    def start(self) -> None:
        """Start the sync loop (at the run's start, or when the HPA is applied)."""
        self._running = True
        if self.cpu_request:
            self.cluster.env.process(self._run())

    def stop(self) -> None:
        """The HPA is deleted: no further syncs; the Deployment keeps its replicas."""
        self._running = False

    @staticmethod
    def _busy(pod: Pod) -> float:
        return pod.busy_s

    def _run(self) -> Generator[simpy.Event, None, None]:
        env = self.cluster.env
        for pod in self.target.pods():
            self._last[pod.index] = self._busy(pod)
        last_sync = env.now
        while True:
            yield env.timeout(SYNC_PERIOD_S)
            if not self._running:
                return
            if not self.target.exists:  # no scale subresource to read or write (FailedGetScale)
                last_sync = env.now
                continue
            window = env.now - last_sync
            last_sync = env.now
            pods = [p for p in self.target.pods() if self.cluster.status[p.index].deleted_at is None]
            ready = [p for p in pods if self.cluster.status[p.index].ready]
            used = 0.0
            for pod in pods:
                busy = self._busy(pod)
                if pod in ready:
                    used += busy - self._last.get(pod.index, busy)
                self._last[pod.index] = busy
            utilization = 100.0 * used / window / self.cpu_request / len(ready) if ready else 0.0  # type: ignore[operator]
            current = self.target.desired
            replicas = self.controller.sync(env.now, current, utilization, len(ready))
            self.log.append((env.now, self.hpa.name, current, replicas, utilization))
            if replicas != current:
                self.target.desired = replicas
                self.cluster.record("hpa-scale", f"Deployment/{self.target.deployment.name}",
                                  f"{current} -> {replicas} replicas at {utilization:.0f}% CPU")
                self.target.notify()


class NodeController:
    """Node failure, recovery and drain."""

    def __init__(self, cluster: Cluster, control_plane: ControlPlaneConfig, kubelet: Kubelet, replicasets: ReplicaSets) -> None:
        self.cluster = cluster
        self.cp = control_plane
        self.kubelet = kubelet
        self.replicasets = replicasets
        self._failures = [0] * len(cluster.nodes)

    def fail(self, node: int, duration: float | None) -> None:
        cluster = self.cluster
        if not cluster.node_up[node]:
            return
        cluster.node_up[node] = False
        self._failures[node] += 1
        failure = self._failures[node]
        for pod in cluster.pods:
            if pod.node == node and pod.state != "Gone":
                self.kubelet.vanish(pod)
        env = cluster.env
        call_later(env, self.cp.node_monitor_grace_period, self._not_ready, (node, failure))
        call_later(env, self.cp.node_monitor_grace_period + self.cp.eviction_timeout, self._evict, (node, failure))
        if duration is not None:
            call_later(env, duration, self._recover, (node, failure))

    def _down_since(self, node: int, failure: int) -> bool:
        return not self.cluster.node_up[node] and self._failures[node] == failure

    def _not_ready(self, args: tuple[int, int]) -> None:
        node, failure = args
        if not self._down_since(node, failure):
            return
        cluster = self.cluster
        cluster.record("node-not-ready", f"node/{cluster.nodes[node].name}", "")
        for pod in cluster.pods:
            if pod.node == node and pod.state == "Lost":
                self.kubelet.not_ready(pod)

    def _evict(self, args: tuple[int, int]) -> None:
        node, failure = args
        if not self._down_since(node, failure):
            return
        cluster = self.cluster
        cluster.record("node-evict", f"node/{cluster.nodes[node].name}", "")
        for pod in cluster.pods:
            if pod.node == node and pod.state == "Lost":
                self.kubelet.evict(pod)

    def _recover(self, args: tuple[int, int]) -> None:
        node, failure = args
        if not self._down_since(node, failure):
            return
        cluster = self.cluster
        cluster.node_up[node] = True
        cluster.record("node-up", f"node/{cluster.nodes[node].name}", "")
        cluster.slices.resync(node)  # type: ignore[union-attr]
        for pod in cluster.pods:
            if pod.node == node and pod.state == "Lost":
                self.kubelet.revive(pod)
        self.replicasets.schedule_pending()

    def drain(self, node: int) -> None:
        self.cluster.cordoned[node] = True
        for pod in list(self.cluster.pods):
            if pod.node == node:
                self.kubelet.delete(pod)


def choose(rng: np.random.Generator, pods: list[Pod], count: int) -> list[Pod]:
    """``count`` of ``pods`` at random (all of them if fewer), in a stable order."""
    if len(pods) <= count:
        return list(pods)
    picks = rng.choice(len(pods), size=count, replace=False)
    return [pods[int(i)] for i in sorted(picks.tolist())]

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

from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np
import simpy

from netsim.k8s.hpa import SYNC_PERIOD_S, HpaController
from netsim.k8s.objects import Deployment
from netsim.k8s.rollout import ReplicaCounts, is_available, reconcile
from netsim.model.events import call_later
from netsim.model.pod import Pod

if TYPE_CHECKING:
    from netsim.k8s.autoscaling import HorizontalPodAutoscaler
    from netsim.model.world import World


class DeploymentController:
    """One Deployment's desired replicas, template revision, and the reconcile loop."""

    def __init__(self, world: World, deployment: Deployment) -> None:
        self.world = world
        self.deployment = deployment
        self.exists = world.run.scenario.exists_at_start("Deployment", deployment.name)
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
        world = self.world
        world.pending = [p for p in world.pending if p.deployment != self.deployment.name]
        for pod in self.pods():
            world.kubelet.delete(pod)

    def pods(self) -> list[Pod]:
        """This Deployment's pods that still exist (terminating ones included)."""
        return [p for p in self.world.pods if p.deployment == self.deployment.name and p.state != "Gone"]

    def counts(self) -> tuple[ReplicaCounts, list[Pod], list[Pod], set[int]]:
        now = self.world.env.now
        old, new, available = [], [], set()
        old_terminating = 0
        for pod in self.pods():
            status = self.world.status[pod.index]
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
            call_later(self.world.env, delay, lambda _: self.notify(), None)
            return
        if not self._queued:
            self._queued = True
            call_later(self.world.env, 0.0, self._reconcile, None)

    def _reconcile(self, _: object) -> None:
        self._queued = False
        if not self.exists:
            return
        counts, old, new, available = self.counts()
        step, _after = reconcile(counts, self.deployment.strategy)
        if step.is_noop:
            return
        kubelet = self.world.kubelet
        for pod in self._deletion_order(old, available)[: step.delete_old]:
            kubelet.delete(pod)
        for pod in self._deletion_order(new, available)[: step.delete_new]:
            kubelet.delete(pod)
        for _ in range(step.create_new):
            self.world.create_pod(self.deployment, self.revision)

    def _deletion_order(self, pods: list[Pod], available: set[int]) -> list[Pod]:
        """Not-available pods first, then not-ready, then the newest (the ReplicaSet controller's ranking)."""
        status = self.world.status
        return sorted(pods, key=lambda p: (p.index in available, status[p.index].ready, -p.created_at, -p.index))


class HpaLoop:
    """One HPA: a sync every 15 s from the target's pods' busy time."""

    def __init__(self, world: World, hpa: HorizontalPodAutoscaler, target: DeploymentController) -> None:
        self.world = world
        self.hpa = hpa
        self.target = target
        self.controller = HpaController(hpa)
        self._last: dict[int, float] = {}
        self._running = False
        self.cpu_request = target.deployment.template.cpu_request_cores
        if not self.cpu_request:
            world.warnings.append(
                f"HorizontalPodAutoscaler/{hpa.name}: Deployment/{target.deployment.name} requests no CPU, "
                "so CPU utilisation is undefined and the HPA never scales (as in Kubernetes)"
            )

    def start(self) -> None:
        """Start the sync loop (at the run's start, or when the HPA is applied)."""
        self._running = True
        if self.cpu_request:
            self.world.env.process(self._run())

    def stop(self) -> None:
        """The HPA is deleted: no further syncs; the Deployment keeps its replicas."""
        self._running = False

    def _busy(self, pod: Pod) -> float:
        return float(getattr(pod._service_time, "total", 0.0))

    def _run(self) -> Generator[simpy.Event, None, None]:
        env = self.world.env
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
            pods = [p for p in self.target.pods() if self.world.status[p.index].deleted_at is None]
            ready = [p for p in pods if self.world.status[p.index].ready]
            used = 0.0
            for pod in pods:
                busy = self._busy(pod)
                if pod in ready:
                    used += busy - self._last.get(pod.index, busy)
                self._last[pod.index] = busy
            utilization = 100.0 * used / window / self.cpu_request / len(ready) if ready else 0.0  # type: ignore[operator]
            current = self.target.desired
            replicas = self.controller.sync(env.now, current, utilization, len(ready))
            self.world.hpa_log.append((env.now, self.hpa.name, current, replicas, utilization))
            if replicas != current:
                self.target.desired = replicas
                self.world.record("hpa-scale", f"Deployment/{self.target.deployment.name}",
                                  f"{current} -> {replicas} replicas at {utilization:.0f}% CPU")
                self.target.notify()


class NodeController:
    """Node failure, recovery and drain."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.cp = world.run.scenario.cluster.control_plane
        self._failures = [0] * len(world.nodes)

    def fail(self, node: int, duration: float | None) -> None:
        world = self.world
        if not world.node_up[node]:
            return
        world.node_up[node] = False
        self._failures[node] += 1
        failure = self._failures[node]
        for pod in world.pods:
            if pod.node == node and pod.state != "Gone":
                world.kubelet.vanish(pod)
        env = world.env
        call_later(env, self.cp.node_monitor_grace_period, self._not_ready, (node, failure))
        call_later(env, self.cp.node_monitor_grace_period + self.cp.eviction_timeout, self._evict, (node, failure))
        if duration is not None:
            call_later(env, duration, self._recover, (node, failure))

    def _down_since(self, node: int, failure: int) -> bool:
        return not self.world.node_up[node] and self._failures[node] == failure

    def _not_ready(self, args: tuple[int, int]) -> None:
        node, failure = args
        if not self._down_since(node, failure):
            return
        world = self.world
        world.record("node-not-ready", f"node/{world.nodes[node].name}", "")
        for pod in world.pods:
            if pod.node == node and pod.state == "Lost":
                world.kubelet._not_ready(pod)

    def _evict(self, args: tuple[int, int]) -> None:
        node, failure = args
        if not self._down_since(node, failure):
            return
        world = self.world
        world.record("node-evict", f"node/{world.nodes[node].name}", "")
        for pod in world.pods:
            if pod.node == node and pod.state == "Lost":
                status = world.status[pod.index]
                status.deleted_at, status.evicted = world.env.now, True
                world.kubelet._exited(pod)

    def _recover(self, args: tuple[int, int]) -> None:
        node, failure = args
        if not self._down_since(node, failure):
            return
        world = self.world
        world.node_up[node] = True
        world.record("node-up", f"node/{world.nodes[node].name}", "")
        world.slices.resync(node)
        for pod in world.pods:
            if pod.node == node and pod.state == "Lost":
                world.kubelet.revive(pod)
        world.schedule_pending()

    def drain(self, node: int) -> None:
        world = self.world
        world.cordoned[node] = True
        for pod in list(world.pods):
            if pod.node == node:
                world.kubelet.delete(pod)


def choose(rng: np.random.Generator, pods: list[Pod], count: int) -> list[Pod]:
    """``count`` of ``pods`` at random (all of them if fewer), in a stable order."""
    if len(pods) <= count:
        return list(pods)
    picks = rng.choice(len(pods), size=count, replace=False)
    return [pods[int(i)] for i in sorted(picks.tolist())]

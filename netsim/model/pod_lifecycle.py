"""The kubelet's side of a pod's life: start, readiness, crashes, hangs, graceful termination.

Kubernetes (k8s-facts §2; :mod:`netsim.k8s.lifecycle`, :mod:`netsim.model.probes`):

- **Start.** Scheduled → the container runs after ``workloads.<d>.startup`` (image
  pull, process start) → the readinessProbe ticks (its grid at a random phase)
  and the containers are ready after ``successThreshold`` successes; the pod is
  Ready then, or, with ``readinessGates``, once every gate's condition is True too
  (:mod:`netsim.model.readiness_gates`: the LB reports the pod's target healthy);
  then its endpoint turns ready in the EndpointSlice (and propagates, :mod:`netsim.model.endpoint_slices`).
  The process serves from its start: a request that arrives before the endpoint
  is ready (an LB with ``ip`` targets) is served.
- **Terminating** (deletion): the endpoint turns not-ready at once, but stays
  ``serving`` (the pod was Ready, and its readinessProbe still passes) until the
  probe notices that the process stopped listening after SIGTERM (``failureThreshold``
  failed probes; without a probe, until the container exits): kube-proxy falls
  back on serving-terminating endpoints when none is ready (ProxyTerminatingEndpoints,
  GA in 1.28; :meth:`netsim.routing.EndpointTable.assign`); the preStop
  hook runs (a ``sleep`` hook's own seconds, an exec/httpGet hook for
  ``workloads.<d>.prestop``) while the process still serves; SIGTERM: the process
  stops listening (new connections refused) and finishes what it has; it exits when
  done, or SIGKILL at ``terminationGracePeriodSeconds`` resets what is left. Then the
  pod is gone and its endpoint removed.
- **Crash** (``kill … how: crash``): the process exits: in-flight requests are reset,
  new ones refused, the pod is not Ready at once (the kubelet sees the exit); it
  restarts in place after CrashLoopBackOff (10 s doubling to 300 s) and goes
  through start and readiness again.
- **Hang** (``how: hang``): the process stops answering; requests time out; only the
  readinessProbe notices, after ``failureThreshold`` failures (≈ (failureThreshold − 1)
  × periodSeconds + U(0, periodSeconds) + timeoutSeconds). Without a probe, never.
  A hung process stays hung (no liveness probe is modelled).
- **Vanish** (its node failed): the process is gone without termination; in-flight
  and new requests are black-holed; the API still thinks the pod Ready until the
  node controller says otherwise (:mod:`netsim.model.controllers`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netsim.distributions import BlockSampler
from netsim.k8s.lifecycle import CrashLoopBackOff, termination_timeline
from netsim.k8s.pod_template import PodTemplate
from netsim.model.events import call_later
from netsim.model.pod import Pod
from netsim.model.probes import failure_detected_at, pod_ready_time
from netsim.model.request import Outcome

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from netsim.model.cluster import Cluster, PodEvents
    from netsim.spec import WorkloadSpec


@dataclass
class PodStatus:
    """What the kubelet and the API know about one pod besides its serving state."""

    template: PodTemplate
    ready: bool = True
    ready_since: float | None = 0.0
    deleted_at: float | None = None
    """Deletion time (Terminating, or evicted); None while the pod is wanted."""
    running: bool = True
    """The container's process is up (serving, draining or hung)."""
    started_at: float = 0.0
    probe_origin: float = 0.0
    generation: int = 0
    """Bumped whenever pending start/readiness timers must be ignored (crash, hang, deletion)."""
    restarts: int = 0
    backoff: CrashLoopBackOff = field(default_factory=CrashLoopBackOff)
    evicted: bool = False
    containers_ready: bool = True
    containers_ready_at: float | None = 0.0
    gates_pending: dict[str, set[int]] = field(default_factory=dict)
    """Per readiness gate, the Services whose LB has yet to report the pod healthy (``NEVER``: it never will)."""

    @property
    def gates_true(self) -> bool:
        """Every readiness gate's condition is True (so with no gates)."""
        return not any(self.gates_pending.values())


class Kubelet:
    """Pod lifecycle transitions for every node (one object; each pod's timers are its own).

    It changes the pods' serving state and the API's view of them (``cluster.status``,
    the EndpointSlices), and tells ``events`` subscribers (controllers, client slots,
    load balancers) what changed.
    """

    def __init__(self, cluster: Cluster, events: PodEvents, workloads: dict[str, WorkloadSpec],
                 rng: Callable[[str], np.random.Generator]) -> None:
        self.cluster = cluster
        self.events = events
        self.env = cluster.env
        self._rng = rng("kubelet/probe-phase")
        self._startup: dict[str, BlockSampler | None] = {}
        self._prestop: dict[str, BlockSampler | None] = {}
        for name, workload in workloads.items():
            self._startup[name] = None if workload.startup is None else BlockSampler(workload.startup, rng(f"startup/{name}"))
            self._prestop[name] = None if workload.prestop is None else BlockSampler(workload.prestop, rng(f"prestop/{name}"))

    # -- start and readiness -------------------------------------------------------------------

    def start(self, pod: Pod) -> None:
        """A pod was scheduled: the container starts after the workload's startup time."""
        status = self.cluster.status[pod.index]
        status.generation += 1
        status.running = False
        status.containers_ready, status.containers_ready_at = False, None
        pod.state = "Starting"
        pod.die(Outcome.REFUSED)  # nothing listens yet
        startup = self._startup.get(pod.deployment)
        call_later(self.env, startup() if startup is not None else 0.0, self._container_started, (pod, status.generation))

    def _container_started(self, args: tuple[Pod, int]) -> None:
        pod, generation = args
        status = self.cluster.status[pod.index]
        if generation != status.generation or pod.state == "Gone":
            return
        now = self.env.time
        status.running, status.started_at = True, now
        pod.serve()
        pod.state = "Running"
        probes = status.template.readiness_probes
        phases = [float(self._rng.uniform(0.0, p.period_s)) for p in probes]
        status.probe_origin = now + (phases[0] if phases else 0.0)
        ready_at = pod_ready_time(now, probes, phases)
        call_later(self.env, max(0.0, ready_at - now), self._probe_ready, (pod, generation))

    def _probe_ready(self, args: tuple[Pod, int]) -> None:
        pod, generation = args
        status = self.cluster.status[pod.index]
        if generation != status.generation or pod.state == "Gone" or status.deleted_at is not None:
            return
        status.containers_ready, status.containers_ready_at = True, self.env.time
        if status.gates_true:
            self._ready(pod)

    def _ready(self, pod: Pod) -> None:
        status = self.cluster.status[pod.index]
        status.ready, status.ready_since = True, self.env.time
        self.cluster.slices.set_ready(pod.index, True)
        self.events.changed(pod, ready=True)

    def gate_passed(self, pod: Pod, service: int) -> None:
        """Service ``service``'s LB reports the pod's target healthy: its readiness gates may turn True."""
        status = self.cluster.status[pod.index]
        for condition, pending in status.gates_pending.items():
            if service in pending:
                pending.discard(service)
                if not pending:
                    self.cluster.record("readiness-gate", f"pod/{pod.name}", f"{condition} True")
        if (status.gates_true and status.containers_ready and not status.ready and status.running
                and status.deleted_at is None and pod.state != "Gone"):
            self._ready(pod)

    def not_ready(self, pod: Pod) -> None:
        """The pod is not Ready any more (its containers failed their probe, or its node is NotReady)."""
        self._not_ready(pod)

    def evict(self, pod: Pod) -> None:
        """The node controller evicts a pod from a node that stayed down: deleted, gone at once."""
        status = self.cluster.status[pod.index]
        status.deleted_at, status.evicted = self.env.time, True
        self._exited(pod)

    def _not_ready(self, pod: Pod) -> None:
        status = self.cluster.status[pod.index]
        status.containers_ready, status.containers_ready_at = False, None
        self.cluster.slices.set_serving(pod.index, False)
        if status.ready:
            status.ready, status.ready_since = False, None
            self.cluster.slices.set_ready(pod.index, False)
            self.events.changed(pod)

    # -- failures ---------------------------------------------------------------------------

    def crash(self, pod: Pod) -> bool:
        """The container's process exits; it restarts in place after CrashLoopBackOff."""
        status = self.cluster.status[pod.index]
        if pod.state == "Gone" or not status.running:
            return False
        now = self.env.time
        status.generation += 1
        status.running = False
        pod.die(Outcome.RESET)
        pod.state = "Crashed"
        self._not_ready(pod)
        if status.deleted_at is not None:  # a terminating pod whose process dies is done
            self._exited(pod)
            return True
        delay = status.backoff.on_crash(now - status.started_at)
        status.restarts += 1
        call_later(self.env, delay, self._restart, (pod, status.generation))
        return True

    def _restart(self, args: tuple[Pod, int]) -> None:
        pod, generation = args
        status = self.cluster.status[pod.index]
        if generation == status.generation and pod.state != "Gone" and status.deleted_at is None:
            self.start(pod)

    def hang(self, pod: Pod) -> bool:
        """The process stops answering; the readinessProbe notices after failureThreshold failures."""
        status = self.cluster.status[pod.index]
        if pod.state == "Gone" or not status.running or pod.process != "serving":
            return False
        status.generation += 1
        pod.hang()
        pod.state = "Hung"
        now = self.env.time
        probes = status.template.readiness_probes
        detected = min((failure_detected_at(now, p, status.probe_origin) for p in probes), default=math.inf)
        if detected < math.inf:
            call_later(self.env, detected - now, self._hang_detected, (pod, status.generation))
        return True

    def _hang_detected(self, args: tuple[Pod, int]) -> None:
        pod, generation = args
        if generation == self.cluster.status[pod.index].generation and pod.state != "Gone":
            self._not_ready(pod)

    def vanish(self, pod: Pod) -> None:
        """Its node went dark: the process is gone, nothing answers; the API does not know yet."""
        status = self.cluster.status[pod.index]
        status.generation += 1
        status.running = False
        pod.die(Outcome.TIMEOUT)  # its senders are not told: their connections time out (model/pod.py)
        pod.state = "Lost"

    def revive(self, pod: Pod) -> None:
        """Its node came back before eviction: the kubelet starts the container again."""
        self._not_ready(pod)
        self.start(pod)

    # -- graceful termination ------------------------------------------------------------------

    def delete(self, pod: Pod) -> bool:
        """Graceful deletion: not-ready at once, preStop, SIGTERM, drain, SIGKILL at the grace period."""
        status = self.cluster.status[pod.index]
        if pod.state == "Gone" or status.deleted_at is not None:
            return False
        now = self.env.time
        status.deleted_at = now
        status.generation += 1
        pod.state = "Terminating"
        self.cluster.record("pod-deleted", f"pod/{pod.name}", "")
        self.events.terminating(pod)
        if status.ready:
            status.ready, status.ready_since = False, None
            self.cluster.slices.set_ready(pod.index, False)
            if status.running:  # serving: its readiness probe still passes (the kubelet keeps probing)
                self.cluster.slices.set_serving(pod.index, True)
        self.events.changed(pod)
        if not status.running:  # not started or crashed: nothing to stop
            self._exited(pod)
            return True
        pre_stop = 0.0
        for hook in status.template.pre_stop_hooks:
            if hook.sleep_s is not None:
                pre_stop = max(pre_stop, hook.sleep_s)
            else:
                sampler = self._prestop.get(pod.deployment)
                pre_stop = max(pre_stop, sampler() if sampler is not None else 0.0)
        timeline = termination_timeline(now, pre_stop, status.template.termination_grace_period_s)
        call_later(self.env, timeline.sigterm_at - now, self._sigterm, (pod, status.generation))
        call_later(self.env, timeline.kill_at - now, self._sigkill, (pod, status.generation))
        return True

    def _sigterm(self, args: tuple[Pod, int]) -> None:
        pod, generation = args
        if generation != self.cluster.status[pod.index].generation or pod.state == "Gone":
            return
        if pod.process == "serving":
            pod.stop_listening(self._exited)
            if pod.state != "Gone":  # still draining: the probe finds nothing listening
                now = self.env.time
                status = self.cluster.status[pod.index]
                probes = [p for p in status.template.readiness_probes if p is not None]
                if probes:  # a refused probe fails at once (no timeout to wait for)
                    ends = min(failure_detected_at(now, p, status.probe_origin) - p.timeout_s for p in probes)
                    call_later(self.env, max(0.0, ends - now), self._not_serving, (pod, generation))
        # a hung process ignores SIGTERM; SIGKILL ends it

    def _not_serving(self, args: tuple[Pod, int]) -> None:
        """A Terminating pod's readiness probe has failed ``failureThreshold`` times: not serving any more."""
        pod, generation = args
        if generation == self.cluster.status[pod.index].generation and pod.state != "Gone":
            self.cluster.slices.set_serving(pod.index, False)

    def _sigkill(self, args: tuple[Pod, int]) -> None:
        pod, generation = args
        if generation != self.cluster.status[pod.index].generation or pod.state == "Gone":
            return
        reset = pod.die(Outcome.RESET)
        self.cluster.record("sigkill", f"pod/{pod.name}", f"{reset} requests reset")
        self._exited(pod)

    def _exited(self, pod: Pod) -> None:
        """The process is gone and the pod object deleted: its endpoint leaves the slice."""
        if pod.state == "Gone":
            return
        status = self.cluster.status[pod.index]
        status.running = False
        status.generation += 1
        pod.state = "Gone"
        pod.ended_at = self.env.time
        if pod.node >= 0 and not self.cluster.node_up[pod.node]:  # (a Pending pod has no node)
            pod.die(Outcome.TIMEOUT)  # evicted from a dead node: nobody tells its senders
        else:
            pod.die(Outcome.RESET)  # nothing left normally: its connections close
            pod.go_dark()  # its address is gone: stale rules' SYNs get no answer (Calico drops them)
        self.cluster.slices.set_ready(pod.index, False, remove=True)
        self.cluster.record("pod-gone", f"pod/{pod.name}", "")
        self.events.changed(pod, gone=True)


"""Container restarts (CrashLoopBackOff) and pod termination, as pure timing rules.

Restarts (Kubernetes "Pod Lifecycle" → "Container restarts"; k8s-facts §2): with
``restartPolicy: Always`` the kubelet restarts a crashed container in place after
an exponential back-off of 10 s, 20 s, 40 s, … capped at 300 s. Once a container
has run for 10 minutes without a problem, the back-off resets to 10 s. (The
kubelet's implementation may restart the very first crash sooner; the documented
10 s is used.) The pod stays scheduled on its node; it is not Ready while the
container is down, so its endpoint goes not-ready.

Termination (Kubernetes "Pod Lifecycle" → "Termination of Pods"): at deletion
time the pod turns Terminating and its endpoint not-ready (EndpointSlice
``ready: false, terminating: true``). The kubelet runs each container's preStop
hook, then sends SIGTERM; the application stops taking new connections and
finishes what is in flight. ``terminationGracePeriodSeconds`` counts from the
deletion, hook included; if the hook is still running when it runs out, the
kubelet sends SIGTERM anyway and grants a one-off 2 s extension before SIGKILL.
Whatever is still in flight at SIGKILL is reset.
"""

from __future__ import annotations

from dataclasses import dataclass

BACKOFF_INITIAL_S = 10.0
BACKOFF_MAX_S = 300.0
BACKOFF_RESET_AFTER_S = 600.0
"""A container that ran this long without a problem starts back-off afresh."""
PRESTOP_OVERRUN_EXTENSION_S = 2.0


@dataclass
class CrashLoopBackOff:
    """One container's restart back-off. Call :meth:`on_crash` at each crash; restart after the delay it returns."""

    initial_s: float = BACKOFF_INITIAL_S
    max_s: float = BACKOFF_MAX_S
    reset_after_s: float = BACKOFF_RESET_AFTER_S
    _next_s: float | None = None

    def on_crash(self, running_for_s: float) -> float:
        """The delay before the restart of a container that crashed after running ``running_for_s``."""
        if self._next_s is None or running_for_s >= self.reset_after_s:
            self._next_s = self.initial_s
        delay = self._next_s
        self._next_s = min(self._next_s * 2, self.max_s)
        return delay

    @property
    def next_delay_s(self) -> float:
        """The delay a crash now would get if the container had not run long (for reporting)."""
        return self.initial_s if self._next_s is None else self._next_s


@dataclass(frozen=True)
class TerminationTimeline:
    """When a deleted pod gets SIGTERM and, at the latest, SIGKILL (absolute times, s)."""

    deleted_at: float
    sigterm_at: float
    kill_at: float


def termination_timeline(deleted_at: float, pre_stop_s: float, grace_period_s: float) -> TerminationTimeline:
    """Times of SIGTERM and of the SIGKILL deadline for a pod deleted at ``deleted_at``.

    ``pre_stop_s`` is the longest of the containers' hooks (0 without one). The
    process may exit before ``kill_at`` once its in-flight work is done; the caller
    models that drain.
    """
    if pre_stop_s < 0 or grace_period_s < 0:
        raise ValueError("preStop duration and grace period must not be negative")
    if pre_stop_s > grace_period_s:  # hook overruns the grace period
        return TerminationTimeline(deleted_at, deleted_at + grace_period_s,
                                   deleted_at + grace_period_s + PRESTOP_OVERRUN_EXTENSION_S)
    return TerminationTimeline(deleted_at, deleted_at + pre_stop_s, deleted_at + grace_period_s)

"""When the kubelet's readiness probe turns a pod Ready, and notices that it stopped serving.

How the kubelet probes (Kubernetes "Configure Liveness, Readiness and Startup
Probes"; k8s-facts §2, §8.6): a probe worker per container ticks every
``periodSeconds``; ticks before ``initialDelaySeconds`` after the container
started are skipped. A probe fails if the container does not answer within
``timeoutSeconds``. The container turns ready after ``successThreshold``
consecutive successes and not-ready after ``failureThreshold`` consecutive
failures. The worker's ticks are not aligned with the container's start (the
worker starts with the pod, with a random delay of up to one period when the
kubelet has been up for a while), so the tick grid's phase relative to the
container start is modelled as a number in ``[0, period)``: the caller draws it
from U(0, period) on the churn stream, or passes 0 for a deterministic grid.

Two kinds of failure differ (design choice, stated for the lead):

- the process *exits* (a crash): the kubelet sees the container stop within its
  PLEG relist (≈1 s) and the pod is not-ready at once; new connections are refused;
- the process *hangs* (a hard failure: no answers, no exit): only the probe notices,
  after ``failureThreshold`` failures, i.e. ≈ (failureThreshold − 1)·period +
  U(0, period) + timeout after the failure (k8s-facts §8.6: 3 × 10 s → 20–30 s + 1 s).

Simplified: a successful probe answers instantly; the kubelet's status update to
the API server is immediate (its few ms are within the propagation path's noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from netsim.k8s.pod_template import Probe

_EPS = 1e-9


def next_tick(t: float, grid_origin: float, period_s: float) -> float:
    """The first probe tick at or after ``t`` on the grid ``grid_origin + k·period`` (k ≥ 0)."""
    if t <= grid_origin:
        return grid_origin
    k = math.ceil((t - grid_origin) / period_s - _EPS)
    return grid_origin + k * period_s


def ready_time(container_started_at: float, probe: Probe | None, phase_s: float = 0.0) -> float:
    """When a container that serves from its start becomes ready.

    Without a readinessProbe, a running container is ready at once. With one,
    the first success is the first tick at or after ``started + initialDelaySeconds``,
    and readiness needs ``successThreshold`` successes in a row, one period apart.

    Args:
        container_started_at: the container start (pod scheduled + ``workloads.<d>.startup``).
        probe: the container's readinessProbe.
        phase_s: where the tick grid lies relative to the start, in ``[0, period)``.
    """
    if probe is None:
        return container_started_at
    _check_phase(phase_s, probe)
    origin = container_started_at + phase_s
    first = next_tick(container_started_at + probe.initial_delay_s, origin, probe.period_s)
    return first + (probe.success_threshold - 1) * probe.period_s


def pod_ready_time(container_started_at: float, probes: Sequence[Probe | None], phases_s: Sequence[float] | None = None) -> float:
    """A pod is Ready when all its containers are: the latest of their ready times."""
    if not probes:
        return container_started_at
    phases = phases_s if phases_s is not None else [0.0] * len(probes)
    return max(ready_time(container_started_at, p, ph) for p, ph in zip(probes, phases, strict=True))


def failure_detected_at(failed_at: float, probe: Probe | None, grid_origin: float) -> float:
    """When a container that stops answering at ``failed_at`` (a hang) turns not-ready.

    The first failing probe is the first tick at or after the failure; the
    ``failureThreshold``-th consecutive one fails when its timeout runs out.
    Without a readinessProbe a hung container is never marked not-ready (returns inf).

    Args:
        failed_at: when the process stopped answering.
        probe: the container's readinessProbe.
        grid_origin: any tick time of this container's probe worker (e.g. the
            container start + its phase, as passed to :func:`ready_time`).
    """
    if probe is None:
        return math.inf
    first_fail = next_tick(failed_at, grid_origin, probe.period_s)
    return first_fail + (probe.failure_threshold - 1) * probe.period_s + probe.timeout_s


def _check_phase(phase_s: float, probe: Probe) -> None:
    if not 0.0 <= phase_s < probe.period_s + _EPS:
        raise ValueError(f"phase_s must lie in [0, periodSeconds={probe.period_s:g}), got {phase_s:g}")

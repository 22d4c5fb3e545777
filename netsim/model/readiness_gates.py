"""Pod readiness gates: conditions besides the containers' readiness that a pod needs True to be Ready.

Kubernetes (``spec.readinessGates``, KEP-580): a pod is Ready only when all its
containers are ready *and* every gate's ``conditionType`` is True in
``status.conditions``; a controller outside the kubelet sets those conditions.
Until then the pod is not a ready endpoint, and the Deployment controller does
not count it available, so a rollout waits for it before it deletes old pods.
The AWS Load Balancer Controller's gate is
``target-health.elbv2.k8s.aws/<TargetGroupBinding>``: it sets it True once the
pod's ``ip`` target in the Service's target group has passed its health checks
``healthy_threshold`` times. With it, a rolling update behind an LB never
deletes an old pod before its replacement serves through the LB.

netsim: the load balancer (:mod:`netsim.model.load_balancer`) of a
``type: LoadBalancer`` Service sets a condition True when it puts the pod's
target in service. Which LB sets which condition: the part of the condition
type after its last ``/`` is read as a Service name; if a LoadBalancer Service
of that name selects the pod, its LB sets it; otherwise every LoadBalancer
Service that selects the pod must report it healthy (as GKE's
``cloud.google.com/load-balancer-neg-ready`` does). That LB must exist in the
run (an external client reaches the Service through it) and have ``ip``
targets: with ``instance`` targets the targets are nodes, and no pod is ever
reported healthy. A gate that nothing can set stays False, and the pod is never
Ready, as Kubernetes would keep it; netsim warns when it reads the config.

Simplified: a condition once True stays True (a target failing its checks later
leaves the LB's target list, not the Service's endpoints); pods already running
at the start have their conditions True (the LB was set up long before the run).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from netsim.k8s.namespaces import selects_deployment
from netsim.k8s.objects import ServiceType

if TYPE_CHECKING:
    from netsim.k8s.objects import Deployment, Service
    from netsim.spec import ClientSpec, LoadBalancerSpec

NEVER = -1
"""Stands for a Service whose LB can never report the pod healthy: the condition stays False."""


def services_with_ip_targets(
    services: Sequence[Service], clients: Sequence[ClientSpec], load_balancer: LoadBalancerSpec | None
) -> set[str]:
    """Names of the LoadBalancer Services whose LB exists in the run and has ``ip`` targets (pods)."""
    if load_balancer is None or load_balancer.target_type != "ip":
        return set()
    lb_services = {s.name for s in services if s.type is ServiceType.LOAD_BALANCER}
    return {c.service for c in clients if c.location == "external" and not c.entry_nodes and c.service in lb_services}


def gate_setters(
    deployment: Deployment, services: Sequence[Service], clients: Sequence[ClientSpec], load_balancer: LoadBalancerSpec | None
) -> dict[str, tuple[str | None, ...]]:
    """Per readiness gate of the pod template, the Services whose LB must report the pod healthy.

    ``None`` in a tuple stands for an LB that never will (and an empty selection of
    Services is ``(None,)``): that condition stays False.
    """
    if not deployment.template.readiness_gates:  # (most pods: no scan of every Service for them)
        return {}
    with_lb = services_with_ip_targets(services, clients, load_balancer)
    selecting = [s for s in services if s.type is ServiceType.LOAD_BALANCER and s.selector
                 and selects_deployment(s, deployment)]
    out: dict[str, tuple[str | None, ...]] = {}
    for condition in deployment.template.readiness_gates:
        name = condition.rsplit("/", 1)[-1]
        chosen = [s for s in selecting if s.metadata_name == name] or selecting
        out[condition] = tuple(s.name if s.name in with_lb else None for s in chosen) or (None,)
    return out


def gate_warnings(
    deployments: Sequence[Deployment], services: Sequence[Service], clients: Sequence[ClientSpec], load_balancer: LoadBalancerSpec | None
) -> list[str]:
    """One warning per readiness gate that can never become True (its pods would never be Ready)."""
    with_lb = services_with_ip_targets(services, clients, load_balancer)
    out = []
    for d in deployments:
        if not d.template.readiness_gates:
            continue
        selecting = [s.name for s in services if s.type is ServiceType.LOAD_BALANCER and s.selector
                     and selects_deployment(s, d)]
        for condition, setters in gate_setters(d, services, clients, load_balancer).items():
            if None not in setters:
                continue
            name = condition.rsplit("/", 1)[-1]
            chosen = [name] if name in selecting else selecting
            if not chosen:
                why = "no type: LoadBalancer Service selects its pods, so no load balancer reports their target health"
            elif load_balancer is None or load_balancer.target_type != "ip":
                why = (f"Service/{chosen[0]}'s load balancer has instance targets (nodes), so it never reports a pod healthy; "
                       "set cluster.load_balancer.target_type: ip")
            else:
                missing = next(n for n in chosen if n not in with_lb)
                why = (f"no external client reaches Service/{missing} through its load balancer, so netsim has no LB "
                       "to report target health")
            out.append(
                f"Deployment/{d.name}: readiness gate '{condition}' can never become True ({why}): its pods are never "
                "Ready, never endpoints, and a rollout stalls, as in Kubernetes"
            )
    return out

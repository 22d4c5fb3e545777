"""What ``netsim validate`` prints: each resolved scenario as a user checks it before running it.

The things users get wrong first are which namespace each object is in (a short name
resolves in the sender's own), where pods land (a ``nodeName`` pin, a
``nodeSelector`` that leaves a node empty — which a traffic policy ``Local`` turns
into dropped requests), what each Service really is after defaults (type, ports and
allocated nodePorts, traffic policies, session affinity), which load balancer sits in
front of a LoadBalancer Service and with which algorithm, and where an ExternalName
points. Placement comes from the same scheduler the simulation uses, read-only.
"""

from __future__ import annotations

from netsim.humanize import number
from netsim.k8s.objects import Service, ServiceType
from netsim.spec import ScenarioSpec


def describe(scenario: ScenarioSpec) -> list[str]:
    """Indented lines describing one scenario."""
    from netsim.model.scheduler import place_pods

    run = scenario.run
    lines = []
    if scenario.parameters:
        lines.append("  set: " + ", ".join(f"{k}={v}" for k, v in scenario.parameters.items()))
    lines.append(f"  run: {run.duration:g}s measured after {run.warmup:g}s warm-up, {run.replications} replication(s), seed {run.seed}")
    lines.append(f"  nodes: {len(scenario.nodes)} in zones {sorted({n.zone for n in scenario.nodes})}; kube-proxy {scenario.cluster.kube_proxy.mode}"
                 + (f" ({scenario.cluster.kube_proxy.ipvs_scheduler})" if scenario.cluster.kube_proxy.mode == "ipvs" else ""))
    namespaces = sorted({o.namespace for o in (*scenario.deployments, *scenario.services)} | {c.namespace for c in scenario.clients})
    if namespaces != ["default"]:
        lines.append(f"  namespaces: {', '.join(namespaces)} (a name two namespaces use is written name.namespace)")
    if scenario.cluster.dataplane == "cilium" or scenario.cluster.mesh.mode != "none":
        mesh = scenario.cluster.mesh
        lines.append(f"  data plane: {scenario.cluster.dataplane}"
                     + (f"; mesh {mesh.mode}{' + waypoint' if mesh.waypoint else ''}, {mesh.policy}" if mesh.mode != "none" else ""))
    at_start = [d for d in scenario.deployments if scenario.exists_at_start("Deployment", d.name)]
    placements, _ = place_pods(at_start, scenario.nodes)
    for d in scenario.deployments:
        w = scenario.workloads[d.name]
        later = "" if scenario.exists_at_start("Deployment", d.name) else f" (deferred, applied at {scenario.created_at[f'Deployment/{d.name}']:g}s)"
        lines.append(f"  Deployment/{d.name}{_namespace(d.namespace)}{later}: {d.replicas} replica(s), service time mean {number(w.service_time.mean * 1000)} ms, "
                     f"concurrency {w.concurrency}, queue_limit {w.queue_limit}")
        pods = [p for p in placements if p.deployment == d.name]
        if pods:
            lines.append("    pods: " + ", ".join(f"{p.name} on {scenario.nodes[p.node].name} ({scenario.nodes[p.node].zone})" for p in pods))
        missing = d.replicas - len(pods) if scenario.exists_at_start("Deployment", d.name) else 0
        if missing > 0:
            lines.append(f"    {missing} pod(s) Pending: no node matches")
    used = {p.node for p in placements}
    empty = [f"{n.name} ({n.zone})" for i, n in enumerate(scenario.nodes) if i not in used]
    if empty and placements:
        lines.append("  nodes without pods: " + ", ".join(empty))
    for s in scenario.services:
        lines += describe_service(s, scenario)
    for c in scenario.clients:
        if c.location == "external" and scenario.service(c.service).type is ServiceType.LOAD_BALANCER and not c.entry_nodes:
            origin = "users outside, through the cloud load balancer"
        elif c.location == "external":
            origin = "users outside, entering at " + ", ".join(scenario.nodes[n].name for n in c.entry_nodes)
        else:
            origin = f"Deployment/{c.from_deployment}" if c.from_deployment else "one pod per node"
            origin += f", namespace {c.namespace}" if c.namespace != "default" else ""
        lines.append(f"  client {c.name}: {c.location} ({origin}) -> {c.service}:{c.port.port}, {c.rate:g} req/s, timeout {c.timeout:g}s")
    return lines


def describe_service(service: Service, scenario: ScenarioSpec) -> list[str]:
    """Type, ports (with nodePorts), policies, affinity; the LB in front of a LoadBalancer; an ExternalName's host."""
    if service.type is ServiceType.EXTERNAL_NAME:
        return [f"  Service/{service.name}{_namespace(service.namespace)}: ExternalName -> {service.external_name} (a DNS CNAME: no endpoints, no kube-proxy)"]
    ports = ", ".join(f"{p.port}->{p.target_port}" + (f" (nodePort {p.node_port})" if p.node_port else "") for p in service.ports)
    policies = [f"internalTrafficPolicy {service.internal_traffic_policy.value}"]
    if service.type.reachable_from_outside:
        policies.insert(0, f"externalTrafficPolicy {service.external_traffic_policy.value}")
    affinity = f"sessionAffinity {service.session_affinity}"
    if service.session_affinity == "ClientIP":
        affinity += f" ({service.affinity_timeout_s:g}s)"
    policies.append(affinity)
    if service.traffic_distribution:
        policies.append(f"trafficDistribution {service.traffic_distribution}")
    if service.topology_mode:
        policies.append(f"topology-mode {service.topology_mode}")
    selector = ",".join(f"{k}={v}" for k, v in service.selector.items()) if service.selector else "none (no endpoints)"
    lines = [f"  Service/{service.name}{_namespace(service.namespace)}: {service.type.value}, selector {selector}, ports {ports}",
             "    " + ", ".join(policies)]
    if service.health_check_node_port is not None:
        lines[-1] += f", healthCheckNodePort {service.health_check_node_port}"
    lb = scenario.load_balancer
    if service.type is ServiceType.LOAD_BALANCER and lb is not None:
        lines.append(f"    load balancer: {lb.provider}, algorithm {lb.algorithm}, {lb.target_type} targets, "
                     f"cross-zone {'on' if lb.cross_zone else 'off'}, client IP {'kept' if lb.preserves_client_ip else 'replaced (proxy)'}")
    return lines


def _namespace(namespace: str) -> str:
    return "" if namespace == "default" else f" (namespace {namespace})"

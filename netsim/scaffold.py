"""``netsim init MANIFESTS... -o FILE``: a commented experiment file for a user's own manifests.

The first hour with a simulator goes into writing its input. ``init`` reads the
manifests the user already has and writes what netsim needs beside them, every
value spelled out with a comment saying what it means, so that the file runs as
written and each number is visibly a choice to revisit:

- ``manifest_files`` pointing at the manifests, relative to the written file (the
  pair can move together, as a repository does);
- a ``workloads`` entry per Deployment with netsim's defaults written out
  (service time, workers, queue, startup, preStop);
- a client per Service, where Kubernetes would let it send from: in-cluster for a
  ClusterIP or ExternalName Service, external (users outside) for NodePort and
  LoadBalancer; its rate about half of what the backing pods can serve with those
  defaults, so the first run is not saturated by construction;
- nodes that the manifests' ``nodeName`` and hostname selectors name, so pinned
  pods are not Pending; a run section with enough replications for ``netsim check``.

Services in a namespace other than ``default`` are targeted as ``name.namespace``,
the DNS name a pod in ``default`` would use (and the name an external client gives).
A name two namespaces share is ``name.namespace`` in ``workloads`` too, as netsim
names it (netsim/k8s/namespaces.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netsim.config.schema import BUILTIN_WORKLOAD, ClusterConfig
from netsim.config.yaml_io import manifest_file_documents
from netsim.errors import ConfigError
from netsim.k8s.manifests import read_objects
from netsim.k8s.namespaces import qualify
from netsim.k8s.objects import Deployment, Service, ServiceType
from netsim.k8s.selectors import matches_equality
from netsim.results import write_atomic
from netsim.units import format_duration, parse_duration

HOSTNAME_LABEL = "kubernetes.io/hostname"
TARGET_UTILISATION = 0.5
"""Client rates are set to this share of the backing pods' capacity under the default workload."""
MIN_NODES = 3


def write_experiment(manifests: Sequence[Path], output: Path) -> tuple[Path, str]:
    """Write the experiment file for ``manifests`` to ``output`` (never over an existing file); returns it and a summary."""
    if output.exists():
        raise ConfigError("--output", f"{output} exists; choose another name with -o, or delete it first")
    docs, sources = [], []
    for i, path in enumerate(manifests):
        found = manifest_file_documents(path, f"manifests.{i}")
        docs.extend(found)
        sources.extend([path.name] * len(found))
    objects = read_objects(docs, sources)
    if not objects.services:
        raise ConfigError("manifests", "no Service in these files: netsim simulates traffic to Services; add the Service manifests")
    deployments, services = qualify(objects.deployments, "Deployment"), qualify(objects.services, "Service")
    text = render(deployments, services, manifests, output, has_hpa=bool(objects.autoscalers))
    write_atomic(output, text.encode())
    summary = f"{len(objects.deployments)} Deployment(s), {len(objects.services)} Service(s), {text.count('  - name: ')} client(s)"
    return output, summary


def render(deployments: Sequence[Deployment], services: Sequence[Service], manifests: Sequence[Path], output: Path,
           has_hpa: bool = False) -> str:
    """The experiment file's text."""
    base = output.resolve().parent
    files = [os.path.relpath(Path(m).resolve(), base) for m in manifests]
    name = output.stem or "experiment"
    lines = [
        f"# netsim experiment for {', '.join(Path(m).name for m in manifests)}, written by `netsim init`.",
        "# Every value is netsim's default or an example, spelled out so that you can see it and change it:",
        "# what your pods take to serve, how much traffic arrives, how your cluster's nodes and zones look.",
        "# Every field, its unit and default: docs/config.md. Check it with `netsim validate` and run it with `netsim run`.",
        f"name: {_q(name)}",
        f"description: {_q('Services of ' + ', '.join(Path(m).name for m in manifests))}",
        "run:",
        "  duration: 60s         # simulated time that is measured, after the warm-up",
        "  warmup: 5s            # simulated time before measuring starts (queues fill, DNS caches warm)",
        "  replications: 5       # independent runs: 2+ give confidence intervals; netsim baseline says whether enough for checks",
        "  seed: 1               # same seed, same results",
        "cluster:",
        *_nodes(deployments),
        "  network: " + _network() + "   # one-way latency of a hop",
        "  kube_proxy: {mode: iptables}   # iptables | nftables | ipvs (with ipvs_scheduler: rr, lc, sh, ...)",
        "  dns: {latency: 300us}",
    ]
    if any(s.type is ServiceType.LOAD_BALANCER for s in services):
        lines.append("  load_balancer: {provider: generic}   # the cloud LB of LoadBalancer Services: aws-nlb, aws-clb, gcp, azure or generic")
    lines += ["manifest_files:                # read as they are; paths relative to this file"]
    lines += [f"  - {_q(f)}" for f in files]
    if deployments:
        lines += ["workloads:                     # how each Deployment's pods serve a request: measure yours"]
        for d in deployments:
            lines += _workload(d)
    if has_hpa:
        lines.append("# HorizontalPodAutoscalers in the manifests scale from the pods' CPU use (resources.requests.cpu).")
    lines += ["clients:                       # who sends traffic to which Service; rates are examples at about half of capacity"]
    for service in services:
        lines += _client(service, deployments, services)
    return "\n".join(lines) + "\n"


def _nodes(deployments: Sequence[Deployment]) -> list[str]:
    """A pool of three nodes in three zones, or named nodes when the manifests pin pods to node names."""
    pinned = list(dict.fromkeys(
        [d.node_name for d in deployments if d.node_name] + [d.node_selector[HOSTNAME_LABEL] for d in deployments if HOSTNAME_LABEL in d.node_selector]
    ))
    zones = ["zone-a", "zone-b", "zone-c"]
    if not pinned:
        return [f"  nodes: {{count: {MIN_NODES}, zones: [{', '.join(zones)}]}}   # or a list of {{name, zone, labels}}"]
    names = list(pinned)
    i = 1
    while len(names) < MIN_NODES:
        if f"node-{i}" not in names:
            names.append(f"node-{i}")
        i += 1
    out = ["  nodes:                       # named: the manifests pin pods to some of these (nodeName, kubernetes.io/hostname)"]
    out += [f"    - {{name: {_q(n)}, zone: {zones[k % len(zones)]}}}" for k, n in enumerate(names)]
    others = sorted({f"{k}: {v}" for d in deployments for k, v in d.node_selector.items() if k != HOSTNAME_LABEL})
    if others:
        out.append(f"    # the manifests select nodes by labels too ({'; '.join(others)}): add them as labels: {{...}} where they apply")
    return out


def _network() -> str:
    network = ClusterConfig().network
    parts = [f"{hop}: {format_duration(getattr(network, hop).mean)}" for hop in ("same_node", "same_zone", "cross_zone", "internet")]
    return "{" + ", ".join(parts) + "}"


def _workload(d: Deployment) -> list[str]:
    w = BUILTIN_WORKLOAD
    service_time = w["service_time"]
    hooks = [h.handler for h in d.template.pre_stop_hooks if h.duration_from_workload]
    prestop = (f"# its preStop {hooks[0]} hook takes this long: measure it (0s: as if it had none)" if hooks
               else "# how long an exec/httpGet preStop hook runs (a sleep hook carries its own)")
    return [
        f"  {_q(d.name)}:",
        f"    service_time: {{distribution: {service_time['distribution']}, mean: {service_time['mean']}}}   # time a worker spends on one request",
        f"    concurrency: {w['concurrency']}        # workers per pod: requests it serves at once",
        f"    queue_limit: {w['queue_limit']}     # requests a pod holds waiting; one more is rejected (503)",
        f"    startup: {w['startup']}           # pod scheduled to container running; then the readinessProbe decides",
        f"    prestop: {w['prestop']}           {prestop}",
    ]


def _backing(service: Service, deployments: Sequence[Deployment]) -> list[Deployment]:
    if not service.selector:
        return []
    return [d for d in deployments if d.namespace == service.namespace and matches_equality(service.selector, d.pod_labels)]


def _client(service: Service, deployments: Sequence[Deployment], services: Sequence[Service]) -> list[str]:
    name = service.metadata_name
    target = name if service.namespace == "default" else f"{name}.{service.namespace}"
    if service.type is ServiceType.EXTERNAL_NAME:
        location, why, rate = "in-cluster", f"an ExternalName: pods reach {service.external_name} through it", 10.0
    else:
        backing = _backing(service, deployments)
        if not backing or not any(d.replicas for d in backing):
            return [f"  # Service {target} selects no pod of these manifests: no client written for it"]
        mean = parse_duration(BUILTIN_WORKLOAD["service_time"]["mean"])
        capacity = 0.0
        for d in backing:  # a Deployment behind several Services shares its capacity among them
            sharing = sum(1 for s in services if s.type is not ServiceType.EXTERNAL_NAME and d in _backing(s, deployments))
            capacity += d.replicas * BUILTIN_WORKLOAD["concurrency"] / mean / max(sharing, 1)
        rate = max(round(TARGET_UTILISATION * capacity), 1)
        if service.type.reachable_from_outside:
            entry = "a node's nodePort" if service.type is ServiceType.NODE_PORT else "the cloud load balancer"
            location, why = "external", f"{service.type.value}: users outside, through {entry}"
        else:
            location, why = "in-cluster", "ClusterIP: reachable from pods only (a client pod on every node)"
    ports = [str(p.port) + (f" ({p.name})" if p.name else "") for p in service.ports]
    port_note = f"   # first port; others: {', '.join(ports[1:])} (target: {target}:PORT)" if len(ports) > 1 else ""
    return [
        f"  - name: {_q(service.name.replace('.', '-') + '-clients')}",   # a dot would split a --set path
        f"    location: {location}        # {why}",
        f"    target: {_q(target)}{port_note}",
        f"    arrival: {{process: poisson, rate: {rate:g}}}   # requests per second, in total",
    ]


def _q(text: Any) -> str:
    """A string as YAML: plain when safe, JSON-quoted otherwise (JSON strings are YAML)."""
    s = str(text)
    plain = bool(s) and all(c.isalnum() or c in "-_./" for c in s) and s[0] != "-" and s.lower() not in ("true", "false", "null", "yes", "no", "on", "off")
    try:
        float(s)
        plain = False
    except ValueError:
        pass
    return s if plain else json.dumps(s)

"""Workloads and their operations, resolved: what each Deployment's pods do with a request, and whom they call.

``workloads.<d>`` layers (its own entry, then ``workloads.default``, then the
built-in default) give each Deployment its service time, workers and waiting
room, and optionally ``operations``: named lists of steps. A ``call`` step's
target is resolved as the calling pod's resolver would (its namespace, the
search list), exactly like a client's target; its ``operation`` must be one
that every Deployment behind the callee Service offers (default: their first).
Calls must not form a cycle. ``calls`` says how the pods call each Service
(connections, timeout, retries, discovery), with per-Service overrides.
Clients may weigh the target's operations, and closed-loop users may weigh
sequences of them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import netsim.spec as _spec
from netsim.config.schema import (
    BUILTIN_WORKLOAD,
    CallsConfig,
    CallStepConfig,
    ClientConfig,
    DnsConfig,
    ExperimentConfig,
    LookupStepConfig,
    ParallelStepConfig,
    TaskConfig,
    WorkloadConfig,
    WorkStepConfig,
)
from netsim.errors import ConfigError, did_you_mean
from netsim.k8s.dns_names import lookup_sequence, resolve_name, service_fqdn
from netsim.k8s.namespaces import ambiguity, selects_deployment
from netsim.k8s.objects import Deployment, Service, ServiceType
from netsim.k8s.selectors import LabelIndex

if TYPE_CHECKING:
    from netsim.spec import CallPolicy, WorkloadSpec

_LAYERED = ("service_time", "concurrency", "queue_limit", "startup", "prestop", "operations", "hold_worker", "calls", "mesh")


def build_workloads(
    config: ExperimentConfig, deployments: tuple[Deployment, ...], services: tuple[Service, ...]
) -> dict[str, WorkloadSpec]:
    """Each Deployment's workload: its own entry, then ``workloads.default``, then the built-in default."""
    names = [d.name for d in deployments]
    for key in config.workloads:
        if key != "default" and key not in names:
            hint = ambiguity("Deployment", key, deployments).replace("write Deployment/", "key it ")
            raise ConfigError(
                f"workloads.{key}", f"no Deployment named '{key}'{hint or did_you_mean(key, names)}; workloads are keyed by Deployment name"
            )
    builtin = WorkloadConfig.model_validate(BUILTIN_WORKLOAD)
    default = config.workloads.get("default", WorkloadConfig())
    layered = {}
    for name in names:
        layers = (config.workloads.get(name, WorkloadConfig()), default, builtin)
        layered[name] = {f: next((getattr(layer, f) for layer in layers if getattr(layer, f) is not None), None) for f in _LAYERED}
    offered = {name: list(values["operations"] or {"default": None}) for name, values in layered.items()}
    out = {}
    for d in deployments:
        values = layered[d.name]
        path = f"workloads.{d.name}" if d.name in config.workloads else "workloads.default"
        calls: CallsConfig = values["calls"] or CallsConfig()
        compiler = _Compiler(path, d, services, deployments, offered, config.cluster.dns)
        operations = tuple(
            _spec.OperationSpec(op, compiler.steps(f"{path}.operations.{op}", steps))
            for op, steps in (values["operations"] or {}).items()
        ) or (_spec.OperationSpec("default", (_spec.WorkStep(),)),)
        out[d.name] = _spec.WorkloadSpec(
            service_time=values["service_time"], concurrency=values["concurrency"], queue_limit=values["queue_limit"],
            startup=values["startup"], prestop=values["prestop"], operations=operations,
            hold_worker=True if values["hold_worker"] is None else values["hold_worker"],
            calls=_call_policies(path, calls, compiler.called),
            mesh=values["mesh"] is not False,
        )
    _check_no_cycles(out, services, deployments)
    return out


class _Compiler:
    """Steps of one Deployment's operations, with every call target resolved from its pods' namespace."""

    def __init__(self, path: str, deployment: Deployment, services: tuple[Service, ...], deployments: tuple[Deployment, ...],
                 offered: dict[str, list[str]], dns: DnsConfig) -> None:
        self.path = path
        self.deployment = deployment
        self.services = services
        self.deployments = deployments
        self.offered = offered
        self.dns = dns
        self.called: dict[str, tuple[int, int]] = {}
        """Per Service called: DNS queries of one lookup from these pods, and when NXDOMAIN."""

    def steps(self, path: str, steps: list[Any]) -> tuple[Any, ...]:
        return tuple(self.step(f"{path}.{i}", step) for i, step in enumerate(steps))

    def step(self, path: str, step: Any) -> Any:
        if isinstance(step, WorkStepConfig):
            return _spec.WorkStep(None if step.work == "service_time" else step.work)
        if isinstance(step, CallStepConfig):
            return self.call(path, step)
        if isinstance(step, ParallelStepConfig):
            return _spec.ParallelStep(tuple(
                self.steps(f"{path}.parallel.{i}", branch if isinstance(branch, list) else [branch])
                for i, branch in enumerate(step.parallel)
            ))
        assert isinstance(step, LookupStepConfig)
        return self.lookup(step.lookup)

    def call(self, path: str, step: CallStepConfig) -> Any:
        from netsim.config.resolve import resolve_target

        service, port, queries, nx_queries = resolve_target(f"{path}.call", step.call, self.deployment.namespace, self.services,
                                                            self.dns, f"Deployment/{self.deployment.name}")
        self.called[service.name] = (queries, nx_queries)
        if service.type is ServiceType.EXTERNAL_NAME:
            if step.operation is not None:
                raise ConfigError(f"{path}.operation", f"Service '{service.name}' is ExternalName: a host outside has no operations; remove operation")
            operation = "default"
        else:
            operation = callee_operation(f"{path}.operation", service, step.operation, self.deployments, self.offered)
        return _spec.CallStep(
            service=service.name, port=port, operation=operation, count=step.count, probability=step.probability,
            timeout=step.timeout, optional=step.optional, request_bytes=step.request_bytes, response_bytes=step.response_bytes,
        )

    def lookup(self, name: str) -> Any:
        """A lookup from these pods: its sequential tries, its queries, and whether CoreDNS forwards it upstream."""
        records = {service_fqdn(s.metadata_name, s.namespace): s for s in self.services}
        ndots, extra = self.dns.ndots, tuple(self.dns.search)
        found, tries = resolve_name(name, self.deployment.namespace, records, ndots, extra)
        if found is None:
            tries = len(lookup_sequence(name, self.deployment.namespace, ndots, extra))  # the last try is answered upstream
        upstream = found is None or found.type is ServiceType.EXTERNAL_NAME  # type: ignore[attr-defined]
        queries = 2 * tries if self.dns.aaaa else tries
        return _spec.LookupStep(name=name, tries=tries, queries=queries, upstream=upstream)


def serving_deployments(service: Service, deployments: tuple[Deployment, ...]) -> list[Deployment]:
    """The Deployments whose pods the Service selects (its endpoints come from them).

    Found through a label index of the Deployments' pod labels (kept for the last
    ``deployments`` tuple seen), not by matching every Deployment: a scenario with
    thousands of Services and Deployments resolves in linear time.
    """
    if service.type is ServiceType.EXTERNAL_NAME or not service.selector:
        return []
    index = _LABEL_INDEX[1] if _LABEL_INDEX[0] is deployments else None
    if index is None:
        index = LabelIndex()
        for i, d in enumerate(deployments):
            index.add(i, d.pod_labels)
        _LABEL_INDEX[:] = [deployments, index]
    return [deployments[i] for i in index.having(service.selector) if selects_deployment(service, deployments[i])]


_LABEL_INDEX: list = [None, None]
"""A memo, not state: (the Deployments tuple last indexed, its LabelIndex); the tuple is held, so its id stays its own."""


def callee_operation(path: str, service: Service, wanted: str | None, deployments: tuple[Deployment, ...],
                     offered: dict[str, list[str]]) -> str:
    """The operation a call or a client asks of ``service``: ``wanted``, which every serving Deployment must offer,
    or their common first one."""
    serving = serving_deployments(service, deployments)
    if not serving:
        return wanted or "default"  # no endpoints: the requests are refused (a warning says so)
    if wanted is None:
        firsts = {offered[d.name][0] for d in serving}
        if len(firsts) > 1:
            raise ConfigError(path, f"the Deployments behind Service '{service.name}' start with different operations "
                                    f"({', '.join(sorted(firsts))}); name the operation")
        return firsts.pop()
    for d in serving:
        if wanted not in offered[d.name]:
            raise ConfigError(path, f"Deployment/{d.name} (behind Service '{service.name}') has no operation '{wanted}'"
                                    f"{did_you_mean(wanted, offered[d.name])}; its operations: {', '.join(offered[d.name])}")
    return wanted


def _call_policies(path: str, calls: CallsConfig, called: dict[str, tuple[int, int]]) -> dict[str, CallPolicy]:
    for name in calls.services:
        if name not in called:
            raise ConfigError(f"{path}.calls.services.{name}", f"this Deployment does not call a Service named '{name}'"
                                                               f"{did_you_mean(name, called)}; it calls: {', '.join(called) or 'nothing'}")
    policies = {}
    for name, (queries, nx_queries) in called.items():
        override = calls.services.get(name)

        def pick(field: str, override: Any = override) -> Any:
            value = getattr(override, field, None) if override is not None else None
            return getattr(calls, field) if value is None else value

        discovery = pick("discovery")
        policies[name] = _spec.CallPolicy(
            connections=pick("connections"), timeout=pick("timeout"), retries=pick("retries"), discovery=discovery,
            connect_timeout=pick("connect_timeout"),
            dns_queries=0 if discovery == "env" else queries, dns_nx_queries=nx_queries,
        )
    return policies


def _check_no_cycles(workloads: dict[str, WorkloadSpec], services: tuple[Service, ...], deployments: tuple[Deployment, ...]) -> None:
    """Calls must not come back to an operation already waiting on them (that request could never end)."""
    by_name = {s.name: s for s in services}
    graph: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for name, workload in workloads.items():
        for op in workload.operations:
            graph[(name, op.name)] = [
                (d.name, call.operation) for call in _calls(op.steps) for d in serving_deployments(by_name[call.service], deployments)
            ]
    state: dict[tuple[str, str], int] = {}

    def visit(node: tuple[str, str], trail: list[tuple[str, str]]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt):], nxt] if nxt in trail else [node, nxt]
                raise ConfigError(
                    f"workloads.{node[0]}.operations.{node[1]}",
                    "calls form a cycle (" + " -> ".join(f"{d}.{o}" for d, o in cycle) + "); a request would wait on itself: break the cycle",
                )
            if state.get(nxt) is None:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in graph:
        if state.get(node) is None:
            visit(node, [node])


def _calls(steps: tuple[Any, ...]) -> list[Any]:
    out = []
    for step in steps:
        if isinstance(step, _spec.CallStep):
            out.append(step)
        elif isinstance(step, _spec.ParallelStep):
            for branch in step.branches:
                out.extend(_calls(branch))
    return out


class _OperationNames(dict):  # type: ignore[type-arg]
    """Deployment -> the names of its operations, read from ``workloads`` when first asked: a client asks only
    about the Deployments behind its Service, not about every workload (10,000 clients x 10,000 Deployments)."""

    def __init__(self, workloads: dict[str, WorkloadSpec]) -> None:
        super().__init__()
        self._workloads = workloads

    def __missing__(self, name: str) -> list[str]:
        names = self[name] = [op.name for op in self._workloads[name].operations]
        return names


def client_operations(
    client: ClientConfig, service: Service, deployments: tuple[Deployment, ...], workloads: dict[str, WorkloadSpec]
) -> tuple[tuple[str, ...], tuple[float, ...], Any]:
    """A client's operations: the names it sends, their weights (open loop), and its closed-loop users (or None)."""
    path = f"clients.{client.name}"
    offered = _OperationNames(workloads)
    first = callee_operation(f"{path}.target", service, None, deployments, offered)
    serving = serving_deployments(service, deployments)

    def check(name: str, where: str) -> str:
        return callee_operation(where, service, name, deployments, offered) if serving else _only_default(name, where)

    weights = client.operations or {}
    arrival = client.arrival
    if arrival.process == "poisson":
        for label, weight in weights.items():
            if isinstance(weight, TaskConfig):
                raise ConfigError(f"{path}.operations.{label}", "a sequence of operations is for closed-loop users (arrival.process: closed); "
                                                                "Poisson arrivals send one operation each: give a weight")
            check(label, f"{path}.operations.{label}")
        if not weights:
            return (first,), (), None
        if not sum(weights.values()) > 0:  # type: ignore[arg-type]
            raise ConfigError(f"{path}.operations", "the weights are all 0: give at least one a positive weight")
        names = tuple(weights)
        return names, tuple(float(weights[n]) for n in names), None  # type: ignore[arg-type]
    tasks, task_weights = [], []
    for label, weight in (weights or {first: 1.0}).items():
        if isinstance(weight, TaskConfig):
            sequence = tuple(check(op, f"{path}.operations.{label}.sequence.{i}") for i, op in enumerate(weight.sequence))
            tasks.append(sequence)
            task_weights.append(weight.weight)
        else:
            tasks.append((check(label, f"{path}.operations.{label}"),))
            task_weights.append(float(weight))
    if not sum(task_weights) > 0:
        raise ConfigError(f"{path}.operations", "the weights are all 0: give at least one a positive weight")
    on_start = arrival.on_start
    start = tuple(check(op, f"{path}.arrival.on_start") for op in ([on_start] if isinstance(on_start, str) else (on_start or [])))
    names = tuple(dict.fromkeys([*start, *(op for task in tasks for op in task)])) or (first,)
    closed = _spec.ClosedLoopSpec(users=arrival.users, think_time=arrival.think_time, tasks=tuple(tasks),  # type: ignore[arg-type]
                                  weights=tuple(task_weights), on_start=start)
    return names, (), closed


def _only_default(name: str, path: str) -> str:
    if name != "default":
        raise ConfigError(path, f"this target has no operations but 'default' (no Deployment with operations serves it); got '{name}'")
    return name


def entry_rate(client: Any) -> float:
    """A client's nominal request rate: its Poisson rate, or for closed-loop users an upper bound,
    users × operations per task / mean think time (each user thinks once per task at least)."""
    closed = client.closed
    if closed is None:
        return float(client.rate)
    weights = [w / sum(closed.weights) for w in closed.weights]
    per_task = sum(w * len(task) for w, task in zip(weights, closed.tasks, strict=True))
    think = closed.think_time.mean
    return closed.users * per_task / think if think > 0 else math.inf


def client_operation_mix(client: Any) -> dict[str, float]:
    """The share of each operation among a client's requests."""
    if client.closed is not None:
        closed = client.closed
        total = sum(w * len(t) for w, t in zip(closed.weights, closed.tasks, strict=True))
        mix: dict[str, float] = {}
        for w, task in zip(closed.weights, closed.tasks, strict=True):
            for op in task:
                mix[op] = mix.get(op, 0.0) + w / total
        return mix
    if not client.operation_weights:
        return {client.operations[0]: 1.0}
    total = sum(client.operation_weights)
    return {op: w / total for op, w in zip(client.operations, client.operation_weights, strict=True)}


def operation_rates(scenario: Any, rates: dict[str, float] | None = None) -> dict[tuple[str, str], float]:
    """Requests per second each (Deployment, operation) serves: clients' rates (``rates``, by client name;
    default their nominal ones) spread over the Services' Deployments by replicas and carried down every
    call (count × probability). Calls form no cycle, so the recursion ends."""
    by_name = {s.name: s for s in scenario.services}
    out: dict[tuple[str, str], float] = {}

    def flow(service: str, operation: str, rate: float, depth: int = 0) -> None:
        serving = [d for d in serving_deployments(by_name[service], scenario.deployments) if d.replicas > 0]
        total = sum(d.replicas for d in serving)
        for d in serving:
            share = rate * d.replicas / total
            out[(d.name, operation)] = out.get((d.name, operation), 0.0) + share
            op = next((o for o in scenario.workloads[d.name].operations if o.name == operation), None)
            if op is None or depth > 50:
                continue
            for call in _calls(op.steps):
                n = call.count if isinstance(call.count, int) else call.count.mean_count
                flow(call.service, call.operation, share * n * call.probability, depth + 1)

    for client in scenario.clients:
        rate = entry_rate(client) if rates is None else rates.get(client.name, 0.0)
        for op, share in client_operation_mix(client).items():
            flow(client.service, op, rate * share)
    return out

"""A generated corpus of bad inputs, and a way to run and classify each (issue 11).

Every case is an experiment folder that ``netsim run`` must refuse with exit code 2
and exactly one line ``netsim: error: <dotted.path>: <what>; <fix>`` on stderr, before
anything is simulated. The cases are mutations of the bundled experiments in
``experiments/`` and of the manifest files they read:

- ``type``: every leaf (deduplicated by its place in the schema) swapped to types it
  cannot have: a string where a number belongs, a bool where a count belongs, lists,
  mappings, numbers where names belong;
- ``non-finite`` / ``extreme``: ``.inf``, ``-.inf``, ``.nan`` in every number; -1 in
  netsim's numbers and the Kubernetes fields netsim models; work too large for one
  machine (``replications: 1e9``, ``rate: 1e12``, ``nodes.count: 1e6``, ...);
- ``unit``: durations with units that do not exist or overflow;
- ``unknown-key`` / ``missing-key``: a misspelt key in every mapping, every required key removed;
- hand-written classes: broken manifests, special files (FIFOs, ``/dev/zero``, folders,
  huge sparse files), YAML bombs, ``!!python`` tags, duplicate keys, bad encodings,
  nonsense that would run (``sigma: 100``, ``nan`` samples, runs without requests),
  unsafe names, ``--set`` mistakes.

Which key a mutation touched is known, so a refusal whose one line does not mention
it is counted as *misleading* (e.g. an error path that prints the bad value instead
of the position). ``python tests/bad_corpus.py`` runs the whole corpus as
subprocesses under an address-space cap and a timeout and prints the count per
outcome (how the "before" and "after" numbers of issue 11 were measured).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((REPO / "experiments").glob("*.yaml"))
SHORT_RUN = {"duration": "2s", "warmup": "0.5s", "replications": 1}
"""Every base is shortened, so a mutation that is (wrongly) accepted finishes quickly."""

OUTCOMES = ("refused", "misleading", "multiline", "traceback", "accepted", "hang", "memory", "crash")


@dataclass(frozen=True)
class Case:
    """One bad input: the files of its folder and the arguments after ``netsim run``."""

    id: str
    kind: str
    files: tuple[tuple[str, Any], ...]
    argv: tuple[str, ...] = ("experiment.yaml",)
    words: tuple[str, ...] = ()
    """The error line must contain each (case-insensitively), else the refusal is misleading."""


@dataclass
class Outcome:
    case: Case
    outcome: str
    code: int | None
    stderr: str
    seconds: float
    ran: bool = False
    """A results folder or a run record appeared (something was simulated or written)."""
    notes: list[str] = field(default_factory=list)


# --- the bases --------------------------------------------------------------------------------------


@dataclass
class Base:
    name: str
    raw: dict[str, Any]
    manifest_docs: list[list[Any]]
    """The documents of each manifest file, in ``manifest_files`` order (written as m0.yaml, m1.yaml, ...)."""


def load_bases() -> list[Base]:
    """The bundled experiments, shortened, with their manifest files copied beside them."""
    bases = []
    for path in EXPERIMENTS:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        docs: list[list[Any]] = []
        missing = False
        for name in raw.get("manifest_files") or []:
            target = (path.parent / name).resolve()
            if not target.is_file():
                missing = True
                break
            docs.append([d for d in yaml.safe_load_all(target.read_text(encoding="utf-8")) if d is not None])
        if missing:
            continue
        raw["manifest_files"] = [f"m{i}.yaml" for i in range(len(docs))] if docs else raw.get("manifest_files", [])
        if not docs:
            raw.pop("manifest_files", None)
        raw["run"] = {**(raw.get("run") or {}), **SHORT_RUN}
        bases.append(Base(path.stem, raw, docs))
    return bases


def dump(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


def dump_all(docs: list[Any]) -> bytes:
    return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True).encode()


def files_of(base: Base, raw: dict[str, Any] | None = None, docs: list[list[Any]] | None = None) -> tuple[tuple[str, Any], ...]:
    out = [("experiment.yaml", dump(base.raw if raw is None else raw))]
    for i, file_docs in enumerate(base.manifest_docs if docs is None else docs):
        out.append((f"m{i}.yaml", dump_all(file_docs)))
    return tuple(out)


# --- walking the data --------------------------------------------------------------------------------

MODELED_KINDS = ("Deployment", "Service", "HorizontalPodAutoscaler")
FREE_FORM = {"labels", "annotations", "matchLabels", "nodeSelector", "limits", "requests", "overhead", "data", "stringData",
             "vary", "set", "external_hosts", "fieldsV1"}
"""Mappings whose keys are the user's (label names, resource names, dotted paths): no unknown-key mutation there."""
NETSIM_KEYED = {"workloads"}
"""netsim mappings keyed by a name: a made-up key is an error, but the schema path wildcards the key."""
INT_OR_STRING = {"targetPort", "maxSurge", "maxUnavailable"}
QUANTITY_PARENTS = {"limits", "requests", "overhead"}
QUANTITY_KEYS = {"sizeLimit", "averageValue", "divisor"}
SKIP_SUBTREES = {"vary", "set", "description"}
"""Values of ``vary``/``scenarios[].set`` are checked where they land; description is free text."""


@dataclass(frozen=True)
class Leaf:
    where: str  # "experiment" or "m<i>"
    path: tuple[Any, ...]
    value: Any
    schema: tuple[str, ...]
    k8s: bool


def _doc_kind(node: Any) -> str | None:
    return node.get("kind") if isinstance(node, dict) and isinstance(node.get("kind"), str) else None


def walk(node: Any, path: tuple[Any, ...], schema: tuple[str, ...], k8s: bool, where: str) -> Iterator[tuple[str, Any]]:
    """Yield ``("leaf", Leaf)`` and ``("map", (path, schema, k8s, node))`` for every leaf and mapping."""
    if isinstance(node, dict):
        yield "map", (where, path, schema, k8s, node)
        keyed = bool(schema) and (schema[-1] in NETSIM_KEYED or schema[-1] in FREE_FORM)
        for key, value in node.items():
            if not isinstance(key, str) or key in SKIP_SUBTREES:
                continue
            seg = "*" if keyed else key
            yield from walk(value, (*path, key), (*schema, seg), k8s, where)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            kind = _doc_kind(item)
            if (path and path[-1] in ("manifests", "deferred")) or (where.startswith("m") and not path):
                if kind not in MODELED_KINDS:
                    continue  # kinds netsim skips are not validated
                yield from walk(item, (*path, i), (kind,), True, where)
            else:
                yield from walk(item, (*path, i), (*schema, "*"), k8s, where)
    else:
        yield "leaf", Leaf(where, path, node, schema, k8s)


def get_in(node: Any, path: tuple[Any, ...]) -> Any:
    for seg in path:
        node = node[seg]
    return node


def set_in(node: Any, path: tuple[Any, ...], value: Any) -> None:
    get_in(node, path[:-1])[path[-1]] = value


def delete_in(node: Any, path: tuple[Any, ...]) -> None:
    del get_in(node, path[:-1])[path[-1]]


def _key_of(path: tuple[Any, ...]) -> str:
    """The last mapping key of ``path`` (for a list item: the list's key)."""
    return next((str(seg) for seg in reversed(path) if isinstance(seg, str)), "")


_DURATION = re.compile(r"^\s*[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?\s*(ns|us|µs|ms|s|m|min|h)?\s*$")
NETSIM_NUMBERS_AS_TEXT_OK = {"timeout", "duration", "warmup", "at", "for", "mean", "value", "low", "high", "p99", "cache_ttl",
                             "sync_period", "min_sync_period", "interval", "deregistration_lag", "max_lifetime",
                             "same_node", "same_zone", "cross_zone", "internet", "latency", "service_time", "startup",
                             "prestop", "backoff", "every", "iptables", "iptables_per_service", "ipvs", "nftables", "base",
                             "iptables_per_rule", "per_change", "endpointslice_batch_period", "endpointslice_processing",
                             "watch_delay", "node_monitor_grace_period", "eviction_timeout", "upstream_latency"}
"""netsim fields that are durations: a number written as text (``"60"``) is a duration in seconds there."""


def _numeric_text_ok(leaf: Leaf) -> bool:
    key = _key_of(leaf.path)
    if leaf.k8s:
        parent = next((str(s) for s in reversed(leaf.path[:-1]) if isinstance(s, str)), "")
        return key in INT_OR_STRING or key in QUANTITY_KEYS or parent in QUANTITY_PARENTS or key in QUANTITY_PARENTS or (
            key == "port" and parent in ("httpGet", "tcpSocket"))
    return key in NETSIM_NUMBERS_AS_TEXT_OK


def _name_text_ok(leaf: Leaf) -> bool:
    """Where any string is legal for a number (a named port)."""
    key = _key_of(leaf.path)
    parent = next((str(s) for s in reversed(leaf.path[:-1]) if isinstance(s, str)), "")
    return leaf.k8s and (key == "targetPort" or (key == "port" and parent in ("httpGet", "tcpSocket")))


MODELED_K8S_NUMBERS = {"replicas", "port", "targetPort", "containerPort", "nodePort", "healthCheckNodePort", "initialDelaySeconds",
                       "periodSeconds", "timeoutSeconds", "successThreshold", "failureThreshold", "terminationGracePeriodSeconds",
                       "minReadySeconds", "seconds", "minReplicas", "maxReplicas", "averageUtilization", "stabilizationWindowSeconds",
                       "value", "cpu", "maxSurge", "maxUnavailable", "targetCPUUtilizationPercentage"}


def replacements(leaf: Leaf) -> list[tuple[str, Any]]:
    """``(label, value)`` pairs that the leaf cannot take."""
    value = leaf.value
    out: list[tuple[str, Any]] = []
    if isinstance(value, bool):
        out += [("text", "maybe"), ("number", 2), ("list", [1, 2]), ("mapping", {"k": 1})]
    elif isinstance(value, int | float):
        out += [("bool", True), ("list", [1, 2]), ("mapping", {"k": 1})]
        if not _numeric_text_ok(leaf):
            out.append(("numeric-text", "12"))
        if not _name_text_ok(leaf):
            out.append(("text", "abc"))
        out += [("inf", float("inf")), ("-inf", float("-inf")), ("nan", float("nan"))]
        unread = {"livenessProbe", "startupProbe", "httpGet", "tcpSocket", "grpc"} & {str(p) for p in leaf.path}
        if not leaf.k8s or (_key_of(leaf.path) in MODELED_K8S_NUMBERS and not unread):
            out.append(("negative", -1))
    elif isinstance(value, str):
        out += [("bool", True), ("list", [1, 2]), ("mapping", {"k": 1})]
        duration_like = not leaf.k8s and bool(_DURATION.match(value))
        if not duration_like and not _numeric_text_ok(leaf) and not (leaf.k8s and _key_of(leaf.path) in ("cpu", "memory")):
            out.append(("number", 12345))
        if duration_like and _key_of(leaf.path) not in ("name", "zone"):
            out += [("unit", "10 parsecs"), ("unit-overflow", "1e400s"), ("unit-typo", "10mss")]
    return out


REQUIRED = {
    (): ("clients",),
    ("clients", "*"): ("name", "target", "arrival"),
    ("clients", "*", "arrival"): ("rate",),
    ("cluster", "nodes"): ("count",),
    ("scenarios", "*"): ("name",),
}
REQUIRED_K8S = {
    (): ("apiVersion", "kind", "metadata"),
    ("metadata",): ("name",),
    ("spec",): {"Deployment": ("selector", "template"), "Service": ("ports",), "HorizontalPodAutoscaler": ("scaleTargetRef", "maxReplicas")},
    ("spec", "template", "spec"): ("containers",),
    ("spec", "template", "spec", "containers", "*"): ("name",),
    ("spec", "ports", "*"): ("port",),
    ("spec", "template", "spec", "containers", "*", "ports", "*"): ("containerPort",),
    ("spec", "scaleTargetRef"): ("kind", "name"),
}


def _required_keys(schema: tuple[str, ...], k8s: bool, node: dict[str, Any]) -> tuple[str, ...]:
    if not k8s:
        found = REQUIRED.get(schema, ())
        if len(schema) >= 1 and schema[-1] == "*" and schema[:1] == ("churn",):
            return ()
        return found if isinstance(found, tuple) else ()
    # strip the experiment's prefix up to the kind
    kinds = [i for i, s in enumerate(schema) if s in MODELED_KINDS]
    if not kinds:
        return ()
    kind = schema[kinds[-1]]
    rest = schema[kinds[-1] + 1:]
    found = REQUIRED_K8S.get(rest, ())
    if isinstance(found, dict):
        found = found.get(kind, ())
    return found


def _typo(node: dict[str, Any]) -> str:
    avoid = {"distribution", "kind", "apiVersion", "name", "rollout", "scale", "kill", "fail", "drain", "apply", "delete"}
    keys = [k for k in node if isinstance(k, str) and len(k) >= 3 and k not in avoid]
    for key in reversed(keys):
        typo = key[:-2] + key[-1] + key[-2]
        if typo != key and typo not in node:
            return typo
    return "bogus_key"


# --- generated mutations --------------------------------------------------------------------------


def _targets(base: Base) -> Iterator[tuple[str, Any]]:
    yield from walk(base.raw, (), (), False, "experiment")
    for i, docs in enumerate(base.manifest_docs):
        yield from walk(docs, (), (), False, f"m{i}")


def _mutated(base: Base, where: str, action: Any) -> tuple[tuple[str, Any], ...]:
    raw = copy.deepcopy(base.raw)
    docs = copy.deepcopy(base.manifest_docs)
    root = raw if where == "experiment" else docs[int(where[1:])]
    action(root)
    return files_of(base, raw, docs)


def _path_id(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


READ_K8S = {"apiVersion", "kind", "metadata", "name", "namespace", "labels", "replicas", "selector", "matchLabels", "template",
            "containers", "ports", "port", "targetPort", "containerPort", "nodePort", "protocol", "type", "readinessProbe",
            "lifecycle", "preStop", "resources", "requests", "cpu", "strategy", "rollingUpdate", "maxSurge", "maxUnavailable",
            "minReadySeconds", "terminationGracePeriodSeconds", "nodeName", "nodeSelector", "readinessGates",
            "externalTrafficPolicy", "internalTrafficPolicy", "sessionAffinity", "externalName", "scaleTargetRef",
            "minReplicas", "maxReplicas", "metrics", "behavior", "spec", "trafficDistribution", "healthCheckNodePort"}


def _read_by_netsim(leaf: Leaf) -> bool:
    """netsim's own fields, and the Kubernetes fields netsim models (every step of the path is one it reads)."""
    return not leaf.k8s or all(str(s) in READ_K8S or s == "*" for s in leaf.schema[1:])


def _overridden(base: Base) -> set[str]:
    """Last keys of the paths that ``scenarios[].set`` and ``vary`` set."""
    paths = [p for s in base.raw.get("scenarios") or [] for p in (s.get("set") or {})] + list(base.raw.get("vary") or {})
    return {p.rsplit(".", 1)[-1] for p in paths}


def generated_cases(bases: list[Base]) -> list[Case]:
    cases: list[Case] = []
    seen: set[tuple[Any, ...]] = set()
    for base in bases:
        for what, item in _targets(base):
            if what == "leaf":
                leaf: Leaf = item
                if leaf.value is None:
                    continue
                key = _key_of(leaf.path)
                for label, value in replacements(leaf):
                    if label == "negative" and key in _overridden(base):
                        continue  # every scenario sets it: a wrong value in the base never runs
                    kind = {"inf": "non-finite", "-inf": "non-finite", "nan": "non-finite", "negative": "extreme",
                            "unit": "unit", "unit-overflow": "unit", "unit-typo": "unit"}.get(label, "type")
                    # Kubernetes fields netsim does not read are checked by one generic schema walk: one case per
                    # field name and value type is enough there; netsim's own fields each get every case.
                    dedupe = (leaf.k8s, leaf.schema if _read_by_netsim(leaf) else (key, type(leaf.value).__name__), label)
                    if dedupe in seen:
                        continue
                    seen.add(dedupe)
                    files = _mutated(base, leaf.where, lambda root, p=leaf.path, v=value: set_in(root, p, v))
                    cases.append(Case(f"{kind}:{base.name}:{leaf.where}:{_path_id(leaf.path)}={label}", kind, files, words=(key,)))
            else:
                where, path, schema, k8s, node = item
                if schema and (schema[-1] in FREE_FORM or schema[-1] in NETSIM_KEYED):
                    continue
                dedupe = (k8s, schema, "unknown-key")
                if dedupe not in seen and node:
                    seen.add(dedupe)
                    typo = _typo(node)
                    files = _mutated(base, where, lambda root, p=path, t=typo: get_in(root, p).__setitem__(t, 1))
                    cases.append(Case(f"unknown-key:{base.name}:{where}:{_path_id(path)}.{typo}", "unknown-key", files, words=(typo,)))
                for required in _required_keys(schema, k8s, node):
                    dedupe = (k8s, schema, "missing", required)
                    if required not in node or dedupe in seen:
                        continue
                    seen.add(dedupe)
                    files = _mutated(base, where, lambda root, p=(*path, required): delete_in(root, p))
                    cases.append(Case(f"missing-key:{base.name}:{where}:{_path_id((*path, required))}", "missing-key", files,
                                      words=(required,)))
    return cases


# --- hand-written cases ----------------------------------------------------------------------------

QUICK: dict[str, Any] = {
    "name": "corpus",
    "run": {"duration": "2s", "warmup": "0.5s", "replications": 1, "seed": 1},
    "cluster": {"nodes": {"count": 2, "zones": ["zone-a", "zone-b"]}},
    "manifests": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 8080}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
    ],
    "workloads": {"web": {"service_time": "5ms", "concurrency": 2}},
    "clients": [{"name": "users", "target": "web", "arrival": {"rate": 50}}],
}


def quick(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(QUICK)
    for path, value in changes.items():
        node = raw
        parts = path.split("__")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return raw


def _exp(raw: dict[str, Any] | str | bytes, *extra: tuple[str, Any]) -> tuple[tuple[str, Any], ...]:
    data = raw if isinstance(raw, bytes) else raw.encode() if isinstance(raw, str) else dump(raw)
    return (("experiment.yaml", data), *extra)


def _deployment(**spec_changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(QUICK["manifests"][0])
    doc["spec"].update(spec_changes)
    return doc


def _service(**spec_changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(QUICK["manifests"][1])
    doc["spec"].update(spec_changes)
    return doc


def _with_manifests(*docs: dict[str, Any]) -> dict[str, Any]:
    return quick(manifests=list(docs))


def _container(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(QUICK["manifests"][0])
    doc["spec"]["template"]["spec"]["containers"][0].update(changes)
    return doc


BOMB_LIST = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)
"""Nine levels of ten-fold aliases: 10^9 leaves once expanded."""


def _bomb_in(key_path: str) -> str:
    """An experiment file with a billion-laughs bomb placed under ``key_path`` (YAML text)."""
    lines = BOMB_LIST.replace("\n", "\n    ").rstrip()
    base = yaml.safe_dump(QUICK, sort_keys=False)
    if key_path == "top":
        return "x_bomb:\n    " + lines + "\n" + base
    if key_path == "annotations":
        return base.replace("metadata:\n    name: web\n", "metadata:\n    name: web\n    annotations:\n      " +
                            BOMB_LIST.replace("\n", "\n      ").rstrip() + "\n", 1)
    if key_path == "description":
        return "description: &d [" + ", ".join(["*x"] * 2) + "]\n" + base
    raise ValueError(key_path)


def _manifest_bomb() -> bytes:
    lines = BOMB_LIST.replace("\n", "\n    ").rstrip()
    return ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  z: ok\nbomb:\n    " + lines + "\n---\n").encode() + dump_all(
        QUICK["manifests"])


def handmade_cases() -> list[Case]:
    cases: list[Case] = []

    def add(id_: str, kind: str, files: tuple[tuple[str, Any], ...], *words: str, argv: tuple[str, ...] = ("experiment.yaml",)) -> None:
        cases.append(Case(f"{kind}:{id_}", kind, files, argv, tuple(words)))

    external = quick(manifests=[*list(QUICK["manifests"][:1]), _service(type="LoadBalancer")])
    external["clients"][0]["location"] = "external"

    # limits: work that cannot finish on one machine
    add("replications-1e9", "limits", _exp("\n".join(["run: {duration: 2s, warmup: 0.5s, replications: 1e9}", *yaml.safe_dump({k: v for k, v in QUICK.items() if k != "run"}, sort_keys=False).splitlines()])), "replications")
    add("replications-1000000000", "limits", _exp(quick(run={"duration": "1s", "replications": 1000000000})), "replications")
    add("rate-1e12", "limits", _exp(quick(clients__0__arrival={"rate": 1e12})), "rate")
    add("duration-1e15s", "limits", _exp(quick(run={"duration": "1e15s"})), "duration")
    add("warmup-1e15", "limits", _exp(quick(run={"duration": "1s", "warmup": 1e15})), "warmup")
    add("replicas-1e6", "limits", _exp(_with_manifests(_deployment(replicas=1000000), QUICK["manifests"][1])), "replicas")
    add("nodes-1e6", "limits", _exp(quick(cluster={"nodes": {"count": 1000000}})), "nodes")
    lb = copy.deepcopy(external)
    lb["cluster"]["load_balancer"] = {"provider": "gcp", "maglev_table_size": 1000000007}
    add("maglev-1000000007", "limits", _exp(lb), "maglev_table_size")
    lb2 = copy.deepcopy(lb)
    lb2["cluster"]["load_balancer"]["maglev_table_size"] = 1e9
    add("maglev-1e9", "limits", _exp(lb2), "maglev_table_size")
    add("churn-every-1ns", "limits", _exp(quick(churn=[{"every": "1ns", "kill": "Deployment/web"}])), "every")
    add("churn-every-exp-1ns", "limits", _exp(quick(churn=[{"every": {"distribution": "exponential", "mean": "1ns"}, "kill": "Deployment/web"}])),
        "every")
    add("step-rate-1e12", "limits", _exp(quick(clients__0__arrival={"rate": 5, "steps": [{"at": "1s", "rate": 1e12}]})), "rate")
    add("background-services-1e12", "limits", _exp(quick(cluster={"nodes": {"count": 2}, "background_services": 10**12})),
        "background_services")
    add("set-rate-1e12", "limits", _exp(QUICK), "rate", argv=("experiment.yaml", "--set", "clients.users.arrival.rate=1e12"))
    add("set-replicas-1e6", "limits", _exp(QUICK), "replicas", argv=("experiment.yaml", "--set", "Deployment/web.spec.replicas=1000000"))
    add("hpa-max-1e7", "limits", _exp(_with_manifests(*QUICK["manifests"], {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 10000000}})),
        "maxReplicas")
    add("vary-replications", "limits", _exp(quick(vary={"run.replications": [1, 1000000000]})), "replications")

    # numbers written as text or booleans where counts belong
    add("rate-text", "type", _exp(quick(clients__0__arrival={"rate": "1200"})), "rate")
    add("replications-true", "type", _exp(quick(run={"duration": "1s", "replications": True})), "replications")
    add("concurrency-text", "type", _exp(quick(workloads={"web": {"concurrency": "4"}})), "concurrency")
    add("seed-float", "type", _exp(quick(run={"duration": "1s", "seed": 1.5})), "seed")
    add("aaaa-text", "type", _exp(quick(cluster={"nodes": {"count": 2}, "dns": {"aaaa": "yes"}})), "aaaa")
    add("set-replications-true", "type", _exp(QUICK), "replications", argv=("experiment.yaml", "--set", "run.replications=true"))
    add("set-rate-quoted", "type", _exp(QUICK), "rate", argv=("experiment.yaml", "--set", "clients.users.arrival.rate='1200'"))
    add("rate-inf", "non-finite", _exp(quick(clients__0__arrival={"rate": float("inf")})), "rate")
    add("duration-inf", "non-finite", _exp(quick(run={"duration": float("inf")})), "duration")
    add("duration-text-inf", "non-finite", _exp(quick(run={"duration": "1e400s"})), "duration")
    add("set-duration-inf", "non-finite", _exp(QUICK), "duration", argv=("experiment.yaml", "--set", "run.duration=.inf"))
    add("cpu-inf", "non-finite", _exp(_with_manifests(_container(resources={"requests": {"cpu": float("inf")}}), QUICK["manifests"][1])), "cpu")
    add("memory-nan", "non-finite", _exp(_with_manifests(_container(resources={"limits": {"memory": float("nan")}}), QUICK["manifests"][1])),
        "memory")

    # strict Kubernetes objects
    add("service-spec-tpye", "manifest", _exp(_with_manifests(QUICK["manifests"][0], _service(tpye="NodePort"))), "tpye", "type")
    add("set-replica", "manifest", _exp(QUICK), "replica", argv=("experiment.yaml", "--set", "Deployment/web.spec.replica=3"))
    add("container-image-number", "manifest", _exp(_with_manifests(_container(image=12), QUICK["manifests"][1])), "image")
    add("container-name-list", "manifest", _exp(_with_manifests(_container(name=["a"]), QUICK["manifests"][1])), "name")
    add("no-containers", "manifest", _exp(_with_manifests(_deployment(template={"metadata": {"labels": {"app": "web"}},
                                                                               "spec": {"containers": []}}), QUICK["manifests"][1])),
        "containers")
    add("duplicate-service-port", "manifest", _exp(_with_manifests(QUICK["manifests"][0], _service(ports=[
        {"port": 80, "targetPort": 8080}, {"port": 80, "targetPort": 8081}]))), "ports")
    add("duplicate-port-name", "manifest", _exp(_with_manifests(QUICK["manifests"][0], _service(ports=[
        {"name": "http", "port": 80, "targetPort": 8080}, {"name": "http", "port": 81, "targetPort": 8080}]))), "name")
    wrong_api = copy.deepcopy(QUICK["manifests"][0])
    wrong_api["apiVersion"] = "apps/v1beta1"
    add("deployment-old-api", "manifest", _exp(_with_manifests(wrong_api, QUICK["manifests"][1])), "apiVersion")
    wrong_api2 = copy.deepcopy(QUICK["manifests"][1])
    wrong_api2["apiVersion"] = "apps/v1"
    add("service-apps-v1", "manifest", _exp(_with_manifests(QUICK["manifests"][0], wrong_api2)), "apiVersion")
    no_api = copy.deepcopy(QUICK["manifests"][1])
    del no_api["apiVersion"]
    add("service-no-apiversion", "manifest", _exp(_with_manifests(QUICK["manifests"][0], no_api)), "apiVersion")
    add("spec-is-list", "manifest", _exp(_with_manifests(QUICK["manifests"][0], {**QUICK["manifests"][1], "spec": [1, 2]})), "spec")
    add("metadata-name-list", "manifest", _exp(_with_manifests(QUICK["manifests"][0], {**QUICK["manifests"][1], "metadata": {"name": ["web", "x"]}})),
        "manifests.1.metadata.name")
    add("label-value-number", "manifest", _exp(_with_manifests(QUICK["manifests"][0], {**QUICK["manifests"][1], "metadata": {
        "name": "web", "labels": {"tier": 3}}})), "labels")
    add("probe-typo", "manifest", _exp(_with_manifests(_container(readinessProbe={"httpGet": {"path": "/", "port": 8080}, "periodSecond": 5}),
                                                       QUICK["manifests"][1])), "periodSecond")
    add("hpa-v2-target-typo", "manifest", _exp(_with_manifests(*QUICK["manifests"], {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 4, "targetCPUUtilizationPercentage": 50}})),
        "targetCPUUtilizationPercentage")
    add("manifest-file-tpye", "manifest", _exp(quick(manifests=[], manifest_files=["m.yaml"]), (
        "m.yaml", dump_all([QUICK["manifests"][0], _service(tpye="NodePort")]))), "tpye")
    add("quantity-garbage", "manifest", _exp(_with_manifests(_container(resources={"limits": {"memory": "lots"}}), QUICK["manifests"][1])),
        "memory")

    # special files
    add("experiment-fifo", "special-file", (("experiment.yaml", ("fifo",)),), "experiment.yaml")
    add("experiment-dev-zero", "special-file", (("experiment.yaml", ("link", "/dev/zero")),), "experiment.yaml")
    add("experiment-dir", "special-file", (("experiment.yaml", ("dir",)),), "experiment.yaml")
    add("experiment-huge", "special-file", (("experiment.yaml", ("sparse", 64 << 20)),), "experiment.yaml")
    add("experiment-missing", "special-file", (), "nothere.yaml", argv=("nothere.yaml",))
    for label, special in (("fifo", ("fifo",)), ("dev-zero", ("link", "/dev/zero")), ("dir", ("dir",)), ("huge", ("sparse", 64 << 20))):
        add(f"manifest-{label}", "special-file", _exp(quick(manifests=[], manifest_files=["m.yaml"]), ("m.yaml", special)), "manifest_files")
        add(f"samples-{label}", "special-file", _exp(quick(workloads={"web": {"service_time": {"distribution": "empirical", "file": "s.txt"}}}),
                                                     ("s.txt", special)), "service_time")
    add("samples-huge-real", "special-file", _exp(quick(workloads={"web": {"service_time": {"distribution": "empirical", "file": "s.txt"}}}),
                                                  ("s.txt", ("sparse", 200 << 20))), "service_time")

    # YAML bombs, deep nesting, tags, duplicate keys, encodings
    add("bomb-top", "yaml-bomb", _exp(_bomb_in("top")), "experiment.yaml")
    add("bomb-annotations", "yaml-bomb", _exp(_bomb_in("annotations")), "experiment.yaml")
    add("bomb-manifest-file", "yaml-bomb", _exp(quick(manifests=[], manifest_files=["m.yaml"]), ("m.yaml", _manifest_bomb())), "m.yaml")
    add("bomb-set", "yaml-bomb", _exp(QUICK), "--set", argv=("experiment.yaml", "--set", "description=" + "[" + BOMB_LIST.replace("\n", ", ")
                                                                 .replace("a: &a", "&a").rstrip(", ") + "]"))
    strings = "s: &s " + "x" * 1000 + "\n" + "".join(f"t{i}: &t{i} [{', '.join(['*' + ('s' if i == 0 else f't{i - 1}')] * 10)}]\n" for i in range(6))
    add("bomb-strings", "yaml-bomb", _exp("description_bomb:\n  " + strings.replace("\n", "\n  ") + "\n" + yaml.safe_dump(QUICK)), "experiment.yaml")
    add("deep-flow", "yaml-bomb", _exp("[" * 200000 + "]" * 200000), "experiment.yaml")
    add("deep-block-seq", "yaml-bomb", _exp("- " * 200000 + "x\n"), "experiment.yaml")
    add("deep-manifest", "yaml-bomb", _exp(quick(manifests=[], manifest_files=["m.yaml"]), ("m.yaml", ("{a: " * 100000 + "1" + "}" * 100000).encode())),
        "m.yaml")
    for tag in ("!!python/object/apply:os.system ['echo pwned > pwned.txt']", "!!python/name:os.system", "!!python/object/new:list [[1]]"):
        add(f"tag-{tag.split()[0][2:].replace('/', '-')}", "python-tag", _exp(f"name: {tag}\n" + yaml.safe_dump({k: v for k, v in QUICK.items() if k != "name"})),
            "tag")
    add("tag-in-manifest", "python-tag", _exp(quick(manifests=[], manifest_files=["m.yaml"]), (
        "m.yaml", b"apiVersion: v1\nkind: Service\nmetadata: !!python/object/apply:os.system ['echo pwned > pwned.txt']\n")), "tag")
    add("tag-in-set", "python-tag", _exp(QUICK), "tag", argv=("experiment.yaml", "--set", "description=!!python/object/apply:os.system ['true']"))
    add("binary-tag", "python-tag", _exp(quick(name="corpus") | {"description": b"\x00\x01binary"}), "description")
    add("set-tag", "python-tag", _exp("name: !!set {a, b}\n" + yaml.safe_dump({k: v for k, v in QUICK.items() if k != "name"})), "name")
    add("duplicate-run", "duplicate-key", _exp("run: {duration: 1s}\n" + yaml.safe_dump(QUICK, sort_keys=False)), "run", "twice")
    add("duplicate-nested", "duplicate-key", _exp(yaml.safe_dump(QUICK, sort_keys=False).replace("    rate: 50\n", "    rate: 50\n    rate: 60\n")),
        "rate", "twice")
    add("duplicate-in-manifest", "duplicate-key", _exp(quick(manifests=[], manifest_files=["m.yaml"]), (
        "m.yaml", dump_all(QUICK["manifests"]).replace(b"replicas: 2\n", b"replicas: 2\n  replicas: 5\n"))), "replicas", "twice")
    text = yaml.safe_dump(QUICK, sort_keys=False, allow_unicode=True).replace("corpus", "corpus-é")
    add("latin-1", "encoding", _exp(text.encode("latin-1")), "UTF-8")
    add("utf-16-bom", "encoding", _exp(text.encode("utf-16")), "UTF-8")
    add("utf-16-le", "encoding", _exp(text.encode("utf-16-le")), "UTF-8")
    add("utf-32", "encoding", _exp(text.encode("utf-32")), "UTF-8")
    add("binary", "encoding", _exp(bytes(range(256)) * 64), "experiment.yaml")
    add("png", "encoding", _exp(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)), "experiment.yaml")
    add("manifest-latin-1", "encoding", _exp(quick(manifests=[], manifest_files=["m.yaml"]), (
        "m.yaml", dump_all(QUICK["manifests"]).decode().replace("nginx", "nginx-é").encode("latin-1"))), "UTF-8")
    add("samples-latin-1", "encoding", _exp(quick(workloads={"web": {"service_time": {"distribution": "empirical", "file": "s.txt"}}}), (
        "s.txt", "0.001\n0.002 é\n".encode("latin-1"))), "service_time")
    add("empty-file", "encoding", _exp(b""), "experiment.yaml")

    # nonsense that would run
    add("lognormal-sigma-100", "nonsense", _exp(quick(workloads={"web": {"service_time": {"distribution": "lognormal", "mean": "10ms", "sigma": 100}}})),
        "sigma")
    add("lognormal-sigma-8", "nonsense", _exp(quick(workloads={"web": {"service_time": {"distribution": "lognormal", "mean": "10ms", "sigma": 8}}})),
        "sigma")
    for label, content in (("nan", "0.001\nnan\n"), ("inf", "0.001\ninf\n"), ("negative", "0.001\n-1\n"), ("empty", "# nothing\n"),
                           ("words", "0.001\nfast\n"), ("1e400", "1e400\n")):
        add(f"samples-{label}", "nonsense", _exp(quick(workloads={"web": {"service_time": {"distribution": "empirical", "file": "s.txt"}}}),
                                                 ("s.txt", content.encode())), "service_time")
    add("no-requests", "nonsense", _exp(quick(clients__0__arrival={"rate": 0.01}, run={"duration": "1s", "warmup": 0})), "rate")

    # names
    add("name-dotdot", "names", _exp(quick(name="../escaped")), "name")
    add("name-absolute", "names", _exp(quick(name=str(ESCAPE))), "name")
    add("name-slash", "names", _exp(quick(name="a/b")), "name")
    add("name-dot", "names", _exp(quick(name="..")), "name")
    add("client-name-list", "names", _exp(quick(clients=[{"name": [1, 2], "target": "web", "arrival": {"rate": 5}}])), "clients.0.name")
    add("service-name-list", "names", _exp(_with_manifests(QUICK["manifests"][0], {**QUICK["manifests"][1], "metadata": {"name": ["web"]}})),
        "metadata.name")
    add("target-other-namespace", "names", _exp(quick(clients__0__target="web.other-ns.svc.cluster.local")), "namespace", "other-ns")
    add("target-other-namespace-short", "names", _exp(quick(clients__0__target="web.other-ns")), "namespace", "other-ns")
    add("manifest-files-escape-dir", "names", _exp(quick(manifests=[], manifest_files=["."])), "manifest_files")

    # --set mistakes
    add("set-no-equals", "set", _exp(QUICK), "--set", argv=("experiment.yaml", "--set", "run.duration"))
    add("set-unclosed", "set", _exp(QUICK), "--set", argv=("experiment.yaml", "--set", "run={duration: 1s"))
    add("set-index-past-end", "set", _exp(QUICK), "clients", argv=("experiment.yaml", "--set", "clients.5.name=x"))
    add("set-inside-scalar", "set", _exp(QUICK), "run.duration", argv=("experiment.yaml", "--set", "run.duration.x=1"))
    return cases


def all_cases() -> list[Case]:
    return generated_cases(load_bases()) + handmade_cases()


# --- materialising and running ----------------------------------------------------------------------


def materialize(case: Case, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in case.files:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content[0] == "fifo":
            os.mkfifo(path)
        elif content[0] == "link":
            path.symlink_to(content[1])
        elif content[0] == "dir":
            path.mkdir()
        elif content[0] == "sparse":
            with open(path, "wb") as handle:
                handle.truncate(content[1])
        else:
            raise ValueError(content)


ESCAPE = Path("/tmp/netsim-corpus-escape")
"""Where the absolute experiment ``name`` of one case would write (checked and removed after that case)."""


def ran_something(folder: Path, case: Case | None = None) -> bool:
    """A results folder, a run record, or a file the case tried to make (pwned.txt, a folder outside results/) exists."""
    found = (folder / "pwned.txt").exists() or (folder / "results").exists() or (folder / "escaped").exists()
    if case is not None and case.id == "names:name-absolute" and ESCAPE.exists():
        import shutil

        shutil.rmtree(ESCAPE, ignore_errors=True)
        found = True
    return found


def classify(case: Case, code: int | None, stderr: str, timed_out: bool) -> str:
    if timed_out:
        return "hang"
    if "MemoryError" in stderr or code in (-9, 137):
        return "memory"
    if code is not None and code < 0:
        return "crash"
    if "Traceback" in stderr:
        return "traceback"
    if code in (0, 1):
        return "accepted"
    if code != 2:
        return "traceback"
    lines = [line for line in stderr.splitlines() if line.strip()]
    if len(lines) != 1 or not lines[0].startswith("netsim: error: "):
        return "multiline"
    line = lines[0].lower()
    if any(word.lower() not in line for word in case.words):
        return "misleading"
    return "refused"


RUN_FLAGS = ("--no-report", "--quiet")


def run_subprocess(case: Case, folder: Path, timeout: float = 30.0, memory: int = 3 << 30) -> Outcome:
    """``netsim run`` in a fresh interpreter, its address space capped at ``memory`` bytes."""
    import resource

    materialize(case, folder)

    def limit() -> None:  # runs in the child before exec
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {**os.environ, "PYTHONPATH": os.environ.get("NETSIM_CORPUS_PYTHONPATH", str(REPO)), "OPENBLAS_NUM_THREADS": "1", "CI": "1"}
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "netsim.cli", "run", *case.argv, *RUN_FLAGS], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=timeout, preexec_fn=limit, stdin=subprocess.DEVNULL)
        code, stderr, timed_out = proc.returncode, proc.stderr, False
    except subprocess.TimeoutExpired as exc:
        code, timed_out = None, True
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
    seconds = time.perf_counter() - started
    return Outcome(case, classify(case, code, stderr, timed_out), code, stderr, seconds, ran_something(folder, case))


def _child(case: Case, folder: Path, err_path: Path, memory: int) -> None:  # pragma: no cover - runs in a forked child
    import resource
    import traceback

    code = 99
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err, 2)
        os.chdir(folder)
        from netsim.cli import main as netsim_main

        code = netsim_main(["run", *case.argv, *RUN_FLAGS])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 99
    except BaseException:
        traceback.print_exc()
        code = 98
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def run_forked(cases: list[Case], root: Path, jobs: int = 2, timeout: float = 30.0, memory: int = 3 << 30) -> list[Outcome]:
    """Run each case in a forked child of this process (netsim imported once, here), ``jobs`` at a time.

    Each child is a real process: its address space is capped at ``memory`` bytes and
    it is killed after ``timeout`` seconds, so a hang or a runaway allocation is an
    outcome, not a stuck test run. It calls :func:`netsim.cli.main` directly, which
    saves the interpreter start-up (about a second) per case.
    """
    import signal

    import netsim.cli
    import netsim.experiment  # noqa: F401

    outcomes: dict[int, Outcome] = {}
    running: dict[int, tuple[int, float]] = {}  # pid -> (case index, start)
    todo = list(range(len(cases)))

    def folder_of(i: int) -> Path:
        return root / f"case-{i}"

    def finish(pid: int, status: int | None) -> None:
        i, started = running.pop(pid)
        timed_out = status is None
        if timed_out:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            code = None
        else:
            code = os.waitstatus_to_exitcode(status)
        stderr = (root / f"case-{i}.stderr").read_text(errors="replace") if (root / f"case-{i}.stderr").exists() else ""
        outcomes[i] = Outcome(cases[i], classify(cases[i], code, stderr, timed_out), code, stderr, time.perf_counter() - started,
                              ran_something(folder_of(i), cases[i]))

    while todo or running:
        while todo and len(running) < jobs:
            i = todo.pop(0)
            materialize(cases[i], folder_of(i))
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(cases[i], folder_of(i), root / f"case-{i}.stderr", memory)
            running[pid] = (i, time.perf_counter())
        for pid, (_, started) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                finish(pid, status)
            elif time.perf_counter() - started > timeout:
                finish(pid, None)
        time.sleep(0.002)
    return [outcomes[i] for i in range(len(cases))]


def measure(jobs: int = 2, timeout: float = 30.0, only: str | None = None, fresh: bool = False) -> list[Outcome]:
    """Run every case (forked children, or fresh interpreters with ``fresh``) in a temporary folder."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    cases = [c for c in all_cases() if only is None or only in c.id]
    with tempfile.TemporaryDirectory(prefix="netsim-corpus-") as tmp:
        root = Path(tmp)
        if not fresh:
            return run_forked(cases, root, jobs, timeout)
        with ThreadPoolExecutor(jobs) as pool:
            return list(pool.map(lambda ic: run_subprocess(ic[1], root / f"case-{ic[0]}", timeout), enumerate(cases)))


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--only", help="run only cases whose id contains this")
    parser.add_argument("--json", help="write every outcome here")
    parser.add_argument("--list", action="store_true", help="list the cases and their kinds, do not run")
    parser.add_argument("--fresh", action="store_true", help="a fresh interpreter per case instead of forked children")
    args = parser.parse_args(argv)
    if os.environ.get("NETSIM_CORPUS_PYTHONPATH"):
        sys.path.insert(0, os.environ["NETSIM_CORPUS_PYTHONPATH"])
    if args.list:
        cases = all_cases()
        for case in cases:
            print(case.id)
        print(f"{len(cases)} cases: {dict(Counter(c.kind for c in cases))}")
        return 0
    outcomes = measure(args.jobs, args.timeout, args.only, args.fresh)
    print(f"corpus: {len(outcomes)} cases")
    print("outcomes:", dict(Counter(o.outcome for o in outcomes)))
    print("ran something:", sum(o.ran for o in outcomes))
    by_kind: dict[str, Counter[str]] = {}
    for o in outcomes:
        by_kind.setdefault(o.case.kind, Counter())[o.outcome] += 1
    for kind, counts in sorted(by_kind.items()):
        print(f"  {kind:14s} {dict(counts)}")
    for o in outcomes:
        if o.outcome != "refused" or o.ran:
            last = (o.stderr.strip().splitlines() or [""])[-1][:160]
            print(f"{o.outcome:10s} {'RAN ' if o.ran else ''}{o.case.id[:110]} | {last}")
    if args.json:
        Path(args.json).write_text(json.dumps([{"id": o.case.id, "kind": o.case.kind, "outcome": o.outcome, "code": o.code,
                                                "ran": o.ran, "seconds": round(o.seconds, 2), "stderr": o.stderr[-2000:]}
                                               for o in outcomes], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

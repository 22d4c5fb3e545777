"""One dotted-path syntax for every override: ``--set``, ``scenarios[].set`` and ``vary:``.

- netsim sections by key: ``cluster.kube_proxy.mode``
- named list items by name: ``clients.users.arrival.rate`` (a number indexes)
- manifests as ``Kind/name.`` + field path: ``Deployment/web.spec.replicas``,
  ``Service/web.spec.ports.0.port`` or ``...ports.http.port``; when two namespaces
  have an object of that kind and name, ``Kind/name.namespace.`` + field path
- a key with dots (``workloads.web.shop.concurrency``: the workload of ``web`` in
  namespace ``shop``) is matched whole when the mapping has it
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from netsim.errors import ConfigError, did_you_mean
from netsim.k8s.manifests import object_key


def split_path(path: str) -> tuple[str, list[str]]:
    """``(root, rest)``: the root is a section name or a ``Kind/name`` manifest key."""
    if not path or path.startswith(".") or path.endswith(".") or ".." in path:
        raise ConfigError(path or "--set", "not a dotted path: write it like cluster.kube_proxy.mode or Deployment/web.spec.replicas")
    head, *rest = path.split(".")
    return head, rest


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` to ``value`` in the raw (unvalidated) experiment mapping, in place."""
    head, rest = split_path(path)
    if "/" in head:
        if not rest:
            raise ConfigError(path, "name a field of the manifest, e.g. Deployment/web.spec.replicas")
        target, rest = _find_manifest(raw, head, rest, path)
        _set_in(target, rest, value, head)
        return
    workloads = raw.get("workloads")
    if head == "workloads" and len(rest) >= 2 and ".".join(rest[:2]) in _qualified_deployments(raw):
        if not isinstance(workloads, dict):
            raw["workloads"] = workloads = {}
        workloads.setdefault(".".join(rest[:2]), {})  # so that the dotted name is matched whole below
    _set_in(raw, [head, *rest], value, "")


def _qualified_deployments(raw: dict[str, Any]) -> set[str]:
    """``name.namespace`` of each Deployment whose name two namespaces use (how ``workloads`` keys it)."""
    from netsim.k8s.namespaces import ambiguous_names

    homes = [(str(d["metadata"].get("name")), str(d["metadata"].get("namespace") or "default"))
             for d in [*(raw.get("manifests") or []), *(raw.get("deferred") or [])]
             if isinstance(d, dict) and d.get("kind") == "Deployment" and isinstance(d.get("metadata"), dict)]
    shared = ambiguous_names(homes)
    return {f"{name}.{namespace}" for name, namespace in homes if name in shared}


def _find_manifest(raw: dict[str, Any], key: str, rest: list[str], path: str) -> tuple[dict[str, Any], list[str]]:
    """The manifest ``key`` names, and the field path after it (past a namespace when two namespaces use the name)."""
    docs = raw.get("manifests") or []
    found = [d for d in docs if isinstance(d, dict) and object_key(d) == key]
    homes = {str((d.get("metadata") or {}).get("namespace") or "default"): d for d in found}
    if len(homes) > 1:
        if rest and rest[0] in homes and len(rest) > 1:
            return homes[rest[0]], rest[1:]
        raise ConfigError(path, f"two namespaces have {key} ({', '.join(sorted(homes))}): "
                                f"write {key}.<namespace>.<field>, e.g. {key}.{sorted(homes)[0]}.{'.'.join(rest)}")
    if found:
        return found[0], rest
    keys = [object_key(d) for d in docs if isinstance(d, dict)]
    raise ConfigError(path, f"no manifest {key}{did_you_mean(key, keys)}; the experiment has {', '.join(keys) or 'none'}")


def _set_in(node: Any, parts: list[str], value: Any, prefix: str) -> None:
    where = prefix
    i = 0
    while i < len(parts):
        part = parts[i]
        if isinstance(node, dict):
            part = _whole_key(node, parts, i)  # a key with dots (web.shop), matched whole
            i += part.count(".")
        where = f"{where}.{part}" if where else part
        last = i == len(parts) - 1
        if isinstance(node, list):
            index = _list_index(node, part, where)
            if last:
                node[index] = value
                return
            node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            if not isinstance(node.get(part), dict | list):
                node[part] = {}
            node = node[part]
        else:
            raise ConfigError(where, f"cannot set a field inside {type(node).__name__} value {node!r:.30}")
        i += 1


def _whole_key(node: dict[str, Any], parts: list[str], i: int) -> str:
    """``parts[i]``, or the longest run ``parts[i..j]`` joined by dots that ``node`` has as a key."""
    for j in range(len(parts), i + 1, -1):
        joined = ".".join(parts[i:j])
        if joined in node:
            return joined
    return parts[i]


def _list_index(items: list[Any], part: str, where: str) -> int:
    if part.isdigit():
        index = int(part)
        if index >= len(items):
            raise ConfigError(where, f"index {index} is past the end of a list of {len(items)}")
        return index
    names = [item.get("name") for item in items if isinstance(item, dict)]
    for index, item in enumerate(items):
        if isinstance(item, dict) and str(item.get("name")) == part:
            return index
    raise ConfigError(where, f"no item named '{part}'{did_you_mean(part, [str(n) for n in names])}; names here: {', '.join(map(str, names)) or 'none'}")


def apply_sets(raw: dict[str, Any], sets: Iterable[tuple[str, Any]]) -> None:
    """Apply several ``(path, value)`` overrides in order; later ones win."""
    for path, value in sets:
        set_path(raw, path, value)

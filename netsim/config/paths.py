"""One dotted-path syntax for every override: ``--set``, ``scenarios[].set`` and ``vary:``.

- netsim sections by key: ``cluster.kube_proxy.mode``
- named list items by name: ``clients.users.arrival.rate`` (a number indexes)
- manifests as ``Kind/name.`` + field path: ``Deployment/web.spec.replicas``,
  ``Service/web.spec.ports.0.port`` or ``...ports.http.port``
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
        target = _find_manifest(raw, head, path)
        _set_in(target, rest, value, head)
        return
    _set_in(raw, [head, *rest], value, "")


def _find_manifest(raw: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    docs = raw.get("manifests") or []
    for doc in docs:
        if isinstance(doc, dict) and object_key(doc) == key:
            return doc
    keys = [object_key(d) for d in docs if isinstance(d, dict)]
    raise ConfigError(path, f"no manifest {key}{did_you_mean(key, keys)}; the experiment has {', '.join(keys) or 'none'}")


def _set_in(node: Any, parts: list[str], value: Any, prefix: str) -> None:
    where = prefix
    for i, part in enumerate(parts):
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

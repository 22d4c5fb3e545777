"""Reading YAML safely, with errors that point at a line.

Only plain data is accepted: a ``!!python/...`` tag is refused, never executed.
Beyond that, a file is data a stranger may have written, so:

- a key twice in one mapping is an error (YAML would silently keep the last one);
- aliases are legitimate, but what they expand to is capped (:data:`MAX_NODES` values,
  :data:`MAX_CHARS` characters of text), at any depth: a "billion laughs" file is a few
  hundred bytes that code walking the data (hashing, copying, validating) would
  expand a billion-fold;
- nesting is capped at :data:`MAX_DEPTH` levels (the C parser recurses per level and
  crashes the interpreter somewhere past ten thousand);
- numbers are read as YAML 1.2 and Kubernetes read them: ``1e9`` is a number, not
  the text "1e9" (YAML 1.1 wants a dot in a float).

The structure is checked on the parser's events (cheap, iterative, before anything
is built); only then is the document constructed.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import yaml
from yaml import events as ev

from netsim.errors import ConfigError
from netsim.input_files import EXPERIMENT_FILE_LIMIT, read_text

MAX_DEPTH = 100
"""Deepest nesting of lists and mappings read (an experiment nests about 10 levels, a manifest about 15)."""
MAX_NODES = 2_000_000
"""Most values (scalars, lists, mappings) one file may hold once its aliases are expanded."""
MAX_CHARS = 64 << 20
"""Most characters of text one file may hold once its aliases are expanded."""

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """The safe loader, refusing duplicate keys; ``1e9`` resolves to a float (YAML 1.2, as Kubernetes reads it)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode) and len(node.value) > 1:
            seen: dict[tuple[str, str], Any] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # '<<: *base' then overriding some keys is how merges are meant to be used
                key = (key_node.tag, key_node.value)  # the same text and type: the same key (no construction needed)
                first = seen.get(key)
                if first is not None:
                    raise _DuplicateKey(
                        None, None,
                        f"the key '{key_node.value}' appears twice in one mapping (first on line {first.line + 1}); "
                        "YAML would keep only the last: remove or merge one",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _yaml_error(path: str, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else path
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, _DuplicateKey):
        return ConfigError(where, str(problem))
    if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in str(problem):
        tag = str(problem).split("tag", 1)[1].strip(" '\"")
        return ConfigError(where, f"the tag '{tag}' is not allowed: netsim reads plain YAML data only; remove the tag")
    return ConfigError(where, f"YAML syntax error: {problem}; fix the file at that line")


def check_structure(text: str, where: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and alias expansion beyond the caps, before constructing."""
    if len(text) < 4096 and "*" not in text:
        return  # too short to nest dangerously deep, and no alias to expand
    anchors: dict[str, tuple[int, int]] = {}
    stack: list[list[Any]] = []  # per open collection: [values, characters, anchor]
    nodes = chars = 0

    def add(n: int, c: int, mark: Any) -> None:
        nonlocal nodes, chars
        nodes += n
        chars += c
        if stack:
            stack[-1][0] += n
            stack[-1][1] += c
        if nodes > MAX_NODES or chars > MAX_CHARS:
            what = f"{MAX_NODES:,} values" if nodes > MAX_NODES else f"{MAX_CHARS >> 20} MiB of text"
            raise ConfigError(f"{where}:{mark.line + 1}", f"the YAML expands to more than {what} once its aliases (*name) are "
                              "expanded (an alias bomb?); write the data out, or use fewer aliases")

    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, ev.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise ConfigError(f"{where}:{event.start_mark.line + 1}",
                                      f"nested more than {MAX_DEPTH} levels deep; netsim's files nest a few levels: flatten the data")
                add(1, 0, event.start_mark)
                stack.append([0, 0, event.anchor])
            elif isinstance(event, ev.CollectionEndEvent):
                n, c, anchor = stack.pop()
                if stack:  # the parent already counted this collection's own node; now its contents
                    stack[-1][0] += n
                    stack[-1][1] += c
                if anchor is not None:
                    anchors[anchor] = (n + 1, c)
            elif isinstance(event, ev.ScalarEvent):
                add(1, len(event.value), event.start_mark)
                if event.anchor is not None:
                    anchors[event.anchor] = (1, len(event.value))
            elif isinstance(event, ev.AliasEvent):
                n, c = anchors.get(event.anchor, (1, 0))
                add(n, c, event.start_mark)
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own cap (PyYAML >= 6.0.4 wheels) can come first
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{where}{line}",
                              f"nested more than {MAX_DEPTH} levels deep; netsim's files nest a few levels: flatten the data") from None
        raise _yaml_error(where, exc) from None


def load_text(text: str, where: str) -> list[Any]:
    """All documents of YAML ``text``, empty ones dropped; ``where`` names it in errors."""
    check_structure(text, where)
    try:
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as exc:
        raise _yaml_error(where, exc) from None
    except RecursionError:  # pragma: no cover - check_structure caps the depth first
        raise ConfigError(where, f"nested more than {MAX_DEPTH} levels deep; flatten the data") from None


def read_yaml_documents(path: str | Path, what: str = "YAML file") -> list[Any]:
    """All documents of a (possibly multi-document) YAML file, empty ones dropped."""
    return copy.deepcopy(_parsed(read_text(path, EXPERIMENT_FILE_LIMIT, what), str(path)))


@functools.lru_cache(maxsize=16)
def _parsed(text: str, where: str) -> list[Any]:
    """Parsing is most of the cost of loading an experiment: a notebook or a sweep that reloads the
    same manifest files parses them once (callers get a deep copy, never the cached documents)."""
    return load_text(text, where)


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A single-document YAML file that must hold a mapping (an experiment file)."""
    docs = read_yaml_documents(path, "experiment file")
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ConfigError(str(path), "an experiment file must hold one YAML mapping (name, run, cluster, manifests, clients, ...)")
    return docs[0]


def parse_yaml_value(text: str, where: str) -> Any:
    """A ``--set`` value: YAML scalars, so ``3`` is a number, ``true`` a bool, ``10ms`` a string."""
    try:
        check_structure(text, where)
        docs = list(yaml.load_all(text, Loader=_Loader))
    except ConfigError:
        raise
    except yaml.YAMLError as exc:
        if isinstance(exc, yaml.constructor.ConstructorError | _DuplicateKey):
            raise _yaml_error(where, exc) from None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            where, f"the value '{text:.60}' is not valid YAML ({problem}); close its brackets or quote it, e.g. --set 'PATH={{a: 1}}'"
        ) from None
    if len(docs) > 1:
        raise ConfigError(where, f"the value '{text:.60}' holds several YAML documents; give one value")
    return docs[0] if docs else None


def manifest_file_documents(path: Path, where: str) -> list[Any]:
    """The Kubernetes objects of one manifest file, a ``kind: List`` expanded into its items.

    ``where`` is the config path that named the file (``manifest_files.0``): a
    file that cannot be read is reported there, with the file's own position.
    """
    try:
        loaded = read_yaml_documents(path)
    except ConfigError as exc:
        raise ConfigError(where, f"{exc.path}: {exc.message}") from None
    docs: list[Any] = []
    for doc in loaded:
        items = doc.get("items") if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
        docs.extend(items or [])
    return docs
